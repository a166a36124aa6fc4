// relay/spool/uring_spool_io_benchmark.cc — the commit path as the relay runs it:
// Spool::AppendMessage encodes N records, one Flush hands the batch to
// UringSpoolIo (O_DIRECT + RWF_DSYNC where the file system allows it), the
// loop runs until the write completed, then every recipient is marked done
// (outcomes ride in the next journal write; segments are recycled).
//
// BM_UringCommit/<body bytes>/<messages per commit>. "per_msg" is the CPU
// time of this thread per message: encoding, the hand-off to the write and
// the kernel's inline part of the write (submission; the device time is not
// CPU). "user_per_msg" is the user-space part alone, in µs (getrusage:
// where the copies are; the kernel samples it, so it is noisy where the
// kernel's part dominates, as with one message per commit). Files go to
// $TEST_TMPDIR or /tmp (must be a disk file system for O_DIRECT; "direct"
// reports whether the writes took it).
//
//   bazel run -c opt //relay:uring_spool_io_benchmark --
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <stdlib.h>
#include <sys/resource.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "queue/record.h"
#include "queue/spool.h"
#include "queue/spool_benchmark_round.h"
#include "relay/runtime/loop.h"
#include "relay/spool/uring_spool_io.h"

namespace ringpost {
namespace {

double ThreadUserSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec);
}

void BM_UringCommit(benchmark::State& state) {
  const size_t body = static_cast<size_t>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  const char* tmp = getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/ringpost_uring_bench_XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  double user_seconds = 0;
  {
    runtime::LoopOptions lo;
    lo.sq_entries = 256;
    lo.recv_buffers = 16;
    auto loop = runtime::Loop::Create(lo);
    if (!loop.ok()) {
      state.SkipWithError("Loop::Create failed");
      return;
    }
    runtime::Loop* l = loop->get();
    UringSpoolIo io(l);
    queue::Spool::Options o;
    o.dir = dir;
    o.segment_bytes = 64ull << 20;
    o.log = [](std::string_view) {};
    std::vector<queue::RecoveredMessage> rec;
    auto opened = queue::Spool::Open(o, &io, &rec);
    if (!opened.ok()) {
      state.SkipWithError("Spool::Open failed");
      return;
    }
    queue::Spool& spool = **opened;
    // One hook: quit the current Run() once the spool is idle.
    l->AddTurnHook([&spool, l] {
      spool.Flush();
      if (!spool.HasIoInFlight()) l->Quit();
    });
    l->Run();  // first segment ready
    queue::MessageRecord m = queue::BenchmarkMessage(body);
    std::vector<queue::MessageLocator> locs;
    locs.reserve(static_cast<size_t>(batch));
    int64_t failures = 0;
    const double user_start = ThreadUserSeconds();
    for (auto _ : state) {
      queue::AppendCommitRetire(spool, &m, batch, &locs, &failures, [l] { l->Run(); });
    }
    user_seconds = ThreadUserSeconds() - user_start;
    l->Run();
    if (failures != 0) state.SkipWithError("commit failures");
    state.counters["direct"] = io.direct_writes() > 0 ? 1 : 0;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.counters["per_msg"] = benchmark::Counter(
      static_cast<double>(batch),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  if (state.iterations() > 0) {
    state.counters["user_per_msg"] =  // µs
        user_seconds * 1e6 / static_cast<double>(state.iterations() * batch);
  }
}
BENCHMARK(BM_UringCommit)
    ->ArgNames({"body", "msgs"})
    ->Args({1024, 1})
    ->Args({1024, 32})
    ->Args({100 * 1024, 1})
    ->Args({100 * 1024, 32});

}  // namespace
}  // namespace ringpost
