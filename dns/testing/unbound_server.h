// dns/testing/unbound_server.h — a real Debian unbound on a loopback port,
// for integration tests and the resolver benchmark.
//
// Start() writes a config into a fresh temporary directory (no root trust
// anchor: module-config "iterator" only; do-not-query-localhost: no;
// access from 127.0.0.0/8), adds the caller's `server:` lines (local-zone,
// local-data, ...), picks a port free for both UDP and TCP on 127.0.0.1,
// launches /usr/sbin/unbound in the foreground as a child process and
// waits (bounded, 15 s) until it answers a query. A missing unbound binary
// is an error naming the package to install; tests must fail on it, not
// skip. The destructor stops that child by its PID (SIGTERM, then SIGKILL
// after 5 s) and removes the directory.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ringpost::dns::testing {

class UnboundServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/unbound";

  static absl::StatusOr<std::unique_ptr<UnboundServer>> Start(
      const std::vector<std::string>& server_lines);
  ~UnboundServer();
  UnboundServer(const UnboundServer&) = delete;
  UnboundServer& operator=(const UnboundServer&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT"
  sockaddr_storage endpoint() const;
  pid_t pid() const { return pid_; }
  std::string log() const;  // unbound's output so far

 private:
  UnboundServer() = default;
  absl::Status Launch(const std::vector<std::string>& server_lines);
  bool Answers() const;
  void Stop();

  std::string dir_;
  std::string log_path_;
  std::string conf_path_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ringpost::dns::testing
