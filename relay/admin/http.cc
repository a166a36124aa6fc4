// relay/admin/http.cc — see http.h.
#include "relay/admin/http.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/check.h"

namespace ringpost::admin {
namespace {

// A refusal: the status and the words for it. status 0 means none.
struct Refusal {
  int status = 0;
  const char* what = "";
};

constexpr Refusal kFine{};

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 9110 section 5.6.2: tchar.
bool IsTokenChar(char c) {
  return IsAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 3986 origin-form characters: pchar of the path segments, '/', and
// '?' (the query may hold any pchar, '/' and '?'). '%' starts a %XX escape.
bool IsTargetChar(char c) {
  return IsAlnum(c) || std::string_view("-._~!$&'()*+,;=:@/?%").find(c) != std::string_view::npos;
}

// RFC 9110 section 5.5: field-vchar (VCHAR, obs-text), SP and HTAB. Every
// other control character, CR and LF included, is refused.
bool IsFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7F);
}

// ASCII case-insensitive equality: field names and Connection options.
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Checks the target `target`, which has ended (`ended`: the SP after it was
// seen) or may go on. Characters are judged in order, so a prefix refused
// stays refused with the same status however the target continues.
Refusal CheckTarget(std::string_view target, bool ended) {
  // Bounded by kMaxTarget + 1 iterations.
  for (size_t i = 0; i < target.size(); ++i) {
    if (i >= kMaxTarget) return {414, "the request target is too long"};
    const char c = target[i];
    if (i == 0 && c != '/') return {400, "the request target does not start with '/'"};
    if (!IsTargetChar(c)) return {400, "a character not allowed in the request target"};
    if (c != '%') continue;
    for (size_t j = i + 1; j <= i + 2; ++j) {
      if (j < target.size() ? !IsHexDigit(target[j]) : ended) {
        return {400, "a '%' in the request target not followed by two hex digits"};
      }
    }
  }
  if (ended && target.empty()) return {400, "an empty request target"};
  return kFine;
}

// Checks the version `v` ("HTTP/1.1" once `complete`, or a prefix of one)
// and sets *minor_version when it is complete and supported.
Refusal CheckVersion(std::string_view v, bool complete, int* minor_version) {
  constexpr std::string_view kPattern = "HTTP/#.#";  // '#': a digit
  for (size_t i = 0; i < v.size(); ++i) {
    if (i >= kPattern.size()) return {400, "the HTTP version is malformed"};
    const bool ok = kPattern[i] == '#' ? IsDigit(v[i]) : v[i] == kPattern[i];
    if (!ok) return {400, "the HTTP version is malformed"};
  }
  if (!complete) return kFine;
  if (v.size() != kPattern.size()) return {400, "the HTTP version is malformed"};
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
    return {505, "only HTTP/1.0 and HTTP/1.1 are supported"};
  }
  *minor_version = v[7] - '0';
  return kFine;
}

// Checks the request line `line` (without CRLF; a prefix of it unless
// `complete`) and, when complete and acceptable, fills the request's
// method, path, query and version.
Refusal CheckRequestLine(std::string_view line, bool complete, Request* request) {
  if (complete && line.empty()) return {400, "an empty line before the request line"};
  const size_t sp1 = line.find(' ');
  const std::string_view method = line.substr(0, sp1);
  for (const char c : method) {
    if (!IsTokenChar(c)) return {400, "the method is not a token"};
  }
  if (sp1 == std::string_view::npos) {
    return complete ? Refusal{400, "the request line is not 'method target version'"} : kFine;
  }
  if (method.empty()) return {400, "the request line starts with a space"};
  const std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  const std::string_view target = rest.substr(0, sp2);
  const Refusal target_refusal = CheckTarget(target, sp2 != std::string_view::npos || complete);
  if (target_refusal.status != 0) return target_refusal;
  if (sp2 == std::string_view::npos) {
    return complete ? Refusal{400, "the request line is not 'method target version'"} : kFine;
  }
  int minor_version = 1;
  const Refusal version_refusal = CheckVersion(rest.substr(sp2 + 1), complete, &minor_version);
  if (version_refusal.status != 0) return version_refusal;
  if (!complete) return kFine;
  if (method != "GET" && method != "HEAD" && method != "POST") {
    return {405, "only GET, HEAD and POST are allowed"};
  }
  request->method = std::string(method);
  const size_t question = target.find('?');
  request->path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request->query = std::string(target.substr(question + 1));
  request->minor_version = minor_version;
  return kFine;
}

// What the header fields said, gathered line by line.
struct Fields {
  int host_fields = 0;
  bool content_length_seen = false;
  bool close = false;       // a Connection option "close"
  bool keep_alive = false;  // a Connection option "keep-alive"
};

// Checks one field line `line` (without CRLF; a prefix of it unless
// `complete`) and, when complete, records what it says in *fields.
Refusal CheckFieldLine(std::string_view line, bool complete, Fields* fields) {
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    return {400, "obsolete line folding"};
  }
  const size_t colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  for (const char c : name) {
    if (c == ' ' || c == '\t') return {400, "whitespace in a field name or before its colon"};
    if (!IsTokenChar(c)) return {400, "a field name is not a token"};
  }
  if (colon == std::string_view::npos) {
    return complete ? Refusal{400, "a field line without a colon"} : kFine;
  }
  if (name.empty()) return {400, "an empty field name"};
  for (const char c : line.substr(colon + 1)) {
    if (!IsFieldValueChar(c)) return {400, "a control character in a field value"};
  }
  if (!complete) return kFine;
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (EqualsIgnoreCase(name, "Host")) {
    if (++fields->host_fields > 1) return {400, "more than one Host field"};
  } else if (EqualsIgnoreCase(name, "Content-Length")) {
    if (fields->content_length_seen) return {400, "more than one Content-Length field"};
    fields->content_length_seen = true;
    if (value.empty()) return {400, "Content-Length is not a number"};
    for (const char c : value) {
      if (!IsDigit(c)) return {400, "Content-Length is not a number"};
    }
    // Compared as text, so no length of digits can overflow.
    if (value.find_first_not_of('0') != std::string_view::npos) {
      return {413, "a request body (the admin port takes none)"};
    }
  } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
    return {400, "Transfer-Encoding (the admin port takes no body)"};
  } else if (EqualsIgnoreCase(name, "Connection")) {
    // A comma-separated list; bounded by the value's length.
    std::string_view rest = value;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view option = TrimOws(rest.substr(0, comma));
      if (EqualsIgnoreCase(option, "close")) fields->close = true;
      if (EqualsIgnoreCase(option, "keep-alive")) fields->keep_alive = true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return kFine;
}

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  DCHECK(c >= 'A' && c <= 'F');
  return c - 'A' + 10;
}

