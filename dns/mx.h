// dns/mx.h — where mail for a domain goes: RFC 5321 section 5 on top of the
// stub resolver.
//
// The outcome of a lookup is a value, Postfix-style: MxResult carries a
// status (ok / temporary / permanent), the SMTP reply code and enhanced
// status code to log or bounce with, a human text, and — when ok — the
// ordered list of hosts to try, each with its addresses.
//
// The rules (PlanMxHosts + BuildMxResult, pure functions, unit-tested):
//   - MX records sorted by preference; hosts of equal preference in random
//     order (RFC 5321 5.1), each host once (its best preference).
//   - No MX records (NOERROR/NODATA): the domain itself is the only host,
//     preference 0 ("implicit MX").
//   - Null MX (RFC 7505): a single MX "." → permanent, 556 5.1.10. A "."
//     among other MX records is ignored.
//   - NXDOMAIN (for the MX query, or for the implicit MX's addresses):
//     permanent 550 5.1.2. NODATA for both MX and A/AAAA: permanent 5.1.2.
//   - SERVFAIL, timeout, CNAME loop, resolver overload: temporary,
//     451 4.4.3 — the job is retried later.
//   - Addresses: A, plus AAAA when `ipv6` is on; IPv6 first when on (the
//     client falls back to IPv4 by trying the next address).
//   - Mail loops (RFC 5321 5.1): if a host resolves to one of the relay's
//     own addresses (LocalAddresses, address + dest_port), every host with
//     that preference or a worse one is dropped. Nothing left → permanent
//     554 5.4.6 "mail for X loops back to myself".
//   - Hosts whose address lookups fail are dropped; none left → temporary if
//     any lookup failed temporarily, else permanent 550 5.4.4.
//   - Bounded: max_hosts MX hosts, max_addresses_per_host per host.
//   - An address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" needs no DNS.
//
// site_key identifies the delivery site: the sorted, de-duplicated list of
// every host address ("192.0.2.1:25,192.0.2.2:25"). Domains hosted by the
// same provider share it, so they share one destination queue and one set
// of connection limits (and one owner shard).
//
// MxResolver runs a lookup on one shard: the MX query, then the A/AAAA
// queries of up to max_hosts hosts in parallel, then BuildMxResult. It is
// the MxSource the shared MxCache uses on a miss.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "dns/address.h"
#include "dns/random.h"
#include "dns/answer.h"

namespace ringpost::dns {

enum class MxStatus : uint8_t { kOk, kTemporary, kPermanent };
std::string_view MxStatusName(MxStatus s);

struct MxHost {
  std::string name;  // canonical host name ("" never)
  uint16_t preference = 0;
  std::vector<sockaddr_storage> addresses;  // port = dest_port; try in order
};

struct MxResult {
  MxStatus status = MxStatus::kTemporary;
  int code = 451;             // SMTP code for logs/bounces: 451, 550, 554, 556
  std::string enhanced = "4.4.3";
  std::string text;           // e.g. "Host or domain name not found: example.test"
  std::vector<MxHost> hosts;  // kOk: in delivery order, each with >= 1 address
  uint32_t ttl_s = 0;         // min TTL of the records used (negative TTL if negative)
  std::string site_key;       // kOk: see above; "" otherwise
  bool implicit_mx = false;   // kOk: the domain's own A/AAAA
  std::string domain;         // canonical, as looked up
};

struct MxOptions {
  uint16_t dest_port = 25;
  bool ipv6 = false;                 // query AAAA too, and try IPv6 first
  uint32_t max_hosts = 10;           // MX hosts kept (after sorting)
  uint32_t max_addresses_per_host = 8;
  std::shared_ptr<const LocalAddresses> local;  // may be null (no loop check)
};

// Step 1, from the MX answer: either a final result (status != kOk, e.g.
// null MX, NXDOMAIN, SERVFAIL) or the hosts to resolve, in order.
struct MxPlan {
  bool final = false;
  MxResult result;                // when final
  std::vector<MxHost> hosts;      // when !final: names and preferences only
  bool implicit_mx = false;
  uint32_t ttl_s = 0;             // of the MX records
};
MxPlan PlanMxHosts(std::string_view domain, const Answer& mx,
                   const MxOptions& options, uint64_t shuffle_seed);

// Step 2: the address answers of each planned host (a[i], aaaa[i] for
// plan.hosts[i]; aaaa may be empty when !options.ipv6).
MxResult BuildMxResult(std::string_view domain, const MxPlan& plan,
                       const std::vector<Answer>& a, const std::vector<Answer>& aaaa,
                       const MxOptions& options);

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" → a result with one host, no DNS.
// nullopt when `domain` is not an address literal.
std::optional<MxResult> AddressLiteralResult(std::string_view domain,
                                             const MxOptions& options);

// Re-shuffles hosts of equal preference (e.g. per connection attempt, when
// a cached result is shared by many jobs). Preference order is kept.
void ShuffleEqualPreferences(std::vector<MxHost>* hosts, uint64_t seed);

using MxCallback = absl::AnyInvocable<void(MxResult)>;

// Resolves a domain to an MxResult. The cache calls Fetch on a miss, on
// the thread of the shard that owns the source. `done` runs exactly once,
// possibly before Fetch returns (address literals, invalid names).
class MxSource {
 public:
  virtual ~MxSource() = default;
  virtual void Fetch(std::string_view domain, MxCallback done) = 0;
};

class MxResolver final : public MxSource {
 public:
  // `dns` must outlive every lookup (Resolver::Shutdown ends them all).
  MxResolver(RecordSource* dns, MxOptions options);
  void Fetch(std::string_view domain, MxCallback done) override;
  const MxOptions& options() const { return *options_; }
  uint64_t lookups_in_flight() const { return *inflight_; }

 private:
  struct Lookup;
  RecordSource* dns_;
  std::shared_ptr<const MxOptions> options_;
  std::shared_ptr<uint64_t> inflight_;
  RandomPool random_;
};

}  // namespace ringpost::dns
