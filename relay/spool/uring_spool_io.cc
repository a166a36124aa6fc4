// uring_spool_io.cc — see uring_spool_io.h.
#include "relay/spool/uring_spool_io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

namespace ringpost {
namespace {

// One write (possibly continued after short writes) followed by fdatasync.
// The write and the sync are linked; both completions are awaited before
// `done` runs, so the caller learns "written and synced" or the first error.
class WriteSyncOp {
 public:
  WriteSyncOp(runtime::Loop* loop, size_t* in_flight, int fd, uint64_t offset,
              std::string_view data, bool sync, absl::AnyInvocable<void(int)> done)
      : loop_(loop), in_flight_(in_flight), fd_(fd), offset_(offset), data_(data),
        sync_(sync), done_(std::move(done)) {
    ++*in_flight_;
  }

  // Observes the time from now to a successful completion in `h`.
  void Time(runtime::Histogram* h) {
    timed_ = h;
    started_ns_ = runtime::MonotonicNs();
  }

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
    if (timed_ != nullptr && result >= 0) timed_->Observe(runtime::MonotonicNs() - started_ns_);
    auto done = std::move(done_);
    --*in_flight_;
    delete this;
    done(result);
  }

  runtime::Loop* loop_;
  size_t* in_flight_;
  int fd_;
  uint64_t offset_;
  std::string_view data_;
  bool sync_;
  absl::AnyInvocable<void(int)> done_;
  size_t written_ = 0;
  int pending_ = 0;
  int32_t write_res_ = 0;
  int32_t sync_res_ = 0;
  runtime::Histogram* timed_ = nullptr;
  uint64_t started_ns_ = 0;
  runtime::MemberCompletion<WriteSyncOp, &WriteSyncOp::OnWrite> write_done_{this};
  runtime::MemberCompletion<WriteSyncOp, &WriteSyncOp::OnSync> sync_done_{this};
};

// One block-aligned O_DIRECT write of block[0, length) from aligned memory,
// with RWF_DSYNC when durable: written and synced in one operation. Reports
// `report` bytes (what the caller asked to write) on success. `owned`, if
// any, goes back to the pool at the end (the caller keeps other memory).
class DirectWriteOp {
 public:
  DirectWriteOp(runtime::Loop* loop, UringSpoolIo* io, int fd, uint64_t offset,
                const char* block, size_t length, UringSpoolIo::AlignedBuffer owned,
                bool sync, int report, absl::AnyInvocable<void(int)> done)
      : loop_(loop), io_(io), fd_(fd), offset_(offset), block_(block), length_(length),
        owned_(owned), sync_(sync), report_(report), done_(std::move(done)) {
    ++*io_->writes_in_flight_counter();
  }

  // Observes the time from now to a successful completion in `h`.
  void Time(runtime::Histogram* h) {
    timed_ = h;
    started_ns_ = runtime::MonotonicNs();
  }

  void Issue() {
    io_uring_sqe* sqe = loop_->Sqe(&write_done_);
    io_uring_prep_write(sqe, fd_, block_ + written_,
                        static_cast<unsigned>(length_ - written_), offset_ + written_);
    if (sync_) sqe->rw_flags = RWF_DSYNC;
  }

 private:
  void OnWrite(int32_t res, uint32_t) {
    if (res < 0) return Finish(res);
    if (res == 0) return Finish(-EIO);
    written_ += static_cast<size_t>(res);
    if (written_ < length_) {
      // A short O_DIRECT write can only continue from a block boundary.
      if (written_ % UringSpoolIo::kBlock != 0) return Finish(-EIO);
      return Issue();
    }
    Finish(report_);
  }
  void Finish(int result) {
    if (timed_ != nullptr && result >= 0) timed_->Observe(runtime::MonotonicNs() - started_ns_);
    auto done = std::move(done_);
    if (owned_.data != nullptr) io_->GiveBuffer(owned_);
    --*io_->writes_in_flight_counter();
    delete this;
    done(result);
  }

  runtime::Loop* loop_;
  UringSpoolIo* io_;
  int fd_;
  uint64_t offset_;
  const char* block_;
  size_t length_;
  UringSpoolIo::AlignedBuffer owned_;
  bool sync_;
  int report_;
  absl::AnyInvocable<void(int)> done_;
  size_t written_ = 0;
  runtime::Histogram* timed_ = nullptr;
  uint64_t started_ns_ = 0;
  runtime::MemberCompletion<DirectWriteOp, &DirectWriteOp::OnWrite> write_done_{this};
};

}  // namespace

