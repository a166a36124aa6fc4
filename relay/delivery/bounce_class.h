// relay/delivery/bounce_class.h — why a recipient bounced (or was deferred),
// as one of a few categories an operator acts on: suppress an invalid
// address, fix authentication, slow down for a throttling receiver.
//
// A reply is classified in three steps; the first that decides wins:
//   1. Rules, in file order: a case-insensitive RE2 search in the reply's
//      text, optionally only for replies of one class (4xx or 5xx).
//   2. The enhanced status code (RFC 3463, with RFC 7372's and RFC 7505's
//      additions), see ClassifyStatus.
//   3. The reply code: 4xx transient, anything else unknown.
//
// The text the rules see (BounceMatchText): the reply's lines joined by one
// space, each line's reply code ("550-", "550 ") and enhanced status code
// ("5.1.1 ") removed, runs of blanks one space; at most the first
// kMatchTextMax octets. So a rule matches the words however a server split
// them over lines, and never depends on the codes (step 2 judges those).
//
// Rules file (dist/bounce_rules.conf is the shipped one, built into the
// binary as Defaults()): one rule per line,
//
//     CATEGORY [4xx|5xx] REGEX
//
//   CATEGORY  a CategoryName: invalid-recipient, bad-domain, mailbox-full,
//             policy, authentication, content, routing, protocol, transient,
//             unknown
//   4xx, 5xx  optional: the rule applies only to replies of that class
//             (the reply code's first digit; with no code, the enhanced
//             code's class). A rule without one applies to every reply.
//   REGEX     RE2 syntax (github.com/google/re2/wiki/Syntax), the rest of
//             the line without its leading and trailing blanks; matched
//             case-insensitively anywhere in the text. It must not match
//             the empty text (it would match every reply).
// Lines that are empty or start with '#' (after blanks) are comments; a '#'
// after a rule is part of its regex. A file is at most 1 MiB.
//
// Why RE2: the text comes from remote servers, which may send anything.
// RE2 matches in time linear in the text with bounded memory (no
// backtracking, no recursion), so no reply can stall a shard; std::regex
// promises neither.
//
// A BounceRules is immutable once parsed; Classify is const and
// thread-safe, so every shard shares one instance (shared_ptr, swapped on
// reload). Parse and Load compile regexes and Load reads a file: call them
// on the main thread (start-up, SIGHUP), never on a shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace ringpost::delivery {

enum class BounceCategory : uint8_t {
  kInvalidRecipient,  // the mailbox does not exist, was disabled or moved
  kBadDomain,         // the recipient's domain has no mail servers (NXDOMAIN, null MX)
  kMailboxFull,       // the recipient's mailbox is over its quota
  kPolicy,            // refused for who we are: block lists, reputation, local policy
  kAuthentication,    // SPF, DKIM, DMARC, reverse DNS, SMTP AUTH
  kContent,           // the message itself: spam, virus, size, format
  kRouting,           // relaying denied, loops, misconfigured destinations
  kProtocol,          // the SMTP dialogue: syntax, sequence, required extensions
  kTransient,         // try again later: throttling, greylisting, busy servers
  kUnknown,
};
inline constexpr size_t kBounceCategories = static_cast<size_t>(BounceCategory::kUnknown) + 1;

// "invalid-recipient", "bad-domain", "mailbox-full", "policy",
// "authentication", "content", "routing", "protocol", "transient",
// "unknown".
std::string_view CategoryName(BounceCategory c);
std::optional<BounceCategory> CategoryFromName(std::string_view name);

// Step 2 and 3 above: the category from the enhanced status code ("5.1.1";
// empty or malformed: not used) and the reply code alone.
BounceCategory ClassifyStatus(int code, std::string_view enhanced);

// The text rules are matched against (see above).
inline constexpr size_t kMatchTextMax = 8192;
std::string BounceMatchText(std::string_view reply_text);

// One rule of a file, for logs ("classified by bounce_rules.conf:12").
struct BounceRule {
  BounceCategory category = BounceCategory::kUnknown;
  int reply_class = 0;  // 4 or 5: only replies of that class; 0: all
  int line = 0;         // 1-based line in the file
  std::string pattern;  // the regex as written
};

// A classification and what decided it.
struct BounceMatch {
  BounceCategory category = BounceCategory::kUnknown;
  std::optional<size_t> rule;  // index into rules(); empty: the codes decided
};

class BounceRules {
 public:
  static constexpr size_t kFileMax = 1 << 20;

  // Parses a rules file's text. Errors are InvalidArgument naming
  // `name`:line and what is wrong (an unknown category, a missing regex, a
  // bad reply class, a bad regex with RE2's message, a regex matching the
  // empty text).
  static absl::StatusOr<std::shared_ptr<const BounceRules>> Parse(std::string_view text,
                                                                  std::string_view name);
  // Reads and parses the file at `path` (at most kFileMax octets). Blocking:
  // main thread only.
  static absl::StatusOr<std::shared_ptr<const BounceRules>> Load(const std::string& path);
  // The shipped rules (dist/bounce_rules.conf, compiled into the binary),
  // parsed once.
  static std::shared_ptr<const BounceRules> Defaults();

  ~BounceRules();
  BounceRules(const BounceRules&) = delete;
  BounceRules& operator=(const BounceRules&) = delete;

  // The category of a reply: `code` its reply code (0: none), `enhanced`
  // its enhanced status code ("5.1.1", may be empty: then the one at the
  // start of `text` is used, if any), `text` its text as received (lines
  // joined by LF or CRLF, with or without their codes). Thread-safe.
  BounceCategory Classify(int code, std::string_view enhanced, std::string_view text) const;
  // The same, saying which rule decided.
  BounceMatch Match(int code, std::string_view enhanced, std::string_view text) const;

  size_t size() const { return rules_.size(); }
  const BounceRule& rule(size_t i) const { return rules_[i].rule; }
  // The name given to Parse (the file's path for Load).
  const std::string& name() const { return name_; }

 private:
  struct Compiled {
    BounceRule rule;
    std::unique_ptr<re2::RE2> re;
  };

  BounceRules() = default;

  std::string name_;
  std::vector<Compiled> rules_;
};

}  // namespace ringpost::delivery
