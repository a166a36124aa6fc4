// dns/address.h — IP addresses as DNS returns them, and the set of the
// relay's own addresses used to detect mail loops.
//
// IpAddress is a plain value (family + 16 bytes) that compares, hashes and
// prints without touching sockaddr. MX results carry sockaddr_storage (ready
// to connect); IpAddress is what A/AAAA records decode to.
//
// LocalAddresses answers "is this address:port the relay itself?" (RFC 5321
// section 5.1: an MX that points back at us is a loop, bounced with 5.4.6).
// An entry with port 0 matches any port (interface addresses, operator
// supplied extras); an entry with a port matches only that port (listen
// addresses), so an MX that reaches a different service on one of our
// addresses — another MTA on port 25 while ringpost listens on 2525 — is not
// mistaken for a loop. Built once at start-up (getifaddrs is a blocking
// call), then immutable and shared by every shard.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ringpost::dns {

struct IpAddress {
  uint8_t family = 0;  // AF_INET or AF_INET6; 0 = none
  std::array<uint8_t, 16> bytes{};  // AF_INET uses the first 4

  static IpAddress V4(const uint8_t (&b)[4]);
  static IpAddress V6(const uint8_t (&b)[16]);
  // Numeric text only ("192.0.2.1", "2001:db8::1"); nullopt otherwise.
  static std::optional<IpAddress> Parse(std::string_view text);
  static std::optional<IpAddress> FromSockaddr(const sockaddr_storage& sa);

  bool valid() const { return family == AF_INET || family == AF_INET6; }
  bool is_v6() const { return family == AF_INET6; }
  // 0.0.0.0 or ::
  bool is_unspecified() const;
  std::string ToString() const;
  sockaddr_storage ToSockaddr(uint16_t port) const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family == b.family && a.bytes == b.bytes;
  }
  friend bool operator<(const IpAddress& a, const IpAddress& b) {
    if (a.family != b.family) return a.family < b.family;
    return a.bytes < b.bytes;
  }
};

// Port of an AF_INET/AF_INET6 sockaddr (0 for anything else).
uint16_t PortOf(const sockaddr_storage& sa);
// "192.0.2.1:25", "[2001:db8::1]:25" (the runtime's FormatAddress format).
std::string FormatSockaddr(const sockaddr_storage& sa);
// Numeric "ADDR:PORT" or "[V6ADDR]:PORT"; port 0 allowed.
std::optional<sockaddr_storage> ParseEndpoint(std::string_view text);

class LocalAddresses {
 public:
  static constexpr size_t kMaxEntries = 4096;

  LocalAddresses() = default;

  // `listen`: the relay's listen addresses ("ADDR:PORT", "[V6]:PORT"); a
  // wildcard address (0.0.0.0, ::) adds every interface address with that
  // port. `extra`: further addresses that are this relay (a load balancer's
  // VIP, a NAT address), "ADDR" (any port) or "ADDR:PORT". Start-up only.
  static absl::StatusOr<LocalAddresses> FromConfig(
      const std::vector<std::string>& listen,
      const std::vector<std::string>& extra);

  // port 0 = every port. Silently ignores entries beyond kMaxEntries.
  void Add(const IpAddress& ip, uint16_t port);
  // Adds the address of every local interface (getifaddrs; blocking).
  absl::Status AddInterfaces(uint16_t port);

  bool Contains(const IpAddress& ip, uint16_t port) const;
  bool Contains(const sockaddr_storage& sa) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    IpAddress ip;
    uint16_t port;
  };
  std::vector<Entry> entries_;
};

}  // namespace ringpost::dns
