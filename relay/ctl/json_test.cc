// json_test.cc — the JSON reader: a table of documents it takes (with what
// they hold, printed back), a table it refuses, the bounds (size, depth,
// value count), strings and escapes, numbers, and FormatJson's layout.
#include "relay/ctl/json.h"

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace ringpost::ctl {
namespace {

using namespace std::string_literals;

// A value printed on one line, to compare in tables: FormatJson's output
// with the newlines and indentation taken out.
std::string OneLine(const JsonValue& v) {
  std::string out;
  bool in_string = false;
  bool escaped = false;
  for (const char c : FormatJson(v)) {
    if (in_string) {
      out.push_back(c);
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '\n' || c == ' ') continue;
    if (c == '"') in_string = true;
    out.push_back(c);
  }
  return out;
}

struct Taken {
  std::string input;
  std::string printed;  // OneLine of the value
};

const Taken kTaken[] = {
    {"null", "null"},
    {"true", "true"},
    {"false", "false"},
    {" \t\r\n 0 \n", "0"},
    {"-0", "-0"},
    {"12", "12"},
    {"-12.5e+3", "-12.5e+3"},
    {"1E-7", "1E-7"},
    {"0.25", "0.25"},
    {"123456789012345678901234567890", "123456789012345678901234567890"},
    {"\"\"", "\"\""},
    {"\"gmail.com\"", "\"gmail.com\""},
    {"[]", "[]"},
    {"{}", "{}"},
    {"[ 1 , [ ] , { } , \"x\" ]", "[1,[],{},\"x\"]"},
    {"{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"e\"}}",
     "{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"e\"}}"},
    // Members stay in document order.
    {"{\"z\":1,\"a\":2,\"m\":3}", "{\"z\":1,\"a\":2,\"m\":3}"},
    // Keys that differ only in case, or are empty, are different keys.
    {"{\"a\":1,\"A\":2,\"\":3}", "{\"a\":1,\"A\":2,\"\":3}"},
    // Escapes decode; printing escapes control characters again.
    {"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\u0008\\u000c\\n\\r\\t\""},
    {"\"\\u0041\\u00e9\\u20AC\"", "\"A\xc3\xa9\xe2\x82\xac\""},
    {"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""},  // a surrogate pair
    {"\"\\u0000\"", "\"\\u0000\""},
    {"\"\\u001b[31m\"", "\"\\u001b[31m\""},  // ESC stays escaped
    {"\"\\u009b\"", "\"\\u009b\""},          // C1 CSI too
    {"\"\\u007f\"", "\"\\u007f\""},
    // Raw UTF-8 is taken (and kept) when well-formed.
    {"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
    {"\"\xef\xbf\xbf\"", "\"\xef\xbf\xbf\""},
};

TEST(ParseJson, Takes) {
  for (const Taken& t : kTaken) {
    const absl::StatusOr<JsonValue> v = ParseJson(t.input);
    ASSERT_TRUE(v.ok()) << t.input << ": " << v.status();
    EXPECT_EQ(OneLine(*v), t.printed) << t.input;
    // What FormatJson writes reads back to the same value.
    const absl::StatusOr<JsonValue> again = ParseJson(FormatJson(*v));
    ASSERT_TRUE(again.ok()) << FormatJson(*v);
    EXPECT_EQ(FormatJson(*again), FormatJson(*v));
  }
}

const std::string_view kRefused[] = {
    "",
    "   ",
    "nul",
    "nulll",
    "True",
    "NaN",
    "Infinity",
    "-Infinity",
    "+1",
    "01",
    "-01",
    "1.",
    ".5",
    "1e",
    "1e+",
    "-",
    "0x10",
    "1 2",
    "{} {}",
    "[1,]",
    "[,1]",
    "[1 2]",
    "[",
    "]",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{\"a\":}",
    "{a:1}",
    "{'a':1}",
    "{1:1}",
    "{\"a\":1",
    "{\"a\":1,\"a\":2}",  // a key twice
    "{\"a\":{\"b\":1,\"b\":1}}",
    "'x'",
    "\"abc",
    "\"a\nb\"",  // raw control characters
    "\"a\tb\"",
    "\"\\x41\"",  // unknown escapes
    "\"\\a\"",
    "\"\\u12\"",
    "\"\\u12g4\"",
    "\"\\ud83d\"",  // lone surrogates
    "\"\\ud83dx\"",
    "\"\\ud83d\\u0041\"",
    "\"\\ude00\"",
    "\"\\",
    "\"\xc3\"",  // malformed UTF-8
    "\"\xc3\x28\"",
    "\"\xc0\xaf\"",  // overlong
    "\"\xe0\x80\xaf\"",
    "\"\xed\xa0\x80\"",      // an encoded surrogate
    "\"\xf4\x90\x80\x80\"",  // above U+10FFFF
    "\"\xff\"",
    "\xef\xbb\xbf{}",  // a byte-order mark
    "/* c */ 1",
};

TEST(ParseJson, Refuses) {
  for (const std::string_view bad : kRefused) {
    const absl::StatusOr<JsonValue> v = ParseJson(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(v.status())) << bad;
    EXPECT_TRUE(absl::StrContains(v.status().message(), " at byte ")) << v.status();
  }
  EXPECT_FALSE(ParseJson("1\0"s).ok());
  EXPECT_FALSE(ParseJson("\"a\0b\""s).ok());
}

TEST(ParseJson, SaysWhereAndWhat) {
  EXPECT_EQ(std::string(ParseJson("[1,]").status().message()),
            "JSON: an unexpected character at byte 3");
  EXPECT_EQ(std::string(ParseJson("[1,").status().message()),
            "JSON: the text ends where a value should be at byte 3");
  EXPECT_EQ(std::string(ParseJson("{\"a\":1,\"a\":2}").status().message()),
            "JSON: a key repeated in one object at byte 7");
  EXPECT_EQ(std::string(ParseJson("[1 2]").status().message()),
            "JSON: expected ',' or ']' in an array at byte 3");
  EXPECT_EQ(std::string(ParseJson("\"\\q\"").status().message()),
            "JSON: an unknown escape at byte 2");
}

TEST(ParseJson, DepthBound) {
  const auto nested = [](size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth)).ok());
  EXPECT_FALSE(ParseJson(nested(kMaxJsonDepth + 1)).ok());
  // Objects count the same, and mixed.
  std::string objects;
  for (size_t i = 0; i < kMaxJsonDepth; ++i) objects += i % 2 ? "[" : "{\"k\":";
  objects += "1";
  for (size_t i = kMaxJsonDepth; i-- > 0;) objects += i % 2 ? "]" : "}";
  EXPECT_TRUE(ParseJson(objects).ok()) << objects;
  EXPECT_FALSE(ParseJson("[" + objects + "]").ok());
  // Far deeper than the bound: refused, not a stack overflow.
  EXPECT_FALSE(ParseJson(std::string(1 << 20, '[')).ok());
}

TEST(ParseJson, SizeBound) {
  std::string big = "\"" + std::string(kMaxJsonBytes - 2, 'x') + "\"";
  ASSERT_EQ(big.size(), kMaxJsonBytes);
  const absl::StatusOr<JsonValue> v = ParseJson(big);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->text.size(), kMaxJsonBytes - 2);
  big.insert(1, "y");
  EXPECT_FALSE(ParseJson(big).ok());
  big = " " + std::string(kMaxJsonBytes, ' ');
  EXPECT_TRUE(absl::StrContains(ParseJson(big).status().message(), "more than"));
}

TEST(ParseJson, ValueCountBound) {
  std::string many = "[0";
  for (size_t i = 1; i < kMaxJsonValues - 1; ++i) many += ",0";
  many += "]";  // the array and kMaxJsonValues - 1 zeros
  EXPECT_TRUE(ParseJson(many).ok());
  many.insert(1, "0,");
  EXPECT_FALSE(ParseJson(many).ok());
}

TEST(JsonValue, FindAndAsInt64) {
  const absl::StatusOr<JsonValue> v = ParseJson(
      "{\"flushed\":12,\"big\":9223372036854775807,\"over\":9223372036854775808,"
      "\"neg\":-3,\"frac\":1.0,\"exp\":1e3,\"s\":\"12\",\"n\":null}");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->Find("flushed")->AsInt64(), 12);
  EXPECT_EQ(v->Find("big")->AsInt64(), INT64_MAX);
  EXPECT_EQ(v->Find("over")->AsInt64(), std::nullopt);
  EXPECT_EQ(v->Find("neg")->AsInt64(), -3);
  EXPECT_EQ(v->Find("frac")->AsInt64(), std::nullopt);
  EXPECT_EQ(v->Find("exp")->AsInt64(), std::nullopt);
  EXPECT_EQ(v->Find("s")->AsInt64(), std::nullopt);
  EXPECT_TRUE(v->Find("n")->is_null());
  EXPECT_EQ(v->Find("missing"), nullptr);
  EXPECT_EQ(v->Find("flushed")->Find("x"), nullptr);  // not an object
}

TEST(FormatJson, Indents) {
  const absl::StatusOr<JsonValue> v = ParseJson(
      "{\"id\":\"0190a1\",\"recipients\":[{\"to\":\"a@b.example\",\"attempts\":2}],"
      "\"empty\":[],\"none\":{},\"ok\":true,\"last\":null}");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(FormatJson(*v),
            "{\n"
            "  \"id\": \"0190a1\",\n"
            "  \"recipients\": [\n"
            "    {\n"
            "      \"to\": \"a@b.example\",\n"
            "      \"attempts\": 2\n"
            "    }\n"
            "  ],\n"
            "  \"empty\": [],\n"
            "  \"none\": {},\n"
            "  \"ok\": true,\n"
            "  \"last\": null\n"
            "}");
}

TEST(QuoteJson, EscapesWhatATerminalWouldObey) {
  EXPECT_EQ(QuoteJson("plain"), "\"plain\"");
  EXPECT_EQ(QuoteJson("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(QuoteJson("\x1b[2J\x07\x7f"), "\"\\u001b[2J\\u0007\\u007f\"");
  EXPECT_EQ(QuoteJson("\xc2\x9b"
                      "1m"),
            "\"\\u009b1m\"");
  EXPECT_EQ(QuoteJson("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  // Bytes that are not UTF-8 (not from ParseJson) become U+FFFD.
  EXPECT_EQ(QuoteJson("a\xff"
                      "b\x9b"),
            "\"a\\ufffdb\\ufffd\"");
}

}  // namespace
}  // namespace ringpost::ctl
