// spsc_ring_benchmark.cc — throughput of a handoff between two threads
// through SpscRing: single TryPush/TryPop versus batched
// TryPushBatch/PopBatch (batch size = range(0)). Reports items/second.
// The producer runs in the benchmark thread; a consumer thread drains.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "benchmark/benchmark.h"
#include "relay/runtime/spsc_ring.h"

namespace ringpost::runtime {
namespace {

using Ring = SpscRing<uint64_t>;
constexpr size_t kCapacity = 4096;
constexpr size_t kMaxBatch = 256;

// Pops exactly `total` items, in batches of `batch` (1 = TryPop).
void Consume(Ring* ring, uint64_t total, size_t batch, std::atomic<uint64_t>* checksum) {
  uint64_t got = 0;
  uint64_t sum = 0;
  uint64_t out[kMaxBatch];
  while (got < total) {
    size_t n = 0;
    if (batch == 1) {
      n = ring->TryPop(&out[0]) ? 1 : 0;
    } else {
      n = ring->PopBatch(out, static_cast<size_t>(std::min<uint64_t>(batch, total - got)));
    }
    for (size_t i = 0; i < n; i++) sum += out[i];
    got += n;
    if (n == 0) std::this_thread::yield();
  }
  checksum->store(sum, std::memory_order_relaxed);
}

void BM_Handoff(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const uint64_t total = static_cast<uint64_t>(state.max_iterations) * batch;
  auto ring = std::make_unique<Ring>(kCapacity);
  std::atomic<uint64_t> checksum{0};
  // The consumer takes exactly what the producer will push; iterations are
  // fixed below so the totals agree.
  std::thread consumer(Consume, ring.get(), total, batch, &checksum);
  uint64_t next = 0;
  uint64_t items[kMaxBatch];
  for (auto _ : state) {
    if (batch == 1) {
      while (!ring->TryPush(next)) std::this_thread::yield();
      next++;
    } else {
      for (size_t i = 0; i < batch; i++) items[i] = next + i;
      size_t done = 0;
      while (done < batch) {
        const size_t n = ring->TryPushBatch(items + done, batch - done);
        if (n == 0) std::this_thread::yield();
        done += n;
      }
      next += batch;
    }
  }
  consumer.join();
  if (checksum.load() != next * (next - 1) / 2) state.SkipWithError("lost items");
  state.SetItemsProcessed(static_cast<int64_t>(next));
}
// A fixed iteration count lets the consumer know the total up front.
BENCHMARK(BM_Handoff)->Arg(1)->Iterations(20'000'000)->UseRealTime();
BENCHMARK(BM_Handoff)->Arg(8)->Iterations(2'500'000)->UseRealTime();
BENCHMARK(BM_Handoff)->Arg(32)->Iterations(625'000)->UseRealTime();
BENCHMARK(BM_Handoff)->Arg(256)->Iterations(78'125)->UseRealTime();

void BM_SingleThreadPushPop(benchmark::State& state) {
  // Uncontended cost of one push + one pop (both indices cached locally).
  auto ring = std::make_unique<Ring>(kCapacity);
  uint64_t v = 0;
  uint64_t out = 0;
  for (auto _ : state) {
    ring->TryPush(v++);
    ring->TryPop(&out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SingleThreadPushPop);

}  // namespace
}  // namespace ringpost::runtime
