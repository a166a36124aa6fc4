// queue/spool_internal.h — private state of Spool, shared by spool.cc (run
// time) and spool_recovery.cc (start-up). Not an API: include only from
// those two files.
//
// Invariants of a Segment (checked where they change):
//   - dat_reserved is where the next staged record goes; staged batches are
//     contiguous: inflight, then pending[0], pending[1], ... end at it.
//   - At most one write per file is in flight (dat_inflight, jnl_writing).
//   - jnl_reserved >= jnl_tail: journal room promised to the recipients of
//     the segment's messages (one outcome record each).
//   - `slots` holds every message staged or committed here, in append order
//     (MessageLocator::slot); a slot is empty once all its recipients are
//     done or its append failed, and `live` counts the others. A sealed
//     segment with live == 0 and no write in flight is retired.
#pragma once

#include <cerrno>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "queue/record.h"
#include "queue/spool.h"

namespace ringpost::queue {

struct Spool::Waiter {
  uint32_t slot = 0;  // in Segment::slots
  absl::AnyInvocable<void(absl::Status)> done;
};

// One commit group's worth of encoded records for one segment file.
struct Spool::Batch {
  uint64_t offset = 0;      // file offset of data.data()[0]
  size_t record_bytes = 0;  // data.size() before the terminator was added
  // From io_->NewWriteBuffer(offset, ...), with room for the terminator.
  WriteBuffer data;
  std::vector<Waiter> waiters;
};

// Progress of preparing the spare segment (see Spool::PrepareStep).
struct Spool::Prepare {
  bool reuse = false;      // from free-<free_name>, else a new file
  uint64_t free_name = 0;
  int step = 0;            // the operation whose completion comes next
  // New files this attempt created: the only seg-<seq> names a failed
  // attempt may remove (a name that existed before is not ours to touch).
  bool dat_created = false;
  bool jnl_created = false;
  std::string header;      // header block being written
};

// Which recipients of a message have a final outcome. Up to 64 recipients
// (nearly every message) fit in an inline mask: no heap allocation.
struct Spool::MessageState {
 public:
  // No recipient done yet.
  explicit MessageState(uint32_t recipients);
  // done[i]: recipient i is done; `remaining` must be the count of false.
  MessageState(uint32_t remaining, const std::vector<bool>& done);
  MessageState(MessageState&&) noexcept = default;
  MessageState& operator=(MessageState&&) noexcept = default;

  uint32_t recipients() const { return recipients_; }
  uint32_t remaining() const { return remaining_; }
  // Marks recipient i (< recipients()) done; false if it already was.
  bool MarkDone(uint32_t i);

 private:
  uint64_t* words() { return recipients_ <= 64 ? &mask_ : more_.get(); }

  uint32_t recipients_ = 0;
  uint32_t remaining_ = 0;           // recipients without a final outcome
  uint64_t mask_ = 0;                // bit i: recipient i done (<= 64)
  std::unique_ptr<uint64_t[]> more_;  // the same, for > 64 recipients
};

struct Spool::Segment {
  explicit Segment(uint64_t s) : seq(s) {}

  const uint64_t seq;
  bool ready = false;       // files open, headers on disk
  bool sealed = false;      // takes no more appends
  bool dat_broken = false;  // a segment write failed: file state unknown
  bool dirty = false;       // listed in Spool::dirty_
  int dat_fd = -1;
  int jnl_fd = -1;
  uint64_t dat_size = 0;
  uint64_t jnl_size = 0;

  uint64_t dat_reserved = kFileHeaderBytes;
  std::deque<std::unique_ptr<Batch>> dat_pending;
  std::unique_ptr<Batch> dat_inflight;

  uint64_t jnl_tail = kFileHeaderBytes;  // end of journal data on disk
  uint64_t jnl_reserved = kFileHeaderBytes;
  std::string jnl_pending;
  std::string jnl_inflight;
  size_t jnl_inflight_bytes = 0;  // records in jnl_inflight (no terminator)
  bool jnl_writing = false;
  bool jnl_broken = false;
  bool jnl_sync_next = false;  // jnl_pending holds cancellations: fdatasync
  // Waiters of a failed segment write, answered once the cancellation of
  // their messages is durable: when jnl_tail reaches cancel_end (or the
  // journal breaks).
  std::vector<Waiter> cancel_waiters;
  uint64_t cancel_end = 0;
  absl::Status cancel_status;

  // Indexed, not hashed: appends and outcomes touch a few recent slots
  // (cache-warm) instead of a table spread over the whole segment.
  // A slot is empty (all recipients done, or the append failed) when its
  // state has no recipients; ids are not a marker, since a recovered record
  // may carry any id, 0 included.
  struct Slot {
    uint64_t id;
    MessageState state;
    bool empty() const { return state.recipients() == 0; }
  };
  std::vector<Slot> slots;
  size_t live = 0;
  std::unique_ptr<Prepare> prepare;  // while !ready
};

namespace spool_internal {

inline constexpr int kShardBits = 10;
inline constexpr int kCounterBits = 64 - kShardBits;
inline constexpr uint64_t kCounterMask = (uint64_t{1} << kCounterBits) - 1;
inline constexpr uint64_t kMinSegmentBytes = 64u << 10;
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{4} << 30;
inline constexpr uint64_t kMinJournalBytes = 64u << 10;

// <shard_dir>/ids: the persisted upper bound on issued id counters
// (format: EncodeIdFile in queue/record.h).
inline constexpr char kIdFileName[] = "ids";
// When the ids file is damaged: how far above the clock and the recovered
// ids to start (2^40 µs is 12.7 days, 256 leases).
inline constexpr uint64_t kIdDamageJump = uint64_t{1} << 40;

// counter + lease, kept within the counter's range.
inline uint64_t IdBound(uint64_t counter, uint64_t lease) {
  return counter >= kCounterMask - lease ? kCounterMask : counter + lease;
}

// Debian's abseil 20220623 has its own string_view (not std's): convert at
// the boundary.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

const char* ErrnoText(int err);
// ENOSPC/EDQUOT -> ResourceExhausted (452 4.3.1), else Unavailable.
absl::Status ErrnoStatus(int err, std::string_view what);
std::string DirName(const std::string& path);
// fsync(2) of a directory: 0 or errno.
int FsyncDir(const std::string& dir);
// For tests (spool_test.cc may include this header for it): when set, told
// the path of every directory FsyncDir syncs. Not thread-safe to change.
inline void (*fsync_dir_observer)(const std::string& dir) = nullptr;
// mkdir(2) of `dir`; when it made it, fsync of its parent so that the new
// name survives a power loss. 0 (made or already there) or errno.
int MakeDirDurable(const std::string& dir);

}  // namespace spool_internal
}  // namespace ringpost::queue
