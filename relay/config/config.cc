// config.cc — settings table, value parsers (durations, byte sizes, host:port,
// CIDR, routes), TOML loading and the absl flags, one per setting.
//
// The settings table is the single source of truth: ApplyFlag(), TOML
// loading, flag overrides, DescribeConfig() and ValidateConfig() all walk it.
// Every ABSL_FLAG below must have a table entry of the same name and vice
// versa (config_test checks both directions and that flag defaults equal
// Config defaults). All inputs are bounded: file size, list lengths, digits.

#include "relay/config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <cassert>
#include <functional>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/internal/private_handle_accessor.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "toml++/toml.h"

// ---------------------------------------------------------------------------
// Flags. Names equal TOML keys. Scalars are strings so that ApplyFlag() is
// the only parser; defaults are written in flag syntax and must equal the
// Config defaults (tested).

ABSL_FLAG(std::string, config, "",
          "TOML configuration file. Keys are the flag names below; flags given "
          "on the command line win over the file.");

ABSL_FLAG(std::vector<std::string>, listen, (std::vector<std::string>{"127.0.0.1:2525"}),
          "SMTP listen address ADDR:PORT, numeric, IPv6 as [::1]:25. Repeatable "
          "and/or comma-separated.");
ABSL_FLAG(std::string, shards, "0",
          "Number of shards (threads, one io_uring each), 0..256; 0 = one per CPU.");
ABSL_FLAG(std::string, spool, "/var/spool/ringpost", "Spool directory.");
ABSL_FLAG(std::string, dns, "",
          "DNS server ADDR[:PORT] (numeric, port 53 by default); empty = the "
          "nameservers in /etc/resolv.conf.");
ABSL_FLAG(std::string, dns_timeout, "2s", "DNS: wait for one server's reply (per attempt).");
ABSL_FLAG(std::string, dns_attempts, "2", "DNS: passes over the server list (1..5).");
ABSL_FLAG(std::string, dns_min_ttl, "60s", "MX cache: shortest time a result is kept.");
ABSL_FLAG(std::string, dns_max_ttl, "1h", "MX cache: longest time a result is kept.");
ABSL_FLAG(std::string, dns_stale_ttl, "1d",
          "MX cache: serve an expired result this long while refreshes fail (0 = never).");
ABSL_FLAG(std::string, dns_cache_size, "100000", "MX cache: domains kept.");
ABSL_FLAG(std::string, ipv6, "false",
          "Outbound: also look up AAAA and try IPv6 addresses first (true/false).");
ABSL_FLAG(std::vector<std::string>, relay_networks,
          (std::vector<std::string>{"127.0.0.0/8", "::1/128"}),
          "Client networks (CIDR, IPv4 or IPv6) allowed to relay without "
          "authentication. Repeatable and/or comma-separated; empty = none.");
ABSL_FLAG(std::vector<std::string>, route, {},
          "Static route DOMAIN=HOST[:PORT] (port 25 by default; IPv6 host as "
          "[2001:db8::1]:25); DOMAIN '*' is the smarthost for every domain "
          "without its own route. Skips MX lookup. Repeatable and/or "
          "comma-separated.");
ABSL_FLAG(std::string, dest_port, "25", "Port used for MX hosts, 1..65535.");
ABSL_FLAG(std::string, admin, "127.0.0.1:8025",
          "Admin HTTP address ADDR:PORT (/healthz, /readyz, /metrics).");
ABSL_FLAG(std::string, log, "",
          "Delivery log path (JSON Lines); empty = <spool>/delivery.log.");
ABSL_FLAG(std::string, retry_min, "1m",
          "First retry delay after a transient failure (duration: ms, s, m, h, d).");
ABSL_FLAG(std::string, retry_max, "1h", "Longest retry delay (backoff cap), >= retry_min.");
ABSL_FLAG(std::string, max_age, "5d",
          "Time in queue after which a message is bounced as expired.");
ABSL_FLAG(std::string, max_queue_memory, "1G",
          "Message bodies held in memory for delivery, whole process; above it new "
          "transactions get 452 4.3.1 until deliveries catch up.");
ABSL_FLAG(std::string, max_message_size, "50M",
          "Largest message accepted (bytes; K, M, G suffixes are binary). "
          "Advertised with SIZE.");
ABSL_FLAG(std::string, tls_cert, "", "TLS certificate chain (PEM). Set with tls_key.");
ABSL_FLAG(std::string, tls_key, "", "TLS private key (PEM). Set with tls_cert.");
ABSL_FLAG(std::string, durability, "fsync",
          "fsync: 250 after DATA only once the message is on stable storage. "
          "none: no fdatasync, FOR BENCHMARKING ONLY, a crash loses accepted mail.");
