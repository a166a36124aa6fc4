// sd_notify.cc — see sd_notify.h.
#include "relay/runtime/sd_notify.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>

namespace ringpost::runtime {
namespace {

// Decimal digits only: no sign, no blanks, no overflow. systemd writes these
// values itself, so anything else means the environment was tampered with.
bool ParseDecimal(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *value = v;
  return true;
}

}  // namespace

SdNotifier::~SdNotifier() {
  if (fd_ >= 0) close(fd_);
}

bool SdNotifier::Open(const char* address, std::string* error) {
  if (address == nullptr || address[0] == '\0') return true;
  const std::string_view a(address);
  // systemd only ever passes these two forms (newer versions also "vsock:",
  // for virtual machines, which a mail relay does not run as).
  if (a[0] != '/' && a[0] != '@') {
    *error = "NOTIFY_SOCKET '" + std::string(a) + "' is neither an absolute path nor '@abstract'";
    return false;
  }
  // A path needs its terminating NUL inside sun_path; an abstract name
  // fills it exactly (its length is given by the address length).
  const size_t room = sizeof(address_.sun_path) - (a[0] == '/' ? 1 : 0);
  if (a.size() > room || a.size() < 2) {
    *error = "NOTIFY_SOCKET '" + std::string(a) + "' does not fit a unix socket address";
    return false;
  }
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("NOTIFY_SOCKET: socket: ") + strerror(errno);
    return false;
  }
  // A service manager that stops reading must not hang the signal thread.
  const timeval timeout{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  address_ = {};
  address_.sun_family = AF_UNIX;
  std::memcpy(address_.sun_path, a.data(), a.size());
  if (a[0] == '@') {
    address_.sun_path[0] = '\0';
    address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.size());
  } else {
    address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.size() + 1);
  }
  fd_ = fd;
  return true;
}

bool SdNotifier::Send(std::string_view state) {
  if (fd_ < 0) return true;
  // sendto on an unconnected socket: the manager may re-create its socket
  // (systemd daemon-reexec), and each datagram finds the current one.
  for (;;) {
    const ssize_t n = sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&address_), address_length_);
    if (n >= 0) return static_cast<size_t>(n) == state.size();
    if (errno != EINTR) return false;
  }
}

WatchdogSetting ParseWatchdog(const char* usec, const char* pid, pid_t self) {
  WatchdogSetting w;
  if (usec == nullptr) return w;  // no WatchdogSec=; WATCHDOG_PID alone means nothing
  uint64_t timeout = 0;
  // 0 and "infinity" (UINT64_MAX) are not timeouts systemd would pass.
  if (!ParseDecimal(usec, &timeout) || timeout == 0 ||
      timeout == std::numeric_limits<uint64_t>::max()) {
    w.error = "WATCHDOG_USEC '" + std::string(usec) + "' is not a positive number of microseconds";
    return w;
  }
  if (pid != nullptr) {
    uint64_t target = 0;
    if (!ParseDecimal(pid, &target) || target == 0 ||
        target > static_cast<uint64_t>(std::numeric_limits<pid_t>::max())) {
      w.error = "WATCHDOG_PID '" + std::string(pid) + "' is not a process id";
      return w;
    }
    // Inherited from a parent that is watched: not ours to feed.
    if (static_cast<pid_t>(target) != self) return w;
  }
  w.usec = timeout;
  return w;
}

std::string MonotonicUsecField() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  return "MONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace ringpost::runtime
