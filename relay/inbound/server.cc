// server.cc — see server.h.
#include "relay/inbound/server.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <utility>

namespace ringpost::inbound {
namespace {

std::string PeerAddress(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

bool RelayAllowed(const Config& config, int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  for (const Cidr& c : config.relay_networks) {
    if (c.Contains(ss)) return true;
  }
  return false;
}

}  // namespace

Server::Server(const Config* config, ConnectionContext context, ClientCounter* clients,
               std::atomic<int>* connections)
    : config_(config), context_(std::move(context)), clients_(clients), connections_(connections) {}

Server::~Server() = default;

absl::Status Server::Listen() {
  for (const std::string& listen : config_->listen) {
    auto addr = runtime::ParseHostPort(listen);
    if (!addr.ok()) return addr.status();
    auto l = runtime::Listener::Create(context_.loop, *addr, 4096,
                                       [this](int fd) { Accept(fd); });
    if (!l.ok()) return l.status();
    ports_.push_back((*l)->port());
    listeners_.push_back(std::move(*l));
  }
  return absl::OkStatus();
}

uint16_t Server::port(size_t listener) const {
  return listener < ports_.size() ? ports_[listener] : 0;
}

void Server::Accept(int fd) {
  std::string ip = PeerAddress(fd);
  const bool relay = RelayAllowed(*config_, fd);
  auto* conn = new Connection(&context_, this, fd, ip, relay);
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
  if (!clients_->TryAdd(ip, config_->max_connections_per_client)) {
    connections_->fetch_sub(1);
    conn->Refuse("421 4.7.0 " + host + " Error: too many connections from your address\r\n");
    return;
  }
  conn->Start();
}

void Server::ConnectionClosed(Connection* conn) {
  conns_.erase(conn);
  if (!conn->refused()) {
    clients_->Remove(conn->ip());
    connections_->fetch_sub(1);
  }
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
