// queue/crc32c.cc — CRC-32C: SSE4.2 instruction when present, else tables.
//
// Polynomial 0x1EDC6F41, reflected (0x82F63B78). The software path is
// slicing-by-8: eight 256-entry tables computed at compile time, consuming
// eight bytes per step. The hardware path feeds eight bytes at a time to
// `crc32q`, in three interleaved chains for inputs of 192 bytes and more
// (see Crc3Way); it lives in functions compiled for SSE4.2 only, so the rest of
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

namespace {

// crc32q has a latency of 3 cycles but a throughput of one per cycle, so
// one dependent chain uses a third of the unit. Three chains over three
// adjacent blocks of L bytes run at full rate; their results are joined
// with the linearity of the CRC register: the register after A|B|C, from
// c, is Z_L(Z_L(crc_c(A)) ^ crc_0(B)) ^ crc_0(C), where Z_L is the effect
// of L zero bytes on the register (a linear map, applied byte-wise through
// four 256-entry tables made once).
struct ZeroShift {
  uint32_t t[4][256];

  explicit ZeroShift(size_t bytes) {
    for (uint32_t k = 0; k < 4; ++k) {
      for (uint32_t v = 0; v < 256; ++v) {
        uint32_t c = v << (8 * k);
        for (size_t i = 0; i < bytes; ++i) c = (c >> 8) ^ kTables[0][c & 0xFFu];
        t[k][v] = c;
      }
    }
  }
  uint32_t operator()(uint32_t c) const {
    return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
  }
};

// Block sizes: 4 KiB for big bodies (fewer joins), 256 B for records of
// ~1 KB, 64 B for what is left of those (a join costs two table lookups a
// chain, about as much as 8 serial steps, so smaller blocks would not pay).
constexpr size_t kTinyBlock = 64;
constexpr size_t kShortBlock = 256;
constexpr size_t kLongBlock = 4096;

// Consumes as many runs of 3 x `block` bytes as fit.
__attribute__((target("sse4.2"))) uint64_t Crc3Way(const uint8_t** p, size_t* n, uint64_t c,
                                                   size_t block, const ZeroShift& shift) {
  while (*n >= 3 * block) {
    const uint8_t* a = *p;
    uint64_t c1 = 0;
    uint64_t c2 = 0;
    for (size_t i = 0; i < block; i += 8) {
      c = _mm_crc32_u64(c, Load64(a + i));
      c1 = _mm_crc32_u64(c1, Load64(a + block + i));
      c2 = _mm_crc32_u64(c2, Load64(a + 2 * block + i));
    }
    c = shift(static_cast<uint32_t>(c)) ^ c1;
    c = shift(static_cast<uint32_t>(c)) ^ c2;
    *p += 3 * block;
    *n -= 3 * block;
  }
  return c;
}

}  // namespace

__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(const void* data,
                                                          size_t n,
                                                          uint32_t crc) {
  static const ZeroShift kShiftShort(kShortBlock);
  static const ZeroShift kShiftLong(kLongBlock);
  static const ZeroShift kShiftTiny(kTinyBlock);
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t c = ~crc;
  c = Crc3Way(&p, &n, c, kLongBlock, kShiftLong);
  c = Crc3Way(&p, &n, c, kShortBlock, kShiftShort);
  c = Crc3Way(&p, &n, c, kTinyBlock, kShiftTiny);
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
