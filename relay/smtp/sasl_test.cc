// sasl_test.cc — strict base64 (RFC 4648 vectors, every leniency refused)
// and the splitting of SASL PLAIN messages.
#include "relay/smtp/sasl.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

using namespace std::string_literals;

struct Vector {
  std::string octets;
  std::string text;
};

// RFC 4648 section 10, plus binary octets and the PLAIN message of the
// RFC 4954 example.
const Vector kVectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    {"\0\xff\xfe"s, "AP/+"},
    {"\xfb\xff"s, "+/8="},
    {"\0test\0test"s, "AHRlc3QAdGVzdA=="},
    {"Username:", "VXNlcm5hbWU6"},
    {"Password:", "UGFzc3dvcmQ6"},
};

TEST(Base64, Rfc4648Vectors) {
  for (const Vector& v : kVectors) {
    std::string encoded = "prefix:";
    Base64Encode(v.octets, &encoded);
    EXPECT_EQ(encoded, "prefix:" + v.text);
    std::string decoded = "stale";
    ASSERT_TRUE(Base64Decode(v.text, &decoded)) << v.text;
    EXPECT_EQ(decoded, v.octets) << v.text;
  }
}

TEST(Base64, EveryOctetValueRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  // Every length up to 256, so each remainder mod 3 ends some run.
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string octets = all.substr(all.size() - n);
    std::string text;
    Base64Encode(octets, &text);
    std::string back;
    ASSERT_TRUE(Base64Decode(text, &back));
    EXPECT_EQ(back, octets) << n;
  }
}

TEST(Base64, RejectsEverythingButTheCanonicalForm) {
  const char* const kRejected[] = {
      "Zg",          // padding missing
      "Zg=",         // padding short
      "Zm9",         // length not a multiple of 4
      "Zg===",       // too much padding
      "====",        // only padding
      "Z===",        // three pad characters
      "Zg==Zm8=",    // padding in the middle
      "Zm=v",        // '=' inside a group
      "Zm9v\r\n",    // line break
      " Zm9v",       // whitespace
      "Zm9 v",
      "Zm9v ",
      "Zm9v\t",
      "Zm9-",        // base64url alphabet
      "Zm9_",
      "Zm9v!...",
      "Zh==",        // "f" with non-zero unused bits (canonical: Zg==)
      "Zm9=",        // "fo" with non-zero unused bits (canonical: Zm8=)
      "\xc3\xa9\xc3\xa9",
  };
  for (const char* text : kRejected) {
    std::string out;
    EXPECT_FALSE(Base64Decode(text, &out)) << text;
  }
  std::string out;
  EXPECT_FALSE(Base64Decode("Zm9\0"s, &out));
  EXPECT_FALSE(Base64Decode("Zg=\0"s, &out));
}

struct PlainCase {
  std::string message;
  SaslPlainResult result;
  std::string user;
  std::string password;
};

TEST(SaslPlain, Splitting) {
  const std::string max(kSaslFieldOctetsMax, 'm');
  const std::string over(kSaslFieldOctetsMax + 1, 'o');
  const PlainCase kCases[] = {
      {"\0tim\0tanstaaftanstaaf"s, SaslPlainResult::kOk, "tim", "tanstaaftanstaaf"},
      {"tim\0tim\0secret"s, SaslPlainResult::kOk, "tim", "secret"},
      {"\0"s + max + "\0"s + max, SaslPlainResult::kOk, max, max},
      // Passwords are octets: spaces and UTF-8 pass through.
      {"\0u\0p w \xc3\xa9"s, SaslPlainResult::kOk, "u", "p w \xc3\xa9"},
      {"admin\0tim\0secret"s, SaslPlainResult::kAuthzidNotUser, "", ""},
      {"Tim\0tim\0secret"s, SaslPlainResult::kAuthzidNotUser, "", ""},
      {"", SaslPlainResult::kMalformed, "", ""},
      {"\0"s, SaslPlainResult::kMalformed, "", ""},
      {"tim secret", SaslPlainResult::kMalformed, "", ""},
      {"\0tim"s, SaslPlainResult::kMalformed, "", ""},
      {"\0tim\0"s, SaslPlainResult::kMalformed, "", ""},          // empty password
      {"\0\0secret"s, SaslPlainResult::kMalformed, "", ""},       // empty user
      {"\0\0"s, SaslPlainResult::kMalformed, "", ""},
      {"\0tim\0sec\0ret"s, SaslPlainResult::kMalformed, "", ""},  // three NULs
      {"\0tim\0secret\0"s, SaslPlainResult::kMalformed, "", ""},
      {"\0"s + over + "\0p"s, SaslPlainResult::kMalformed, "", ""},
      {"\0u\0"s + over, SaslPlainResult::kMalformed, "", ""},
      {over + "\0u\0p"s, SaslPlainResult::kMalformed, "", ""},
  };
  for (const PlainCase& c : kCases) {
    SaslPlain plain{"x", "x", "x"};
    EXPECT_EQ(ParseSaslPlain(c.message, &plain), c.result) << c.message.size();
    if (c.result != SaslPlainResult::kOk) {
      EXPECT_EQ(plain.user, "x");  // untouched
      continue;
    }
    EXPECT_EQ(plain.user, c.user);
    EXPECT_EQ(plain.password, c.password);
    EXPECT_TRUE(plain.authzid.empty() || plain.authzid == plain.user);
  }
}

TEST(SaslLogin, Fields) {
  EXPECT_TRUE(ValidSaslLoginField("tim"));
  EXPECT_TRUE(ValidSaslLoginField(std::string(kSaslFieldOctetsMax, 'a')));
  EXPECT_FALSE(ValidSaslLoginField(""));
  EXPECT_FALSE(ValidSaslLoginField(std::string(kSaslFieldOctetsMax + 1, 'a')));
  EXPECT_FALSE(ValidSaslLoginField("ti\0m"s));
}

}  // namespace
}  // namespace ringpost::smtp
