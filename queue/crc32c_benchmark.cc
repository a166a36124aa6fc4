// queue/crc32c_benchmark.cc — CRC-32C throughput, dispatching and table paths.

#include <string>

#include "benchmark/benchmark.h"
#include "queue/crc32c.h"

namespace ringpost::queue {
namespace {

void BM_Crc32c(benchmark::State& state) {
  std::string buf(static_cast<size_t>(state.range(0)), 'x');
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = Crc32c(buf.data(), buf.size(), crc);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(200)->Arg(1024)->Arg(1300)->Arg(64 * 1024);

void BM_Crc32cSoftware(benchmark::State& state) {
  std::string buf(static_cast<size_t>(state.range(0)), 'x');
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = internal::Crc32cSoftware(buf.data(), buf.size(), crc);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          state.range(0));
}
BENCHMARK(BM_Crc32cSoftware)->Arg(1024)->Arg(64 * 1024);

}  // namespace
}  // namespace ringpost::queue
