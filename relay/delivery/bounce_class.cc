// bounce_class.cc — see bounce_class.h.
#include "relay/delivery/bounce_class.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "base/check.h"
#include "re2/re2.h"

namespace ringpost::delivery {
namespace internal {
// dist/bounce_rules.conf, embedded by the genrule bounce_rules_default
// (embed_bounce_rules.sh).
extern const std::string_view kDefaultBounceRules;
}  // namespace internal

namespace {

constexpr std::array<std::string_view, kBounceCategories> kCategoryNames = {
    "invalid-recipient", "bad-domain", "mailbox-full", "policy",    "authentication",
    "content",           "routing",    "protocol",     "transient", "unknown",
};

// Concatenates (Debian's Abseil has its own string_view: absl::StrCat takes
// no std::string_view).
std::string Cat(std::initializer_list<std::string_view> pieces) {
  std::string s;
  for (std::string_view p : pieces) s.append(p);
  return s;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsBlank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Up to `max` digits at the start of s; their count, 0 if none.
size_t Digits(std::string_view s, size_t max) {
  size_t n = 0;
  while (n < s.size() && n < max && IsDigit(s[n])) ++n;
  return n;
}

// The length of an enhanced status code "c.s.d" (class 2, 4 or 5; 1 to 3
// digits each after) at the start of s, followed by the end or a blank; 0 if
// there is none.
size_t EnhancedLength(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  const size_t subject = Digits(s.substr(2), 3);
  if (subject == 0 || 2 + subject >= s.size() || s[2 + subject] != '.') return 0;
  const size_t at = 3 + subject;
  const size_t detail = Digits(s.substr(at), 3);
  if (detail == 0) return 0;
  const size_t end = at + detail;
  if (end < s.size() && !IsBlank(s[end]) && s[end] != '\r' && s[end] != '\n') return 0;
  return end;
}

struct Enhanced {
  int klass = 0;  // 0: none
  int subject = 0;
  int detail = 0;
};

Enhanced ParseEnhanced(std::string_view s) {
  s = Trim(s);
  const size_t n = EnhancedLength(s);
  if (n == 0 || n != s.size()) return {};
  Enhanced e;
  e.klass = s[0] - '0';
  size_t i = 2;
  for (; IsDigit(s[i]); ++i) e.subject = e.subject * 10 + (s[i] - '0');
  for (++i; i < s.size(); ++i) e.detail = e.detail * 10 + (s[i] - '0');
  return e;
}

// A line of a reply without its reply code ("550-", "550 ", "550").
std::string_view WithoutReplyCode(std::string_view line) {
  if (Digits(line, 3) == 3 && (line.size() == 3 || line[3] == '-' || line[3] == ' ')) {
    line.remove_prefix(std::min<size_t>(4, line.size()));
  }
  return line;
}

// The enhanced status code at the start of a reply's text, or "".
std::string_view LeadingEnhanced(std::string_view text) {
  std::string_view first = text.substr(0, text.find_first_of("\r\n"));
  first = WithoutReplyCode(Trim(first));
  return first.substr(0, EnhancedLength(first));
}

// The class (2, 4, 5) rules filter on: the reply code's, else the enhanced
// code's; 0 when neither is known.
int ReplyClass(int code, const Enhanced& e) {
  if (code >= 200 && code <= 599) return code / 100;
  return e.klass;
}

BounceCategory FromEnhanced(int klass, const Enhanced& e) {
  using C = BounceCategory;
  const bool temporary = klass == 4;
  switch (e.subject) {
    case 1:  // addressing (RFC 3463 3.2)
      switch (e.detail) {
        case 1:   // bad destination mailbox address
        case 3:   // bad destination mailbox address syntax
        case 4:   // destination mailbox address ambiguous
        case 6:   // destination mailbox has moved
          return C::kInvalidRecipient;
        case 2:   // bad destination system address
        case 10:  // recipient address has null MX (RFC 7505)
          return C::kBadDomain;
        case 7:  // bad sender's mailbox address syntax
        case 8:  // bad sender's system address: the receiver refuses our sender
          return C::kPolicy;
      }
      break;
    case 2:  // mailbox (3.3)
      switch (e.detail) {
        // Mailbox disabled; 4.2.1 is what receivers say when a mailbox
        // takes no mail for now (Gmail: receiving mail too fast).
        case 1: return temporary ? C::kTransient : C::kInvalidRecipient;
        case 2: return C::kMailboxFull;
        case 3: return C::kContent;  // message length exceeds administrative limit
      }
      break;
    case 3:  // mail system (3.4)
      switch (e.detail) {
        // Mail system full: the receiver's own storage, usually for a while
        // (4.3.1); a permanent one leaves the mailbox unable to take mail.
        case 1: return temporary ? C::kTransient : C::kMailboxFull;
        case 2: return temporary ? C::kTransient : C::kRouting;  // not accepting messages
        case 3: return C::kProtocol;  // system not capable of selected features
        case 4: return C::kContent;   // message too big for system
        case 5: return C::kRouting;   // system incorrectly configured
      }
      break;
    case 4:  // network and routing (3.5)
      switch (e.detail) {
        case 4: return C::kBadDomain;  // unable to route: no such domain, no mail host
        case 5:                        // mail system congestion
        case 7:                        // delivery time expired
          return C::kTransient;
        case 6: return C::kRouting;  // routing loop
        default:  // 1 no answer, 2 bad connection, 3 directory server failure, others
          return temporary ? C::kTransient : C::kRouting;
      }
    case 5:  // mail delivery protocol (3.6)
      return C::kProtocol;
    case 6:  // message content or media (3.7)
      return C::kContent;
    case 7:  // security or policy (3.8; RFC 7372; the IANA registry)
      switch (e.detail) {
        case 5:   // cryptographic failure
        case 6:   // cryptographic algorithm not supported
        case 7:   // message integrity failure
        case 8:   // authentication credentials invalid
        case 9:   // authentication mechanism too weak
        case 11:  // encryption required for requested authentication mechanism
        case 12:  // a password transition is needed
        case 13:  // user account disabled (SMTP AUTH)
        case 14:  // trust relationship required
        case 20:  // no passing DKIM signature found
        case 21:  // no acceptable DKIM signature found
        case 22:  // no valid author-matched DKIM signature found
        case 23:  // SPF validation failed
        case 24:  // SPF validation error
        case 25:  // reverse DNS validation failed
        case 26:  // multiple authentication checks failed (DMARC)
        case 27:  // sender address has null MX
        case 29:  // ARC validation failure
          return C::kAuthentication;
        case 16: return C::kContent;  // message too big for specified priority
        case 17:                      // mailbox owner has changed
        case 18:                      // domain owner has changed
          return C::kInvalidRecipient;
        default:  // 0, 1 delivery not authorized, 2, 3, 4, 10, 15, 19, 28, 30, others
          return C::kPolicy;
      }
  }
  return C::kUnknown;  // X.0.x and details not listed: the reply code decides
}

absl::Status LineError(std::string_view name, int line, std::string_view what) {
  return absl::InvalidArgumentError(Cat({name, ":", std::to_string(line), ": ", what}));
}

std::string CategoryList() {
  std::string s;
  for (std::string_view n : kCategoryNames) s += Cat({s.empty() ? "" : ", ", n});
  return s;
}

}  // namespace

std::string_view CategoryName(BounceCategory c) {
  const size_t i = static_cast<size_t>(c);
  return i < kCategoryNames.size() ? kCategoryNames[i] : "unknown";
}

std::optional<BounceCategory> CategoryFromName(std::string_view name) {
  for (size_t i = 0; i < kCategoryNames.size(); ++i) {
    if (kCategoryNames[i] == name) return static_cast<BounceCategory>(i);
  }
  return std::nullopt;
}

BounceCategory ClassifyStatus(int code, std::string_view enhanced) {
  const Enhanced e = ParseEnhanced(enhanced);
  const int klass = ReplyClass(code, e);
  if (e.klass != 0) {
    const BounceCategory c = FromEnhanced(klass, e);
    if (c != BounceCategory::kUnknown) return c;
  }
  return klass == 4 ? BounceCategory::kTransient : BounceCategory::kUnknown;
}

std::string BounceMatchText(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMatchTextMax));
  while (!text.empty() && out.size() < kMatchTextMax) {
    const size_t end = text.find_first_of("\r\n");
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    line = WithoutReplyCode(Trim(line));
    line.remove_prefix(EnhancedLength(line));
    bool blank = !out.empty();
    for (char c : line) {
      if (out.size() >= kMatchTextMax) break;
      if (IsBlank(c)) {
        blank = !out.empty();
        continue;
      }
      if (blank) out += ' ';
      blank = false;
      out += c;
    }
  }
  if (out.size() > kMatchTextMax) out.resize(kMatchTextMax);
  return out;
}