ABSL_FLAG(std::string, max_recipients, "1000", "Recipients accepted per message.");
ABSL_FLAG(std::string, max_line_length, "1000",
          "Longest message text line including CRLF (RFC 5321 minimum 1000).");
ABSL_FLAG(std::string, max_command_line, "512",
          "Longest SMTP command line including CRLF (RFC 5321 minimum 512).");
ABSL_FLAG(std::string, max_connections_per_client, "100",
          "Concurrent inbound connections per client address.");
ABSL_FLAG(std::string, max_connections, "10000",
          "Concurrent inbound connections in total.");
ABSL_FLAG(std::string, idle_timeout, "5m",
          "Inbound: close a session idle this long (RFC 5321 server timeout).");
ABSL_FLAG(std::string, session_timeout, "1h", "Inbound: longest total session time.");
ABSL_FLAG(std::string, hostname, "",
          "Name in the SMTP banner, EHLO and Received; empty = gethostname().");
ABSL_FLAG(std::string, max_connections_per_destination, "32",
          "Outbound: concurrent connections per destination.");
ABSL_FLAG(std::string, max_messages_per_connection, "1000",
          "Outbound: messages sent over one connection before it is closed.");
ABSL_FLAG(std::string, outbound_pipeline_depth, "32",
          "Outbound: transactions in flight on one connection when the peer offers "
          "PIPELINING and CHUNKING (1 = one at a time).");
ABSL_FLAG(std::string, connect_timeout, "30s", "Outbound: TCP connect timeout.");
ABSL_FLAG(std::string, greeting_timeout, "5m",
          "Outbound: wait for the 220 greeting (RFC 5321 4.5.3.2.1).");
ABSL_FLAG(std::string, command_timeout, "5m",
          "Outbound: wait for replies to EHLO, STARTTLS, RSET, QUIT.");
ABSL_FLAG(std::string, mail_timeout, "5m",
          "Outbound: wait for the MAIL FROM reply (RFC 5321 4.5.3.2.2).");
ABSL_FLAG(std::string, rcpt_timeout, "5m",
          "Outbound: wait for each RCPT TO reply (RFC 5321 4.5.3.2.3).");
ABSL_FLAG(std::string, data_init_timeout, "2m",
          "Outbound: wait for the 354 after DATA (RFC 5321 4.5.3.2.4).");
ABSL_FLAG(std::string, data_block_timeout, "3m",
          "Outbound: longest wait for each send of message data (RFC 5321 4.5.3.2.5).");
ABSL_FLAG(std::string, data_term_timeout, "10m",
          "Outbound: wait for the reply after the final '.' (RFC 5321 4.5.3.2.6).");
ABSL_FLAG(std::string, connection_idle, "10s",
          "Outbound: close a pooled connection idle this long.");
ABSL_FLAG(std::string, commit_max_bytes, "4M",
          "Spool: most bytes in one group commit (one write + one fdatasync).");
ABSL_FLAG(std::string, segment_bytes, "64M", "Spool: size of a segment file.");
ABSL_FLAG(std::string, sq_entries, "4096",
          "io_uring submission queue entries per shard (power of two, <= 32768).");
ABSL_FLAG(std::string, recv_buffers, "1024",
          "Provided receive buffers per shard (power of two, <= 32768).");
ABSL_FLAG(std::string, recv_buffer_bytes, "16K", "Size of each receive buffer.");

namespace ringpost {

namespace {

// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW=0:
// absl::string_view is its own class and does not convert from
// std::string_view. These adapters keep the public API on std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

template <typename T>
decltype(auto) ToAlphaNum(const T& v) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return Av(v);
  } else {
    return (v);
  }
}

template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(ToAlphaNum(args)...);
}

template <typename... Args>
void CatAppend(std::string* out, const Args&... args) {
  absl::StrAppend(out, ToAlphaNum(args)...);
}


constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;
constexpr size_t kMaxListItems = 10000;
constexpr size_t kMaxErrorsReported = 20;
constexpr size_t kMaxDigits = 19;  // < 2^63: no overflow in the checks below
constexpr uint64_t kMaxDurationMs = uint64_t{100} * 365 * 24 * 3600 * 1000;

constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kTiB = uint64_t{1} << 40;

std::string Quote(std::string_view s) { return Cat("\"", s, "\""); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

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

// Hostname per RFC 1123: labels of letters, digits and hyphens, 1..63 long,
// not starting or ending with a hyphen; 1..253 in total. Underscores are
// tolerated (seen in real SRV/MX targets).
bool IsValidHostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label_len = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label_len == 0 || prev == '-') return false;
      label_len = 0;
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      if (label_len == 0 && c == '-') return false;
      if (++label_len > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label_len > 0 && prev != '-';
}

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

// Bounded edit distance for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b) {
  if (a.size() > 64 || b.size() > 64) return SIZE_MAX;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

