// tests/fuzz/http_request_fuzz.cc — libFuzzer target: the admin port's
// request reader (relay/admin/http.h), which reads whatever a peer on that
// port sends.
//
// Input: u16 cut, then the payload (the bytes received). Checks:
//   - each status keeps its promises: kDone with 0 < consumed <= size,
//     consumed <= kMaxHead, the head ending in CRLF CRLF, a GET, HEAD or
//     POST of an origin-form target within kMaxTarget, and no error; kError
//     with a
//     status of the documented set (400 405 413 414 431 505), words, and
//     nothing consumed; kNeedMore with nothing consumed and fewer than
//     kMaxHead bytes (a head that cannot end within them is refused);
//   - the answer never goes back on itself as bytes arrive: for the prefix
//     of `cut % (size + 1)` bytes, a kError is the whole input's kError with
//     the same status, and a kDone the same kDone (same consumed, same
//     request);
//   - Response() takes every error status and the request's own shape
//     without tripping its CHECKs;
//   - ParseQuery, on the payload and on an accepted request's query, never
//     crashes; what it accepts is at most kMaxQueryPairs pairs with
//     non-empty keys, no longer decoded than the query was, and encoding
//     the pairs again gives pairs it reads back the same.
// Seeds: tests/fuzz/corpus/http_request/.

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/admin/http.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::admin::ParseResult;
using ringpost::admin::ParseStatus;

void CheckResult(std::string_view data, const ParseResult& r) {
  switch (r.status) {
    case ParseStatus::kDone: {
      FUZZ_CHECK(r.consumed > 0);
      FUZZ_CHECK(r.consumed <= data.size());
      FUZZ_CHECK(r.consumed <= ringpost::admin::kMaxHead);
      FUZZ_CHECK(r.consumed >= 4);
      FUZZ_CHECK(data.substr(r.consumed - 4, 4) == "\r\n\r\n");
      FUZZ_CHECK(r.error_status == 0);
      FUZZ_CHECK(r.error.empty());
      FUZZ_CHECK(r.request.method == "GET" || r.request.method == "HEAD" ||
                 r.request.method == "POST");
      FUZZ_CHECK(!r.request.path.empty());
      FUZZ_CHECK(r.request.path.front() == '/');
      FUZZ_CHECK(r.request.path.find('?') == std::string::npos);
      FUZZ_CHECK(r.request.path.size() + r.request.query.size() <= ringpost::admin::kMaxTarget);
      FUZZ_CHECK(r.request.minor_version == 0 || r.request.minor_version == 1);
      break;
    }
    case ParseStatus::kError: {
      const int s = r.error_status;
      FUZZ_CHECK(s == 400 || s == 405 || s == 413 || s == 414 || s == 431 || s == 505);
      FUZZ_CHECK(!r.error.empty());
      FUZZ_CHECK(r.consumed == 0);
      FUZZ_CHECK(!ringpost::admin::ReasonPhrase(s).empty());
      break;
    }
    case ParseStatus::kNeedMore: {
      FUZZ_CHECK(r.consumed == 0);
      FUZZ_CHECK(r.error_status == 0);
      FUZZ_CHECK(data.size() < ringpost::admin::kMaxHead);
      break;
    }
  }
}

// %XX for every byte but the unreserved ones: a query any reader takes.
std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
        u == '-' || u == '.' || u == '_' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

void CheckQuery(std::string_view query) {
  const auto pairs = ringpost::admin::ParseQuery(query);
  if (!pairs) return;
  FUZZ_CHECK(pairs->size() <= ringpost::admin::kMaxQueryPairs);
  FUZZ_CHECK(pairs->empty() == query.empty());
  std::string again;
  for (const auto& [key, value] : *pairs) {
    FUZZ_CHECK(!key.empty());
    FUZZ_CHECK(key.size() + value.size() < query.size() + 1);
    if (!again.empty()) again.push_back('&');
    again += Encode(key) + "=" + Encode(value);
  }
  FUZZ_CHECK(ringpost::admin::ParseQuery(again) == pairs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return 0;
  ringpost::fuzz::FuzzInput in(data, size);
  const uint16_t cut = in.U16();
  const std::string_view payload = in.Rest();

  const ParseResult whole = ringpost::admin::ParseRequest(payload);
  CheckResult(payload, whole);

  const std::string_view prefix = payload.substr(0, cut % (payload.size() + 1));
  const ParseResult part = ringpost::admin::ParseRequest(prefix);
  CheckResult(prefix, part);
  if (part.status == ParseStatus::kError) {
    FUZZ_CHECK(whole.status == ParseStatus::kError);
    FUZZ_CHECK(whole.error_status == part.error_status);
  }
  if (part.status == ParseStatus::kDone) {
    FUZZ_CHECK(whole.status == ParseStatus::kDone);
    FUZZ_CHECK(whole.consumed == part.consumed);
    FUZZ_CHECK(whole.request.method == part.request.method);
    FUZZ_CHECK(whole.request.path == part.request.path);
    FUZZ_CHECK(whole.request.query == part.request.query);
    FUZZ_CHECK(whole.request.minor_version == part.request.minor_version);
    FUZZ_CHECK(whole.request.keep_alive == part.request.keep_alive);
  }

  CheckQuery(payload);
  if (whole.status == ParseStatus::kDone) CheckQuery(whole.request.query);

  if (whole.status == ParseStatus::kError) {
    const std::string response = ringpost::admin::Response(
        whole.error_status, "text/plain; charset=utf-8", whole.error, false, false);
    FUZZ_CHECK(response.starts_with("HTTP/1.1 "));
  }
  if (whole.status == ParseStatus::kDone) {
    const bool head = whole.request.method == "HEAD";
    const std::string response = ringpost::admin::Response(
        200, "text/plain; charset=utf-8", whole.request.path, head, whole.request.keep_alive);
    FUZZ_CHECK(response.ends_with(head ? std::string_view("\r\n\r\n") : whole.request.path));
  }
  return 0;
}
