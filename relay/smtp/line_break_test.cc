// line_break_test.cc — FindLineBreak and CrlfCheck against plain bytewise
// references, over random content split at random points (so that blocks,
// tails and the CR carried between pieces are all exercised).
#include "relay/smtp/line_break.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::smtp::internal {
namespace {

struct Reference {
  bool ok = true;
  bool high = false;
};

Reference Check(const std::string& s) {
  Reference r;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool lf_ok = s[i] != '\n' || (i > 0 && s[i - 1] == '\r');
    const bool cr_ok = s[i] != '\r' || (i + 1 < s.size() && s[i + 1] == '\n');
    if (!lf_ok || !cr_ok) r.ok = false;
    if (static_cast<unsigned char>(s[i]) >= 0x80) r.high = true;
  }
  return r;
}

CrlfCheck FeedInPieces(const std::string& s, const std::vector<size_t>& cuts) {
  CrlfCheck c;
  size_t at = 0;
  for (size_t cut : cuts) {
    c.Feed(s.data() + at, s.data() + cut);
    at = cut;
  }
  c.Feed(s.data() + at, s.data() + s.size());
  return c;
}

TEST(CrlfCheck, Examples) {
  auto check = [](const std::string& s) {
    CrlfCheck c;
    c.Feed(s.data(), s.data() + s.size());
    return c.ok();
  };
  EXPECT_TRUE(check(""));
  EXPECT_TRUE(check("abc"));
  EXPECT_TRUE(check("Subject: x\r\n\r\nbody\r\n"));
  EXPECT_FALSE(check("a\nb"));
  EXPECT_FALSE(check("a\rb"));
  EXPECT_FALSE(check("a\r"));      // ends inside a CRLF
  EXPECT_FALSE(check("\n"));
  EXPECT_FALSE(check("\r\r\n"));
  EXPECT_FALSE(check("\r\n\n"));
  // The same at every offset of a long run, so that the fault lands in a
  // SIMD block, on a block edge and in the tail.
  const std::string line(40, 'x');
  for (size_t at = 0; at < line.size(); ++at) {
    std::string bare_lf = line;
    bare_lf[at] = '\n';
    EXPECT_FALSE(check(bare_lf)) << at;
    std::string bare_cr = line;
    bare_cr[at] = '\r';
    EXPECT_FALSE(check(bare_cr)) << at;
    if (at + 1 < line.size()) {
      std::string good = line;
      good[at] = '\r';
      good[at + 1] = '\n';
      EXPECT_TRUE(check(good)) << at;
    }
  }
}

TEST(CrlfCheck, CrAndLfInDifferentPieces) {
  const std::string s = std::string(15, 'a') + "\r\n" + std::string(20, 'b');
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_TRUE(FeedInPieces(s, {cut}).ok()) << cut;
  }
  const std::string bare = std::string(15, 'a') + "\rX" + std::string(20, 'b');
  for (size_t cut = 0; cut <= bare.size(); ++cut) {
    EXPECT_FALSE(FeedInPieces(bare, {cut}).ok()) << cut;
  }
}

TEST(CrlfCheck, MatchesReferenceOnRandomContent) {
  std::mt19937 rng(20261126);
  const char alphabet[] = {'a', 'b', ' ', '\r', '\n', '.', '\x80', '\xff', '\0', 'z'};
  for (int round = 0; round < 20000; ++round) {
    const size_t n = rng() % 100;
    std::string s;
    // Mostly well-formed lines, sometimes a random octet.
    while (s.size() < n) {
      const unsigned pick = rng() % 16;
      if (pick < 3) {
        s += "\r\n";
      } else if (pick < 5) {
        s += alphabet[rng() % sizeof(alphabet)];
      } else {
        s += static_cast<char>('a' + rng() % 26);
      }
    }
    std::vector<size_t> cuts;
    const size_t pieces = rng() % 4;
    for (size_t i = 0; i < pieces; ++i) cuts.push_back(s.empty() ? 0 : rng() % (s.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    const Reference want = Check(s);
    const CrlfCheck got = FeedInPieces(s, cuts);
    ASSERT_EQ(got.ok(), want.ok) << round;
    ASSERT_EQ(got.eight_bit(), want.high) << round;
  }
}

TEST(CrlfCheck, ResetForgetsEverything) {
  CrlfCheck c;
  const std::string s = "x\xc3\xa9\r";
  c.Feed(s.data(), s.data() + s.size());
  EXPECT_FALSE(c.ok());
  EXPECT_TRUE(c.eight_bit());
  c.Reset();
  EXPECT_TRUE(c.ok());
  EXPECT_FALSE(c.eight_bit());
}

TEST(FindLineBreak, MatchesReference) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 80, 'a');
    for (char& ch : s) {
      const unsigned pick = rng() % 40;
      if (pick == 0) ch = '\r';
      if (pick == 1) ch = '\n';
      if (pick == 2) ch = '\x90';
    }
    size_t want = 0;
    bool want_high = false;
    while (want < s.size() && s[want] != '\r' && s[want] != '\n') {
      want_high |= static_cast<unsigned char>(s[want]) >= 0x80;
      ++want;
    }
    bool high = false;
    const char* got = FindLineBreak(s.data(), s.data() + s.size(), &high);
    ASSERT_EQ(static_cast<size_t>(got - s.data()), want) << round;
    ASSERT_EQ(high, want_high) << round;
  }
}

}  // namespace
}  // namespace ringpost::smtp::internal
