// tests/fuzz/spool_frames.h — help a fuzzer past the spool's checksums.
//
// Random bytes almost never carry a valid CRC32C, so a mutated record would
// only ever exercise the "corrupt" paths. FixFrames() walks a buffer the way
// a writer lays records out and, wherever a record magic sits at an 8-byte
// boundary, rewrites that frame's CRC (and optionally its segment seq) to
// match its bytes. The fuzzer then controls the frame's type, length and
// payload freely while the reader still believes them, which reaches the
// payload decoders and the recovery logic behind them.

#ifndef RINGPOST_TESTS_FUZZ_SPOOL_FRAMES_H_
#define RINGPOST_TESTS_FUZZ_SPOOL_FRAMES_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "queue/crc32c.h"
#include "queue/record.h"

namespace ringpost::fuzz {

inline void FixFrames(std::string* buf, size_t start, bool set_seq,
                      uint64_t seq) {
  using namespace ringpost::queue;
  size_t pos = (start + kRecordAlign - 1) / kRecordAlign * kRecordAlign;
  // Each step moves pos forward by at least 8: bounded by size / 8.
  while (pos + kRecordHeaderBytes <= buf->size()) {
    char* p = buf->data() + pos;
    uint32_t magic;
    std::memcpy(&magic, p, 4);
    if (magic != kRecordMagic) {
      pos += kRecordAlign;
      continue;
    }
    if (set_seq) std::memcpy(p + 8, &seq, 8);
    uint32_t len;
    std::memcpy(&len, p + 16, 4);
    const size_t framed = FramedSize(len);
    if (len > kMaxPayloadBytes || framed > buf->size() - pos) {
      pos += kRecordAlign;
      continue;
    }
    uint32_t crc = Crc32c(p, 20);
    crc = Crc32c(p + kRecordHeaderBytes, len, crc);
    std::memcpy(p + 20, &crc, 4);
    pos += framed;
  }
}

}  // namespace ringpost::fuzz

#endif  // RINGPOST_TESTS_FUZZ_SPOOL_FRAMES_H_
