// config.h — the relay's configuration: one struct, a TOML file, and one
// command-line flag per setting.
//
// The implementation is one file per job (see config_internal.h): value
// syntax (values.cc), the settings table (settings.cc), loading the file
// and flags (loader.cc), the flag definitions (flags.cc). Host names,
// route domains and the postmaster address are checked by base/mailbox.h,
// the address grammar the SMTP parser uses too.
//
// Every setting has a TOML key and an absl flag of the same snake_case name
// (`retry_min = "60s"` in the file, `--retry_min=60s` on the command line).
// Both go through ApplyFlag(), so a value is validated identically wherever
// it comes from. Flags given on the command line win over the file.
//
// Usage (main):
//   std::vector<char*> args = ringpost::ParseCommandLine(argc, argv);
//   absl::StatusOr<ringpost::Config> config =
//       ringpost::LoadConfig(absl::GetFlag(FLAGS_config));
//   if (!config.ok()) { fprintf(stderr, "%s\n", ...); return 2; }
//
// List settings (listen, listen_tls, require_tls, require_auth, route,
// outbound_tls_policy, relay_networks) take a TOML array of strings
// or, as flags, a comma-separated list and/or repeated use:
// `--route=a.example=10.0.0.1:25 --route=*=[2001:db8::1]:587`. Repetition is
// handled by ringpost::ParseCommandLine(); with plain absl::ParseCommandLine
// only the last occurrence of a list flag survives.
//
// Units: durations are <digits><unit>, units us, ms, s, m, h, d, and may be
// compound ("1h30m"); byte sizes are digits with an optional binary suffix
// K, M, G, T (case-insensitive, optionally followed by "B" or "iB").
//
// Invariants of a Config returned by LoadConfig()/ParseConfigToml(): every
// field is within the bounds checked by ApplyFlag() and ValidateConfig(),
// route domains are lowercase and unique, listen addresses are numeric.

#ifndef RINGPOST_RELAY_CONFIG_CONFIG_H_
#define RINGPOST_RELAY_CONFIG_CONFIG_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

// Path of the TOML file; "" = none (flags and defaults only).
ABSL_DECLARE_FLAG(std::string, config);

namespace ringpost {

// A static route: mail for `domain` goes to host:port without an MX lookup.
// `host` is a hostname, an IPv4 address or an IPv6 address (stored without
// brackets). Written DOMAIN=HOST[:PORT], IPv6 as [2001:db8::1]:25; the port
// defaults to 25.
struct Route {
  std::string domain;  // lowercase, no trailing dot; "*" = smarthost for all
  std::string host;
  uint16_t port = 25;

  bool operator==(const Route&) const = default;
};

// An IPv4 or IPv6 network. IPv4-mapped IPv6 peers (::ffff:a.b.c.d, seen on
// dual-stack sockets) match IPv4 networks.
struct Cidr {
  sa_family_t family = AF_UNSPEC;    // AF_INET or AF_INET6 once parsed
  std::array<uint8_t, 16> network{};  // host bits zero; IPv4 uses [0, 4)
  int prefix_len = 0;                 // 0..32 or 0..128

  // "10.0.0.0/8", "2001:db8::/32", or a bare address (/32 or /128). Host
  // bits set after the prefix are an error (likely a typo).
  static absl::StatusOr<Cidr> Parse(std::string_view text);
  std::string ToString() const;

  bool Contains(const sockaddr_storage& addr) const;
  bool Contains(const sockaddr* addr) const;  // nullptr or other family: false

  bool operator==(const Cidr&) const = default;
};

// Outbound TLS, per destination, with Postfix's names (smtp_tls_security_level).
enum class TlsLevel : uint8_t {
  kNone,     // never STARTTLS
  kMay,      // STARTTLS when offered, any certificate; plaintext if it fails
  kEncrypt,  // TLS required, any certificate
  kVerify,   // TLS required, chain to tls_ca_file and the MX host name
};
std::string_view TlsLevelName(TlsLevel level);

// outbound_tls_policy entry: DOMAIN=LEVEL, for recipient domain DOMAIN.
struct TlsPolicy {
  std::string domain;  // lowercase, no trailing dot
  TlsLevel level = TlsLevel::kMay;

  bool operator==(const TlsPolicy&) const = default;
};

// A rate: `count` events per `per`, written "100/s", "6000/m", "20000/h",
// "100000/d".
struct RateLimit {
  uint64_t count = 0;
  absl::Duration per = absl::Seconds(1);