// ---------------------------------------------------------------------------
// Durations and byte sizes.

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  if (text == "0") return absl::ZeroDuration();
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  if (text.size() > 64) return absl::InvalidArgumentError("duration too long");
  uint64_t total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && IsDigit(rest[digits])) digits++;
    if (digits == 0) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text),
                                                     ": expected digits then a unit, e.g. \"30s\""));
    }
    absl::StatusOr<uint64_t> n = ParseUint(rest.substr(0, digits), kMaxDurationMs);
    if (!n.ok()) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text), ": too large"));
    }
    rest.remove_prefix(digits);
    size_t unit_len = 0;
    while (unit_len < rest.size() && absl::ascii_isalpha(static_cast<unsigned char>(rest[unit_len]))) {
      unit_len++;
    }
    const std::string_view unit = rest.substr(0, unit_len);
    uint64_t unit_ms = 0;
    if (unit == "ms") {
      unit_ms = 1;
    } else if (unit == "s") {
      unit_ms = 1000;
    } else if (unit == "m") {
      unit_ms = 60 * 1000;
    } else if (unit == "h") {
      unit_ms = 3600 * 1000;
    } else if (unit == "d") {
      unit_ms = 24 * 3600 * 1000;
    } else if (unit.empty()) {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text),
                                                     ": missing unit after ", *n,
                                                     " (ms, s, m, h, d), e.g. \"", *n, "s\""));
    } else {
      return absl::InvalidArgumentError(Cat("bad duration ", Quote(text), ": unknown unit ",
                                                     Quote(unit), " (use ms, s, m, h, d)"));
    }
    rest.remove_prefix(unit_len);
    if (*n > (kMaxDurationMs - total_ms) / unit_ms) {
      return absl::InvalidArgumentError(
          Cat("bad duration ", Quote(text), ": longer than 100 years"));
    }
    total_ms += *n * unit_ms;
  }
  return absl::Milliseconds(static_cast<int64_t>(total_ms));
}

std::string DurationToString(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return "0";
  const int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms == 0) return "0";
  struct Unit {
    int64_t ms;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {24 * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const Unit& u : kUnits) {
    if (ms % u.ms == 0) return Cat(ms / u.ms, u.suffix);
  }
  return Cat(ms, "ms");  // unreachable: the last unit divides all
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
    } else if (!IsValidHostname(host)) {
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
    assert(*default_port != 0);
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

absl::StatusOr<Route> ParseRoute(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat(Quote(text), ": expected DOMAIN=HOST[:PORT], e.g. example.com=10.0.0.1:25"));
  }
  Route r;
  std::string_view domain = Sv(absl::StripAsciiWhitespace(Av(text.substr(0, eq))));
  if (!domain.empty() && domain.back() == '.' && domain != ".") domain.remove_suffix(1);
  r.domain = absl::AsciiStrToLower(Av(domain));
  if (r.domain != "*" && (!IsValidHostname(r.domain) || LooksNumeric(r.domain))) {
    return absl::InvalidArgumentError(
        Cat(Quote(text), ": bad domain ", Quote(domain), " (a domain name or *)"));
  }
  absl::StatusOr<HostPort> hp =
      ParseHostPort(Sv(absl::StripAsciiWhitespace(Av(text.substr(eq + 1)))), uint16_t{25});
  if (!hp.ok()) return hp.status();
  r.host = std::move(hp->host);
  r.port = hp->port;
  return r;
}

// ---------------------------------------------------------------------------
// The settings table.

