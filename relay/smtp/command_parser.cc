// relay/smtp/command_parser.cc — SMTP command line parser.
//
// One left-to-right pass over the line with a 256-entry character class
// table; no allocation, no backtracking. The mailbox inside a path (local
// part, domain, address literal, UTF-8) is base/mailbox's grammar, shared
// with the configuration and DNS; the path around it ("<>", source routes,
// <Postmaster>, the 256-octet limit) is here. Every loop is bounded by the
// line.

#include "relay/smtp/command_parser.h"

#include <algorithm>
#include <optional>

#include "base/check.h"
#include "base/mailbox.h"
#include "relay/smtp/xtext.h"

namespace ringpost::smtp {
namespace {

constexpr size_t kNpos = std::string_view::npos;

// Character classes (address syntax has its own, in base/mailbox.cc).
enum : uint8_t {
  kLetDig = 1 << 0,   // ALPHA / DIGIT
  kValue = 1 << 1,    // esmtp-value char, ASCII part
  kDigit = 1 << 2,
  kCtl = 1 << 3,      // not allowed anywhere in a command line
  kAtext = 1 << 4,    // RFC 5322 atext: an ORCPT addr-type is an atom
};

constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit) v |= kLetDig;
    if (digit) v |= kDigit;
    if ((c >= 33 && c <= 60) || (c >= 62 && c <= 126)) v |= kValue;
    if ((c < 32 && c != '\t') || c == 127) v |= kCtl;
    if (alpha || digit || (c != 0 && std::string_view("!#$%&'*+-/=?^_`{|}~").find(
                                          static_cast<char>(c)) != std::string_view::npos)) {
      v |= kAtext;
    }
    t[c] = v;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

inline bool Is(char c, uint8_t cls) {
  return (kClass[static_cast<unsigned char>(c)] & cls) != 0;
}

inline char LowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

struct PathResult {
  std::string_view mailbox;
  bool null_path = false;
  bool utf8 = false;
};

// Path / "<>" starting at s[i]. Returns the index after ">", or kNpos.
size_t ScanPath(std::string_view s, size_t i, bool allow_postmaster,
                PathResult* out) {
  const size_t open = i;
  if (i >= s.size() || s[i] != '<') return kNpos;
  ++i;
  if (i < s.size() && s[i] == '>') {
    out->null_path = true;
    return i + 1;
  }
  bool routed = false;
  if (i < s.size() && s[i] == '@') {
    // A-d-l ":" — accepted for compatibility (RFC 5321 C) and dropped.
    routed = true;
    for (;;) {
      if (i >= s.size() || s[i] != '@') return kNpos;
      i = base::ScanName(s, i + 1, base::kMailDomainUtf8, &out->utf8);
      if (i == kNpos || i >= s.size()) return kNpos;
      if (s[i] == ':') {
        ++i;
        break;
      }
      if (s[i] != ',') return kNpos;
      ++i;
    }
  }
  const size_t mailbox_start = i;
  // RFC 5321 4.5.1: <Postmaster> without a domain, RCPT only.
  constexpr std::string_view kPostmaster = "postmaster>";
  if (allow_postmaster && !routed && s.size() - i >= kPostmaster.size() &&
      (s[i] | 0x20) == 'p' &&
      AsciiEqualsIgnoreCase(s.substr(i, kPostmaster.size()), kPostmaster)) {
    out->mailbox = s.substr(i, kPostmaster.size() - 1);
    return i + kPostmaster.size();
  }
  i = base::ScanMailbox(s, i, base::Utf8::kAllow, &out->utf8);
  if (i == kNpos || i >= s.size() || s[i] != '>') return kNpos;
  out->mailbox = s.substr(mailbox_start, i - mailbox_start);
  ++i;
  if (i - open > kPathOctetsMax) return kNpos;
  return i;
}

// Decimal uint64 with no sign, no spaces; false on overflow or empty.
bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!Is(c, kDigit)) return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// *(SP esmtp-param) after a path; `s` starts right after ">".
ParseResult ParseParams(std::string_view s, Command* out) {
  if (!s.empty() && s[0] != ' ') return ParseResult::kSyntaxError;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i == s.size()) break;
    const size_t kw_start = i;
    if (!Is(s[i], kLetDig)) return ParseResult::kSyntaxError;
    while (i < s.size() && (Is(s[i], kLetDig) || s[i] == '-')) ++i;
    Param param;
    param.keyword = s.substr(kw_start, i - kw_start);
    if (i < s.size() && s[i] == '=') {
      const size_t value_start = ++i;
      while (i < s.size() && s[i] != ' ') {
        if (Is(s[i], kValue)) {
          ++i;
        } else if (static_cast<unsigned char>(s[i]) >= 0x80) {
          const size_t n = base::Utf8SequenceLength(s, i);
          if (n == 0) return ParseResult::kSyntaxError;
          i += n;
        } else {
          return ParseResult::kSyntaxError;
        }
      }
      if (i == value_start) return ParseResult::kSyntaxError;  // "KEY="
      param.value = s.substr(value_start, i - value_start);
    } else if (i < s.size() && s[i] != ' ') {
      return ParseResult::kSyntaxError;
    }
    if (out->param_count == kParamsMax) return ParseResult::kSyntaxError;
    out->params[out->param_count++] = param;
  }
  return ParseResult::kOk;
}

