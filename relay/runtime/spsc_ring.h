// spsc_ring.h — bounded, lock-free single-producer/single-consumer ring for
// handing work between two shards (one ring per ordered shard pair).
//
// Usage
//   SpscRing<Handoff*, 4096> ring;           // shared by exactly two threads
//   producer: if (ring.TryPushBatch(items, n) < n) { ... keep the rest ... }
//   consumer: size_t got = ring.PopBatch(out, kMax);
//
// Design
//   `tail_` (next slot to write) is written only by the producer, `head_`
//   (next slot to read) only by the consumer. Both count up forever (64-bit:
//   no wrap in practice); a slot is index & (Capacity - 1). Each side keeps a
//   private cached copy of the other side's index on its own cache line and
//   re-reads the shared index only when the cache says full (producer) or
//   empty (consumer), so in steady state each side touches the other's line
//   about once per batch rather than once per item.
//
// Memory ordering (why acquire/release is enough)
//   - Producer: writes the slot(s), then tail_.store(release). Consumer:
//     tail_.load(acquire), then reads the slot(s). The release/acquire pair
//     makes the slot writes visible before the consumer can see the index
//     that covers them.
//   - Consumer: reads the slot(s), then head_.store(release). Producer:
//     head_.load(acquire) before reusing those slots. This orders the
//     consumer's reads before the producer's overwrite (no write-after-read
//     race on a slot).
//   - Each side loads its own index relaxed: only it writes it.
//   - Empty()/SizeApprox() use acquire loads of both indices and may be
//     stale by the time they return; use them only as hints.
//
// Invariants
//   - 0 <= tail_ - head_ <= Capacity at every instant.
//   - Producer's cached head <= head_; consumer's cached tail <= tail_.
//   - Exactly one producer thread and one consumer thread at a time (a
//     handover between threads needs external synchronization).
//   - T is trivially copyable, so slots are plain copies with no destructors.

#ifndef RINGPOST_RELAY_RUNTIME_SPSC_RING_H_
#define RINGPOST_RELAY_RUNTIME_SPSC_RING_H_

#include <atomic>
#include "base/check.h"
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ringpost::runtime {

inline constexpr size_t kCacheLineBytes = 64;

template <typename T, size_t Capacity>
class SpscRing {
  static_assert(Capacity >= 2, "Capacity must be at least 2");
  static_assert((Capacity & (Capacity - 1)) == 0, "Capacity must be a power of two");
  static_assert(Capacity <= (size_t{1} << 31), "Capacity is bounded");
  static_assert(std::is_trivially_copyable_v<T>, "T must be trivially copyable");
  static_assert(std::is_default_constructible_v<T>, "T must be default constructible");

 public:
  SpscRing() = default;
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  static constexpr size_t capacity() { return Capacity; }

  // Producer side. Returns false when the ring is full.
  bool TryPush(const T& item) {
    const uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    if (tail - producer_.cached_head >= Capacity) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      CHECK(tail - producer_.cached_head <= Capacity);
      if (tail - producer_.cached_head >= Capacity) return false;
    }
    slots_[tail & kMask] = item;
    producer_.tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Producer side. Pushes the longest prefix of items[0, n) that fits and
  // returns its length (0 when full), with one index publication.
  size_t TryPushBatch(const T* items, size_t n) {
    CHECK(items != nullptr || n == 0);
    const uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    uint64_t free_slots = Capacity - (tail - producer_.cached_head);
    if (free_slots < n) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      CHECK(tail - producer_.cached_head <= Capacity);
      free_slots = Capacity - (tail - producer_.cached_head);
    }
    const size_t count = n < free_slots ? n : static_cast<size_t>(free_slots);
    for (size_t i = 0; i < count; i++) {
      slots_[(tail + i) & kMask] = items[i];
    }
    if (count > 0) producer_.tail.store(tail + count, std::memory_order_release);
    return count;
  }

  // Consumer side. Returns false when the ring is empty.
  bool TryPop(T* out) {
    CHECK(out != nullptr);
    const uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    if (head == consumer_.cached_tail) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      CHECK(consumer_.cached_tail - head <= Capacity);
      if (head == consumer_.cached_tail) return false;
    }
    *out = slots_[head & kMask];
    consumer_.head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer side. Pops up to `max` items into out[0, max) and returns how
  // many, with one index publication.
  size_t PopBatch(T* out, size_t max) {
    CHECK(out != nullptr || max == 0);
    const uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    uint64_t available = consumer_.cached_tail - head;
    if (available < max) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      available = consumer_.cached_tail - head;
      CHECK(available <= Capacity);
    }
    const size_t count = max < available ? max : static_cast<size_t>(available);
    for (size_t i = 0; i < count; i++) {
      out[i] = slots_[(head + i) & kMask];
    }
    if (count > 0) consumer_.head.store(head + count, std::memory_order_release);
    return count;
  }

  // Either side; a hint that may be stale on return.
  bool Empty() const { return SizeApprox() == 0; }

  // Either side; a hint in [0, Capacity] that may be stale on return.
  size_t SizeApprox() const {
    // Load head first: tail(later) >= tail(earlier) >= head(earlier), so the
    // difference never goes negative. It can exceed Capacity when both sides
    // move between the two loads; clamp.
    const uint64_t head = consumer_.head.load(std::memory_order_acquire);
    const uint64_t tail = producer_.tail.load(std::memory_order_acquire);
    CHECK(tail >= head);
    const uint64_t size = tail - head;
    return size > Capacity ? Capacity : static_cast<size_t>(size);
  }

 private:
  static constexpr uint64_t kMask = Capacity - 1;

  // Producer-owned line: the published write index and the producer's
  // private copy of the consumer index.
  struct alignas(kCacheLineBytes) ProducerSide {
    std::atomic<uint64_t> tail{0};
    uint64_t cached_head = 0;
  };
  // Consumer-owned line: the published read index and the consumer's
  // private copy of the producer index.
  struct alignas(kCacheLineBytes) ConsumerSide {
    std::atomic<uint64_t> head{0};
    uint64_t cached_tail = 0;
  };
  static_assert(sizeof(ProducerSide) == kCacheLineBytes);
  static_assert(sizeof(ConsumerSide) == kCacheLineBytes);
  static_assert(std::atomic<uint64_t>::is_always_lock_free);

  ProducerSide producer_;
  ConsumerSide consumer_;
  alignas(kCacheLineBytes) T slots_[Capacity] = {};
};

}  // namespace ringpost::runtime

#endif  // RINGPOST_RELAY_RUNTIME_SPSC_RING_H_
