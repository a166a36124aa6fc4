// http_test.cc — the admin request reader, rule by rule (a table of accepted
// requests, a table of refusals with their status), byte-by-byte arrival,
// pipelining, the bounds, the responses as golden strings, and the query
// parser (pairs, escapes, refusals, its bound).
#include "relay/admin/http.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::admin {
namespace {

using namespace std::string_literals;

struct Accepted {
  std::string input;
  std::string method;
  std::string path;
  std::string query;
  int minor_version;
  bool keep_alive;
};

const Accepted kAccepted[] = {
    {"GET /metrics HTTP/1.1\r\nHost: localhost:9090\r\n\r\n", "GET", "/metrics", "", 1, true},
    {"HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", "/healthz", "", 1, true},
    {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/", "", 1, true},
    // The query is split at the first '?'; the path is not decoded.
    {"GET /metrics?name%5B%5D=a&x=%2F HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/metrics",
     "name%5B%5D=a&x=%2F", 1, true},
    {"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/a", "b?c", 1, true},
    {"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/a", "", 1, true},
    {"GET /caf%C3%A9/x:y@z;p=1,2~!$&'()*+ HTTP/1.1\r\nHost: h\r\n\r\n", "GET",
     "/caf%C3%A9/x:y@z;p=1,2~!$&'()*+", "", 1, true},
    // HTTP/1.0: close unless asked to keep the connection; no Host needed.
    {"GET /readyz HTTP/1.0\r\n\r\n", "GET", "/readyz", "", 0, false},
    {"GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/readyz", "", 0, true},
    {"GET /readyz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/readyz", "", 0, true},
    {"GET /readyz HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", "GET", "/readyz", "", 0,
     false},
    // HTTP/1.1: keep-alive unless a Connection option says close, in any
    // case, in a list, in any of several fields.
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET", "/", "", 1, false},
    {"GET / HTTP/1.1\r\nHost: h\r\nconnection:CLOSE\r\n\r\n", "GET", "/", "", 1, false},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE , close\t\r\n\r\n", "GET", "/", "", 1, false},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE\r\nConnection: close\r\n\r\n", "GET", "/", "",
     1, false},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, keep-alive\r\n\r\n", "GET", "/", "", 1,
     true},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection:\r\n\r\n", "GET", "/", "", 1, true},
    // What scrapers and probes send.
    {"GET /metrics HTTP/1.1\r\nHost: 10.0.0.5:9102\r\nUser-Agent: Prometheus/2.42.0\r\n"
     "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
     "\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
     "GET", "/metrics", "", 1, true},
    {"GET /healthz HTTP/1.1\r\nHost: 10.0.0.5:9102\r\nUser-Agent: kube-probe/1.29\r\n"
     "Accept: */*\r\nConnection: close\r\n\r\n", "GET", "/healthz", "", 1, false},
    // Field values: OWS around, HTAB and obs-text inside; empty values;
    // field names in any case; Content-Length zero.
    {"GET / HTTP/1.1\r\nhOsT:h\r\nX-A: \t a\tb \xc3\xa9 \t\r\nX-Empty:\r\n\r\n", "GET", "/", "", 1,
     true},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "GET", "/", "", 1, true},
    {"GET / HTTP/1.1\r\nHost: h\r\ncontent-length: 000\r\n\r\n", "GET", "/", "", 1, true},
    {"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", "GET", "/", "", 1, true},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", "", 1, true},
    // POST: the operator's commands, arguments in the query, no body
    // (Content-Length absent or zero).
    {"POST /queue/suspend?domain=gmail.com&for=1h HTTP/1.1\r\nHost: 127.0.0.1:8025\r\n"
     "Content-Length: 0\r\nConnection: close\r\n\r\n",
     "POST", "/queue/suspend", "domain=gmail.com&for=1h", 1, false},
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\n\r\n", "POST", "/queue/flush", "", 1, true},
    {"POST /metrics HTTP/1.0\r\nContent-Length: 00\r\n\r\n", "POST", "/metrics", "", 0, false},
};

TEST(ParseRequest, Accepted) {
  for (const Accepted& a : kAccepted) {
    const ParseResult r = ParseRequest(a.input);
    ASSERT_EQ(r.status, ParseStatus::kDone) << a.input << r.error;
    EXPECT_EQ(r.consumed, a.input.size()) << a.input;
    EXPECT_EQ(r.request.method, a.method) << a.input;
    EXPECT_EQ(r.request.path, a.path) << a.input;
    EXPECT_EQ(r.request.query, a.query) << a.input;
    EXPECT_EQ(r.request.minor_version, a.minor_version) << a.input;
    EXPECT_EQ(r.request.keep_alive, a.keep_alive) << a.input;
    EXPECT_EQ(r.error_status, 0) << a.input;
  }
}

struct Refused {
  std::string input;
  int status;
};

