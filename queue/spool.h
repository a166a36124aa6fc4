// queue/spool.h — the per-shard durable spool: segments, group commit, journal
// of outcomes, recycling, and start-up recovery.
//
// What it promises (docs/DESIGN "Spool (durability contract)"):
//   - A message's `committed` callback gets OK only after the write holding
//     its record returned and (Options::durable) was fdatasync'ed. The server
//     answers 250 on that callback and on nothing else.
//   - Every message whose callback got OK is returned by recovery after a
//     crash, until each of its recipients has a final outcome (MarkDone).
//     Outcomes are written with the next flush but not necessarily synced:
//     losing one only causes a duplicate delivery.
//   - When no new segment can be created AppendMessage fails with
//     ResourceExhausted for lack of space (452 4.3.1) or Unavailable for
//     any other error (451 4.3.0), while everything already queued keeps
//     being served and retired; a timer (Options::retry_ms) retries the
//     creation until it works.
//   - One process per spool: Open locks the root (SpoolLock) before it
//     touches anything, and a failed preparation removes only files it
//     made itself.
//
// Files: <dir>/lock (SpoolLock); in <dir>/shard-<N>/:
//   seg-<seq>.dat  preallocated segment: 4 KiB header, then message records
//   seg-<seq>.jnl  preallocated journal (1/16 of the segment): 4 KiB header,
//                  then outcome records for that segment's messages
//   free-<k>.dat/.jnl  a done segment kept for reuse (no fallocate, and the
//                  data blocks are already written, so fdatasync is cheaper)
// A segment's `seq` is never reused: a free file gets a NEW seq written into
// its header (and synced) before it is renamed to seg-<seq>, so records left
// from its earlier use carry an older seq and are recognised as stale.
//
// Group commit: AppendMessage encodes the record straight into the pending
// batch of the segment it will live in: a WriteBuffer the SpoolIo made for
// the batch's file offset (NewWriteBuffer), so that the body is copied once,
// into memory the write goes out from as is. The shard calls Flush() once per
// loop turn; for each file with staged bytes and no write in flight it issues
// ONE WriteBufferAndSync covering the staged batch (bounded by
// commit_max_bytes) plus a 24-byte zero terminator, which the next batch
// overwrites. At most one write per file is in flight; later appends wait for
// the next Flush after it ends. Journal outcomes and file headers are small
// and go through WriteAndSync from a std::string.
//
// Rollover: when the active segment passes half full, the next one (a free
// file, or a new preallocated one) is prepared asynchronously, so switching
// does not wait for file creation. A message that does not fit seals the
// active segment and goes to that spare; if the spare is still being
// prepared, the message waits staged in it.
//
// A failed write or fdatasync fails every message of that batch and of the
// batches behind it, and abandons the segment for new writes (its state on
// disk is unknown). The failed batch's records may be on disk anyway, so
// each of its messages gets a cancellation record in the journal (synced)
// before its callback runs, and recovery skips them. Its earlier,
// acknowledged messages are still tracked; when they are done the file is
// unlinked rather than reused.
//
// Threading: a Spool belongs to one shard thread. All I/O goes through the
// SpoolIo seam; completions must arrive on the same thread, never from inside
// the call that started the operation. Start-up recovery (Open) uses blocking
// syscalls directly. Callbacks must not destroy the Spool.
//
// Usage:
//   std::vector<RecoveredMessage> recovered;
//   auto spool = Spool::Open(options, &io, &recovered);   // at start-up
//   for (auto& r : recovered) schedule(r.locator, r.record, r.done);
//   ...
//   MessageRecord m = ...; m.id = (*spool)->NewMessageId();
//   auto loc = (*spool)->AppendMessage(m, [](absl::Status s) { reply(s); });
//   if (!loc.ok()) reply(loc.status());                 // 452 / 554 now
//   ... once per loop turn: (*spool)->Flush();
//   ... per recipient, on its final outcome: (*spool)->MarkDone(*loc, i, kind);
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "queue/record.h"

