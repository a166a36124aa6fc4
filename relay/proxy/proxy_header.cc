// relay/proxy/proxy_header.cc — see proxy_header.h.
//
// Both versions check what they can on every call, in the order the octets
// arrive, and answer kNeedMore only when nothing seen so far is wrong. Each
// early check is one the complete header would fail too, which is what makes
// the answers consistent as the input grows.
#include "relay/proxy/proxy_header.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/check.h"

namespace ringpost::proxy {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
// The family tokens a v1 line may carry after the prefix. UNKNOWN is
// followed by a space or the end of the line (the CR, which is not part of
// the line text checked here).
constexpr std::string_view kV1Tcp4 = "TCP4 ";
constexpr std::string_view kV1Tcp6 = "TCP6 ";
constexpr std::string_view kV1Unknown = "UNKNOWN";
constexpr std::string_view kV1UnknownTail = "UNKNOWN ";

constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};
// Signature, ver_cmd, fam, length.
constexpr size_t kV2FixedBytes = 16;
static_assert(kMaxV2Bytes > kV2FixedBytes);
constexpr size_t kV2MaxBlockBytes = kMaxV2Bytes - kV2FixedBytes;
// Address blocks (proxy-protocol.txt 2.2): source and destination address,
// then source and destination port, all in network byte order.
constexpr size_t kV2Inet4Bytes = 4 + 4 + 2 + 2;
constexpr size_t kV2Inet6Bytes = 16 + 16 + 2 + 2;

constexpr uint8_t kV2CommandLocal = 0x0;
constexpr uint8_t kV2CommandProxy = 0x1;
constexpr uint8_t kV2FamUnspec = 0x00;
constexpr uint8_t kV2FamTcp4 = 0x11;
constexpr uint8_t kV2FamUdp4 = 0x12;
constexpr uint8_t kV2FamTcp6 = 0x21;
constexpr uint8_t kV2FamUdp6 = 0x22;
constexpr uint8_t kV2FamUnixStream = 0x31;
constexpr uint8_t kV2FamUnixDgram = 0x32;

Result NeedMore() { return Result{}; }

Result Error(std::string why) {
  Result r;
  r.status = Status::kError;
  r.error = std::move(why);
  return r;
}

Result Done(size_t consumed, const Header& header) {
  Result r;
  r.status = Status::kDone;
  r.consumed = consumed;
  r.header = header;
  return r;
}

Header Local(int version) {
  Header h;
  h.version = version;
  h.local = true;
  return h;
}

std::string Hex(uint8_t octet) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", octet);
  return buf;
}

uint8_t Octet(std::string_view data, size_t i) { return static_cast<uint8_t>(data[i]); }

uint16_t BigEndian16(std::string_view data, size_t i) {
  return static_cast<uint16_t>(Octet(data, i) << 8 | Octet(data, i + 1));
}

// Whether `got`, possibly cut short, can still be (or start with) `want`.
bool Compatible(std::string_view got, std::string_view want) {
  const size_t n = std::min(got.size(), want.size());
  return got.substr(0, n) == want.substr(0, n);
}

// --- version 1 ---------------------------------------------------------------

// The checks a v1 line can fail before it is complete: the prefix, and a
// family token that cannot become TCP4, TCP6 or UNKNOWN. `line` is the text
// so far, without any CR.
std::string CheckV1Start(std::string_view line) {
  if (!Compatible(line, kV1Prefix)) return "not a PROXY header";
  if (line.size() <= kV1Prefix.size()) return "";
  const std::string_view rest = line.substr(kV1Prefix.size());
  if (Compatible(rest, kV1Tcp4) || Compatible(rest, kV1Tcp6) ||
      Compatible(rest, kV1UnknownTail)) {
    return "";
  }
  return "v1 protocol is not TCP4, TCP6 or UNKNOWN";
}

// "0".."65535", decimal digits only, no leading zero (the specification
// forbids them, lest they read as octal).
bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint32_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// An address of `family` as inet_pton reads it, with `port`, into *out.
bool ParseAddress(int family, std::string_view text, uint16_t port, sockaddr_storage* out) {
  // inet_pton wants a NUL-terminated string: a NUL inside the text would
  // end it early and let trailing junk through.
  char buf[INET6_ADDRSTRLEN];
  if (text.size() >= sizeof buf) return false;
  if (text.find('\0') != std::string_view::npos) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (inet_pton(AF_INET, buf, &sin.sin_addr) != 1) return false;
    std::memcpy(out, &sin, sizeof sin);
    return true;
  }
  CHECK(family == AF_INET6);
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) != 1) return false;
  std::memcpy(out, &sin6, sizeof sin6);
  return true;
}

