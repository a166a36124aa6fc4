// tests/fuzz/proxy_header_fuzz.cc — libFuzzer target: the PROXY protocol
// header parser (relay/proxy/proxy_header.h), what the inbound listener runs
// on the first bytes of every connection behind a load balancer.
//
// Input: the bytes a peer sends, as they are (no parameter bytes), so a
// seed is a header followed by whatever comes next. Checks:
//   - every result is well-formed: kDone has 0 < consumed <= size, a v1
//     header ends in CRLF within kMaxV1Bytes, a v2 header's length is the
//     16 fixed octets plus its length field, within kMaxV2Bytes; a local
//     header has no addresses, another has a source and a destination of
//     the same family (IPv4 or IPv6); kError has a reason; kNeedMore only
//     below kMaxV2Bytes octets (the caller never buffers more);
//   - answers are consistent as the bytes arrive: over the prefixes of the
//     input, kNeedMore until one decision, and from then on the same
//     decision as for the whole input (kDone with the same length and
//     header: never a different consumed);
//   - a v2 header's addresses and ports are the octets of its address
//     block, read here independently (byte order);
//   - a parsed TCP header, written back as a v1 line and as a v2 header,
//     parses to the same addresses.
// Seeds: tests/fuzz/corpus/proxy_header/.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "relay/proxy/proxy_header.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::proxy::Header;
using ringpost::proxy::kMaxV1Bytes;
using ringpost::proxy::kMaxV2Bytes;
using ringpost::proxy::Parse;
using ringpost::proxy::Result;
using ringpost::proxy::Status;

bool SameAddresses(const Header& a, const Header& b) {
  return a.local == b.local &&
         std::memcmp(&a.source, &b.source, sizeof a.source) == 0 &&
         std::memcmp(&a.destination, &b.destination, sizeof a.destination) == 0;
}

bool SameResult(const Result& a, const Result& b) {
  if (a.status != b.status) return false;
  if (a.status != Status::kDone) return true;
  return a.consumed == b.consumed && a.header.version == b.header.version &&
         SameAddresses(a.header, b.header);
}

uint16_t BigEndian16(std::string_view data, size_t i) {
  return static_cast<uint16_t>(static_cast<uint8_t>(data[i]) << 8 |
                               static_cast<uint8_t>(data[i + 1]));
}

void CheckWellFormed(std::string_view data, const Result& r) {
  if (r.status == Status::kNeedMore) {
    FUZZ_CHECK(r.consumed == 0);
    FUZZ_CHECK(r.error.empty());
    FUZZ_CHECK(data.size() < kMaxV2Bytes);
    return;
  }
  if (r.status == Status::kError) {
    FUZZ_CHECK(r.consumed == 0);
    FUZZ_CHECK(!r.error.empty());
    return;
  }
  FUZZ_CHECK(r.status == Status::kDone);
  FUZZ_CHECK(r.consumed > 0);
  FUZZ_CHECK(r.consumed <= data.size());
  FUZZ_CHECK(r.error.empty());
  const std::string_view header = data.substr(0, r.consumed);
  if (r.header.version == 1) {
    FUZZ_CHECK(header.size() <= kMaxV1Bytes);
    FUZZ_CHECK(header.starts_with("PROXY "));
    FUZZ_CHECK(header.ends_with("\r\n"));
    FUZZ_CHECK(header.find('\n') == header.size() - 1);
  } else {
    FUZZ_CHECK(r.header.version == 2);
    FUZZ_CHECK(header.size() >= 16);
    FUZZ_CHECK(header.size() <= kMaxV2Bytes);
    FUZZ_CHECK(header.size() == 16u + BigEndian16(header, 14));
  }
  const Header& h = r.header;
  if (h.local) {
    FUZZ_CHECK(h.source.ss_family == AF_UNSPEC);
    FUZZ_CHECK(h.destination.ss_family == AF_UNSPEC);
  } else {
    FUZZ_CHECK(h.source.ss_family == AF_INET || h.source.ss_family == AF_INET6);
    FUZZ_CHECK(h.destination.ss_family == h.source.ss_family);
  }
}

