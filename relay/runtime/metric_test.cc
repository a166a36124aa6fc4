// metric_test.cc — bucket selection and the histogram's counts.
#include "relay/runtime/metric.h"

#include <thread>

#include "gtest/gtest.h"

namespace ringpost::runtime {
namespace {

TEST(BucketIndex, BoundsAreInclusiveAndAboveAllIsInf) {
  const uint64_t bounds[] = {10, 20, 40};
  EXPECT_EQ(BucketIndex(bounds, 0), 0u);
  EXPECT_EQ(BucketIndex(bounds, 10), 0u);  // "le": equal falls in the bucket
  EXPECT_EQ(BucketIndex(bounds, 11), 1u);
  EXPECT_EQ(BucketIndex(bounds, 20), 1u);
  EXPECT_EQ(BucketIndex(bounds, 39), 2u);
  EXPECT_EQ(BucketIndex(bounds, 40), 2u);
  EXPECT_EQ(BucketIndex(bounds, 41), 3u);
  EXPECT_EQ(BucketIndex(bounds, UINT64_MAX), 3u);
}

TEST(BucketIndex, Layouts) {
  EXPECT_EQ(kShortLatencyBoundsNs.front(), 25000u);
  EXPECT_EQ(kShortLatencyBoundsNs.back(), 25000u << 17);  // 3.2768 s
  EXPECT_EQ(kLongLatencyBoundsNs.front(), 1000000u);
  EXPECT_EQ(kLongLatencyBoundsNs[1], 4000000u);
  EXPECT_GT(kLongLatencyBoundsNs.back(), uint64_t{3} * 86400 * 1000000000);
  for (std::span<const uint64_t> b : {std::span<const uint64_t>(kShortLatencyBoundsNs),
                                       std::span<const uint64_t>(kLongLatencyBoundsNs)}) {
    EXPECT_LE(b.size(), Histogram::kMaxBounds);
    for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
  }
  // 100 us: above 50 us, at the 100 us bound.
  EXPECT_EQ(BucketIndex(kShortLatencyBoundsNs, 100000), 2u);
  EXPECT_EQ(BucketIndex(kShortLatencyBoundsNs, 100001), 3u);
}

TEST(Histogram, CountsPerBucketAndSum) {
  Histogram h(kShortLatencyBoundsNs);
  h.Observe(0);
  h.Observe(25000);
  h.Observe(30000);
  h.Observe(uint64_t{10} * 1000000000);  // 10 s: above the last bound
  EXPECT_EQ(h.count(0), 2u);
  EXPECT_EQ(h.count(1), 1u);
  EXPECT_EQ(h.count(kShortLatencyBoundsNs.size()), 1u);
  uint64_t total = 0;
  for (size_t i = 0; i <= h.bounds().size(); ++i) total += h.count(i);
  EXPECT_EQ(total, 4u);
  EXPECT_EQ(h.sum_ns(), 55000u + uint64_t{10} * 1000000000);
}

TEST(Counter, OneWriterManyReaders) {
  Counter c;
  Gauge g;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t last = 0;
    while (!done.load()) {
      const uint64_t v = c.value();
      EXPECT_GE(v, last);  // never goes back: whole values only
      last = v;
    }
  });
  for (int i = 0; i < 100000; ++i) {
    c.Add();
    g.Set(static_cast<uint64_t>(i));
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(c.value(), 100000u);
  EXPECT_EQ(g.value(), 99999u);
}

}  // namespace
}  // namespace ringpost::runtime