// A complete v1 line, without its CRLF, that passed CheckV1Start.
Result ParseV1Line(std::string_view line, size_t consumed) {
  std::string_view rest = line.substr(kV1Prefix.size());
  if (rest == kV1Unknown || rest.starts_with(kV1UnknownTail)) return Done(consumed, Local(1));
  int family = 0;
  if (rest.starts_with(kV1Tcp4)) {
    family = AF_INET;
  } else if (rest.starts_with(kV1Tcp6)) {
    family = AF_INET6;
  } else {
    // Cut short: "PROXY TCP4\r\n", "PROXY UNKN\r\n".
    return Error("v1 line ends inside or right after its protocol");
  }
  rest.remove_prefix(kV1Tcp4.size());
  // Exactly four fields, single spaces: an empty field is a doubled,
  // leading or trailing space.
  std::array<std::string_view, 4> fields;
  for (size_t i = 0; i < fields.size(); ++i) {
    const size_t space = rest.find(' ');
    const bool last = i + 1 == fields.size();
    if (!last && space == std::string_view::npos) return Error("v1 line has too few fields");
    if (last && space != std::string_view::npos) return Error("v1 line has too many fields");
    fields[i] = rest.substr(0, space);
    if (fields[i].empty()) return Error("v1 line has a doubled or stray space");
    if (!last) rest.remove_prefix(space + 1);
  }
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  if (!ParsePort(fields[2], &source_port)) return Error("bad v1 source port");
  if (!ParsePort(fields[3], &destination_port)) return Error("bad v1 destination port");
  const char* const want = family == AF_INET ? "IPv4" : "IPv6";
  Header h;
  h.version = 1;
  if (!ParseAddress(family, fields[0], source_port, &h.source)) {
    return Error(std::string("v1 source address is not ") + want);
  }
  if (!ParseAddress(family, fields[1], destination_port, &h.destination)) {
    return Error(std::string("v1 destination address is not ") + want);
  }
  return Done(consumed, h);
}

Result ParseV1(std::string_view data) {
  // Only the first kMaxV1Bytes octets can belong to the line.
  const size_t window = std::min(data.size(), kMaxV1Bytes);
  size_t end = std::string_view::npos;  // index of the CR of the final CRLF
  for (size_t i = 0; i < window; ++i) {
    if (data[i] == '\n') return Error("bare LF in v1 line");
    if (data[i] != '\r') continue;
    if (i + 1 == kMaxV1Bytes) break;  // its LF would be octet 108
    if (i + 1 == data.size()) {
      // The LF may be in the next read; judge the text before the CR.
      const std::string error = CheckV1Start(data.substr(0, i));
      return error.empty() ? NeedMore() : Error(error);
    }
    if (data[i + 1] != '\n') return Error("CR without LF in v1 line");
    end = i;
    break;
  }
  if (end == std::string_view::npos) {
    if (data.size() >= kMaxV1Bytes) {
      return Error("v1 line longer than " + std::to_string(kMaxV1Bytes) + " octets");
    }
    const std::string error = CheckV1Start(data);
    return error.empty() ? NeedMore() : Error(error);
  }
  const std::string_view line = data.substr(0, end);
  const std::string error = CheckV1Start(line);
  if (!error.empty()) return Error(error);
  // A line shorter than the prefix ("PROXY\r\n") passes CheckV1Start.
  if (line.size() <= kV1Prefix.size()) return Error("v1 line ends after PROXY");
  return ParseV1Line(line, end + 2);
}

// --- version 2 ---------------------------------------------------------------

bool AssignedFam(uint8_t fam) {
  switch (fam) {
    case kV2FamUnspec:
    case kV2FamTcp4:
    case kV2FamUdp4:
    case kV2FamTcp6:
    case kV2FamUdp6:
    case kV2FamUnixStream:
    case kV2FamUnixDgram:
      return true;
    default:
      return false;
  }
}

