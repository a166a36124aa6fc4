// dns/random.cc — see random.h.
#include "dns/random.h"

#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "base/check.h"

namespace ringpost::dns {

RandomPool::RandomPool() { Refill(); }

void RandomPool::Refill() {
  size_t got = 0;
  // getrandom returns at most 33554431 bytes per call and, for requests of
  // 256 bytes or less, never a short count; loop for the larger buffer.
  for (int tries = 0; got < kBytes && tries < 64; ++tries) {
    const ssize_t n = getrandom(buf_ + got, kBytes - got, GRND_NONBLOCK);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  // Only a kernel without an initialised entropy pool gets here (never on
  // a booted system); an ID from a time-seeded mix is still better than
  // refusing to resolve.
  if (got < kBytes) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = static_cast<uint64_t>(ts.tv_nsec) ^
                 (static_cast<uint64_t>(ts.tv_sec) << 32) ^
                 reinterpret_cast<uintptr_t>(this);
    for (size_t i = got; i < kBytes; ++i) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      buf_[i] = static_cast<uint8_t>(s >> 56);
    }
  }
  pos_ = 0;
}

uint16_t RandomPool::Next16() {
  if (pos_ + 2 > kBytes) Refill();
  uint16_t v;
  std::memcpy(&v, buf_ + pos_, 2);
  pos_ += 2;
  CHECK(pos_ <= kBytes);
  return v;
}

uint64_t RandomPool::Next64() {
  if (pos_ + 8 > kBytes) Refill();
  uint64_t v;
  std::memcpy(&v, buf_ + pos_, 8);
  pos_ += 8;
  CHECK(pos_ <= kBytes);
  return v;
}

}  // namespace ringpost::dns