namespace ringpost::queue {

class SpoolIo;

// Memory one segment write is encoded into and written from, made by
// SpoolIo::NewWriteBuffer: size() bytes at data(), room for capacity() -
// size() more. The SpoolIo that made it owns the headroom() bytes in front
// of data(), and, while the buffer is being written, the room behind the
// data (UringSpoolIo puts the head of the first block and the zero pad to
// the block end there). Move-only; its memory goes back to that SpoolIo on
// destruction or Reset(), so the SpoolIo must outlive it. An empty
// WriteBuffer (capacity() == 0) is what a failed allocation returns.
class WriteBuffer {
 public:
  WriteBuffer() = default;
  WriteBuffer(WriteBuffer&& other) noexcept { *this = std::move(other); }
  WriteBuffer& operator=(WriteBuffer&& other) noexcept;
  WriteBuffer(const WriteBuffer&) = delete;
  WriteBuffer& operator=(const WriteBuffer&) = delete;
  ~WriteBuffer() { Reset(); }

  char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return std::string_view(data_, size_); }
  // Adds n bytes (n <= capacity() - size()) and returns where they go; the
  // caller fills them.
  char* Extend(size_t n);
  // Gives the memory back to its SpoolIo; afterwards capacity() == 0.
  void Reset();

  // For SpoolIo implementations. `block` holds `block_bytes`; data() starts
  // `headroom` bytes into it and capacity() is block_bytes - headroom. The
  // memory goes back through owner->ReleaseWriteBuffer(block, block_bytes).
  WriteBuffer(SpoolIo* owner, char* block, size_t block_bytes,
              size_t headroom);
  SpoolIo* owner() const { return owner_; }
  char* block() const { return block_; }
  size_t block_bytes() const { return block_bytes_; }
  size_t headroom() const { return static_cast<size_t>(data_ - block_); }

 private:
  SpoolIo* owner_ = nullptr;
  char* block_ = nullptr;
  size_t block_bytes_ = 0;
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// The I/O the spool needs at run time. The shard implements it on io_uring;
// tests use BlockingSpoolIo. Every `done` runs later, on the owning thread,
// never re-entrantly from inside the call that was given it.
class SpoolIo {
 public:
  virtual ~SpoolIo() = default;
  // Writes all of `data` at `offset` of `fd`, then fdatasyncs it if `sync`.
  // done(bytes written == data.size()) or done(-errno). `data` stays valid
  // until done runs. An implementation may have to copy `data` (O_DIRECT).
  virtual void WriteAndSync(int fd, uint64_t offset, std::string_view data,
                            bool sync, absl::AnyInvocable<void(int)> done) = 0;
  // A buffer for the bytes of a write that will start at file offset
  // `offset`, with capacity() >= `capacity` (an empty one if memory ran
  // out). Not tied to a file: the fd may not be open yet. Default: plain
  // heap memory.
  virtual WriteBuffer NewWriteBuffer(uint64_t offset, size_t capacity);
  // WriteAndSync of buffer->view(), for a buffer from NewWriteBuffer(offset,
  // ...) of this SpoolIo: written from where it is, without a copy. The
  // caller keeps the buffer until done runs; meanwhile the SpoolIo may write
  // into the memory around the data (see WriteBuffer), never into the data.
  // Any other buffer is written as WriteAndSync would. Default: WriteAndSync.
  virtual void WriteBufferAndSync(int fd, uint64_t offset, WriteBuffer* buffer,
                                  bool sync,
                                  absl::AnyInvocable<void(int)> done);
  // create: creates `path` (must not exist), preallocates `size` bytes
  // (fallocate), and makes the new name durable (fsync of the directory).
  // !create: opens the existing file read-write. done(fd) or done(-errno);
  // on failure no file created by this call is left behind.
  virtual void OpenSegmentFile(std::string path, uint64_t size, bool create,
                               absl::AnyInvocable<void(int)> done) = 0;
  // rename(2), then fsync of the directory. done(0) or done(-errno).
  virtual void Rename(std::string from, std::string to,
                      absl::AnyInvocable<void(int)> done) = 0;
  // unlink(2), then (sync_dir) fsync of the directory, so that the removal
  // survives a crash before anything that depends on it. done(0) or
  // done(-errno).
  virtual void Unlink(std::string path, bool sync_dir,
                      absl::AnyInvocable<void(int)> done) = 0;
  // close(2), immediately; nothing may be in flight on fd.
  virtual void Close(int fd) = 0;
  // done(0) once `ms` milliseconds have passed: the spool's retry timer.
  // Not I/O: the SpoolIo may drop it unrun when it shuts down, and the
  // spool does not wait for it (HasIoInFlight does not count it).
  virtual void After(uint64_t ms, absl::AnyInvocable<void(int)> done) = 0;