  bool operator==(const RateLimit&) const = default;
};

// destination_policy entry, written MATCH KEY=VALUE ... (space-separated):
//   MATCH  example.com      the domain itself
//          *.example.com    its subdomains (not the domain itself)
//          mx:HOST          domains with an MX host named HOST
//          mx:*.SUFFIX      domains with an MX host ending in .SUFFIX;
//                           every domain an mx: entry matches shares its
//                           limits (one provider, one budget)
//          *                every destination (defaults over the settings)
//   KEYS   max_connections, max_messages_per_connection,
//          max_recipients_per_transaction, message_rate, message_burst,
//          connection_rate, connection_burst, tls, retry_min, retry_max.
// A key left out comes from the "*" entry, else from the setting of the
// same name (docs/configuration.md, "Delivery policy").
struct DestinationPolicy {
  std::string match;  // lowercase, no trailing dot
  std::optional<size_t> max_connections;
  std::optional<size_t> max_messages_per_connection;
  std::optional<size_t> max_recipients_per_transaction;
  std::optional<RateLimit> message_rate;
  std::optional<uint32_t> message_burst;
  std::optional<RateLimit> connection_rate;
  std::optional<uint32_t> connection_burst;
  std::optional<TlsLevel> tls;
  std::optional<absl::Duration> retry_min;
  std::optional<absl::Duration> retry_max;

  bool operator==(const DestinationPolicy&) const = default;
};

enum class Durability {
  kFsync,  // 250 after DATA only once the message is fdatasync'ed
  kNone,   // benchmarking only: acknowledged mail can be lost on a crash
};

struct Config {
  // Listeners and networking.
  std::vector<std::string> listen = {"127.0.0.1:2525"};  // numeric ADDR:PORT
  int shards = 0;  // 0 = number of CPUs (resolved by the caller)
  std::string spool = "/var/spool/ringpost";
  std::string dns;  // numeric ADDR[:PORT]; "" = /etc/resolv.conf
  std::vector<Cidr> relay_networks = {*Cidr::Parse("127.0.0.0/8"), *Cidr::Parse("::1/128")};
  std::vector<Route> routes;  // flag/key: route
  uint16_t dest_port = 25;
  absl::Duration dns_timeout = absl::Seconds(2);  // per attempt
  size_t dns_attempts = 2;                        // passes over the servers
  absl::Duration dns_min_ttl = absl::Seconds(60); // MX cache clamps
  absl::Duration dns_max_ttl = absl::Hours(1);
  absl::Duration dns_stale_ttl = absl::Hours(24); // serve-stale window
  size_t dns_cache_size = 100000;
  bool ipv6 = false;                              // AAAA too, IPv6 first    // port for MX hosts
  std::string admin = "127.0.0.1:8025";
  std::string log;  // delivery log path; "" = <spool>/delivery.log
  absl::Duration log_flush_interval = absl::Milliseconds(100);

  // Queue lifetime.
  absl::Duration retry_min = absl::Seconds(60);
  absl::Duration retry_max = absl::Hours(1);
  absl::Duration max_age = absl::Hours(24 * 5);  // Postfix maximal_queue_lifetime
  uint64_t max_message_size = uint64_t{50} << 20;
  uint64_t max_queue_memory = uint64_t{1} << 30;  // queued bodies in memory

  // PROXY protocol (behind a load balancer): connections from these
  // networks must begin with a v1 or v2 header naming the real client.
  std::vector<Cidr> proxy_trusted;
  absl::Duration proxy_timeout = absl::Seconds(5);

  // TLS and AUTH, inbound.
  std::string tls_cert;  // PEM paths; both or neither: STARTTLS offered
  std::string tls_key;
  std::vector<std::string> listen_tls;    // implicit TLS (RFC 8314), numeric ADDR:PORT
  std::vector<std::string> require_tls;   // listen addresses: STARTTLS before MAIL/AUTH
  std::vector<std::string> require_auth;  // listen addresses: AUTH before MAIL
  absl::Duration tls_handshake_timeout = absl::Seconds(10);
  std::string auth_users;             // credentials file; "" = no AUTH
  size_t auth_failures_max = 5;       // per client address per window; 0 = no limit
  absl::Duration auth_failure_window = absl::Minutes(5);
  absl::Duration auth_failure_delay = absl::Seconds(5);  // before the 421

