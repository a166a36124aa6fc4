// relay/proxy/proxy_header_test.cc — table-driven tests of proxy::Parse:
// valid v1 and v2 headers followed by SMTP, every malformed shape we know,
// and the answers while a header arrives one octet at a time.

#include "relay/proxy/proxy_header.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::proxy {
namespace {

using namespace std::string_literals;

const std::string kSmtp = "EHLO client.example\r\n";

// "192.0.2.1:25", "[2001:db8::1]:25", or "-" for no address (AF_UNSPEC).
std::string Endpoint(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss, sizeof sin);
    inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(sin.sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss, sizeof sin6);
    inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(sin6.sin6_port));
  }
  if (ss.ss_family == AF_UNSPEC) return "-";
  return "family " + std::to_string(ss.ss_family);
}

// A v2 header: signature, ver_cmd, fam, big-endian length, block.
std::string V2(uint8_t ver_cmd, uint8_t fam, const std::string& block) {
  std::string h = "\r\n\r\n\0\r\nQUIT\n"s;
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(block.size() >> 8));
  h.push_back(static_cast<char>(block.size() & 0xFF));
  return h + block;
}

// Addresses and ports as a v2 block carries them (network byte order).
std::string Inet4Block(const char* source, const char* destination, uint16_t source_port,
                       uint16_t destination_port) {
  std::string block(12, '\0');
  inet_pton(AF_INET, source, &block[0]);
  inet_pton(AF_INET, destination, &block[4]);
  block[8] = static_cast<char>(source_port >> 8);
  block[9] = static_cast<char>(source_port & 0xFF);
  block[10] = static_cast<char>(destination_port >> 8);
  block[11] = static_cast<char>(destination_port & 0xFF);
  return block;
}

std::string Inet6Block(const char* source, const char* destination, uint16_t source_port,
                       uint16_t destination_port) {
  std::string block(36, '\0');
  inet_pton(AF_INET6, source, &block[0]);
  inet_pton(AF_INET6, destination, &block[16]);
  block[32] = static_cast<char>(source_port >> 8);
  block[33] = static_cast<char>(source_port & 0xFF);
  block[34] = static_cast<char>(destination_port >> 8);
  block[35] = static_cast<char>(destination_port & 0xFF);
  return block;
}

// A TLV: type, big-endian 16-bit length, value.
std::string Tlv(uint8_t type, const std::string& value) {
  std::string t;
  t.push_back(static_cast<char>(type));
  t.push_back(static_cast<char>(value.size() >> 8));
  t.push_back(static_cast<char>(value.size() & 0xFF));
  return t + value;
}

// A complete header; Parse(header + kSmtp) is kDone with consumed ==
// header.size().
struct ValidCase {
  std::string name;
  std::string header;
  int version;
  bool local;
  std::string source;       // Endpoint() of the result
  std::string destination;
};