UringSpoolIo::UringSpoolIo(runtime::Loop* loop, Options options)
    : loop_(loop), options_(options) {}

UringSpoolIo::~UringSpoolIo() {
  for (PendingTimer& t : timers_) loop_->timers().Disarm(&t.timer);
  for (AlignedBuffer& b : free_buffers_) free(b.data);
  // A zero fill still in flight reads zeros_ (see the header): leave it.
  if (zero_fills_in_flight_ == 0) free(zeros_);
}

UringSpoolIo::AlignedBuffer UringSpoolIo::TakeBuffer(size_t bytes) {
  // The smallest that fits: commit buffers are large (commit_max_bytes),
  // copies of journal writes and headers small.
  size_t best = free_buffers_.size();
  for (size_t i = 0; i < free_buffers_.size(); ++i) {
    if (free_buffers_[i].capacity >= bytes &&
        (best == free_buffers_.size() ||
         free_buffers_[i].capacity < free_buffers_[best].capacity)) {
      best = i;
    }
  }
  if (best < free_buffers_.size()) {
    AlignedBuffer b = free_buffers_[best];
    free_buffers_[best] = free_buffers_.back();
    free_buffers_.pop_back();
    return b;
  }
  constexpr size_t kGrain = 64 * 1024;
  const size_t capacity = std::max(kGrain, (bytes + kGrain - 1) / kGrain * kGrain);
  AlignedBuffer b;
  b.data = static_cast<char*>(aligned_alloc(kBlock, capacity));
  b.capacity = b.data != nullptr ? capacity : 0;
  return b;
}

void UringSpoolIo::GiveBuffer(AlignedBuffer buffer) {
  // A few buffers cover the writes in flight and the batches being filled
  // (a few per file); keep the largest.
  if (free_buffers_.size() < kMaxPooledBuffers) {
    free_buffers_.push_back(buffer);
    return;
  }
  auto smallest = std::min_element(
      free_buffers_.begin(), free_buffers_.end(),
      [](const AlignedBuffer& a, const AlignedBuffer& b) { return a.capacity < b.capacity; });
  if (smallest->capacity < buffer.capacity) std::swap(*smallest, buffer);
  free(buffer.data);
}

void UringSpoolIo::WriteAndSync(int fd, uint64_t offset, std::string_view data,
                                bool sync, absl::AnyInvocable<void(int)> done) {
  Write(fd, offset, data, sync, /*timed=*/false, std::move(done));
}

void UringSpoolIo::Write(int fd, uint64_t offset, std::string_view data, bool sync,
                         bool timed, absl::AnyInvocable<void(int)> done) {
  ++writes_;
  if (sync) ++syncs_;
  auto it = direct_files_.find(fd);
  if (it != direct_files_.end()) {
    return WriteDirect(it->second.get(), fd, offset, data, sync, timed, std::move(done));
  }
  auto* op = new WriteSyncOp(loop_, &writes_in_flight_, fd, offset, data, sync, std::move(done));
  if (timed && options_.commit_seconds != nullptr) op->Time(options_.commit_seconds);
  op->Issue();
}

queue::WriteBuffer UringSpoolIo::NewWriteBuffer(uint64_t offset, size_t capacity) {
  // Room for the head of the first block in front, and for the pad behind
  // any size up to `capacity` (the buffer is whole blocks).
  const size_t head = offset % kBlock;
  const size_t bytes = (head + capacity + kBlock - 1) & ~(kBlock - 1);
  AlignedBuffer b = TakeBuffer(bytes);
  if (b.data == nullptr) return queue::WriteBuffer();
  return queue::WriteBuffer(this, b.data, b.capacity, head);
}

void UringSpoolIo::ReleaseWriteBuffer(char* block, size_t block_bytes) {
  GiveBuffer(AlignedBuffer{block, block_bytes});
}