 protected:
  friend class WriteBuffer;
  // Takes back the memory of a WriteBuffer this SpoolIo made. Default:
  // free(3), matching the default NewWriteBuffer.
  virtual void ReleaseWriteBuffer(char* block, size_t block_bytes);
};

// SpoolIo on plain blocking syscalls. Each operation is carried out inside
// the call; its completion is queued and runs from RunPending(). For tests,
// benchmarks and tools, never on a shard thread. Fault knobs make the next
// matching operation fail.
class BlockingSpoolIo final : public SpoolIo {
 public:
  struct Counters {
    uint64_t writes = 0;         // WriteAndSync + WriteBufferAndSync calls
    uint64_t buffer_writes = 0;  // of which WriteBufferAndSync
    uint64_t buffers_made = 0;   // NewWriteBuffer calls that got memory
    uint64_t buffers_released = 0;
    uint64_t syncs = 0;          // fdatasyncs done (or failed on purpose)
    uint64_t bytes_written = 0;
    uint64_t creates = 0;        // OpenSegmentFile(create=true) calls
    uint64_t opens = 0;          // OpenSegmentFile(create=false) calls
    uint64_t renames = 0;
    uint64_t unlinks = 0;
    uint64_t dir_syncs = 0;      // fsyncs of a directory (create/rename/unlink)
  };

  BlockingSpoolIo() = default;
  BlockingSpoolIo(const BlockingSpoolIo&) = delete;
  BlockingSpoolIo& operator=(const BlockingSpoolIo&) = delete;
  // Queued completions are dropped without running.
  ~BlockingSpoolIo() override = default;

  void WriteAndSync(int fd, uint64_t offset, std::string_view data, bool sync,
                    absl::AnyInvocable<void(int)> done) override;
  // Plain heap buffers (the SpoolIo defaults), counted.
  WriteBuffer NewWriteBuffer(uint64_t offset, size_t capacity) override;
  void WriteBufferAndSync(int fd, uint64_t offset, WriteBuffer* buffer,
                          bool sync,
                          absl::AnyInvocable<void(int)> done) override;
  void OpenSegmentFile(std::string path, uint64_t size, bool create,
                       absl::AnyInvocable<void(int)> done) override;
  void Rename(std::string from, std::string to,
              absl::AnyInvocable<void(int)> done) override;
  void Unlink(std::string path, bool sync_dir,
              absl::AnyInvocable<void(int)> done) override;
  void Close(int fd) override;
  // Kept until FireTimers(); never run by RunPending().
  void After(uint64_t ms, absl::AnyInvocable<void(int)> done) override;

  // Runs every timer given to After() so far (whatever its delay), as if
  // its time had come, and returns how many ran. Timers they arm wait for
  // the next call.
  size_t FireTimers();
  size_t timers_pending() const { return timers_.size(); }

  // Runs queued completions in order, including ones queued by the callbacks
  // it runs, until none are left or `max_callbacks` ran. Returns the count.
  size_t RunPending(size_t max_callbacks = 1000000);
  size_t pending() const { return queue_.size(); }
  const Counters& counters() const { return counters_; }

  // The next WriteAndSync writes nothing and completes with -err.
  void FailNextWrite(int err) { fail_write_errno_ = err; }
  // The next WriteAndSync with sync=true writes, then completes with -err.
  void FailNextSync(int err) { fail_sync_errno_ = err; }
  // While err != 0, OpenSegmentFile(create=true) fails as if fallocate had
  // returned err (ENOSPC: disk full); the half-made file is removed.
  void SetFailFallocate(int err) { fail_fallocate_errno_ = err; }
  // While err != 0, every WriteAndSync with sync=true writes, then
  // completes with -err (a disk that keeps failing).
  void SetFailSyncs(int err) { fail_syncs_errno_ = err; }

 protected:
  void ReleaseWriteBuffer(char* block, size_t block_bytes) override;

