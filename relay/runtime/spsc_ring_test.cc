// spsc_ring_test.cc — SpscRing semantics on one thread (full, empty,
// wraparound, batches, capacity chosen at run time and CHECKed) and a two-thread stress test that hands over 10M
// sequence numbers and checks order and completeness within a time bound.

#include "relay/runtime/spsc_ring.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::runtime {
namespace {

TEST(SpscRingTest, EmptyRingPopsNothing) {
  SpscRing<int> ring(8);
  int out = -1;
  EXPECT_TRUE(ring.Empty());
  EXPECT_EQ(ring.SizeApprox(), 0u);
  EXPECT_FALSE(ring.TryPop(&out));
  EXPECT_EQ(out, -1);
  int batch[4];
  EXPECT_EQ(ring.PopBatch(batch, 4), 0u);
  EXPECT_EQ(ring.PopBatch(batch, 0), 0u);
}

TEST(SpscRingTest, FillsToCapacityThenRefuses) {
  SpscRing<int> ring(8);
  for (int i = 0; i < 8; i++) EXPECT_TRUE(ring.TryPush(i)) << i;
  EXPECT_FALSE(ring.TryPush(99));
  EXPECT_EQ(ring.SizeApprox(), 8u);
  EXPECT_FALSE(ring.Empty());
  const int more[2] = {100, 101};
  EXPECT_EQ(ring.TryPushBatch(more, 2), 0u);
  int out = -1;
  ASSERT_TRUE(ring.TryPop(&out));
  EXPECT_EQ(out, 0);
  EXPECT_TRUE(ring.TryPush(8));
  EXPECT_FALSE(ring.TryPush(9));
  for (int i = 1; i <= 8; i++) {
    ASSERT_TRUE(ring.TryPop(&out));
    EXPECT_EQ(out, i);
  }
  EXPECT_FALSE(ring.TryPop(&out));
  EXPECT_TRUE(ring.Empty());
}

TEST(SpscRingTest, WrapsAroundManyTimesInOrder) {
  SpscRing<uint32_t> ring(4);
  uint32_t next_push = 0;
  uint32_t next_pop = 0;
  ASSERT_TRUE(ring.TryPush(next_push++));  // keep one item carried over
  for (int round = 0; round < 1000; round++) {
    const int k = 1 + round % 3;
    for (int i = 0; i < k; i++) ASSERT_TRUE(ring.TryPush(next_push++));
    ASSERT_EQ(ring.SizeApprox(), static_cast<size_t>(k + 1));
    for (int i = 0; i < k; i++) {
      uint32_t out = 0;
      ASSERT_TRUE(ring.TryPop(&out));
      ASSERT_EQ(out, next_pop++);
    }
  }
  EXPECT_EQ(ring.SizeApprox(), 1u);
  EXPECT_GT(next_push, 4u * 400);  // indices wrapped the 4 slots many times
}

TEST(SpscRingTest, BatchesArePartialWhenNearlyFullAndWrap) {
  SpscRing<int> ring(8);
  int in[16];
  for (int i = 0; i < 16; i++) in[i] = i;
  EXPECT_EQ(ring.TryPushBatch(in, 5), 5u);
  int out[16] = {};
  EXPECT_EQ(ring.PopBatch(out, 3), 3u);  // head = 3, tail = 5
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[2], 2);
  // 6 slots free: pushes 5..10, wrapping past the end of the array.
  EXPECT_EQ(ring.TryPushBatch(in + 5, 11), 6u);
  EXPECT_EQ(ring.SizeApprox(), 8u);
  EXPECT_EQ(ring.TryPushBatch(in, 1), 0u);
  EXPECT_EQ(ring.PopBatch(out, 16), 8u);
  for (int i = 0; i < 8; i++) EXPECT_EQ(out[i], 3 + i);
  EXPECT_EQ(ring.TryPushBatch(in, 0), 0u);
  EXPECT_TRUE(ring.Empty());
}

TEST(SpscRingTest, MixedSingleAndBatchKeepsFifo) {
  SpscRing<uint64_t> ring(16);
  uint64_t pushed = 0;
  uint64_t popped = 0;
  for (int round = 0; round < 5000; round++) {
    if (round % 3 == 0) {
      uint64_t items[7];
      for (auto& it : items) it = pushed + (&it - items);
      pushed += ring.TryPushBatch(items, 7);
    } else {
      if (ring.TryPush(pushed)) pushed++;
    }
    if (round % 2 == 0) {
      uint64_t out[5];
      const size_t n = ring.PopBatch(out, 5);
      for (size_t i = 0; i < n; i++) ASSERT_EQ(out[i], popped++);
    } else {
      uint64_t out = 0;
      if (ring.TryPop(&out)) {
        ASSERT_EQ(out, popped++);
      }
    }
    ASSERT_LE(pushed - popped, 16u);
    ASSERT_EQ(ring.SizeApprox(), pushed - popped);
  }
}

struct Message {
  uint64_t seq;
  uint32_t shard;
  uint32_t flags;
};

