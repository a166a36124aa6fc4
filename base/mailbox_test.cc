// base/mailbox_test.cc — table-driven tests of the address grammar: local
// parts (dot-string, quoted), domains, address literals (IPv4, IPv6),
// length limits at and past each boundary, UTF-8 well- and ill-formed with
// SMTPUTF8 on and off, and the three sets of host-name rules.

#include "base/mailbox.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::base {
namespace {

struct MailboxCase {
  std::string text;
  MailboxError ascii;  // with Utf8::kRefuse
  MailboxError utf8;   // with Utf8::kAllow
};

class MailboxTest : public ::testing::TestWithParam<MailboxCase> {};

TEST_P(MailboxTest, Parses) {
  const MailboxCase& c = GetParam();
  Mailbox m;
  EXPECT_EQ(ParseMailbox(c.text, Utf8::kRefuse, &m), c.ascii)
      << "SMTPUTF8 off: " << c.text;
  EXPECT_EQ(ParseMailbox(c.text, Utf8::kAllow, &m), c.utf8) << "SMTPUTF8 on: " << c.text;
}

constexpr MailboxError kOk = MailboxError::kOk;
constexpr MailboxError kLocal = MailboxError::kBadLocalPart;
constexpr MailboxError kDomain = MailboxError::kBadDomain;
constexpr MailboxError kLiteral = MailboxError::kBadAddressLiteral;
constexpr MailboxError kNoDomain = MailboxError::kMissingDomain;
constexpr MailboxError kAscii = MailboxError::kNonAscii;
constexpr MailboxError kUtf8 = MailboxError::kBadUtf8;

INSTANTIATE_TEST_SUITE_P(
    LocalParts, MailboxTest,
    ::testing::Values(
        MailboxCase{"user@example.com", kOk, kOk},
        MailboxCase{"first.last@example.com", kOk, kOk},
        MailboxCase{"a+tag@example.com", kOk, kOk},
        MailboxCase{"!#$%&'*+-/=?^_`{|}~@example.com", kOk, kOk},
        MailboxCase{".a@example.com", kLocal, kLocal},
        MailboxCase{"a.@example.com", kLocal, kLocal},
        MailboxCase{"a..b@example.com", kLocal, kLocal},
        MailboxCase{"@example.com", kLocal, kLocal},
        MailboxCase{"a b@example.com", kLocal, kLocal},
        MailboxCase{"a(b)@example.com", kLocal, kLocal},
        MailboxCase{"a,b@example.com", kLocal, kLocal},
        MailboxCase{"a\x01@example.com", kLocal, kLocal},
        MailboxCase{"a\x7f@example.com", kLocal, kLocal},
        MailboxCase{"user", kNoDomain, kNoDomain},
        MailboxCase{"user@", kNoDomain, kNoDomain}));

INSTANTIATE_TEST_SUITE_P(
    QuotedStrings, MailboxTest,
    ::testing::Values(
        MailboxCase{"\"john doe\"@example.com", kOk, kOk},
        MailboxCase{"\"a@b\"@example.com", kOk, kOk},
        MailboxCase{"\"\"@example.com", kOk, kOk},
        MailboxCase{"\"a\\\"b\"@example.com", kOk, kOk},  // \" inside
        MailboxCase{"\"a\\\\b\"@example.com", kOk, kOk},  // \\ inside
        MailboxCase{"\"a\\ b\"@example.com", kOk, kOk},
        MailboxCase{"\"unterminated@example.com", kLocal, kLocal},
        MailboxCase{"\"a\"b@example.com", kLocal, kLocal},
        MailboxCase{"\"a\x01\"@example.com", kLocal, kLocal},
        MailboxCase{"\"a\\\x01\"@example.com", kLocal, kLocal},  // quoted-pair of a CTL
        MailboxCase{"\"a\tb\"@example.com", kLocal, kLocal}));

INSTANTIATE_TEST_SUITE_P(
    Domains, MailboxTest,
    ::testing::Values(
        MailboxCase{"u@a", kOk, kOk},
        MailboxCase{"u@a-b.c", kOk, kOk},
        MailboxCase{"u@1.2.3.4", kOk, kOk},  // a domain of digit labels
        MailboxCase{"u@-a.c", kDomain, kDomain},
        MailboxCase{"u@a-.c", kDomain, kDomain},
        MailboxCase{"u@a..c", kDomain, kDomain},
        MailboxCase{"u@.a", kDomain, kDomain},
        MailboxCase{"u@a.", kDomain, kDomain},
        MailboxCase{"u@a_b.c", kDomain, kDomain},  // '_' is no mail-domain byte
        MailboxCase{"u@a b", kDomain, kDomain},
        MailboxCase{"u@a@b", kDomain, kDomain}));

INSTANTIATE_TEST_SUITE_P(
    AddressLiterals, MailboxTest,
    ::testing::Values(
        MailboxCase{"u@[192.0.2.1]", kOk, kOk},
        MailboxCase{"u@[0.0.0.0]", kOk, kOk},
        MailboxCase{"u@[255.255.255.255]", kOk, kOk},
        MailboxCase{"u@[256.0.0.1]", kLiteral, kLiteral},
        MailboxCase{"u@[1.2.3]", kLiteral, kLiteral},
        MailboxCase{"u@[1.2.3.4.5]", kLiteral, kLiteral},
        MailboxCase{"u@[1.2.3.0004]", kLiteral, kLiteral},
        MailboxCase{"u@[]", kLiteral, kLiteral},
        MailboxCase{"u@[192.0.2.1", kLiteral, kLiteral},
        MailboxCase{"u@[IPv6:2001:db8::1]", kOk, kOk},
        MailboxCase{"u@[ipv6:2001:DB8::1]", kOk, kOk},
        MailboxCase{"u@[IPv6:::1]", kOk, kOk},
        MailboxCase{"u@[IPv6:::ffff:192.0.2.1]", kOk, kOk},
        MailboxCase{"u@[IPv6:1:2:3:4:5:6:7:8]", kOk, kOk},
        MailboxCase{"u@[IPv6:1:2:3:4:5:6:7:8:9]", kLiteral, kLiteral},
        MailboxCase{"u@[IPv6:2001:db8::g]", kLiteral, kLiteral},
        MailboxCase{"u@[IPv6:1::2::3]", kLiteral, kLiteral},
        MailboxCase{"u@[IPv6:]", kLiteral, kLiteral},
        MailboxCase{"u@[2001:db8::1]", kLiteral, kLiteral},  // tag missing
        MailboxCase{"u@[x-tag:abc]", kLiteral, kLiteral},    // unregistered tag
        MailboxCase{"u@[192.0.2.1]x", MailboxError::kTrailingText,
                    MailboxError::kTrailingText}));

INSTANTIATE_TEST_SUITE_P(
    Utf8, MailboxTest,
    ::testing::Values(
        // Well-formed: 2, 3 and 4 octet sequences, local part and domain.
        MailboxCase{"us\xC3\xA9r@example.com", kAscii, kOk},
        MailboxCase{"user@\xC3\xA9xample.com", kAscii, kOk},
        MailboxCase{"\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A",
                    kAscii, kOk},
        MailboxCase{"\xF0\x9F\x93\xA7.x@example.com", kAscii, kOk},
        MailboxCase{"\"j\xC3\xB6rg x\"@example.com", kAscii, kOk},
        MailboxCase{"u@\xF4\x8F\xBF\xBF.example", kAscii, kOk},  // U+10FFFF
        // Ill-formed: overlong, surrogate, above U+10FFFF, cut off, stray
        // continuation byte, invalid lead bytes.
        MailboxCase{"\xC0\xAF@example.com", kAscii, kUtf8},
        MailboxCase{"\xE0\x80\xAF@example.com", kAscii, kUtf8},
        MailboxCase{"\xED\xA0\x80@example.com", kAscii, kUtf8},
        MailboxCase{"u@d\xF4\x90\x80\x80.example", kAscii, kUtf8},
        MailboxCase{"u@d\xF5\x80\x80\x80.example", kAscii, kUtf8},
        MailboxCase{"us\xC3r@example.com", kAscii, kUtf8},
        MailboxCase{"u@d\xC3.example", kAscii, kUtf8},
        MailboxCase{"u\x80@example.com", kAscii, kUtf8},
        MailboxCase{"u\xFF@example.com", kAscii, kUtf8},
        MailboxCase{"\"u\xC3\"@example.com", kAscii, kUtf8},
        MailboxCase{"u@example.\xE2\x82", kAscii, kUtf8}));

std::string Repeat(char c, size_t n) { return std::string(n, c); }

TEST(MailboxLimits, LocalPartIs64Octets) {
  Mailbox m;
  EXPECT_EQ(ParseMailbox(Repeat('a', 64) + "@example.com", Utf8::kRefuse, &m), kOk);
  EXPECT_EQ(m.local_part.size(), 64u);
  EXPECT_EQ(ParseMailbox(Repeat('a', 65) + "@example.com", Utf8::kRefuse, &m), kLocal);
  // The quotes count.
  EXPECT_EQ(ParseMailbox("\"" + Repeat('a', 62) + "\"@example.com", Utf8::kRefuse, &m), kOk);
  EXPECT_EQ(ParseMailbox("\"" + Repeat('a', 63) + "\"@example.com", Utf8::kRefuse, &m),
            kLocal);
  // Octets, not characters: 32 two-octet characters fill it.
  std::string utf8_local;
  for (int i = 0; i < 32; ++i) utf8_local += "\xC3\xA9";
  EXPECT_EQ(ParseMailbox(utf8_local + "@example.com", Utf8::kAllow, &m), kOk);
  EXPECT_EQ(ParseMailbox(utf8_local + "x@example.com", Utf8::kAllow, &m), kLocal);
}

TEST(MailboxLimits, LabelIs63Octets) {
  Mailbox m;
  EXPECT_EQ(ParseMailbox("u@" + Repeat('a', 63) + ".com", Utf8::kRefuse, &m), kOk);
  EXPECT_EQ(ParseMailbox("u@" + Repeat('a', 64) + ".com", Utf8::kRefuse, &m), kDomain);
}

TEST(MailboxLimits, DomainIs255Octets) {
  // Only a path can hold a domain that long (the mailbox is at most 254):
  // scan it as the command parser does.
  const std::string domain = Repeat('a', 63) + "." + Repeat('b', 63) + "." + Repeat('c', 63) +
                             "." + Repeat('d', 63);  // 255
  ASSERT_EQ(domain.size(), 255u);
  bool utf8 = false;
  bool literal = false;
  EXPECT_EQ(ScanMailDomain(domain + ">", 0, Utf8::kRefuse, &utf8, &literal), 255u);
  const std::string longer = Repeat('a', 63) + "." + Repeat('b', 63) + "." + Repeat('c', 63) +
                             "." + Repeat('d', 62) + ".e";  // 256
  EXPECT_EQ(ScanMailDomain(longer + ">", 0, Utf8::kRefuse, &utf8, &literal), kNpos);
  EXPECT_FALSE(literal);
  EXPECT_EQ(ScanMailDomain("[192.0.2.1]>", 0, Utf8::kRefuse, &utf8, &literal), 11u);
  EXPECT_TRUE(literal);
}

TEST(MailboxLimits, WholeMailbox) {
  Mailbox m;
  std::string domain = Repeat('a', 63) + "." + Repeat('b', 63) + "." + Repeat('c', 63) + "." +
                       Repeat('d', 50);  // 242
  ASSERT_EQ(domain.size(), 242u);
  EXPECT_EQ(ParseMailbox(Repeat('u', 11) + "@" + domain, Utf8::kRefuse, &m), kOk);  // 254
  EXPECT_EQ(ParseMailbox(Repeat('u', 12) + "@" + domain, Utf8::kRefuse, &m),
            MailboxError::kTooLong);  // 255
  EXPECT_EQ(ParseMailbox("", Utf8::kRefuse, &m), MailboxError::kEmpty);
}

TEST(MailboxParts, ViewsIntoTheText) {
  Mailbox m;
  ASSERT_EQ(ParseMailbox("\"a b\"@[IPv6:::1]", Utf8::kRefuse, &m), kOk);
  EXPECT_EQ(m.local_part, "\"a b\"");
  EXPECT_EQ(m.domain, "[IPv6:::1]");
  EXPECT_TRUE(m.quoted);
  EXPECT_TRUE(m.address_literal);
  EXPECT_FALSE(m.utf8);
  ASSERT_EQ(ParseMailbox("j\xC3\xB6rg@example.com", Utf8::kAllow, &m), kOk);
  EXPECT_EQ(m.local_part, "j\xC3\xB6rg");
  EXPECT_EQ(m.domain, "example.com");
  EXPECT_FALSE(m.quoted);
  EXPECT_FALSE(m.address_literal);
  EXPECT_TRUE(m.utf8);
  ASSERT_EQ(ParseMailbox("user@example.com", Utf8::kAllow, &m), kOk);
  EXPECT_FALSE(m.utf8);
}

TEST(MailboxParts, ErrorTextsAreDistinct) {
  for (int e = 0; e <= static_cast<int>(MailboxError::kTrailingText); ++e) {
    for (int f = 0; f < e; ++f) {
      EXPECT_NE(MailboxErrorText(static_cast<MailboxError>(e)),
                MailboxErrorText(static_cast<MailboxError>(f)));
    }
  }
}

TEST(DomainOfTest, AfterTheLastAt) {
  EXPECT_EQ(DomainOf("user@example.com"), "example.com");
  EXPECT_EQ(DomainOf("\"a@b\"@example.com"), "example.com");
  EXPECT_EQ(DomainOf("Postmaster"), "");
  EXPECT_EQ(DomainOf("u@[192.0.2.1]"), "[192.0.2.1]");
}

// --- names -------------------------------------------------------------

struct NameCase {
  std::string name;
  NameError mail;   // kMailDomain
  NameError utf8;   // kMailDomainUtf8
  NameError host;   // kHostName
  NameError dns;    // kDnsName
};

class NameTest : public ::testing::TestWithParam<NameCase> {};

TEST_P(NameTest, Checks) {
  const NameCase& c = GetParam();
  EXPECT_EQ(CheckName(c.name, kMailDomain), c.mail) << "mail: " << c.name;
  EXPECT_EQ(CheckName(c.name, kMailDomainUtf8), c.utf8) << "mail utf8: " << c.name;
  EXPECT_EQ(CheckName(c.name, kHostName), c.host) << "host: " << c.name;
  EXPECT_EQ(CheckName(c.name, kDnsName), c.dns) << "dns: " << c.name;
}

constexpr NameError kN = NameError::kOk;
constexpr NameError kEmptyLabel = NameError::kEmptyLabel;
constexpr NameError kHyphen = NameError::kEdgeHyphen;
constexpr NameError kChar = NameError::kBadChar;
constexpr NameError kHigh = NameError::kNonAscii;

INSTANTIATE_TEST_SUITE_P(
    Rules, NameTest,
    ::testing::Values(
        NameCase{"example.com", kN, kN, kN, kN},
        NameCase{"a", kN, kN, kN, kN},
        NameCase{"xn--bcher-kva.example", kN, kN, kN, kN},
        NameCase{"a_b.example", kChar, kChar, kN, kN},
        NameCase{"_dmarc.example", kChar, kChar, kN, kN},
        NameCase{"-a.example", kHyphen, kHyphen, kHyphen, kN},
        NameCase{"a-.example", kHyphen, kHyphen, kHyphen, kN},
        NameCase{"a..example", kEmptyLabel, kEmptyLabel, kEmptyLabel, kEmptyLabel},
        NameCase{".example", kEmptyLabel, kEmptyLabel, kEmptyLabel, kEmptyLabel},
        NameCase{"example.", kEmptyLabel, kEmptyLabel, kEmptyLabel, kEmptyLabel},
        NameCase{"", NameError::kEmpty, NameError::kEmpty, NameError::kEmpty,
                 NameError::kEmpty},
        NameCase{"a b", kChar, kChar, kChar, kChar},
        NameCase{"[192.0.2.1]", kChar, kChar, kChar, kChar},
        NameCase{"b\xC3\xBCro.example", kHigh, kN, kHigh, kHigh},
        NameCase{"b\xC3.example", kHigh, NameError::kBadUtf8, kHigh, kHigh},
        NameCase{std::string(63, 'a') + ".example", kN, kN, kN, kN},
        NameCase{std::string(64, 'a') + ".example", NameError::kLabelTooLong,
                 NameError::kLabelTooLong, NameError::kLabelTooLong,
                 NameError::kLabelTooLong}));

TEST(NameLimits, HostNamesAre253AndMailDomains255) {
  std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(61, 'd');
  ASSERT_EQ(name.size(), 253u);
  EXPECT_EQ(CheckName(name, kHostName), NameError::kOk);
  EXPECT_EQ(CheckName(name, kDnsName), NameError::kOk);
  name += ".e";  // 255
  EXPECT_EQ(CheckName(name, kHostName), NameError::kTooLong);
  EXPECT_EQ(CheckName(name, kDnsName), NameError::kTooLong);
  EXPECT_EQ(CheckName(name, kMailDomain), NameError::kOk);
  name += "e";  // 256
  EXPECT_EQ(CheckName(name, kMailDomain), NameError::kTooLong);
}

TEST(ScanNameTest, StopsAtTheFirstByteThatCannotContinue) {
  bool utf8 = false;
  const std::string_view line = "x@mail.example>rest";
  EXPECT_EQ(ScanName(line, 2, kMailDomain, &utf8), line.find('>'));
  EXPECT_FALSE(utf8);
  EXPECT_EQ(ScanName("a.>", 0, kMailDomain, &utf8), kNpos);  // dot, then no label
  EXPECT_EQ(ScanName("\xC3\xA9.x ", 0, kMailDomainUtf8, &utf8), 4u);
  EXPECT_TRUE(utf8);
  utf8 = false;
  EXPECT_EQ(ScanName("ab\xC3\xA9", 0, kMailDomain, &utf8), 2u);  // ASCII rules stop
  EXPECT_FALSE(utf8);
}

TEST(IsLabelByteTest, PerRules) {
  EXPECT_TRUE(IsLabelByte('a', kDnsName));
  EXPECT_TRUE(IsLabelByte('Z', kDnsName));
  EXPECT_TRUE(IsLabelByte('-', kDnsName));
  EXPECT_TRUE(IsLabelByte('_', kDnsName));
  EXPECT_FALSE(IsLabelByte('_', kMailDomain));
  EXPECT_FALSE(IsLabelByte('.', kDnsName));
  EXPECT_FALSE(IsLabelByte(0xC3, kMailDomainUtf8));  // UTF-8 is not per byte
}

TEST(Utf8Test, SequenceLengths) {
  struct Case {
    std::string s;
    size_t n;
  };
  for (const Case& c : {Case{"\xC2\x80", 2}, Case{"\xDF\xBF", 2}, Case{"\xE0\xA0\x80", 3},
                        Case{"\xEF\xBF\xBF", 3}, Case{"\xF0\x90\x80\x80", 4},
                        Case{"\xF4\x8F\xBF\xBF", 4}, Case{"\xC1\xBF", 0}, Case{"\xE0\x9F\xBF", 0},
                        Case{"\xED\xA0\x80", 0}, Case{"\xF0\x8F\xBF\xBF", 0},
                        Case{"\xF4\x90\x80\x80", 0}, Case{"\xF8\x88\x80\x80\x80", 0},
                        Case{"\xE2\x82", 0}, Case{"\x80", 0}, Case{"\xC3\x28", 0}}) {
    EXPECT_EQ(Utf8SequenceLength(c.s, 0), c.n) << testing::PrintToString(c.s);
  }
}

}  // namespace
}  // namespace ringpost::base
