// uring_spool_io.cc — see uring_spool_io.h.
#include "relay/uring_spool_io.h"

#include <fcntl.h>

#include <memory>
#include <utility>

namespace ringpost {
namespace {

// One write (possibly continued after short writes) followed by fdatasync.
// The write and the sync are linked; both completions are awaited before
// `done` runs, so the caller learns "written and synced" or the first error.
class WriteSyncOp {
 public:
  WriteSyncOp(runtime::Loop* loop, int fd, uint64_t offset, std::string_view data,
              bool sync, absl::AnyInvocable<void(int)> done)
      : loop_(loop), fd_(fd), offset_(offset), data_(data), sync_(sync),
        done_(std::move(done)) {}

  void Issue() {
    const size_t left = data_.size() - written_;
    io_uring_sqe* sqe = loop_->Sqe(&write_done_);
    io_uring_prep_write(sqe, fd_, data_.data() + written_, static_cast<unsigned>(left),
                        offset_ + written_);
    pending_ = 1;
    if (sync_) {
      sqe->flags |= IOSQE_IO_LINK;
      sqe = loop_->Sqe(&sync_done_);
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      pending_ = 2;
    }
    write_res_ = 0;
    sync_res_ = 0;
  }

 private:
  void OnWrite(int32_t res, uint32_t) {
    write_res_ = res;
    Step();
  }
  void OnSync(int32_t res, uint32_t) {
    sync_res_ = res;
    Step();
  }
  void Step() {
    if (--pending_ > 0) return;
    if (write_res_ < 0) return Finish(write_res_);
    written_ += static_cast<size_t>(write_res_);
    if (write_res_ == 0) return Finish(-EIO);
    if (written_ < data_.size()) {
      // Short write: the linked sync was cancelled; continue from here.
      return Issue();
    }
    if (sync_ && sync_res_ < 0) return Finish(sync_res_);
    Finish(static_cast<int>(data_.size()));
  }
  void Finish(int result) {
    auto done = std::move(done_);
    delete this;
    done(result);
  }

  runtime::Loop* loop_;
  int fd_;
  uint64_t offset_;
  std::string_view data_;
  bool sync_;
  absl::AnyInvocable<void(int)> done_;
  size_t written_ = 0;
  int pending_ = 0;
  int32_t write_res_ = 0;
  int32_t sync_res_ = 0;
  runtime::MemberCompletion<WriteSyncOp, &WriteSyncOp::OnWrite> write_done_{this};
  runtime::MemberCompletion<WriteSyncOp, &WriteSyncOp::OnSync> sync_done_{this};
};

}  // namespace

void UringSpoolIo::WriteAndSync(int fd, uint64_t offset, std::string_view data,
                                bool sync, absl::AnyInvocable<void(int)> done) {
  ++writes_;
  if (sync) ++syncs_;
  (new WriteSyncOp(loop_, fd, offset, data, sync, std::move(done)))->Issue();
}

void UringSpoolIo::SyncDirectoryOf(const std::string& path,
                                   absl::AnyInvocable<void(int)> done) {
  const size_t slash = path.rfind('/');
  auto dir = std::make_shared<std::string>(
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)));
  io_uring_sqe* sqe = loop_->Sqe([this, dir, done = std::move(done)](int32_t dfd) mutable {
    if (dfd < 0) return done(dfd);
    io_uring_sqe* s = loop_->Sqe([this, dfd, done = std::move(done)](int32_t r) mutable {
      Close(dfd);
      done(r);
    });
    io_uring_prep_fsync(s, dfd, 0);
  });
  io_uring_prep_openat(sqe, AT_FDCWD, dir->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}

void UringSpoolIo::OpenSegmentFile(std::string path, uint64_t size, bool create,
                                   absl::AnyInvocable<void(int)> done) {
  auto owned = std::make_shared<std::string>(std::move(path));
  // On any failure after creating the file: close it, unlink it, report.
  auto fail = [this, owned](int fd, int err, absl::AnyInvocable<void(int)> cb) {
    Close(fd);
    Unlink(*owned, [err, cb = std::move(cb)](int) mutable { cb(err); });
  };
  io_uring_sqe* sqe = loop_->Sqe([this, owned, size, create, fail,
                                  done = std::move(done)](int32_t fd) mutable {
    if (fd < 0 || !create) return done(fd);
    io_uring_sqe* f = loop_->Sqe([this, owned, fd, fail,
                                  done = std::move(done)](int32_t r) mutable {
      if (r < 0) return fail(fd, r, std::move(done));
      // The new name must survive a crash before records go into the file.
      SyncDirectoryOf(*owned, [fd, fail, done = std::move(done)](int s) mutable {
        if (s < 0) return fail(fd, s, std::move(done));
        done(fd);
      });
    });
    io_uring_prep_fallocate(f, fd, 0, 0, static_cast<off_t>(size));
  });
  const int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  io_uring_prep_openat(sqe, AT_FDCWD, owned->c_str(), flags, 0640);
}

void UringSpoolIo::Rename(std::string from, std::string to,
                          absl::AnyInvocable<void(int)> done) {
  auto paths = std::make_shared<std::pair<std::string, std::string>>(std::move(from),
                                                                     std::move(to));
  io_uring_sqe* sqe = loop_->Sqe([this, paths, done = std::move(done)](int32_t r) mutable {
    if (r < 0) return done(r);
    SyncDirectoryOf(paths->second, std::move(done));
  });
  io_uring_prep_renameat(sqe, AT_FDCWD, paths->first.c_str(), AT_FDCWD,
                         paths->second.c_str(), 0);
}

void UringSpoolIo::Unlink(std::string path, absl::AnyInvocable<void(int)> done) {
  auto owned = std::make_shared<std::string>(std::move(path));
  io_uring_sqe* sqe = loop_->Sqe([owned, done = std::move(done)](int32_t r) mutable {
    done(r);
  });
  io_uring_prep_unlinkat(sqe, AT_FDCWD, owned->c_str(), 0);
}

void UringSpoolIo::Close(int fd) {
  io_uring_sqe* sqe = loop_->Sqe(static_cast<runtime::Completion*>(nullptr));
  io_uring_prep_close(sqe, fd);
}

}  // namespace ringpost
