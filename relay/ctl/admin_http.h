// relay/ctl/admin_http.h — ringpostctl's side of the admin port's HTTP: the
// request it writes and the reader of the answer. Pure: admin_socket.h
// carries the bytes.
//
// The request is HTTP/1.1 in the strict form relay/admin/http.h reads:
// request line, Host (the --admin address as given), User-Agent, Accept:
// application/json, Content-Length: 0 for a POST (no body: the arguments
// are in the query), Connection: close, CRLF line ends.
//
// The answer is read to EOF (the request said close) and parsed: status line
// `HTTP/1.x NNN reason` (the reason may be empty), header fields `name:
// value` with CRLF line ends, at most kMaxResponseHead bytes of them, then
// the body: Content-Length bytes when the field is there (digits, once; a
// body cut short is refused, bytes after it are ignored), else everything
// to EOF. Transfer-Encoding is refused: the admin port never chunks, and
// nothing else answers on it. A 1xx is refused too (we never ask for one).
//
// Usage:
//   const std::string bytes = ctl::FormatRequest(request);
//   ... write bytes, read `raw` to EOF ...
//   absl::StatusOr<ctl::HttpResponse> r = ctl::ParseResponse(raw);

#ifndef RINGPOST_RELAY_CTL_ADMIN_HTTP_H_
#define RINGPOST_RELAY_CTL_ADMIN_HTTP_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "relay/ctl/args.h"

namespace ringpost::ctl {

inline constexpr size_t kMaxResponseHead = 64 << 10;

struct HttpResponse {
  int status = 0;                                            // 200..599
  std::string reason;                                        // may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // as received, values trimmed
  std::string body;

  // The first field named `name` (case-insensitive); "" when absent.
  std::string_view Header(std::string_view name) const;
};

// The bytes of `request`'s HTTP request.
std::string FormatRequest(const CtlRequest& request);

// The response `raw` (every byte read, to EOF) holds, or InvalidArgument
// saying what is wrong with it.
absl::StatusOr<HttpResponse> ParseResponse(std::string_view raw);

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_ADMIN_HTTP_H_