BounceRules::~BounceRules() = default;

absl::StatusOr<std::shared_ptr<const BounceRules>> BounceRules::Parse(std::string_view text,
                                                                      std::string_view name) {
  std::shared_ptr<BounceRules> rules(new BounceRules());
  rules->name_ = std::string(name);
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_log_errors(false);  // errors are returned, not printed
  options.set_never_capture(true);
  int line_no = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;

    size_t word = 0;
    while (word < line.size() && !IsBlank(line[word])) ++word;
    const std::string_view category_name = line.substr(0, word);
    const std::optional<BounceCategory> category = CategoryFromName(category_name);
    if (!category) {
      return LineError(name, line_no,
                       Cat({"unknown category \"", category_name, "\" (one of: ",
                            CategoryList(), ")"}));
    }
    std::string_view rest = Trim(line.substr(word));
    BounceRule rule;
    rule.category = *category;
    rule.line = line_no;
    // An optional reply class: "4xx" or "5xx" as a word of its own.
    size_t cls = 0;
    while (cls < rest.size() && !IsBlank(rest[cls])) ++cls;
    const std::string_view cls_word = rest.substr(0, cls);
    if (cls_word.size() == 3 && IsDigit(cls_word[0]) &&
        (cls_word[1] == 'x' || cls_word[1] == 'X') && (cls_word[2] == 'x' || cls_word[2] == 'X')) {
      if (cls_word[0] != '4' && cls_word[0] != '5') {
        return LineError(name, line_no,
                         Cat({"reply class \"", cls_word,
                              "\": only 4xx and 5xx replies are classified"}));
      }
      rule.reply_class = cls_word[0] - '0';
      rest = Trim(rest.substr(cls));
    }
    if (rest.empty()) {
      return LineError(name, line_no,
                       Cat({"no regex after \"",
                            rule.reply_class != 0 ? cls_word : category_name, "\""}));
    }
    rule.pattern = std::string(rest);
    auto re = std::make_unique<RE2>(re2::StringPiece(rest.data(), rest.size()), options);
    if (!re->ok()) {
      return LineError(name, line_no,
                       Cat({"bad regex \"", rest, "\": ", re->error()}));
    }
    if (RE2::PartialMatch("", *re)) {
      return LineError(name, line_no,
                       Cat({"regex \"", rest,
                            "\" matches the empty text, so it would match every reply"}));
    }
    rules->rules_.push_back(Compiled{std::move(rule), std::move(re)});
  }
  return std::shared_ptr<const BounceRules>(std::move(rules));
}

