// relay/config/settings.cc — the settings table: one row per setting, the
// single source of truth for names, bounds and text forms.
//
// ApplyFlag() (TOML values and flags alike), flag overrides, DescribeConfig()
// and ValidateConfig() all walk this table; value syntax comes from
// values.cc, so a row only states its setting's name, field and bounds.
// Every ABSL_FLAG in flags.cc must have a row of the same name and vice
// versa (config_test checks both directions and that flag defaults equal
// Config defaults), and every row must be documented in
// docs/configuration.md (config_docs_test). To add a setting: a field in
// Config, a row here, a flag in flags.cc, an entry in the docs.

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_join.h"
#include "base/check.h"
#include "base/mailbox.h"
#include "relay/config/config.h"
#include "relay/config/config_internal.h"

namespace ringpost {
namespace config_internal {
namespace {

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


// An address the relay sends mail to on its own (postmaster, double_bounce):
// an RFC 5321 mailbox in ASCII (the messages it receives need not be
// SMTPUTF8) with a domain, not an address literal: it is routed by its
// domain like any recipient. Empty is allowed (each setting says what it
// means).
absl::Status CheckRoutableAddress(std::string_view v) {
  if (v.empty()) return absl::OkStatus();
  base::Mailbox m;
  const base::MailboxError e = base::ParseMailbox(v, base::Utf8::kRefuse, &m);
  if (e != base::MailboxError::kOk) {
    return absl::InvalidArgumentError(Cat(Quote(v), " is not an address local@domain (",
                                          base::MailboxErrorText(e), ")"));
  }
  if (m.address_literal) {
    return absl::InvalidArgumentError(
        Cat(Quote(v), ": the domain must be a name, not an address literal"));
  }
  return absl::OkStatus();
}

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
          uint64_t below = 1;
          while (below * 2 < *n) below *= 2;  // at most 63 doublings
          return absl::InvalidArgumentError(Cat(*n, " is not a power of two (nearest: ",
                                                std::max(below, min), " or ",
                                                std::min(below * 2, max), ")"));
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

Setting BoolSetting(std::string_view name, bool Config::*member) {
  return Setting{name,
                 [=](Config* c, std::string_view v) -> absl::Status {
                   if (v == "true" || v == "1" || v == "yes") {
                     c->*member = true;
                   } else if (v == "false" || v == "0" || v == "no") {
                     c->*member = false;
                   } else {
                     return absl::InvalidArgumentError(
                         Cat("must be true or false, got ", Quote(v)));
                   }
                   return absl::OkStatus();
                 },
                 [=](const Config& c) { return std::string(c.*member ? "true" : "false"); },
                 nullptr, /*boolean=*/true};
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
                   // Paths, names and addresses never need control characters,
                   // and a newline would split the value in logs and in
                   // DescribeConfig's one-line-per-setting output.
                   for (char ch : v) {
                     const auto c = static_cast<unsigned char>(ch);
                     if (c < 0x20 || c == 0x7f) {
                       return absl::InvalidArgumentError(
                           c == 0 ? std::string("value contains a NUL byte")
                                  : Cat("value contains a control character (0x",
                                        absl::Hex(c, absl::kZeroPad2), ")"));
                     }
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

// A list of numeric listen addresses, each at most once.
Setting AddressListSetting(std::string_view name, std::vector<std::string> Config::*field) {
  return Setting{
      name,
      [field](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<std::string>> items = ParseItems<std::string>(v, &ParseListenItem);
        if (!items.ok()) return items.status();
        for (size_t i = 0; i < items->size(); i++) {
          for (size_t j = 0; j < i; j++) {
            if ((*items)[i] == (*items)[j]) {
              return absl::InvalidArgumentError(Cat("duplicate address ", (*items)[i]));
            }
          }
        }
        c->*field = *std::move(items);
        return absl::OkStatus();
      },
      [field](const Config& c) { return absl::StrJoin(c.*field, ","); },
      [](std::string_view item) { return ParseListenItem(item).status(); }};
}

// A list of networks (CIDRs).
Setting CidrListSetting(std::string_view name, std::vector<Cidr> Config::*field) {
  return Setting{
      name,
      [field](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<Cidr>> items = ParseItems<Cidr>(v, &ParseCidrItem);
        if (!items.ok()) return items.status();
        c->*field = *std::move(items);
        return absl::OkStatus();
      },
      [field](const Config& c) {
        return absl::StrJoin(c.*field, ",",
                             [](std::string* out, const Cidr& n) { out->append(n.ToString()); });
      },
      [](std::string_view item) { return Cidr::Parse(item).status(); }};
}

// A list of DOMAIN=... entries (routes, TLS policies), each domain at most
// once; `duplicate` starts the error for a domain given twice.
template <typename Item>
Setting DomainListSetting(std::string_view name, std::vector<Item> Config::*field,
                          absl::StatusOr<Item> (*parse)(std::string_view),
                          const char* duplicate,
                          void (*format_item)(std::string*, const Item&)) {
  return Setting{
      name,
      [field, parse, duplicate](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<Item>> items = ParseItems<Item>(v, parse);
        if (!items.ok()) return items.status();
        for (size_t i = 0; i < items->size(); i++) {
          for (size_t j = 0; j < i; j++) {
            if ((*items)[i].domain == (*items)[j].domain) {
              return absl::InvalidArgumentError(Cat(duplicate, Quote((*items)[i].domain)));
            }
          }
        }
        c->*field = *std::move(items);
        return absl::OkStatus();
      },
      [field, format_item](const Config& c) { return absl::StrJoin(c.*field, ",", format_item); },
      [parse](std::string_view item) { return parse(item).status(); }};
}

std::vector<Setting> BuildSettings() {
  std::vector<Setting> s;
  s.push_back(AddressListSetting("listen", &Config::listen));
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
  s.push_back(BoolSetting("ipv6", &Config::ipv6));
  s.push_back(CidrListSetting("relay_networks", &Config::relay_networks));
  s.push_back(CidrListSetting("proxy_trusted", &Config::proxy_trusted));
  s.push_back(DurationSetting("proxy_timeout", &Config::proxy_timeout, absl::Milliseconds(1),
                              absl::Minutes(5)));
  s.push_back(DomainListSetting<Route>(
      "route", &Config::routes, &ParseRoute, "two routes for domain ",
      [](std::string* out, const Route& r) {
        CatAppend(out, r.domain, "=", FormatHostPort(r.host, r.port));
      }));
  s.push_back(CountSetting("dest_port", &Config::dest_port, 1, 65535));
  s.push_back(StringSetting("admin", &Config::admin, &CheckNumericAddress));
  s.push_back(StringSetting("log", &Config::log, nullptr));
  s.push_back(DurationSetting("log_flush_interval", &Config::log_flush_interval,
                              absl::ZeroDuration(), absl::Seconds(10)));
  const absl::Duration kMs = absl::Milliseconds(1);
  const absl::Duration kDay = absl::Hours(24);
  s.push_back(DurationSetting("retry_min", &Config::retry_min, kMs, 30 * kDay));
  s.push_back(DurationSetting("retry_max", &Config::retry_max, kMs, 30 * kDay));
  s.push_back(DurationSetting("max_age", &Config::max_age, absl::Seconds(1), 365 * kDay));
  s.push_back(BytesSetting("max_message_size", &Config::max_message_size, kKiB, kGiB));
  s.push_back(BytesSetting("max_queue_memory", &Config::max_queue_memory, kMiB, 1024 * kGiB));
  s.push_back(StringSetting("tls_cert", &Config::tls_cert, nullptr));
  s.push_back(StringSetting("tls_key", &Config::tls_key, nullptr));
  s.push_back(AddressListSetting("listen_tls", &Config::listen_tls));
  s.push_back(AddressListSetting("require_tls", &Config::require_tls));
  s.push_back(AddressListSetting("require_auth", &Config::require_auth));
  s.push_back(DurationSetting("tls_handshake_timeout", &Config::tls_handshake_timeout, kMs,
                              absl::Minutes(10)));
  s.push_back(StringSetting("auth_users", &Config::auth_users, nullptr));
  s.push_back(CountSetting("auth_failures_max", &Config::auth_failures_max, 0, 1'000'000));
  s.push_back(DurationSetting("auth_failure_window", &Config::auth_failure_window,
                              absl::Seconds(1), kDay));
  s.push_back(DurationSetting("auth_failure_delay", &Config::auth_failure_delay,
                              absl::ZeroDuration(), absl::Minutes(5)));
  s.push_back(Setting{"outbound_tls",
                      [](Config* c, std::string_view v) -> absl::Status {
                        absl::StatusOr<TlsLevel> level = ParseTlsLevel(v);
                        if (!level.ok()) return level.status();
                        c->outbound_tls = *level;
                        return absl::OkStatus();
                      },
                      [](const Config& c) { return std::string(TlsLevelName(c.outbound_tls)); },
                      nullptr});
  s.push_back(DomainListSetting<TlsPolicy>(
      "outbound_tls_policy", &Config::outbound_tls_policy, &ParseTlsPolicy,
      "two TLS policies for domain ", [](std::string* out, const TlsPolicy& p) {
        CatAppend(out, p.domain, "=", TlsLevelName(p.level));
      }));
  s.push_back(StringSetting("tls_ca_file", &Config::tls_ca_file, nullptr));
  s.push_back(DurationSetting("drain_grace", &Config::drain_grace, absl::ZeroDuration(),
                              absl::Minutes(10)));
  s.push_back(DurationSetting("drain_timeout", &Config::drain_timeout, absl::Seconds(1),
                              absl::Hours(1)));
  // At least a minute: the plaintext retry that follows a failed handshake
  // must find the host remembered, or it would try TLS again at once.
  s.push_back(DurationSetting("tls_fallback_ttl", &Config::tls_fallback_ttl, absl::Minutes(1),
                              7 * kDay));
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
    if (v.empty()) return absl::OkStatus();
    const base::NameError e = base::CheckName(v, base::kHostName);
    if (e == base::NameError::kOk) return absl::OkStatus();
    return absl::InvalidArgumentError(
        Cat(Quote(v), " is not a valid host name (", base::NameErrorText(e), ")"));
  }));
  s.push_back(CountSetting("max_hops", &Config::max_hops, 1, 1000));
  s.push_back(StringSetting("postmaster", &Config::postmaster, &CheckRoutableAddress));
  s.push_back(StringSetting("double_bounce", &Config::double_bounce, &CheckRoutableAddress));
  s.push_back(BytesSetting("bounce_size_limit", &Config::bounce_size_limit, kKiB, kGiB));
  s.push_back(DurationSetting("delay_warning_time", &Config::delay_warning_time,
                              absl::ZeroDuration(), 365 * kDay));
  s.push_back(StringSetting("bounce_rules", &Config::bounce_rules, nullptr));
  s.push_back(CountSetting("max_connections_per_destination",
                           &Config::max_connections_per_destination, 1, 100'000));
  s.push_back(CountSetting("max_messages_per_connection", &Config::max_messages_per_connection, 1,
                           10'000'000));
  s.push_back(CountSetting("outbound_pipeline_depth", &Config::outbound_pipeline_depth, 1,
                           1024));
  s.push_back(CountSetting("max_recipients_per_transaction",
                           &Config::max_recipients_per_transaction, 1, 100'000));
  s.push_back(DurationSetting("connect_timeout", &Config::connect_timeout, kMs, kDay));
  s.push_back(DurationSetting("greeting_timeout", &Config::greeting_timeout, kMs, kDay));
  s.push_back(DurationSetting("command_timeout", &Config::command_timeout, kMs, kDay));
  s.push_back(DurationSetting("mail_timeout", &Config::mail_timeout, kMs, kDay));
  s.push_back(DurationSetting("rcpt_timeout", &Config::rcpt_timeout, kMs, kDay));
  s.push_back(DurationSetting("data_init_timeout", &Config::data_init_timeout, kMs, kDay));
  s.push_back(DurationSetting("data_block_timeout", &Config::data_block_timeout, kMs, kDay));
  s.push_back(DurationSetting("data_term_timeout", &Config::data_term_timeout, kMs, kDay));
  s.push_back(DurationSetting("connection_idle", &Config::connection_idle, kMs, kDay));
  s.push_back(Setting{
      "destination_policy",
      [](Config* c, std::string_view v) -> absl::Status {
        absl::StatusOr<std::vector<DestinationPolicy>> items =
            ParseItems<DestinationPolicy>(v, &ParseDestinationPolicy);
        if (!items.ok()) return items.status();
        for (size_t i = 0; i < items->size(); i++) {
          for (size_t j = 0; j < i; j++) {
            if ((*items)[i].match == (*items)[j].match) {
              return absl::InvalidArgumentError(
                  Cat("two destination policies for ", Quote((*items)[i].match)));
            }
          }
        }
        c->destination_policy = *std::move(items);
        return absl::OkStatus();
      },
      [](const Config& c) {
        return absl::StrJoin(c.destination_policy, ",",
                             [](std::string* out, const DestinationPolicy& p) {
                               out->append(DestinationPolicyToString(p));
                             });
      },
      [](std::string_view item) { return ParseDestinationPolicy(item).status(); }});
  s.push_back(BytesSetting("commit_max_bytes", &Config::commit_max_bytes, 4 * kKiB, kGiB));
  s.push_back(DurationSetting("commit_delay", &Config::commit_delay, absl::ZeroDuration(),
                              absl::Milliseconds(100)));
  s.push_back(BoolSetting("spool_direct_io", &Config::spool_direct_io));
  s.push_back(BytesSetting("segment_bytes", &Config::segment_bytes, 64 * kKiB, 64 * kGiB));
  s.push_back(CountSetting("sq_entries", &Config::sq_entries, 1, 32768, /*power_of_two=*/true));
  s.push_back(CountSetting("recv_buffers", &Config::recv_buffers, 1, 32768, /*power_of_two=*/true));
  s.push_back(BytesSetting("recv_buffer_bytes", &Config::recv_buffer_bytes, kKiB, kMiB));
  s.push_back(CountSetting("cross_shard_ring_entries", &Config::cross_shard_ring_entries, 16,
                           65536, /*power_of_two=*/true));
  s.push_back(CountSetting("max_cross_shard_backlog", &Config::max_cross_shard_backlog, 1024,
                           100'000'000));
  return s;
}

}  // namespace

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

}  // namespace config_internal

using namespace config_internal;  // NOLINT(build/namespaces): the package's helpers

const std::vector<std::string_view>& SettingNames() {
  static const std::vector<std::string_view>* names = [] {
    auto* v = new std::vector<std::string_view>();
    for (const Setting& s : Settings()) v->push_back(s.name);
    return v;
  }();
  return *names;
}

absl::Status ApplyFlag(Config* config, std::string_view name, std::string_view value) {
  CHECK(config != nullptr);
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
  const bool tls = !config.tls_cert.empty();
  if (!config.listen_tls.empty() && !tls) {
    return absl::InvalidArgumentError("listen_tls needs tls_cert and tls_key");
  }
  if (!config.auth_users.empty() && !tls) {
    return absl::InvalidArgumentError(
        "auth_users needs tls_cert and tls_key (AUTH is offered only inside TLS)");
  }
  if (!config.require_tls.empty() && !tls) {
    return absl::InvalidArgumentError("require_tls needs tls_cert and tls_key");
  }
  if (!config.require_auth.empty() && config.auth_users.empty()) {
    return absl::InvalidArgumentError("require_auth needs auth_users");
  }
  auto listened = [&](const std::string& a) {
    return absl::c_linear_search(config.listen, a) || absl::c_linear_search(config.listen_tls, a);
  };
  for (const auto* list : {&config.require_tls, &config.require_auth}) {
    for (const std::string& a : *list) {
      if (!listened(a)) {
        return absl::InvalidArgumentError(
            Cat(list == &config.require_tls ? "require_tls" : "require_auth", ": ", a,
                " is not a listen or listen_tls address"));
      }
    }
  }
  for (const std::string& a : config.listen_tls) {
    if (absl::c_linear_search(config.listen, a) || a == config.admin) {
      return absl::InvalidArgumentError(
          Cat("listen_tls address ", a, " is also a listen or admin address"));
    }
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

std::string DescribeSetting(const Config& config, std::string_view name) {
  const Setting* s = FindSetting(name);
  if (s == nullptr) return "";
  std::string value = s->format(config);
  std::string out = Cat(s->name, " = ", value.empty() ? "\"\"" : value);
  if (s->name == "durability" && config.durability == Durability::kNone) {
    CatAppend(&out, "  # WARNING: no fdatasync; a crash loses accepted mail (benchmarking only)");
  }
  return out;
}

std::string DescribeConfig(const Config& config) {
  std::string out;
  for (std::string_view name : SettingNames()) {
    CatAppend(&out, DescribeSetting(config, name), "\n");
  }
  return out;
}

}  // namespace ringpost
