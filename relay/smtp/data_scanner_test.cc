// relay/smtp/data_scanner_test.cc — DATA scanner tests.
//
// Every table case runs whole, one byte at a time, and split in two at every
// position; all must agree. Smuggling sequences must never end the data. A
// bounded randomized run checks the scanner against a direct, slow
// restatement of the rules.

#include "relay/smtp/data_scanner.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

constexpr uint32_t kBare = DataScanner::kBareLineEnding;
constexpr uint32_t kLong = DataScanner::kLineTooLong;
constexpr uint32_t kBig = DataScanner::kTooBig;

struct Outcome {
  bool done = false;
  size_t consumed = 0;  // of the whole input
  uint32_t errors = 0;
  bool eight_bit = false;
  uint64_t content_octets = 0;
  std::string content;
};

// Feeds `input` cut at `cuts` (ascending positions) to a fresh scanner.
Outcome ScanInPieces(std::string_view input, const std::vector<size_t>& cuts,
            DataScanner::Limits limits = {}) {
  DataScanner scanner(limits);
  Outcome o;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t to : ends) {
    if (to < from) continue;
    // Hand the scanner a private copy so it cannot read past the chunk.
    const std::string chunk(input.substr(from, to - from));
    const DataScanner::Result r = scanner.Scan(chunk, &o.content);
    EXPECT_EQ(r.errors, scanner.errors());
    o.consumed += r.consumed;
    if (r.status == DataScanner::Status::kDone) {
      o.done = true;
      break;
    }
    EXPECT_EQ(r.consumed, chunk.size());
    from = to;
  }
  EXPECT_EQ(o.done, scanner.done());
  o.errors = scanner.errors();
  o.eight_bit = scanner.saw_8bit();
  o.content_octets = scanner.content_octets();
  return o;
}

