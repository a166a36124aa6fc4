// relay/delivery/router.h — where a job goes: from its domain to a
// destination (a site of the connection pool) with delivery addresses.
//
//   1. A --route for the domain, else the "*" route (a smarthost): its
//      host (an IP literal) and port. A route's site, once made, is
//      remembered: no key built or looked up per message.
//   2. Otherwise the domain's MX through the process-wide MX cache: a hit
//      answers now; a miss calls back on this shard when the single lookup
//      for the name finishes. The answer's addresses (MX preference order)
//      go to the site named by the answer's site key.
//   Each job gets its destination policy (relay/delivery/policy.h): by its
//   domain's name first, else by its MX hosts, else the default. A site
//   holds one policy's limits, so a policy other than the default is part
//   of the site's key; the job carries the policy's retry schedule.
//   3. No route and no DNS server, no address for the MX hosts, a route
//      host that is not an IP literal, or a DNS failure: the job gets a
//      status for every recipient (delivery::DnsFailureStatus for DNS).
//
// It knows no shard and no pool: it answers through RouterHost.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "dns/mx.h"
#include "dns/mx_cache.h"
#include "relay/config/config.h"
#include "relay/delivery/message.h"
#include "relay/delivery/outcome_policy.h"
#include "relay/delivery/policy.h"
#include "relay/delivery/suspensions.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"

namespace ringpost::outbound {
struct Site;
}

namespace ringpost::delivery {

class RouterHost {
 public:
  // The destination named `key`, made on first use; with `targets`, its
  // addresses (in delivery order), their host names and the TLS level
  // become those. Its limits become `policy`'s.
  virtual outbound::Site* Destination(std::string_view key, const Targets* targets,
                                      const PolicyPtr& policy) = 0;
  virtual void Enqueue(outbound::Site* site, DeliveryJob* job) = 0;
  // The job cannot be routed now (or ever): `status` for every recipient.
  virtual void RouteFailed(DeliveryJob* job, const Status& status, std::string_view text) = 0;
  // Draining: the job is dropped (the spool keeps its message).
  virtual void Drop(DeliveryJob* job) = 0;

 protected:
  ~RouterHost() = default;
};

class Router {
 public:
  // `mx_cache` and `mx` are null when no DNS server is configured.
  Router(const Config* config, int shard, runtime::Loop* loop, dns::MxCache* mx_cache,
         dns::MxSource* mx, RouterHost* host);
  ~Router();

  void Route(DeliveryJob* job);
  // Domains whose jobs are held (ringpostctl suspend); shared, outlives
  // the router. Null: none ever are.
  void SetSuspensions(Suspensions* suspensions) { suspensions_ = suspensions; }
  // Holds `job` until its domain is no longer suspended.
  void Hold(DeliveryJob* job);
  // SIGHUP: the current policy of the entry named `name` (a Policy's
  // name), for the sites made under the previous table.
  const PolicyPtr& PolicyByName(std::string_view name) const { return policies_->ByName(name); }
  // Routes the held jobs of `domain` (every domain when empty) that are no
  // longer suspended; returns their recipients.
  size_t Release(std::string_view domain);
  // Moves the held jobs `take` says yes to into `out`.
  template <typename Pred>
  void TakeHeld(Pred take, std::vector<DeliveryJob*>* out);
  template <typename Fn>
  void ForEachHeld(Fn fn) const {
    for (const auto& [domain, jobs] : held_) {
      for (const DeliveryJob* job : jobs) fn(*job);
    }
  }
  void StartDrain() { draining_ = true; }
  // SIGHUP: the config it points to changed. Routes are looked up afresh
  // (the sites found for the old ones keep the jobs already queued on
  // them); TLS levels and destination policies apply to the next job
  // routed.
  void Reconfigure();
  // After the loop stopped: frees the jobs whose MX lookup never answered.
  void FreeWaiting();

 private:
  void Resolved(DeliveryJob* job, const dns::MxResult& r);
  // The job's policy by its domain's name (null: none names it).
  const PolicyPtr* DomainPolicy(const DeliveryJob& job) const {
    return policies_->ForDomain(job.domain);
  }
  TlsLevel LevelFor(const Policy& policy, std::string_view domain) const;

  const Config* config_;
  int shard_;
  runtime::Loop* loop_;
  dns::MxCache* mx_cache_;
  dns::MxSource* mx_;
  RouterHost* host_;
  static constexpr size_t kTlsLevels = 4;     // TlsLevel's values
  std::vector<outbound::Site*> route_sites_;  // per routes entry and TLS level, once known
  Targets targets_;                 // scratch for Resolved
  std::vector<std::string_view> mx_hosts_;  // scratch for Resolved
  std::unique_ptr<PolicyTable> policies_;
  absl::flat_hash_set<DeliveryJob*> waiting_dns_;  // jobs whose MX lookup runs
  bool draining_ = false;
  Suspensions* suspensions_ = nullptr;
  // Held jobs by domain; while there are any, a timer releases those whose
  // suspension ran out, once a second.
  absl::flat_hash_map<std::string, std::vector<DeliveryJob*>> held_;
  runtime::Timer held_timer_;
};

template <typename Pred>
void Router::TakeHeld(Pred take, std::vector<DeliveryJob*>* out) {
  for (auto it = held_.begin(); it != held_.end();) {
    std::vector<DeliveryJob*>& jobs = it->second;
    auto keep = std::partition(jobs.begin(), jobs.end(),
                               [&take](DeliveryJob* j) { return !take(*j); });
    out->insert(out->end(), keep, jobs.end());
    jobs.erase(keep, jobs.end());
    if (jobs.empty()) {
      held_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace ringpost::delivery
