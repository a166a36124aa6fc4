// bench/sink.h — an SMTP server that accepts and discards mail, for
// benchmarks and end-to-end tests of the relay.
//
// Each thread runs one io_uring Loop with its own SO_REUSEPORT listener on
// the same address. Sessions speak real ESMTP: EHLO advertises PIPELINING,
// SIZE, 8BITMIME, CHUNKING, SMTPUTF8 and ENHANCEDSTATUSCODES; all complete
// command lines of a received chunk are answered, and everything answered in
// one loop turn leaves in one send. DATA goes through smtp::DataScanner (dot
// unstuffing, CRLF.CRLF only, no smuggling, line and size limits); BDAT
// chunks with and without LAST are read raw.
//
// Faults can be injected per message at the end of data (drop the
// connection, 550, 451, a delay before the reply), per recipient (550), and
// deterministically on the first attempt of each distinct message id (451),
// which lets tests check the relay's retry path exactly.
//
// STARTTLS (RFC 3207): with a certificate and key (tls_cert, tls_key) EHLO
// offers STARTTLS; after its 220 the connection runs through a tls::Channel
// server and the session starts over (a new EHLO). Without them STARTTLS is
// answered 454 and nothing else changes.
//
// Counting: each shard counts in its own RelaxedCounters; Counts() sums
// them. Bodies are not kept unless save_dir is set (debug mode, with
// blocking file writes on the loop thread).
//
// For tests of the relay's per-destination traffic shaping:
//   - Concurrency: one atomic over all threads counts the open connections
//     (incremented at accept before anything else, decremented when the
//     connection is closed and its session freed) and keeps their peak.
//     Connections still open when a stop's grace period ends are abandoned,
//     and stay counted.
//   - Sources: accepted messages per peer address and per EHLO/HELO name,
//     in per-thread maps of at most kSourceKeysMax keys each (later keys
//     count under "other"); a session looks its counters up once and then
//     counts with one relaxed add. Counts() merges them, again bounded.
//   - Arrivals (arrivals_path): every accepted message as (CLOCK_REALTIME
//     ns at its 250, peer, EHLO name, first recipient's domain), kept in
//     per-thread chunks of fixed-size entries over per-thread string tables,
//     at most max_arrivals in all; WriteArrivals() merges them by time.
//     Without a path nothing is recorded and no lock is taken.
//   - Scripts: after throttle_after transactions (MAIL FROMs answered 250)
//     on a connection, every later MAIL, RCPT or end of data (throttle_at)
//     is answered throttle_reply, and a 421 closes the connection. With
//     max_connections, a connection accepted while that many are open is
//     greeted "421 4.7.0 Too many connections" and closed.
//
// Usage:
//   SinkOptions o; o.listen = "127.0.0.1:0";
//   auto sink = Sink::Start(o);          // threads are running on return
//   ... (*sink)->port() ...
//   (*sink)->RequestStop();              // any thread
//   (*sink)->Wait();
//   SinkCounts c = (*sink)->Counts();
#ifndef RINGPOST_BENCH_SINK_H_
#define RINGPOST_BENCH_SINK_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "relay/tls/context.h"