ParseResult BadParam(std::string_view text, Command* out) {
  out->param_error = text;
  return ParseResult::kBadParameter;
}

// RET=FULL|HDRS (RFC 3461 4.3).
ParseResult DecodeRet(const Param& p, Command* out) {
  if (out->dsn_ret != DsnReturn::kUnspecified) {
    return BadParam("Error: repeated RET parameter", out);
  }
  if (AsciiEqualsIgnoreCase(p.value, "FULL")) {
    out->dsn_ret = DsnReturn::kFull;
  } else if (AsciiEqualsIgnoreCase(p.value, "HDRS")) {
    out->dsn_ret = DsnReturn::kHeaders;
  } else {
    return BadParam("Error: bad RET parameter: expected RET=FULL or RET=HDRS", out);
  }
  return ParseResult::kOk;
}

// ENVID=xtext (RFC 3461 4.4): decoded, at most kDsnEnvidOctetsMax printable
// US-ASCII octets.
ParseResult DecodeEnvid(const Param& p, Command* out) {
  if (!out->dsn_envid.empty()) {
    return BadParam("Error: repeated ENVID parameter", out);
  }
  const std::optional<XtextShape> shape = XtextCheck(p.value);
  if (p.value.empty() || !shape) {
    return BadParam("Error: bad ENVID parameter: expected ENVID=xtext (RFC 3461)", out);
  }
  static_assert(kDsnEnvidOctetsMax == 100, "the text below names the limit");
  if (shape->decoded_octets > kDsnEnvidOctetsMax) {
    return BadParam("Error: bad ENVID parameter: longer than 100 octets", out);
  }
  if (!shape->printable) {
    return BadParam("Error: bad ENVID parameter: not printable US-ASCII", out);
  }
  out->dsn_envid = p.value;
  return ParseResult::kOk;
}

// NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 4.1),
// case-insensitive.
ParseResult DecodeNotify(const Param& p, Command* out) {
  if (out->dsn_notify != 0) {
    return BadParam("Error: repeated NOTIFY parameter", out);
  }
  uint8_t bits = 0;
  std::string_view rest = p.value;
  // Bounded: each round consumes a token and its comma, or ends.
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view token = rest.substr(0, comma);
    if (AsciiEqualsIgnoreCase(token, "SUCCESS")) {
      bits |= kDsnNotifySuccess;
    } else if (AsciiEqualsIgnoreCase(token, "FAILURE")) {
      bits |= kDsnNotifyFailure;
    } else if (AsciiEqualsIgnoreCase(token, "DELAY")) {
      bits |= kDsnNotifyDelay;
    } else if (AsciiEqualsIgnoreCase(token, "NEVER")) {
      bits |= kDsnNotifyNever;
    } else {
      return BadParam(
          "Error: bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY",
          out);
    }
    if (comma == kNpos) break;
    rest.remove_prefix(comma + 1);
  }
  if ((bits & kDsnNotifyNever) != 0 && bits != kDsnNotifyNever) {
    return BadParam("Error: bad NOTIFY parameter: NEVER cannot be combined with other values",
                    out);
  }
  out->dsn_notify = bits;
  return ParseResult::kOk;
}

