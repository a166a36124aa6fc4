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
// for a buffered write linked to FSYNC(DATASYNC).
// O_DIRECT needs whole, aligned blocks, while the spool appends records at
// any offset (each batch overwrites the previous batch's zero terminator).
// So a write goes out as [the head of its first block][the data][zeros to
// the block end]; the zeros land after the spool's terminator, where the
// file is zero or stale anyway. The head comes from a copy this class keeps
// of each file's last two written blocks, updated when a write is issued
// (so: one write per file at a time, as the spool does; the bytes of a write
// that failed count as written).
// No copy of the data on the way: the spool encodes each batch into a buffer
// from NewWriteBuffer(offset), block-aligned memory whose data starts at
// offset % 4096, with room for the pad behind it. WriteBufferAndSync fills
// in the head (< 4 KiB; at issue time, as the batch before may not have been
// issued when the buffer was made) and the pad, and writes the buffer where
// it is. Other data (WriteAndSync: journal outcomes, file headers; a buffer
// made for another offset or by another SpoolIo) is copied into a pooled
// aligned buffer first. The pool keeps at most kMaxPooledBuffers free
// buffers, the largest.
// The copy of the last blocks only misses for a first write at an unaligned
// offset, which the spool never does (headers at 0, records from 4 KiB);
// then the head block is read with a blocking pread.
// Files the spool opened itself (journals reopened at start-up) and file
// systems without O_DIRECT (fcntl(F_SETFL, O_DIRECT) answers EINVAL) take
// the buffered path: a write from the data where it is, linked to
// FSYNC(DATASYNC).
// Memory a write in flight reads is never freed before the write ends: a
// pooled buffer goes back to the pool only from the write's completion, and
// the spool keeps its batch until then (~Spool with writes in flight keeps
// that memory for good). Destroyed with writes in flight (a drain that timed
// out: the loop no longer runs), this class frees only what no write reads.
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
#include <list>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "queue/spool.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/metric.h"

namespace ringpost {

class UringSpoolIo final : public queue::SpoolIo {
 public:
  struct Options {
    bool direct = true;  // O_DIRECT + RWF_DSYNC commits where the fs allows
    // When set: the duration of each successful WriteBufferAndSync (the
    // spool's group commit: write and sync) from its submission to its
    // completion, two clock readings per commit.
    runtime::Histogram* commit_seconds = nullptr;
  };

  explicit UringSpoolIo(runtime::Loop* loop) : UringSpoolIo(loop, Options()) {}
  UringSpoolIo(runtime::Loop* loop, Options options);
  ~UringSpoolIo() override;

  void WriteAndSync(int fd, uint64_t offset, std::string_view data, bool sync,
                    absl::AnyInvocable<void(int)> done) override;
  queue::WriteBuffer NewWriteBuffer(uint64_t offset, size_t capacity) override;
  void WriteBufferAndSync(int fd, uint64_t offset, queue::WriteBuffer* buffer, bool sync,
                          absl::AnyInvocable<void(int)> done) override;
  void OpenSegmentFile(std::string path, uint64_t size, bool create,
                       absl::AnyInvocable<void(int)> done) override;
  void Rename(std::string from, std::string to,
              absl::AnyInvocable<void(int)> done) override;
  void Unlink(std::string path, bool sync_dir,
              absl::AnyInvocable<void(int)> done) override;
  void Close(int fd) override;
  // On the loop's timer wheel; a timer still pending at destruction is
  // dropped unrun.
  void After(uint64_t ms, absl::AnyInvocable<void(int)> done) override;

  uint64_t writes() const { return writes_; }
  uint64_t syncs() const { return syncs_; }
  uint64_t direct_writes() const { return direct_writes_; }  // O_DIRECT writes
  uint64_t direct_copies() const { return direct_copies_; }  // of which copied the data
  uint64_t head_reads() const { return head_reads_; }
  size_t pooled_buffers() const { return free_buffers_.size(); }
  size_t timers_pending() const { return timers_.size(); }
  // Writes issued whose completion has not arrived yet.
  size_t writes_in_flight() const { return writes_in_flight_; }
  size_t* writes_in_flight_counter() { return &writes_in_flight_; }  // for the ops

  static constexpr size_t kBlock = 4096;  // O_DIRECT alignment
  static constexpr size_t kMaxPooledBuffers = 8;

  // An aligned buffer for O_DIRECT; returned to a small pool when done.
  struct AlignedBuffer {
    char* data = nullptr;
    size_t capacity = 0;  // a multiple of kBlock
  };
  AlignedBuffer TakeBuffer(size_t bytes);
  void GiveBuffer(AlignedBuffer buffer);

 protected:
  void ReleaseWriteBuffer(char* block, size_t block_bytes) override;

 private:
  static constexpr size_t kTailBytes = 2 * kBlock;

  // Per O_DIRECT file: the bytes of its last (up to two) written blocks, as
  // issued, starting at block-aligned `tail_offset`.
  struct DirectFile {
    uint64_t tail_offset = 0;
    size_t tail_len = 0;
    alignas(64) char tail[kTailBytes];
  };

  // WriteAndSync; `timed`: observed in Options::commit_seconds.
  void Write(int fd, uint64_t offset, std::string_view data, bool sync, bool timed,
             absl::AnyInvocable<void(int)> done);
  // Copies `data` into an aligned buffer, then IssueDirect.
  void WriteDirect(DirectFile* file, int fd, uint64_t offset, std::string_view data,
                   bool sync, bool timed, absl::AnyInvocable<void(int)> done);
  // `block` maps to file offset offset & ~(kBlock - 1) and holds `size` bytes
  // of data at offset % kBlock, with room up to the block end after them:
  // fills the head and the pad, updates the file's copy, issues the write.
  // `owned` (if any) goes back to the pool when the write ends.
  void IssueDirect(DirectFile* file, int fd, uint64_t offset, char* block, size_t size,
                   AlignedBuffer owned, bool sync, bool timed,
                   absl::AnyInvocable<void(int)> done);
  // Copies the `head` bytes of the file before `offset` (the start of its
  // block) to `out`: from the file's copy, else read from the file. 0 or -errno.
  int FillHead(DirectFile* file, int fd, uint64_t offset, char* out);
  void CompleteLater(int result, absl::AnyInvocable<void(int)> done);
  // Writes zeros over [offset, size) of an O_DIRECT file, then fdatasyncs it.
  void ZeroFill(int fd, uint64_t offset, uint64_t size, absl::AnyInvocable<void(int)> done);
  // fsync of the directory holding `path` (makes a create or rename durable).
  void SyncDirectoryOf(const std::string& path, absl::AnyInvocable<void(int)> done);

  struct PendingTimer {
    runtime::Timer timer;
    UringSpoolIo* io = nullptr;
    absl::AnyInvocable<void(int)> done;
    std::list<PendingTimer>::iterator self;
  };

  runtime::Loop* loop_;
  Options options_;
  std::list<PendingTimer> timers_;
  size_t zero_fills_in_flight_ = 0;  // writes reading zeros_
  size_t writes_in_flight_ = 0;      // WriteAndSync/WriteBufferAndSync
  absl::flat_hash_map<int, std::unique_ptr<DirectFile>> direct_files_;
  std::vector<AlignedBuffer> free_buffers_;
  char* zeros_ = nullptr;  // 1 MiB of zeros for ZeroFill
  uint64_t writes_ = 0;
  uint64_t syncs_ = 0;
  uint64_t direct_writes_ = 0;
  uint64_t direct_copies_ = 0;
  uint64_t head_reads_ = 0;
};

}  // namespace ringpost
