// policy.cc — see policy.h.
#include "relay/delivery/policy.h"

#include <algorithm>
#include <utility>

namespace ringpost::delivery {
namespace {

constexpr int64_t kTickNs = 1'000'000;   // the loop's timers tick in ms
constexpr int64_t kSlackNs = 20'000'000;  // lateness that keeps a pace's schedule

int64_t Ms(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// `entry` over `base`: what the entry says, else what `base` says.
Policy Merge(const Policy& base, const DestinationPolicy& entry) {
  Policy p = base;
  p.name = entry.match;
  if (entry.max_connections) p.max_connections = *entry.max_connections;
  if (entry.max_messages_per_connection) {
    p.max_messages_per_connection = *entry.max_messages_per_connection;
  }
  if (entry.max_recipients_per_transaction) {
    p.max_recipients_per_transaction = *entry.max_recipients_per_transaction;
  }
  // A rate and its burst go together: the entry's burst alone reshapes the
  // inherited rate, the entry's rate alone comes with a burst of 1 unless
  // the entry gives one.
  if (entry.message_rate || entry.message_burst) {
    const std::optional<RateLimit> rate = entry.message_rate;
    p.message_pace = rate ? MakePace(rate, entry.message_burst.value_or(1))
                          : Pace{base.message_pace.interval_ns, *entry.message_burst};
  }
  if (entry.connection_rate || entry.connection_burst) {
    const std::optional<RateLimit> rate = entry.connection_rate;
    p.connection_pace = rate ? MakePace(rate, entry.connection_burst.value_or(1))
                             : Pace{base.connection_pace.interval_ns, *entry.connection_burst};
  }
  if (entry.tls) p.tls = entry.tls;
  if (entry.retry_min) p.retry.retry_min_ms = Ms(*entry.retry_min);
  if (entry.retry_max) p.retry.retry_max_ms = Ms(*entry.retry_max);
  // An entry's retry_min above the inherited retry_max raises the cap.
  p.retry.retry_max_ms = std::max(p.retry.retry_max_ms, p.retry.retry_min_ms);
  return p;
}

}  // namespace

Pace MakePace(const std::optional<RateLimit>& rate, uint32_t burst) {
  if (!rate || rate->count == 0) return Pace{};
  Pace pace;
  pace.interval_ns = std::max<int64_t>(
      1, absl::ToInt64Nanoseconds(rate->per) / static_cast<int64_t>(rate->count));
  const int64_t per_tick = (kTickNs + pace.interval_ns - 1) / pace.interval_ns;
  pace.burst = static_cast<uint32_t>(std::max<int64_t>(std::max<uint32_t>(burst, 1), per_tick));
  return pace;
}

int64_t GcraTake(const Pace& pace, int64_t* tat, int64_t now_ns) {
  if (pace.interval_ns == 0) return 0;
  const int64_t tolerance = static_cast<int64_t>(pace.burst - 1) * pace.interval_ns;
  // An event a little late (a timer rounds up to its millisecond, a loop
  // turn takes time) keeps the schedule, so lateness does not add up into
  // a slower rate; later than the slack, the pace was idle and restarts.
  const int64_t slack = std::min(pace.interval_ns / 2, kSlackNs);
  const int64_t start = now_ns > *tat + slack ? now_ns : *tat;
  if (start - now_ns > tolerance) return start - now_ns - tolerance;
  *tat = start + pace.interval_ns;
  return 0;
}

PolicyTable::PolicyTable(const Config& config) {
  Policy settings;
  settings.max_connections = config.max_connections_per_destination;
  settings.max_messages_per_connection = config.max_messages_per_connection;
  settings.max_recipients_per_transaction = config.max_recipients_per_transaction;
  settings.retry.retry_min_ms = Ms(config.retry_min);
  settings.retry.retry_max_ms = Ms(config.retry_max);
  settings.retry.max_age_ms = Ms(config.max_age);
  Policy base = settings;
  for (const DestinationPolicy& e : config.destination_policy) {
    if (e.match == "*") base = Merge(settings, e);
  }
  default_ = std::make_shared<const Policy>(base);
  for (const DestinationPolicy& e : config.destination_policy) {
    if (e.match == "*") continue;
    auto policy = std::make_shared<Policy>(Merge(base, e));
    std::string_view m = e.match;
    if (m.starts_with("mx:")) {
      policy->shared = true;
      m.remove_prefix(3);
      if (m.starts_with("*.")) m.remove_prefix(1);  // ".suffix"
      mx_.emplace_back(std::string(m), std::move(policy));
    } else if (m.starts_with("*.")) {
      m.remove_prefix(1);
      suffix_.emplace(std::string(m), std::move(policy));
    } else {
      exact_.emplace(std::string(m), std::move(policy));
    }
  }
}

const PolicyPtr* PolicyTable::ForDomain(std::string_view domain) const {
  if (exact_.empty() && suffix_.empty()) return nullptr;
  auto it = exact_.find(absl::string_view(domain.data(), domain.size()));
  if (it != exact_.end()) return &it->second;
  if (suffix_.empty()) return nullptr;
  // Longest suffix first: ".a.example.com" before ".example.com".
  for (size_t dot = domain.find('.'); dot != std::string_view::npos;
       dot = domain.find('.', dot + 1)) {
    const std::string_view suffix = domain.substr(dot);
    auto s = suffix_.find(absl::string_view(suffix.data(), suffix.size()));
    if (s != suffix_.end()) return &s->second;
  }
  return nullptr;
}

const PolicyPtr& PolicyTable::ByName(std::string_view name) const {
  if (name.starts_with("mx:")) {
    for (const auto& [pattern, policy] : mx_) {
      if (policy->name == name) return policy;
    }
  } else if (name.starts_with("*.")) {
    name.remove_prefix(1);
    auto it = suffix_.find(absl::string_view(name.data(), name.size()));
    if (it != suffix_.end()) return it->second;
  } else if (!name.empty() && name != "*") {
    auto it = exact_.find(absl::string_view(name.data(), name.size()));
    if (it != exact_.end()) return it->second;
  }
  return default_;
}

const PolicyPtr* PolicyTable::ForMxHosts(const std::vector<std::string_view>& hosts) const {
  for (const auto& [pattern, policy] : mx_) {
    for (std::string_view host : hosts) {
      const bool match = pattern.front() == '.'
                             ? host.size() > pattern.size() && host.ends_with(pattern)
                             : host == pattern;
      if (match) return &policy;
    }
  }
  return nullptr;
}

}  // namespace ringpost::delivery
