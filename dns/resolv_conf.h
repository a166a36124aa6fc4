// dns/resolv_conf.h — where the resolver sends its queries.
//
// Either the relay's `dns` setting ("ADDR[:PORT],ADDR[:PORT]...", numeric,
// IPv6 as "[ADDR]:PORT" or bare "ADDR") or, when it is empty,
// /etc/resolv.conf: its `nameserver` lines (at most kMaxServers, like
// glibc's MAXNS but a little more generous) and `options timeout:N
// attempts:N`. Read once at start-up (a blocking file read, before any
// shard runs). A resolv.conf without nameservers means 127.0.0.1:53, as
// for glibc.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ringpost::dns {

inline constexpr size_t kMaxServers = 8;

struct ServerConfig {
  std::vector<sockaddr_storage> servers;
  uint64_t timeout_ms = 0;  // 0: not set (resolv.conf without options)
  uint32_t attempts = 0;    // 0: not set
};

// "127.0.0.1:5353,[::1]:53,192.0.2.1" (default port 53).
absl::StatusOr<std::vector<sockaddr_storage>> ParseServerList(std::string_view list);

// The text of a resolv.conf file.
absl::StatusOr<ServerConfig> ParseResolvConf(std::string_view text);

// `dns_setting` non-empty: ParseServerList; empty: reads `resolv_conf_path`.
absl::StatusOr<ServerConfig> LoadServerConfig(
    std::string_view dns_setting,
    const std::string& resolv_conf_path = "/etc/resolv.conf");

}  // namespace ringpost::dns
