// queue/spool_lock.cc — the lock that keeps two relays off one spool.
//
// Two processes on one spool destroy each other's mail: each recovers,
// retires and names segments as if it were alone (and SO_REUSEPORT lets the
// second bind the same ports). So the spool root carries a lock file, held
// with flock(LOCK_EX | LOCK_NB) for the life of the process. flock belongs
// to an open file description, so a second open+flock inside the same
// process would conflict with the first: the shards of one relay share one
// SpoolLock per root directory (found by device and inode) through a
// process-wide table. The lock dies with the process (kill -9 included), so
// a stale lock file never blocks a restart; the PID in it is only for the
// message.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "queue/spool.h"
#include "queue/spool_internal.h"

namespace ringpost::queue {

namespace {

using spool_internal::ErrnoText;

struct LockTable {
  struct Entry {
    int fd = -1;     // holds the flock
    size_t refs = 0;  // SpoolLock objects for this root
  };
  std::mutex mu;
  // (st_dev, st_ino) of a spool root -> its lock file, while referenced.
  std::map<std::pair<uint64_t, uint64_t>, Entry> locks;
};

LockTable& Table() {
  static LockTable* table = new LockTable();  // never destroyed: shards may
  return *table;                              // outlive static teardown
}

// The PID recorded in a lock file, as text ("unknown" when unreadable).
std::string HolderPid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "unknown";
  absl::string_view text(buf, static_cast<size_t>(n));
  text = absl::StripAsciiWhitespace(text);
  uint64_t pid = 0;
  if (!absl::SimpleAtoi(text, &pid) || pid == 0) return "unknown";
  return absl::StrCat(pid);
}

}  // namespace

namespace spool_internal {

int MakeDirDurable(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) != 0) return errno == EEXIST ? 0 : errno;
  return FsyncDir(DirName(dir));
}

}  // namespace spool_internal

absl::StatusOr<std::shared_ptr<SpoolLock>> SpoolLock::Acquire(
    const std::string& dir) {
  if (dir.empty()) {
    return absl::InvalidArgumentError("spool: no spool directory given");
  }
  if (const int err = spool_internal::MakeDirDurable(dir); err != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: cannot create directory ", dir, ": ",
                     ErrnoText(err),
                     " (check the spool path and its permissions)"));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: cannot stat directory ", dir, ": ", ErrnoText(errno)));
  }
  const std::pair<uint64_t, uint64_t> key(static_cast<uint64_t>(st.st_dev),
                                          static_cast<uint64_t>(st.st_ino));
  LockTable& table = Table();
  std::lock_guard<std::mutex> guard(table.mu);
  if (auto it = table.locks.find(key); it != table.locks.end()) {
    ++it->second.refs;
    return std::shared_ptr<SpoolLock>(
        new SpoolLock(dir, key.first, key.second));
  }
  const std::string path = absl::StrCat(dir, "/", kFileName);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: cannot open lock file ", path, ": ", ErrnoText(errno)));
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    std::string msg;
    if (err == EWOULDBLOCK) {
      msg = absl::StrCat("spool: ", dir,
                         " is in use by another ringpost process (pid ",
                         HolderPid(fd), ", holding ", path,
                         "); refusing to start on it. Stop that process or "
                         "give this one its own --spool");
    } else {
      msg = absl::StrCat("spool: cannot lock ", path, ": ", ErrnoText(err));
    }
    ::close(fd);
    return absl::FailedPreconditionError(msg);
  }
  // Ours now: record who holds it, for the next one's message.
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) !=
          static_cast<ssize_t>(pid.size())) {
    // Only the message of a refused second start needs it.
  }
  table.locks[key] = LockTable::Entry{fd, 1};
  return std::shared_ptr<SpoolLock>(new SpoolLock(dir, key.first, key.second));
}

SpoolLock::~SpoolLock() {
  LockTable& table = Table();
  std::lock_guard<std::mutex> guard(table.mu);
  auto it = table.locks.find({dev_, ino_});
  if (it == table.locks.end() || --it->second.refs > 0) return;
  ::close(it->second.fd);  // releases the flock
  table.locks.erase(it);
}

}  // namespace ringpost::queue
