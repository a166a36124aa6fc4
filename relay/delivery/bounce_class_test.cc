// bounce_class_test.cc — the rules file parser (every error, with its
// file:line), rule order and class filters, the text rules see, the
// enhanced-code and reply-code fallbacks (tables), Load. The shipped rules
// are checked against real replies in bounce_rules_samples_test.cc.
#include "relay/delivery/bounce_class.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace ringpost::delivery {
namespace {

using C = BounceCategory;

std::shared_ptr<const BounceRules> MustParse(std::string_view text) {
  auto rules = BounceRules::Parse(text, "test.conf");
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *rules : BounceRules::Parse("", "empty").value();
}

std::string ParseError(std::string_view text) {
  auto rules = BounceRules::Parse(text, "rules.conf");
  if (rules.ok()) return "parsed";
  EXPECT_EQ(rules.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(rules.status().message());
}

TEST(BounceClassTest, CategoryNamesRoundTrip) {
  const char* names[] = {"invalid-recipient", "bad-domain", "mailbox-full", "policy",
                         "authentication", "content", "routing", "protocol", "transient",
                         "unknown"};
  ASSERT_EQ(std::size(names), kBounceCategories);
  for (size_t i = 0; i < kBounceCategories; ++i) {
    const auto c = static_cast<BounceCategory>(i);
    EXPECT_EQ(CategoryName(c), names[i]);
    EXPECT_EQ(CategoryFromName(names[i]), c);
  }
  EXPECT_EQ(CategoryFromName("Policy"), std::nullopt);  // names are lower case
  EXPECT_EQ(CategoryFromName(""), std::nullopt);
  EXPECT_EQ(CategoryFromName("spam"), std::nullopt);
}

TEST(BounceClassTest, ParsesRulesCommentsAndBlanks) {
  const auto rules = MustParse(
      "# a comment\n"
      "\n"
      "   \t\n"
      "  # an indented comment\n"
      "invalid-recipient  user unknown\n"
      "transient 4xx\ttry again # later\r\n"
      "policy 5XX  blocked   \n"
      "content\tvirus");
  ASSERT_EQ(rules->size(), 4u);
  EXPECT_EQ(rules->name(), "test.conf");
  EXPECT_EQ(rules->rule(0).category, C::kInvalidRecipient);
  EXPECT_EQ(rules->rule(0).reply_class, 0);
  EXPECT_EQ(rules->rule(0).line, 5);
  EXPECT_EQ(rules->rule(0).pattern, "user unknown");
  EXPECT_EQ(rules->rule(1).category, C::kTransient);
  EXPECT_EQ(rules->rule(1).reply_class, 4);
  EXPECT_EQ(rules->rule(1).pattern, "try again # later");  // '#' after a rule: its regex
  EXPECT_EQ(rules->rule(2).reply_class, 5);
  EXPECT_EQ(rules->rule(2).pattern, "blocked");
  EXPECT_EQ(rules->rule(3).line, 8);
  EXPECT_EQ(MustParse("")->size(), 0u);
  EXPECT_EQ(MustParse("# only comments\n\n")->size(), 0u);
}

TEST(BounceClassTest, ParseErrorsNameTheLine) {
  EXPECT_EQ(ParseError("\n# c\nspam  viagra\n"),
            "rules.conf:3: unknown category \"spam\" (one of: invalid-recipient, bad-domain, "
            "mailbox-full, policy, authentication, content, routing, protocol, transient, "
            "unknown)");
  EXPECT_EQ(ParseError("Policy blocked"),
            "rules.conf:1: unknown category \"Policy\" (one of: invalid-recipient, bad-domain, "
            "mailbox-full, policy, authentication, content, routing, protocol, transient, "
            "unknown)");
  EXPECT_EQ(ParseError("policy blocked\npolicy"), "rules.conf:2: no regex after \"policy\"");
  EXPECT_EQ(ParseError("policy   \t "), "rules.conf:1: no regex after \"policy\"");
  EXPECT_EQ(ParseError("transient 4xx"), "rules.conf:1: no regex after \"4xx\"");
  EXPECT_EQ(ParseError("transient 4xx   "), "rules.conf:1: no regex after \"4xx\"");
  EXPECT_EQ(ParseError("content 2xx queued"),
            "rules.conf:1: reply class \"2xx\": only 4xx and 5xx replies are classified");
  EXPECT_EQ(ParseError("content x\n\ncontent (unclosed"),
            "rules.conf:3: bad regex \"(unclosed\": missing ): (unclosed");
  EXPECT_EQ(ParseError("content a{2,1}"),
            "rules.conf:1: bad regex \"a{2,1}\": invalid repetition size: {2,1}");
  // Backreferences and lookarounds are what RE2 leaves out to stay linear.
  EXPECT_EQ(ParseError("content (a)\\1"),
            "rules.conf:1: bad regex \"(a)\\1\": invalid escape sequence: \\1");
  EXPECT_EQ(ParseError("content (?=x)"),
            "rules.conf:1: bad regex \"(?=x)\": invalid perl operator: (?=");
  EXPECT_EQ(ParseError("content x*"),
            "rules.conf:1: regex \"x*\" matches the empty text, so it would match every reply");
  EXPECT_EQ(ParseError("policy 5xx (?:a|)"),
            "rules.conf:1: regex \"(?:a|)\" matches the empty text, so it would match every "
            "reply");
  // A word that merely starts like a class is part of the regex.
  EXPECT_EQ(MustParse("content 4xxx")->rule(0).pattern, "4xxx");
  EXPECT_EQ(MustParse("content 4xx-error")->rule(0).reply_class, 0);
}

TEST(BounceClassTest, InvalidUtf8InARegexIsAnError) {
  const std::string error = ParseError("content caf\xE9");
  EXPECT_EQ(error.rfind("rules.conf:1: bad regex \"caf\xE9\": invalid UTF-8", 0), 0u) << error;
}

TEST(BounceClassTest, FirstMatchInFileOrderWins) {
  const auto rules = MustParse(
      "policy      blocked\n"
      "content     blocked because of spam\n"
      "content     spam\n");
  BounceMatch m = rules->Match(550, "5.7.1", "Message blocked because of spam");
  EXPECT_EQ(m.category, C::kPolicy);
  EXPECT_EQ(m.rule, 0u);
  m = rules->Match(550, "5.7.1", "Looks like SPAM to us");  // case-insensitive
  EXPECT_EQ(m.category, C::kContent);
  EXPECT_EQ(m.rule, 2u);
  m = rules->Match(550, "5.7.1", "nothing we know");
  EXPECT_EQ(m.category, C::kPolicy);  // X.7.1
  EXPECT_EQ(m.rule, std::nullopt);
}

TEST(BounceClassTest, ClassFilter) {
  const auto rules = MustParse(
      "transient 4xx  mailbox unavailable\n"
      "invalid-recipient 5xx  mailbox unavailable\n");
  EXPECT_EQ(rules->Classify(450, "", "Mailbox unavailable"), C::kTransient);
  EXPECT_EQ(rules->Classify(550, "", "Mailbox unavailable"), C::kInvalidRecipient);
  // No reply code: the enhanced code's class filters (given, or in the text).
  EXPECT_EQ(rules->Classify(0, "4.2.0", "Mailbox unavailable"), C::kTransient);
  EXPECT_EQ(rules->Classify(0, "", "5.2.0 Mailbox unavailable"), C::kInvalidRecipient);
  // Neither: no class, so no filtered rule applies.
  EXPECT_EQ(rules->Match(0, "", "Mailbox unavailable").rule, std::nullopt);
  EXPECT_EQ(rules->Classify(0, "", "Mailbox unavailable"), C::kUnknown);
}

TEST(BounceClassTest, TheTextRulesSee) {
  EXPECT_EQ(BounceMatchText("550-5.1.1 The email account that you tried to reach does not\r\n"
                            "550-5.1.1 exist. Please try double-checking\r\n"
                            "550 5.1.1 the address."),
            "The email account that you tried to reach does not exist. Please try "
            "double-checking the address.");
  // ServerReply::text: lines after their codes, joined with LF.
  EXPECT_EQ(BounceMatchText("5.7.26 This mail is\n5.7.26 unauthenticated"),
            "This mail is unauthenticated");
  EXPECT_EQ(BounceMatchText("  spaced \t  out  "), "spaced out");
  EXPECT_EQ(BounceMatchText("550"), "");
  EXPECT_EQ(BounceMatchText("550 5.1.1"), "");
  EXPECT_EQ(BounceMatchText("5.1.1.1 not an enhanced code"), "5.1.1.1 not an enhanced code");
  EXPECT_EQ(BounceMatchText("5.1.1x text"), "5.1.1x text");
  EXPECT_EQ(BounceMatchText("250 2.0.0 ok\n"), "ok");
  EXPECT_EQ(BounceMatchText("12345 not a code"), "12345 not a code");
  EXPECT_EQ(BounceMatchText(std::string(20000, 'a')).size(), kMatchTextMax);
  // Words split over lines match as one phrase.
  const auto rules = MustParse("authentication this mail is unauthenticated");
  EXPECT_EQ(rules->Classify(550, "5.7.26",
                            "550-5.7.26 This mail is\r\n550 5.7.26 unauthenticated, ..."),
            C::kAuthentication);
  // The codes are not part of the text: a rule cannot match them.
  EXPECT_EQ(MustParse("policy 5\\.7\\.1")->Match(550, "", "550 5.7.1 Refused").rule,
            std::nullopt);
}

TEST(BounceClassTest, EnhancedCodeFallback) {
  struct Case {
    int code;
    const char* enhanced;
    BounceCategory want;
  };
  const Case cases[] = {
      // Addressing.
      {550, "5.1.1", C::kInvalidRecipient},
      {553, "5.1.3", C::kInvalidRecipient},
      {550, "5.1.4", C::kInvalidRecipient},
      {551, "5.1.6", C::kInvalidRecipient},
      {450, "4.1.1", C::kInvalidRecipient},
      {550, "5.1.2", C::kBadDomain},
      {556, "5.1.10", C::kBadDomain},
      {553, "5.1.7", C::kPolicy},
      {450, "4.1.8", C::kPolicy},
      {550, "5.1.0", C::kUnknown},
      {450, "4.1.0", C::kTransient},
      // Mailbox.
      {550, "5.2.1", C::kInvalidRecipient},
      {450, "4.2.1", C::kTransient},
      {552, "5.2.2", C::kMailboxFull},
      {452, "4.2.2", C::kMailboxFull},
      {552, "5.2.3", C::kContent},
      {550, "5.2.0", C::kUnknown},
      // Mail system.
      {452, "4.3.1", C::kTransient},
      {552, "5.3.1", C::kMailboxFull},
      {421, "4.3.2", C::kTransient},
      {554, "5.3.2", C::kRouting},
      {554, "5.3.3", C::kProtocol},
      {552, "5.3.4", C::kContent},
      {554, "5.3.5", C::kRouting},
      // Network and routing.
      {421, "4.4.1", C::kTransient},
      {554, "5.4.1", C::kRouting},
      {421, "4.4.2", C::kTransient},
      {451, "4.4.3", C::kTransient},
      {554, "5.4.3", C::kRouting},
      {554, "5.4.4", C::kBadDomain},
      {451, "4.4.5", C::kTransient},
      {554, "5.4.6", C::kRouting},
      {451, "4.4.7", C::kTransient},
      {554, "5.4.7", C::kTransient},
      {554, "5.4.0", C::kRouting},
      // Protocol, content.
      {500, "5.5.2", C::kProtocol},
      {452, "4.5.3", C::kProtocol},
      {554, "5.6.0", C::kContent},
      {550, "5.6.7", C::kContent},
      // Security and policy (RFC 3463, RFC 7372, the registry).
      {550, "5.7.0", C::kPolicy},
      {554, "5.7.1", C::kPolicy},
      {450, "4.7.1", C::kPolicy},
      {535, "5.7.8", C::kAuthentication},
      {550, "5.7.20", C::kAuthentication},
      {550, "5.7.23", C::kAuthentication},
      {451, "4.7.24", C::kAuthentication},
      {550, "5.7.25", C::kAuthentication},
      {550, "5.7.26", C::kAuthentication},
      {550, "5.7.27", C::kAuthentication},
      {550, "5.7.17", C::kInvalidRecipient},
      {552, "5.7.16", C::kContent},
      {421, "4.7.28", C::kPolicy},
      {550, "5.7.606", C::kPolicy},  // Microsoft's own details
      // No code worth reading: the reply code.
      {550, "5.0.0", C::kUnknown},
      {451, "4.0.0", C::kTransient},
      {550, "", C::kUnknown},
      {421, "", C::kTransient},
      {550, "5.9.9", C::kUnknown},
      {550, "5.1", C::kUnknown},
      {550, "5.1.1.1", C::kUnknown},
      {550, "x.1.1", C::kUnknown},
      {250, "2.0.0", C::kUnknown},
      {0, "", C::kUnknown},
      // No reply code: the enhanced code's class.
      {0, "4.4.1", C::kTransient},
      {0, "5.4.1", C::kRouting},
      {0, "4.0.0", C::kTransient},
  };
  const auto none = MustParse("");
  for (const Case& c : cases) {
    EXPECT_EQ(ClassifyStatus(c.code, c.enhanced), c.want) << c.code << " " << c.enhanced;
    EXPECT_EQ(none->Classify(c.code, c.enhanced, "some text"), c.want)
        << c.code << " " << c.enhanced;
  }
  // The enhanced code at the start of the text stands in for a missing one.
  EXPECT_EQ(none->Classify(550, "", "5.1.1 <bob@example.com>: no"), C::kInvalidRecipient);
  EXPECT_EQ(none->Classify(550, "", "550-5.2.2 full\r\n550 5.2.2 really"), C::kMailboxFull);
  EXPECT_EQ(none->Classify(550, "", "no code 5.1.1 here"), C::kUnknown);
}

TEST(BounceClassTest, ClassifyIsThreadSafe) {
  const auto rules = BounceRules::Defaults();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (rules->Classify(550, "5.1.1", "550 5.1.1 User unknown") != C::kInvalidRecipient ||
            rules->Classify(421, "4.7.0", "421 4.7.0 [TSS04] deferred") != C::kTransient) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(BounceRules::Defaults().get(), rules.get());  // parsed once
}

TEST(BounceClassTest, HugeRepliesTakeLinearTime) {
  // A text that makes backtracking engines explode: RE2 scans it once per
  // rule. kMatchTextMax bounds the scan whatever the reply's size.
  const auto rules = MustParse("content (a|aa)+b\ncontent (?:x+x+)+y");
  const std::string text(1 << 20, 'a');
  EXPECT_EQ(rules->Classify(550, "", text), C::kUnknown);
  EXPECT_EQ(rules->Classify(550, "", std::string(1 << 20, 'x')), C::kUnknown);
  EXPECT_EQ(BounceRules::Defaults()->Classify(550, "", text), C::kUnknown);
}

class LoadTest : public ::testing::Test {
 protected:
  std::string Path(const char* name) {
    const char* dir = std::getenv("TEST_TMPDIR");
    return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  }
  std::string Write(const char* name, const std::string& text) {
    const std::string path = Path(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
};

TEST_F(LoadTest, ReadsAFile) {
  const std::string path = Write("ok.conf", "# mine\npolicy 5xx  blocked\n");
  auto rules = BounceRules::Load(path);
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ((*rules)->size(), 1u);
  EXPECT_EQ((*rules)->name(), path);
}

TEST_F(LoadTest, ErrorsNameThePath) {
  const std::string bad = Write("bad.conf", "policy blocked\nspam x\n");
  auto rules = BounceRules::Load(bad);
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().message().rfind(bad + ":2: unknown category \"spam\"", 0), 0u)
      << rules.status();

  rules = BounceRules::Load(Path("missing.conf"));
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(rules.status().message(),
            Path("missing.conf") + ": cannot open: No such file or directory");

  rules = BounceRules::Load(Path(""));  // a directory: opens, cannot be read
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().message(), Path("") + ": cannot read: Is a directory");
}

TEST_F(LoadTest, ABigFileIsRefused) {
  std::string text;
  while (text.size() <= BounceRules::kFileMax) text += "# padding padding padding\n";
  const std::string path = Write("big.conf", text);
  auto rules = BounceRules::Load(path);
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rules.status().message(),
            path + ": larger than 1 MiB, the limit for a bounce rules file");
  // Exactly the limit is fine.
  text.resize(BounceRules::kFileMax);
  text.back() = '\n';
  rules = BounceRules::Load(Write("limit.conf", text));
  EXPECT_TRUE(rules.ok()) << rules.status();
}

}  // namespace
}  // namespace ringpost::delivery