// Whole, byte by byte, and every two-way split must give `want`.
void ExpectAllSplits(std::string_view input, const Outcome& want,
                     DataScanner::Limits limits = {},
                     bool compare_content = true) {
  std::vector<std::vector<size_t>> plans;
  plans.push_back({});
  std::vector<size_t> bytewise;
  for (size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
  plans.push_back(bytewise);
  for (size_t i = 0; i <= input.size(); ++i) plans.push_back({i});
  for (const auto& plan : plans) {
    const Outcome got = ScanInPieces(input, plan, limits);
    const std::string where = ::testing::PrintToString(input) + " cut " +
                              ::testing::PrintToString(plan);
    EXPECT_EQ(got.done, want.done) << where;
    EXPECT_EQ(got.consumed, want.consumed) << where;
    EXPECT_EQ(got.errors, want.errors) << where;
    EXPECT_EQ(got.eight_bit, want.eight_bit) << where;
    if (compare_content) {
      EXPECT_EQ(got.content, want.content) << where;
      EXPECT_EQ(got.content_octets, want.content.size()) << where;
    }
  }
}

struct Case {
  const char* name;
  std::string input;
  bool done;
  std::string content;
  uint32_t errors;
  std::string leftover;  // input bytes after the end of data
  bool eight_bit = false;
};

class DataScannerCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(DataScannerCaseTest, AllSplitsAgree) {
  const Case& c = GetParam();
  Outcome want;
  want.done = c.done;
  want.consumed = c.input.size() - c.leftover.size();
  want.errors = c.errors;
  want.eight_bit = c.eight_bit;
  want.content = c.content;
  ASSERT_EQ(c.input.substr(want.consumed), c.leftover);
  ExpectAllSplits(c.input, want, {}, /*compare_content=*/c.errors == 0);
}

const std::string kLong40(40, 'x');

INSTANTIATE_TEST_SUITE_P(
    Cases, DataScannerCaseTest,
    ::testing::Values(
        Case{"Simple", "Subject: hi\r\n\r\nbody\r\n.\r\n", true,
             "Subject: hi\r\n\r\nbody\r\n", 0, ""},
        Case{"Empty", ".\r\n", true, "", 0, ""},
        Case{"OnlyEmptyLine", "\r\n.\r\n", true, "\r\n", 0, ""},
        Case{"Unstuff", "..leading\r\n.\r\n", true, ".leading\r\n", 0, ""},
        Case{"UnstuffLoneDot", "a\r\n..\r\n.\r\n", true, "a\r\n.\r\n", 0, ""},
        Case{"UnstuffTriple", "a\r\n...x\r\n.\r\n", true, "a\r\n..x\r\n", 0,
             ""},
        Case{"DotsMidLine", "a.b.\r\n x.\r\n.\r\n", true, "a.b.\r\n x.\r\n",
             0, ""},
        Case{"DotSpaceIsNotEnd", "a\r\n. \r\n.\r\n", true, "a\r\n \r\n", 0,
             ""},
        Case{"LongLines", kLong40 + "\r\n" + kLong40 + kLong40 + "\r\n.\r\n",
             true, kLong40 + "\r\n" + kLong40 + kLong40 + "\r\n", 0, ""},
        Case{"PipelinedAfterEnd", "a\r\n.\r\nQUIT\r\n", true, "a\r\n", 0,
             "QUIT\r\n"},
        Case{"PipelinedEmpty", ".\r\nMAIL FROM:<a@b.c>\r\n", true, "", 0,
             "MAIL FROM:<a@b.c>\r\n"},
        Case{"SecondEndLeftOver", "a\r\n.\r\n.\r\n", true, "a\r\n", 0,
             ".\r\n"},
        Case{"Unfinished", "a\r\nb\r\n", false, "a\r\nb\r\n", 0, ""},
        Case{"UnfinishedDot", "a\r\n.", false, "a\r\n", 0, ""},
        Case{"UnfinishedDotCr", "a\r\n.\r", false, "a\r\n", 0, ""},
        Case{"EightBit", "caf\xC3\xA9\r\n.\r\n", true, "caf\xC3\xA9\r\n", 0,
             "", true},
        Case{"EightBitLate", kLong40 + "\xFF\r\n.\r\n", true,
             kLong40 + "\xFF\r\n", 0, "", true},
        Case{"EightBitAfterEndIgnored", "0123456789\r\n.\r\n\xFF\xFF\xFF",
             true, "0123456789\r\n", 0, "\xFF\xFF\xFF", false},
        Case{"EightBitAfterCrIgnored", "0123456789\r\n.\r\n" + kLong40 + "\xFF",
             true, "0123456789\r\n", 0, kLong40 + "\xFF", false},
        // Smuggling: none of these end the data; the real end does.
        Case{"SmuggleLfDotLf", "a\n.\nMAIL FROM:<x@y.z>\r\n.\r\n", true, "",
             kBare, ""},
        Case{"SmuggleCrDotCr", "a\r.\rMAIL FROM:<x@y.z>\r\n.\r\n", true, "",
             kBare, ""},
        Case{"SmuggleLfDotCrLf", "a\n.\r\nMAIL FROM:<x@y.z>\r\n.\r\n", true,
             "", kBare, ""},
        Case{"SmuggleCrLfDotLf", "a\r\n.\nMAIL FROM:<x@y.z>\r\n.\r\n", true,
             "", kBare, ""},
        Case{"SmuggleCrLfDotCr", "a\r\n.\rMAIL FROM:<x@y.z>\r\n.\r\n", true,
             "", kBare, ""},
        Case{"SmuggleDotCrCrLf", "a\r\n.\r\r\n.\r\n", true, "", kBare, ""},
        Case{"SmuggleAtStartLf", ".\nx\r\n.\r\n", true, "", kBare, ""},
        Case{"SmuggleAtStartLfDot", "\n.\r\nx\r\n.\r\n", true, "", kBare, ""},
        Case{"SmuggleNoRealEnd", "a\n.\nQUIT\n", false, "", kBare, ""},
        Case{"SmuggleNoRealEnd2", "a\r\n.\nQUIT\r\n", false, "", kBare, ""},
        Case{"BareCr", "a\rb\r\n.\r\n", true, "", kBare, ""},
        Case{"BareLf", "a\nb\r\n.\r\n", true, "", kBare, ""},
        Case{"BareCrBeforeCrLf", "a\r\r\n.\r\n", true, "", kBare, ""},
        Case{"BareLfAfterCrLf", "a\r\n\n.\r\n.\r\n", true, "", kBare, ""},
        Case{"BareCrLong", kLong40 + "\r" + kLong40 + "\r\n.\r\n", true, "",
             kBare, ""}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(info.param.name);
    });

TEST(DataScanner, LineLengthLimit) {
  const std::string ok(998, 'x');  // 998 + CRLF = 1000
  Outcome want{true, ok.size() + 5, 0, false, 0, ok + "\r\n"};
  ExpectAllSplits(ok + "\r\n.\r\n", want);

  const std::string too_long(999, 'x');
  want = {true, too_long.size() + 5, kLong, false, 0, too_long + "\r\n"};
  ExpectAllSplits(too_long + "\r\n.\r\n", want);

  // The stuffing dot does not count: "." + 998 x + CRLF is 1000 content
  // octets on a 1001-octet wire line.
  const std::string stuffed = "." + std::string(998, '.');
  want = {true, stuffed.size() + 5, 0, false, 0, stuffed.substr(1) + "\r\n"};
  ExpectAllSplits(stuffed + "\r\n.\r\n", want);

  // A configurable limit, and lines within limit around a long one.
  DataScanner::Limits limits;
  limits.line_octets_max = 5;
  want = {true, 18, kLong, false, 0, "abc\r\nabcd\r\nab\r\n"};
  ExpectAllSplits("abc\r\nabcd\r\nab\r\n.\r\n", want, limits);
  want = {true, 12, 0, false, 0, "abc\r\nab\r\n"};
  ExpectAllSplits("abc\r\nab\r\n.\r\n", want, limits);
}

TEST(DataScanner, TooBig) {
  DataScanner::Limits limits;
  limits.message_octets_max = 10;
  // 10 content octets: fits exactly.
  Outcome want{true, 13, 0, false, 0, "01234567\r\n"};
  ExpectAllSplits("01234567\r\n.\r\n", want, limits);
  // 12 content octets: flagged, output never exceeds the limit, the scan
  // still finds the end and leaves the next command.
  const std::string input = "0123456789\r\n.\r\nQUIT\r\n";
  want = {true, 15, kBig, false, 0, ""};
  ExpectAllSplits(input, want, limits, /*compare_content=*/false);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    const Outcome got = ScanInPieces(input, {cut}, limits);
    EXPECT_LE(got.content.size(), limits.message_octets_max);
    EXPECT_EQ(got.content_octets, 12u);
  }
}

