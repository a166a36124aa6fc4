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

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "dns/mx.h"
#include "dns/mx_cache.h"
#include "relay/config/config.h"
#include "relay/delivery/message.h"
#include "relay/delivery/outcome_policy.h"
#include "relay/delivery/policy.h"
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
};

}  // namespace ringpost::delivery
