// metric.h — the primitives a shard counts into for /metrics: a counter, a
// gauge and a latency histogram with fixed buckets.
//
// Contract: ONE writer (the thread of the shard that owns the value), any
// number of readers on other threads (the admin endpoint on shard 0, once
// per scrape). Every value is a relaxed std::atomic, and the writer updates
// it with a plain load and a plain store (`x.store(x.load() + n)`), never a
// read-modify-write: on x86-64 that is an ordinary `add`-sized load/store
// pair with no lock prefix, as cheap as the plain counter it replaces, and
// still free of data races. A reader sees each value whole, but not a
// consistent snapshot across values (a histogram's sum may lead or lag its
// buckets by the observations of the moment): fine for monitoring.
//
// The owners (inbound, outbound, delivery, spool) count into these through
// pointers the shard gives them, so only relay/shard knows the block they
// live in (relay/shard/metrics.h).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/check.h"

namespace ringpost::runtime {

// A monotonically increasing count.
class Counter {
 public:
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down (or a copy of a counter kept elsewhere).
class Gauge {
 public:
  void Set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Upper bounds (nanoseconds, "le": a value equal to a bound falls in its
// bucket) of the two bucket layouts, exponential so that relative precision
// is the same at every scale.
//   short: 25 us x 2^k, k = 0..17 (25 us .. 3.28 s) — the acceptance wait
//          and a spool commit, sub-millisecond when all is well;
//   long:  1 ms x 4^k, k = 0..14 (1 ms .. 3.1 days) — delivery after
//          reception, retries and backoff included.
inline constexpr std::array<uint64_t, 18> kShortLatencyBoundsNs = [] {
  std::array<uint64_t, 18> b{};
  for (size_t k = 0; k < b.size(); ++k) b[k] = uint64_t{25000} << k;
  return b;
}();
inline constexpr std::array<uint64_t, 15> kLongLatencyBoundsNs = [] {
  std::array<uint64_t, 15> b{};
  for (size_t k = 0; k < b.size(); ++k) b[k] = uint64_t{1000000} << (2 * k);
  return b;
}();

// The bucket of `value` for strictly increasing `bounds`: the first i with
// value <= bounds[i], or bounds.size() (the +Inf bucket) above them all.
inline size_t BucketIndex(std::span<const uint64_t> bounds, uint64_t value) {
  return static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) -
                             bounds.begin());
}

// Counts observations (nanoseconds) per bucket of fixed `bounds`, plus
// their sum. Not cumulative: the text writer accumulates on output.
class Histogram {
 public:
  static constexpr size_t kMaxBounds = 24;

  // `bounds` must outlive the histogram (the constants above do).
  explicit Histogram(std::span<const uint64_t> bounds) : bounds_(bounds) {
    CHECK(bounds.size() <= kMaxBounds);
  }
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(uint64_t ns) {
    std::atomic<uint64_t>& c = counts_[BucketIndex(bounds_, ns)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  }

  std::span<const uint64_t> bounds() const { return bounds_; }
  // bounds().size() + 1 counts: the last one above every bound.
  uint64_t count(size_t bucket) const { return counts_[bucket].load(std::memory_order_relaxed); }
  uint64_t sum_ns() const { return sum_ns_.load(std::memory_order_relaxed); }

 private:
  std::span<const uint64_t> bounds_;
  std::array<std::atomic<uint64_t>, kMaxBounds + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace ringpost::runtime