TEST(DataScanner, ErrorsCombine) {
  DataScanner::Limits limits;
  limits.line_octets_max = 4;
  limits.message_octets_max = 8;
  Outcome want{true, 15, kBare | kLong | kBig, false, 0, ""};
  ExpectAllSplits("abcdefg\nhi\r\n.\r\n", want, limits, false);
}

TEST(DataScanner, NullOutputCountsOnly) {
  DataScanner scanner;
  const DataScanner::Result r = scanner.Scan("ab\r\n..c\r\n.\r\n", nullptr);
  EXPECT_EQ(r.status, DataScanner::Status::kDone);
  EXPECT_EQ(r.consumed, 12u);
  EXPECT_EQ(scanner.content_octets(), 8u);  // "ab\r\n.c\r\n"
}

TEST(DataScanner, ResetForNextMessage) {
  DataScanner scanner;
  std::string out;
  ASSERT_EQ(scanner.Scan("a\nb\r\n.\r\n", &out).status,
            DataScanner::Status::kDone);
  EXPECT_EQ(scanner.errors(), kBare);
  scanner.Reset();
  out.clear();
  const DataScanner::Result r = scanner.Scan("\xC3\xA9\r\n.\r\n", &out);
  EXPECT_EQ(r.status, DataScanner::Status::kDone);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(out, "\xC3\xA9\r\n");
  EXPECT_TRUE(scanner.saw_8bit());
}

