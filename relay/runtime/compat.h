// compat.h — every gap between Debian's liburing 2.3 and the interfaces we use.
//
// liburing 2.4 added io_uring_setup_buf_ring(); 2.3 only has the register call
// and the io_uring_buf_ring_* helpers. Keep each such gap here and nowhere else,
// so that moving to a newer liburing deletes lines from this file only.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>

namespace ringpost::runtime::compat {

// Maps and registers a provided-buffer ring of `entries` (a power of two)
// for buffer group `bgid`. Returns nullptr and sets *err (negative errno) on
// failure. Free with FreeBufRing.
inline io_uring_buf_ring* SetupBufRing(io_uring* ring, unsigned entries,
                                       int bgid, int* err) {
  const size_t bytes = entries * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg = {};
  reg.ring_addr = reinterpret_cast<unsigned long>(br);
  reg.ring_entries = entries;
  reg.bgid = static_cast<unsigned short>(bgid);
  int rc = io_uring_register_buf_ring(ring, &reg, 0);
  if (rc < 0) {
    munmap(mem, bytes);
    *err = rc;
    return nullptr;
  }
  *err = 0;
  return br;
}

inline void FreeBufRing(io_uring* ring, io_uring_buf_ring* br,
                        unsigned entries, int bgid) {
  io_uring_unregister_buf_ring(ring, bgid);
  munmap(br, entries * sizeof(io_uring_buf));
}

}  // namespace ringpost::runtime::compat
