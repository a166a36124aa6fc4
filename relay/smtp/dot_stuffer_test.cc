// relay/smtp/dot_stuffer_test.cc — DATA encoding tests: table of bodies,
// chunk-split invariance, and a bounded random round trip through the
// DataScanner (stuffer then scanner yields the body back).

#include "relay/smtp/dot_stuffer.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "relay/smtp/data_scanner.h"

namespace ringpost::smtp {
namespace {

std::string StuffInChunks(std::string_view body,
                          const std::vector<size_t>& cuts) {
  DotStuffer stuffer;
  std::string out;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(body.size());
  for (size_t to : ends) {
    if (to < from) continue;
    stuffer.Append(std::string(body.substr(from, to - from)), &out);
    from = to;
  }
  stuffer.Finish(&out);
  return out;
}

struct Case {
  std::string body;
  std::string wire;
};

class DotStufferTest : public ::testing::TestWithParam<Case> {};

TEST_P(DotStufferTest, EncodesAtEverySplit) {
  const Case& c = GetParam();
  std::string out = "prefix";
  AppendDotStuffed(c.body, &out);
  EXPECT_EQ(out, "prefix" + c.wire);
  for (size_t cut = 0; cut <= c.body.size(); ++cut) {
    EXPECT_EQ(StuffInChunks(c.body, {cut}), c.wire) << "cut " << cut;
  }
  std::vector<size_t> bytewise;
  for (size_t i = 1; i < c.body.size(); ++i) bytewise.push_back(i);
  EXPECT_EQ(StuffInChunks(c.body, bytewise), c.wire);
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, DotStufferTest,
    ::testing::Values(
        Case{"", ".\r\n"},
        Case{"a\r\n", "a\r\n.\r\n"},
        Case{"a", "a\r\n.\r\n"},
        Case{".", "..\r\n.\r\n"},
        Case{".\r\n", "..\r\n.\r\n"},
        Case{"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
        Case{"..x\r\n", "...x\r\n.\r\n"},
        Case{"a.b\r\n.c", "a.b\r\n..c\r\n.\r\n"},
        Case{"\r\n\r\n", "\r\n\r\n.\r\n"},
        // Bare line endings are normalised to CRLF, never forwarded.
        Case{"a\nb", "a\r\nb\r\n.\r\n"},
        Case{"a\rb", "a\r\nb\r\n.\r\n"},
        Case{"a\r", "a\r\n.\r\n"},
        Case{"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
        Case{"a\r.\r", "a\r\n..\r\n.\r\n"},
        Case{"\n", "\r\n.\r\n"},
        Case{"\r\r\n", "\r\n\r\n.\r\n"}));

// The longest line, measured by the stuffing scan, wherever the body is cut
// and whatever its line breaks (CRLF, bare LF, bare CR, none at the end).
TEST(DotStuffer, MeasuresTheLongestLineAtEverySplit) {
  const std::string a(30, 'a');
  const std::string b(45, 'b');
  struct Measure {
    std::string body;
    size_t longest;
  };
  const Measure cases[] = {
      {"", 0},
      {"\r\n", 0},
      {a + "\r\n" + b + "\r\n", 45},
      {b + "\r\n" + a, 45},
      {a + "\r\n" + a + b, 75},
      {"." + b + "\r\n", 46},
      {a + "\n" + b + "\r" + a, 45},
      {a + "\r" + a + b + "\r\n", 75},
  };
  for (const Measure& m : cases) {
    std::string wire;
    EXPECT_EQ(AppendDotStuffed(m.body, &wire), m.longest) << m.body;
    for (size_t cut = 0; cut <= m.body.size(); ++cut) {
      for (size_t cut2 = cut; cut2 <= m.body.size(); cut2 += 7) {
        DotStuffer stuffer;
        std::string out;
        stuffer.Append(std::string_view(m.body).substr(0, cut), &out);
        stuffer.Append(std::string_view(m.body).substr(cut, cut2 - cut), &out);
        stuffer.Append(std::string_view(m.body).substr(cut2), &out);
        EXPECT_EQ(stuffer.Finish(&out), m.longest) << m.body << " " << cut << " " << cut2;
        // Finish starts the next body afresh.
        stuffer.Append("xy\r\n", &out);
        EXPECT_EQ(stuffer.Finish(&out), 2u);
      }
    }
  }
}

TEST(DotStuffer, ReusableAfterFinish) {
  DotStuffer stuffer;
  std::string out;
  stuffer.Append("x", &out);
  stuffer.Finish(&out);
  stuffer.Append(".y\r\n", &out);
  stuffer.Finish(&out);
  EXPECT_EQ(out, "x\r\n.\r\n..y\r\n.\r\n");
}

TEST(DotStuffer, RoundTripsThroughScanner) {
  std::mt19937 rng(5321);
  const std::vector<std::string> tokens = {
      "a", "Subject: x", ".", "..", "\r\n", "\r\n.", "\r\n.\r\n", "\xC3\xA9",
      std::string(37, 'q')};
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::string body;
    const int n = static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) body += tokens[rng() % tokens.size()];

    std::vector<size_t> cuts;
    for (int k = static_cast<int>(rng() % 4); k > 0; --k) {
      cuts.push_back(rng() % (body.size() + 1));
    }
    std::sort(cuts.begin(), cuts.end());
    const std::string wire = StuffInChunks(body, cuts);

    // Scan the wire form in random pieces; the end must be its last byte.
    DataScanner scanner;
    std::string content;
    size_t pos = 0;
    DataScanner::Result r{DataScanner::Status::kNeedMore, 0, 0};
    while (pos < wire.size()) {
      const size_t len = 1 + rng() % 64;
      const std::string chunk = wire.substr(pos, len);
      r = scanner.Scan(chunk, &content);
      pos += r.consumed;
      if (r.status == DataScanner::Status::kDone) break;
    }
    const std::string where = ::testing::PrintToString(body);
    ASSERT_EQ(r.status, DataScanner::Status::kDone) << where;
    ASSERT_EQ(pos, wire.size()) << where;
    ASSERT_EQ(scanner.errors(), 0u) << where;
    std::string want = body;
    if (!want.empty() && !want.ends_with("\r\n")) want += "\r\n";
    ASSERT_EQ(content, want) << where;
  }
}

}  // namespace
}  // namespace ringpost::smtp
