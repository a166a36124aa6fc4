// dns/mx.cc — see mx.h for the rules.
#include "dns/mx.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace ringpost::dns {
namespace {

// Results that are not kOk carry no hosts and no site key.
MxResult Failure(std::string_view domain, MxStatus status, int code,
                 std::string enhanced, std::string text, uint32_t ttl_s) {
  MxResult r;
  r.status = status;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.text = std::move(text);
  r.ttl_s = ttl_s;
  r.domain = std::string(domain);
  return r;
}

MxResult Temporary(std::string_view domain, std::string text) {
  return Failure(domain, MxStatus::kTemporary, 451, "4.4.3", std::move(text), 0);
}

bool SameAddress(const sockaddr_storage& a, const sockaddr_storage& b) {
  auto x = IpAddress::FromSockaddr(a);
  auto y = IpAddress::FromSockaddr(b);
  return x && y && *x == *y && PortOf(a) == PortOf(b);
}

std::string SiteKey(const std::vector<MxHost>& hosts) {
  std::vector<std::string> all;
  for (const MxHost& h : hosts) {
    for (const sockaddr_storage& sa : h.addresses) all.push_back(FormatSockaddr(sa));
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::string key;
  for (const std::string& s : all) {
    if (!key.empty()) key.push_back(',');
    key += s;
  }
  return key;
}

// Drops hosts at or below the preference of the best host that is this
// relay (RFC 5321 5.1). Returns true when something was dropped.
bool DropSelfAndWorse(std::vector<MxHost>* hosts, const LocalAddresses* local) {
  if (local == nullptr || local->size() == 0) return false;
  bool found = false;
  uint16_t self_pref = 0;
  for (const MxHost& h : *hosts) {
    for (const sockaddr_storage& sa : h.addresses) {
      if (local->Contains(sa) && (!found || h.preference < self_pref)) {
        found = true;
        self_pref = h.preference;
      }
    }
  }
  if (!found) return false;
  hosts->erase(std::remove_if(hosts->begin(), hosts->end(),
                              [self_pref](const MxHost& h) {
                                return h.preference >= self_pref;
                              }),
               hosts->end());
  return true;
}

MxResult LoopResult(std::string_view domain) {
  return Failure(domain, MxStatus::kPermanent, 554, "5.4.6",
                 "mail for " + std::string(domain) + " loops back to myself", 0);
}

MxResult Finalize(std::string_view domain, std::vector<MxHost> hosts,
                  const MxOptions& options, uint32_t ttl_s, bool implicit) {
  if (DropSelfAndWorse(&hosts, options.local.get()) && hosts.empty()) {
    MxResult r = LoopResult(domain);
    r.ttl_s = ttl_s;
    return r;
  }
  MxResult r;
  r.status = MxStatus::kOk;
  r.code = 250;
  r.enhanced = "2.0.0";
  r.text = implicit ? "implicit MX" : "MX";
  r.domain = std::string(domain);
  r.ttl_s = ttl_s;
  r.implicit_mx = implicit;
  r.hosts = std::move(hosts);
  r.site_key = SiteKey(r.hosts);
  return r;
}

}  // namespace

std::string_view MxStatusName(MxStatus s) {
  switch (s) {
    case MxStatus::kOk:
      return "ok";
    case MxStatus::kTemporary:
      return "temporary";
    case MxStatus::kPermanent:
      return "permanent";
  }
  return "?";
}

void ShuffleEqualPreferences(std::vector<MxHost>* hosts, uint64_t seed) {
  SplitMix64 rng(seed);
  size_t begin = 0;
  while (begin < hosts->size()) {
    size_t end = begin + 1;
    while (end < hosts->size() && (*hosts)[end].preference == (*hosts)[begin].preference) {
      ++end;
    }
    // Fisher-Yates over [begin, end).
    for (size_t i = end - 1; i > begin; --i) {
      const size_t j = begin + rng.Below(i - begin + 1);
      std::swap((*hosts)[i], (*hosts)[j]);
    }
    begin = end;
  }
}

MxPlan PlanMxHosts(std::string_view domain, const Answer& mx, const MxOptions& options,
                   uint64_t shuffle_seed) {
  MxPlan plan;
  const std::string name(domain);
  switch (mx.status) {
    case AnswerStatus::kOk:
      break;
    case AnswerStatus::kNoData:
      plan.implicit_mx = true;
      plan.ttl_s = mx.ttl_s > 0 ? mx.ttl_s : UINT32_MAX;
      plan.hosts.push_back(MxHost{name, 0, {}});
      return plan;
    case AnswerStatus::kNxDomain:
      plan.final = true;
      plan.result = Failure(domain, MxStatus::kPermanent, 550, "5.1.2",
                            "Host or domain name not found. Name service error for name=" +
                                name + " type=MX: Host not found",
                            mx.ttl_s);
      return plan;
    case AnswerStatus::kBadName:
      plan.final = true;
      plan.result = Failure(domain, MxStatus::kPermanent, 550, "5.1.2",
                            "bad destination domain " + name + ": " + mx.detail, 0);
      return plan;
    default:
      plan.final = true;
      plan.result = Temporary(domain, "Host or domain name lookup failed for name=" + name +
                                          " type=MX: " +
                                          std::string(AnswerStatusName(mx.status)) +
                                          (mx.detail.empty() ? "" : " (" + mx.detail + ")"));
      return plan;
  }

  size_t nulls = 0;
  std::vector<MxHost> hosts;
  for (const Record& rec : mx.records) {
    if (rec.type != RrType::kMx) continue;
    if (rec.target.empty()) {
      ++nulls;
      continue;
    }
    hosts.push_back(MxHost{rec.target, rec.preference, {}});
  }
  plan.ttl_s = mx.ttl_s;
  if (hosts.empty()) {
    plan.final = true;
    if (nulls > 0) {
      // RFC 7505: the domain accepts no mail.
      plan.result = Failure(domain, MxStatus::kPermanent, 556, "5.1.10",
                            "Recipient address rejected: " + name +
                                " publishes a null MX and accepts no mail",
                            mx.ttl_s);
    } else {
      plan.result = Temporary(domain, "MX answer for " + name + " has no usable records");
    }
    return plan;
  }
  std::stable_sort(hosts.begin(), hosts.end(), [](const MxHost& a, const MxHost& b) {
    return a.preference < b.preference;
  });
  // Each host once, at its best preference (the sort put that first).
  std::vector<MxHost> unique;
  for (MxHost& h : hosts) {
    bool dup = false;
    for (const MxHost& u : unique) dup = dup || u.name == h.name;
    if (!dup) unique.push_back(std::move(h));
  }
  ShuffleEqualPreferences(&unique, shuffle_seed);
  if (unique.size() > options.max_hosts) unique.resize(options.max_hosts);
  plan.hosts = std::move(unique);
  return plan;
}

MxResult BuildMxResult(std::string_view domain, const MxPlan& plan,
                       const std::vector<Answer>& a, const std::vector<Answer>& aaaa,
                       const MxOptions& options) {
  if (plan.final) return plan.result;
  CHECK(a.size() == plan.hosts.size());
  CHECK(aaaa.empty() || aaaa.size() == plan.hosts.size());
  uint32_t ttl = plan.ttl_s;
  bool any_temporary = false;
  bool any_nxdomain = false;
  std::string temporary_detail;
  std::vector<MxHost> hosts;
  for (size_t i = 0; i < plan.hosts.size(); ++i) {
    MxHost host = plan.hosts[i];
    const Answer* order[2] = {&a[i], nullptr};
    if (options.ipv6 && !aaaa.empty()) {
      order[0] = &aaaa[i];
      order[1] = &a[i];
    }
    for (const Answer* ans : order) {
      if (ans == nullptr) continue;
      if (ans->status == AnswerStatus::kOk) {
        ttl = std::min(ttl, ans->ttl_s);
        for (const Record& rec : ans->records) {
          if (host.addresses.size() >= options.max_addresses_per_host) break;
          if (rec.type != RrType::kA && rec.type != RrType::kAaaa) continue;
          if (rec.address.is_v6() && !options.ipv6) continue;
          sockaddr_storage sa = rec.address.ToSockaddr(options.dest_port);
          bool dup = false;
          for (const sockaddr_storage& x : host.addresses) dup = dup || SameAddress(x, sa);
          if (!dup) host.addresses.push_back(sa);
        }
      } else if (IsTemporary(ans->status)) {
        any_temporary = true;
        temporary_detail = "name=" + host.name + ": " +
                           std::string(AnswerStatusName(ans->status)) +
                           (ans->detail.empty() ? "" : " (" + ans->detail + ")");
      } else if (ans->status == AnswerStatus::kNxDomain) {
        any_nxdomain = true;
      }
    }
    if (!host.addresses.empty()) hosts.push_back(std::move(host));
  }

  if (hosts.empty()) {
    if (any_temporary) {
      return Temporary(domain, "no mail exchanger of " + std::string(domain) +
                                   " could be resolved: " + temporary_detail);
    }
    const uint32_t neg = ttl == UINT32_MAX ? 0 : ttl;
    if (plan.implicit_mx) {
      return Failure(domain, MxStatus::kPermanent, 550, "5.1.2",
                     "Host or domain name not found: " + std::string(domain) +
                         " has no MX and no address records",
                     neg);
    }
    return Failure(domain, MxStatus::kPermanent, 550, "5.4.4",
                   std::string("no mail exchanger of ") + std::string(domain) +
                       " has an address" + (any_nxdomain ? " (NXDOMAIN)" : ""),
                   neg);
  }
  if (ttl == UINT32_MAX) ttl = 0;
  // Some hosts failed temporarily: keep the result only briefly so they are
  // looked up again soon.
  if (any_temporary) ttl = std::min<uint32_t>(ttl, 60);
  return Finalize(domain, std::move(hosts), options, ttl, plan.implicit_mx);
}

std::optional<MxResult> AddressLiteralResult(std::string_view domain,
                                             const MxOptions& options) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') {
    return std::nullopt;
  }
  std::string_view inner = domain.substr(1, domain.size() - 2);
  std::optional<IpAddress> ip;
  constexpr std::string_view kV6 = "ipv6:";
  bool v6_tag = inner.size() > kV6.size();
  for (size_t i = 0; v6_tag && i < kV6.size(); ++i) {
    v6_tag = (inner[i] | 0x20) == kV6[i];  // ASCII lowercase; ':' and '6' unchanged
  }
  if (v6_tag) {
    ip = IpAddress::Parse(inner.substr(kV6.size()));
    if (ip && !ip->is_v6()) ip.reset();
  } else {
    ip = IpAddress::Parse(inner);
    if (ip && ip->is_v6()) ip.reset();  // RFC 5321 4.1.3: IPv6 needs the tag
  }
  if (!ip) {
    return Failure(domain, MxStatus::kPermanent, 550, "5.1.2",
                   "bad address literal " + std::string(domain), 0);
  }
  std::vector<MxHost> hosts;
  hosts.push_back(MxHost{ip->ToString(), 0, {ip->ToSockaddr(options.dest_port)}});
  // Literals do not expire by DNS: one day, clamped by the cache.
  return Finalize(domain, std::move(hosts), options, 86400, /*implicit=*/true);
}