void UringSpoolIo::WriteBufferAndSync(int fd, uint64_t offset, queue::WriteBuffer* buffer,
                                      bool sync, absl::AnyInvocable<void(int)> done) {
  auto it = direct_files_.find(fd);
  if (it == direct_files_.end() || buffer->owner() != this ||
      buffer->headroom() != offset % kBlock) {
    // Buffered files write from the data as it is; a foreign buffer or one
    // made for another offset gets copied to an aligned one.
    return Write(fd, offset, buffer->view(), sync, /*timed=*/true, std::move(done));
  }
  ++writes_;
  if (sync) ++syncs_;
  IssueDirect(it->second.get(), fd, offset, buffer->block(), buffer->size(), AlignedBuffer(),
              sync, /*timed=*/true, std::move(done));
}

void UringSpoolIo::CompleteLater(int result, absl::AnyInvocable<void(int)> done) {
  // Never from inside the call (SpoolIo contract): through a NOP's completion.
  io_uring_sqe* sqe = loop_->Sqe([result, done = std::move(done)](int32_t) mutable {
    done(result);
  });
  io_uring_prep_nop(sqe);
}

void UringSpoolIo::WriteDirect(DirectFile* file, int fd, uint64_t offset,
                               std::string_view data, bool sync, bool timed,
                               absl::AnyInvocable<void(int)> done) {
  const size_t head = offset % kBlock;
  AlignedBuffer buffer = TakeBuffer((head + data.size() + kBlock - 1) & ~(kBlock - 1));
  if (buffer.data == nullptr) {
    return CompleteLater(-ENOMEM, std::move(done));
  }
  ++direct_copies_;
  memcpy(buffer.data + head, data.data(), data.size());
  IssueDirect(file, fd, offset, buffer.data, data.size(), buffer, sync, timed, std::move(done));
}

int UringSpoolIo::FillHead(DirectFile* file, int fd, uint64_t offset, char* out) {
  const uint64_t start = offset & ~static_cast<uint64_t>(kBlock - 1);
  const size_t head = offset - start;
  if (head == 0) return 0;
  if (start >= file->tail_offset && offset <= file->tail_offset + file->tail_len) {
    memcpy(out, file->tail + (start - file->tail_offset), head);
    return 0;
  }
  // Not written through us yet (see the header): read the block. O_DIRECT
  // reads whole aligned blocks, so into a scratch buffer (`out` holds data
  // after the head).
  ++head_reads_;
  AlignedBuffer scratch = TakeBuffer(kBlock);
  if (scratch.data == nullptr) return -ENOMEM;
  const ssize_t r = pread(fd, scratch.data, kBlock, static_cast<off_t>(start));
  const int err = r < 0 ? errno : 0;
  if (r >= 0) {
    const size_t got = std::min(static_cast<size_t>(r), head);
    memcpy(out, scratch.data, got);
    memset(out + got, 0, head - got);
  }
  GiveBuffer(scratch);
  return -err;
}

void UringSpoolIo::IssueDirect(DirectFile* file, int fd, uint64_t offset, char* block,
                               size_t size, AlignedBuffer owned, bool sync, bool timed,
                               absl::AnyInvocable<void(int)> done) {
  ++direct_writes_;
  const uint64_t start = offset & ~static_cast<uint64_t>(kBlock - 1);
  const uint64_t end = offset + size;
  const uint64_t aligned_end = (end + kBlock - 1) & ~static_cast<uint64_t>(kBlock - 1);
  const size_t head = offset - start;
  if (const int err = FillHead(file, fd, offset, block); err != 0) {
    if (owned.data != nullptr) GiveBuffer(owned);
    return CompleteLater(err, std::move(done));
  }
  memset(block + head + size, 0, aligned_end - end);
  // Remember the last blocks for the next write, which starts at or after
  // this one's end minus the terminator.
  const uint64_t last_block = (end - 1) & ~static_cast<uint64_t>(kBlock - 1);
  file->tail_offset = last_block >= start + kBlock ? last_block - kBlock : start;
  file->tail_len = end - file->tail_offset;
  memcpy(file->tail, block + (file->tail_offset - start), file->tail_len);
  auto* op = new DirectWriteOp(loop_, this, fd, start, block, aligned_end - start, owned, sync,
                               static_cast<int>(size), std::move(done));
  if (timed && options_.commit_seconds != nullptr) op->Time(options_.commit_seconds);
  op->Issue();
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
    Unlink(*owned, /*sync_dir=*/false, [err, cb = std::move(cb)](int) mutable { cb(err); });
  };
  io_uring_sqe* sqe = loop_->Sqe([this, owned, size, create, fail,
                                  done = std::move(done)](int32_t fd) mutable {
    if (fd >= 0 && options_.direct) {
      // O_DIRECT where the file system has it (fcntl answers EINVAL where
      // not; no I/O, so it does not block the shard).
      const int flags = fcntl(fd, F_GETFL);
      if (flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0) {
        direct_files_[fd] = std::make_unique<DirectFile>();
      }
    }
    if (fd < 0 || !create) return done(fd);
    io_uring_sqe* f = loop_->Sqe([this, owned, fd, size, fail,
                                  done = std::move(done)](int32_t r) mutable {
      if (r < 0) return fail(fd, r, std::move(done));
      // The new name must survive a crash before records go into the file.
      auto sync_dir = [this, owned, fd, fail, done = std::move(done)](int z) mutable {
        if (z < 0) return fail(fd, z, std::move(done));
        SyncDirectoryOf(*owned, [fd, fail, done = std::move(done)](int s) mutable {
          if (s < 0) return fail(fd, s, std::move(done));
          done(fd);
        });
      };
      if (direct_files_.contains(fd)) return ZeroFill(fd, 0, size, std::move(sync_dir));
      sync_dir(0);
    });
    io_uring_prep_fallocate(f, fd, 0, 0, static_cast<off_t>(size));
  });
  const int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  io_uring_prep_openat(sqe, AT_FDCWD, owned->c_str(), flags, 0640);
}

