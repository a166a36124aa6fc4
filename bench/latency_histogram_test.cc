// bench/latency_histogram_test.cc — bucket layout and percentile accuracy.
#include "bench/latency_histogram.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace ringpost::bench {
namespace {

TEST(LatencyHistogramTest, BucketsCoverTheRangeContiguously) {
  EXPECT_EQ(LatencyHistogram::BucketOf(0), 0u);
  EXPECT_EQ(LatencyHistogram::BucketOf(63), 63u);
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::BucketUpper(LatencyHistogram::kBuckets - 1), UINT64_MAX);
  for (size_t b = 0; b + 1 < LatencyHistogram::kBuckets; ++b) {
    ASSERT_EQ(LatencyHistogram::BucketUpper(b) + 1, LatencyHistogram::BucketLower(b + 1))
        << "bucket " << b;
    ASSERT_EQ(LatencyHistogram::BucketOf(LatencyHistogram::BucketLower(b)), b);
    ASSERT_EQ(LatencyHistogram::BucketOf(LatencyHistogram::BucketUpper(b)), b);
  }
}

TEST(LatencyHistogramTest, RelativeErrorIsBounded) {
  for (uint64_t v = 1; v < (uint64_t{1} << 40); v = v * 3 + 7) {
    const size_t b = LatencyHistogram::BucketOf(v);
    const uint64_t upper = LatencyHistogram::BucketUpper(b);
    ASSERT_GE(upper, v);
    ASSERT_LE(static_cast<double>(upper - v), static_cast<double>(v) / 32.0 + 1.0);
  }
}

TEST(LatencyHistogramTest, PercentilesOfUniformValues) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  for (uint64_t v = 1; v <= 10000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_EQ(h.max(), 10000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.5)), 5000.0, 5000.0 / 32 + 1);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.99)), 9900.0, 9900.0 / 32 + 1);
  EXPECT_EQ(h.Percentile(1.0), 10000u);
  EXPECT_LE(h.Percentile(0.9), h.Percentile(0.99));
}

TEST(LatencyHistogramTest, MergeAddsCounts) {
  LatencyHistogram a, b;
  a.Record(10);
  b.Record(1000000);
  b.Record(5);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max(), 1000000u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.Percentile(0.0), 5u);
  a.Clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.max(), 0u);
}

}  // namespace
}  // namespace ringpost::bench
