// uring_spool_io.h — the spool's I/O seam driven by a shard's io_uring.
//
// Every spool operation becomes ring submissions on the shard's own loop; no
// blocking system call on the shard thread (but see "head block" below).
//
// Commit writes. Segment files are opened with O_DIRECT when the file system
// allows it (Options::direct): a commit group is then ONE write with
// RWF_DSYNC, which the kernel completes inline (no io-wq worker, no copy
// into the page cache, no separate fdatasync). Measured here on ext4
// (docs/benchmarks.md): 22–30 µs of CPU per 8 KiB commit against 70–100 µs
// for a buffered write linked to FSYNC(DATASYNC). O_DIRECT needs whole,
// aligned blocks, while the spool appends records at any offset (each batch
// overwrites the previous batch's zero terminator). So this class keeps, per
// file, a copy of the last blocks it wrote: a write becomes [the head of its
// first block, from that copy][the data][zeros to the block end]. The zeros
// land after the spool's terminator, where the file is zero or stale anyway.
// The copy only misses for a first write at an unaligned offset, which the
// spool never does (headers at 0, records from 4 KiB); then the head block is
// read with a blocking pread.
// Files the spool opened itself (journals reopened at start-up) and file
// systems without O_DIRECT (open answers EINVAL) take the buffered path: a
// write linked to FSYNC(DATASYNC).
//
// Segment files are created with OPENAT(O_EXCL) + FALLOCATE + an fsync of
// the directory, renamed with RENAMEAT + directory fsync, removed with
// UNLINKAT. An O_DIRECT segment file is also written with zeros once when it
// is created (1 MiB writes, then one fdatasync; ~40 ms for 64 MiB here):
// fallocate leaves "unwritten" extents, and a RWF_DSYNC write into those must
// convert them through the file system journal, which io_uring hands to an
// io-wq worker. Into written blocks the commit completes inline. Reused
// segment files are written already.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "queue/spool.h"
#include "relay/runtime/loop.h"

namespace ringpost {

class UringSpoolIo final : public queue::SpoolIo {
 public:
  struct Options {
    bool direct = true;  // O_DIRECT + RWF_DSYNC commits where the fs allows
  };

  explicit UringSpoolIo(runtime::Loop* loop) : UringSpoolIo(loop, Options()) {}
  UringSpoolIo(runtime::Loop* loop, Options options);
  ~UringSpoolIo() override;

  void WriteAndSync(int fd, uint64_t offset, std::string_view data, bool sync,
                    absl::AnyInvocable<void(int)> done) override;
  void OpenSegmentFile(std::string path, uint64_t size, bool create,
                       absl::AnyInvocable<void(int)> done) override;
  void Rename(std::string from, std::string to,
              absl::AnyInvocable<void(int)> done) override;
  void Unlink(std::string path, absl::AnyInvocable<void(int)> done) override;
  void Close(int fd) override;

  uint64_t writes() const { return writes_; }
  uint64_t syncs() const { return syncs_; }
  uint64_t direct_writes() const { return direct_writes_; }
  uint64_t head_reads() const { return head_reads_; }

  // An aligned buffer for O_DIRECT; returned to a small pool when done.
  struct AlignedBuffer {
    char* data = nullptr;
    size_t capacity = 0;
  };
  AlignedBuffer TakeBuffer(size_t bytes);
  void GiveBuffer(AlignedBuffer buffer);

 private:
  static constexpr size_t kBlock = 4096;
  static constexpr size_t kTailBytes = 2 * kBlock;

  // Per O_DIRECT file: the bytes of its last (up to two) written blocks, as
  // issued, starting at block-aligned `tail_offset`.
  struct DirectFile {
    uint64_t tail_offset = 0;
    size_t tail_len = 0;
    alignas(64) char tail[kTailBytes];
  };

  void WriteDirect(DirectFile* file, int fd, uint64_t offset, std::string_view data,
                   bool sync, absl::AnyInvocable<void(int)> done);
  void CompleteLater(int result, absl::AnyInvocable<void(int)> done);
  // Writes zeros over [offset, size) of an O_DIRECT file, then fdatasyncs it.
  void ZeroFill(int fd, uint64_t offset, uint64_t size, absl::AnyInvocable<void(int)> done);
  // fsync of the directory holding `path` (makes a create or rename durable).
  void SyncDirectoryOf(const std::string& path, absl::AnyInvocable<void(int)> done);

  runtime::Loop* loop_;
  Options options_;
  absl::flat_hash_map<int, std::unique_ptr<DirectFile>> direct_files_;
  std::vector<AlignedBuffer> free_buffers_;
  char* zeros_ = nullptr;  // 1 MiB of zeros for ZeroFill
  uint64_t writes_ = 0;
  uint64_t syncs_ = 0;
  uint64_t direct_writes_ = 0;
  uint64_t head_reads_ = 0;
};

}  // namespace ringpost
