// queue/crc32c.cc — CRC-32C: SSE4.2 instruction when present, else tables.
//
// Polynomial 0x1EDC6F41, reflected (0x82F63B78). The software path is
// slicing-by-8: eight 256-entry tables computed at compile time, consuming
// eight bytes per step. The hardware path feeds eight bytes at a time to
// `crc32q`; it lives in a function compiled for SSE4.2 only, so the rest of
// the binary keeps the baseline instruction set and runs on any x86-64.
// Invariant: both paths return the same value for the same input (tested).

#include "queue/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ringpost::queue {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) {
      c = (c & 1u) ? (c >> 1) ^ kPolyReflected : c >> 1;
    }
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t k = 1; k < 8; ++k) {
      const uint32_t prev = t[k - 1][i];
      t[k][i] = (prev >> 8) ^ t[0][prev & 0xFFu];
    }
  }
  return t;
}

constexpr Tables kTables = MakeTables();

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;  // little-endian host assumed (x86-64, aarch64); see record.h.
}

}  // namespace

namespace internal {

uint32_t Crc32cSoftware(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n >= 8) {
    const uint64_t v = Load64(p) ^ c;
    c = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^
        kTables[5][(v >> 16) & 0xFF] ^ kTables[4][(v >> 24) & 0xFF] ^
        kTables[3][(v >> 32) & 0xFF] ^ kTables[2][(v >> 40) & 0xFF] ^
        kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xFF];
    ++p;
    --n;
  }
  return ~c;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(const void* data,
                                                          size_t n,
                                                          uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t c = ~crc;
  while (n >= 8) {
    c = _mm_crc32_u64(c, Load64(p));
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p);
    ++p;
    --n;
  }
  return ~c32;
}

bool HaveHardwareCrc32c() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}

#else  // !__x86_64__

uint32_t Crc32cHardware(const void* data, size_t n, uint32_t crc) {
  return Crc32cSoftware(data, n, crc);
}

bool HaveHardwareCrc32c() { return false; }

#endif

}  // namespace internal

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
  if (internal::HaveHardwareCrc32c()) {
    return internal::Crc32cHardware(data, n, crc);
  }
  return internal::Crc32cSoftware(data, n, crc);
}

}  // namespace ringpost::queue
