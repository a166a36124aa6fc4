// bench/sink_main.cc — `sink`: an SMTP server that accepts and discards mail,
// for benchmarks and end-to-end tests. See bench/sink.h for the design.
//
// Usage:
//   bazel-bin/bench/sink --listen=127.0.0.1:2526 --threads=1
//       --report=/tmp/sink.json --record_ids=/tmp/sink.ids
//
// Flags:
//   --listen=ADDR:PORT      where to listen (default 127.0.0.1:2526; port 0 =
//                           any, printed on stderr and written to --port_file)
//   --threads=N             loops, each with its own SO_REUSEPORT listener (1)
//   --cpu=N                 pin thread i to CPU N+i (-1: no pinning)
//   --fail_4xx=RATE         fraction of messages answered
//                           "451 4.3.0 sink: injected temporary failure"
//   --fail_5xx=RATE         fraction answered "550 5.7.1 ..."
//   --drop=RATE             fraction where the connection is closed instead
//                           of answering the end of data
//   --delay_ms=N            wait N ms before answering the end of data
//   --fail_rcpt_5xx=RATE    fraction of RCPT answered "550 5.1.1 ..."
//   --fail_first_attempt_4xx  451 to the first attempt of each distinct
//                           id-header (else Message-ID) value, 250 afterwards
//   --seed=N                random seed for the rates (deterministic per
//                           thread and arrival order)
//   --max_size=BYTES        largest message (SIZE, 552 5.3.4 above; 100 MiB)
//   --id_header=NAME        header whose value --record_ids writes
//                           (default X-Ringpost-Test-Id)
//   --record_ids=PATH       at exit: one line per accepted message with the
//                           id header's value, "-" when absent
//   --save_dir=DIR          debug only: DIR/<n>.eml (content as received,
//                           unstuffed) and DIR/<n>.env ("MAIL FROM:<..>\n"
//                           "RCPT TO:<..>\n"...) per accepted message, n as in
//                           "queued as sink-<n>"; blocking writes, slow
//   --report=PATH           at exit (and on SIGUSR1): the counts as JSON
//   --stats_interval_ms=N   print counts to stderr every N ms (0: off)
//   --idle_timeout_s=N      close idle connections with 421 (300; 0: never)
//   --port_file=PATH        write the bound port (decimal) once listening
//   --tls_cert=PEM --tls_key=PEM
//                           offer STARTTLS with this certificate chain and
//                           key; the session continues over TLS after its 220
//
// Traffic-shaping tests (per-connection scripts, concurrency, sources):
//   --throttle_after=N      on every connection, serve the first N
//                           transactions (MAIL FROMs answered 250) normally,
//                           then answer every later MAIL, RCPT or end of
//                           data (--throttle_at) with --throttle_reply
//                           (0: off)
//   --throttle_reply=LINE   "NNN text", a 4xx or 5xx code (checked at start;
//                           default "451 4.7.0 Try again later"); with 421
//                           the connection is closed once it is sent
//   --throttle_at=WHERE     mail (default): the MAIL command; rcpt: each RCPT
//                           of later transactions (MAIL is accepted); data:
//                           the reply at the end of their data (the message
//                           is not accepted)
//   --max_connections=N     a connection accepted while N are open (over all
//                           threads) is greeted "421 4.7.0 Too many
//                           connections" and closed (0: no limit)
//   --arrivals=PATH         at exit (and on SIGUSR1): one line per accepted
//                           message, "<CLOCK_REALTIME ns at its 250> <peer
//                           ip> <ehlo name> <first recipient's domain>", in
//                           arrival order per thread, threads merged by time
//   --max_arrivals=N        keep at most N arrivals (10000000; an entry is
//                           24 bytes plus its distinct strings); later ones
//                           are counted and reported as a last line
//                           "# dropped N"
//
// Signals: SIGTERM or SIGINT stop every loop, then the report, id and
// arrival files are written and the process exits 0. SIGUSR1 writes the
// arrivals, then the report (so a reader that waits for a fresh report
// finds fresh arrivals), and prints the counts without stopping.
//
// Report (one JSON object):
//   {"messages": accepted (250 after DATA or BDAT LAST),
//    "recipients": accepted recipients of those, "bytes": their content
//    octets, "connections": accepted connections, "rejected_4xx" /
//    "rejected_5xx": messages refused at end of data, "dropped": messages
//    answered by closing the connection, "rcpt_rejected", "bdat_chunks",
//    "protocol_errors": commands answered 5xx for syntax or sequence,
//    "tls_handshakes": STARTTLS handshakes completed, "tls_messages":
//    accepted messages that came over TLS, "connections_open": connections
//    open now, "connections_peak": the most open at once since start (both
//    over all threads, refused ones included), "connections_refused":
//    greeted 421 for --max_connections (also in "connections"),
//    "throttled": replies that were --throttle_reply (not in rejected_*),
//    "peers": {"<peer ip>": accepted messages, ...}, "ehlo_names":
//    {"<EHLO/HELO name>": accepted messages, ...}; each of these two has at
//    most 1000 keys, the busiest, the rest summed under "other"; a name is
//    its first word with bytes other than printable ASCII as '?'}
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "bench/report_file.h"
#include "bench/sink.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:2526", "ADDR:PORT to listen on");
ABSL_FLAG(int32_t, threads, 1, "loop threads, each with its own listener");
ABSL_FLAG(int32_t, cpu, -1, "pin thread i to CPU cpu+i; -1: no pinning");
ABSL_FLAG(double, fail_4xx, 0, "fraction of messages answered 451 at end of data");
ABSL_FLAG(double, fail_5xx, 0, "fraction of messages answered 550 at end of data");
ABSL_FLAG(double, drop, 0, "fraction of messages answered by closing the connection");
ABSL_FLAG(uint32_t, delay_ms, 0, "delay before the end-of-data reply");
ABSL_FLAG(double, fail_rcpt_5xx, 0, "fraction of RCPT commands answered 550 5.1.1");
ABSL_FLAG(bool, fail_first_attempt_4xx, false,
          "451 for the first attempt of each distinct message id, 250 afterwards");