// ORCPT=addr-type;xtext (RFC 3461 4.2): addr-type an atom, the address
// non-empty; decoded, "addr-type;address" at most kDsnOrcptOctetsMax
// printable US-ASCII octets.
ParseResult DecodeOrcpt(const Param& p, Command* out) {
  if (!out->dsn_orcpt_type.empty()) {
    return BadParam("Error: repeated ORCPT parameter", out);
  }
  constexpr std::string_view kExpected =
      "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)";
  const size_t semi = p.value.find(';');
  if (semi == kNpos || semi == 0) return BadParam(kExpected, out);
  const std::string_view type = p.value.substr(0, semi);
  const std::string_view address = p.value.substr(semi + 1);
  for (char c : type) {
    if (!Is(c, kAtext)) return BadParam(kExpected, out);
  }
  const std::optional<XtextShape> shape = XtextCheck(address);
  if (!shape || shape->decoded_octets == 0) return BadParam(kExpected, out);
  static_assert(kDsnOrcptOctetsMax == 500, "the text below names the limit");
  if (type.size() + 1 + shape->decoded_octets > kDsnOrcptOctetsMax) {
    return BadParam("Error: bad ORCPT parameter: longer than 500 octets", out);
  }
  if (!shape->printable) {
    return BadParam("Error: bad ORCPT parameter: not printable US-ASCII", out);
  }
  out->dsn_orcpt_type = type;
  out->dsn_orcpt = address;
  return ParseResult::kOk;
}

void NoteUnknown(const Param& p, Command* out) {
  if (out->unknown_param == kParamsMax) {
    out->unknown_param = static_cast<uint8_t>(&p - out->params.data());
  }
}

// Decodes and validates NOTIFY and ORCPT on RCPT.
ParseResult DecodeRcptParams(Command* out) {
  for (const Param& p : out->Params()) {
    ParseResult r = ParseResult::kOk;
    if (AsciiEqualsIgnoreCase(p.keyword, "NOTIFY")) {
      r = DecodeNotify(p, out);
    } else if (AsciiEqualsIgnoreCase(p.keyword, "ORCPT")) {
      r = DecodeOrcpt(p, out);
    } else {
      NoteUnknown(p, out);
    }
    if (r != ParseResult::kOk) return r;
  }
  return ParseResult::kOk;
}

// Decodes and validates SIZE, BODY, SMTPUTF8, RET and ENVID on MAIL.
ParseResult DecodeMailParams(Command* out) {
  bool seen_body = false;
  for (const Param& p : out->Params()) {
    if (AsciiEqualsIgnoreCase(p.keyword, "SIZE")) {
      if (out->has_size || !ParseDecimal(p.value, &out->size)) {
        return ParseResult::kSyntaxError;
      }
      out->has_size = true;
    } else if (AsciiEqualsIgnoreCase(p.keyword, "BODY")) {
      if (seen_body) return ParseResult::kSyntaxError;
      seen_body = true;
      if (AsciiEqualsIgnoreCase(p.value, "7BIT")) {
        out->body = BodyType::k7Bit;
      } else if (AsciiEqualsIgnoreCase(p.value, "8BITMIME")) {
        out->body = BodyType::k8BitMime;
      } else if (AsciiEqualsIgnoreCase(p.value, "BINARYMIME")) {
        out->body = BodyType::kBinaryMime;
      } else {
        return ParseResult::kSyntaxError;
      }
    } else if (AsciiEqualsIgnoreCase(p.keyword, "SMTPUTF8")) {
      if (out->smtputf8 || !p.value.empty()) return ParseResult::kSyntaxError;
      out->smtputf8 = true;
    } else if (AsciiEqualsIgnoreCase(p.keyword, "RET")) {
      if (const ParseResult r = DecodeRet(p, out); r != ParseResult::kOk) return r;
    } else if (AsciiEqualsIgnoreCase(p.keyword, "ENVID")) {
      if (const ParseResult r = DecodeEnvid(p, out); r != ParseResult::kOk) return r;
    } else {
      NoteUnknown(p, out);
    }
  }
  return ParseResult::kOk;
}