// ---------------------------------------------------------------------------

struct MxResolver::Lookup {
  std::string domain;
  MxCallback done;
  RecordSource* dns = nullptr;
  std::shared_ptr<const MxOptions> options;
  std::shared_ptr<uint64_t> inflight;
  MxPlan plan;
  std::vector<Answer> a;
  std::vector<Answer> aaaa;
  size_t pending = 0;

  void Complete(MxResult r) {
    CHECK(*inflight > 0);
    --*inflight;
    MxCallback cb = std::move(done);
    cb(std::move(r));
  }
  void AddressDone() {
    CHECK(pending > 0);
    if (--pending > 0) return;
    Complete(BuildMxResult(domain, plan, a, aaaa, *options));
  }
};

MxResolver::MxResolver(RecordSource* dns, MxOptions options)
    : dns_(dns),
      options_(std::make_shared<const MxOptions>(std::move(options))),
      inflight_(std::make_shared<uint64_t>(0)) {}

void MxResolver::Fetch(std::string_view domain, MxCallback done) {
  if (auto literal = AddressLiteralResult(domain, *options_)) {
    done(std::move(*literal));
    return;
  }
  auto canonical = NormalizeName(domain);
  if (!canonical.ok()) {
    done(Failure(domain, MxStatus::kPermanent, 550, "5.1.2",
                 "bad destination domain: " + std::string(canonical.status().message()),
                 0));
    return;
  }
  auto lookup = std::make_shared<Lookup>();
  lookup->domain = std::move(*canonical);
  lookup->done = std::move(done);
  lookup->dns = dns_;
  lookup->options = options_;
  lookup->inflight = inflight_;
  ++*inflight_;
  const uint64_t seed = random_.Next64();
  dns_->Resolve(lookup->domain, RrType::kMx, [lookup, seed](Answer mx) {
    Lookup& l = *lookup;
    l.plan = PlanMxHosts(l.domain, mx, *l.options, seed);
    if (l.plan.final) {
      l.Complete(l.plan.result);
      return;
    }
    const size_t n = l.plan.hosts.size();
    CHECK(n > 0);
    l.a.resize(n);
    if (l.options->ipv6) l.aaaa.resize(n);
    l.pending = n * (l.options->ipv6 ? 2 : 1);
    for (size_t i = 0; i < n; ++i) {
      l.dns->Resolve(l.plan.hosts[i].name, RrType::kA, [lookup, i](Answer ans) {
        lookup->a[i] = std::move(ans);
        lookup->AddressDone();
      });
      if (l.options->ipv6) {
        l.dns->Resolve(l.plan.hosts[i].name, RrType::kAaaa, [lookup, i](Answer ans) {
          lookup->aaaa[i] = std::move(ans);
          lookup->AddressDone();
        });
      }
    }
  });
}

}  // namespace ringpost::dns
