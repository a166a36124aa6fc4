// relay/config/flags.cc — the command line: one absl flag per setting, of
// the same name as its TOML key, and ParseCommandLine().
//
// Scalars are strings so that ApplyFlag() is the only parser; defaults are
// written in flag syntax and must equal the Config defaults (config_test
// checks that, and that flags and settings-table rows match one to one).
// The help texts are what `ringpost --helpfull` prints; the full reference
// is docs/configuration.md. List flags (listen, listen_tls, require_tls, require_auth,
// route, outbound_tls_policy, relay_networks)
// accumulate over repeated use through ParseCommandLine(); absl alone keeps
// only the last occurrence.

#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "relay/config/config.h"
#include "relay/config/config_internal.h"

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
ABSL_FLAG(std::string, log_flush_interval, "100ms",
          "Delivery log: longest a record waits in memory before its write (0 = every loop turn).");
ABSL_FLAG(std::string, retry_min, "1m",
          "First retry delay after a transient failure (duration: us, ms, s, m, h, d).");
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
ABSL_FLAG(std::vector<std::string>, proxy_trusted, {},
          "CIDRs of load balancers whose connections must start with a PROXY protocol "
          "v1 or v2 header naming the real client. Repeatable and/or comma-separated.");
ABSL_FLAG(std::string, proxy_timeout, "5s",
          "Longest wait for the PROXY header from a proxy_trusted peer.");
ABSL_FLAG(std::vector<std::string>, listen_tls, {},
          "Implicit-TLS (RFC 8314, port 465) listen address ADDR:PORT. Needs tls_cert. "
          "Repeatable and/or comma-separated.");
ABSL_FLAG(std::vector<std::string>, require_tls, {},
          "Listen addresses (of listen or listen_tls) whose clients must use TLS "
          "before MAIL or AUTH (530 5.7.0). Repeatable and/or comma-separated.");
ABSL_FLAG(std::vector<std::string>, require_auth, {},
          "Listen addresses whose clients must AUTH before MAIL (530 5.7.0). Needs "
          "auth_users. Repeatable and/or comma-separated.");
ABSL_FLAG(std::string, tls_handshake_timeout, "10s",
          "Longest a TLS handshake may take, inbound and outbound.");
ABSL_FLAG(std::string, auth_users, "",
          "SMTP AUTH credentials file: USER:$scrypt$... lines (`ringpost passwd USER`). "
          "AUTH PLAIN and LOGIN are offered inside TLS only.");
ABSL_FLAG(std::string, auth_failures_max, "5",
          "AUTH failures from one client address within auth_failure_window before "
          "it gets 421 (0 = no limit).");
ABSL_FLAG(std::string, auth_failure_window, "5m", "Window for auth_failures_max.");
ABSL_FLAG(std::string, auth_failure_delay, "5s",
          "Delay before the 421 to a client over auth_failures_max.");
ABSL_FLAG(std::string, outbound_tls, "may",
          "Outbound TLS level: none, may (STARTTLS when offered), encrypt (TLS "
          "required, any certificate), verify (chain to tls_ca_file + MX host name).");
ABSL_FLAG(std::vector<std::string>, outbound_tls_policy, {},
          "Per recipient domain TLS level DOMAIN=LEVEL, overriding outbound_tls. "
          "Repeatable and/or comma-separated.");
ABSL_FLAG(std::string, tls_ca_file, "/etc/ssl/certs/ca-certificates.crt",
          "CA certificates (PEM) that outbound `verify` trusts.");
ABSL_FLAG(std::string, drain_grace, "10s",
          "SIGTERM/SIGINT: keep accepting mail this long before closing the listeners "
          "(/readyz says 503 from the signal on, so a load balancer moves away).");
ABSL_FLAG(std::string, drain_timeout, "30s",
          "Drain: longest wait for in-flight deliveries before the relay stops (their "
          "messages stay queued). A second SIGTERM/SIGINT ends the wait at once.");
ABSL_FLAG(std::string, tls_fallback_ttl, "1h",
          "How long `may` delivers in plaintext to a host whose TLS handshake failed.");
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
ABSL_FLAG(std::string, max_hops, "50",
          "Inbound: a message with more Received headers is refused (554 5.4.0, mail loop).");
ABSL_FLAG(std::string, postmaster, "",
          "Address that RCPT TO:<Postmaster> is delivered to; empty = postmaster@<hostname>.");
ABSL_FLAG(std::string, double_bounce, "",
          "Where a notice (bounce) that cannot be delivered itself is sent; empty = it is "
          "logged and dropped.");
ABSL_FLAG(std::string, bounce_size_limit, "50000",
          "Octets of the original message a bounce returns at most.");
ABSL_FLAG(std::string, delay_warning_time, "0",
          "Send the sender a delay warning once a message has waited this long; 0 = never.");
ABSL_FLAG(std::string, bounce_rules, "",
          "Bounce classification rules file; empty = the built-in rules.");
ABSL_FLAG(std::string, max_recipients_per_transaction, "50",
          "Outbound: recipients per SMTP transaction; more go in further transactions.");
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
ABSL_FLAG(std::vector<std::string>, destination_policy, {},
          "Per-destination shaping: MATCH KEY=VALUE ... (MATCH a domain, *.domain, "
          "mx:host, mx:*.suffix or *; keys max_connections, max_messages_per_connection, "
          "max_recipients_per_transaction, message_rate, message_burst, connection_rate, "
          "connection_burst, tls, retry_min, retry_max). Repeatable and/or comma-separated.");
ABSL_FLAG(std::string, spool_direct_io, "true",
          "Spool commits as O_DIRECT writes with RWF_DSYNC where the file system "
          "allows (true/false).");
ABSL_FLAG(std::string, commit_max_bytes, "4M",
          "Spool: most bytes in one group commit (one write + one fdatasync).");
ABSL_FLAG(std::string, commit_delay, "500us",
          "Spool: longest a message waits for others to join its group commit, "
          "while fewer messages wait than the shard has client connections (0 = never).");
ABSL_FLAG(std::string, segment_bytes, "64M", "Spool: size of a segment file.");
ABSL_FLAG(std::string, sq_entries, "4096",
          "io_uring submission queue entries per shard (power of two, <= 32768).");
ABSL_FLAG(std::string, recv_buffers, "1024",
          "Provided receive buffers per shard (power of two, <= 32768).");
ABSL_FLAG(std::string, recv_buffer_bytes, "16K", "Size of each receive buffer.");
ABSL_FLAG(std::string, cross_shard_ring_entries, "1024",
          "Entries in each lock-free ring from one shard to another (power of two, "
          "16..65536). Memory: entries x shards x (shards - 1) x 16 bytes.");
ABSL_FLAG(std::string, max_cross_shard_backlog, "65536",
          "Items one shard may hold waiting for full rings to other shards "
          "(1024..100000000); above it MAIL FROM gets 452 4.3.1 until it drains.");

namespace ringpost {

using config_internal::Av;
using config_internal::kMaxListItems;

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
      {"listen_tls", &FLAGS_listen_tls, {}, 0},
      {"proxy_trusted", &FLAGS_proxy_trusted, {}, 0},
      {"require_tls", &FLAGS_require_tls, {}, 0},
      {"require_auth", &FLAGS_require_auth, {}, 0},
      {"outbound_tls_policy", &FLAGS_outbound_tls_policy, {}, 0},
      {"destination_policy", &FLAGS_destination_policy, {}, 0},
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
