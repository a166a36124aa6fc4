// queue/spool_benchmark.cc — cost of the spool's hot path.
//
// BM_EncodeMessage/<body bytes>: framing + CRC of one message into a
//   std::string (1 KB and 100 KB bodies); BM_EncodeMessageInto: the same into
//   raw memory, as into the spool's batch buffers.
// BM_Commit/N: N 1 KB messages appended, one Flush (one write + fdatasync),
//   completions run, then every recipient marked done (their outcomes ride
//   in the next group's journal write). Real files under /tmp with
//   BlockingSpoolIo; segments roll over and are recycled as in production.
//   "per_msg" is wall time per message.
// BM_CommitNoSync/N: the same with durability off, to show the sync's share.

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "queue/record.h"
#include "queue/spool.h"
#include "queue/spool_benchmark_round.h"

namespace ringpost::queue {
namespace {

MessageRecord OneKilobyte() { return BenchmarkMessage(1024); }

void BM_EncodeMessage(benchmark::State& state) {
  const MessageRecord m = BenchmarkMessage(static_cast<size_t>(state.range(0)));
  std::string out;
  out.reserve(FramedMessageSize(m));
  for (auto _ : state) {
    out.clear();
    EncodeMessage(m, 7, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(FramedMessageSize(m)));
}
BENCHMARK(BM_EncodeMessage)->Arg(1024)->Arg(100 * 1024);

// The same into raw memory, as the spool encodes into its batch buffers.
void BM_EncodeMessageInto(benchmark::State& state) {
  const MessageRecord m = BenchmarkMessage(static_cast<size_t>(state.range(0)));
  std::string out(FramedMessageSize(m), '\0');
  for (auto _ : state) {
    EncodeMessageInto(m, 7, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(FramedMessageSize(m)));
}
BENCHMARK(BM_EncodeMessageInto)->Arg(1024)->Arg(100 * 1024);

void RunCommit(benchmark::State& state, bool durable) {
  const int batch = static_cast<int>(state.range(0));
  std::string dir = "/tmp/ringpost_spool_bench_XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    BlockingSpoolIo io;
    Spool::Options o;
    o.dir = dir;
    o.durable = durable;
    o.log = [](std::string_view) {};
    std::vector<RecoveredMessage> rec;
    auto opened = Spool::Open(o, &io, &rec);
    if (!opened.ok()) {
      state.SkipWithError("Spool::Open failed");
      return;
    }
    Spool& spool = **opened;
    io.RunPending();
    MessageRecord m = OneKilobyte();
    std::vector<MessageLocator> locs;
    locs.reserve(static_cast<size_t>(batch));
    int64_t failures = 0;
    for (auto _ : state) {
      AppendCommitRetire(spool, &m, batch, &locs, &failures, [&io] { io.RunPending(); });
    }
    spool.Flush();
    io.RunPending();
    if (failures != 0) state.SkipWithError("commit failures");
    const Spool::Stats s = spool.stats();
    state.counters["records_per_commit"] =
        s.commits_issued == 0
            ? 0.0
            : static_cast<double>(s.records_issued) /
                  static_cast<double>(s.commits_issued);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.counters["per_msg"] = benchmark::Counter(
      static_cast<double>(batch),
      benchmark::Counter::kIsIterationInvariantRate |
          benchmark::Counter::kInvert);
}

void BM_Commit(benchmark::State& state) { RunCommit(state, true); }
BENCHMARK(BM_Commit)->Arg(1)->Arg(32)->Arg(256)->UseRealTime();

void BM_CommitNoSync(benchmark::State& state) { RunCommit(state, false); }
BENCHMARK(BM_CommitNoSync)->Arg(1)->Arg(32)->Arg(256)->UseRealTime();

}  // namespace
}  // namespace ringpost::queue
