// relay/ctl/admin_socket.cc — see admin_socket.h.
#include "relay/ctl/admin_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "relay/ctl/absl_strings.h"
#include "relay/ctl/duration.h"

namespace ringpost::ctl {
namespace {

// Closes the descriptor when the exchange is over, however it ends.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` or the deadline passes: true when
// ready (or in error: the next call says which), false at the deadline.
bool WaitFor(int fd, short events, absl::Time deadline) {
  // Bounded by the deadline: each iteration waits for what remains of it.
  while (true) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, left_ms > 60'000 ? 60'000 : static_cast<int>(left_ms));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the read or write report it
  }
}

// A connected non-blocking socket to `ai`, or the reason it is not.
absl::StatusOr<int> Connect(const addrinfo* ai, absl::Time deadline) {
  const int fd =
      socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return absl::UnavailableError(std::strerror(errno));
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError(std::strerror(e));
  }
  if (!WaitFor(fd, POLLOUT, deadline)) {
    close(fd);
    return absl::DeadlineExceededError("no connection");
  }
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error != 0) {
    close(fd);
    return absl::UnavailableError(std::strerror(error));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::string> Exchange(const AdminAddress& address, std::string_view shown,
                                     std::string_view request, absl::Duration timeout,
                                     size_t max_bytes) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string waited = DurationToString(timeout);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  const int gai = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found);
  if (gai != 0) {
    return absl::UnavailableError(
        Cat("cannot resolve ", address.host, " (of ", shown, "): ", gai_strerror(gai)));
  }
  // Each address in turn; the first that connects is used.
  absl::StatusOr<int> connected = absl::UnavailableError("no address");
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    connected = Connect(ai, deadline);
    if (connected.ok() || absl::IsDeadlineExceeded(connected.status())) break;
  }
  freeaddrinfo(found);
  if (absl::IsDeadlineExceeded(connected.status())) {
    return absl::DeadlineExceededError(
        Cat("cannot connect to ", shown, ": no connection within ", waited));
  }
  if (!connected.ok()) {
    return absl::UnavailableError(
        Cat("cannot connect to ", shown, ": ", connected.status().message()));
  }
  const Fd fd(*connected);

  // Bounded by the request's size and the deadline.
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFor(fd.get(), POLLOUT, deadline)) {
        return absl::DeadlineExceededError(Cat(shown, " did not take the request within ", waited));
      }
      continue;
    }
    return absl::UnavailableError(Cat("sending to ", shown, ": ", std::strerror(errno)));
  }

  // Bounded by max_bytes and the deadline.
  std::string answer;
  char buf[16384];
  while (true) {
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0) return answer;  // EOF: the whole answer
    if (n > 0) {
      if (answer.size() + static_cast<size_t>(n) > max_bytes) {
        return absl::ResourceExhaustedError(
            Cat(shown, " answered more than ", max_bytes, " bytes"));
      }
      answer.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!WaitFor(fd.get(), POLLIN, deadline)) {
        return absl::DeadlineExceededError(Cat(shown, " did not answer within ", waited));
      }
      continue;
    }
    return absl::UnavailableError(Cat("reading from ", shown, ": ", std::strerror(errno)));
  }
}

}  // namespace ringpost::ctl
