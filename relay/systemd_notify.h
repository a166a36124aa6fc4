// systemd_notify.h — what the daemon tells systemd (Type=notify), and when.
//
// main() owns one SystemdNotify and calls it at each state change:
//   Ready()       after every shard listens ("ringpost: ready"): READY=1;
//                 the start-up job completes only now, so units ordered
//                 after ringpost.service find the port open.
//   Reloading()   SIGHUP received: RELOADING=1 (with MONOTONIC_USEC);
//   Reloaded()    the reload is done: READY=1. Between the two systemctl
//                 shows "reloading".
//   Stopping()    first SIGTERM/SIGINT: STOPPING=1 (the drain has begun;
//                 systemd waits TimeoutStopSec= for the exit).
//   Tick()        from the signal loop, which waits at most what Tick
//                 returns: WATCHDOG=1 every WATCHDOG_USEC/2, but only while
//                 every shard's loop turns (the rule /healthz applies,
//                 AdminEndpoint::kStallMs). A stalled shard stops the pings,
//                 so systemd kills and restarts the relay after WatchdogSec=
//                 (Restart=on-failure); the signal thread alone being alive
//                 proves nothing about mail.
// Without NOTIFY_SOCKET each call does nothing (Tick asks for no wake-up
// sooner than an hour).
#ifndef RINGPOST_RELAY_SYSTEMD_NOTIFY_H_
#define RINGPOST_RELAY_SYSTEMD_NOTIFY_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "relay/runtime/sd_notify.h"
#include "relay/shard/shard.h"

namespace ringpost {

class SystemdNotify {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. A value that does
  // not parse is reported on stderr and leaves that part off.
  explicit SystemdNotify(const Shared* shared);

  void Ready();
  void Reloading();
  void Reloaded();
  void Stopping();
  // Sends WATCHDOG=1 if one is due and the shards are alive; returns how long
  // the caller may wait before calling again.
  absl::Duration Tick();

 private:
  void Send(const std::string& state);
  // The index of a shard whose loop has not turned for kStallMs, or -1.
  // During the drain a shard that finished stops turning for good: as many
  // stale heartbeats as shards that stopped are allowed then.
  int StalledShard() const;

  const Shared* shared_;
  runtime::SdNotifier notifier_;
  uint64_t interval_ms_ = 0;  // WATCHDOG_USEC / 2; 0 = no watchdog
  uint64_t next_ping_ms_ = 0;
  bool stopping_ = false;
  int stalled_ = -1;  // the shard named in the last "stalled" line
};

}  // namespace ringpost

#endif  // RINGPOST_RELAY_SYSTEMD_NOTIFY_H_
