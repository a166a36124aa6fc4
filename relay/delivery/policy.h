// relay/delivery/policy.h — which limits and settings apply to mail for a
// destination (destination_policy), and the pacing arithmetic (GCRA).
//
// Pure: no clock, no shard, no I/O. The router asks the PolicyTable once per
// routing decision; the pool enforces what the Policy says through a
// Limiter (relay/delivery/limiter.h) that holds the only state.
//
// Matching, most specific first:
//   1. the domain itself ("example.com")
//   2. the longest "*.suffix" the domain is under ("*.example.com")
//   3. once its MX hosts are known, the first "mx:" entry (in file order)
//      naming one of them ("mx:aspmx.l.google.com", "mx:*.outlook.com")
//   4. the "*" entry, else the settings alone.
// A key an entry leaves out comes from "*", then from the setting of the
// same name: an entry only says what differs.
//
// Who shares a budget: an mx: entry's limits hold for all the domains it
// matches together (hundreds of domains hosted by one provider count as
// one destination there); any other policy's limits hold per site (one
// route, or one set of MX addresses) and policy.
//
// GCRA (the generic cell rate algorithm): one number per pace, the
// theoretical arrival time (TAT) of the next event. An event at `now`
// conforms when TAT − now ≤ (burst − 1) × interval; it then moves TAT to
// max(TAT, now) + interval. So a pace allows `burst` events at once and
// then one per interval, with no counters to reset and no window edges.
// One refinement: an event late by less than min(interval/2, 20 ms) moves
// TAT from TAT, not from now, so the timers' lateness does not slow the
// rate.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "relay/config/config.h"
#include "relay/delivery/outcome_policy.h"

namespace ringpost::delivery {

// interval_ns 0: no pacing.
struct Pace {
  int64_t interval_ns = 0;
  uint32_t burst = 1;

  bool operator==(const Pace&) const = default;
};

// A pace of `rate` with `burst`; the timers that wake a paced destination
// tick in milliseconds, so a pace faster than one per ms gets at least the
// burst that one tick lets through.
Pace MakePace(const std::optional<RateLimit>& rate, uint32_t burst);

// An event at `now_ns`: 0 when it conforms (then *tat moves on), else how
// many ns until it would (*tat unchanged).
int64_t GcraTake(const Pace& pace, int64_t* tat, int64_t now_ns);

struct Policy {
  std::string name;     // the entry's MATCH; "" for the settings alone
  bool shared = false;  // an mx: entry: the domains it matches share its limits
  size_t max_connections = 1;
  size_t max_messages_per_connection = 1;
  size_t max_recipients_per_transaction = 1;
  Pace message_pace;
  Pace connection_pace;
  std::optional<TlsLevel> tls;  // unset: outbound_tls_policy, else outbound_tls
  RetrySettings retry;
};

using PolicyPtr = std::shared_ptr<const Policy>;

class PolicyTable {
 public:
  explicit PolicyTable(const Config& config);

  // The policy for `domain` (lowercase) by its name: its own entry, else
  // its longest *.suffix entry; null when neither exists.
  const PolicyPtr* ForDomain(std::string_view domain) const;
  // The first mx: entry naming one of `hosts` (lowercase MX host names);
  // null when none does.
  const PolicyPtr* ForMxHosts(const std::vector<std::string_view>& hosts) const;
  bool has_mx_entries() const { return !mx_.empty(); }
  // The policy of the entry whose MATCH is `name` (a Policy's name); the
  // default when there is none ("" and "*" included).
  const PolicyPtr& ByName(std::string_view name) const;
  // "*" over the settings: for destinations no entry names.
  const PolicyPtr& Default() const { return default_; }
  // Nothing but the settings and "*": every destination gets Default().
  bool empty() const { return exact_.empty() && suffix_.empty() && mx_.empty(); }

 private:
  PolicyPtr default_;
  absl::flat_hash_map<std::string, PolicyPtr> exact_;
  absl::flat_hash_map<std::string, PolicyPtr> suffix_;  // key: ".example.com"
  std::vector<std::pair<std::string, PolicyPtr>> mx_;   // "host" or ".suffix"
};

}  // namespace ringpost::delivery