// One key or value of a query: RFC 3986 query characters but '&' (which
// separates pairs), '+' for a space, %XX for the byte XX.
std::optional<std::string> DecodeQueryPart(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    if (!IsTargetChar(c) || c == '&') return std::nullopt;
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (part.size() - i < 3) return std::nullopt;  // i < part.size(): no wrap
      if (!IsHexDigit(part[i + 1]) || !IsHexDigit(part[i + 2])) return std::nullopt;
      out.push_back(static_cast<char>(HexValue(part[i + 1]) * 16 + HexValue(part[i + 2])));
      i += 2;
    }
  }
  return out;
}

ParseResult Refuse(const Refusal& refusal) {
  DCHECK(refusal.status != 0);
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error_status = refusal.status;
  r.error = refusal.what;
  return r;
}

}  // namespace

ParseResult ParseRequest(std::string_view data) {
  // A head ends within its first kMaxHead bytes or not at all: nothing
  // beyond them is read, which bounds the work of every call.
  const std::string_view window = data.substr(0, kMaxHead);
  Request request;
  Fields fields;
  bool request_line = true;
  size_t pos = 0;
  // Bounded: each iteration consumes one line of the window.
  while (true) {
    const size_t lf = window.find('\n', pos);
    if (lf == std::string_view::npos) {
      // The line has not ended yet: refuse it now if no ending can save it.
      std::string_view partial = window.substr(pos);
      if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);  // CRLF to come
      const Refusal refusal = request_line ? CheckRequestLine(partial, false, &request)
                                           : CheckFieldLine(partial, false, &fields);
      if (refusal.status != 0) return Refuse(refusal);
      if (window.size() == kMaxHead) return Refuse({431, "the request head is too large"});
      return ParseResult{};
    }
    std::string_view line = window.substr(pos, lf - pos);
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    pos = lf + 1;
    if (!crlf) {
      // Refused for the bare LF, unless what came before it already was:
      // the refusal must be the one a prefix without the LF got.
      const Refusal refusal = request_line ? CheckRequestLine(line, false, &request)
                                           : CheckFieldLine(line, false, &fields);
      return Refuse(refusal.status != 0 ? refusal : Refusal{400, "a line ends in a bare LF"});
    }
    if (request_line) {
      const Refusal refusal = CheckRequestLine(line, true, &request);
      if (refusal.status != 0) return Refuse(refusal);
      request_line = false;
      continue;
    }
    if (line.empty()) break;  // the end of the head
    const Refusal refusal = CheckFieldLine(line, true, &fields);
    if (refusal.status != 0) return Refuse(refusal);
  }
  if (request.minor_version == 1 && fields.host_fields == 0) {
    return Refuse({400, "an HTTP/1.1 request without a Host field"});
  }
  request.keep_alive = request.minor_version == 1 ? !fields.close
                                                  : fields.keep_alive && !fields.close;
  ParseResult r;
  r.status = ParseStatus::kDone;
  r.consumed = pos;
  r.request = std::move(request);
  return r;
}

std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (query.empty()) return pairs;
  // Bounded: each iteration takes one pair off `rest`, at most
  // kMaxQueryPairs of them.
  std::string_view rest = query;
  while (true) {
    if (pairs.size() == kMaxQueryPairs) return std::nullopt;
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::optional<std::string> key = DecodeQueryPart(pair.substr(0, eq));
    std::optional<std::string> value = DecodeQueryPart(pair.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    pairs.emplace_back(*std::move(key), *std::move(value));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  DCHECK(!pairs.empty());
  DCHECK(pairs.size() <= kMaxQueryPairs);
  return pairs;
}

std::string Response(int status, std::string_view content_type, std::string_view body,
                     bool head_only, bool keep_alive, std::string_view allow) {
  // 1xx, 204 and 304 responses carry no body and no Content-Length of it.
  CHECK(status >= 200);
  CHECK(status <= 599);
  CHECK(status != 204);
  CHECK(status != 304);
  CHECK(content_type.find_first_of("\r\n") == std::string_view::npos);
  CHECK(allow.find_first_of("\r\n") == std::string_view::npos);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(ReasonPhrase(status));
  out.append("\r\nContent-Type: ");
  out.append(content_type);
  out.append("\r\nContent-Length: " + std::to_string(body.size()));
  out.append(keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close");
  out.append("\r\nCache-Control: no-store\r\n");
  if (status == 405) {
    out.append("Allow: ");
    out.append(allow);
    out.append("\r\n");
  }
  out.append("\r\n");
  if (!head_only) out.append(body);
  return out;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

}  // namespace ringpost::admin
