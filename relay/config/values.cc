// relay/config/values.cc — the syntax of setting values: unsigned numbers,
// durations ("1h30m"), byte sizes ("64M", binary), HOST[:PORT], numeric
// socket addresses, CIDR networks, and static routes DOMAIN=HOST[:PORT].
//
// Each parser is strict (no signs, no spaces inside a value, no silent
// truncation), bounded (digits, lengths) and gives an error that quotes the
// text and says what was expected. Host names and route domains are checked
// by base/mailbox.h, the one grammar for names in envelope addresses:
// a next hop is a kHostName, a route's domain is a mail domain (what a
// recipient address can hold, ASCII), so a route that no recipient could
// match is refused at start-up. The settings table (settings.cc) adds each
// setting's bounds on top.

#include <arpa/inet.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "base/check.h"
#include "base/mailbox.h"
#include "relay/config/config.h"
#include "relay/config/config_internal.h"

namespace ringpost {

namespace config_internal {
namespace {

constexpr size_t kMaxDigits = 19;  // < 2^63: no overflow in ParseUint
constexpr uint64_t kMaxDurationUs = uint64_t{100} * 365 * 24 * 3600 * 1000 * 1000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string Quote(std::string_view s) { return Cat("\"", s, "\""); }

// Strict unsigned decimal: digits only, no sign, no spaces.
absl::StatusOr<uint64_t> ParseUint(std::string_view text, uint64_t max) {
  if (text.empty()) return absl::InvalidArgumentError("expected a number, got an empty value");
  if (text.size() > kMaxDigits) {
    return absl::InvalidArgumentError(Cat(Quote(text), " is too large"));
  }
  uint64_t v = 0;
  for (char c : text) {
    if (!IsDigit(c)) {
      return absl::InvalidArgumentError(
          Cat(Quote(text), " is not a non-negative integer"));
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) {
    return absl::InvalidArgumentError(Cat(Quote(text), " exceeds ", max));
  }
  return v;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

namespace {

bool LooksNumeric(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return IsDigit(c) || c == '.'; });
}

bool ParseIPv4(std::string_view s, in_addr* out) {
  if (s.size() > INET_ADDRSTRLEN) return false;
  const std::string z(s);
  return inet_pton(AF_INET, z.c_str(), out) == 1;
}

bool ParseIPv6(std::string_view s, in6_addr* out) {
  if (s.size() > INET6_ADDRSTRLEN) return false;
  const std::string z(s);
  return inet_pton(AF_INET6, z.c_str(), out) == 1;
}

std::string BracketIfV6(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return Cat("[", host, "]");
  return std::string(host);
}

}  // namespace

std::string FormatHostPort(std::string_view host, uint16_t port) {
  return Cat(BracketIfV6(host), ":", port);
}

// Splits a flag-syntax list: comma-separated, items trimmed, "" = no items.
absl::StatusOr<std::vector<std::string>> SplitList(std::string_view value) {
  std::vector<std::string> items;
  if (absl::StripAsciiWhitespace(Av(value)).empty()) return items;
  for (absl::string_view piece : absl::StrSplit(Av(value), ',')) {
    const std::string_view item = Sv(absl::StripAsciiWhitespace(piece));
    if (item.empty()) return absl::InvalidArgumentError("empty item in list");
    if (items.size() >= kMaxListItems) {
      return absl::InvalidArgumentError(Cat("more than ", kMaxListItems, " items"));
    }
    items.emplace_back(item);
  }
  return items;
}

}  // namespace config_internal

using namespace config_internal;  // NOLINT(build/namespaces): the package's helpers

// ---------------------------------------------------------------------------
// Durations and byte sizes.

// Duration units, largest first (DurationToString picks the largest that
// divides the value exactly).
struct DurationUnit {
  int64_t us;
  std::string_view suffix;
};
constexpr DurationUnit kDurationUnits[] = {{int64_t{24} * 3600 * 1000 * 1000, "d"},
                                           {int64_t{3600} * 1000 * 1000, "h"},
                                           {int64_t{60} * 1000 * 1000, "m"},
                                           {1000 * 1000, "s"},
                                           {1000, "ms"},
                                           {1, "us"}};

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  if (text == "0") return absl::ZeroDuration();
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  if (text.size() > 64) return absl::InvalidArgumentError("duration too long");
  uint64_t total_us = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && IsDigit(rest[digits])) digits++;
    if (digits == 0) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text),
                                                     ": expected digits then a unit, e.g. \"30s\""));
    }
    absl::StatusOr<uint64_t> n = ParseUint(rest.substr(0, digits), kMaxDurationUs);
    if (!n.ok()) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text), ": too large"));
    }
    rest.remove_prefix(digits);
    size_t unit_len = 0;
    while (unit_len < rest.size() && absl::ascii_isalpha(static_cast<unsigned char>(rest[unit_len]))) {
      unit_len++;
    }
    const std::string_view unit = rest.substr(0, unit_len);
    uint64_t unit_us = 0;
    for (const DurationUnit& u : kDurationUnits) {
      if (unit == u.suffix) unit_us = static_cast<uint64_t>(u.us);
    }
    if (unit_us == 0 && unit.empty()) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text),
                                                     ": missing unit after ", *n,
                                                     " (us, ms, s, m, h, d), e.g. \"", *n, "s\""));
    }
    if (unit_us == 0) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text), ": unknown unit ",
                                                     Quote(unit), " (use us, ms, s, m, h, d)"));
    }
    rest.remove_prefix(unit_len);
    if (*n > (kMaxDurationUs - total_us) / unit_us) {
      return absl::InvalidArgumentError(
          Cat("bad duration ", Quote(text), ": longer than 100 years"));
    }
    total_us += *n * unit_us;
  }
  return absl::Microseconds(static_cast<int64_t>(total_us));
}