namespace ringpost::bench {

// Where throttle_reply replaces the sink's answer.
enum class ThrottleAt : uint8_t { kMail, kRcpt, kData };

// "mail", "rcpt", "data"; false for anything else.
bool ParseThrottleAt(std::string_view text, ThrottleAt* out);

// Ok when `reply` is one SMTP reply line as throttle_reply needs it: a
// 4xx or 5xx code, a space, then non-empty printable ASCII text (no CR or
// LF: the sink adds the CRLF), at most kThrottleReplyOctetsMax octets.
absl::Status ValidateThrottleReply(std::string_view reply);
inline constexpr size_t kThrottleReplyOctetsMax = 510;  // RFC 5321: 512 with CRLF

// Distinct peers and EHLO names counted per thread and in SinkCounts.
inline constexpr size_t kSourceKeysMax = 1000;

struct SinkOptions {
  std::string listen = "127.0.0.1:2526";  // port 0: any, shared by all threads
  int threads = 1;
  int cpu = -1;  // pin thread i to cpu + i; -1: no pinning
  // Fault injection, as fractions of messages (0..1), decided at end of data
  // in this order: drop, fail_5xx, fail_4xx.
  double drop = 0;
  double fail_5xx = 0;
  double fail_4xx = 0;
  double fail_rcpt_5xx = 0;  // fraction of RCPT commands answered 550 5.1.1
  uint32_t delay_ms = 0;     // wait before the end-of-data reply
  // 451 for the first attempt of each distinct id (id header, else
  // Message-ID), 250 for later ones. Shared by all threads.
  bool fail_first_attempt_4xx = false;
  uint64_t seed = 1;
  uint64_t max_size = uint64_t{100} << 20;  // message octets; 552 above
  std::string id_header = "X-Ringpost-Test-Id";
  bool record_ids = false;   // keep the id of every accepted message
  std::string save_dir;      // debug: DIR/<n>.eml and DIR/<n>.env per message
  uint32_t idle_timeout_s = 300;
  std::string hostname = "sink.ringpost.invalid";
  // PEM files; both or neither. Loaded once by Start() for every thread.
  std::string tls_cert;
  std::string tls_key;
  // Loop sizing.
  unsigned recv_buffers = 1024;
  unsigned recv_buffer_bytes = 16384;
  // Per-connection script. The first throttle_after transactions (MAIL
  // FROMs answered 250) of every connection are served normally; after
  // them every MAIL (kMail), or every RCPT (kRcpt), or every end-of-data
  // reply (kData) is throttle_reply instead. A 421 closes the connection
  // once sent. 0: off.
  uint32_t throttle_after = 0;
  std::string throttle_reply = "451 4.7.0 Try again later";  // see ValidateThrottleReply
  ThrottleAt throttle_at = ThrottleAt::kMail;
  // A connection accepted while this many are already open (all threads)
  // is greeted "421 4.7.0 Too many connections" and closed. 0: no limit.
  uint32_t max_connections = 0;
  // Arrival log: with a path, every accepted message is recorded for
  // WriteArrivals(), at most max_arrivals of them (later ones are only
  // counted). Empty: nothing recorded.
  std::string arrivals_path;
  uint64_t max_arrivals = 10'000'000;
};

struct SinkCounts {
  uint64_t messages = 0;         // answered 250 at end of data
  uint64_t recipients = 0;       // accepted recipients of those messages
  uint64_t bytes = 0;            // their content octets (after unstuffing)
  uint64_t connections = 0;      // connections accepted
  uint64_t rejected_4xx = 0;     // messages answered 4xx at end of data
  uint64_t rejected_5xx = 0;     // messages answered 5xx at end of data
  uint64_t dropped = 0;          // messages answered by closing the connection
  uint64_t rcpt_rejected = 0;    // RCPT answered 550 by fault injection
  uint64_t bdat_chunks = 0;      // BDAT commands seen
  uint64_t protocol_errors = 0;  // commands answered 500/501/503/554
  uint64_t tls_handshakes = 0;   // STARTTLS handshakes completed
  uint64_t tls_messages = 0;     // accepted messages that came over TLS
  uint64_t connections_open = 0;     // accepted and not yet closed, refused ones included
  uint64_t connections_peak = 0;     // most connections_open at once since start
  uint64_t connections_refused = 0;  // greeted 421 for max_connections (also in connections)
  uint64_t throttled = 0;            // replies that were throttle_reply (not in rejected_*)
  // Accepted messages by peer address ("127.0.0.2", "::1") and by the
  // EHLO/HELO name given on their connection (its first word, bytes other
  // than printable ASCII replaced by '?'). At most kSourceKeysMax keys each,
  // the busiest; the rest are summed under "other".
  std::map<std::string, uint64_t> peers;
  std::map<std::string, uint64_t> ehlo_names;
};

// One JSON object on one line, keys as in SinkCounts; peers and ehlo_names
// are objects of name: count.
std::string SinkCountsJson(const SinkCounts& counts);

class SinkShard;

class Sink {
 public:
  static absl::StatusOr<std::unique_ptr<Sink>> Start(const SinkOptions& options);
  // Stops and joins the threads if the owner did not.
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  uint16_t port() const { return port_; }
  const SinkOptions& options() const { return options_; }

  // Sum over shards; any thread, any time (exact once Wait() returned).
  SinkCounts Counts() const;
  // Thread-safe: every shard closes its listener and connections and stops.
  void RequestStop();
  // Joins the shard threads.
  void Wait();
  // Ids of accepted messages ("-" for a message without one), grouped by
  // shard. Only after Wait(), and only with options.record_ids.
  std::vector<std::string> AcceptedIds() const;

  // Writes options().arrivals_path (through "<path>.tmp" and rename): one
  // line per recorded message, "<realtime ns> <peer> <ehlo name> <first
  // recipient's domain>" ("-" for an empty field), in arrival order per
  // thread, the threads merged by time; then "# dropped N" when N messages
  // were not kept (max_arrivals). Ok and nothing written without a path.
  // Any thread, one caller at a time; the shards go on meanwhile (complete
  // once Wait() returned). Blocking I/O on the caller's thread.
  absl::Status WriteArrivals() const;

  // For --fail_first_attempt_4xx: true the first time `id` is seen.
  bool FirstAttempt(const std::string& id);
  // Shards, at accept: counts the connection open and returns how many were
  // open before it. At close: ConnectionClosed(), once per opened.
  uint64_t ConnectionOpened();
  void ConnectionClosed();
  // Shards, per accepted message with arrivals_path: false once
  // max_arrivals are kept.
  bool ReserveArrival();
  // throttle_reply with its CRLF, and whether it closes the connection.
  const std::string& throttle_line() const { return throttle_line_; }
  bool throttle_closes() const { return throttle_closes_; }
  // The server SSL_CTX for STARTTLS, null without tls_cert. Shared by the
  // shards (BoringSSL's SSL_CTX may be used from several threads).
  ssl_ctx_st* tls_ctx() const { return tls_ctx_.get(); }

 private:
  explicit Sink(const SinkOptions& options);
  absl::Status StartShard(int index, uint16_t port);

  SinkOptions options_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<SinkShard>> shards_;
  bool joined_ = false;
  std::mutex seen_mu_;
  absl::flat_hash_set<std::string> seen_ids_;  // guarded by seen_mu_
  tls::ServerContext::UniqueCtx tls_ctx_;
  std::string throttle_line_;
  bool throttle_closes_ = false;
  // Written by every shard (per connection; per message with arrivals
  // only): on their own cache lines, away from the fields above.
  alignas(64) std::atomic<uint64_t> connections_open_{0};
  std::atomic<uint64_t> connections_peak_{0};
  alignas(64) std::atomic<uint64_t> arrivals_reserved_{0};
};

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_SINK_H_