std::vector<ValidCase> ValidCases() {
  const std::string v6max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  return {
      {"v1_tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", 1, false,
       "192.0.2.1:56324", "198.51.100.2:25"},
      {"v1_tcp4_port_extremes", "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", 1, false,
       "0.0.0.0:0", "255.255.255.255:65535"},
      {"v1_tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 40000 587\r\n", 1, false,
       "[2001:db8::1]:40000", "[2001:db8::2]:587"},
      {"v1_tcp6_longest", "PROXY TCP6 " + v6max + " " + v6max + " 65535 65535\r\n", 1, false,
       "[" + v6max + "]:65535", "[" + v6max + "]:65535"},
      // inet_pton's dotted IPv4 tail: still an IPv6 address.
      {"v1_tcp6_mapped", "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", 1, false,
       "[::ffff:192.0.2.1]:1", "[::1]:2"},
      {"v1_unknown", "PROXY UNKNOWN\r\n", 1, true, "-", "-"},
      {"v1_unknown_with_addresses", "PROXY UNKNOWN 192.0.2.1 198.51.100.2 1 2\r\n", 1, true,
       "-", "-"},
      // The specification's worst case: exactly kMaxV1Bytes.
      {"v1_unknown_longest", "PROXY UNKNOWN " + v6max + " " + v6max + " 65535 65535\r\n", 1,
       true, "-", "-"},
      {"v1_unknown_binary_tail", "PROXY UNKNOWN \x01\xff\t anything\r\n"s, 1, true, "-", "-"},
      {"v2_tcp4", V2(0x21, 0x11, Inet4Block("192.0.2.1", "198.51.100.2", 56324, 25)), 2,
       false, "192.0.2.1:56324", "198.51.100.2:25"},
      // Ports whose two octets differ, both ways round: byte order.
      {"v2_tcp4_port_order", V2(0x21, 0x11, Inet4Block("10.0.0.1", "10.0.0.2", 0x0102, 0xFF00)),
       2, false, "10.0.0.1:258", "10.0.0.2:65280"},
      {"v2_tcp6", V2(0x21, 0x21, Inet6Block("2001:db8::1", "2001:db8::2", 40000, 587)), 2,
       false, "[2001:db8::1]:40000", "[2001:db8::2]:587"},
      {"v2_tcp4_tlvs",
       V2(0x21, 0x11,
          Inet4Block("192.0.2.1", "198.51.100.2", 1, 25) + Tlv(0x01, "smtp") +
              Tlv(0x02, "mx.example") + Tlv(0x04, "\0\0\0"s)),
       2, false, "192.0.2.1:1", "198.51.100.2:25"},
      // TLVs are skipped unread: one claiming more than the block holds too.
      {"v2_tcp6_bad_tlv", V2(0x21, 0x21, Inet6Block("::1", "::2", 1, 2) + "\x05\xff\xff"s), 2,
       false, "[::1]:1", "[::2]:2"},
      {"v2_local", V2(0x20, 0x00, ""), 2, true, "-", "-"},
      // LOCAL ignores fam and the block, whatever they hold.
      {"v2_local_with_addresses", V2(0x20, 0x11, Inet4Block("192.0.2.1", "192.0.2.2", 1, 2)), 2,
       true, "-", "-"},
      {"v2_local_unassigned_fam", V2(0x20, 0xff, ""), 2, true, "-", "-"},
      {"v2_unspec", V2(0x21, 0x00, ""), 2, true, "-", "-"},
      {"v2_udp4", V2(0x21, 0x12, Inet4Block("192.0.2.1", "192.0.2.2", 1, 2)), 2, true, "-",
       "-"},
      {"v2_udp6", V2(0x21, 0x22, Inet6Block("::1", "::2", 1, 2)), 2, true, "-", "-"},
      {"v2_unix", V2(0x21, 0x31, std::string(216, '\0')), 2, true, "-", "-"},
      {"v2_unix_dgram", V2(0x21, 0x32, std::string(216, 'u')), 2, true, "-", "-"},
      // The largest block accepted.
      {"v2_tcp4_largest",
       V2(0x21, 0x11,
          Inet4Block("192.0.2.1", "192.0.2.2", 1, 2) + std::string(kMaxV2Bytes - 16 - 12, 'x')),
       2, false, "192.0.2.1:1", "192.0.2.2:2"},
  };
}

class ValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidTest, ParsesAndStopsAtTheHeader) {
  const ValidCase& c = GetParam();
  ASSERT_LE(c.header.size(), c.version == 1 ? kMaxV1Bytes : kMaxV2Bytes);
  const Result r = Parse(c.header + kSmtp);
  ASSERT_EQ(r.status, Status::kDone) << r.error;
  EXPECT_EQ(r.consumed, c.header.size());
  EXPECT_EQ(r.header.version, c.version);
  EXPECT_EQ(r.header.local, c.local);
  EXPECT_EQ(Endpoint(r.header.source), c.source);
  EXPECT_EQ(Endpoint(r.header.destination), c.destination);
  EXPECT_TRUE(r.error.empty());
}

