// relay/ctl/args.h — ringpostctl's command line, and the one admin-port
// request each command is.
//
//   ringpostctl [--admin=ADDR:PORT] [--json] [--timeout=10s] COMMAND
//     summary                    GET  /queue/summary
//     suspend DOMAIN [--for D]   POST /queue/suspend?domain=DOMAIN[&for=D]
//     resume DOMAIN              POST /queue/resume?domain=DOMAIN
//     flush [DOMAIN]             POST /queue/flush[?domain=DOMAIN]
//     bounce DOMAIN              POST /queue/bounce?domain=DOMAIN
//     bounce --id ID             POST /queue/bounce?id=ID
//     bounce --sender ADDR       POST /queue/bounce?sender=ADDR
//     delete DOMAIN|--id ID|--sender ADDR   POST /queue/delete?...  (likewise)
//     inspect ID                 GET  /queue/message?id=ID
//
// Options may come before, between or after the command's words, as
// `--name=value` or `--name value` (a separate value may not start with
// '-'); `--` ends the options. Each option at most once; --for only with
// suspend, --id and --sender only with bounce and delete. Query values are
// percent-encoded (all but RFC 3986 unreserved characters); --for is sent
// in DurationToString's form (`--for 90m` sends for=1h30m). Values must be
// non-empty and free of control characters; what a domain, an id or a
// sender must look like is the relay's to say. The whole target must fit
// the admin port's bound (admin::kMaxTarget), or the relay would answer 414.
//
// Everything that is not a request is a usage error (exit 2): an unknown
// command or option, a missing or extra argument, a bad duration or address.
// `--help`, `-h` and `help` ask for the usage text.
//
// Usage:
//   const std::vector<std::string_view> args(argv + 1, argv + argc);
//   absl::StatusOr<ctl::CtlRequest> r = ctl::ParseArgs(args);
//   if (!r.ok()) { print r.status().message() and ctl::Usage(); exit 2; }

#ifndef RINGPOST_RELAY_CTL_ARGS_H_
#define RINGPOST_RELAY_CTL_ARGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ringpost::ctl {

// The relay's default `admin` setting.
inline constexpr std::string_view kDefaultAdmin = "127.0.0.1:8025";
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(10);
inline constexpr absl::Duration kMaxTimeout = absl::Hours(1);

// An admin address: "127.0.0.1:8025", "[::1]:8025", "localhost:8025".
struct AdminAddress {
  std::string host;  // without the brackets of an IPv6 address
  uint16_t port = 0;
};

struct CtlRequest {
  bool help = false;  // --help, -h or `help`: print the usage, nothing else
  std::string admin = std::string(kDefaultAdmin);  // as given, for Host: and messages
  AdminAddress address;                            // admin, parsed
  bool json = false;                               // --json: print the body as received
  absl::Duration timeout = kDefaultTimeout;        // connect and the whole exchange
  std::string command;                             // "summary", "suspend", ...
  std::string method;                              // "GET" or "POST"
  std::string target;                              // "/queue/...", query encoded
};

// The request `args` (argv without argv[0]) asks for, or InvalidArgument
// with the message for the operator.
absl::StatusOr<CtlRequest> ParseArgs(const std::vector<std::string_view>& args);

// HOST:PORT, or [IPV6]:PORT; the port 1..65535.
absl::StatusOr<AdminAddress> ParseAdminAddress(std::string_view text);

// `value` with every byte but ALPHA, DIGIT, '-', '.', '_' and '~' written as
// %XX (upper-case hex): a query value any reader decodes to `value`.
std::string EncodeQueryValue(std::string_view value);

// The usage text, ending in a newline.
std::string_view Usage();

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_ARGS_H_