// MAIL FROM:<path> [params] / RCPT TO:<path> [params]; `arg` is the
// argument after the verb.
ParseResult ParseMailOrRcpt(std::string_view arg, bool is_mail, Command* out) {
  const std::string_view prefix = is_mail ? "FROM:" : "TO:";
  const ParseResult bad_address = is_mail ? ParseResult::kBadSenderAddress
                                          : ParseResult::kBadRecipientAddress;
  if (arg.size() < prefix.size() ||
      !AsciiEqualsIgnoreCase(arg.substr(0, prefix.size()), prefix)) {
    return ParseResult::kSyntaxError;
  }
  size_t i = prefix.size();
  while (i < arg.size() && arg[i] == ' ') ++i;  // "MAIL FROM: <a@b>"
  PathResult path;
  const size_t end = ScanPath(arg, i, /*allow_postmaster=*/!is_mail, &path);
  if (end == kNpos) return bad_address;
  if (path.null_path && !is_mail) return bad_address;
  out->path = path.mailbox;
  out->null_path = path.null_path;
  out->path_utf8 = path.utf8;
  const ParseResult r = ParseParams(arg.substr(end), out);
  if (r != ParseResult::kOk) return r;
  return is_mail ? DecodeMailParams(out) : DecodeRcptParams(out);
}

ParseResult ParseBdat(std::string_view arg, Command* out) {
  const size_t space = arg.find(' ');
  if (!ParseDecimal(arg.substr(0, space), &out->bdat_size) ||
      out->bdat_size > kBdatSizeMax) {
    out->bdat_size = 0;
    return ParseResult::kSyntaxError;
  }
  if (space == kNpos) return ParseResult::kOk;
  std::string_view rest = arg.substr(space);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!AsciiEqualsIgnoreCase(rest, "LAST")) return ParseResult::kSyntaxError;
  out->bdat_last = true;
  return ParseResult::kOk;
}

constexpr uint32_t Pack4(char a, char b, char c, char d) {
  return static_cast<uint32_t>(static_cast<unsigned char>(a)) |
         static_cast<uint32_t>(static_cast<unsigned char>(b)) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(c)) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(d)) << 24;
}

Verb LookupVerb(std::string_view token) {
  if (token.size() == 4) {
    // OR-ing 0x20 folds A-Z onto a-z and maps no other byte onto a letter.
    const uint32_t key =
        Pack4(token[0], token[1], token[2], token[3]) | 0x20202020u;
    switch (key) {
      case Pack4('m', 'a', 'i', 'l'): return Verb::kMail;
      case Pack4('r', 'c', 'p', 't'): return Verb::kRcpt;
      case Pack4('d', 'a', 't', 'a'): return Verb::kData;
      case Pack4('b', 'd', 'a', 't'): return Verb::kBdat;
      case Pack4('e', 'h', 'l', 'o'): return Verb::kEhlo;
      case Pack4('h', 'e', 'l', 'o'): return Verb::kHelo;
      case Pack4('r', 's', 'e', 't'): return Verb::kRset;
      case Pack4('n', 'o', 'o', 'p'): return Verb::kNoop;
      case Pack4('q', 'u', 'i', 't'): return Verb::kQuit;
      case Pack4('h', 'e', 'l', 'p'): return Verb::kHelp;
      case Pack4('v', 'r', 'f', 'y'): return Verb::kVrfy;
      case Pack4('e', 'x', 'p', 'n'): return Verb::kExpn;
      case Pack4('a', 'u', 't', 'h'): return Verb::kAuth;
      default: return Verb::kUnknown;
    }
  }
  if (token.size() == 8 && AsciiEqualsIgnoreCase(token, "STARTTLS")) {
    return Verb::kStartTls;
  }
  return Verb::kUnknown;
}

size_t LineOctetsMax(Verb verb) {
  switch (verb) {
    case Verb::kMail:
    case Verb::kRcpt:
      return kMailRcptLineOctetsMax;
    case Verb::kAuth:
      return kAuthLineOctetsMax;
    default:
      return kCommandLineOctetsMax;
  }
}

bool HasControl(std::string_view s) {
  for (char c : s) {
    if (Is(c, kCtl)) return true;
  }
  return false;
}

}  // namespace

