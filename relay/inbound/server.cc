// server.cc — see server.h.
#include "relay/inbound/server.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <utility>

#include "absl/algorithm/container.h"

namespace ringpost::inbound {
namespace {

bool InNetworks(const std::vector<Cidr>& networks, const sockaddr_storage& addr) {
  for (const Cidr& c : networks) {
    if (c.Contains(addr)) return true;
  }
  return false;
}

sockaddr_storage PeerOf(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) ss.ss_family = AF_UNSPEC;
  return ss;
}

}  // namespace

Server::Server(const Config* config, ConnectionContext context, ClientCounter* clients,
               std::atomic<int>* connections)
    : config_(config), context_(std::move(context)), clients_(clients), connections_(connections) {
  SetTimeouts();
}

Server::~Server() = default;

void Server::SetTimeouts() {
  auto ms = [](absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Milliseconds(d)); };
  context_.idle_timeout_ms = ms(config_->idle_timeout);
  context_.session_timeout_ms = ms(config_->session_timeout);
  context_.tls_handshake_timeout_ms = ms(config_->tls_handshake_timeout);
  context_.auth_failure_delay_ms = ms(config_->auth_failure_delay);
  context_.proxy_timeout_ms = ms(config_->proxy_timeout);
}

void Server::Reconfigure(std::shared_ptr<const server::SessionLimits> limits,
                         Authenticator* auth) {
  context_.limits = std::move(limits);
  context_.auth = auth;
  SetTimeouts();
}

absl::Status Server::Listen() {
  // Each listener keeps its configured name: require_tls and require_auth
  // are looked up by it at accept, so a reload can change them.
  auto open = [this](const std::string& listen, bool implicit_tls) -> absl::Status {
    auto addr = runtime::ParseHostPort(listen);
    if (!addr.ok()) return addr.status();
    auto l = runtime::Listener::Create(
        context_.loop, *addr, 4096,
        [this, listen, implicit_tls](int fd) { Accept(fd, listen, implicit_tls); });
    if (!l.ok()) return l.status();
    ports_.push_back((*l)->port());
    listeners_.push_back(std::move(*l));
    return absl::OkStatus();
  };
  for (const std::string& listen : config_->listen) {
    if (absl::Status s = open(listen, false); !s.ok()) return s;
  }
  for (const std::string& listen : config_->listen_tls) {
    if (absl::Status s = open(listen, true); !s.ok()) return s;
  }
  return absl::OkStatus();
}

uint16_t Server::port(size_t listener) const {
  return listener < ports_.size() ? ports_[listener] : 0;
}

void Server::Accept(int fd, const std::string& listen, bool implicit_tls) {
  ListenerMode mode;
  mode.implicit_tls = implicit_tls;
  mode.require_tls = absl::c_linear_search(config_->require_tls, listen);
  mode.require_auth = absl::c_linear_search(config_->require_auth, listen);
  const sockaddr_storage peer = PeerOf(fd);
  std::string ip = runtime::FormatHost(peer);
  const bool relay = InNetworks(config_->relay_networks, peer);
  // A load balancer's connection: the client it carries is counted once its
  // PROXY header names it (ClientIdentified).
  mode.proxy_header = InNetworks(config_->proxy_trusted, peer);
  auto* conn = new Connection(&context_, this, fd, ip, relay, mode);
  conns_.insert(conn);
  const std::string& host = context_.hostname;
  if (draining_) {
    conn->Refuse("421 4.3.2 " + host + " Service shutting down\r\n");
    return;
  }
  if (static_cast<size_t>(connections_->fetch_add(1)) >= config_->max_connections) {
    connections_->fetch_sub(1);
    conn->Refuse("421 4.7.0 " + host + " Error: too many connections\r\n");
    return;
  }
  if (!mode.proxy_header) {
    if (!clients_->TryAdd(ip, config_->max_connections_per_client)) {
      connections_->fetch_sub(1);
      conn->Refuse("421 4.7.0 " + host + " Error: too many connections from your address\r\n");
      return;
    }
    conn->set_counted_ip(ip);
  }
  conn->Start();
}

bool Server::ClientIdentified(Connection* conn, const sockaddr_storage& client,
                              bool* relay_allowed) {
  *relay_allowed = InNetworks(config_->relay_networks, client);
  if (!clients_->TryAdd(conn->ip(), config_->max_connections_per_client)) return false;
  conn->set_counted_ip(conn->ip());
  return true;
}

void Server::ConnectionClosed(Connection* conn) {
  conns_.erase(conn);
  if (!conn->counted_ip().empty()) clients_->Remove(conn->counted_ip());
  if (!conn->refused()) connections_->fetch_sub(1);
}

void Server::StartDrain() {
  draining_ = true;
  for (auto& l : listeners_) l->Close();
  std::vector<Connection*> conns(conns_.begin(), conns_.end());
  for (Connection* c : conns) c->Shutdown();
}

bool Server::AwaitingCommits() const {
  for (const Connection* c : conns_) {
    if (c->awaiting_commit()) return true;
  }
  return false;
}

void Server::AbortAll() {
  std::vector<Connection*> conns(conns_.begin(), conns_.end());
  for (Connection* c : conns) c->Abort();
}

}  // namespace ringpost::inbound