 private:
  void Complete(absl::AnyInvocable<void(int)> done, int result);

  std::deque<std::pair<absl::AnyInvocable<void(int)>, int>> queue_;
  Counters counters_;
  int fail_write_errno_ = 0;
  int fail_sync_errno_ = 0;
  int fail_fallocate_errno_ = 0;
  int fail_syncs_errno_ = 0;
  std::vector<absl::AnyInvocable<void(int)>> timers_;
};

// Names one message in the spool: what MarkDone needs. Valid for the life
// of the Spool that returned it; after a restart, use the recovered one.
struct MessageLocator {
  uint64_t segment_seq = 0;
  uint64_t message_id = 0;
  uint32_t slot = 0;  // the message's index in its segment (append order)

  bool operator==(const MessageLocator&) const = default;
};

struct RecoveredMessage {
  MessageLocator locator;
  MessageRecord record;
  std::vector<bool> done;  // per recipient: a final outcome is on record
};

// The lock on a spool root: flock(LOCK_EX | LOCK_NB) on <dir>/lock, held
// while any SpoolLock of that directory lives in this process (the shards of
// one relay share it; each Spool::Open takes a reference), with the holder's
// PID written in the file. Another process gets FailedPrecondition naming
// the spool and the holder's PID, after opening the lock file and touching
// nothing else. Thread-safe.
class SpoolLock {
 public:
  static constexpr char kFileName[] = "lock";

  // Creates `dir` if it is missing (and fsyncs its parent, so the new name
  // survives a power loss), then takes or shares the lock.
  static absl::StatusOr<std::shared_ptr<SpoolLock>> Acquire(
      const std::string& dir);

  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  // The lock ends (its file is closed) with the last SpoolLock of the root.
  ~SpoolLock();
  const std::string& dir() const { return dir_; }

 private:
  SpoolLock(std::string dir, uint64_t dev, uint64_t ino)
      : dir_(std::move(dir)), dev_(dev), ino_(ino) {}

  std::string dir_;
  uint64_t dev_;
  uint64_t ino_;
};

class Spool {
 public:
  struct Options {
    std::string dir;  // spool root; this shard uses <dir>/shard-<shard>/
    int shard = 0;    // 0..1023; also the top bits of message ids
    uint64_t segment_bytes = 64ull << 20;  // multiple of 4096, 64 KiB..4 GiB
    uint64_t journal_bytes = 0;  // 0: max(segment_bytes / 16, 64 KiB)
    size_t commit_max_bytes = 4u << 20;  // bytes of records per write
    bool durable = true;          // false: no fdatasync (benchmarks only)
    bool sync_journal = false;    // fdatasync journal writes too
    size_t max_free_segments = 2;  // done segments kept for reuse
    // How far ahead of the id counter each write of the shard's `ids` file
    // puts the persisted bound (2..2^40). Tests make it small.
    uint64_t id_lease = uint64_t{1} << 32;
    // After a failed segment creation, try again this often (1..3600000)
    // until one works: new mail is refused meanwhile (see CanAccept).
    uint64_t retry_ms = 1000;
    std::function<void(std::string_view)> log;  // empty: stderr
  };

  struct Stats {
    uint64_t bytes_staged = 0;       // gauge: encoded, not yet in a write
    uint64_t commits_issued = 0;     // segment writes (one per commit group)
    uint64_t records_issued = 0;     // message records in those writes
    uint64_t max_records_per_commit = 0;
    uint64_t bytes_committed = 0;    // record bytes whose write succeeded
    uint64_t messages_committed = 0;
    uint64_t messages_failed = 0;    // committed callbacks given an error
    uint64_t commit_failures = 0;    // failed segment writes or syncs
    uint64_t journal_writes_issued = 0;
    uint64_t outcomes_staged = 0;
    uint64_t outcomes_dropped = 0;   // no journal room or journal broken
    uint64_t segments_created = 0;   // new preallocated files
    uint64_t segments_reused = 0;    // free files put back to use
    uint64_t segments_retired = 0;   // done segments renamed free or unlinked
    uint64_t segment_prepare_failures = 0;
    uint64_t segment_prepare_retries = 0;  // attempts started by the timer
    uint64_t messages_cancelled = 0;  // failed commits marked in the journal
    // Appends staged on a segment whose files were not ready yet (rollover
    // outran the spare): should stay near 0 after start-up.
    uint64_t appends_waiting_for_segment = 0;
    size_t segments_live = 0;        // gauge: active, spare and sealed
    size_t segments_free = 0;        // gauge: free-<k> pairs on disk
    size_t messages_live = 0;        // gauge: messages not yet all done
    bool no_space = false;           // last segment creation: ENOSPC/EDQUOT
    bool prepare_failing = false;    // last segment creation failed (any)
  };