ABSL_FLAG(uint64_t, seed, 1, "random seed for the fault rates");
ABSL_FLAG(uint64_t, max_size, uint64_t{100} << 20, "maximum message size in octets");
ABSL_FLAG(std::string, id_header, "X-Ringpost-Test-Id", "header recorded by --record_ids");
ABSL_FLAG(std::string, record_ids, "", "write accepted message ids here at exit");
ABSL_FLAG(std::string, save_dir, "", "debug: save every accepted message here");
ABSL_FLAG(std::string, report, "", "write the counts as JSON here at exit and on SIGUSR1");
ABSL_FLAG(uint32_t, stats_interval_ms, 0, "print counts to stderr this often; 0: off");
ABSL_FLAG(uint32_t, idle_timeout_s, 300, "close idle connections after this; 0: never");
ABSL_FLAG(std::string, port_file, "", "write the bound port here once listening");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: offer STARTTLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(uint32_t, throttle_after, 0,
          "per connection: transactions served before --throttle_reply; 0: off");
ABSL_FLAG(std::string, throttle_reply, "451 4.7.0 Try again later",
          "the reply after --throttle_after transactions; 421 also closes");
ABSL_FLAG(std::string, throttle_at, "mail", "what --throttle_reply answers: mail, rcpt or data");
ABSL_FLAG(uint32_t, max_connections, 0,
          "greet a connection 421 and close it when this many are open; 0: no limit");
ABSL_FLAG(std::string, arrivals, "",
          "write one line per accepted message (time, peer, EHLO, domain) here at exit "
          "and on SIGUSR1");
ABSL_FLAG(uint64_t, max_arrivals, 10000000, "arrivals kept for --arrivals; later ones counted");

