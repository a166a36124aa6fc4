// base/mailbox.cc — see mailbox.h.
//
// One left-to-right pass with a 256-entry character class table; no
// allocation, no backtracking (the command parser runs this on every MAIL
// and RCPT). Every loop advances by at least one byte of the input.

#include "base/mailbox.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "base/check.h"

namespace ringpost::base {
namespace {

enum : uint8_t {
  kLetDig = 1 << 0,      // ALPHA / DIGIT
  kAtext = 1 << 1,       // RFC 5321 atext, ASCII part
  kQtext = 1 << 2,       // qtextSMTP, ASCII part
  kDigit = 1 << 3,
  kUnderscore = 1 << 4,
  kHyphen = 1 << 5,
};

constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit) v |= kLetDig | kAtext;
    if (digit) v |= kDigit;
    for (char a : std::string_view("!#$%&'*+-/=?^_`{|}~")) {
      if (c == static_cast<unsigned char>(a)) v |= kAtext;
    }
    if ((c >= 32 && c <= 33) || (c >= 35 && c <= 91) || (c >= 93 && c <= 126)) {
      v |= kQtext;
    }
    if (c == '_') v |= kUnderscore;
    if (c == '-') v |= kHyphen;
    t[c] = v;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

inline uint8_t ClassOf(char c) { return kClass[static_cast<unsigned char>(c)]; }
inline bool IsHigh(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// The class bits a label byte may have under `rules` ('-' is handled apart:
// its place in the label matters).
inline uint8_t LabelMask(const NameRules& rules) {
  return static_cast<uint8_t>(kLetDig | (rules.underscore ? kUnderscore : 0));
}

// The scanner behind ScanName and CheckName, compiled once per set of
// rules so that the per-byte loop tests constants (it runs on every MAIL
// and RCPT). Stops at the first byte that cannot continue the name and
// returns its index; kNpos with *error set when a rule broke before it.
template <bool kUnderscoreOk, bool kEdgeHyphenOk, bool kUtf8Ok>
size_t ScanNameT(std::string_view s, size_t i, size_t octets_max, bool* utf8,
                 NameError* error) {
  constexpr uint8_t kMask = kLetDig | (kUnderscoreOk ? kUnderscore : 0);
  const size_t start = i;
  for (;;) {
    const size_t label_start = i;
    bool last_hyphen = false;
    while (i < s.size()) {
      const char c = s[i];
      const uint8_t cls = ClassOf(c);
      if (cls & kMask) {
        ++i;
        last_hyphen = false;
      } else if (cls & kHyphen) {
        if (!kEdgeHyphenOk && i == label_start) {
          *error = NameError::kEdgeHyphen;
          return kNpos;
        }
        ++i;
        last_hyphen = true;
      } else if (kUtf8Ok && IsHigh(c)) {
        const size_t n = Utf8SequenceLength(s, i);
        if (n == 0) {
          *error = NameError::kBadUtf8;
          return kNpos;
        }
        *utf8 = true;
        i += n;
        last_hyphen = false;
      } else {
        break;
      }
    }
    if (i == label_start) {
      *error = NameError::kEmptyLabel;
      return kNpos;
    }
    if (!kEdgeHyphenOk && last_hyphen) {
      *error = NameError::kEdgeHyphen;
      return kNpos;
    }
    if (i - label_start > kLabelOctetsMax) {
      *error = NameError::kLabelTooLong;
      return kNpos;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      continue;
    }
    break;
  }
  if (i - start > octets_max) {
    *error = NameError::kTooLong;
    return kNpos;
  }
  return i;
}

// ScanNameT for any rules.
size_t ScanNameImpl(std::string_view s, size_t i, const NameRules& rules, bool* utf8,
                    NameError* error) {
  const size_t max = rules.octets_max;
  switch ((rules.underscore ? 4 : 0) | (rules.edge_hyphen ? 2 : 0) | (rules.utf8 ? 1 : 0)) {
    case 0: return ScanNameT<false, false, false>(s, i, max, utf8, error);
    case 1: return ScanNameT<false, false, true>(s, i, max, utf8, error);
    case 2: return ScanNameT<false, true, false>(s, i, max, utf8, error);
    case 3: return ScanNameT<false, true, true>(s, i, max, utf8, error);
    case 4: return ScanNameT<true, false, false>(s, i, max, utf8, error);
    case 5: return ScanNameT<true, false, true>(s, i, max, utf8, error);
    case 6: return ScanNameT<true, true, false>(s, i, max, utf8, error);
    default: return ScanNameT<true, true, true>(s, i, max, utf8, error);
  }
}

// Dot-string = Atom *("." Atom). Stops at the first byte that is not atext,
// '.' or (allowed) UTF-8.
size_t ScanDotString(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8) {
  bool need_atom = true;
  while (i < s.size()) {
    const char c = s[i];
    if (ClassOf(c) & kAtext) {
      ++i;
      need_atom = false;
    } else if (c == '.') {
      if (need_atom) return kNpos;  // leading or doubled dot
      need_atom = true;
      ++i;
    } else if (IsHigh(c) && utf8_rule == Utf8::kAllow) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) return kNpos;
      *utf8 = true;
      need_atom = false;
      i += n;
    } else {
      break;
    }
  }
  if (need_atom) return kNpos;  // empty or trailing dot
  return i;
}