// v2 TCP: the sockaddrs hold the block's octets (addresses, then ports,
// all in network order).
void CheckV2Addresses(std::string_view header, const Header& h) {
  const std::string_view block = header.substr(16);
  if (h.source.ss_family == AF_INET) {
    FUZZ_CHECK(static_cast<uint8_t>(header[13]) == 0x11);
    sockaddr_in source;
    sockaddr_in destination;
    std::memcpy(&source, &h.source, sizeof source);
    std::memcpy(&destination, &h.destination, sizeof destination);
    FUZZ_CHECK(std::memcmp(&source.sin_addr, block.data(), 4) == 0);
    FUZZ_CHECK(std::memcmp(&destination.sin_addr, block.data() + 4, 4) == 0);
    FUZZ_CHECK(ntohs(source.sin_port) == BigEndian16(block, 8));
    FUZZ_CHECK(ntohs(destination.sin_port) == BigEndian16(block, 10));
    return;
  }
  FUZZ_CHECK(static_cast<uint8_t>(header[13]) == 0x21);
  sockaddr_in6 source;
  sockaddr_in6 destination;
  std::memcpy(&source, &h.source, sizeof source);
  std::memcpy(&destination, &h.destination, sizeof destination);
  FUZZ_CHECK(std::memcmp(&source.sin6_addr, block.data(), 16) == 0);
  FUZZ_CHECK(std::memcmp(&destination.sin6_addr, block.data() + 16, 16) == 0);
  FUZZ_CHECK(ntohs(source.sin6_port) == BigEndian16(block, 32));
  FUZZ_CHECK(ntohs(destination.sin6_port) == BigEndian16(block, 34));
}

// The address octets, text and port of one side of a TCP header.
struct Side {
  std::string octets;  // network order
  std::string text;    // inet_ntop
  uint16_t port = 0;   // host order
};

Side Describe(const sockaddr_storage& ss) {
  Side s;
  char text[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss, sizeof sin);
    s.octets.assign(reinterpret_cast<const char*>(&sin.sin_addr), 4);
    FUZZ_CHECK(inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text) != nullptr);
    s.port = ntohs(sin.sin_port);
  } else {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss, sizeof sin6);
    s.octets.assign(reinterpret_cast<const char*>(&sin6.sin6_addr), 16);
    FUZZ_CHECK(inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text) != nullptr);
    s.port = ntohs(sin6.sin6_port);
  }
  s.text = text;
  return s;
}

// Writes a TCP header back in both versions; each parses to the same
// addresses.
void CheckRoundTrips(const Header& h) {
  const bool v4 = h.source.ss_family == AF_INET;
  const Side source = Describe(h.source);
  const Side destination = Describe(h.destination);

  const std::string line = std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + source.text +
                           " " + destination.text + " " + std::to_string(source.port) + " " +
                           std::to_string(destination.port) + "\r\n";
  const Result r1 = Parse(line);
  FUZZ_CHECK(r1.status == Status::kDone);
  FUZZ_CHECK(r1.consumed == line.size());
  FUZZ_CHECK(r1.header.version == 1);
  FUZZ_CHECK(SameAddresses(r1.header, h));

  std::string binary("\r\n\r\n\0\r\nQUIT\n\x21", 13);
  binary.push_back(v4 ? '\x11' : '\x21');
  const size_t length = 2 * source.octets.size() + 4;
  binary.push_back(static_cast<char>(length >> 8));
  binary.push_back(static_cast<char>(length & 0xFF));
  binary += source.octets;
  binary += destination.octets;
  for (const uint16_t port : {source.port, destination.port}) {
    binary.push_back(static_cast<char>(port >> 8));
    binary.push_back(static_cast<char>(port & 0xFF));
  }
  const Result r2 = Parse(binary);
  FUZZ_CHECK(r2.status == Status::kDone);
  FUZZ_CHECK(r2.consumed == binary.size());
  FUZZ_CHECK(r2.header.version == 2);
  FUZZ_CHECK(SameAddresses(r2.header, h));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const Result whole = Parse(input);
  CheckWellFormed(input, whole);

  // Every prefix up to kMaxV2Bytes (by then every input is decided, so
  // longer prefixes answer as the whole input does).
  const size_t last = std::min(input.size(), kMaxV2Bytes);
  bool decided = false;
  for (size_t n = 0; n <= last; ++n) {
    const std::string_view prefix = input.substr(0, n);
    const Result r = Parse(prefix);
    CheckWellFormed(prefix, r);
    if (r.status == Status::kNeedMore) {
      FUZZ_CHECK(!decided);  // a decision is never taken back
      continue;
    }
    FUZZ_CHECK(SameResult(r, whole));
    // A header is complete at its last octet, not later.
    if (!decided && r.status == Status::kDone) FUZZ_CHECK(r.consumed == n);
    decided = true;
  }
  FUZZ_CHECK(decided == (whole.status != Status::kNeedMore));

  if (whole.status == Status::kDone && !whole.header.local) {
    if (whole.header.version == 2) {
      CheckV2Addresses(input.substr(0, whole.consumed), whole.header);
    }
    CheckRoundTrips(whole.header);
  }
  return 0;
}