std::string_view VerbName(Verb verb) {
  switch (verb) {
    case Verb::kHelo: return "HELO";
    case Verb::kEhlo: return "EHLO";
    case Verb::kMail: return "MAIL";
    case Verb::kRcpt: return "RCPT";
    case Verb::kData: return "DATA";
    case Verb::kBdat: return "BDAT";
    case Verb::kRset: return "RSET";
    case Verb::kNoop: return "NOOP";
    case Verb::kQuit: return "QUIT";
    case Verb::kHelp: return "HELP";
    case Verb::kVrfy: return "VRFY";
    case Verb::kExpn: return "EXPN";
    case Verb::kStartTls: return "STARTTLS";
    case Verb::kAuth: return "AUTH";
    case Verb::kUnknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

Reply ReplyFor(ParseResult result) {
  switch (result) {
    case ParseResult::kOk:
      return {250, "2.0.0", "Ok"};
    case ParseResult::kUnknownCommand:
      return {500, "5.5.2", "Error: command not recognized"};
    case ParseResult::kLineTooLong:
      return {500, "5.5.2", "Error: line too long"};
    case ParseResult::kSyntaxError:
      return {501, "5.5.4", "Syntax error in parameters or arguments"};
    case ParseResult::kBadSenderAddress:
      return {501, "5.1.7", "Bad sender address syntax"};
    case ParseResult::kBadRecipientAddress:
      return {501, "5.1.3", "Bad recipient address syntax"};
    case ParseResult::kBadParameter:
      return {501, "5.5.4", "Error: malformed or repeated parameter"};
  }
  return {451, "4.3.0", "Internal error"};
}

Reply ReplyFor(ParseResult result, const Command& command) {
  if (result == ParseResult::kBadParameter && !command.param_error.empty()) {
    return {501, "5.5.4", command.param_error};
  }
  return ReplyFor(result);
}

ParseResult ParseCommand(std::string_view line, Command* out) {
  // Field by field: the params array is dead beyond param_count, so it is
  // not cleared.
  out->argument = {};
  out->path = {};
  out->null_path = false;
  out->path_utf8 = false;
  out->param_count = 0;
  out->unknown_param = kParamsMax;
  out->has_size = false;
  out->size = 0;
  out->body = BodyType::kUnspecified;
  out->smtputf8 = false;
  out->dsn_ret = DsnReturn::kUnspecified;
  out->dsn_envid = {};
  out->dsn_notify = 0;
  out->dsn_orcpt_type = {};
  out->dsn_orcpt = {};
  out->param_error = {};
  out->bdat_size = 0;
  out->bdat_last = false;
  const size_t verb_end = std::min(line.find(' '), line.size());
  out->verb = LookupVerb(line.substr(0, verb_end));
  if (line.size() + 2 > LineOctetsMax(out->verb)) {
    return ParseResult::kLineTooLong;
  }
  if (out->verb == Verb::kUnknown) {
    out->argument = line;
    return ParseResult::kUnknownCommand;
  }
  std::string_view arg = line.substr(verb_end);
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  out->argument = arg;

  switch (out->verb) {
    case Verb::kMail:
      return ParseMailOrRcpt(arg, /*is_mail=*/true, out);
    case Verb::kRcpt:
      return ParseMailOrRcpt(arg, /*is_mail=*/false, out);
    case Verb::kBdat:
      return ParseBdat(arg, out);
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      return arg.empty() ? ParseResult::kOk : ParseResult::kSyntaxError;
    case Verb::kHelo:
    case Verb::kEhlo:
    case Verb::kVrfy:
    case Verb::kExpn:
    case Verb::kAuth:
      if (arg.empty()) return ParseResult::kSyntaxError;
      return HasControl(arg) ? ParseResult::kSyntaxError : ParseResult::kOk;
    case Verb::kNoop:
    case Verb::kHelp:
      return HasControl(arg) ? ParseResult::kSyntaxError : ParseResult::kOk;
    case Verb::kUnknown:
      break;
  }
  return ParseResult::kUnknownCommand;
}

const Param* FindParam(const Command& command, std::string_view keyword) {
  for (const Param& p : command.Params()) {
    if (AsciiEqualsIgnoreCase(p.keyword, keyword)) return &p;
  }
  return nullptr;
}

void AppendAsciiLowercase(std::string_view text, std::string* out) {
  const size_t base = out->size();
  out->append(text);
  for (size_t i = base; i < out->size(); ++i) (*out)[i] = LowerAscii((*out)[i]);
}

std::string LowercaseDomain(std::string_view domain) {
  std::string out;
  AppendAsciiLowercase(domain, &out);
  return out;
}

}  // namespace ringpost::smtp
