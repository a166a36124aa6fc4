// uring_spool_io.h — the spool's I/O seam driven by a shard's io_uring.
//
// Every spool operation becomes ring submissions on the shard's own loop:
// a commit group is one WRITE linked to one FSYNC(DATASYNC); segment files
// are created with OPENAT(O_EXCL) + FALLOCATE + an fsync of the directory,
// renamed with RENAMEAT + directory fsync, removed with UNLINKAT. No blocking
// system call on the shard thread.
#pragma once

#include "queue/spool.h"
#include "relay/runtime/loop.h"

namespace ringpost {

class UringSpoolIo final : public queue::SpoolIo {
 public:
  explicit UringSpoolIo(runtime::Loop* loop) : loop_(loop) {}
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

 private:
  // fsync of the directory holding `path` (makes a create or rename durable).
  void SyncDirectoryOf(const std::string& path, absl::AnyInvocable<void(int)> done);

  runtime::Loop* loop_;
  uint64_t writes_ = 0;
  uint64_t syncs_ = 0;
};

}  // namespace ringpost
