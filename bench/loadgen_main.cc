// bench/loadgen_main.cc — `loadgen`: an SMTP load generator on io_uring loops.
// See bench/loadgen.h for the protocol behaviour.
//
// Usage:
//   bazel-bin/bench/loadgen --target=127.0.0.1:2526 --connections=8
//       --messages=200000 --size=1024 [--chunking --inflight=32]
//
// Flags:
//   --target=ADDR:PORT     server to load (required; IPv4 or [IPv6] literal)
//   --connections=N        concurrent SMTP sessions (10)
//   --messages=N           messages in total (10000)
//   --size=BYTES           octets per message (1024): headers From, To,
//                          Subject, Date, Message-ID, X-Ringpost-Test-Id
//                          (<id_prefix>-<n>, unique) and printable lines of
//                          <= 78 octets filling to the size
//   --recipients=N         recipients per message (1)
//   --rcpt_domains=LIST    comma-separated; recipients user<n>@<domain>
//                          spread round-robin over them (example.com)
//   --sender=ADDR          envelope and From: sender
//   --rate=MSGS_PER_SEC    pace message starts (0: as fast as possible)
//   --chunking             BDAT <size> LAST instead of DATA, when the server
//                          offers CHUNKING
//   --tls                  STARTTLS after EHLO (required of the server), then
//                          everything over TLS; no certificate verification
//   --inflight=N           transactions outstanding per connection (1); with
//                          PIPELINING, MAIL/RCPT/DATA go together, and with
//                          --chunking whole transactions go back to back
//   --threads=N            loop threads; connections and messages are split
//                          evenly (1)
//   --cpu=N                pin thread i to CPU N+i (-1: no pinning)
//   --duration_s=N         stop starting messages after N s (0: no limit)
//   --timeout_s=N          abort everything after N s and exit 1 (600)
//   --record_ids=PATH      write the test id of every message answered 2xx
//                          at end of data, one per line
//   --id_prefix=TEXT       test ids are TEXT-<n> (default lg-<pid>)
//   --quiet                no progress lines
//
// Output: a progress line per second on stderr (sent, accepted, msgs/sec
// over the last second), then ONE JSON object on stdout:
//   {"messages": accepted (2xx at end of data / BDAT LAST),
//    "attempted": transactions started, "rejected_4xx" / "rejected_5xx":
//    messages refused (on any of their commands), "errors": messages whose
//    outcome is unknown (connection lost or protocol error while in flight),
//    "seconds": wall time from start to the last reply, "msgs_per_sec":
//    messages / seconds, "latency_us": {"p50", "p90", "p99", "p999", "max"}
//    from queueing the last byte of a message to its 2xx reply, in
//    microseconds (bucket upper bounds, within 3%), "requested",
//    "connects", "connect_failures", "timed_out", "duration_reached",
//    "tls_handshakes" (completed, --tls), "tls_resumed" (of which resumed)}
// Exit status: 0 when every requested message was accepted (when
// --duration_s ended the run: every message attempted until then), 1
// otherwise (the JSON is still printed), 2 on bad flags or start-up failure.
// SIGINT/SIGTERM abort the run early (exit 1, JSON printed).
#include <signal.h>
#include <time.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "bench/loadgen.h"
#include "bench/report_file.h"

ABSL_FLAG(std::string, target, "", "ADDR:PORT of the SMTP server (required)");
ABSL_FLAG(int32_t, connections, 10, "concurrent connections");
ABSL_FLAG(uint64_t, messages, 10000, "messages to send in total");
ABSL_FLAG(uint64_t, size, 1024, "message size in octets");
ABSL_FLAG(int32_t, recipients, 1, "recipients per message");
ABSL_FLAG(std::string, rcpt_domains, "example.com", "comma-separated recipient domains");
ABSL_FLAG(std::string, sender, "loadgen@loadgen.ringpost.invalid", "envelope sender");
ABSL_FLAG(double, rate, 0, "messages per second; 0: as fast as possible");
ABSL_FLAG(bool, chunking, false, "use BDAT LAST instead of DATA when offered");
ABSL_FLAG(bool, tls, false, "STARTTLS after EHLO, then everything over TLS");
ABSL_FLAG(int32_t, inflight, 1, "transactions pipelined per connection");
ABSL_FLAG(int32_t, threads, 1, "loop threads");
ABSL_FLAG(int32_t, cpu, -1, "pin thread i to CPU cpu+i; -1: no pinning");
ABSL_FLAG(uint32_t, duration_s, 0, "stop starting messages after this; 0: no limit");
ABSL_FLAG(uint32_t, timeout_s, 600, "abort and exit 1 after this");
ABSL_FLAG(std::string, record_ids, "", "write ids of accepted messages here");
ABSL_FLAG(std::string, id_prefix, "", "test id prefix; default lg-<pid>");
ABSL_FLAG(bool, quiet, false, "no progress on stderr");