absl::StatusOr<std::shared_ptr<const BounceRules>> BounceRules::Load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string what = Cat({path, ": cannot open: ", std::strerror(err)});
    return err == ENOENT ? absl::NotFoundError(what) : absl::InvalidArgumentError(what);
  }
  // Read one octet more than allowed, to tell a full file from a big one
  // (whatever fstat says: the file may grow, or be a pipe).
  std::string text(kFileMax + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return absl::InvalidArgumentError(Cat({path, ": cannot read: ", std::strerror(err)}));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kFileMax) {
    return absl::InvalidArgumentError(
        Cat({path, ": larger than ", std::to_string(kFileMax / (1 << 20)),
             " MiB, the limit for a bounce rules file"}));
  }
  text.resize(got);
  return Parse(text, path);
}

std::shared_ptr<const BounceRules> BounceRules::Defaults() {
  // Parsed once, on first use, and never destroyed: shards may still hold
  // it while the process exits.
  static const auto* const rules = [] {
    absl::StatusOr<std::shared_ptr<const BounceRules>> parsed =
        Parse(internal::kDefaultBounceRules, "dist/bounce_rules.conf");
    // The shipped file is parsed by bounce_class_test: it cannot fail here.
    CHECK(parsed.ok());
    return new std::shared_ptr<const BounceRules>(*std::move(parsed));
  }();
  return *rules;
}

BounceMatch BounceRules::Match(int code, std::string_view enhanced,
                               std::string_view text) const {
  if (Trim(enhanced).empty()) enhanced = LeadingEnhanced(text);
  const Enhanced e = ParseEnhanced(enhanced);
  const int klass = ReplyClass(code, e);
  BounceMatch m;
  if (!rules_.empty()) {
    const std::string subject = BounceMatchText(text);
    const re2::StringPiece piece(subject.data(), subject.size());
    for (size_t i = 0; i < rules_.size(); ++i) {
      const Compiled& r = rules_[i];
      if (r.rule.reply_class != 0 && r.rule.reply_class != klass) continue;
      if (RE2::PartialMatch(piece, *r.re)) {
        m.category = r.rule.category;
        m.rule = i;
        return m;
      }
    }
  }
  m.category = ClassifyStatus(code, enhanced);
  return m;
}

BounceCategory BounceRules::Classify(int code, std::string_view enhanced,
                                     std::string_view text) const {
  return Match(code, enhanced, text).category;
}

}  // namespace ringpost::delivery
