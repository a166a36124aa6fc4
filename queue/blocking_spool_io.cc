// queue/blocking_spool_io.cc — SpoolIo on blocking syscalls, with fault knobs.
//
// Each operation runs to completion inside the call; its result is queued and
// delivered by RunPending(), so callers see the same "never re-entrant"
// ordering as with io_uring. Timers (After) wait for FireTimers(): the test
// decides when time has passed. Bounded: pwrite loops make progress every turn
// or stop; EINTR is retried a fixed number of times.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <utility>

#include "base/check.h"
#include "queue/spool.h"
#include "queue/spool_internal.h"

namespace ringpost::queue {

namespace {
constexpr int kMaxEintrRetries = 100;
}  // namespace

void BlockingSpoolIo::Complete(absl::AnyInvocable<void(int)> done,
                               int result) {
  queue_.emplace_back(std::move(done), result);
}

void BlockingSpoolIo::WriteAndSync(int fd, uint64_t offset,
                                   std::string_view data, bool sync,
                                   absl::AnyInvocable<void(int)> done) {
  CHECK(data.size() <= static_cast<size_t>(INT_MAX));
  ++counters_.writes;
  if (fail_write_errno_ != 0) {
    const int err = fail_write_errno_;
    fail_write_errno_ = 0;
    Complete(std::move(done), -err);
    return;
  }
  size_t written = 0;
  int eintr = 0;
  while (written < data.size()) {
    const ssize_t n = ::pwrite(fd, data.data() + written, data.size() - written,
                               static_cast<off_t>(offset + written));
    if (n < 0) {
      if (errno == EINTR && ++eintr < kMaxEintrRetries) continue;
      Complete(std::move(done), -errno);
      return;
    }
    if (n == 0) {
      Complete(std::move(done), -EIO);
      return;
    }
    written += static_cast<size_t>(n);
  }
  counters_.bytes_written += data.size();
  if (sync) {
    ++counters_.syncs;
    if (fail_sync_errno_ != 0 || fail_syncs_errno_ != 0) {
      const int err =
          fail_sync_errno_ != 0 ? fail_sync_errno_ : fail_syncs_errno_;
      fail_sync_errno_ = 0;
      Complete(std::move(done), -err);
      return;
    }
    if (::fdatasync(fd) != 0) {
      Complete(std::move(done), -errno);
      return;
    }
  }
  Complete(std::move(done), static_cast<int>(data.size()));
}

WriteBuffer BlockingSpoolIo::NewWriteBuffer(uint64_t offset, size_t capacity) {
  WriteBuffer b = SpoolIo::NewWriteBuffer(offset, capacity);
  if (b.capacity() > 0) ++counters_.buffers_made;
  return b;
}

void BlockingSpoolIo::ReleaseWriteBuffer(char* block, size_t block_bytes) {
  ++counters_.buffers_released;
  SpoolIo::ReleaseWriteBuffer(block, block_bytes);
}

void BlockingSpoolIo::WriteBufferAndSync(int fd, uint64_t offset,
                                         WriteBuffer* buffer, bool sync,
                                         absl::AnyInvocable<void(int)> done) {
  ++counters_.buffer_writes;
  WriteAndSync(fd, offset, buffer->view(), sync, std::move(done));
}

void BlockingSpoolIo::OpenSegmentFile(std::string path, uint64_t size,
                                      bool create,
                                      absl::AnyInvocable<void(int)> done) {
  if (!create) {
    ++counters_.opens;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    Complete(std::move(done), fd < 0 ? -errno : fd);
    return;
  }
  ++counters_.creates;
  const int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    Complete(std::move(done), -errno);
    return;
  }
  int err = 0;
  if (fail_fallocate_errno_ != 0) {
    err = fail_fallocate_errno_;
  } else if (::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0) {
    err = errno;
    // File systems without fallocate: a sized (sparse) file still works,
    // only without the early ENOSPC.
    if (err == EOPNOTSUPP &&
        ::ftruncate(fd, static_cast<off_t>(size)) == 0) {
      err = 0;
    }
  }
  if (err == 0) {
    ++counters_.dir_syncs;
    err = spool_internal::FsyncDir(spool_internal::DirName(path));
  }
  if (err != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    Complete(std::move(done), -err);
    return;
  }
  Complete(std::move(done), fd);
}

void BlockingSpoolIo::Rename(std::string from, std::string to,
                             absl::AnyInvocable<void(int)> done) {
  ++counters_.renames;
  if (::rename(from.c_str(), to.c_str()) != 0) {
    Complete(std::move(done), -errno);
    return;
  }
  ++counters_.dir_syncs;
  const int err = spool_internal::FsyncDir(spool_internal::DirName(to));
  Complete(std::move(done), -err);
}

void BlockingSpoolIo::Unlink(std::string path, bool sync_dir,
                             absl::AnyInvocable<void(int)> done) {
  ++counters_.unlinks;
  if (::unlink(path.c_str()) != 0) {
    Complete(std::move(done), -errno);
    return;
  }
  int err = 0;
  if (sync_dir) {
    ++counters_.dir_syncs;
    err = spool_internal::FsyncDir(spool_internal::DirName(path));
  }
  Complete(std::move(done), -err);
}

void BlockingSpoolIo::After(uint64_t ms, absl::AnyInvocable<void(int)> done) {
  timers_.push_back(std::move(done));
}

size_t BlockingSpoolIo::FireTimers() {
  std::vector<absl::AnyInvocable<void(int)>> due;
  due.swap(timers_);
  for (auto& t : due) t(0);
  return due.size();
}

void BlockingSpoolIo::Close(int fd) {
  CHECK(fd >= 0);
  ::close(fd);
}

size_t BlockingSpoolIo::RunPending(size_t max_callbacks) {
  size_t ran = 0;
  while (!queue_.empty() && ran < max_callbacks) {
    auto [done, result] = std::move(queue_.front());
    queue_.pop_front();
    done(result);
    ++ran;
  }
  return ran;
}

}  // namespace ringpost::queue