  // Recovers the shard's directory with blocking syscalls (creating it if
  // needed), appends the messages that still have undone recipients to
  // *recovered in (segment, offset) order, and starts preparing the first
  // active segment through `io`. Damaged records are skipped and logged.
  // Errors: bad options, or the directory cannot be created or read.
  // `io` must outlive the Spool.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(
      const Options& options, SpoolIo* io,
      std::vector<RecoveredMessage>* recovered);

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  // Closes the files. Completions that arrive later are ignored. Best
  // destroyed when !HasIoInFlight(); if not (a drain that timed out), the
  // memory that writes in flight read from is deliberately leaked rather
  // than freed, since the kernel may still read it.
  ~Spool();

  // A new id, unique across restarts: shard in the top 10 bits, then a
  // counter that starts above the clock (µs), every recovered id and the
  // bound persisted in <dir>/shard-<N>/ids. The bound moves id_lease ahead
  // (one write and fdatasync through `io`) when the counter is half a
  // lease from it: about every 2.4 hours at 250,000 ids per second. So ids
  // stay unique across restarts however fast they come and even when the
  // clock steps back.
  uint64_t NewMessageId();

  // OK unless a new message certainly cannot be taken now: the active
  // segment is full or gone and making the next one failed. Then
  // ResourceExhausted when it failed for lack of space (ENOSPC, EDQUOT:
  // 452 4.3.1), else Unavailable with the errno text (EIO, EROFS, EACCES,
  // ...: 451 4.3.0). A timer (Options::retry_ms) retries the creation, so
  // this turns OK again as soon as a segment can be made.
  absl::Status CanAccept() const;

  // Stages `m` (m.id from this spool's NewMessageId, each id once: a
  // repeat is not detected) into the commit group of its segment and
  // returns where it will live. `committed` runs exactly once, from a
  // completion, with OK once the record is durable (see Options::durable) or
  // an error (then the message is not in the spool: do not answer 250).
  // Immediate errors (then `committed` is dropped, never run):
  //   InvalidArgument    invalid record, larger than one segment, or an id
  //                      this spool has not issued;
  //   ResourceExhausted  no segment can be made (disk full), the next one
  //                      is not ready and already holds a segment's worth,
  //                      or the SpoolIo has no memory for a commit buffer.
  absl::StatusOr<MessageLocator> AppendMessage(
      const MessageRecord& m, absl::AnyInvocable<void(absl::Status)> committed);

  // Records a final outcome (kOutcomeDelivered/Bounced/Expired) for one
  // recipient: stages a journal record for the next Flush and retires the
  // segment once all of its recipients are done. Repeats and unknown
  // messages (e.g. whose commit failed) are ignored.
  void MarkDone(const MessageLocator& locator, uint32_t recipient_index,
                uint8_t kind);

  // Once per loop turn: issues at most one write per file for what is
  // staged and not blocked behind a write in flight.
  void Flush();

  // True while any write or file operation of this spool is outstanding.
  bool HasIoInFlight() const { return io_in_flight_ > 0; }
  Stats stats() const;
  const std::string& shard_dir() const { return shard_dir_; }
  // Bytes on disk of one segment's pair of files (both preallocated).
  uint64_t segment_file_bytes() const { return options_.segment_bytes + journal_bytes_; }

 private:
  // Defined in spool_internal.h.
  struct Segment;
  struct Batch;
  struct Waiter;
  struct Prepare;
  struct MessageState;

  Spool(const Options& options, SpoolIo* io);

