// pool.cc — see pool.h.
#include "relay/outbound/pool.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "relay/delivery/outcome_policy.h"

namespace ringpost::outbound {

Pool::Pool(runtime::Loop* loop, const Config* config, delivery::Limiters* limiters,
           std::string helo_name, tls::ClientContext* tls, PoolHost* host)
    : limiters_(limiters), host_(host) {
  context_.loop = loop;
  context_.config = config;
  context_.helo_name = std::move(helo_name);
  context_.tls = tls;
  context_.plaintext_hosts = &plaintext_hosts_;
}

Pool::~Pool() {
  for (auto& [key, site] : sites_) context_.loop->timers().Disarm(&site->wake);
}

void Pool::Reconfigure(
    const std::function<const delivery::PolicyPtr&(std::string_view)>& current) {
  for (auto& [key, site] : sites_) {
    const delivery::PolicyPtr& policy = current(site->policy->name);
    if (policy == site->policy) continue;
    SetPolicy(site.get(), policy);
    if (!site->ready.empty()) Kick(site.get());
  }
}

void Pool::SetPolicy(Site* site, const delivery::PolicyPtr& policy) {
  site->policy = policy;
  site->limiter = limiters_->Get(policy->shared ? "mx:" + policy->name : site->key);
  for (Connection* c : site->conns) {
    c->SetLimits(policy->max_messages_per_connection, policy->max_recipients_per_transaction);
  }
}

Site* Pool::Destination(std::string_view key, const Targets* targets,
                        const delivery::PolicyPtr& policy) {
  auto it = sites_.find(absl::string_view(key.data(), key.size()));
  if (it == sites_.end()) {
    auto site = std::make_unique<Site>();
    site->key = std::string(key);
    site->pool = this;
    site->wake.context = site.get();
    site->wake.callback = [](runtime::Timer* t) {
      auto* s = static_cast<Site*>(t->context);
      s->pool->Kick(s);
    };
    it = sites_.emplace(site->key, std::move(site)).first;
  }
  Site* site = it->second.get();
  // New, or a reload changed the policy: its limits hold from now on, for
  // the live connections too.
  if (site->policy != policy) SetPolicy(site, policy);
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

void Pool::WakeIn(Site* site, int64_t delay_ns) {
  runtime::Loop* loop = context_.loop;
  // Rounded up: a pace is never woken before it allows.
  const uint64_t at = loop->now_ms() + static_cast<uint64_t>((delay_ns + 999'999) / 1'000'000);
  if (site->wake.armed() && site->wake.deadline_ms() <= at) return;
  loop->timers().Arm(&site->wake, at);
}

void Pool::Kick(Site* site) {
  if (draining_) return;
  // Parked pooled connections first (each job they take spends the
  // message pace: NextJob), then new ones within the policy.
  while (!site->ready.empty() && !site->idle.empty()) {
    Connection* conn = site->idle.back();
    site->idle.pop_back();
    conn->parked = false;
    conn->Fill();
    if (site->wake.armed()) break;  // paced: the rest wait for the wake
  }
  const delivery::Policy& policy = *site->policy;
  // One new connection per `capacity` waiting jobs (one per job for peers
  // without PIPELINING and CHUNKING).
  while (site->ready.size() > site->connecting * site->capacity &&
         site->conns.size() < policy.max_connections) {
    const int64_t wait =
        site->limiter->OpenConnection(policy, static_cast<int64_t>(context_.loop->now_ns()));
    if (wait == delivery::Limiter::kFull) {
      // Held by other shards (this site's own closes kick it): ask them to
      // let idle connections go, and look again.
      if (site->conns.empty()) {
        site->limiter->Want();
        WakeIn(site, kBudgetPollMs * 1'000'000);
      }
      break;
    }
    if (wait > 0) {
      WakeIn(site, wait);
      break;
    }
    const size_t index = site->current % site->addrs.size();
    auto* conn = new Connection(&context_, this, site->addrs[index], index, site->tls,
                                site->names[index]);
    conn->site = site;
    conn->limiter = site->limiter;
    conn->SetLimits(policy.max_messages_per_connection, policy.max_recipients_per_transaction);
    site->conns.push_back(conn);
    ++connections_;
    ++site->connecting;
    conn->Connect();
  }
}

DeliveryJob* Pool::NextJob(Connection* conn) {
  Site* site = conn->site;
  if (!site->ready.empty() && !draining_) {
    const int64_t wait = site->limiter->TakeMessage(
        site->policy->message_pace, static_cast<int64_t>(context_.loop->now_ns()));
    if (wait > 0) {
      WakeIn(site, wait);
      Park(conn);
      return nullptr;
    }
    DeliveryJob* job = site->ready.front();
    site->ready.pop_front();
    site->ready_rcpts -= job->rcpts.size();
    return job;
  }
  if (!conn->parked) {
    // Nothing to do. Another shard waits for this destination's budget:
    // let it have the slot rather than park (an idle connection that is
    // still busy with replies parks).
    if (!conn->busy() && site->limiter->TakeWanted()) {
      conn->Quit();
      return nullptr;
    }
    Park(conn);
  }
  return nullptr;
}

void Pool::Park(Connection* conn) {
  if (conn->parked) return;
  conn->parked = true;
  conn->site->idle.push_back(conn);
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
  conn->limiter->CloseConnection();
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