TEST(SpscRingTest, StructPayload) {
  SpscRing<Message> ring(2);
  EXPECT_TRUE(ring.TryPush(Message{1, 2, 3}));
  EXPECT_TRUE(ring.TryPush(Message{4, 5, 6}));
  EXPECT_FALSE(ring.TryPush(Message{7, 8, 9}));
  Message m{};
  ASSERT_TRUE(ring.TryPop(&m));
  EXPECT_EQ(m.seq, 1u);
  EXPECT_EQ(m.shard, 2u);
  EXPECT_EQ(m.flags, 3u);
}

TEST(SpscRingTest, CapacityIsChosenAtRunTime) {
  for (size_t capacity : {size_t{2}, size_t{64}, size_t{16384}}) {
    SpscRing<uint64_t> ring(capacity);
    EXPECT_EQ(ring.capacity(), capacity);
    // Fills exactly to the capacity given, wrapping twice.
    for (int lap = 0; lap < 2; lap++) {
      for (size_t i = 0; i < capacity; i++) ASSERT_TRUE(ring.TryPush(i)) << i;
      EXPECT_FALSE(ring.TryPush(0));
      EXPECT_EQ(ring.SizeApprox(), capacity);
      uint64_t out = 0;
      for (size_t i = 0; i < capacity; i++) {
        ASSERT_TRUE(ring.TryPop(&out));
        ASSERT_EQ(out, i);
      }
      EXPECT_TRUE(ring.Empty());
    }
  }
}

TEST(SpscRingTest, MemoryBytesCountsObjectAndSlots) {
  using Ring = SpscRing<uint64_t>;
  EXPECT_EQ(Ring::MemoryBytes(16384), sizeof(Ring) + 16384 * sizeof(uint64_t));
  // Two cache lines (one per side), whatever the capacity.
  EXPECT_EQ(sizeof(Ring), 2 * kCacheLineBytes);
  static_assert(Ring::MemoryBytes(2) < Ring::MemoryBytes(4));
}

TEST(SpscRingDeathTest, CapacityMustBeAPowerOfTwoOfAtLeastTwo) {
  EXPECT_DEATH(SpscRing<int> ring(0), "CHECK failed: capacity >= kMinCapacity");
  EXPECT_DEATH(SpscRing<int> ring(1), "CHECK failed: capacity >= kMinCapacity");
  EXPECT_DEATH(SpscRing<int> ring(12), "CHECK failed: \\(capacity & \\(capacity - 1\\)\\) == 0");
  EXPECT_DEATH(SpscRing<int> ring(size_t{1} << 32), "CHECK failed: capacity <= kMaxCapacity");
}

// Two threads: the producer pushes 0..kItems-1 (mixing single pushes and
// batches), the consumer checks that it sees exactly that sequence. Both
// give up at a deadline so a bug fails the test instead of hanging it.
template <bool kBatched>
void RunTwoThreadSequence() {
  constexpr uint64_t kItems = 10'000'000;
  constexpr size_t kBatch = 32;
  using Ring = SpscRing<uint64_t>;
  auto ring = std::make_unique<Ring>(1024);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(25);
  std::atomic<bool> timed_out{false};

  std::thread producer([&] {
    uint64_t next = 0;
    uint64_t spins = 0;
    uint64_t batch[kBatch];
    while (next < kItems) {
      size_t pushed = 0;
      if (kBatched && (next / 1000) % 2 == 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kBatch, kItems - next));
        for (size_t i = 0; i < n; i++) batch[i] = next + i;
        pushed = ring->TryPushBatch(batch, n);
      } else {
        pushed = ring->TryPush(next) ? 1 : 0;
      }
      next += pushed;
      if (pushed == 0 && (++spins & 0xFFF) == 0) {
        if (timed_out.load(std::memory_order_relaxed) ||
            std::chrono::steady_clock::now() > deadline) {
          timed_out.store(true);
          return;
        }
        std::this_thread::yield();
      }
    }
  });

  uint64_t expected = 0;
  uint64_t mismatches = 0;
  uint64_t spins = 0;
  uint64_t out[kBatch];
  while (expected < kItems) {
    size_t got = 0;
    if (kBatched && (expected / 777) % 2 == 0) {
      got = ring->PopBatch(out, kBatch);
    } else {
      got = ring->TryPop(&out[0]) ? 1 : 0;
    }
    for (size_t i = 0; i < got; i++) {
      if (out[i] != expected) mismatches++;
      expected++;
    }
    if (got == 0 && (++spins & 0xFFF) == 0) {
      if (timed_out.load(std::memory_order_relaxed) ||
          std::chrono::steady_clock::now() > deadline) {
        timed_out.store(true);
        break;
      }
      std::this_thread::yield();
    }
  }
  producer.join();
  ASSERT_FALSE(timed_out.load()) << "stalled after " << expected << " items";
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(expected, kItems);
  EXPECT_TRUE(ring->Empty());
  uint64_t extra = 0;
  EXPECT_FALSE(ring->TryPop(&extra));
}

TEST(SpscRingThreadTest, TenMillionInOrderSingle) { RunTwoThreadSequence<false>(); }

TEST(SpscRingThreadTest, TenMillionInOrderBatched) { RunTwoThreadSequence<true>(); }

}  // namespace
}  // namespace ringpost::runtime
