// bench/loadgen.h — an SMTP load generator on io_uring loops.
//
// Each thread runs one Loop with its share of the connections and of the
// messages. A connection reads the greeting, sends EHLO, and then runs
// transactions, keeping up to `inflight` of them outstanding:
//   - DATA (default): with PIPELINING, MAIL, every RCPT and DATA leave in one
//     write; after 354 the body and "." go out, followed at once by the next
//     transaction's commands, so end-of-data replies overlap;
//   - CHUNKING (--chunking, if the server offers it): MAIL, RCPT and
//     "BDAT <size> LAST" with the content form one unit, and up to
//     `inflight` whole transactions go out back to back;
//   - without PIPELINING: one command at a time.
// Replies are matched to commands in order (RFC 2920). A message counts as
// accepted only on a 2xx to its end of data (or BDAT LAST); 4xx and 5xx on
// any of its commands count as temporary and permanent rejections. When a
// connection drops, its messages in flight count as errors (outcome
// unknown, never retried) and it reconnects, giving up after
// `reconnect_attempts` consecutive failures that never reached EHLO.
//
// --tls: STARTTLS after the first EHLO, then EHLO and all traffic over a
// tls::Channel (no certificate verification); a server that does not offer
// it fails the connection. Sessions are resumed on reconnect.
//
// Latency: from the moment a message's last byte (end of data or the BDAT
// LAST chunk) was queued for sending — it leaves at the end of that loop
// turn — to the 2xx reply, in microseconds, in a LatencyHistogram.
//
// Pacing (--rate): a token bucket per thread (rate / threads), refilled by
// the loop's timer wheel; connections wait for a token before starting a
// transaction.
//
// Usage:
//   LoadgenOptions o; o.target = "127.0.0.1:2526"; o.messages = 1000;
//   auto lg = Loadgen::Start(o);
//   LoadgenResult r = (*lg)->Wait();     // joins; r.ToJson()
#ifndef RINGPOST_BENCH_LOADGEN_H_
#define RINGPOST_BENCH_LOADGEN_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/latency_histogram.h"

namespace ringpost::bench {

struct LoadgenOptions {
  std::string target;            // ADDR:PORT, required
  int connections = 10;
  uint64_t messages = 10000;     // total over all threads
  size_t size = 1024;            // octets per message
  int recipients = 1;            // per message
  std::vector<std::string> rcpt_domains = {"example.com"};
  std::string sender = "loadgen@loadgen.ringpost.invalid";
  double rate = 0;               // messages/second over all threads; 0: no limit
  bool chunking = false;         // BDAT when the server offers CHUNKING
  bool tls = false;              // STARTTLS, required
  int inflight = 1;              // transactions outstanding per connection
  int threads = 1;
  int cpu = -1;                  // pin thread i to cpu + i
  uint32_t duration_s = 0;       // stop starting messages after this; 0: never
  uint32_t timeout_s = 600;      // abort everything after this
  bool record_ids = false;       // keep the ids of accepted messages
  std::string id_prefix;         // default "lg-<pid>"; ids are <prefix>-<n>
  std::string helo = "loadgen.ringpost.invalid";
  uint32_t connect_timeout_ms = 5000;
  int reconnect_attempts = 5;    // consecutive failed sessions before giving up
  unsigned recv_buffers = 256;
  unsigned recv_buffer_bytes = 16384;
};

// Live counters, summed over threads.
struct LoadgenProgress {
  uint64_t attempted = 0;  // transactions started (MAIL sent)
  uint64_t accepted = 0;
  uint64_t rejected_4xx = 0;
  uint64_t rejected_5xx = 0;
  uint64_t errors = 0;     // outcome unknown: connection lost, protocol error
};

struct LoadgenResult {
  uint64_t requested = 0;     // options.messages
  uint64_t attempted = 0;
  uint64_t accepted = 0;
  uint64_t rejected_4xx = 0;
  uint64_t rejected_5xx = 0;
  uint64_t errors = 0;
  uint64_t connects = 0;          // sessions that reached EHLO
  uint64_t connect_failures = 0;  // connects or greetings that failed
  uint64_t tls_handshakes = 0;    // --tls: handshakes completed
  uint64_t tls_resumed = 0;       // of which resumed a session
  bool timed_out = false;
  bool duration_reached = false;  // --duration_s ended the run
  double seconds = 0;             // from start until the last thread finished
  LatencyHistogram latency_us;
  std::vector<std::string> accepted_ids;  // with options.record_ids

  // Success: every requested message accepted, or, when --duration_s ended
  // the run, every message attempted until then.
  bool AllAccepted() const {
    const uint64_t due = duration_reached ? attempted : requested;
    return !timed_out && accepted == due && due > 0;
  }
  double MessagesPerSecond() const {
    return seconds > 0 ? static_cast<double>(accepted) / seconds : 0;
  }
  // One JSON object on one line:
  // {"messages": accepted, "attempted", "rejected_4xx", "rejected_5xx",
  //  "errors", "seconds", "msgs_per_sec", "latency_us": {"p50", "p90",
  //  "p99", "p999", "max"}, plus "requested", "connects",
  //  "connect_failures", "timed_out", "duration_reached", "tls_handshakes",
  //  "tls_resumed"}.
  std::string ToJson() const;
};

class LoadgenWorker;

class Loadgen {
 public:
  // Validates the options and starts the threads.
  static absl::StatusOr<std::unique_ptr<Loadgen>> Start(const LoadgenOptions& options);
  ~Loadgen();
  Loadgen(const Loadgen&) = delete;
  Loadgen& operator=(const Loadgen&) = delete;

  // True once every thread finished.
  bool done() const;
  LoadgenProgress Progress() const;
  // Thread-safe: abort every connection now (in-flight messages become
  // errors) and finish.
  void RequestStop();
  // Joins the threads and sums their results. Call once.
  LoadgenResult Wait();

 private:
  explicit Loadgen(const LoadgenOptions& options);

  LoadgenOptions options_;
  std::vector<std::unique_ptr<LoadgenWorker>> workers_;
  std::atomic<int> running_{0};
  uint64_t start_ns_ = 0;
  bool waited_ = false;
};

// Parses "a.example,b.example" into domains; empty items are an error.
absl::StatusOr<std::vector<std::string>> ParseDomainList(const std::string& text);

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_LOADGEN_H_
