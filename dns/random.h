// dns/random.h — unpredictable 16-bit query IDs without a system call per
// query, and a cheap PRNG for shuffling equal-preference MX hosts.
//
// RandomPool hands out bytes from a buffer filled by getrandom(2)
// (GRND_NONBLOCK: never blocks once the kernel pool is initialised, which
// it is long before a relay starts), refilled every kBytes/2 IDs. Query IDs
// must be unpredictable to an off-path attacker (RFC 5452), so they come
// from the kernel CSPRNG, not from a seeded PRNG. One pool per shard thread.
//
// SplitMix64 is for load spreading only (MX shuffle), never for IDs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringpost::dns {

class RandomPool {
 public:
  static constexpr size_t kBytes = 1024;

  RandomPool();
  uint16_t Next16();
  uint64_t Next64();

 private:
  void Refill();
  uint8_t buf_[kBytes];
  size_t pos_ = kBytes;
};

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (slight modulo bias is irrelevant here).
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

}  // namespace ringpost::dns