namespace ringpost::bench {
namespace {

void PrintCounts(const SinkCounts& c, double rate) {
  fprintf(stderr,
          "sink: messages=%llu (%.0f/s) recipients=%llu connections=%llu (peak %llu, "
          "refused %llu) throttled=%llu 4xx=%llu 5xx=%llu dropped=%llu tls_handshakes=%llu\n",
          static_cast<unsigned long long>(c.messages), rate,
          static_cast<unsigned long long>(c.recipients),
          static_cast<unsigned long long>(c.connections),
          static_cast<unsigned long long>(c.connections_peak),
          static_cast<unsigned long long>(c.connections_refused),
          static_cast<unsigned long long>(c.throttled),
          static_cast<unsigned long long>(c.rejected_4xx),
          static_cast<unsigned long long>(c.rejected_5xx),
          static_cast<unsigned long long>(c.dropped),
          static_cast<unsigned long long>(c.tls_handshakes));
}

void WriteReport(const Sink& sink) {
  const std::string path = absl::GetFlag(FLAGS_report);
  if (path.empty()) return;
  absl::Status s = WriteFileAtomically(path, SinkCountsJson(sink.Counts()) + "\n");
  if (!s.ok()) fprintf(stderr, "sink: %s\n", s.ToString().c_str());
}

// --arrivals; false when it could not be written.
bool WriteArrivals(const Sink& sink) {
  absl::Status s = sink.WriteArrivals();
  if (!s.ok()) fprintf(stderr, "sink: arrivals: %s\n", s.ToString().c_str());
  return s.ok();
}

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int Main() {
  SinkOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.cpu = absl::GetFlag(FLAGS_cpu);
  o.fail_4xx = absl::GetFlag(FLAGS_fail_4xx);
  o.fail_5xx = absl::GetFlag(FLAGS_fail_5xx);
  o.drop = absl::GetFlag(FLAGS_drop);
  o.delay_ms = absl::GetFlag(FLAGS_delay_ms);
  o.fail_rcpt_5xx = absl::GetFlag(FLAGS_fail_rcpt_5xx);
  o.fail_first_attempt_4xx = absl::GetFlag(FLAGS_fail_first_attempt_4xx);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.max_size = absl::GetFlag(FLAGS_max_size);
  o.id_header = absl::GetFlag(FLAGS_id_header);
  o.record_ids = !absl::GetFlag(FLAGS_record_ids).empty();
  o.save_dir = absl::GetFlag(FLAGS_save_dir);
  o.idle_timeout_s = absl::GetFlag(FLAGS_idle_timeout_s);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.throttle_after = absl::GetFlag(FLAGS_throttle_after);
  o.throttle_reply = absl::GetFlag(FLAGS_throttle_reply);
  if (!ParseThrottleAt(absl::GetFlag(FLAGS_throttle_at), &o.throttle_at)) {
    fprintf(stderr, "sink: --throttle_at must be mail, rcpt or data (got \"%s\")\n",
            absl::GetFlag(FLAGS_throttle_at).c_str());
    return 2;
  }
  o.max_connections = absl::GetFlag(FLAGS_max_connections);
  o.arrivals_path = absl::GetFlag(FLAGS_arrivals);
  o.max_arrivals = absl::GetFlag(FLAGS_max_arrivals);
  if (!o.save_dir.empty()) {
    if (mkdir(o.save_dir.c_str(), 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "sink: cannot create --save_dir %s: %s\n", o.save_dir.c_str(),
              strerror(errno));
      return 2;
    }
    fprintf(stderr, "sink: --save_dir writes every message with blocking I/O: "
                    "debug mode, not for benchmarks\n");
  }

  // Every thread inherits this mask; only the sigtimedwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto sink = Sink::Start(o);
  if (!sink.ok()) {
    fprintf(stderr, "sink: %s\n", sink.status().ToString().c_str());
    return 2;
  }
  Sink& s = **sink;
  fprintf(stderr, "sink: listening on %s (port %u) with %d thread(s)%s\n", o.listen.c_str(),
          s.port(), o.threads, o.tls_cert.empty() ? "" : ", STARTTLS offered");
  if (const std::string pf = absl::GetFlag(FLAGS_port_file); !pf.empty()) {
    absl::Status st = WriteFileAtomically(pf, absl::StrCat(s.port(), "\n"));
    if (!st.ok()) fprintf(stderr, "sink: %s\n", st.ToString().c_str());
  }

  const uint32_t interval_ms = absl::GetFlag(FLAGS_stats_interval_ms);
  const uint32_t wait_ms = interval_ms > 0 ? interval_ms : 1000;
  double last_time = NowSeconds();
  uint64_t last_messages = 0;
  while (true) {
    timespec ts;
    ts.tv_sec = wait_ms / 1000;
    ts.tv_nsec = static_cast<long>(wait_ms % 1000) * 1000000;
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    const double now = NowSeconds();
    if (sig == SIGUSR1 || (interval_ms > 0 && sig < 0)) {
      const SinkCounts c = s.Counts();
      const double dt = now - last_time;
      PrintCounts(c, dt > 0 ? static_cast<double>(c.messages - last_messages) / dt : 0);
      last_time = now;
      last_messages = c.messages;
      if (sig == SIGUSR1) {
        WriteArrivals(s);  // first: a fresh report means fresh arrivals
        WriteReport(s);
      }
    }
  }
  s.RequestStop();
  s.Wait();
  const SinkCounts c = s.Counts();
  PrintCounts(c, 0);
  WriteReport(s);
  const bool arrivals_ok = WriteArrivals(s);
  if (const std::string path = absl::GetFlag(FLAGS_record_ids); !path.empty()) {
    std::string text;
    for (const std::string& id : s.AcceptedIds()) text.append(id).append("\n");
    absl::Status st = WriteFileAtomically(path, text);
    if (!st.ok()) {
      fprintf(stderr, "sink: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  return arrivals_ok ? 0 : 1;
}

}  // namespace
}  // namespace ringpost::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "SMTP sink for benchmarks and tests: accepts, counts and discards mail. "
      "See bench/sink_main.cc.");
  absl::ParseCommandLine(argc, argv);
  return ringpost::bench::Main();
}