TEST(DataScanner, EmptyChunkNeedsMore) {
  DataScanner scanner;
  std::string out;
  const DataScanner::Result r = scanner.Scan("", &out);
  EXPECT_EQ(r.status, DataScanner::Status::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(DataScanner, Replies) {
  std::string out;
  AppendReply(DataScanner::ReplyFor(kBig | kBare), &out);
  AppendReply(DataScanner::ReplyFor(kBare | kLong), &out);
  AppendReply(DataScanner::ReplyFor(kLong), &out);
  EXPECT_EQ(out,
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
            "550 5.6.11 Bare CR or LF in message data; lines must end with "
            "CRLF\r\n"
            "550 5.6.0 Message contains a line that is too long\r\n");
}

// The rules restated directly over the whole input, for comparison.
Outcome Reference(std::string_view in, const DataScanner::Limits& limits) {
  Outcome o;
  const auto line_start = [&](size_t i) {
    return i == 0 || (i >= 2 && in[i - 2] == '\r' && in[i - 1] == '\n');
  };
  size_t end = in.size();
  for (size_t i = 0; i + 3 <= in.size(); ++i) {
    if (line_start(i) && in.substr(i, 3) == ".\r\n") {
      end = i;
      o.done = true;
      break;
    }
  }
  o.consumed = o.done ? end + 3 : in.size();
  size_t segment = 0;  // content octets of the current line
  for (size_t i = 0; i < end; ++i) {
    const char c = in[i];
    const bool stuffing = c == '.' && line_start(i);
    if (!stuffing) {
      o.content.push_back(c);
      ++segment;
    }
    if (static_cast<unsigned char>(c) >= 0x80) o.eight_bit = true;
    if (c == '\n') {
      if (i == 0 || in[i - 1] != '\r') o.errors |= kBare;
      if (segment > limits.line_octets_max) o.errors |= kLong;
      segment = 0;
    }
    if (c == '\r' && (i + 1 >= in.size() || in[i + 1] != '\n') &&
        i + 1 < in.size()) {
      o.errors |= kBare;
    }
  }
  if (!o.done && segment > limits.line_octets_max) o.errors |= kLong;
  // A CR right after a line-start dot at the very end is held back: it is
  // content only if the next byte turns out not to be LF.
  const size_t n = in.size();
  if (!o.done && n >= 2 && in[n - 1] == '\r' && in[n - 2] == '.' &&
      line_start(n - 2)) {
    o.content.pop_back();
  }
  return o;
}

TEST(DataScanner, MatchesReferenceOnRandomInput) {
  std::mt19937 rng(20240531);
  const std::vector<std::string> tokens = {
      "a", "b", ".", "\r", "\n", "\r\n", ".\r\n", "\r\n.\r\n", "\x80",
      "\xC3\xA9", std::string(20, 'z')};
  DataScanner::Limits limits;
  limits.line_octets_max = 12;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string input;
    const int n = static_cast<int>(rng() % 14);
    for (int k = 0; k < n; ++k) input += tokens[rng() % tokens.size()];
    std::vector<size_t> cuts;
    const int pieces = static_cast<int>(rng() % 4);
    for (int k = 0; k < pieces; ++k) cuts.push_back(rng() % (input.size() + 1));
    std::sort(cuts.begin(), cuts.end());

    const Outcome want = Reference(input, limits);
    const Outcome got = ScanInPieces(input, cuts, limits);
    const std::string where = ::testing::PrintToString(input);
    ASSERT_EQ(got.done, want.done) << where;
    ASSERT_EQ(got.consumed, want.consumed) << where;
    ASSERT_EQ(got.errors, want.errors) << where;
    ASSERT_EQ(got.eight_bit, want.eight_bit) << where;
    if (want.errors == 0) {
      ASSERT_EQ(got.content, want.content) << where;
    }
  }
}

}  // namespace
}  // namespace ringpost::smtp
