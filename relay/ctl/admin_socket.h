// relay/ctl/admin_socket.h — carries one request to the admin port and
// brings back the answer, with blocking-style calls and a deadline.
//
// ringpostctl is a command line tool, not the relay: it makes one exchange
// and exits, so plain sockets and poll() do (no ring, no loop). The host is
// resolved with getaddrinfo (a name is looked up without the deadline; the
// relay's admin address is numeric anyway), each of its addresses is tried
// in turn, the request is written whole and the answer read to EOF (the
// request says Connection: close). One deadline, `timeout` from the call,
// covers connecting, writing and reading. The answer is at most
// `max_bytes`: more is refused, not buffered.
//
// Errors name the address and the reason, for the operator:
//   "cannot connect to 127.0.0.1:8025: Connection refused"
//   "127.0.0.1:8025 did not answer within 10s"

#ifndef RINGPOST_RELAY_CTL_ADMIN_SOCKET_H_
#define RINGPOST_RELAY_CTL_ADMIN_SOCKET_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "relay/ctl/args.h"

namespace ringpost::ctl {

// Sends `request` to `address` (`shown` is how messages name it) and
// returns every byte of the answer, or Unavailable / DeadlineExceeded /
// ResourceExhausted with the reason.
absl::StatusOr<std::string> Exchange(const AdminAddress& address, std::string_view shown,
                                     std::string_view request, absl::Duration timeout,
                                     size_t max_bytes);

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_ADMIN_SOCKET_H_
