// sd_notify.h — the service manager's notification protocol (systemd's
// sd_notify(3)), written here rather than linked from libsystemd: it is one
// datagram per state change, and the relay takes no dependency for that.
//
// systemd (Type=notify) starts the daemon with NOTIFY_SOCKET naming an
// AF_UNIX datagram socket: a filesystem path ("/run/systemd/notify") or an
// abstract address written with a leading '@'. Each notification is one
// datagram of newline-separated VAR=VALUE assignments ("READY=1\nSTATUS=…").
// The kernel attaches the sender's credentials; with NotifyAccess=main only
// the main process's datagrams count, so every send comes from the process
// systemd started (any of its threads: the PID is the process's).
//
// With WatchdogSec= set, systemd also passes WATCHDOG_USEC (the timeout) and
// WATCHDOG_PID (the process it is meant for; a child that inherits the
// environment must not believe it is watched). The daemon sends WATCHDOG=1
// more often than the timeout; libsystemd's advice is every half of it.
//
// Without NOTIFY_SOCKET (started by hand, by tests, by another supervisor)
// everything here is a no-op.
//
// Usage:
//   runtime::SdNotifier notifier;
//   std::string error;
//   if (!notifier.Open(getenv("NOTIFY_SOCKET"), &error)) log(error);
//   notifier.Send("READY=1\nSTATUS=serving");
//   runtime::WatchdogSetting w = runtime::ParseWatchdog(getenv("WATCHDOG_USEC"),
//                                                       getenv("WATCHDOG_PID"), getpid());

#ifndef RINGPOST_RELAY_RUNTIME_SD_NOTIFY_H_
#define RINGPOST_RELAY_RUNTIME_SD_NOTIFY_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::runtime {

class SdNotifier {
 public:
  SdNotifier() = default;
  ~SdNotifier();
  SdNotifier(const SdNotifier&) = delete;
  SdNotifier& operator=(const SdNotifier&) = delete;

  // `address` is NOTIFY_SOCKET's value; null or empty leaves the notifier
  // disabled (true: nothing is wrong). An address that is neither absolute
  // nor abstract, or too long for sun_path, is false with *error saying why,
  // and the notifier stays disabled. Opens the socket once; it is kept.
  bool Open(const char* address, std::string* error);

  bool enabled() const { return fd_ >= 0; }

  // Sends `state` as one datagram. True when sent, or when disabled; false
  // with errno set when the send failed. Never blocks for more than a
  // second (SO_SNDTIMEO): the caller is the thread that handles signals.
  bool Send(std::string_view state);

 private:
  int fd_ = -1;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
};

// The watchdog systemd asks for, from WATCHDOG_USEC and WATCHDOG_PID (null
// when unset), as libsystemd's sd_watchdog_enabled reads them.
struct WatchdogSetting {
  // The timeout in microseconds; 0 = no watchdog (unset, or meant for
  // another process).
  uint64_t usec = 0;
  // A value that does not parse; usec is then 0.
  std::string error;
};
WatchdogSetting ParseWatchdog(const char* usec, const char* pid, pid_t self);

// MONOTONIC_USEC=… for RELOADING=1: the CLOCK_MONOTONIC time of the reload
// request, which Type=notify-reload (systemd 253+) requires so it can tell
// this reload from an earlier one. systemd 252 ignores it.
std::string MonotonicUsecField();

}  // namespace ringpost::runtime

#endif  // RINGPOST_RELAY_RUNTIME_SD_NOTIFY_H_
