// relay/admin/http.h — the pure half of the admin HTTP endpoint: a strict,
// bounded HTTP/1.x request reader and the writer of complete responses.
//
// The admin port serves GET /healthz, /readyz and /metrics to probes and
// scrapers (kubelet, Prometheus, curl), and takes the operator's queue
// commands (ringpostctl) as POSTs whose arguments are all in the query: a
// POST here has no body. It needs no bodies, no chunking, no absolute-form
// targets and no leniency, so this reader accepts the small strict subset of
// RFC 9112 those clients send and refuses the rest with the status code that
// names the problem; ParseQuery splits and decodes a target's query. Nothing
// here does I/O or keeps state: the shard appends what it reads to a buffer
// and calls ParseRequest on all of it after each read, until kDone (answer,
// drop `consumed` bytes, go on with what is left: pipelined requests) or
// kError (answer and close).
//
// Bounds: the head (request line and header fields, through the empty line)
// is at most kMaxHead octets and the target at most kMaxTarget; each call
// looks at no more than kMaxHead bytes, so it is O(kMaxHead) however much
// arrives. Errors are found as early as the bytes allow: a line that cannot
// become valid (a TLS ClientHello, a bare LF, a target already too long) is
// refused before it ends. An error found in some prefix of the input is the
// error of every longer input, and a kDone stays kDone with the same
// `consumed` (tests/fuzz/http_request_fuzz.cc checks both).
//
// The rules, and where we are stricter than the RFC allows:
//   - every line ends in CRLF. RFC 9112 section 2.2 lets a recipient accept
//     a bare LF; we refuse it (400), as any CR not followed by LF: on a port
//     for automated clients a bare LF means a confused or smuggling peer;
//   - no empty lines before the request line (400; section 2.2 says SHOULD
//     ignore one, no client of this port sends one);
//   - request-line `method SP target SP HTTP/1.x`, single spaces; the method
//     a token, GET, HEAD or POST (else 405); the target in origin-form ('/'
//     first, RFC 3986 path and query characters, well-formed %XX; else 400),
//     at most kMaxTarget octets (else 414); the version HTTP/1.0 or HTTP/1.1
//     (HTTP/d.d otherwise: 505; anything else: 400);
//   - header field names are tokens followed at once by ':' (whitespace
//     before the colon: 400, section 5.1); values hold no control characters
//     but HTAB; obs-fold (a line starting with SP or HTAB) is refused (400);
//   - HTTP/1.1 needs exactly one Host field (400, section 3.2); its value is
//     not interpreted;
//   - no bodies, for POST as for GET and HEAD: Transfer-Encoding of any kind
//     is refused (400: we frame no chunked body, and with it the head cannot
//     be delimited safely); Content-Length must be digits and zero (else 413
//     for a number, 400 for anything else) and appear at most once (400). A
//     POST without Content-Length has an empty body (RFC 9112 section 6.3:
//     a request with neither field has none), so no 411;
//   - keep-alive: HTTP/1.1 unless a Connection option says "close"; HTTP/1.0
//     only when one says "keep-alive" (section 9.3); options are
//     case-insensitive, comma-separated, across any number of fields.
// Percent-encoded paths are not decoded: the server matches paths exactly.
// The reader does not route: which method a path takes is the server's
// business (a POST to a GET-only path is its 405, with its own Allow).
//
// ParseQuery("domain=gmail.com&for=1h") gives the pairs in order, decoded
// (%XX, and '+' for a space as in HTML forms), or nullopt for a query that is
// not a list of KEY=VALUE separated by '&': a byte outside RFC 3986 query
// characters, a malformed %XX, an empty pair, a pair without '=' or with an
// empty key, more than kMaxQueryPairs pairs. Keys may repeat; the decoded
// bytes are not interpreted (the caller checks a domain is a domain).
//
// Usage (the shard, per connection):
//   const admin::ParseResult r = admin::ParseRequest(buffer);
//   if (r.status == admin::ParseStatus::kNeedMore) { read more; }
//   else if (r.status == admin::ParseStatus::kError) {
//     write Response(r.error_status, "text/plain; charset=utf-8", r.error + "\n",
//                    false, false); close;
//   } else { route r.request; drop r.consumed bytes; }
//   ...
//   const auto args = admin::ParseQuery(r.request.query);
//   if (!args) { 400; }

#ifndef RINGPOST_RELAY_ADMIN_HTTP_H_
#define RINGPOST_RELAY_ADMIN_HTTP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringpost::admin {

// The bounds of a request head (request line, fields, the final CRLF) and
// of its target, in octets.
inline constexpr size_t kMaxHead = 8192;
inline constexpr size_t kMaxTarget = 1024;
// The most KEY=VALUE pairs ParseQuery takes from one query.
inline constexpr size_t kMaxQueryPairs = 64;
// The methods ParseRequest accepts, as a 405's Allow field lists them.
inline constexpr std::string_view kAllowedMethods = "GET, HEAD, POST";

struct Request {
  std::string method;  // "GET", "HEAD" or "POST"
  std::string path;    // the target up to '?', not decoded; starts with '/'
  std::string query;   // after the first '?', without it; may be empty
  int minor_version = 1;
  bool keep_alive = true;
};

enum class ParseStatus : uint8_t { kNeedMore, kDone, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  // kDone: the bytes of this request (its head; it has no body), so a
  // pipelined next request starts at data[consumed]. 0 otherwise.
  size_t consumed = 0;
  Request request;  // kDone only
  // kError: 400, 405, 413, 414, 431 or 505 (see above). 0 otherwise.
  int error_status = 0;
  std::string error;  // kError: what was wrong, in words, for body and log
};

// Reads the request at the start of `data` (every byte received so far on
// the connection, after the requests already answered). Stateless: call it
// again with the longer buffer after each read.
ParseResult ParseRequest(std::string_view data);

// The KEY=VALUE pairs of `query` (a Request's query: after the '?'), in
// order, decoded; nullopt when it is not such a list (see above). An empty
// query is an empty list.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query);

// A complete HTTP/1.1 response: status line, Content-Type, Content-Length,
// Connection (close or keep-alive), Cache-Control: no-store (probes and
// scrapes must never see a cached answer), Allow for 405 (RFC 9110 section
// 15.5.6: `allow`, by default every method the reader accepts; a path that
// takes fewer names its own), the empty line and, unless `head_only` (a
// HEAD request), the body. Content-Length is the body's size in both cases.
// `status` is one with a body (200..599 but 204 and 304); `content_type` and
// `allow` valid field values.
std::string Response(int status, std::string_view content_type, std::string_view body,
                     bool head_only, bool keep_alive,
                     std::string_view allow = kAllowedMethods);

// The reason phrase of the statuses the admin port uses, "" for others (the
// phrase is optional, RFC 9112 section 4).
std::string_view ReasonPhrase(int status);

}  // namespace ringpost::admin

#endif  // RINGPOST_RELAY_ADMIN_HTTP_H_
