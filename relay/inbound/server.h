// relay/inbound/server.h — the SMTP server side of one shard: its listening
// sockets (SO_REUSEPORT, multishot accept), the connections it accepted, and
// the connection limits (max_connections across the process,
// max_connections_per_client per address, both counted exactly across
// shards), refused with a 421 before the session starts.
//
// Drain: StartDrain closes the listeners and asks every session to end
// with 421 at its next opportunity (a message being received is finished
// first); AbortAll closes what is left at the end.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "relay/config/config.h"
#include "relay/inbound/client_counter.h"
#include "relay/inbound/connection.h"
#include "relay/runtime/stream.h"

namespace ringpost::inbound {

class Server final : public ConnectionOwner {
 public:
  // `clients` and `connections` are shared by every shard's Server. The
  // context's timeouts are filled in from `config`.
  Server(const Config* config, ConnectionContext context, ClientCounter* clients,
         std::atomic<int>* connections);
  ~Server();

  // Opens config->listen's then config->listen_tls's sockets on the
  // context's loop (port(i) counts them in that order).
  absl::Status Listen();
  uint16_t port(size_t listener) const;
  size_t connections() const { return conns_.size(); }

  // SIGHUP: the config it points to changed. New connections get `limits`
  // and `auth`, relay_networks, proxy_trusted, require_tls, require_auth
  // and the connection limits; every connection gets the new timeouts.
  void Reconfigure(std::shared_ptr<const server::SessionLimits> limits, Authenticator* auth);

  void StartDrain();
  // Whether a connection still waits for the spool's answer.
  bool AwaitingCommits() const;
  bool empty() const { return conns_.empty(); }
  void AbortAll();

  void ConnectionClosed(Connection* conn) override;
  bool ClientIdentified(Connection* conn, const sockaddr_storage& client,
                        bool* relay_allowed) override;

 private:
  void SetTimeouts();
  void Accept(int fd, const std::string& listen, bool implicit_tls);

  const Config* config_;
  ConnectionContext context_;
  ClientCounter* clients_;
  std::atomic<int>* connections_;
  std::vector<std::unique_ptr<runtime::Listener>> listeners_;
  std::vector<uint16_t> ports_;
  absl::flat_hash_set<Connection*> conns_;
  bool draining_ = false;
};

}  // namespace ringpost::inbound