std::string DurationToString(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return "0";
  const int64_t us = absl::ToInt64Microseconds(d);
  if (us == 0) return "0";
  for (const DurationUnit& u : kDurationUnits) {
    if (us % u.us == 0) return Cat(us / u.us, u.suffix);
  }
  return Cat(us, "us");  // unreachable: the last unit divides all
}

absl::StatusOr<uint64_t> ParseBytes(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && IsDigit(text[digits])) digits++;
  if (digits == 0) {
    return absl::InvalidArgumentError(Cat("bad size ", Quote(text),
                                                   ": expected digits and an optional K, M, G, T"));
  }
  absl::StatusOr<uint64_t> n = ParseUint(text.substr(0, digits), UINT64_MAX);
  if (!n.ok()) return absl::InvalidArgumentError(Cat("bad size ", Quote(text), ": too large"));
  std::string suffix = absl::AsciiStrToLower(Av(text.substr(digits)));
  uint64_t multiplier = 1;
  if (!suffix.empty() && suffix != "b") {
    switch (suffix[0]) {
      case 'k': multiplier = kKiB; break;
      case 'm': multiplier = kMiB; break;
      case 'g': multiplier = kGiB; break;
      case 't': multiplier = kTiB; break;
      default: multiplier = 0; break;
    }
    const std::string_view tail = std::string_view(suffix).substr(1);
    if (multiplier == 0 || !(tail.empty() || tail == "b" || tail == "ib")) {
      return absl::InvalidArgumentError(Cat("bad size ", Quote(text), ": unknown unit ",
                                                     Quote(text.substr(digits)),
                                                     " (use K, M, G, T; binary)"));
    }
  }
  if (*n > UINT64_MAX / multiplier) {
    return absl::InvalidArgumentError(Cat("bad size ", Quote(text), ": too large"));
  }
  return *n * multiplier;
}

std::string BytesToString(uint64_t bytes) {
  if (bytes == 0) return "0";
  if (bytes % kTiB == 0) return Cat(bytes / kTiB, "T");
  if (bytes % kGiB == 0) return Cat(bytes / kGiB, "G");
  if (bytes % kMiB == 0) return Cat(bytes / kMiB, "M");
  if (bytes % kKiB == 0) return Cat(bytes / kKiB, "K");
  return Cat(bytes);
}

// ---------------------------------------------------------------------------
// Addresses, networks, routes.