// TCP over IPv4 or IPv6 from a complete address block.
Header V2Addresses(uint8_t fam, std::string_view block) {
  Header h;
  h.version = 2;
  if (fam == kV2FamTcp4) {
    CHECK(block.size() >= kV2Inet4Bytes);
    sockaddr_in source{};
    sockaddr_in destination{};
    source.sin_family = AF_INET;
    destination.sin_family = AF_INET;
    // Addresses and ports are in network byte order on the wire and in
    // sockaddr_in alike: copied as they are.
    std::memcpy(&source.sin_addr, block.data(), 4);
    std::memcpy(&destination.sin_addr, block.data() + 4, 4);
    std::memcpy(&source.sin_port, block.data() + 8, 2);
    std::memcpy(&destination.sin_port, block.data() + 10, 2);
    std::memcpy(&h.source, &source, sizeof source);
    std::memcpy(&h.destination, &destination, sizeof destination);
    return h;
  }
  CHECK(fam == kV2FamTcp6);
  CHECK(block.size() >= kV2Inet6Bytes);
  sockaddr_in6 source{};
  sockaddr_in6 destination{};
  source.sin6_family = AF_INET6;
  destination.sin6_family = AF_INET6;
  std::memcpy(&source.sin6_addr, block.data(), 16);
  std::memcpy(&destination.sin6_addr, block.data() + 16, 16);
  std::memcpy(&source.sin6_port, block.data() + 32, 2);
  std::memcpy(&destination.sin6_port, block.data() + 34, 2);
  std::memcpy(&h.source, &source, sizeof source);
  std::memcpy(&h.destination, &destination, sizeof destination);
  return h;
}

Result ParseV2(std::string_view data) {
  if (!Compatible(data, kV2Signature)) return Error("bad v2 signature");
  if (data.size() <= kV2Signature.size()) return NeedMore();
  const uint8_t ver_cmd = Octet(data, 12);
  if (ver_cmd >> 4 != 2) return Error("v2 version " + std::to_string(ver_cmd >> 4) + ", want 2");
  const uint8_t command = ver_cmd & 0x0F;
  if (command != kV2CommandLocal && command != kV2CommandProxy) {
    return Error("v2 command " + std::to_string(command) + " is neither LOCAL nor PROXY");
  }
  const bool proxy = command == kV2CommandProxy;
  if (data.size() < 14) return NeedMore();
  const uint8_t fam = Octet(data, 13);
  if (proxy && !AssignedFam(fam)) return Error("unassigned v2 address family " + Hex(fam));
  if (data.size() < kV2FixedBytes) return NeedMore();
  const size_t length = BigEndian16(data, 14);
  if (length > kV2MaxBlockBytes) {
    return Error("v2 address block of " + std::to_string(length) + " octets, more than the " +
                 std::to_string(kV2MaxBlockBytes) + " accepted");
  }
  if (proxy && fam == kV2FamTcp4 && length < kV2Inet4Bytes) {
    return Error("v2 TCP4 address block of " + std::to_string(length) + " octets, want 12");
  }
  if (proxy && fam == kV2FamTcp6 && length < kV2Inet6Bytes) {
    return Error("v2 TCP6 address block of " + std::to_string(length) + " octets, want 36");
  }
  const size_t total = kV2FixedBytes + length;
  if (data.size() < total) return NeedMore();
  if (!proxy || (fam != kV2FamTcp4 && fam != kV2FamTcp6)) return Done(total, Local(2));
  return Done(total, V2Addresses(fam, data.substr(kV2FixedBytes, length)));
}

}  // namespace

Result Parse(std::string_view data) {
  if (data.empty()) return NeedMore();
  Result r;
  if (data[0] == kV1Prefix[0]) {
    r = ParseV1(data);
  } else if (data[0] == kV2Signature[0]) {
    r = ParseV2(data);
  } else {
    r = Error("neither a v1 nor a v2 PROXY header");
  }
  if (r.status == Status::kDone) {
    CHECK(r.consumed > 0);
    CHECK(r.consumed <= data.size());
    CHECK(r.header.version == 1 || r.header.version == 2);
  }
  if (r.status == Status::kError) CHECK(!r.error.empty());
  return r;
}

bool LooksLikeHeader(std::string_view first_bytes) {
  return first_bytes.substr(0, 6) == "PROXY " ||
         first_bytes.substr(0, kV2Signature.size()) == kV2Signature;
}

}  // namespace ringpost::proxy
