// spsc_ring.h — bounded, lock-free single-producer/single-consumer ring for
// handing work between two shards (one ring per ordered shard pair).
//
// Usage
//   SpscRing<Handoff*> ring(4096);           // shared by exactly two threads
//   producer: if (ring.TryPushBatch(items, n) < n) { ... keep the rest ... }
//   consumer: size_t got = ring.PopBatch(out, kMax);
//   SpscRing<Handoff*>::MemoryBytes(4096)    // what one ring costs, to print
//
// Capacity is chosen at run time (the shard sizes its N x N matrix from the
// shard count and the configured depth) and must be a power of two in
// [2, 2^31]; the constructor CHECKs it. The slots are one cache-line-aligned
// allocation made by the constructor; no operation allocates.
//
// Design
//   `tail_` (next slot to write) is written only by the producer, `head_`
//   (next slot to read) only by the consumer. Both count up forever (64-bit:
//   no wrap in practice); a slot is index & (capacity - 1). Each side keeps a
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
//   The slot pointer and mask are written once by the constructor and only
//   read afterwards. Each side keeps its own copy on its own line, so an
//   operation touches that line and the slots, as with a compile-time
//   capacity; "full" compares against the mask, not a capacity field.
//
// Invariants
//   - 0 <= tail_ - head_ <= capacity at every instant.
//   - Producer's cached head <= head_; consumer's cached tail <= tail_.
//   - Exactly one producer thread and one consumer thread at a time (a
//     handover between threads needs external synchronization).
//   - T is trivially copyable, so slots are plain copies with no destructors.

#ifndef RINGPOST_RELAY_RUNTIME_SPSC_RING_H_
#define RINGPOST_RELAY_RUNTIME_SPSC_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

#include "base/check.h"

namespace ringpost::runtime {

inline constexpr size_t kCacheLineBytes = 64;

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "T must be trivially copyable");
  static_assert(std::is_default_constructible_v<T>, "T must be default constructible");

 public:
  static constexpr size_t kMinCapacity = 2;
  static constexpr size_t kMaxCapacity = size_t{1} << 31;

  // `capacity`: a power of two in [kMinCapacity, kMaxCapacity].
  explicit SpscRing(size_t capacity) {
    T* slots = Allocate(capacity);
    producer_.slots = slots;
    producer_.mask = capacity - 1;
    consumer_.slots = slots;
    consumer_.mask = capacity - 1;
  }
  ~SpscRing() {
    ::operator delete[](producer_.slots, std::align_val_t{kCacheLineBytes});
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return static_cast<size_t>(producer_.mask) + 1; }

  // Bytes one ring of `capacity` occupies: the object and its slots.
  static constexpr size_t MemoryBytes(size_t capacity) {
    return sizeof(SpscRing) + capacity * sizeof(T);
  }

  // Producer side. Returns false when the ring is full.
  bool TryPush(const T& item) {
    const uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    const uint64_t mask = producer_.mask;
    if (tail - producer_.cached_head > mask) {  // full: used == mask + 1
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      CHECK(tail - producer_.cached_head <= mask + 1);
      if (tail - producer_.cached_head > mask) return false;
    }
    producer_.slots[tail & mask] = item;
    producer_.tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Producer side. Pushes the longest prefix of items[0, n) that fits and
  // returns its length (0 when full), with one index publication.
  size_t TryPushBatch(const T* items, size_t n) {
    CHECK(items != nullptr || n == 0);
    const uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    const uint64_t mask = producer_.mask;
    T* const slots = producer_.slots;
    uint64_t free_slots = mask + 1 - (tail - producer_.cached_head);
    if (free_slots < n) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      CHECK(tail - producer_.cached_head <= mask + 1);
      free_slots = mask + 1 - (tail - producer_.cached_head);
    }
    const size_t count = n < free_slots ? n : static_cast<size_t>(free_slots);
    for (size_t i = 0; i < count; i++) {
      slots[(tail + i) & mask] = items[i];
    }
    if (count > 0) producer_.tail.store(tail + count, std::memory_order_release);
    return count;
  }

  // Consumer side. Returns false when the ring is empty.
  bool TryPop(T* out) {
    CHECK(out != nullptr);
    const uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    const uint64_t mask = consumer_.mask;
    if (head == consumer_.cached_tail) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      CHECK(consumer_.cached_tail - head <= mask + 1);
      if (head == consumer_.cached_tail) return false;
    }
    *out = consumer_.slots[head & mask];
    consumer_.head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer side. Pops up to `max` items into out[0, max) and returns how
  // many, with one index publication.
  size_t PopBatch(T* out, size_t max) {
    CHECK(out != nullptr || max == 0);
    const uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    const uint64_t mask = consumer_.mask;
    const T* const slots = consumer_.slots;
    uint64_t available = consumer_.cached_tail - head;
    if (available < max) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      available = consumer_.cached_tail - head;
      CHECK(available <= mask + 1);
    }
    const size_t count = max < available ? max : static_cast<size_t>(available);
    for (size_t i = 0; i < count; i++) {
      out[i] = slots[(head + i) & mask];
    }
    if (count > 0) consumer_.head.store(head + count, std::memory_order_release);
    return count;
  }

  // Either side; a hint that may be stale on return.
  bool Empty() const { return SizeApprox() == 0; }

  // Either side; a hint in [0, capacity()] that may be stale on return.
  size_t SizeApprox() const {
    // Load head first: tail(later) >= tail(earlier) >= head(earlier), so the
    // difference never goes negative. It can exceed the capacity when both
    // sides move between the two loads; clamp.
    const uint64_t head = consumer_.head.load(std::memory_order_acquire);
    const uint64_t tail = producer_.tail.load(std::memory_order_acquire);
    CHECK(tail >= head);
    const uint64_t size = tail - head;
    return size > capacity() ? capacity() : static_cast<size_t>(size);
  }

 private:
  static T* Allocate(size_t capacity) {
    CHECK(capacity >= kMinCapacity);
    CHECK(capacity <= kMaxCapacity);
    CHECK((capacity & (capacity - 1)) == 0);
    void* mem = ::operator new[](capacity * sizeof(T), std::align_val_t{kCacheLineBytes});
    T* slots = static_cast<T*>(mem);
    std::uninitialized_value_construct_n(slots, capacity);
    return slots;
  }

  // Producer-owned line: the published write index, the producer's
  // private copy of the consumer index, and its copy of the constants.
  struct alignas(kCacheLineBytes) ProducerSide {
    std::atomic<uint64_t> tail{0};
    uint64_t cached_head = 0;
    T* slots = nullptr;
    uint64_t mask = 0;
  };
  // Consumer-owned line: the published read index, the consumer's private
  // copy of the producer index, and its copy of the constants.
  struct alignas(kCacheLineBytes) ConsumerSide {
    std::atomic<uint64_t> head{0};
    uint64_t cached_tail = 0;
    T* slots = nullptr;
    uint64_t mask = 0;
  };
  static_assert(sizeof(ProducerSide) == kCacheLineBytes);
  static_assert(sizeof(ConsumerSide) == kCacheLineBytes);
  static_assert(std::atomic<uint64_t>::is_always_lock_free);

  ProducerSide producer_;
  ConsumerSide consumer_;
};

}  // namespace ringpost::runtime

#endif  // RINGPOST_RELAY_RUNTIME_SPSC_RING_H_