absl::StatusOr<HostPort> ParseHostPort(std::string_view text, std::optional<uint16_t> default_port) {
  if (text.empty()) return absl::InvalidArgumentError("empty address");
  if (text.size() > 300) return absl::InvalidArgumentError("address too long");
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat(Quote(text), ": missing ']'"));
    }
    host = text.substr(1, close - 1);
    std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError(Cat(Quote(text), ": expected ':PORT' after ']'"));
      }
      port_text = after.substr(1);
      has_port = true;
    }
    if (host.find(':') != std::string_view::npos) {
      in6_addr a6;
      if (!ParseIPv6(host, &a6)) {
        return absl::InvalidArgumentError(Cat(Quote(text), ": bad IPv6 address"));
      }
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat(Quote(text), ": an IPv6 address needs brackets, e.g. [::1]:25"));
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return absl::InvalidArgumentError(Cat(Quote(text), ": empty host"));
  if (host.find(':') == std::string_view::npos) {
    in_addr a4;
    if (LooksNumeric(host)) {
      if (!ParseIPv4(host, &a4)) {
        return absl::InvalidArgumentError(Cat(Quote(text), ": bad IPv4 address"));
      }
    } else if (base::CheckName(host, base::kHostName) != base::NameError::kOk) {
      return absl::InvalidArgumentError(Cat(Quote(text), ": bad host name"));
    }
  }
  HostPort out;
  out.host = std::string(host);
  if (has_port) {
    absl::StatusOr<uint64_t> port = ParseUint(port_text, 65535);
    if (!port.ok() || *port == 0) {
      return absl::InvalidArgumentError(
          Cat(Quote(text), ": port must be 1..65535, got ", Quote(port_text)));
    }
    out.port = static_cast<uint16_t>(*port);
  } else if (default_port.has_value()) {
    CHECK(*default_port != 0);
    out.port = *default_port;
  } else {
    return absl::InvalidArgumentError(Cat(Quote(text), ": missing :PORT"));
  }
  return out;
}

absl::StatusOr<sockaddr_storage> ParseSocketAddress(std::string_view text,
                                                    std::optional<uint16_t> default_port) {
  absl::StatusOr<HostPort> hp = ParseHostPort(text, default_port);
  if (!hp.ok()) return hp.status();
  sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (hp->host.find(':') != std::string::npos) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(hp->port);
    if (!ParseIPv6(hp->host, &sin6->sin6_addr)) {
      return absl::InvalidArgumentError(Cat(Quote(text), ": bad IPv6 address"));
    }
    return ss;
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(hp->port);
  if (!ParseIPv4(hp->host, &sin->sin_addr)) {
    return absl::InvalidArgumentError(Cat(
        Quote(text), ": expected a numeric address (IPv4, or IPv6 in brackets), not a name"));
  }
  return ss;
}

absl::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty network");
  const size_t slash = text.find('/');
  const std::string_view addr = text.substr(0, slash);
  Cidr c;
  int max_prefix = 0;
  if (addr.find(':') != std::string_view::npos) {
    in6_addr a6;
    if (!ParseIPv6(addr, &a6)) {
      return absl::InvalidArgumentError(Cat(Quote(text), ": bad IPv6 address"));
    }
    c.family = AF_INET6;
    memcpy(c.network.data(), &a6, 16);
    max_prefix = 128;
  } else {
    in_addr a4;
    if (!ParseIPv4(addr, &a4)) {
      return absl::InvalidArgumentError(Cat(Quote(text), ": bad IPv4 address"));
    }
    c.family = AF_INET;
    memcpy(c.network.data(), &a4, 4);
    max_prefix = 32;
  }
  c.prefix_len = max_prefix;
  if (slash != std::string_view::npos) {
    absl::StatusOr<uint64_t> p = ParseUint(text.substr(slash + 1), static_cast<uint64_t>(max_prefix));
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          Cat(Quote(text), ": prefix length must be 0..", max_prefix));
    }
    c.prefix_len = static_cast<int>(*p);
  }
  // Host bits after the prefix must be zero.
  const size_t bytes = max_prefix / 8;
  for (size_t i = 0; i < bytes; i++) {
    const int bits_in_prefix = std::clamp(c.prefix_len - static_cast<int>(i * 8), 0, 8);
    const uint8_t host_mask = static_cast<uint8_t>(0xFFu >> bits_in_prefix);
    if ((c.network[i] & host_mask) != 0) {
      for (size_t j = i; j < bytes; j++) {
        const int b = std::clamp(c.prefix_len - static_cast<int>(j * 8), 0, 8);
        c.network[j] &= static_cast<uint8_t>(~(0xFFu >> b));
      }
      return absl::InvalidArgumentError(Cat(Quote(text), ": host bits set; did you mean ",
                                                     c.ToString(), "?"));
    }
  }
  return c;
}