// Quoted-string at the DQUOTE s[i]; the index after the closing DQUOTE.
size_t ScanQuotedString(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8) {
  DCHECK(i < s.size());
  DCHECK(s[i] == '"');
  ++i;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 >= s.size()) return kNpos;
      const unsigned char q = static_cast<unsigned char>(s[i + 1]);
      if (q < 32 || q > 126) return kNpos;
      i += 2;
    } else if (ClassOf(c) & kQtext) {
      ++i;
    } else if (IsHigh(c) && utf8_rule == Utf8::kAllow) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) return kNpos;
      *utf8 = true;
      i += n;
    } else {
      return kNpos;
    }
  }
  return kNpos;  // unterminated
}

bool IsIpv4Literal(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t digits = 0;
    unsigned value = 0;
    while (i < s.size() && (ClassOf(s[i]) & kDigit) && digits < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || value > 255) return false;
    ++parts;
    if (parts < 4) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

bool IsIpv6Literal(std::string_view s) {
  char buf[64];
  if (s.empty() || s.size() >= sizeof(buf)) return false;
  for (char c : s) {
    if (!(ClassOf(c) & kLetDig) && c != ':' && c != '.') return false;
  }
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET6, buf, addr) == 1;
}

bool EqualsIgnoreCaseAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

// address-literal at the "[" s[i]; the index after "]".
size_t ScanAddressLiteral(std::string_view s, size_t i) {
  DCHECK(i < s.size());
  DCHECK(s[i] == '[');
  const size_t close = s.find(']', i + 1);
  if (close == kNpos) return kNpos;
  const std::string_view inner = s.substr(i + 1, close - i - 1);
  constexpr std::string_view kIpv6Tag = "IPv6:";
  if (inner.size() > kIpv6Tag.size() &&
      EqualsIgnoreCaseAscii(inner.substr(0, kIpv6Tag.size()), kIpv6Tag)) {
    if (!IsIpv6Literal(inner.substr(kIpv6Tag.size()))) return kNpos;
  } else if (!IsIpv4Literal(inner)) {
    // General-address-literal tags other than IPv6 are not registered.
    return kNpos;
  }
  return close + 1;
}

// What made a whole-string scan stop at s[i]: a byte of the wrong kind.
MailboxError ClassifyStop(std::string_view s, size_t i, Utf8 utf8_rule, MailboxError otherwise) {
  if (i >= s.size() || !IsHigh(s[i])) return otherwise;
  if (utf8_rule == Utf8::kRefuse) return MailboxError::kNonAscii;
  return Utf8SequenceLength(s, i) == 0 ? MailboxError::kBadUtf8 : otherwise;
}