const Refused kRefused[] = {
    // Line ends: CRLF only.
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
    {"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    // A line ending in a bare LF is refused for what came before the LF
    // first: that is what the bytes without the LF were already refused for.
    {"GET /" + std::string(kMaxTarget, 't') + " HTTP/1.1\nHost: h\r\n\r\n", 414},
    {"GET / HTTP/1.1\r\nX(A): b\nHost: h\r\n\r\n", 400},
    // No empty line before the request line.
    {"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    // The request line: single spaces, three parts.
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
    {"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {"GET\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    // The target: origin-form, allowed characters, well-formed escapes.
    {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET http://h/metrics HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET h/metrics HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a<b> HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /federate?match[]=up HTTP/1.1\r\nHost: h\r\n\r\n", 400},  // RFC 3986: %5B%5D
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s, 400},
    {"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /% HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%2g HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    // The version.
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},  // the HTTP/2 preface
    // The method: GET, HEAD and POST only, case-sensitive.
    {"PUT /queue HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"get / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"post / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"POSTS / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"DELETE /healthz HTTP/1.0\r\n\r\n", 405},
    // Field lines.
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},    // whitespace before the colon
    {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400},   // obs-fold
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX(A): b\r\n\r\n", 400},        // name not a token
    {"GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n", 400},            // empty name
    {"GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"s, 400},    // control characters
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1b[0m\r\n\r\n", 400},
    // Host: exactly one in HTTP/1.1.
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400},
    // No bodies.
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", 413},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 00010\r\n\r\n", 413},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: identity\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
     400},
    // A POST is held to the same rules: no body, however it is framed.
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 413},
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n", 413},
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\nContent-Length: five\r\n\r\n", 400},
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n"
     "\r\n", 400},
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400},
    {"POST /queue/flush HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
     "Transfer-Encoding: identity\r\n\r\n", 400},
    {"POST /queue/flush HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},  // no Host
    {"POST /queue/flush?domain=a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"POST /queue/flush?domain=%g0 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    // Not HTTP at all: a TLS ClientHello, an SMTP greeting.
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s, 400},
    {"EHLO client.example\r\n", 400},
};

TEST(ParseRequest, Refused) {
  for (const Refused& f : kRefused) {
    const ParseResult r = ParseRequest(f.input);
    ASSERT_EQ(r.status, ParseStatus::kError) << f.input;
    EXPECT_EQ(r.error_status, f.status) << f.input << " " << r.error;
    EXPECT_FALSE(r.error.empty()) << f.input;
    EXPECT_EQ(r.consumed, 0u) << f.input;
  }
}

// A refusal found in a prefix is the refusal of every longer input; before
// it, each prefix waits for more.
TEST(ParseRequest, RefusalsAreFinalOnceFound) {
  for (const Refused& f : kRefused) {
    bool refused = false;
    for (size_t n = 0; n <= f.input.size(); ++n) {
      const ParseResult r = ParseRequest(std::string_view(f.input).substr(0, n));
      if (refused) {
        ASSERT_EQ(r.status, ParseStatus::kError) << f.input << " at " << n;
        EXPECT_EQ(r.error_status, f.status) << f.input << " at " << n;
        continue;
      }
      ASSERT_NE(r.status, ParseStatus::kDone) << f.input << " at " << n;
      if (r.status == ParseStatus::kError) {
        EXPECT_EQ(r.error_status, f.status) << f.input << " at " << n;
        refused = true;
      }
    }
    EXPECT_TRUE(refused) << f.input;
  }
}

TEST(ParseRequest, RefusesGarbageAtTheFirstBadByte) {
  EXPECT_EQ(ParseRequest("\x16").error_status, 400);                // TLS handshake
  EXPECT_EQ(ParseRequest("GET /metrics HTTP/1.1\n").error_status, 400);
  EXPECT_EQ(ParseRequest("GET /a b").error_status, 400);            // version must be HTTP/
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: h\r\n ").error_status, 400);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost : ").error_status, 400);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: h\r\r").error_status, 400);
  // A CR at the end may yet be followed by its LF.
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r").status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: h\r").status, ParseStatus::kNeedMore);
  // 505 needs the whole version: "HTTP/2.0" could still become "HTTP/2.00".
  EXPECT_EQ(ParseRequest("GET / HTTP/2.0").status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseRequest("GET / HTTP/2.0\r\n").error_status, 505);
}

TEST(ParseRequest, EveryPrefixOfARequestNeedsMore) {
  for (const Accepted& a : kAccepted) {
    for (size_t n = 0; n < a.input.size(); ++n) {
      const ParseResult r = ParseRequest(std::string_view(a.input).substr(0, n));
      ASSERT_EQ(r.status, ParseStatus::kNeedMore) << a.input << " at " << n << " " << r.error;
      EXPECT_EQ(r.consumed, 0u);
    }
    EXPECT_EQ(ParseRequest(a.input).status, ParseStatus::kDone) << a.input;
  }
}