std::string Cidr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, network.data(), buf, sizeof(buf));
  } else if (family == AF_INET6) {
    inet_ntop(AF_INET6, network.data(), buf, sizeof(buf));
  } else {
    return "(unset)";
  }
  return Cat(buf, "/", prefix_len);
}

namespace {

bool PrefixMatches(const uint8_t* net, const uint8_t* addr, int prefix_len) {
  const int full = prefix_len / 8;
  if (memcmp(net, addr, static_cast<size_t>(full)) != 0) return false;
  const int rest = prefix_len % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFFu << (8 - rest));
  return (net[full] & mask) == (addr[full] & mask);
}

}  // namespace

bool Cidr::Contains(const sockaddr* addr) const {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET) {
    if (family != AF_INET) return false;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
    return PrefixMatches(network.data(), reinterpret_cast<const uint8_t*>(&sin->sin_addr),
                         prefix_len);
  }
  if (addr->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr);
    const auto* bytes = reinterpret_cast<const uint8_t*>(&sin6->sin6_addr);
    if (family == AF_INET6) return PrefixMatches(network.data(), bytes, prefix_len);
    if (family == AF_INET && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      return PrefixMatches(network.data(), bytes + 12, prefix_len);
    }
  }
  return false;
}

bool Cidr::Contains(const sockaddr_storage& addr) const {
  return Contains(reinterpret_cast<const sockaddr*>(&addr));
}

bool IsFullyQualifiedHostname(std::string_view name) {
  if (base::CheckName(name, base::kHostName) != base::NameError::kOk) return false;
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return false;
  std::string_view last = name.substr(dot + 1);
  return !std::all_of(last.begin(), last.end(),
                      [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

namespace {

// A recipient domain as route and TLS policy entries name it: lowercase,
// without a trailing dot, a domain name (not an address).
absl::StatusOr<std::string> ParseDomainKey(std::string_view text, std::string_view entry,
                                           bool star_allowed) {
  std::string_view domain = Sv(absl::StripAsciiWhitespace(Av(text)));
  if (!domain.empty() && domain.back() == '.' && domain != ".") domain.remove_suffix(1);
  std::string key = absl::AsciiStrToLower(Av(domain));
  if (star_allowed && key == "*") return key;
  // The domain of recipient addresses it is for (ASCII: entries are
  // matched against lowercased domains byte by byte).
  const base::NameError e = base::CheckName(key, base::kMailDomain);
  if (e != base::NameError::kOk || LooksNumeric(key)) {
    return absl::InvalidArgumentError(
        Cat(Quote(entry), ": bad domain ", Quote(domain),
            star_allowed ? " (a domain name or *" : " (a domain name",
            e != base::NameError::kOk ? Cat(": ", base::NameErrorText(e)) : std::string(), ")"));
  }
  return key;
}

}  // namespace

absl::StatusOr<Route> ParseRoute(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat(Quote(text), ": expected DOMAIN=HOST[:PORT], e.g. example.com=10.0.0.1:25"));
  }
  Route r;
  absl::StatusOr<std::string> domain = ParseDomainKey(text.substr(0, eq), text, true);
  if (!domain.ok()) return domain.status();
  r.domain = *std::move(domain);
  absl::StatusOr<HostPort> hp =
      ParseHostPort(Sv(absl::StripAsciiWhitespace(Av(text.substr(eq + 1)))), uint16_t{25});
  if (!hp.ok()) return hp.status();
  r.host = std::move(hp->host);
  r.port = hp->port;
  return r;
}

std::string_view TlsLevelName(TlsLevel level) {
  switch (level) {
    case TlsLevel::kNone: return "none";
    case TlsLevel::kMay: return "may";
    case TlsLevel::kEncrypt: return "encrypt";
    case TlsLevel::kVerify: return "verify";
  }
  return "may";
}

absl::StatusOr<TlsLevel> ParseTlsLevel(std::string_view text) {
  for (TlsLevel level : {TlsLevel::kNone, TlsLevel::kMay, TlsLevel::kEncrypt, TlsLevel::kVerify}) {
    if (text == TlsLevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      Cat("must be none, may, encrypt or verify, got ", Quote(text)));
}

absl::StatusOr<TlsPolicy> ParseTlsPolicy(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat(Quote(text), ": expected DOMAIN=LEVEL, e.g. example.com=verify"));
  }
  TlsPolicy p;
  absl::StatusOr<std::string> domain = ParseDomainKey(text.substr(0, eq), text, false);
  if (!domain.ok()) return domain.status();
  p.domain = *std::move(domain);
  absl::StatusOr<TlsLevel> level =
      ParseTlsLevel(Sv(absl::StripAsciiWhitespace(Av(text.substr(eq + 1)))));
  if (!level.ok()) return absl::InvalidArgumentError(Cat(Quote(text), ": ", level.status().message()));
  p.level = *level;
  return p;
}

