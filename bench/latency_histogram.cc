// bench/latency_histogram.cc — see latency_histogram.h for the bucket layout.
#include "bench/latency_histogram.h"

#include <bit>
#include "base/check.h"
#include <cmath>

namespace ringpost::bench {

size_t LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kExact) return static_cast<size_t>(value);
  const int msb = std::bit_width(value) - 1;  // kExactBits..63
  const int shift = msb - kSubBits;
  const uint64_t sub = (value >> shift) - kSub;  // leading 1 removed: 0..31
  const size_t bucket =
      kExact + static_cast<size_t>(msb - kExactBits) * kSub + static_cast<size_t>(sub);
  CHECK(bucket < kBuckets);
  return bucket;
}

uint64_t LatencyHistogram::BucketLower(size_t bucket) {
  CHECK(bucket < kBuckets);
  if (bucket < kExact) return bucket;
  const size_t rest = bucket - kExact;
  const int msb = static_cast<int>(rest / kSub) + kExactBits;
  const uint64_t sub = rest % kSub;
  return (kSub + sub) << (msb - kSubBits);
}

uint64_t LatencyHistogram::BucketUpper(size_t bucket) {
  CHECK(bucket < kBuckets);
  if (bucket < kExact) return bucket;
  const int msb = static_cast<int>((bucket - kExact) / kSub) + kExactBits;
  return BucketLower(bucket) + ((uint64_t{1} << (msb - kSubBits)) - 1);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  if (other.count_ > 0) {
    if (other.max_ > max_) max_ = other.max_;
    if (other.min_ < min_) min_ = other.min_;
  }
}

void LatencyHistogram::Clear() { *this = LatencyHistogram(); }

uint64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  if (!(p > 0.0)) p = 0.0;
  if (p > 1.0) p = 1.0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t upper = BucketUpper(i);
      return upper < max_ ? upper : max_;
    }
  }
  return max_;  // unreachable while count_ matches the buckets
}

}  // namespace ringpost::bench