  // Start-up (spool_recovery.cc).
  absl::Status Recover(std::vector<RecoveredMessage>* recovered);
  void RecoverSegment(uint64_t seq, bool has_dat, bool has_jnl,
                      std::string* buf, uint64_t* max_seq,
                      uint64_t* max_counter,
                      std::vector<RecoveredMessage>* recovered);
  void RetireAtStartup(uint64_t seq, bool dat_reusable, bool jnl_reusable);
  int OpenJournalForAppend(uint64_t seq, bool rewrite_header,
                           uint64_t* size);

  // Run time (spool.cc).
  void Log(std::string_view line) const;
  // Writes id_counter_ + id_lease to the ids file through io_; it becomes
  // id_limit_ once durable (see NewMessageId).
  void RenewIdLease();
  void OnIdLeaseWritten(uint64_t bound, int result);
  // At start-up: sets id_counter_ and writes the first bound, blocking.
  absl::Status OpenIdFile(uint64_t max_recovered_counter);
  std::string SegPath(uint64_t seq, bool journal) const;
  std::string FreePath(uint64_t k, bool journal) const;
  Segment* Find(uint64_t seq);
  void MarkDirty(Segment* seg);
  bool Fits(const Segment& seg, size_t framed, size_t jnl_need) const;
  absl::StatusOr<Segment*> PickTarget(size_t framed, size_t jnl_need);
  void AppendOutcome(Segment* seg, const OutcomeRecord& o);
  void IssueWrites(Segment* seg);
  void OnSegmentWritten(uint64_t seq, int result);
  void OnJournalWritten(uint64_t seq, int result);
  void FailStaged(Segment* seg, std::vector<Waiter>* out);
  void RunWaiters(std::vector<Waiter>* waiters, const absl::Status& status);
  void Seal(Segment* seg);
  void MaybeRetire(Segment* seg);
  void Retire(Segment* seg);
  void MaybeStartSpare();
  void StartSpare();
  void EraseMessage(Segment* seg, uint32_t slot);
  void PrepareStep(uint64_t seq, int result);
  void SpareReady(Segment* seg);
  void SpareFailed(Segment* seg, int err, std::string_view what);
  void ArmRetry();
  void OnRetryTimer();
  // After a failed segment write: journals a cancellation of each message
  // of the failed batch (their records may be on disk) and answers their
  // waiters once it is durable (or cannot be).
  void CancelFailed(Segment* seg, std::vector<Waiter>* failed,
                    const absl::Status& status);
  template <typename F>
  absl::AnyInvocable<void(int)> Callback(F f);

  Options options_;
  SpoolIo* io_;
  std::string shard_dir_;
  uint64_t journal_bytes_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t next_free_name_ = 0;
  uint64_t id_counter_ = 0;
  // Id bound on disk (see NewMessageId): no counter above id_limit_ is
  // issued unless its renewal failed or came late (logged).
  uint64_t id_limit_ = 0;
  uint64_t id_renew_at_ = 0;  // counter at which RenewIdLease runs next
  bool id_renewing_ = false;  // a write of ids_block_ is in flight
  bool id_limit_passed_ = false;  // logged that the counter passed it
  int ids_fd_ = -1;           // <shard_dir>/ids
  std::string ids_block_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Segment>> segments_;
  Segment* active_ = nullptr;  // takes appends
  Segment* spare_ = nullptr;   // being prepared, or ready for rollover
  std::vector<uint64_t> free_;  // k of each free-<k> pair ready for reuse
  size_t free_in_progress_ = 0;  // pairs being renamed to free-<k>
  std::vector<uint64_t> dirty_;  // seqs with staged bytes
  std::vector<uint64_t> dirty_scratch_;
  size_t io_in_flight_ = 0;
  // The last segment creation failed (any errno); no_space_status_ says
  // why (ResourceExhausted for ENOSPC/EDQUOT, else Unavailable).
  bool no_space_ = false;
  bool retry_armed_ = false;
  uint64_t prepare_failures_in_row_ = 0;
  std::string last_prepare_error_;
  bool recover_dir_changed_ = false;
  absl::Status no_space_status_;
  std::shared_ptr<SpoolLock> lock_;
  Stats stats_;
  // Completions hold a weak reference: after ~Spool they do nothing.
  std::shared_ptr<Spool*> self_;
};

}  // namespace ringpost::queue
