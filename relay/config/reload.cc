// reload.cc — what a SIGHUP may change in a running relay (see config.h).
#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include "relay/config/config.h"
#include "relay/config/config_internal.h"

namespace ringpost {
namespace {

using config_internal::Setting;
using config_internal::Settings;

// Settings fixed for the life of the process: what the shards were built
// from at start (listeners, the spool and its sizing, the rings, the DNS
// client and the MX cache, the delivery log), and the names the relay
// announces. Everything else applies to the next connection, transaction
// or delivery attempt.
constexpr std::string_view kRestartOnly[] = {
    // Listeners and the process's shape.
    "listen", "listen_tls", "shards", "admin", "hostname",
    // The spool, the delivery log and the queue's memory share.
    "spool", "durability", "spool_direct_io", "segment_bytes", "commit_max_bytes",
    "commit_delay", "max_queue_memory", "log", "log_flush_interval",
    // The DNS client and the MX cache.
    "dns", "dns_timeout", "dns_attempts", "dns_min_ttl", "dns_max_ttl", "dns_stale_ttl",
    "dns_cache_size", "ipv6", "dest_port",
    // Rings.
    "sq_entries", "recv_buffers", "recv_buffer_bytes", "cross_shard_ring_entries",
    "max_cross_shard_backlog",
};

}  // namespace

bool SettingNeedsRestart(std::string_view name) {
  return std::find(std::begin(kRestartOnly), std::end(kRestartOnly), name) !=
         std::end(kRestartOnly);
}

absl::StatusOr<ReloadPlan> PlanReload(const Config& running, Config next) {
  ReloadPlan plan;
  // Certificate paths change live, but turning inbound TLS on or off
  // changes what the listeners offer: that takes a restart.
  const bool tls_toggled = running.tls_cert.empty() != next.tls_cert.empty();
  for (const Setting& s : Settings()) {
    const std::string was = s.format(running);
    if (s.format(next) == was) continue;
    const bool restart = SettingNeedsRestart(s.name) ||
                         (tls_toggled && (s.name == "tls_cert" || s.name == "tls_key"));
    if (!restart) {
      plan.changed.emplace_back(s.name);
      continue;
    }
    // Formatted values round-trip through apply (settings.cc).
    absl::Status st = s.apply(&next, was);
    if (!st.ok()) return st;
    plan.kept.emplace_back(s.name);
  }
  // The file may be valid only with its own values of what was kept (a
  // require_tls entry naming a new listener, say).
  if (absl::Status st = ValidateConfig(next); !st.ok()) {
    return absl::InvalidArgumentError(config_internal::Cat(
        "with the running values of the settings that need a restart: ", st.message()));
  }
  plan.config = std::move(next);
  return plan;
}

}  // namespace ringpost