namespace {

struct Setting {
  std::string_view name;
  // Parses and validates `value` (flag syntax) into the config.
  std::function<absl::Status(Config*, std::string_view)> apply;
  // The current value in flag syntax (round-trips through apply).
  std::function<std::string(const Config&)> format;
  // For list settings: validates one item (TOML arrays report its line).
  std::function<absl::Status(std::string_view)> check_item;
};

template <typename Int>
Setting CountSetting(std::string_view name, Int Config::*member, uint64_t min, uint64_t max,
                     bool power_of_two = false) {
  return Setting{
      name,
      [=](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<uint64_t> n = ParseUint(v, UINT64_MAX >> 1);
        if (!n.ok()) return n.status();
        if (*n < min || *n > max) {
          return absl::InvalidArgumentError(Cat(*n, " is out of range ", min, "..", max));
        }
        if (power_of_two && !IsPowerOfTwo(*n)) {
          return absl::InvalidArgumentError(Cat(*n, " is not a power of two"));
        }
        c->*member = static_cast<Int>(*n);
        return absl::OkStatus();
      },
      [=](const Config& c) { return Cat(c.*member); },
      nullptr};
}

template <typename Int>
Setting BytesSetting(std::string_view name, Int Config::*member, uint64_t min, uint64_t max) {
  return Setting{name,
                 [=](Config* c, std::string_view v) -> absl::Status {
                   absl::StatusOr<uint64_t> n = ParseBytes(v);
                   if (!n.ok()) return n.status();
                   if (*n < min || *n > max) {
                     return absl::InvalidArgumentError(Cat(
                         BytesToString(*n), " is out of range ", BytesToString(min), "..",
                         BytesToString(max)));
                   }
                   c->*member = static_cast<Int>(*n);
                   return absl::OkStatus();
                 },
                 [=](const Config& c) { return BytesToString(c.*member); }, nullptr};
}

Setting DurationSetting(std::string_view name, absl::Duration Config::*member, absl::Duration min,
                        absl::Duration max) {
  return Setting{name,
                 [=](Config* c, std::string_view v) -> absl::Status {
                   absl::StatusOr<absl::Duration> d = ParseDuration(v);
                   if (!d.ok()) return d.status();
                   if (*d < min || *d > max) {
                     return absl::InvalidArgumentError(Cat(
                         DurationToString(*d), " is out of range ", DurationToString(min), "..",
                         DurationToString(max)));
                   }
                   c->*member = *d;
                   return absl::OkStatus();
                 },
                 [=](const Config& c) { return DurationToString(c.*member); }, nullptr};
}

Setting StringSetting(std::string_view name, std::string Config::*member,
                      std::function<absl::Status(std::string_view)> check) {
  return Setting{name,
                 [=](Config* c, std::string_view v) -> absl::Status {
                   if (v.size() > 4096) return absl::InvalidArgumentError("value too long");
                   if (v.find('\0') != std::string_view::npos) {
                     return absl::InvalidArgumentError("value contains a NUL byte");
                   }
                   if (check) {
                     absl::Status s = check(v);
                     if (!s.ok()) return s;
                   }
                   c->*member = std::string(v);
                   return absl::OkStatus();
                 },
                 [=](const Config& c) { return c.*member; }, nullptr};
}

absl::Status CheckPath(std::string_view v) {
  if (v.empty()) return absl::InvalidArgumentError("must not be empty");
  return absl::OkStatus();
}

absl::Status CheckNumericAddress(std::string_view v) {
  absl::StatusOr<sockaddr_storage> a = ParseSocketAddress(v, std::nullopt);
  return a.status();
}

// Applies a list setting: split, check each item, hand the parsed items on.
template <typename Item>
absl::StatusOr<std::vector<Item>> ParseItems(std::string_view value,
                                             absl::StatusOr<Item> (*parse)(std::string_view)) {
  absl::StatusOr<std::vector<std::string>> items = SplitList(value);
  if (!items.ok()) return items.status();
  std::vector<Item> out;
  out.reserve(items->size());
  for (const std::string& item : *items) {
    absl::StatusOr<Item> parsed = parse(item);
    if (!parsed.ok()) return parsed.status();
    out.push_back(*std::move(parsed));
  }
  return out;
}

absl::StatusOr<std::string> ParseListenItem(std::string_view item) {
  absl::StatusOr<sockaddr_storage> a = ParseSocketAddress(item, std::nullopt);
  if (!a.ok()) return a.status();
  return std::string(item);
}

absl::StatusOr<Cidr> ParseCidrItem(std::string_view item) { return Cidr::Parse(item); }

std::vector<Setting> BuildSettings() {
  std::vector<Setting> s;
  s.push_back(Setting{
      "listen",
      [](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<std::string>> items = ParseItems<std::string>(v, &ParseListenItem);
        if (!items.ok()) return items.status();
        for (size_t i = 0; i < items->size(); i++) {
          for (size_t j = 0; j < i; j++) {
            if ((*items)[i] == (*items)[j]) {
              return absl::InvalidArgumentError(Cat("duplicate address ", (*items)[i]));
            }
          }
        }
        c->listen = *std::move(items);
        return absl::OkStatus();
      },
      [](const Config& c) { return absl::StrJoin(c.listen, ","); },
      [](std::string_view item) { return ParseListenItem(item).status(); }});
  s.push_back(Setting{"shards",
                      [](Config* c, std::string_view v) -> absl::Status {
                        absl::StatusOr<uint64_t> n = ParseUint(v, 256);
                        if (!n.ok()) return absl::InvalidArgumentError(Cat(
                                                 "must be 0..256 (0 = one per CPU), got ", Quote(v)));
                        c->shards = static_cast<int>(*n);
                        return absl::OkStatus();
                      },
                      [](const Config& c) { return Cat(c.shards); }, nullptr});
  s.push_back(StringSetting("spool", &Config::spool, &CheckPath));
  s.push_back(StringSetting("dns", &Config::dns, [](std::string_view v) {
    return v.empty() ? absl::OkStatus() : ParseSocketAddress(v, uint16_t{53}).status();
  }));
  s.push_back(DurationSetting("dns_timeout", &Config::dns_timeout, absl::Milliseconds(50),
                              absl::Seconds(60)));
  s.push_back(CountSetting("dns_attempts", &Config::dns_attempts, 1, 5));
  s.push_back(DurationSetting("dns_min_ttl", &Config::dns_min_ttl, absl::ZeroDuration(), absl::Hours(24)));
  s.push_back(DurationSetting("dns_max_ttl", &Config::dns_max_ttl, absl::Seconds(1), 7 * absl::Hours(24)));
  s.push_back(DurationSetting("dns_stale_ttl", &Config::dns_stale_ttl, absl::ZeroDuration(),
                              7 * absl::Hours(24)));
  s.push_back(CountSetting("dns_cache_size", &Config::dns_cache_size, 16, 10'000'000));
  s.push_back(Setting{"ipv6",
                      [](Config* c, std::string_view v) -> absl::Status {
                        if (v == "true" || v == "1" || v == "yes") {
                          c->ipv6 = true;
                        } else if (v == "false" || v == "0" || v == "no") {
                          c->ipv6 = false;
                        } else {
                          return absl::InvalidArgumentError(
                              Cat("must be true or false, got ", Quote(v)));
                        }
                        return absl::OkStatus();
                      },
                      [](const Config& c) { return std::string(c.ipv6 ? "true" : "false"); },
                      nullptr});
  s.push_back(Setting{
      "relay_networks",
      [](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<Cidr>> items = ParseItems<Cidr>(v, &ParseCidrItem);
        if (!items.ok()) return items.status();
        c->relay_networks = *std::move(items);
        return absl::OkStatus();
      },
      [](const Config& c) {
        return absl::StrJoin(c.relay_networks, ",",
                             [](std::string* out, const Cidr& n) { out->append(n.ToString()); });
      },
      [](std::string_view item) { return Cidr::Parse(item).status(); }});
  s.push_back(Setting{
      "route",
      [](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<Route>> items = ParseItems<Route>(v, &ParseRoute);
        if (!items.ok()) return items.status();
        for (size_t i = 0; i < items->size(); i++) {
          for (size_t j = 0; j < i; j++) {
            if ((*items)[i].domain == (*items)[j].domain) {
              return absl::InvalidArgumentError(
                  Cat("two routes for domain ", Quote((*items)[i].domain)));
            }
          }
        }
        c->routes = *std::move(items);
        return absl::OkStatus();
      },
      [](const Config& c) {
        return absl::StrJoin(c.routes, ",", [](std::string* out, const Route& r) {
          CatAppend(out, r.domain, "=", FormatHostPort(r.host, r.port));
        });
      },
      [](std::string_view item) { return ParseRoute(item).status(); }});
  s.push_back(CountSetting("dest_port", &Config::dest_port, 1, 65535));
  s.push_back(StringSetting("admin", &Config::admin, &CheckNumericAddress));
  s.push_back(StringSetting("log", &Config::log, nullptr));
  const absl::Duration kMs = absl::Milliseconds(1);
  const absl::Duration kDay = absl::Hours(24);
  s.push_back(DurationSetting("retry_min", &Config::retry_min, kMs, 30 * kDay));
  s.push_back(DurationSetting("retry_max", &Config::retry_max, kMs, 30 * kDay));
  s.push_back(DurationSetting("max_age", &Config::max_age, absl::Seconds(1), 365 * kDay));
  s.push_back(BytesSetting("max_message_size", &Config::max_message_size, kKiB, kGiB));
  s.push_back(BytesSetting("max_queue_memory", &Config::max_queue_memory, kMiB, 1024 * kGiB));
  s.push_back(StringSetting("tls_cert", &Config::tls_cert, nullptr));
  s.push_back(StringSetting("tls_key", &Config::tls_key, nullptr));
  s.push_back(Setting{"durability",
                      [](Config* c, std::string_view v) -> absl::Status {
                        if (v == "fsync") {
                          c->durability = Durability::kFsync;
                        } else if (v == "none") {
                          c->durability = Durability::kNone;
                        } else {
                          return absl::InvalidArgumentError(
                              Cat("must be fsync or none, got ", Quote(v)));
                        }
                        return absl::OkStatus();
                      },
                      [](const Config& c) -> std::string {
                        return c.durability == Durability::kFsync ? "fsync" : "none";
                      },
                      nullptr});
  s.push_back(CountSetting("max_recipients", &Config::max_recipients, 1, 1'000'000));
  s.push_back(CountSetting("max_line_length", &Config::max_line_length, 1000, kMiB));
  s.push_back(CountSetting("max_command_line", &Config::max_command_line, 512, 64 * kKiB));
  s.push_back(CountSetting("max_connections_per_client", &Config::max_connections_per_client, 1,
                           10'000'000));
  s.push_back(CountSetting("max_connections", &Config::max_connections, 1, 10'000'000));
  s.push_back(DurationSetting("idle_timeout", &Config::idle_timeout, kMs, kDay));
  s.push_back(DurationSetting("session_timeout", &Config::session_timeout, kMs, 7 * kDay));
  s.push_back(StringSetting("hostname", &Config::hostname, [](std::string_view v) {
    if (v.empty() || IsValidHostname(v)) return absl::OkStatus();
    return absl::InvalidArgumentError(Cat(Quote(v), " is not a valid host name"));
  }));
  s.push_back(CountSetting("max_connections_per_destination",
                           &Config::max_connections_per_destination, 1, 100'000));
  s.push_back(CountSetting("max_messages_per_connection", &Config::max_messages_per_connection, 1,
                           10'000'000));
  s.push_back(CountSetting("outbound_pipeline_depth", &Config::outbound_pipeline_depth, 1,
                           1024));
  s.push_back(DurationSetting("connect_timeout", &Config::connect_timeout, kMs, kDay));
  s.push_back(DurationSetting("greeting_timeout", &Config::greeting_timeout, kMs, kDay));
  s.push_back(DurationSetting("command_timeout", &Config::command_timeout, kMs, kDay));
  s.push_back(DurationSetting("mail_timeout", &Config::mail_timeout, kMs, kDay));
  s.push_back(DurationSetting("rcpt_timeout", &Config::rcpt_timeout, kMs, kDay));
  s.push_back(DurationSetting("data_init_timeout", &Config::data_init_timeout, kMs, kDay));
  s.push_back(DurationSetting("data_block_timeout", &Config::data_block_timeout, kMs, kDay));
  s.push_back(DurationSetting("data_term_timeout", &Config::data_term_timeout, kMs, kDay));
  s.push_back(DurationSetting("connection_idle", &Config::connection_idle, kMs, kDay));
  s.push_back(BytesSetting("commit_max_bytes", &Config::commit_max_bytes, 4 * kKiB, kGiB));
  s.push_back(BytesSetting("segment_bytes", &Config::segment_bytes, 64 * kKiB, 64 * kGiB));
  s.push_back(CountSetting("sq_entries", &Config::sq_entries, 1, 32768, /*power_of_two=*/true));
  s.push_back(CountSetting("recv_buffers", &Config::recv_buffers, 1, 32768, /*power_of_two=*/true));
  s.push_back(BytesSetting("recv_buffer_bytes", &Config::recv_buffer_bytes, kKiB, kMiB));
  return s;
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting>* settings = new std::vector<Setting>(BuildSettings());
  return *settings;
}

const Setting* FindSetting(std::string_view name) {
  for (const Setting& s : Settings()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string UnknownSettingMessage(std::string_view name) {
  std::string msg = Cat("unknown setting ", Quote(name));
  size_t best = 3;  // only suggest close matches
  std::string_view suggestion;
  for (const Setting& s : Settings()) {
    const size_t d = EditDistance(name, s.name);
    if (d < best) {
      best = d;
      suggestion = s.name;
    }
  }
  if (!suggestion.empty()) CatAppend(&msg, " (did you mean ", Quote(suggestion), "?)");
  return msg;
}

}  // namespace

const std::vector<std::string_view>& SettingNames() {
  static const std::vector<std::string_view>* names = [] {
    auto* v = new std::vector<std::string_view>();
    for (const Setting& s : Settings()) v->push_back(s.name);
    return v;
  }();
  return *names;
}

absl::Status ApplyFlag(Config* config, std::string_view name, std::string_view value) {
  assert(config != nullptr);
  const Setting* s = FindSetting(name);
  if (s == nullptr) return absl::InvalidArgumentError(UnknownSettingMessage(name));
  absl::Status status = s->apply(config, value);
  if (!status.ok()) {
    return absl::InvalidArgumentError(Cat(name, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const Config& config) {
  // Per-setting bounds: re-apply each value's text form to a scratch config,
  // so a Config built in code is held to the same rules as a parsed one.
  for (const Setting& s : Settings()) {
    Config scratch;
    absl::Status status = ApplyFlag(&scratch, s.name, s.format(config));
    if (!status.ok()) return status;
  }
  if (config.listen.empty()) {
    return absl::InvalidArgumentError("listen: at least one address is required");
  }
  if (config.retry_min > config.retry_max) {
    return absl::InvalidArgumentError(Cat("retry_min (", DurationToString(config.retry_min),
                                                   ") is greater than retry_max (",
                                                   DurationToString(config.retry_max), ")"));
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError("tls_cert and tls_key must be set together");
  }
  if (config.commit_max_bytes > config.segment_bytes) {
    return absl::InvalidArgumentError(Cat(
        "commit_max_bytes (", BytesToString(config.commit_max_bytes),
        ") is larger than segment_bytes (", BytesToString(config.segment_bytes), ")"));
  }
  for (const std::string& l : config.listen) {
    if (l == config.admin) {
      return absl::InvalidArgumentError(
          Cat("admin address ", l, " is also a listen address"));
    }
  }
  return absl::OkStatus();
}

std::string DescribeConfig(const Config& config) {
  std::string out;
  for (const Setting& s : Settings()) {
    std::string value = s.format(config);
    CatAppend(&out, s.name, " = ", value.empty() ? "\"\"" : value);
    if (s.name == "durability" && config.durability == Durability::kNone) {
      CatAppend(&out, "  # WARNING: no fdatasync; a crash loses accepted mail (benchmarking only)");
    }
    out.push_back('\n');
  }
  return out;
}

// ---------------------------------------------------------------------------
// TOML.

namespace {

std::string_view NodeTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// A scalar TOML value in flag syntax: strings as-is, integers in decimal.
absl::StatusOr<std::string> ScalarText(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return Cat(i->get());
  return absl::InvalidArgumentError(
      Cat("expected a string or an integer, got ", NodeTypeName(node)));
}

struct Located {
  uint32_t line;
  std::string message;
};

// Applies one TOML key; errors carry the line of the offending node.
std::optional<Located> ApplyTomlEntry(Config* config, std::string_view name, uint32_t key_line,
                                      const toml::node& node) {
  const Setting* s = FindSetting(name);
  if (s == nullptr) return Located{key_line, UnknownSettingMessage(name)};
  const uint32_t line = node.source().begin.line != 0 ? node.source().begin.line : key_line;
  std::string text;
  if (const toml::array* arr = node.as_array()) {
    if (!s->check_item) {
      return Located{line, Cat(name, ": expected a single value, not an array")};
    }
    if (arr->size() > kMaxListItems) {
      return Located{line, Cat(name, ": more than ", kMaxListItems, " items")};
    }
    std::vector<std::string> items;
    for (const toml::node& elem : *arr) {
      const uint32_t elem_line = elem.source().begin.line != 0 ? elem.source().begin.line : line;
      const auto* str = elem.as_string();
      if (str == nullptr) {
        return Located{elem_line,
                       Cat(name, ": expected strings, got ", NodeTypeName(elem))};
      }
      absl::Status st = s->check_item(str->get());
      if (!st.ok()) return Located{elem_line, Cat(name, ": ", st.message())};
      if (str->get().find(',') != std::string::npos) {
        return Located{elem_line, Cat(name, ": one item per array element, no commas")};
      }
      items.push_back(str->get());
    }
    text = absl::StrJoin(items, ",");
  } else {
    absl::StatusOr<std::string> scalar = ScalarText(node);
    if (!scalar.ok()) return Located{line, Cat(name, ": ", scalar.status().message())};
    text = *std::move(scalar);
  }
  absl::Status st = ApplyFlag(config, name, text);
  if (!st.ok()) return Located{line, std::string(st.message())};
  return std::nullopt;
}

// Parses `text` onto `config` without the final cross-setting validation.
absl::Status ApplyToml(Config* config, std::string_view text, std::string_view filename) {
  if (text.size() > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(
        Cat(filename, ": larger than ", BytesToString(kMaxConfigFileBytes)));
  }
  // toml++ 3.3.0 aborts on an internal assertion for a table header whose
  // key starts with a character no key can start with ("[!]"), instead of
  // reporting it. Such a header is an error anyway: report it here.
  {
    uint32_t line = 1;
    for (size_t i = 0; i < text.size(); ++line) {
      size_t end = text.find('\n', i);
      if (end == std::string_view::npos) end = text.size();
      size_t j = i;
      while (j < end && (text[j] == ' ' || text[j] == '\t')) ++j;
      if (j < end && text[j] == '[') {
        ++j;
        if (j < end && text[j] == '[') ++j;
        while (j < end && (text[j] == ' ' || text[j] == '\t')) ++j;
        const char k = j < end ? text[j] : '\0';
        const bool key_start = (k >= 'A' && k <= 'Z') || (k >= 'a' && k <= 'z') ||
                               (k >= '0' && k <= '9') || k == '_' || k == '-' || k == '"' ||
                               k == '\'';
        if (!key_start) {
          return absl::InvalidArgumentError(
              Cat(filename, ":", line, ": invalid table header (settings are top-level keys)"));
        }
      }
      i = end + 1;
    }
  }
  toml::parse_result result = toml::parse(text, std::string(filename));
  if (!result) {
    const toml::parse_error& e = result.error();
    return absl::InvalidArgumentError(Cat(filename, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ", e.description()));
  }
  const toml::table& table = result.table();
  // Apply in file order so that errors are reported top to bottom.
  std::vector<std::pair<uint32_t, const toml::key*>> order;
  std::vector<const toml::node*> nodes;
  for (auto it = table.begin(); it != table.end(); ++it) {
    if (order.size() >= kMaxListItems) {
      return absl::InvalidArgumentError(Cat(filename, ": too many keys"));
    }
    order.emplace_back(it->first.source().begin.line, &it->first);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> errors;
  for (const auto& [line, key] : order) {
    const toml::node* node = table.get(key->str());
    assert(node != nullptr);
    std::optional<Located> err = ApplyTomlEntry(config, key->str(), line, *node);
    if (err.has_value()) {
      if (errors.size() < kMaxErrorsReported) {
        errors.push_back(Cat(filename, ":", err->line, ": ", err->message));
      }
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileBounded(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(Cat("cannot open config file ", path, ": ", strerror(errno)));
  }
  std::string data;
  char buf[16384];
  while (true) {
    const size_t n = fread(buf, 1, sizeof(buf), f);
    data.append(buf, n);
    if (data.size() > kMaxConfigFileBytes) {
      fclose(f);
      return absl::InvalidArgumentError(
          Cat(path, ": larger than ", BytesToString(kMaxConfigFileBytes)));
    }
    if (n < sizeof(buf)) break;
  }
  const bool failed = ferror(f) != 0;
  const int saved_errno = errno;
  fclose(f);
  if (failed) {
    return absl::InternalError(Cat("cannot read config file ", path, ": ",
                                            strerror(saved_errno)));
  }
  return data;
}

// absl 20220623 keeps CommandLineFlag::IsSpecifiedOnCommandLine() private
// (it is public from 20230125 on); PrivateHandleAccessor is Abseil's own
// trampoline to it. True for flags set by argv or --flagfile.
bool GivenOnCommandLine(const absl::CommandLineFlag& flag) {
  return absl::flags_internal::PrivateHandleAccessor::IsSpecifiedOnCommandLine(flag);
}

}  // namespace

absl::StatusOr<Config> ParseConfigToml(std::string_view text, std::string_view filename) {
  Config config;
  absl::Status st = ApplyToml(&config, text, filename);
  if (!st.ok()) return st;
  st = ValidateConfig(config);
  if (!st.ok()) return absl::InvalidArgumentError(Cat(filename, ": ", st.message()));
  return config;
}

absl::StatusOr<Config> LoadConfig(const std::string& path_or_empty) {
  Config config;
  if (!path_or_empty.empty()) {
    absl::StatusOr<std::string> text = ReadFileBounded(path_or_empty);
    if (!text.ok()) return text.status();
    absl::Status st = ApplyToml(&config, *text, path_or_empty);
    if (!st.ok()) return st;
  }
  for (const Setting& s : Settings()) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(Av(s.name));
    assert(flag != nullptr);  // every setting has a flag (tested)
    if (flag == nullptr || !GivenOnCommandLine(*flag)) continue;
    absl::Status st = ApplyFlag(&config, s.name, flag->CurrentValue());
    if (!st.ok()) return absl::InvalidArgumentError(Cat("flag --", st.message()));
  }
  absl::Status st = ValidateConfig(config);
  if (!st.ok()) return absl::InvalidArgumentError(Cat("invalid configuration: ", st.message()));
  return config;
}

std::vector<char*> ParseCommandLine(int argc, char* argv[]) {
  // Collect every occurrence of the list flags before absl keeps only the
  // last one. Handles --name=value, -name=value and --name value.
  struct ListFlag {
    std::string_view name;
    absl::Flag<std::vector<std::string>>* flag;
    std::vector<std::string> values;
    int occurrences = 0;
  };
  ListFlag lists[] = {
      {"listen", &FLAGS_listen, {}, 0},
      {"route", &FLAGS_route, {}, 0},
      {"relay_networks", &FLAGS_relay_networks, {}, 0},
  };
  for (int i = 1; i < argc && argv[i] != nullptr; i++) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    const size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    for (ListFlag& l : lists) {
      if (l.name != name) continue;
      std::string_view value;
      if (eq != std::string_view::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < argc && argv[i + 1] != nullptr) {
        value = argv[++i];
      } else {
        break;  // absl reports the missing value
      }
      l.occurrences++;
      // Items are kept raw; ApplyFlag() validates them in LoadConfig().
      if (value.empty() || l.values.size() >= kMaxListItems) break;
      for (absl::string_view item : absl::StrSplit(Av(value), ',')) l.values.emplace_back(item);
    }
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  for (ListFlag& l : lists) {
    if (l.occurrences > 1) absl::SetFlag(l.flag, l.values);
  }
  return positional;
}

}  // namespace ringpost
