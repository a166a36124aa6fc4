// bench/roundtrip.h — runs the sink and the load generator against each
// other in this process, for the round-trip tests (plaintext and TLS).
#ifndef RINGPOST_BENCH_ROUNDTRIP_H_
#define RINGPOST_BENCH_ROUNDTRIP_H_

#include <string>
#include <vector>

#include "bench/loadgen.h"
#include "bench/sink.h"
#include "gtest/gtest.h"

namespace ringpost::bench {

struct RunResult {
  LoadgenResult lg;
  SinkCounts sink;
  std::vector<std::string> sink_ids;
};

// Starts the sink on a free port, the load generator against it, and waits
// for both (the load generator's own timeout bounds the wait: no polling).
inline RunResult RoundTrip(SinkOptions so, LoadgenOptions lo) {
  so.listen = "127.0.0.1:0";
  so.record_ids = true;
  auto sink = Sink::Start(so);
  EXPECT_TRUE(sink.ok()) << sink.status();
  if (!sink.ok()) return {};
  lo.target = "127.0.0.1:" + std::to_string((*sink)->port());
  lo.record_ids = true;
  lo.timeout_s = 60;
  auto lg = Loadgen::Start(lo);
  EXPECT_TRUE(lg.ok()) << lg.status();
  if (!lg.ok()) return {};
  RunResult run;
  run.lg = (*lg)->Wait();
  (*sink)->RequestStop();
  (*sink)->Wait();
  run.sink = (*sink)->Counts();
  run.sink_ids = (*sink)->AcceptedIds();
  return run;
}

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_ROUNDTRIP_H_
