// mx_cache_benchmark.cc — the MX cache read path from one and two threads
// at once (each thread is a shard with its own reader slot).
//
//   bazel build //dns:mx_cache_benchmark && bazel-bin/dns/mx_cache_benchmark
//
// Lookup* returns a shared_ptr to the result (one atomic increment and
// decrement on the entry's control block per hit: the same entry read from
// two threads bounces that line); Peek* runs a function on the result
// inside the read section and touches no shared cache line. Target: a hit
// under 100 ns with two threads reading at once.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "dns/mx_cache.h"

namespace ringpost::dns {
namespace {

constexpr uint64_t kNow = 1'000'000;
constexpr int kKeys = 4096;

class SyncSource final : public MxSource {
 public:
  void Fetch(std::string_view domain, MxCallback done) override {
    MxResult r;
    r.status = MxStatus::kOk;
    r.ttl_s = 3600;
    r.site_key = "192.0.2.1:25,192.0.2.2:25";
    r.domain = std::string(domain);
    MxHost h;
    h.name = "mx." + std::string(domain);
    r.hosts.push_back(h);
    done(std::move(r));
  }
};

const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (int i = 0; i < kKeys; ++i) k.push_back("d" + std::to_string(i) + ".example");  // <= 15 chars: no heap
    return k;
  }();
  return keys;
}

MxCache& Cache() {
  static MxCache* cache = [] {
    MxCacheOptions o;
    o.shards = 8;
    o.clock = [] { return kNow; };
    auto* c = new MxCache(o);
    SyncSource source;
    for (const std::string& k : Keys()) {
      c->Lookup(0, k, kNow, &source, [](MxResultPtr) {});
    }
    c->DrainCompletions(0);
    return c;
  }();
  return *cache;
}

void BM_LookupHitSameKey(benchmark::State& state) {
  MxCache& cache = Cache();
  SyncSource source;
  const int shard = state.thread_index();
  const std::string& key = Keys()[7];
  for (auto _ : state) {
    MxResultPtr r = cache.Lookup(shard, key, kNow, &source, nullptr);
    benchmark::DoNotOptimize(r.get());
  }
}
BENCHMARK(BM_LookupHitSameKey)->Threads(1)->Threads(2)->UseRealTime();

// state.range(0) distinct domains, visited in a scattered order: 64 fit
// in L1/L2, 4096 (~1.5 MB of entries and results) do not.
void BM_LookupHitDistinctKeys(benchmark::State& state) {
  MxCache& cache = Cache();
  SyncSource source;
  const int shard = state.thread_index();
  const size_t n = static_cast<size_t>(state.range(0));
  size_t i = static_cast<size_t>(shard) * 977;
  for (auto _ : state) {
    MxResultPtr r = cache.Lookup(shard, Keys()[(i * 2654435761u) % n], kNow, &source, nullptr);
    benchmark::DoNotOptimize(r.get());
    ++i;
  }
}
BENCHMARK(BM_LookupHitDistinctKeys)->Arg(64)->Arg(kKeys)->Threads(1)->Threads(2)->UseRealTime();

void BM_PeekHitSameKey(benchmark::State& state) {
  MxCache& cache = Cache();
  const int shard = state.thread_index();
  const std::string& key = Keys()[7];
  size_t sum = 0;
  for (auto _ : state) {
    cache.Peek(shard, key, kNow, [&](const MxResult& r) { sum += r.site_key.size(); });
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_PeekHitSameKey)->Threads(1)->Threads(2)->UseRealTime();

void BM_PeekHitDistinctKeys(benchmark::State& state) {
  MxCache& cache = Cache();
  const int shard = state.thread_index();
  const size_t n = static_cast<size_t>(state.range(0));
  size_t i = static_cast<size_t>(shard) * 977;
  size_t sum = 0;
  for (auto _ : state) {
    cache.Peek(shard, Keys()[(i * 2654435761u) % n], kNow,
               [&](const MxResult& r) { sum += r.site_key.size(); });
    ++i;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_PeekHitDistinctKeys)->Arg(64)->Arg(kKeys)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace ringpost::dns
