// pool.cc — see pool.h.
#include "relay/outbound/pool.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "relay/delivery/outcome_policy.h"

namespace ringpost::outbound {

Pool::Pool(runtime::Loop* loop, const Config* config, int shards, std::string helo_name,
           tls::ClientContext* tls, PoolHost* host)
    : shards_(static_cast<size_t>(shards)), host_(host) {
  context_.loop = loop;
  context_.config = config;
  context_.helo_name = std::move(helo_name);
  context_.tls = tls;
  context_.plaintext_hosts = &plaintext_hosts_;
  Reconfigure();
}

Pool::~Pool() = default;

void Pool::Reconfigure() {
  share_ = std::max<size_t>(1, context_.config->max_connections_per_destination / shards_);
}

Site* Pool::Destination(std::string_view key, const Targets* targets) {
  auto it = sites_.find(absl::string_view(key.data(), key.size()));
  if (it == sites_.end()) {
    auto site = std::make_unique<Site>();
    site->key = std::string(key);
    it = sites_.emplace(site->key, std::move(site)).first;
  }
  Site* site = it->second.get();
  // Addresses change only when the DNS does, so a refresh with the same
  // ones keeps the position of the current one.
  if (targets == nullptr) return site;
  CHECK(targets->names.size() == targets->addrs.size());
  const std::vector<sockaddr_storage>& addrs = targets->addrs;
  if (site->addrs.size() != addrs.size() ||
      memcmp(site->addrs.data(), addrs.data(), addrs.size() * sizeof(sockaddr_storage)) != 0) {
    site->addrs = addrs;
    site->current = 0;
    site->failed_in_a_row = 0;
  }
  if (site->names != targets->names) site->names = targets->names;
  site->tls = targets->tls;
  return site;
}

void Pool::Enqueue(Site* site, DeliveryJob* job) {
  CHECK(!site->addrs.empty());
  site->ready.push_back(job);
  site->ready_rcpts += job->rcpts.size();
  Kick(site);
}

void Pool::Kick(Site* site) {
  if (draining_) return;
  // Parked pooled connections first, then new ones up to the share.
  while (!site->ready.empty() && !site->idle.empty()) {
    Connection* conn = site->idle.back();
    site->idle.pop_back();
    conn->parked = false;
    conn->Fill();
  }
  // One new connection per `capacity` waiting jobs (one per job for peers
  // without PIPELINING and CHUNKING).
  while (site->conns.size() < share_ &&
         site->ready.size() > site->connecting * site->capacity) {
    const size_t index = site->current % site->addrs.size();
    auto* conn = new Connection(&context_, this, site->addrs[index], index, site->tls,
                                site->names[index]);
    conn->site = site;
    site->conns.push_back(conn);
    ++connections_;
    ++site->connecting;
    conn->Connect();
  }
}

DeliveryJob* Pool::NextJob(Connection* conn) {
  Site* site = conn->site;
  if (!site->ready.empty() && !draining_) {
    DeliveryJob* job = site->ready.front();
    site->ready.pop_front();
    site->ready_rcpts -= job->rcpts.size();
    return job;
  }
  if (!conn->parked) {
    conn->parked = true;
    site->idle.push_back(conn);
  }
  return nullptr;
}

void Pool::ConnectionReady(Connection* conn) {
  Site* site = conn->site;
  site->capacity = conn->capacity();
  if (site->connecting > 0) --site->connecting;
  site->failed_in_a_row = 0;
}

void Pool::TransactionDone(DeliveryJob* job, const std::string& peer,
                           std::vector<client::RecipientOutcome>& outcomes) {
  host_->Outcomes(job, peer, outcomes);
}

void Pool::ConnectionClosed(Connection* conn, bool ever_ready,
                            const client::RecipientOutcome& reason) {
  Site* site = conn->site;
  auto erase = [conn](std::vector<Connection*>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == conn) {
        v[i] = v.back();
        v.pop_back();
        return;
      }
    }
  };
  erase(site->conns);
  erase(site->idle);
  --connections_;
  if (ever_ready) return Kick(site);
  if (conn->tls_fallback()) {
    // `may` and the handshake failed: the same host again, in plaintext
    // (PlaintextHosts says so now), not the next address.
    if (site->connecting > 0) --site->connecting;
    return Kick(site);
  }
  if (site->connecting > 0) --site->connecting;
  // Concurrent attempts to the same address count as one failure.
  if (site->conns.size() == site->connecting && site->current == conn->addr_index()) {
    ++site->failed_in_a_row;
    site->current = (site->current + 1) % site->addrs.size();
  }
  delivery::SiteState state;
  state.addresses = site->addrs.size();
  state.failed_in_a_row = site->failed_in_a_row;
  state.connecting = site->connecting;
  state.working = site->conns.size() - site->connecting;
  switch (delivery::AfterConnectFailure(state)) {
    case delivery::SiteAction::kKeepGoing:  // the working connections take the queue
    case delivery::SiteAction::kWait:
      return;
    case delivery::SiteAction::kNextAddress:
      return Kick(site);
    case delivery::SiteAction::kDeferQueue:
      // Retried with backoff instead of hammering a dead destination.
      site->failed_in_a_row = 0;
      return DeferQueue(site, reason);
  }
}

void Pool::DeferQueue(Site* site, const client::RecipientOutcome& reason) {
  const delivery::Status status = delivery::ConnectionFailureStatus(reason.code, reason.enhanced);
  std::deque<DeliveryJob*> jobs;
  jobs.swap(site->ready);
  site->ready_rcpts = 0;
  for (DeliveryJob* job : jobs) host_->Deferred(job, site->key, status, reason.text);
}

void Pool::StartDrain() {
  draining_ = true;
  for (auto& [key, site] : sites_) {
    std::vector<Connection*> idle;
    idle.swap(site->idle);
    for (Connection* c : idle) c->Quit();
  }
}

bool Pool::Busy() const {
  for (const auto& [key, site] : sites_) {
    for (const Connection* c : site->conns) {
      if (c->busy()) return true;
    }
  }
  return false;
}

bool Pool::HasConnections() const {
  for (const auto& [key, site] : sites_) {
    if (!site->conns.empty()) return true;
  }
  return false;
}

void Pool::TopSites(size_t n, std::vector<std::pair<std::string, uint64_t>>* out) const {
  const size_t first = out->size();
  for (const auto& [key, site] : sites_) {
    uint64_t depth = site->ready_rcpts;
    for (const Connection* c : site->conns) depth += c->in_flight_recipients();
    if (depth > 0) out->emplace_back(key, depth);
  }
  auto deeper = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (out->size() - first > n) {
    std::partial_sort(out->begin() + static_cast<ptrdiff_t>(first),
                      out->begin() + static_cast<ptrdiff_t>(first + n), out->end(), deeper);
    out->resize(first + n);
  } else {
    std::sort(out->begin() + static_cast<ptrdiff_t>(first), out->end(), deeper);
  }
}

void Pool::AbortAll() {
  for (auto& [key, site] : sites_) {
    std::vector<Connection*> conns = site->conns;
    for (Connection* c : conns) c->Abort();
  }
}

void Pool::FreeQueued() {
  for (auto& [key, site] : sites_) {
    for (DeliveryJob* job : site->ready) delete job;
    site->ready.clear();
    site->ready_rcpts = 0;
  }
}

}  // namespace ringpost::outbound
