// relay/outbound/pool.h — the destinations one shard owns and their
// connection pools.
//
// A Site is one destination: a route's host, or the set of MX hosts a
// domain resolves to (domains whose MX hosts resolve to the same addresses
// share one site: one queue, one pool, one set of limits). It holds the
// ready queue of jobs, the connections (working, parked idle, connecting)
// and the delivery addresses in order (MX preference, then address order).
//
// Kick: parked connections take waiting jobs first; new connections open
// while jobs wait beyond what the connecting ones will carry (a peer with
// PIPELINING and CHUNKING carries outbound_pipeline_depth transactions per
// connection), within the site's destination policy (relay/delivery/
// policy.h): its max_connections and connection pace, counted in a
// delivery::Limiter that every shard sending to the same destination
// shares, so the totals hold for the process. Each job a connection takes
// spends the message pace. A site held back by a pace wakes when the pace
// allows; one that finds the connection budget held by other shards asks
// them to close idle connections (Limiter::Want) and looks again after
// kBudgetPollMs.
//
// Failover (RFC 5321 5.1): a connection that cannot be used (refused, timed
// out, an error greeting) moves the site to its next address; once every
// address failed in a row, the jobs waiting are deferred with a temporary
// status (delivery::AfterConnectFailure and ConnectionFailureStatus decide).
//
// TLS: a connection at level `may` whose handshake fails is not a failed
// address: the host goes on PlaintextHosts for tls_fallback_ttl and the site
// connects to it again at once, in plaintext.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "relay/config/config.h"
#include "relay/delivery/message.h"
#include "relay/delivery/limiter.h"
#include "relay/delivery/outcome_policy.h"
#include "relay/delivery/policy.h"
#include "relay/outbound/connection.h"
#include "relay/runtime/loop.h"

namespace ringpost::outbound {

class Pool;

struct Site {
  // Route "host:port", or the MX site key; + "|tls=LEVEL", + "|policy=MATCH".
  std::string key;
  delivery::PolicyPtr policy;           // its limits
  delivery::Limiter* limiter = nullptr;  // their shared count
  runtime::Timer wake;                   // a pace or the budget allows more
  Pool* pool = nullptr;
  std::vector<sockaddr_storage> addrs;
  std::vector<std::string> names;  // host name of each address
  TlsLevel tls = TlsLevel::kMay;
  size_t current = 0;          // new connections go to addrs[current]
  size_t failed_in_a_row = 0;  // addresses that failed since one worked
  size_t capacity = 1;         // transactions per connection, learned from EHLO
  std::deque<DeliveryJob*> ready;
  size_t ready_rcpts = 0;  // recipients of the jobs in `ready`
  std::vector<Connection*> conns;
  std::vector<Connection*> idle;
  size_t connecting = 0;
};

class PoolHost {
 public:
  // One transaction (or a deferral of the site's queue) ended for `job`;
  // `outcomes` has one entry per job->rcpts. The job is the host's now.
  virtual void Outcomes(DeliveryJob* job, const std::string& peer,
                        std::vector<client::RecipientOutcome>& outcomes) = 0;
  // The destination could not be reached: `status` for every recipient.
  virtual void Deferred(DeliveryJob* job, const std::string& peer,
                        const delivery::Status& status, std::string_view text) = 0;

 protected:
  ~PoolHost() = default;
};

class Pool final : public ConnectionOwner {
 public:
  // `tls`: this shard's outbound TLS context (CA store, session cache).
  // `limiters`: the process's, shared by every shard's pool.
  Pool(runtime::Loop* loop, const Config* config, delivery::Limiters* limiters,
       std::string helo_name, tls::ClientContext* tls, PoolHost* host);
  ~Pool();

  // The site named `key`, made on first use. With `targets`, its addresses
  // become those when they differ (a changed DNS answer restarts failover).
  // Its limits become `policy`'s (a reload's new policy reaches the live
  // connections too).
  Site* Destination(std::string_view key, const Targets* targets,
                    const delivery::PolicyPtr& policy);
  void Enqueue(Site* site, DeliveryJob* job);

  // SIGHUP: each site takes its policy's new version from `current`
  // (by the policy's name): new limits for its live connections too, and
  // a kick, since a raised limit may allow more now.
  void Reconfigure(const std::function<const delivery::PolicyPtr&(std::string_view)>& current);
  // Drain: parked connections quit; no job starts from here on.
  void StartDrain();
  bool Busy() const;  // a transaction is in flight
  bool HasConnections() const;
  // Open outbound connections (connecting included), for /metrics.
  size_t connections() const { return connections_; }
  // Appends (site key, recipients waiting or in flight) for the `n` sites
  // with the most, largest first; sites with none are left out. Walks every
  // site: for a once-a-second publication, not per message.
  void TopSites(size_t n, std::vector<std::pair<std::string, uint64_t>>* out) const;
  // Queue operations (ringpostctl): moves the waiting jobs `take` says yes
  // to into `out`; visits the waiting jobs with their site's policy name.
  template <typename Pred>
  void TakeReady(Pred take, std::vector<DeliveryJob*>* out);
  template <typename Fn>
  void ForEachReady(Fn fn) const {
    for (const auto& [key, site] : sites_) {
      for (const DeliveryJob* job : site->ready) fn(*job, site->policy->name);
    }
  }
  void AbortAll();
  // After the loop stopped: frees the jobs still queued.
  void FreeQueued();

  // ConnectionOwner
  DeliveryJob* NextJob(Connection* conn) override;
  void ConnectionReady(Connection* conn) override;
  void TransactionDone(DeliveryJob* job, const std::string& peer,
                       std::vector<client::RecipientOutcome>& outcomes) override;
  void ConnectionClosed(Connection* conn, bool ever_ready,
                        const client::RecipientOutcome& reason) override;
  bool draining() const override { return draining_; }

 private:
  static constexpr int64_t kBudgetPollMs = 100;

  void Kick(Site* site);
  // Wakes `site` (Kick) in `delay_ns`, unless it wakes sooner already.
  void WakeIn(Site* site, int64_t delay_ns);
  void SetPolicy(Site* site, const delivery::PolicyPtr& policy);
  // Into its site's idle list (once), until Kick gives it work.
  void Park(Connection* conn);
  void DeferQueue(Site* site, const client::RecipientOutcome& reason);

  ConnectionContext context_;
  PlaintextHosts plaintext_hosts_;
  delivery::Limiters* limiters_;
  PoolHost* host_;
  absl::flat_hash_map<std::string, std::unique_ptr<Site>> sites_;
  bool draining_ = false;
  size_t connections_ = 0;
};

template <typename Pred>
void Pool::TakeReady(Pred take, std::vector<DeliveryJob*>* out) {
  for (auto& [key, site] : sites_) {
    std::deque<DeliveryJob*>& ready = site->ready;
    auto keep = std::stable_partition(ready.begin(), ready.end(),
                                      [&take](DeliveryJob* j) { return !take(*j); });
    for (auto it = keep; it != ready.end(); ++it) {
      site->ready_rcpts -= (*it)->rcpts.size();
      out->push_back(*it);
    }
    ready.erase(keep, ready.end());
  }
}

}  // namespace ringpost::outbound