TlsLevel TlsLevelFor(const Config& config, std::string_view domain) {
  for (const TlsPolicy& p : config.outbound_tls_policy) {
    if (p.domain == domain) return p.level;
  }
  return config.outbound_tls;
}

namespace {

struct RateUnit {
  char unit;
  absl::Duration per;
};
constexpr RateUnit kRateUnits[] = {{'s', absl::Seconds(1)},
                                   {'m', absl::Minutes(1)},
                                   {'h', absl::Hours(1)},
                                   {'d', absl::Hours(24)}};

// The MATCH of a destination_policy entry, lowercased, without a trailing
// dot: a domain, "*.domain", "mx:host", "mx:*.suffix" or "*".
absl::StatusOr<std::string> ParsePolicyMatch(std::string_view text, std::string_view entry) {
  std::string key = absl::AsciiStrToLower(Av(text));
  if (key.size() > 1 && key.back() == '.') key.pop_back();
  if (key == "*") return key;
  std::string_view name = key;
  if (absl::StartsWith(Av(name), "mx:")) name.remove_prefix(3);
  if (absl::StartsWith(Av(name), "*.")) name.remove_prefix(2);
  const base::NameError e = base::CheckName(name, base::kMailDomain);
  if (e != base::NameError::kOk || LooksNumeric(name)) {
    return absl::InvalidArgumentError(
        Cat(Quote(entry), ": bad match ", Quote(text),
            " (a domain, *.domain, mx:host, mx:*.suffix or *",
            e != base::NameError::kOk ? Cat(": ", base::NameErrorText(e)) : std::string(), ")"));
  }
  return key;
}

}  // namespace

absl::StatusOr<RateLimit> ParseRateLimit(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash != std::string_view::npos && slash + 2 == text.size()) {
    for (const RateUnit& u : kRateUnits) {
      if (text[slash + 1] != u.unit) continue;
      absl::StatusOr<uint64_t> n = ParseUint(text.substr(0, slash), 1'000'000'000);
      if (!n.ok() || *n == 0) break;
      return RateLimit{*n, u.per};
    }
  }
  return absl::InvalidArgumentError(
      Cat("expected COUNT/UNIT (1..1000000000 per s, m, h or d, e.g. 100/s), got ", Quote(text)));
}

std::string RateLimitToString(const RateLimit& rate) {
  for (const RateUnit& u : kRateUnits) {
    if (rate.per == u.per) return Cat(rate.count, "/", std::string(1, u.unit));
  }
  return Cat(rate.count, "/s");  // unreachable for a parsed rate
}