TEST(ParseRequest, PipelinedRequestsAreReadOneAtATime) {
  const std::string first = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "HEAD /metrics?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string data = first + second + "GET /rea";
  const ParseResult r1 = ParseRequest(data);
  ASSERT_EQ(r1.status, ParseStatus::kDone);
  EXPECT_EQ(r1.consumed, first.size());
  EXPECT_EQ(r1.request.path, "/healthz");
  EXPECT_TRUE(r1.request.keep_alive);
  const ParseResult r2 = ParseRequest(std::string_view(data).substr(r1.consumed));
  ASSERT_EQ(r2.status, ParseStatus::kDone);
  EXPECT_EQ(r2.consumed, second.size());
  EXPECT_EQ(r2.request.method, "HEAD");
  EXPECT_EQ(r2.request.path, "/metrics");
  EXPECT_EQ(r2.request.query, "x=1");
  EXPECT_FALSE(r2.request.keep_alive);
  const ParseResult r3 = ParseRequest(std::string_view(data).substr(r1.consumed + r2.consumed));
  EXPECT_EQ(r3.status, ParseStatus::kNeedMore);
  // Whatever follows a head is the next request's business, even garbage.
  const ParseResult r4 = ParseRequest(first + "\x16\x03\x01");
  ASSERT_EQ(r4.status, ParseStatus::kDone);
  EXPECT_EQ(r4.consumed, first.size());
}

// A request whose head is `size` octets, padded with one field.
std::string HeadOfSize(size_t size) {
  const std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(size - start.size() - end.size(), 'p') + end;
}

TEST(ParseRequest, HeadBound) {
  const std::string max = HeadOfSize(kMaxHead);
  ASSERT_EQ(max.size(), kMaxHead);
  const ParseResult ok = ParseRequest(max + "GET /next");
  ASSERT_EQ(ok.status, ParseStatus::kDone);
  EXPECT_EQ(ok.consumed, kMaxHead);

  const std::string over = HeadOfSize(kMaxHead + 1);
  const ParseResult r = ParseRequest(over);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error_status, 431);
  // Refused as soon as kMaxHead bytes hold no complete head, whatever follows.
  EXPECT_EQ(ParseRequest(over.substr(0, kMaxHead - 1)).status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseRequest(over.substr(0, kMaxHead)).error_status, 431);
  EXPECT_EQ(ParseRequest(std::string(kMaxHead, 'G')).error_status, 431);
  // Many small fields count the same as one big one.
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (many.size() < kMaxHead) many += "A: b\r\n";
  EXPECT_EQ(ParseRequest(many + "\r\n").error_status, 431);
}