  // TLS, outbound.
  TlsLevel outbound_tls = TlsLevel::kMay;
  std::vector<TlsPolicy> outbound_tls_policy;  // per recipient domain
  std::string tls_ca_file = "/etc/ssl/certs/ca-certificates.crt";
  // How long `may` sends in plaintext to a host whose handshake failed.
  absl::Duration tls_fallback_ttl = absl::Hours(1);
  Durability durability = Durability::kFsync;

  // SMTP server (inbound) limits.
  size_t max_recipients = 1000;
  size_t max_line_length = 1000;  // text line incl. CRLF (RFC 5321 4.5.3.1.6)
  size_t max_command_line = 512;  // incl. CRLF (RFC 5321 4.5.3.1.4)
  size_t max_connections_per_client = 100;
  size_t max_connections = 10000;
  absl::Duration idle_timeout = absl::Minutes(5);  // RFC 5321 4.5.3.2.7
  absl::Duration session_timeout = absl::Hours(1);
  std::string hostname;  // banner and Received; "" = gethostname()
  size_t max_hops = 50;   // Received headers before 554 5.4.0 (Postfix hopcount_limit)
  std::string postmaster;  // where RCPT TO:<Postmaster> goes; "" = postmaster@hostname

  // Delivery status notifications (bounces, RFC 3464).
  std::string double_bounce;   // where failed notices go; "" = logged and dropped
  uint64_t bounce_size_limit = 50000;  // octets of the original a notice returns (Postfix's)
  absl::Duration delay_warning_time = absl::ZeroDuration();  // 0 = no delay warnings
  std::string bounce_rules;    // classification rules file; "" = the built-in rules

  // SMTP client (outbound) limits.
  size_t max_connections_per_destination = 32;
  size_t max_messages_per_connection = 1000;
  size_t outbound_pipeline_depth = 32;  // transactions in flight per connection
  size_t max_recipients_per_transaction = 50;  // outbound RCPTs per MAIL (Postfix: 50)
  absl::Duration connect_timeout = absl::Seconds(30);
  // Per-reply timeouts, RFC 5321 4.5.3.2.
  absl::Duration greeting_timeout = absl::Minutes(5);    // 220 banner
  absl::Duration command_timeout = absl::Minutes(5);     // EHLO, STARTTLS, RSET, QUIT
  absl::Duration mail_timeout = absl::Minutes(5);        // MAIL FROM
  absl::Duration rcpt_timeout = absl::Minutes(5);        // RCPT TO
  absl::Duration data_init_timeout = absl::Minutes(2);   // 354 after DATA
  absl::Duration data_block_timeout = absl::Minutes(3);  // each send of message data
  absl::Duration data_term_timeout = absl::Minutes(10);  // reply after final "."
  absl::Duration connection_idle = absl::Seconds(10);    // pooled idle connection close
  // Per-destination shaping and overrides of the settings above.
  std::vector<DestinationPolicy> destination_policy;

  // Spool and io_uring sizing.
  size_t commit_max_bytes = size_t{4} << 20;  // group commit cap
  absl::Duration commit_delay = absl::Microseconds(500);  // group commit window
  bool spool_direct_io = true;  // O_DIRECT + RWF_DSYNC commits where possible
  uint64_t segment_bytes = uint64_t{64} << 20;
  size_t sq_entries = 4096;         // power of two
  size_t recv_buffers = 1024;       // power of two, per shard
  size_t recv_buffer_bytes = 16384;

  // Drain (SIGTERM/SIGINT): mail is still taken for drain_grace (so a load
  // balancer can notice /readyz), then listeners close and in-flight work
  // finishes within drain_timeout.
  absl::Duration drain_grace = absl::Seconds(10);
  absl::Duration drain_timeout = absl::Seconds(30);

