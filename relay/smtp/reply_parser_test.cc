// relay/smtp/reply_parser_test.cc — SMTP reply parser tests: single and
// multi-line replies, enhanced codes, every split point, pipelined batches,
// EHLO capabilities, and garbage that must yield kError without crashing.

#include "relay/smtp/reply_parser.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

struct Parsed {
  std::vector<ServerReply> replies;
  bool error = false;
  ReplyParser::Error error_kind = ReplyParser::Error::kNone;
  size_t left = 0;  // bytes held in an unfinished reply
};

// Feeds `input` cut at `cuts` and collects every reply.
Parsed Feed(std::string_view input, const std::vector<size_t>& cuts) {
  ReplyParser parser;
  Parsed p;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  size_t from = 0;
  for (size_t to : ends) {
    if (to < from) continue;
    const std::string chunk(input.substr(from, to - from));
    std::string_view rest = chunk;
    // Bounded: each round consumes bytes or ends the chunk.
    for (int round = 0; round <= static_cast<int>(chunk.size()); ++round) {
      ServerReply reply;
      const ReplyParser::Result r = parser.Parse(rest, &reply);
      EXPECT_LE(r.consumed, rest.size());
      rest.remove_prefix(r.consumed);
      if (r.status == ReplyParser::Status::kReply) {
        p.replies.push_back(std::move(reply));
        if (rest.empty()) break;
        continue;
      }
      if (r.status == ReplyParser::Status::kError) {
        p.error = true;
        p.error_kind = parser.error();
        return p;
      }
      EXPECT_TRUE(rest.empty());
      break;
    }
    from = to;
  }
  return p;
}

std::vector<std::vector<size_t>> SplitPlans(size_t size) {
  std::vector<std::vector<size_t>> plans;
  plans.push_back({});
  std::vector<size_t> bytewise;
  for (size_t i = 1; i < size; ++i) bytewise.push_back(i);
  plans.push_back(bytewise);
  for (size_t i = 0; i <= size; ++i) plans.push_back({i});
  return plans;
}

struct Want {
  int code;
  std::string enhanced;
  std::string text;
  uint32_t lines;
};

struct Case {
  const char* name;
  std::string input;
  std::vector<Want> replies;
};

class ReplyParserTest : public ::testing::TestWithParam<Case> {};

