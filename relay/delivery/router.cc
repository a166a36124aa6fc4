// router.cc — see router.h.
#include "relay/delivery/router.h"

#include <string>

namespace ringpost::delivery {
namespace {

// A site's key: `base` (the route's host:port, the MX site key), with the
// TLS level when it is not the default and the policy when one named the
// domain: a site's connections speak one level under one policy's limits.
std::string SiteKey(std::string base, TlsLevel level, TlsLevel default_level,
                    const Policy* named) {
  if (level != default_level) base += "|tls=" + std::string(TlsLevelName(level));
  if (named != nullptr) base += "|policy=" + named->name;
  return base;
}

}  // namespace

Router::Router(const Config* config, int shard, runtime::Loop* loop, dns::MxCache* mx_cache,
               dns::MxSource* mx, RouterHost* host)
    : config_(config),
      shard_(shard),
      loop_(loop),
      mx_cache_(mx_cache),
      mx_(mx),
      host_(host),
      route_sites_(config->routes.size() * kTlsLevels, nullptr),
      policies_(std::make_unique<PolicyTable>(*config)) {
  held_timer_.context = this;
  held_timer_.callback = [](runtime::Timer* t) {
    auto* router = static_cast<Router*>(t->context);
    router->Release("");
  };
}

Router::~Router() { loop_->timers().Disarm(&held_timer_); }

void Router::Hold(DeliveryJob* job) {
  held_[job->domain].push_back(job);
  if (!held_timer_.armed()) loop_->timers().Arm(&held_timer_, loop_->now_ms() + 1000);
}

size_t Router::Release(std::string_view domain) {
  std::vector<DeliveryJob*> go;
  const int64_t now = loop_->wall_ms();
  TakeHeld(
      [&](const DeliveryJob& j) {
        return (domain.empty() || j.domain == domain) &&
               (suspensions_ == nullptr || !suspensions_->Held(j.domain, now));
      },
      &go);
  size_t rcpts = 0;
  for (DeliveryJob* job : go) {
    rcpts += job->rcpts.size();
    Route(job);
  }
  if (!held_.empty() && !held_timer_.armed()) {
    loop_->timers().Arm(&held_timer_, loop_->now_ms() + 1000);
  }
  return rcpts;
}

void Router::Reconfigure() {
  route_sites_.assign(config_->routes.size() * kTlsLevels, nullptr);
  policies_ = std::make_unique<PolicyTable>(*config_);
}

void Router::FreeWaiting() {
  for (DeliveryJob* job : waiting_dns_) delete job;  // their callbacks never run
  waiting_dns_.clear();
  for (auto& [domain, jobs] : held_) {
    for (DeliveryJob* job : jobs) delete job;
  }
  held_.clear();
  loop_->timers().Disarm(&held_timer_);
}

// The policy's own level, else the domain's outbound_tls_policy entry or
// outbound_tls.
TlsLevel Router::LevelFor(const Policy& policy, std::string_view domain) const {
  return policy.tls ? *policy.tls : TlsLevelFor(*config_, domain);
}

void Router::Route(DeliveryJob* job) {
  if (draining_) return host_->Drop(job);
  if (suspensions_ != nullptr && suspensions_->Held(job->domain, loop_->wall_ms())) {
    return Hold(job);
  }
  const std::vector<ringpost::Route>& routes = config_->routes;
  const ringpost::Route* route = nullptr;
  for (const ringpost::Route& r : routes) {
    if (r.domain == job->domain) {
      route = &r;
      break;
    }
  }
  if (route == nullptr) {
    for (const ringpost::Route& r : routes) {
      if (r.domain == "*") {
        route = &r;
        break;
      }
    }
  }
  const PolicyPtr* named = DomainPolicy(*job);
  const PolicyPtr& policy = named != nullptr ? *named : policies_->Default();
  job->retry = policy->retry;
  const TlsLevel level = LevelFor(*policy, job->domain);
  if (route != nullptr) {
    // One site per route and TLS level under the default policy, found
    // once; a named policy's site per route, policy and level.
    outbound::Site** known =
        named != nullptr ? nullptr
                         : &route_sites_[static_cast<size_t>(route - routes.data()) * kTlsLevels +
                                         static_cast<size_t>(level)];
    if (known == nullptr || *known == nullptr) {
      const std::string host_port = route->host + ":" + std::to_string(route->port);
      const std::string literal = route->host.find(':') != std::string::npos
                                      ? "[" + route->host + "]:" + std::to_string(route->port)
                                      : host_port;
      auto addr = runtime::ParseHostPort(literal);
      if (!addr.ok()) {
        return host_->RouteFailed(job, Status{451, "4.4.4"},
                                  "route host " + route->host + " is not an IP address literal");
      }
      Targets targets;
      targets.addrs = {*addr};
      targets.names = {route->host};
      targets.tls = level;
      outbound::Site* site = host_->Destination(
          SiteKey(host_port, level, config_->outbound_tls, named ? named->get() : nullptr),
          &targets, policy);
      if (known == nullptr) return host_->Enqueue(site, job);
      *known = site;
    }
    return host_->Enqueue(*known, job);
  }
  if (mx_cache_ == nullptr) {
    return host_->RouteFailed(
        job, Status{451, "4.4.4"},
        "no route to " + job->domain + ": no --route for it and no DNS server configured");
  }
  // MX lookup through the shared cache: a hit answers now; a miss calls
  // back on this shard once the (single) lookup for the name finishes.
  waiting_dns_.insert(job);
  dns::MxResultPtr hit = mx_cache_->Lookup(
      shard_, job->domain, loop_->now_ms(), mx_, [this, job](dns::MxResultPtr r) {
        waiting_dns_.erase(job);
        Resolved(job, *r);
      });
  if (hit != nullptr) {
    waiting_dns_.erase(job);
    Resolved(job, *hit);
  }
}

void Router::Resolved(DeliveryJob* job, const dns::MxResult& r) {
  if (draining_) return host_->Drop(job);
  if (r.status != dns::MxStatus::kOk) {
    // Permanent (NXDOMAIN 5.1.2, null MX 5.1.10, mail loop 5.4.6) bounces;
    // temporary (SERVFAIL, timeout) is retried with backoff.
    return host_->RouteFailed(
        job, DnsFailureStatus(r.status == dns::MxStatus::kPermanent, r.code, r.enhanced), r.text);
  }
  Targets& targets = targets_;  // reused: no allocation once warm
  targets.addrs.clear();
  targets.names.clear();
  for (const dns::MxHost& h : r.hosts) {
    for (const sockaddr_storage& a : h.addresses) {
      targets.addrs.push_back(a);
      targets.names.push_back(h.name);
    }
  }
  if (targets.addrs.empty()) {
    return host_->RouteFailed(job, Status{451, "4.4.3"},
                              "no address for the MX hosts of " + job->domain);
  }
  // By the domain's name, else by its MX hosts (mx: entries), else the
  // default.
  const PolicyPtr* named = DomainPolicy(*job);
  if (named == nullptr && policies_->has_mx_entries()) {
    mx_hosts_.clear();
    for (const dns::MxHost& h : r.hosts) mx_hosts_.push_back(h.name);
    named = policies_->ForMxHosts(mx_hosts_);
  }
  const PolicyPtr& policy = named != nullptr ? *named : policies_->Default();
  job->retry = policy->retry;
  targets.tls = LevelFor(*policy, job->domain);
  if (named == nullptr && targets.tls == config_->outbound_tls) {
    return host_->Enqueue(host_->Destination(r.site_key, &targets, policy), job);  // no copy
  }
  host_->Enqueue(host_->Destination(SiteKey(r.site_key, targets.tls, config_->outbound_tls,
                                            named != nullptr ? named->get() : nullptr),
                                    &targets, policy),
                 job);
}

}  // namespace ringpost::delivery