absl::StatusOr<DestinationPolicy> ParseDestinationPolicy(std::string_view text) {
  std::vector<absl::string_view> words =
      absl::StrSplit(Av(text), absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.size() < 2) {
    return absl::InvalidArgumentError(
        Cat(Quote(text), ": expected MATCH KEY=VALUE ..., e.g. gmail.com max_connections=20"));
  }
  DestinationPolicy p;
  absl::StatusOr<std::string> match = ParsePolicyMatch(Sv(words[0]), text);
  if (!match.ok()) return match.status();
  p.match = *std::move(match);
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string_view word = Sv(words[i]);
    const size_t eq = word.find('=');
    const std::string_view key = word.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : word.substr(eq + 1);
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(Cat(Quote(text), ": ", key, ": ", why));
    };
    auto count = [&](std::optional<size_t>* field, uint64_t max) -> absl::Status {
      absl::StatusOr<uint64_t> n = ParseUint(value, max);
      if (!n.ok() || *n == 0) return bad(Cat("must be 1..", max, ", got ", Quote(value)));
      *field = static_cast<size_t>(*n);
      return absl::OkStatus();
    };
    auto rate = [&](std::optional<RateLimit>* field) -> absl::Status {
      absl::StatusOr<RateLimit> r = ParseRateLimit(value);
      if (!r.ok()) return bad(Sv(r.status().message()));
      *field = *r;
      return absl::OkStatus();
    };
    auto burst = [&](std::optional<uint32_t>* field) -> absl::Status {
      absl::StatusOr<uint64_t> n = ParseUint(value, 1'000'000);
      if (!n.ok() || *n == 0) return bad(Cat("must be 1..1000000, got ", Quote(value)));
      *field = static_cast<uint32_t>(*n);
      return absl::OkStatus();
    };
    auto duration = [&](std::optional<absl::Duration>* field) -> absl::Status {
      absl::StatusOr<absl::Duration> d = ParseDuration(value);
      if (!d.ok() || *d < absl::Milliseconds(1) || *d > absl::Hours(24 * 30)) {
        return bad(Cat("must be a duration from 1ms to 30d, got ", Quote(value)));
      }
      *field = *d;
      return absl::OkStatus();
    };
    if (eq == std::string_view::npos || value.empty()) return bad("expected KEY=VALUE");
    absl::Status status;
    if (key == "max_connections") {
      status = count(&p.max_connections, 100'000);
    } else if (key == "max_messages_per_connection") {
      status = count(&p.max_messages_per_connection, 1'000'000);
    } else if (key == "max_recipients_per_transaction") {
      status = count(&p.max_recipients_per_transaction, 100'000);
    } else if (key == "message_rate") {
      status = rate(&p.message_rate);
    } else if (key == "message_burst") {
      status = burst(&p.message_burst);
    } else if (key == "connection_rate") {
      status = rate(&p.connection_rate);
    } else if (key == "connection_burst") {
      status = burst(&p.connection_burst);
    } else if (key == "tls") {
      absl::StatusOr<TlsLevel> level = ParseTlsLevel(value);
      if (!level.ok()) return bad(Sv(level.status().message()));
      p.tls = *level;
    } else if (key == "retry_min") {
      status = duration(&p.retry_min);
    } else if (key == "retry_max") {
      status = duration(&p.retry_max);
    } else {
      return bad(
          "unknown key (max_connections, max_messages_per_connection, "
          "max_recipients_per_transaction, message_rate, message_burst, connection_rate, "
          "connection_burst, tls, retry_min, retry_max)");
    }
    if (!status.ok()) return status;
  }
  if (p.retry_min && p.retry_max && *p.retry_min > *p.retry_max) {
    return absl::InvalidArgumentError(Cat(Quote(text), ": retry_min is greater than retry_max"));
  }
  return p;
}

std::string DestinationPolicyToString(const DestinationPolicy& p) {
  std::string out = p.match;
  auto add = [&out](std::string_view key, const std::string& value) {
    CatAppend(&out, " ", key, "=", value);
  };
  if (p.max_connections) add("max_connections", Cat(*p.max_connections));
  if (p.max_messages_per_connection) {
    add("max_messages_per_connection", Cat(*p.max_messages_per_connection));
  }
  if (p.max_recipients_per_transaction) {
    add("max_recipients_per_transaction", Cat(*p.max_recipients_per_transaction));
  }
  if (p.message_rate) add("message_rate", RateLimitToString(*p.message_rate));
  if (p.message_burst) add("message_burst", Cat(*p.message_burst));
  if (p.connection_rate) add("connection_rate", RateLimitToString(*p.connection_rate));
  if (p.connection_burst) add("connection_burst", Cat(*p.connection_burst));
  if (p.tls) add("tls", std::string(TlsLevelName(*p.tls)));
  if (p.retry_min) add("retry_min", DurationToString(*p.retry_min));
  if (p.retry_max) add("retry_max", DurationToString(*p.retry_max));
  return out;
}

}  // namespace ringpost
