// relay/ctl/admin_http.cc — see admin_http.h.
#include "relay/ctl/admin_http.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "relay/ctl/absl_strings.h"

namespace ringpost::ctl {
namespace {

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(Cat("a malformed HTTP response: ", what));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, Av(name))) return v;
  }
  return "";
}

std::string FormatRequest(const CtlRequest& request) {
  std::string out =
      Cat(request.method, " ", request.target, " HTTP/1.1\r\n", "Host: ", request.admin, "\r\n",
          "User-Agent: ringpostctl\r\n", "Accept: application/json\r\n");
  if (request.method == "POST") out.append("Content-Length: 0\r\n");
  out.append("Connection: close\r\n\r\n");
  return out;
}

absl::StatusOr<HttpResponse> ParseResponse(std::string_view raw) {
  if (raw.empty()) return Bad("the connection closed without an answer");
  const size_t head_end = raw.substr(0, kMaxResponseHead).find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return Bad(raw.size() >= kMaxResponseHead ? "a head longer than 64 KiB"
                                              : "the connection closed inside the head");
  }
  std::string_view head = raw.substr(0, head_end + 2);  // each line with its CRLF
  HttpResponse r;

  // The status line: HTTP/1.x SP 3DIGIT [SP reason].
  size_t eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, eol);
  head.remove_prefix(eol + 2);
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || !IsDigit(status_line[7]) ||
      status_line[8] != ' ' || !IsDigit(status_line[9]) || !IsDigit(status_line[10]) ||
      !IsDigit(status_line[11]) || (status_line.size() > 12 && status_line[12] != ' ')) {
    return Bad(Cat("the status line \"", absl::CEscape(Av(status_line.substr(0, 80))), "\""));
  }
  r.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (r.status < 200 || r.status > 599) return Bad(Cat("status ", r.status));
  if (status_line.size() > 13) r.reason = std::string(status_line.substr(13));

  // The fields. Bounded by the head's size: each iteration takes a line.
  bool has_length = false;
  size_t length = 0;
  while (!head.empty()) {
    eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Bad(Cat("the field line \"", absl::CEscape(Av(line.substr(0, 80))), "\""));
    }
    const std::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) {
      return Bad("whitespace in a field name");
    }
    const std::string_view value = Sv(absl::StripAsciiWhitespace(Av(line.substr(colon + 1))));
    if (absl::EqualsIgnoreCase(Av(name), "Transfer-Encoding")) {
      return Bad("Transfer-Encoding (the admin port does not chunk)");
    }
    if (absl::EqualsIgnoreCase(Av(name), "Content-Length")) {
      if (has_length) return Bad("Content-Length twice");
      if (value.empty() || value.size() > 12 ||
          value.find_first_not_of("0123456789") != std::string_view::npos ||
          !absl::SimpleAtoi(Av(value), &length)) {
        return Bad(Cat("Content-Length \"", absl::CEscape(Av(value.substr(0, 20))), "\""));
      }
      has_length = true;
    }
    r.headers.emplace_back(std::string(name), std::string(value));
  }

  const std::string_view body = raw.substr(head_end + 4);
  if (has_length && body.size() < length) {
    return Bad(Cat("the body ends after ", body.size(), " of its ", length, " bytes"));
  }
  r.body = std::string(has_length ? body.substr(0, length) : body);
  return r;
}

}  // namespace ringpost::ctl
