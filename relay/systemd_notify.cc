// systemd_notify.cc — see systemd_notify.h.
#include "relay/systemd_notify.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "relay/shard/admin_endpoint.h"

namespace ringpost {

SystemdNotify::SystemdNotify(const Shared* shared) : shared_(shared) {
  std::string error;
  if (!notifier_.Open(getenv("NOTIFY_SOCKET"), &error)) {
    fprintf(stderr, "ringpost: WARNING: %s; not notifying systemd\n", error.c_str());
    return;
  }
  if (!notifier_.enabled()) return;
  const runtime::WatchdogSetting w =
      runtime::ParseWatchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid());
  if (!w.error.empty()) {
    fprintf(stderr, "ringpost: WARNING: %s; no watchdog pings\n", w.error.c_str());
  }
  if (w.usec > 0) {
    // Half the timeout, as libsystemd advises: one late ping is not a kill.
    interval_ms_ = w.usec / 2000 > 0 ? w.usec / 2000 : 1;
    fprintf(stderr,
            "ringpost: systemd watchdog: WATCHDOG=1 every %llu ms while every shard turns\n",
            static_cast<unsigned long long>(interval_ms_));
  }
}

void SystemdNotify::Send(const std::string& state) {
  if (!notifier_.Send(state)) {
    // Not fatal: systemd may be re-executing itself. A lost READY=1 shows as
    // a start-up timeout in the journal, with this line before it.
    fprintf(stderr, "ringpost: cannot notify systemd (%s): %s\n",
            state.substr(0, state.find('\n')).c_str(), strerror(errno));
  }
}

void SystemdNotify::Ready() {
  std::string listening;
  for (const std::string& l : shared_->config.listen) listening += " " + l;
  for (const std::string& l : shared_->config.listen_tls) listening += " " + l + "(tls)";
  Send("READY=1\nSTATUS=" + std::to_string(shared_->shards) + " shards, listening on" +
       listening);
}

void SystemdNotify::Reloading() {
  if (stopping_) return;  // a drain is not undone by a reload
  Send("RELOADING=1\n" + runtime::MonotonicUsecField() + "\nSTATUS=reloading (SIGHUP)");
}

void SystemdNotify::Reloaded() {
  if (stopping_) return;
  Send("READY=1\nSTATUS=" + std::to_string(shared_->shards) + " shards, reloaded");
}

void SystemdNotify::Stopping() {
  stopping_ = true;
  Send("STOPPING=1\nSTATUS=draining");
}

int SystemdNotify::StalledShard() const {
  const uint64_t now = shard::SteadyMs();
  int stale = 0;
  int first = -1;
  for (int i = 0; i < shared_->shards; i++) {
    const uint64_t beat = shared_->heartbeat_ms[i].load(std::memory_order_relaxed);
    if (now > beat + shard::AdminEndpoint::kStallMs) {
      if (first < 0) first = i;
      stale++;
    }
  }
  const int allowed = stopping_ ? shared_->stopped.load() : 0;
  return stale > allowed ? first : -1;
}

absl::Duration SystemdNotify::Tick() {
  if (interval_ms_ == 0) return absl::Hours(1);
  const uint64_t now = shard::SteadyMs();
  if (now >= next_ping_ms_) {
    const int stalled = StalledShard();
    if (stalled < 0) {
      if (stalled_ >= 0) {
        fprintf(stderr, "ringpost: every shard turns again; watchdog pings resume\n");
      }
      Send("WATCHDOG=1");
    } else if (stalled != stalled_) {
      fprintf(stderr,
              "ringpost: shard %d's loop has not turned for %llu ms: no more watchdog pings "
              "(systemd restarts the relay after WatchdogSec)\n",
              stalled, static_cast<unsigned long long>(shard::AdminEndpoint::kStallMs));
      Send("STATUS=shard " + std::to_string(stalled) + " stalled");
    }
    stalled_ = stalled;
    next_ping_ms_ = now + interval_ms_;
  }
  return absl::Milliseconds(static_cast<int64_t>(next_ping_ms_ - now));
}

}  // namespace ringpost
