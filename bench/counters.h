// bench/counters.h — a statistics counter written by one loop thread and read
// by any thread (progress printers, reports), without locked instructions.
//
// Each counter has exactly one writer (the shard that owns it), so Add() is a
// relaxed load plus a relaxed store, which compiles to a plain add; readers
// see a recent value. Group a thread's counters in one cache-line-aligned
// struct so shards do not share lines.
#ifndef RINGPOST_BENCH_COUNTERS_H_
#define RINGPOST_BENCH_COUNTERS_H_

#include <atomic>
#include <cstdint>

namespace ringpost::bench {

class RelaxedCounter {
 public:
  // Owner thread only.
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Any thread.
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_COUNTERS_H_