namespace ringpost::bench {
namespace {

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int Main() {
  LoadgenOptions o;
  o.target = absl::GetFlag(FLAGS_target);
  if (o.target.empty()) {
    fprintf(stderr, "loadgen: --target=ADDR:PORT is required\n");
    return 2;
  }
  o.connections = absl::GetFlag(FLAGS_connections);
  o.messages = absl::GetFlag(FLAGS_messages);
  o.size = absl::GetFlag(FLAGS_size);
  o.recipients = absl::GetFlag(FLAGS_recipients);
  auto domains = ParseDomainList(absl::GetFlag(FLAGS_rcpt_domains));
  if (!domains.ok()) {
    fprintf(stderr, "loadgen: %s\n", domains.status().ToString().c_str());
    return 2;
  }
  o.rcpt_domains = *domains;
  o.sender = absl::GetFlag(FLAGS_sender);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.chunking = absl::GetFlag(FLAGS_chunking);
  o.tls = absl::GetFlag(FLAGS_tls);
  o.inflight = absl::GetFlag(FLAGS_inflight);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.cpu = absl::GetFlag(FLAGS_cpu);
  o.duration_s = absl::GetFlag(FLAGS_duration_s);
  o.timeout_s = absl::GetFlag(FLAGS_timeout_s);
  const std::string ids_path = absl::GetFlag(FLAGS_record_ids);
  o.record_ids = !ids_path.empty();
  o.id_prefix = absl::GetFlag(FLAGS_id_prefix);
  const bool quiet = absl::GetFlag(FLAGS_quiet);

  // The loop threads inherit this mask; only the main thread takes signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto started = Loadgen::Start(o);
  if (!started.ok()) {
    fprintf(stderr, "loadgen: %s\n", started.status().ToString().c_str());
    return 2;
  }
  Loadgen& lg = **started;
  const double start = NowSeconds();
  double last_print = start;
  uint64_t last_accepted = 0;
  // Wake every 100 ms: check for the end, a signal, and print progress.
  while (!lg.done()) {
    timespec ts = {0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      fprintf(stderr, "loadgen: signal %d, stopping\n", sig);
      lg.RequestStop();
      break;
    }
    const double now = NowSeconds();
    if (!quiet && now - last_print >= 1.0) {
      const LoadgenProgress p = lg.Progress();
      fprintf(stderr,
              "loadgen: %.0fs sent=%llu accepted=%llu 4xx=%llu 5xx=%llu errors=%llu "
              "rate=%.0f msgs/s\n",
              now - start, static_cast<unsigned long long>(p.attempted),
              static_cast<unsigned long long>(p.accepted),
              static_cast<unsigned long long>(p.rejected_4xx),
              static_cast<unsigned long long>(p.rejected_5xx),
              static_cast<unsigned long long>(p.errors),
              static_cast<double>(p.accepted - last_accepted) / (now - last_print));
      last_print = now;
      last_accepted = p.accepted;
    }
  }
  const LoadgenResult r = lg.Wait();
  printf("%s\n", r.ToJson().c_str());
  fflush(stdout);
  if (r.timed_out) fprintf(stderr, "loadgen: timed out after %u s\n", o.timeout_s);
  if (o.record_ids) {
    std::string text;
    for (const std::string& id : r.accepted_ids) text.append(id).append("\n");
    absl::Status s = WriteFileAtomically(ids_path, text);
    if (!s.ok()) {
      fprintf(stderr, "loadgen: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  return r.AllAccepted() ? 0 : 1;
}

}  // namespace
}  // namespace ringpost::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "SMTP load generator: sends --messages over --connections and prints one "
      "JSON summary on stdout. See bench/loadgen_main.cc.");
  absl::ParseCommandLine(argc, argv);
  return ringpost::bench::Main();
}
