// timer_wheel_benchmark.cc — cost of the TimerWheel operations a shard loop
// performs per connection: Arm+Disarm (the common case: a timeout that never
// fires), and Arm+fire, with the wheel already holding `range(0)` timers.

#include <cstdint>
#include <memory>
#include <random>

#include "benchmark/benchmark.h"
#include "relay/runtime/timer_wheel.h"

namespace ringpost::runtime {
namespace {

void CountFire(Timer* t) { ++*static_cast<uint64_t*>(t->context); }

// Background load: `n` timers spread over the next hour.
std::unique_ptr<Timer[]> Populate(TimerWheel* wheel, uint64_t* counter, int64_t n) {
  auto timers = std::make_unique<Timer[]>(static_cast<size_t>(n));
  std::mt19937_64 rng(1);
  for (int64_t i = 0; i < n; i++) {
    timers[i].callback = &CountFire;
    timers[i].context = counter;
    wheel->Arm(&timers[i], wheel->now_ms() + 1 + rng() % 3'600'000);
  }
  return timers;
}

void BM_ArmDisarm(benchmark::State& state) {
  uint64_t fired = 0;
  auto wheel = std::make_unique<TimerWheel>(1'000'000);
  auto background = Populate(wheel.get(), &fired, state.range(0));
  Timer t(&CountFire, &fired);
  uint64_t delta = 1;
  for (auto _ : state) {
    // Deadlines spread over the next 5 minutes (all wheel levels 0-2).
    delta = delta * 6364136223846793005ull + 1442695040888963407ull;
    wheel->Arm(&t, wheel->now_ms() + 1 + (delta >> 40) % 300'000);
    wheel->Disarm(&t);
  }
  state.SetItemsProcessed(state.iterations());
  wheel.reset();  // disarms the background before it is destroyed
}
BENCHMARK(BM_ArmDisarm)->Arg(0)->Arg(10'000)->Arg(100'000);

void BM_ReArm(benchmark::State& state) {
  // Re-arming an armed idle timer on every received packet.
  uint64_t fired = 0;
  auto wheel = std::make_unique<TimerWheel>(1'000'000);
  auto background = Populate(wheel.get(), &fired, state.range(0));
  Timer t(&CountFire, &fired);
  uint64_t now = wheel->now_ms();
  for (auto _ : state) {
    wheel->Arm(&t, now + 300'000);
    now += (now & 7) == 0;  // time creeps forward, as in a busy loop
  }
  state.SetItemsProcessed(state.iterations());
  wheel->Disarm(&t);
  wheel.reset();
}
BENCHMARK(BM_ReArm)->Arg(0)->Arg(100'000);

void BM_ArmFire(benchmark::State& state) {
  // Each iteration arms kBatch timers within the next `range(0)` ms and
  // advances time until all have fired (including any cascading).
  constexpr int kBatch = 1024;
  const uint64_t spread_ms = static_cast<uint64_t>(state.range(0));
  uint64_t fired = 0;
  auto timers = std::make_unique<Timer[]>(kBatch);
  for (int i = 0; i < kBatch; i++) {
    timers[i].callback = &CountFire;
    timers[i].context = &fired;
  }
  auto wheel = std::make_unique<TimerWheel>(1'000'000);
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    const uint64_t now = wheel->now_ms();
    for (int i = 0; i < kBatch; i++) wheel->Arm(&timers[i], now + 1 + rng() % spread_ms);
    // Advance in 1 ms ticks for short spreads, else in large jumps.
    if (spread_ms <= 1024) {
      for (uint64_t t = now + 1; t <= now + spread_ms; t++) wheel->Advance(t);
    } else {
      wheel->Advance(now + spread_ms);
    }
  }
  if (fired != static_cast<uint64_t>(state.iterations()) * kBatch) {
    state.SkipWithError("not every timer fired");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ArmFire)->Arg(256)->Arg(3'600'000)->Arg(5 * 86'400'000LL);

void BM_AdvanceIdleTick(benchmark::State& state) {
  // A loop turn with nothing due, with 100k timers far out.
  uint64_t fired = 0;
  auto wheel = std::make_unique<TimerWheel>(0);
  auto background = Populate(wheel.get(), &fired, 100'000);
  const uint64_t now = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(wheel->NextDeadlineMs());
    wheel->Advance(now);
  }
  state.SetItemsProcessed(state.iterations());
  wheel.reset();
}
BENCHMARK(BM_AdvanceIdleTick);

}  // namespace
}  // namespace ringpost::runtime
