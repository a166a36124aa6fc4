// queue/crc32c.h — CRC-32C (Castagnoli), the checksum of every spool record.
//
// Crc32c(data, n, crc) extends `crc` (the CRC of everything before `data`) by
// `n` more bytes, so checksums compose:
//   Crc32c(b, nb, Crc32c(a, na)) == CRC of a followed by b.
// The initial value is 0 (the CRC of nothing). The conditioning (inversion
// before and after) is done inside, as in RFC 3720 (iSCSI) appendix B.4.
//
// On x86-64 CPUs with SSE4.2 the CRC32 instruction is used (chosen once at run
// time); elsewhere a slicing-by-8 table walk. Both give identical results; the
// two entry points in `internal` exist for tests and benchmarks only.
//
// Usage:
//   uint32_t c = Crc32c(header, 20);
//   c = Crc32c(payload.data(), payload.size(), c);
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringpost::queue {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

namespace internal {
// The table-driven implementation: works on every CPU.
uint32_t Crc32cSoftware(const void* data, size_t n, uint32_t crc);
// The SSE4.2 implementation. Precondition: HaveHardwareCrc32c().
uint32_t Crc32cHardware(const void* data, size_t n, uint32_t crc);
bool HaveHardwareCrc32c();
}  // namespace internal

}  // namespace ringpost::queue
