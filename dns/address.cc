// dns/address.cc — see address.h.
#include "dns/address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"

namespace ringpost::dns {

IpAddress IpAddress::V4(const uint8_t (&b)[4]) {
  IpAddress ip;
  ip.family = AF_INET;
  std::memcpy(ip.bytes.data(), b, 4);
  return ip;
}

IpAddress IpAddress::V6(const uint8_t (&b)[16]) {
  IpAddress ip;
  ip.family = AF_INET6;
  std::memcpy(ip.bytes.data(), b, 16);
  return ip;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr_storage& sa) {
  IpAddress ip;
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    ip.family = AF_INET;
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    ip.family = AF_INET6;
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

bool IpAddress::is_unspecified() const {
  const size_t n = family == AF_INET ? 4 : 16;
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return valid();
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!valid()) return "";
  inet_ntop(family, bytes.data(), buf, sizeof(buf));
  return buf;
}

sockaddr_storage IpAddress::ToSockaddr(uint16_t port) const {
  sockaddr_storage sa = {};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, bytes.data(), 4);
  } else if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, bytes.data(), 16);
  }
  return sa;
}

uint16_t PortOf(const sockaddr_storage& sa) {
  if (sa.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&sa)->sin_port);
  }
  if (sa.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_port);
  }
  return 0;
}

std::string FormatSockaddr(const sockaddr_storage& sa) {
  auto ip = IpAddress::FromSockaddr(sa);
  if (!ip) return "?";
  const std::string port = std::to_string(PortOf(sa));
  return ip->is_v6() ? "[" + ip->ToString() + "]:" + port : ip->ToString() + ":" + port;
}

std::optional<sockaddr_storage> ParseEndpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs []
  }
  uint32_t p = 0;
  if (port.empty() || port.size() > 5 ||
      !absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &p) || p > 65535) {
    return std::nullopt;
  }
  auto ip = IpAddress::Parse(host);
  if (!ip) return std::nullopt;
  if ((text.front() == '[') != ip->is_v6()) return std::nullopt;
  return ip->ToSockaddr(static_cast<uint16_t>(p));
}

absl::StatusOr<LocalAddresses> LocalAddresses::FromConfig(
    const std::vector<std::string>& listen, const std::vector<std::string>& extra) {
  LocalAddresses local;
  for (const std::string& text : listen) {
    auto sa = ParseEndpoint(text);
    if (!sa) {
      return absl::InvalidArgumentError("listen address '" + text +
                                        "' is not numeric ADDR:PORT");
    }
    auto ip = IpAddress::FromSockaddr(*sa);
    if (!ip) return absl::InvalidArgumentError("listen address '" + text + "'");
    if (ip->is_unspecified()) {
      if (absl::Status s = local.AddInterfaces(PortOf(*sa)); !s.ok()) return s;
    } else {
      local.Add(*ip, PortOf(*sa));
    }
  }
  for (const std::string& text : extra) {
    if (auto ip = IpAddress::Parse(text)) {
      local.Add(*ip, 0);
      continue;
    }
    auto sa = ParseEndpoint(text);
    auto ip = sa ? IpAddress::FromSockaddr(*sa) : std::nullopt;
    if (!ip) {
      return absl::InvalidArgumentError("local address '" + text +
                                        "' is neither ADDR nor ADDR:PORT");
    }
    local.Add(*ip, PortOf(*sa));
  }
  return local;
}

void LocalAddresses::Add(const IpAddress& ip, uint16_t port) {
  if (!ip.valid() || entries_.size() >= kMaxEntries) return;
  for (const Entry& e : entries_) {
    if (e.ip == ip && e.port == port) return;
  }
  entries_.push_back({ip, port});
}

absl::Status LocalAddresses::AddInterfaces(uint16_t port) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return absl::InternalError(std::string("getifaddrs: ") + std::strerror(errno));
  }
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    sockaddr_storage sa = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      std::memcpy(&sa, i->ifa_addr, sizeof(sockaddr_in));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(&sa, i->ifa_addr, sizeof(sockaddr_in6));
    } else {
      continue;
    }
    if (auto ip = IpAddress::FromSockaddr(sa)) Add(*ip, port);
  }
  freeifaddrs(list);
  return absl::OkStatus();
}

bool LocalAddresses::Contains(const IpAddress& ip, uint16_t port) const {
  for (const Entry& e : entries_) {
    if (e.ip == ip && (e.port == 0 || e.port == port)) return true;
  }
  return false;
}

bool LocalAddresses::Contains(const sockaddr_storage& sa) const {
  auto ip = IpAddress::FromSockaddr(sa);
  return ip && Contains(*ip, PortOf(sa));
}

}  // namespace ringpost::dns