// Split packets: every proper prefix is kNeedMore, the full header and any
// longer input kDone with the same length.
TEST_P(ValidTest, EveryPrefixNeedsMore) {
  const ValidCase& c = GetParam();
  const std::string input = c.header + kSmtp;
  for (size_t n = 0; n < c.header.size(); ++n) {
    const Result r = Parse(std::string_view(input).substr(0, n));
    ASSERT_EQ(r.status, Status::kNeedMore) << n << ": " << r.error;
    EXPECT_EQ(r.consumed, 0u);
  }
  for (size_t n = c.header.size(); n <= input.size(); ++n) {
    const Result r = Parse(std::string_view(input).substr(0, n));
    ASSERT_EQ(r.status, Status::kDone) << n << ": " << r.error;
    EXPECT_EQ(r.consumed, c.header.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Headers, ValidTest, ::testing::ValuesIn(ValidCases()),
                         [](const auto& info) { return info.param.name; });

// Input that is refused once complete; `at` is the length of the shortest
// prefix already refused (the first octet that cannot be right).
struct ErrorCase {
  std::string name;
  std::string input;
  size_t at;
};

std::vector<ErrorCase> ErrorCases() {
  // 105 octets: with a CRLF exactly kMaxV1Bytes, with anything more too long.
  const std::string long_unknown = "PROXY UNKNOWN " + std::string(kMaxV1Bytes - 16, 'x');
  const std::string v4 = Inet4Block("192.0.2.1", "198.51.100.2", 1, 25);
  const std::string v6 = Inet6Block("::1", "::2", 1, 25);
  std::vector<ErrorCase> cases = {
      // Not a PROXY header at all: refused on the first octet.
      {"smtp", "EHLO x\r\n", 1},
      {"blank_line", "\r\nEHLO x\r\n", 3},
      {"tls_client_hello", "\x16\x03\x01\x02\x00"s, 1},
      {"lowercase_proxy", "proxy TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", 1},
      {"proxx", "PROXX TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 5},
      // v1 framing.
      {"v1_too_long", long_unknown + "xx\r\n", kMaxV1Bytes},
      {"v1_too_long_no_crlf", std::string("PROXY UNKNOWN ") + std::string(200, 'x'),
       kMaxV1Bytes},
      // The CR is octet 107: its LF cannot fit.
      {"v1_crlf_one_past_limit", long_unknown + "x\r\n", kMaxV1Bytes},
      {"v1_bare_lf", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n", 43},
      {"v1_bare_lf_unknown", "PROXY UNKNOWN\nEHLO x\r\n", 14},
      {"v1_cr_without_lf", "PROXY UNKNOWN\rEHLO x\r\n", 15},
      {"v1_cr_cr_lf", "PROXY UNKNOWN\r\r\n", 15},
      {"v1_only_proxy", "PROXY\r\n", 7},
      {"v1_only_prefix", "PROXY \r\n", 8},
      // v1 protocol token.
      {"v1_lowercase_tcp4", "PROXY tcp4 192.0.2.1 198.51.100.2 56324 25\r\n", 7},
      {"v1_tcp5", "PROXY TCP5 192.0.2.1 198.51.100.2 56324 25\r\n", 10},
      {"v1_tcp4_no_space", "PROXY TCP4\r\n", 12},
      {"v1_unknown_glued", "PROXY UNKNOWNX\r\n", 14},
      {"v1_unknown_cut", "PROXY UNKNOW\r\n", 14},
      {"v1_udp4", "PROXY UDP4 192.0.2.1 198.51.100.2 56324 25\r\n", 8},
      // v1 fields and spaces.
      {"v1_missing_port", "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", 41},
      {"v1_missing_addresses", "PROXY TCP4 \r\n", 13},
      {"v1_extra_field", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 26\r\n", 47},
      {"v1_double_space_after_proxy", "PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 7},
      {"v1_double_space_in_fields", "PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n", 40},
      {"v1_leading_space", "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", 40},
      {"v1_trailing_space", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n", 40},
      {"v1_tab", "PROXY TCP4 192.0.2.1\t198.51.100.2 1 2\r\n", 39},
      // v1 addresses.
      {"v1_bad_ipv4", "PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n", 41},
      {"v1_short_ipv4", "PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n", 37},
      {"v1_ipv4_leading_zero", "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", 40},
      {"v1_hostname", "PROXY TCP4 localhost 198.51.100.2 1 2\r\n", 39},
      {"v1_tcp4_with_ipv6", "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", 41},
      {"v1_tcp6_with_ipv4", "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", 38},
      {"v1_tcp6_mixed", "PROXY TCP6 2001:db8::1 192.0.2.1 1 2\r\n", 38},
      {"v1_bad_ipv6", "PROXY TCP6 2001:db8:::1 ::2 1 2\r\n", 33},
      {"v1_ipv6_zone", "PROXY TCP6 fe80::1%eth0 ::2 1 2\r\n", 33},
      {"v1_nul_in_address", "PROXY TCP4 192.0.2.1\0 198.51.100.2 1 2\r\n"s, 40},
      // v1 ports.
      {"v1_port_65536", "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", 44},
      {"v1_port_99999", "PROXY TCP4 192.0.2.1 198.51.100.2 1 99999\r\n", 43},
      {"v1_port_six_digits", "PROXY TCP4 192.0.2.1 198.51.100.2 1 100000\r\n", 44},
      {"v1_port_plus", "PROXY TCP4 192.0.2.1 198.51.100.2 +25 25\r\n", 42},
      {"v1_port_minus", "PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n", 41},
      {"v1_port_leading_zero", "PROXY TCP4 192.0.2.1 198.51.100.2 025 25\r\n", 42},
      {"v1_port_double_zero", "PROXY TCP4 192.0.2.1 198.51.100.2 1 00\r\n", 40},
      {"v1_port_hex", "PROXY TCP4 192.0.2.1 198.51.100.2 0x19 25\r\n", 43},
      {"v1_port_letters", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2a\r\n", 40},
      // v2 framing.
      {"v2_version_1", V2(0x11, 0x11, v4), 13},
      {"v2_version_3", V2(0x31, 0x11, v4), 13},
      {"v2_version_0", V2(0x01, 0x11, v4), 13},
      {"v2_command_2", V2(0x22, 0x11, v4), 13},
      {"v2_command_f", V2(0x2f, 0x11, v4), 13},
      {"v2_fam_unassigned", V2(0x21, 0x41, v4), 14},
      {"v2_fam_tcp_over_unspec", V2(0x21, 0x01, v4), 14},
      {"v2_fam_transport_3", V2(0x21, 0x13, v4), 14},
      {"v2_tcp4_short_block", V2(0x21, 0x11, v4.substr(0, 11)), 16},
      {"v2_tcp4_empty_block", V2(0x21, 0x11, ""), 16},
      {"v2_tcp6_short_block", V2(0x21, 0x21, v6.substr(0, 35)), 16},
      {"v2_tcp6_with_tcp4_block", V2(0x21, 0x21, v4), 16},
      {"v2_block_too_large", V2(0x21, 0x11, v4 + std::string(kMaxV2Bytes - 16 - 12 + 1, 'x')),
       16},
      {"v2_length_ffff", V2(0x20, 0x00, std::string(0xffff, '\0')), 16},
  };
  // A wrong octet anywhere in the signature (the first octet included: it
  // is then not a PROXY header at all).
  const std::string good = V2(0x21, 0x11, v4);
  for (size_t i = 0; i < 12; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    cases.push_back({"v2_signature_octet_" + std::to_string(i), bad, i + 1});
  }
  return cases;
}

class ErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, RefusedAtTheFirstWrongOctet) {
  const ErrorCase& c = GetParam();
  ASSERT_LE(c.at, c.input.size());
  const std::string input = c.input + kSmtp;
  for (size_t n = 0; n < c.at; ++n) {
    const Result r = Parse(std::string_view(input).substr(0, n));
    ASSERT_EQ(r.status, Status::kNeedMore) << n << ": " << r.error;
  }
  // Once refused, refused whatever follows.
  for (size_t n = c.at; n <= input.size(); ++n) {
    const Result r = Parse(std::string_view(input).substr(0, n));
    ASSERT_EQ(r.status, Status::kError) << n;
    EXPECT_FALSE(r.error.empty());
    EXPECT_EQ(r.consumed, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Malformed, ErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const auto& info) { return info.param.name; });

// The log line says what was wrong.
TEST(ProxyHeader, ErrorsNameTheProblem) {
  struct Case {
    std::string input;
    std::string error;
  };
  const Case kCases[] = {
      {"EHLO x\r\n", "neither a v1 nor a v2 PROXY header"},
      {"PROXY UNKNOWN " + std::string(200, 'x'), "v1 line longer than 107 octets"},
      {"PROXY UNKNOWN\n", "bare LF in v1 line"},
      {"PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", "bad v1 source port"},
      {"PROXY TCP4 ::1 198.51.100.2 1 25\r\n", "v1 source address is not IPv4"},
      {"PROXY TCP6 ::1 192.0.2.1 1 25\r\n", "v1 destination address is not IPv6"},
      {"\r\n\r\n\0\r\nQUIX"s, "bad v2 signature"},
      {V2(0x11, 0x11, ""), "v2 version 1, want 2"},
      {V2(0x21, 0x21, std::string(12, '\0')), "v2 TCP6 address block of 12 octets, want 36"},
      {V2(0x21, 0x11, std::string(1025, '\0')),
       "v2 address block of 1025 octets, more than the 1024 accepted"},
      {V2(0x21, 0x41, ""), "unassigned v2 address family 0x41"},
  };
  for (const Case& c : kCases) {
    const Result r = Parse(c.input);
    EXPECT_EQ(r.status, Status::kError) << c.input;
    EXPECT_EQ(r.error, c.error) << c.input;
  }
}

TEST(ProxyHeader, NothingYetNeedsMore) {
  const Result r = Parse("");
  EXPECT_EQ(r.status, Status::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_TRUE(r.error.empty());
}

// However the input continues, kMaxV2Bytes octets always decide.
TEST(ProxyHeader, TheLimitsDecide) {
  const std::string v1 = "PROXY UNKNOWN " + std::string(kMaxV2Bytes, ' ');
  EXPECT_EQ(Parse(std::string_view(v1).substr(0, kMaxV1Bytes)).status, Status::kError);
  const std::string v2 = V2(0x20, 0x00, std::string(kMaxV2Bytes - 16, 'x'));
  ASSERT_EQ(v2.size(), kMaxV2Bytes);
  EXPECT_EQ(Parse(v2).status, Status::kDone);
}

}  // namespace
}  // namespace ringpost::proxy

namespace ringpost::proxy {
namespace {

TEST(LooksLikeHeaderTest, V1AndV2OpeningsOnly) {
  EXPECT_TRUE(LooksLikeHeader("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
  EXPECT_TRUE(LooksLikeHeader(std::string_view("\r\n\r\n\0\r\nQUIT\n\x21", 13)));
  EXPECT_FALSE(LooksLikeHeader("EHLO client.example\r\n"));
  EXPECT_FALSE(LooksLikeHeader("PROX"));
  EXPECT_FALSE(LooksLikeHeader(""));
}

}  // namespace
}  // namespace ringpost::proxy