// The first byte of `s` that starts malformed UTF-8 or (kRefuse) any
// non-ASCII byte, or kNpos.
size_t FirstBadHighByte(std::string_view s, Utf8 utf8_rule) {
  for (size_t i = 0; i < s.size();) {
    if (!IsHigh(s[i])) {
      ++i;
      continue;
    }
    if (utf8_rule == Utf8::kRefuse) return i;
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return kNpos;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  DCHECK(i < s.size());
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = b(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds for the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

std::string_view NameErrorText(NameError error) {
  switch (error) {
    case NameError::kOk: return "valid";
    case NameError::kEmpty: return "empty";
    case NameError::kTooLong: return "too long";
    case NameError::kEmptyLabel: return "empty label";
    case NameError::kLabelTooLong: return "label longer than 63 characters";
    case NameError::kEdgeHyphen: return "label starts or ends with '-'";
    case NameError::kNonAscii: return "non-ASCII character";
    case NameError::kBadUtf8: return "malformed UTF-8";
    case NameError::kBadChar: return "invalid character";
  }
  return "invalid";
}

bool IsLabelByte(unsigned char c, const NameRules& rules) {
  return (kClass[c] & (LabelMask(rules) | kHyphen)) != 0;
}

NameError CheckName(std::string_view name, const NameRules& rules) {
  if (name.empty()) return NameError::kEmpty;
  if (name.size() > rules.octets_max) return NameError::kTooLong;
  // Bytes first, so that "exa mple" is a bad character, not a bad label.
  for (size_t i = 0; i < name.size();) {
    const char c = name[i];
    if (IsHigh(c)) {
      if (!rules.utf8) return NameError::kNonAscii;
      const size_t n = Utf8SequenceLength(name, i);
      if (n == 0) return NameError::kBadUtf8;
      i += n;
      continue;
    }
    if (c != '.' && !IsLabelByte(static_cast<unsigned char>(c), rules)) {
      return NameError::kBadChar;
    }
    ++i;
  }
  bool utf8 = false;
  NameError error = NameError::kOk;
  const size_t end = ScanNameImpl(name, 0, rules, &utf8, &error);
  if (end == kNpos) return error;
  CHECK(end == name.size());  // every byte was checked to be a name byte
  return NameError::kOk;
}

size_t ScanName(std::string_view s, size_t i, const NameRules& rules, bool* utf8) {
  NameError error = NameError::kOk;
  return ScanNameImpl(s, i, rules, utf8, &error);
}

namespace {

// The bodies of ScanLocalPart and ScanMailDomain, inlined into both them and
// ScanMailbox.
inline size_t ScanLocalPartImpl(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8) {
  if (i >= s.size()) return kNpos;
  const size_t start = i;
  i = s[i] == '"' ? ScanQuotedString(s, i, utf8_rule, utf8)
                  : ScanDotString(s, i, utf8_rule, utf8);
  if (i == kNpos || i - start > kLocalPartOctetsMax) return kNpos;
  return i;
}

inline size_t ScanMailDomainImpl(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8,
                                 bool* literal) {
  if (i >= s.size()) return kNpos;
  const size_t start = i;
  if (s[i] == '[') {
    *literal = true;
    i = ScanAddressLiteral(s, i);
  } else {
    NameError error = NameError::kOk;
    i = utf8_rule == Utf8::kAllow
            ? ScanNameT<false, false, true>(s, i, kMailDomainOctetsMax, utf8, &error)
            : ScanNameT<false, false, false>(s, i, kMailDomainOctetsMax, utf8, &error);
  }
  if (i == kNpos || i - start > kMailDomainOctetsMax) return kNpos;
  return i;
}

}  // namespace

size_t ScanLocalPart(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8) {
  return ScanLocalPartImpl(s, i, utf8_rule, utf8);
}

size_t ScanMailDomain(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8,
                      bool* literal) {
  return ScanMailDomainImpl(s, i, utf8_rule, utf8, literal);
}

size_t ScanMailbox(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8) {
  i = ScanLocalPartImpl(s, i, utf8_rule, utf8);
  if (i == kNpos || i >= s.size() || s[i] != '@') return kNpos;
  bool literal = false;
  return ScanMailDomainImpl(s, i + 1, utf8_rule, utf8, &literal);
}

std::string_view MailboxErrorText(MailboxError error) {
  switch (error) {
    case MailboxError::kOk: return "valid";
    case MailboxError::kEmpty: return "empty address";
    case MailboxError::kTooLong: return "address longer than 254 octets";
    case MailboxError::kBadLocalPart: return "bad local part (before the '@')";
    case MailboxError::kMissingDomain: return "missing @domain";
    case MailboxError::kBadDomain: return "bad domain (after the '@')";
    case MailboxError::kBadAddressLiteral: return "bad address literal";
    case MailboxError::kNonAscii: return "non-ASCII characters (need SMTPUTF8)";
    case MailboxError::kBadUtf8: return "malformed UTF-8";
    case MailboxError::kTrailingText: return "unexpected text after the domain";
  }
  return "invalid address";
}

MailboxError ParseMailbox(std::string_view text, Utf8 utf8_rule, Mailbox* out) {
  CHECK(out != nullptr);
  if (text.empty()) return MailboxError::kEmpty;
  if (text.size() > kMailboxOctetsMax) return MailboxError::kTooLong;
  Mailbox m;
  size_t i = ScanLocalPart(text, 0, utf8_rule, &m.utf8);
  if (i == kNpos) {
    // Name the byte at fault when it is a UTF-8 matter.
    const size_t bad = FirstBadHighByte(text.substr(0, text.rfind('@')), utf8_rule);
    if (bad != kNpos) return ClassifyStop(text, bad, utf8_rule, MailboxError::kBadLocalPart);
    return MailboxError::kBadLocalPart;
  }
  m.quoted = text[0] == '"';
  m.local_part = text.substr(0, i);
  if (i >= text.size()) return MailboxError::kMissingDomain;
  if (text[i] != '@') {
    return ClassifyStop(text, i, utf8_rule, MailboxError::kBadLocalPart);
  }
  ++i;
  if (i >= text.size()) return MailboxError::kMissingDomain;
  const size_t domain_start = i;
  i = ScanMailDomain(text, i, utf8_rule, &m.utf8, &m.address_literal);
  if (i == kNpos) {
    if (text[domain_start] == '[') return MailboxError::kBadAddressLiteral;
    const size_t bad = FirstBadHighByte(text.substr(domain_start), utf8_rule);
    if (bad != kNpos) {
      return ClassifyStop(text, domain_start + bad, utf8_rule, MailboxError::kBadDomain);
    }
    return MailboxError::kBadDomain;
  }
  if (i != text.size()) {
    const MailboxError e = ClassifyStop(text, i, utf8_rule, MailboxError::kTrailingText);
    // A stop inside a label ("a@b c") is a bad domain, not trailing text.
    return e == MailboxError::kTrailingText && !m.address_literal ? MailboxError::kBadDomain
                                                                   : e;
  }
  m.domain = text.substr(domain_start);
  *out = m;
  return MailboxError::kOk;
}

std::string_view DomainOf(std::string_view mailbox) {
  const size_t at = mailbox.rfind('@');
  if (at == kNpos) return {};
  return mailbox.substr(at + 1);
}

}  // namespace ringpost::base