TEST_P(ReplyParserTest, EverySplitAgrees) {
  const Case& c = GetParam();
  for (const auto& plan : SplitPlans(c.input.size())) {
    const Parsed p = Feed(c.input, plan);
    const std::string where = ::testing::PrintToString(plan);
    ASSERT_FALSE(p.error) << where;
    ASSERT_EQ(p.replies.size(), c.replies.size()) << where;
    for (size_t i = 0; i < c.replies.size(); ++i) {
      EXPECT_EQ(p.replies[i].code, c.replies[i].code) << where;
      EXPECT_EQ(p.replies[i].EnhancedText(), c.replies[i].enhanced) << where;
      EXPECT_EQ(p.replies[i].has_enhanced, !c.replies[i].enhanced.empty());
      EXPECT_EQ(p.replies[i].text, c.replies[i].text) << where;
      EXPECT_EQ(p.replies[i].line_count, c.replies[i].lines) << where;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReplyParserTest,
    ::testing::Values(
        Case{"Greeting", "220 mx.example ESMTP\r\n",
             {{220, "", "mx.example ESMTP", 1}}},
        Case{"Enhanced", "250 2.1.0 Ok\r\n", {{250, "2.1.0", "2.1.0 Ok", 1}}},
        Case{"EnhancedThreeDigits", "550 5.123.456 No\r\n",
             {{550, "5.123.456", "5.123.456 No", 1}}},
        Case{"EnhancedOnly", "451 4.3.0\r\n", {{451, "4.3.0", "4.3.0", 1}}},
        Case{"EnhancedClassMismatch", "550 4.1.1 odd\r\n",
             {{550, "", "4.1.1 odd", 1}}},
        Case{"NotEnhanced", "250 2.1 Ok\r\n", {{250, "", "2.1 Ok", 1}}},
        Case{"NotEnhancedTooManyDigits", "250 2.1234.0 x\r\n",
             {{250, "", "2.1234.0 x", 1}}},
        Case{"NotEnhancedGlued", "250 2.1.0Ok\r\n",
             {{250, "", "2.1.0Ok", 1}}},
        Case{"CodeOnly", "250\r\n", {{250, "", "", 1}}},
        Case{"BareLf", "354 go ahead\n", {{354, "", "go ahead", 1}}},
        Case{"MultiLine",
             "250-mx.example Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
             {{250, "", "mx.example Hello\nPIPELINING\nSIZE 1000", 3}}},
        Case{"MultiLineEnhanced",
             "550-5.1.1 The email account that you tried to reach\r\n"
             "550-5.1.1 does not exist.\r\n550 5.1.1 Bye\r\n",
             {{550, "5.1.1",
               "5.1.1 The email account that you tried to reach\n"
               "5.1.1 does not exist.\n5.1.1 Bye",
               3}}},
        Case{"EmptyContinuation", "250-\r\n250 x\r\n", {{250, "", "\nx", 2}}},
        Case{"Pipelined",
             "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 Unknown user\r\n"
             "354 End data with <CR><LF>.<CR><LF>\r\n",
             {{250, "2.1.0", "2.1.0 Ok", 1},
              {250, "2.1.5", "2.1.5 Ok", 1},
              {550, "5.1.1", "5.1.1 Unknown user", 1},
              {354, "", "End data with <CR><LF>.<CR><LF>", 1}}},
        Case{"PipelinedMultiLine",
             "250-a\r\n250 b\r\n421-4.7.0 x\r\n421 4.7.0 y\r\n",
             {{250, "", "a\nb", 2}, {421, "4.7.0", "4.7.0 x\n4.7.0 y", 2}}},
        Case{"EightBitText", "250 \xC3\xA9t\xC3\xA9\r\n",
             {{250, "", "\xC3\xA9t\xC3\xA9", 1}}}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(info.param.name);
    });

struct BadCase {
  const char* name;
  std::string input;
  ReplyParser::Error error;
  size_t good_replies;
};

class ReplyParserGarbageTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ReplyParserGarbageTest, ReportsError) {
  const BadCase& c = GetParam();
  for (const auto& plan : SplitPlans(c.input.size())) {
    const Parsed p = Feed(c.input, plan);
    const std::string where = ::testing::PrintToString(plan);
    EXPECT_TRUE(p.error) << where;
    EXPECT_EQ(p.error_kind, c.error) << where;
    EXPECT_EQ(p.replies.size(), c.good_replies) << where;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Garbage, ReplyParserGarbageTest,
    ::testing::Values(
        BadCase{"Letters", "HTTP/1.1 400 Bad Request\r\n",
                ReplyParser::Error::kBadCode, 0},
        BadCase{"Empty", "\r\n", ReplyParser::Error::kBadCode, 0},
        BadCase{"Short", "25\r\n", ReplyParser::Error::kBadCode, 0},
        BadCase{"FirstDigit1", "150 x\r\n", ReplyParser::Error::kBadCode, 0},
        BadCase{"FirstDigit6", "650 x\r\n", ReplyParser::Error::kBadCode, 0},
        BadCase{"Separator", "250_x\r\n", ReplyParser::Error::kBadSeparator, 0},
        BadCase{"Mismatch", "250-a\r\n251 b\r\n",
                ReplyParser::Error::kCodeMismatch, 0},
        BadCase{"AfterGood", "250 ok\r\nxyz\r\n", ReplyParser::Error::kBadCode,
                1},
        BadCase{"Nul", std::string("2\0000 x\r\n", 7),
                ReplyParser::Error::kBadCode, 0}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return std::string(info.param.name);
    });

TEST(ReplyParser, LineLengthLimit) {
  // 2048 octets including CRLF: accepted.
  const std::string ok = "250 " + std::string(2042, 'x') + "\r\n";
  ASSERT_EQ(ok.size(), ReplyParser::kLineOctetsMax);
  for (const auto& plan : {std::vector<size_t>{}, std::vector<size_t>{1000}}) {
    const Parsed p = Feed(ok, plan);
    EXPECT_FALSE(p.error);
    ASSERT_EQ(p.replies.size(), 1u);
  }
  // One more: rejected, whether or not the LF has arrived.
  const std::string too_long = "250 " + std::string(2043, 'x') + "\r\n";
  for (const auto& plan : SplitPlans(too_long.size())) {
    if (plan.size() > 2) continue;
    const Parsed p = Feed(too_long, plan);
    EXPECT_TRUE(p.error);
    EXPECT_EQ(p.error_kind, ReplyParser::Error::kLineTooLong);
  }
  // Endless garbage without any LF is cut off at the limit.
  ReplyParser parser;
  ServerReply reply;
  const std::string junk(1000, 'j');
  ReplyParser::Status status = ReplyParser::Status::kNeedMore;
  int rounds = 0;
  while (status == ReplyParser::Status::kNeedMore && rounds < 10) {
    status = parser.Parse(junk, &reply).status;
    ++rounds;
  }
  EXPECT_EQ(status, ReplyParser::Status::kError);
  EXPECT_EQ(rounds, 3);
}

TEST(ReplyParser, TooManyLines) {
  std::string input;
  for (size_t i = 0; i < ReplyParser::kLinesMax; ++i) input += "250-x\r\n";
  input += "250 x\r\n";
  const Parsed p = Feed(input, {});
  EXPECT_TRUE(p.error);
  EXPECT_EQ(p.error_kind, ReplyParser::Error::kTooManyLines);
}

TEST(ReplyParser, StaysInErrorUntilReset) {
  ReplyParser parser;
  ServerReply reply;
  EXPECT_EQ(parser.Parse("xyz\r\n", &reply).status,
            ReplyParser::Status::kError);
  const ReplyParser::Result again = parser.Parse("250 ok\r\n", &reply);
  EXPECT_EQ(again.status, ReplyParser::Status::kError);
  EXPECT_EQ(again.consumed, 0u);
  parser.Reset();
  EXPECT_EQ(parser.Parse("250 ok\r\n", &reply).status,
            ReplyParser::Status::kReply);
  EXPECT_EQ(reply.code, 250);
  EXPECT_TRUE(reply.IsPositive());
}

TEST(ReplyParser, Classification) {
  ServerReply r;
  r.code = 421;
  EXPECT_TRUE(r.IsTransient());
  EXPECT_FALSE(r.IsPermanent());
  r.code = 554;
  EXPECT_TRUE(r.IsPermanent());
  EXPECT_FALSE(r.IsPositive());
}

TEST(ReplyParser, RandomBytesNeverCrash) {
  std::mt19937 rng(2920);
  const std::string alphabet = "0123456789 -\r\n.aZ\xff";
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::string input;
    const int n = static_cast<int>(rng() % 64);
    for (int k = 0; k < n; ++k) input += alphabet[rng() % alphabet.size()];
    const Parsed p = Feed(input, {rng() % (input.size() + 1)});
    for (const ServerReply& r : p.replies) {
      EXPECT_GE(r.code, 200);
      EXPECT_LE(r.code, 599);
      EXPECT_GE(r.line_count, 1u);
    }
  }
}

TEST(EhloCapabilities, Keywords) {
  ReplyParser parser;
  ServerReply reply;
  const std::string ehlo =
      "250-mx.example Hello client [192.0.2.1]\r\n"
      "250-PIPELINING\r\n"
      "250-SIZE 35882577\r\n"
      "250-8BITMIME\r\n"
      "250-chunking\r\n"
      "250-SMTPUTF8\r\n"
      "250-STARTTLS\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-DSN\r\n"
      "250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
      "250-X-UNKNOWN foo\r\n"
      "250 BINARYMIME\r\n";
  ASSERT_EQ(parser.Parse(ehlo, &reply).status, ReplyParser::Status::kReply);
  const EhloCapabilities caps = ParseEhloCapabilities(reply);
  EXPECT_TRUE(caps.Has(kExtPipelining));
  EXPECT_TRUE(caps.Has(kExtSize));
  EXPECT_TRUE(caps.Has(kExt8BitMime));
  EXPECT_TRUE(caps.Has(kExtChunking));
  EXPECT_TRUE(caps.Has(kExtSmtpUtf8));
  EXPECT_TRUE(caps.Has(kExtStartTls));
  EXPECT_TRUE(caps.Has(kExtEnhancedStatusCodes));
  EXPECT_TRUE(caps.Has(kExtDsn));
  EXPECT_TRUE(caps.Has(kExtAuth));
  EXPECT_TRUE(caps.Has(kExtBinaryMime));
  EXPECT_EQ(caps.size_max, 35882577u);
  EXPECT_EQ(caps.auth_mechanisms, kAuthPlain | kAuthLogin);
}

TEST(EhloCapabilities, Minimal) {
  struct {
    std::string wire;
    uint32_t extensions;
    uint64_t size_max;
  } cases[] = {
      {"250 mx.example\r\n", 0, 0},
      {"250-mx.example\r\n250 SIZE\r\n", kExtSize, 0},
      {"250-mx.example\r\n250 SIZE 0\r\n", kExtSize, 0},
      {"250-mx.example\r\n250 SIZE huge\r\n", kExtSize, 0},
      // The greeting line never counts as a keyword.
      {"250-PIPELINING\r\n250 8BITMIME\r\n", kExt8BitMime, 0},
      // Not a 250: nothing.
      {"502-x\r\n502 PIPELINING\r\n", 0, 0},
  };
  for (const auto& c : cases) {
    ReplyParser parser;
    ServerReply reply;
    ASSERT_EQ(parser.Parse(c.wire, &reply).status,
              ReplyParser::Status::kReply);
    const EhloCapabilities caps = ParseEhloCapabilities(reply);
    EXPECT_EQ(caps.extensions, c.extensions) << c.wire;
    EXPECT_EQ(caps.size_max, c.size_max) << c.wire;
  }
}

}  // namespace
}  // namespace ringpost::smtp
