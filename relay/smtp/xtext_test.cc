// xtext_test.cc — RFC 3461 xtext: decoding (strict), encoding, the
// allocation-free check, and round trips over every octet.
#include "relay/smtp/xtext.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

struct DecodeCase {
  std::string in;
  bool ok;
  std::string out;  // when ok
};

TEST(XtextTest, Decode) {
  const DecodeCase cases[] = {
      {"", true, ""},
      {"QQ314159", true, "QQ314159"},
      {"rfc822;u+2Bx@d.example", true, "rfc822;u+x@d.example"},
      {"+2B+3D+20+00+FF", true, std::string("+= \0\xff", 5)},
      {"!~", true, "!~"},                 // both ends of the xchar range
      {"a+41b", true, "aAb"},             // "+XX" for a byte that needs none
      {"+", false, ""},                   // "+" at the end
      {"+4", false, ""},                  // one digit
      {"a+4", false, ""},
      {"+2b", false, ""},                 // lower-case hex
      {"+g0", false, ""},
      {"+ 0", false, ""},
      {"a=b", false, ""},                 // raw "="
      {"a b", false, ""},                 // space
      {"a\tb", false, ""},                // control
      {std::string("a\0b", 3), false, ""},
      {"a\x7f", false, ""},               // DEL
      {"caf\xc3\xa9", false, ""},         // 8-bit
  };
  for (const DecodeCase& c : cases) {
    std::string out = "prefix:";
    EXPECT_EQ(XtextDecode(c.in, &out), c.ok) << c.in;
    // Appends on success; leaves *out as it was on failure.
    EXPECT_EQ(out, c.ok ? "prefix:" + c.out : "prefix:") << c.in;
    const std::optional<XtextShape> shape = XtextCheck(c.in);
    ASSERT_EQ(shape.has_value(), c.ok) << c.in;
    if (c.ok) EXPECT_EQ(shape->decoded_octets, c.out.size()) << c.in;
  }
}

TEST(XtextTest, CheckTellsWhetherTheDecodedOctetsArePrintable) {
  const std::pair<std::string, bool> cases[] = {
      {"", true},        {"abc", true},     {"a+20b", true},  // space is printable
      {"+7E", true},     {"+1F", false},    {"+7F", false},
      {"+0D+0A", false}, {"+80", false},    {"+C3+A9", false},
  };
  for (const auto& [in, printable] : cases) {
    const std::optional<XtextShape> shape = XtextCheck(in);
    ASSERT_TRUE(shape.has_value()) << in;
    EXPECT_EQ(shape->printable, printable) << in;
  }
}

TEST(XtextTest, EncodeAppendsAndEscapesExactlyWhatItMust) {
  std::string out = "ENVID=";
  XtextEncode(std::string("a+b=c d\r\n\0\xff~!", 13), &out);
  EXPECT_EQ(out, "ENVID=a+2Bb+3Dc+20d+0D+0A+00+FF~!");
  out.clear();
  XtextEncode("", &out);
  EXPECT_EQ(out, "");
}

// Every single octet, then random strings: decode(encode(x)) == x, and an
// encoding is always valid xtext of the right decoded size.
TEST(XtextTest, RoundTrips) {
  for (int c = 0; c < 256; ++c) {
    const std::string one(1, static_cast<char>(c));
    std::string enc;
    XtextEncode(one, &enc);
    EXPECT_EQ(enc.size(), (c >= 33 && c <= 126 && c != '+' && c != '=') ? 1u : 3u) << c;
    std::string dec;
    ASSERT_TRUE(XtextDecode(enc, &dec)) << c;
    EXPECT_EQ(dec, one) << c;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& ch : s) ch = static_cast<char>(rng());
    std::string enc;
    XtextEncode(s, &enc);
    const std::optional<XtextShape> shape = XtextCheck(enc);
    ASSERT_TRUE(shape.has_value());
    EXPECT_EQ(shape->decoded_octets, s.size());
    std::string dec;
    ASSERT_TRUE(XtextDecode(enc, &dec));
    EXPECT_EQ(dec, s);
    // What decodes re-encodes to itself when it used "+XX" only where needed.
    std::string again;
    XtextEncode(dec, &again);
    EXPECT_EQ(again, enc);
  }
}

}  // namespace
}  // namespace ringpost::smtp