  // Cross-shard rings (shard A hands jobs to the owner shard B; outcomes
  // flow back). One ring per ordered pair of distinct shards.
  // Entries per ring: power of two, 16..65536. Memory for all rings:
  // entries x shards x (shards - 1) x 16 bytes.
  size_t cross_shard_ring_entries = 1024;
  // Items one shard may hold waiting for full rings to other shards. Over
  // it the shard refuses new transactions (MAIL FROM: 452 4.3.1) until it
  // drains below; items owed for accepted messages are never dropped.
  // 1024..100,000,000.
  size_t max_cross_shard_backlog = 65536;
};

// Names of all settings (TOML keys == flag names), in DescribeConfig order.
const std::vector<std::string_view>& SettingNames();

// Sets one setting from its text form, validating it: the single entry point
// for both TOML values and flags. List settings take a comma-separated list
// that replaces the current list ("" = empty list).
absl::Status ApplyFlag(Config* config, std::string_view name, std::string_view value);

// Cross-setting checks (retry_min <= retry_max, tls_cert with tls_key, ...).
absl::Status ValidateConfig(const Config& config);

// Parses a TOML document on top of the defaults, then ValidateConfig().
// Errors name `filename` and the line: "relay.toml:7: retry_min: ...".
absl::StatusOr<Config> ParseConfigToml(std::string_view text, std::string_view filename);

// Reads the TOML file (if path non-empty), applies every setting flag that
// was given on the command line, and validates the result.
absl::StatusOr<Config> LoadConfig(const std::string& path_or_empty);

// Like absl::ParseCommandLine (exits on bad flags, handles --help and
// --helpfull), and additionally makes the list flags accumulate over
// repeated use. Returns the positional arguments (argv[0] first).
std::vector<char*> ParseCommandLine(int argc, char* argv[]);

// One "name = value" line per setting, values in flag syntax, for start-up
// logging. Empty strings print as "".
std::string DescribeConfig(const Config& config);
// The line of DescribeConfig for one setting ("" for an unknown name).
std::string DescribeSetting(const Config& config, std::string_view name);

// SIGHUP: the relay re-reads its file (and the command-line flags, which
// still win) and applies what can change in a running process. Settings
// that need a restart (listeners, shards, the spool, the DNS client, ring
// sizes: see reload.cc and docs/configuration.md) keep their running
// values; so do tls_cert and tls_key when one side has TLS and the other
// has none.
bool SettingNeedsRestart(std::string_view name);

struct ReloadPlan {
  Config config;                   // the file's config, restart-only settings as running
  std::vector<std::string> changed;  // settings applied live, in SettingNames order
  std::vector<std::string> kept;     // changed in the file, kept until a restart
};
// Compares `next` (a loaded, valid config) with `running` (the config as it
// was loaded, before start-up resolved anything). Fails when `next` is not
// valid together with the running values it cannot change.
absl::StatusOr<ReloadPlan> PlanReload(const Config& running, Config next);

// "250ms", "30s", "5m", "2h", "5d", compound "1h30m"; "0" alone is zero.
// Bounded to 100 years.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);
// Inverse of ParseDuration for whole milliseconds, in the largest exact unit.
std::string DurationToString(absl::Duration d);

// "1024", "10k", "50M", "1G", "2T", "64MiB", "4kB" — all binary multiples.
absl::StatusOr<uint64_t> ParseBytes(std::string_view text);
// Inverse of ParseBytes, in the largest exact unit ("50M").
std::string BytesToString(uint64_t bytes);

// HOST[:PORT] where HOST is a hostname, IPv4 address or [IPv6] (brackets
// required for IPv6, removed in `host`). Without a port, `default_port` is
// used if given, else it is an error. Port 0 is an error.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(std::string_view text,
                                       std::optional<uint16_t> default_port);

// A numeric address for bind/connect: "127.0.0.1:2525", "[::1]:25".
absl::StatusOr<sockaddr_storage> ParseSocketAddress(std::string_view text,
                                                    std::optional<uint16_t> default_port);

// A host name usable as an EHLO argument on the public network: valid, with
// two or more labels, the last not numeric ("mx1.example.com", not "mx1",
// "localhost" or "10.0.0.1").
bool IsFullyQualifiedHostname(std::string_view name);

// DOMAIN=HOST[:PORT] (see Route).
absl::StatusOr<Route> ParseRoute(std::string_view text);

// none | may | encrypt | verify.
absl::StatusOr<TlsLevel> ParseTlsLevel(std::string_view text);
// DOMAIN=LEVEL (see TlsPolicy).
absl::StatusOr<TlsPolicy> ParseTlsPolicy(std::string_view text);
// "100/s" (see RateLimit) and its inverse.
absl::StatusOr<RateLimit> ParseRateLimit(std::string_view text);
std::string RateLimitToString(const RateLimit& rate);
// MATCH KEY=VALUE ... (see DestinationPolicy) and its inverse.
absl::StatusOr<DestinationPolicy> ParseDestinationPolicy(std::string_view text);
std::string DestinationPolicyToString(const DestinationPolicy& policy);
// The level for mail to `domain` (lowercase): its outbound_tls_policy entry,
// else outbound_tls.
TlsLevel TlsLevelFor(const Config& config, std::string_view domain);

}  // namespace ringpost

#endif  // RINGPOST_RELAY_CONFIG_CONFIG_H_