TEST(ParseRequest, TargetBound) {
  const std::string max = "/" + std::string(kMaxTarget - 1, 't');
  const ParseResult ok = ParseRequest("GET " + max + " HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(ok.status, ParseStatus::kDone);
  EXPECT_EQ(ok.request.path, max);

  const std::string over = max + "t";
  EXPECT_EQ(ParseRequest("GET " + over + " HTTP/1.1\r\nHost: h\r\n\r\n").error_status, 414);
  // Refused before the request line ends, and before the head bound.
  EXPECT_EQ(ParseRequest("GET " + over).error_status, 414);
  EXPECT_EQ(ParseRequest("GET " + max).status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseRequest("GET /" + std::string(kMaxHead, 't')).error_status, 414);
  // A bad character within the bound is found first.
  EXPECT_EQ(ParseRequest("GET /<" + std::string(kMaxTarget, 't')).error_status, 400);
}

TEST(Response, Ok) {
  EXPECT_EQ(Response(200, "text/plain; charset=utf-8", "ok\n", false, true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 3\r\n"
            "Connection: keep-alive\r\n"
            "Cache-Control: no-store\r\n"
            "\r\n"
            "ok\n");
}

TEST(Response, HeadGetsTheHeadersOnly) {
  EXPECT_EQ(Response(503, "text/plain; charset=utf-8", "not ready\n", true, false),
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 10\r\n"
            "Connection: close\r\n"
            "Cache-Control: no-store\r\n"
            "\r\n");
}

TEST(Response, MethodNotAllowedSaysWhatIs) {
  EXPECT_EQ(Response(405, "text/plain", "", false, false),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 0\r\n"
            "Connection: close\r\n"
            "Cache-Control: no-store\r\n"
            "Allow: GET, HEAD, POST\r\n"
            "\r\n");
  // A path that takes fewer methods than the reader names them.
  EXPECT_EQ(Response(405, "text/plain", "", false, false, "GET, HEAD"),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 0\r\n"
            "Connection: close\r\n"
            "Cache-Control: no-store\r\n"
            "Allow: GET, HEAD\r\n"
            "\r\n");
  // Only a 405 says it.
  EXPECT_EQ(Response(404, "text/plain", "", false, false, "GET").find("Allow"),
            std::string::npos);
}

TEST(Response, UnknownStatusHasAnEmptyReason) {
  EXPECT_EQ(Response(299, "text/plain", "x", false, false).substr(0, 15), "HTTP/1.1 299 \r\n");
}

TEST(ReasonPhrase, EveryStatusTheReaderGives) {
  for (const int status : {200, 400, 404, 405, 408, 413, 414, 431, 500, 503, 505}) {
    EXPECT_FALSE(ReasonPhrase(status).empty()) << status;
  }
  EXPECT_EQ(ReasonPhrase(413), "Content Too Large");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(299), "");
}

TEST(ResponseDeathTest, StatusesWithoutABodyAreRefused) {
  EXPECT_DEATH(Response(204, "text/plain", "", false, false), "status != 204");
  EXPECT_DEATH(Response(100, "text/plain", "", false, false), "status >= 200");
  EXPECT_DEATH(Response(200, "text/plain\r\nX: y", "", false, false), "content_type");
  EXPECT_DEATH(Response(405, "text/plain", "", false, false, "GET\r\nX: y"), "allow");
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(ParseQuery, SplitsAndDecodes) {
  EXPECT_EQ(ParseQuery(""), Pairs{});
  EXPECT_EQ(ParseQuery("a=1&b=x%40y"), (Pairs{{"a", "1"}, {"b", "x@y"}}));
  EXPECT_EQ(ParseQuery("domain=gmail.com&for=1h30m"),
            (Pairs{{"domain", "gmail.com"}, {"for", "1h30m"}}));
  // '+' is a space, "%2B" a plus; hex digits in either case.
  EXPECT_EQ(ParseQuery("r=451+4.7.0+try%2blater%2B"), (Pairs{{"r", "451 4.7.0 try+later+"}}));
  // Keys may repeat, in order; values may be empty or hold '=', '/', '?'.
  EXPECT_EQ(ParseQuery("id=1&id=2&id=1"), (Pairs{{"id", "1"}, {"id", "2"}, {"id", "1"}}));
  EXPECT_EQ(ParseQuery("a=&b=="), (Pairs{{"a", ""}, {"b", "="}}));
  EXPECT_EQ(ParseQuery("a=/x?y=z:@!$'()*,;"), (Pairs{{"a", "/x?y=z:@!$'()*,;"}}));
  // Keys are decoded too; the decoded bytes are not interpreted.
  EXPECT_EQ(ParseQuery("k%20y=%00%FF%0d%0A"), (Pairs{{"k y", "\0\xff\r\n"s}}));
  EXPECT_EQ(ParseQuery("sender=caf%C3%A9%40example.org"),
            (Pairs{{"sender", "caf\xc3\xa9@example.org"}}));
}

TEST(ParseQuery, RefusesWhatIsNotAListOfPairs) {
  for (const std::string_view bad : {
           "a",           // no '='
           "a=1&b",       // the second has none
           "=1",          // an empty key
           "a=1&=2",
           "&",           // empty pairs
           "a=1&",
           "&a=1",
           "a=1&&b=2",
           "a=%",         // malformed escapes
           "a=%4",
           "a=%4g",
           "a=%%41",
           "%zz=1",
           "a=1%",
           "a=b c",       // characters no query holds
           "a=b#c",
           "a=<b>",
           "a=\"b\"",
           "a=[]",
           "a=\xc3\xa9",
       }) {
    EXPECT_EQ(ParseQuery(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(ParseQuery("a=b\0c"s), std::nullopt);
}

TEST(ParseQuery, Bound) {
  std::string query = "k=0";
  for (size_t i = 1; i < kMaxQueryPairs; ++i) query += "&k=" + std::to_string(i);
  const auto pairs = ParseQuery(query);
  ASSERT_TRUE(pairs.has_value());
  ASSERT_EQ(pairs->size(), kMaxQueryPairs);
  EXPECT_EQ(pairs->back(), (std::pair<std::string, std::string>{"k", "63"}));
  EXPECT_EQ(ParseQuery(query + "&k=64"), std::nullopt);
}

// What the reader accepts as a target's query, ParseQuery reads: the two
// agree on the characters and the escapes.
TEST(ParseQuery, TakesTheQueryOfAnAcceptedRequest) {
  const ParseResult r = ParseRequest(
      "POST /queue/bounce?sender=a%2Bb%40example.org&domain=example.org HTTP/1.1\r\n"
      "Host: h\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(ParseQuery(r.request.query),
            (Pairs{{"sender", "a+b@example.org"}, {"domain", "example.org"}}));
}

}  // namespace
}  // namespace ringpost::admin