void UringSpoolIo::ZeroFill(int fd, uint64_t offset, uint64_t size,
                            absl::AnyInvocable<void(int)> done) {
  constexpr size_t kChunk = 1 << 20;
  if (zeros_ == nullptr) {
    zeros_ = static_cast<char*>(aligned_alloc(kBlock, kChunk));
    if (zeros_ == nullptr) return CompleteLater(-ENOMEM, std::move(done));
    memset(zeros_, 0, kChunk);
  }
  if (offset >= size) {
    // Make the now-written extents durable once, so that commits into them
    // need no metadata of their own.
    io_uring_sqe* sqe = loop_->Sqe([done = std::move(done)](int32_t r) mutable {
      done(r < 0 ? r : 0);
    });
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    return;
  }
  const size_t chunk = static_cast<size_t>(std::min<uint64_t>(kChunk, size - offset));
  ++zero_fills_in_flight_;
  io_uring_sqe* sqe = loop_->Sqe([this, fd, offset, size, chunk,
                                  done = std::move(done)](int32_t r) mutable {
    --zero_fills_in_flight_;
    if (r < 0) return done(r);
    if (r == 0 || r % kBlock != 0) return done(-EIO);
    ZeroFill(fd, offset + static_cast<uint64_t>(r), size, std::move(done));
  });
  io_uring_prep_write(sqe, fd, zeros_, static_cast<unsigned>(chunk), offset);
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

void UringSpoolIo::Unlink(std::string path, bool sync_dir,
                          absl::AnyInvocable<void(int)> done) {
  auto owned = std::make_shared<std::string>(std::move(path));
  io_uring_sqe* sqe =
      loop_->Sqe([this, owned, sync_dir, done = std::move(done)](int32_t r) mutable {
        if (r < 0 || !sync_dir) return done(r);
        SyncDirectoryOf(*owned, std::move(done));
      });
  io_uring_prep_unlinkat(sqe, AT_FDCWD, owned->c_str(), 0);
}

void UringSpoolIo::After(uint64_t ms, absl::AnyInvocable<void(int)> done) {
  timers_.emplace_back();
  PendingTimer& t = timers_.back();
  t.self = std::prev(timers_.end());
  t.io = this;
  t.done = std::move(done);
  t.timer.context = &t;
  t.timer.callback = [](runtime::Timer* timer) {
    auto* pending = static_cast<PendingTimer*>(timer->context);
    auto fire = std::move(pending->done);
    pending->io->timers_.erase(pending->self);  // disarmed already
    fire(0);
  };
  loop_->timers().Arm(&t.timer, loop_->now_ms() + ms);
}

void UringSpoolIo::Close(int fd) {
  direct_files_.erase(fd);
  io_uring_sqe* sqe = loop_->Sqe(static_cast<runtime::Completion*>(nullptr));
  io_uring_prep_close(sqe, fd);
}

}  // namespace ringpost
