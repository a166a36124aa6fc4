// admin_http_test.cc — the request ringpostctl writes (read back with the
// admin port's own reader, relay/admin/http.h) and the reading of answers:
// status line, fields, the body by Content-Length or to EOF, refusals.
#include "relay/ctl/admin_http.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "relay/admin/http.h"
#include "relay/ctl/args.h"
#include "relay/ctl/test_args.h"

namespace ringpost::ctl {
namespace {

using testing::Split;

using testing::Request;

TEST(FormatRequest, Golden) {
  EXPECT_EQ(FormatRequest(Request("summary")),
            "GET /queue/summary HTTP/1.1\r\n"
            "Host: 127.0.0.1:8025\r\n"
            "User-Agent: ringpostctl\r\n"
            "Accept: application/json\r\n"
            "Connection: close\r\n"
            "\r\n");
  EXPECT_EQ(FormatRequest(Request("--admin=[::1]:9025 suspend gmail.com --for 1h")),
            "POST /queue/suspend?domain=gmail.com&for=1h HTTP/1.1\r\n"
            "Host: [::1]:9025\r\n"
            "User-Agent: ringpostctl\r\n"
            "Accept: application/json\r\n"
            "Content-Length: 0\r\n"
            "Connection: close\r\n"
            "\r\n");
}

// The admin port's reader takes every request we write, whole, as the
// request we meant, and gives back the arguments we put in the query.
TEST(FormatRequest, TheAdminReaderTakesIt) {
  struct Case {
    std::string_view line;
    std::vector<std::pair<std::string, std::string>> query;
  };
  const Case cases[] = {
      {"summary", {}},
      {"suspend gmail.com --for 90m", {{"domain", "gmail.com"}, {"for", "1h30m"}}},
      {"resume gmail.com", {{"domain", "gmail.com"}}},
      {"flush", {}},
      {"flush [192.0.2.7]", {{"domain", "[192.0.2.7]"}}},
      {"bounce --sender o'brien+tag@shop.example", {{"sender", "o'brien+tag@shop.example"}}},
      {"delete --id 0190a1b2c3", {{"id", "0190a1b2c3"}}},
      {"inspect 0190a1b2c3", {{"id", "0190a1b2c3"}}},
      {"--admin=localhost:1 inspect a&b=c%d", {{"id", "a&b=c%d"}}},
  };
  for (const Case& c : cases) {
    const CtlRequest request = Request(c.line);
    const std::string bytes = FormatRequest(request);
    const admin::ParseResult r = admin::ParseRequest(bytes);
    ASSERT_EQ(r.status, admin::ParseStatus::kDone) << c.line << ": " << r.error;
    EXPECT_EQ(r.consumed, bytes.size()) << c.line;
    EXPECT_EQ(r.request.method, request.method) << c.line;
    EXPECT_EQ(r.request.path + (r.request.query.empty() ? "" : "?" + r.request.query),
              request.target)
        << c.line;
    EXPECT_FALSE(r.request.keep_alive) << c.line;
    EXPECT_EQ(admin::ParseQuery(r.request.query), c.query) << c.line;
  }
}

TEST(ParseResponse, WhatTheAdminPortWrites) {
  const std::string body = "{\"flushed\":12}";
  const absl::StatusOr<HttpResponse> r =
      ParseResponse(admin::Response(200, "application/json", body, false, false));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->reason, "OK");
  EXPECT_EQ(r->body, body);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_EQ(r->Header("X-Missing"), "");

  const absl::StatusOr<HttpResponse> e = ParseResponse(
      admin::Response(405, "text/plain; charset=utf-8", "only GET\n", false, false, "GET, HEAD"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->status, 405);
  EXPECT_EQ(e->reason, "Method Not Allowed");
  EXPECT_EQ(e->Header("Allow"), "GET, HEAD");
  EXPECT_EQ(e->body, "only GET\n");

  // An empty reason phrase.
  const absl::StatusOr<HttpResponse> x =
      ParseResponse(admin::Response(299, "text/plain", "x", false, false));
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->status, 299);
  EXPECT_EQ(x->reason, "");
}

TEST(ParseResponse, Bodies) {
  // Without Content-Length: to EOF.
  absl::StatusOr<HttpResponse> r = ParseResponse("HTTP/1.0 200 OK\r\nX: y\r\n\r\nall of it\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "all of it\r\n");
  // With it: that many bytes, whatever follows ignored.
  r = ParseResponse("HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabcdef");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "abc");
  r = ParseResponse("HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "");
  // Field values are trimmed; names keep their case.
  r = ParseResponse("HTTP/1.1 200 OK\r\ncontent-length:\t2 \r\nX-A:\r\n\r\nok");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "ok");
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].first, "content-length");
  EXPECT_EQ(r->headers[0].second, "2");
  EXPECT_EQ(r->headers[1].second, "");
}

TEST(ParseResponse, Refuses) {
  for (const std::string_view bad : {
           "",
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",  // the head never ends
           "HTTP/1.1 200 OK\n\n",                       // bare LF
           "HTTP/2 200 OK\r\n\r\n",
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1  200 OK\r\n\r\n",
           "http/1.1 200 OK\r\n\r\n",
           "SSH-2.0-OpenSSH_9.2\r\n\r\n",
           "220 mail.example ESMTP\r\n\r\n",  // an SMTP port
           "HTTP/1.1 100 Continue\r\n\r\n",
           "HTTP/1.1 099 x\r\n\r\n",
           "HTTP/1.1 600 x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
           "HTTP/1.1 200 OK\r\n: v\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX A: v\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",  // cut short
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nx",
       }) {
    const absl::StatusOr<HttpResponse> r = ParseResponse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(absl::StartsWith(r.status().message(), "a malformed HTTP response: "))
        << r.status();
  }
  EXPECT_EQ(std::string(ParseResponse("").status().message()),
            "a malformed HTTP response: the connection closed without an answer");
  EXPECT_EQ(
      std::string(
          ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc").status().message()),
      "a malformed HTTP response: the body ends after 3 of its 5 bytes");
  // A head that does not end within the bound.
  const std::string long_head = "HTTP/1.1 200 OK\r\nX: " + std::string(kMaxResponseHead, 'x');
  EXPECT_EQ(std::string(ParseResponse(long_head).status().message()),
            "a malformed HTTP response: a head longer than 64 KiB");
}

}  // namespace
}  // namespace ringpost::ctl
