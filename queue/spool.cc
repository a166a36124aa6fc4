// queue/spool.cc — run-time half of the spool: staging, group commit,
// outcomes, rollover to a pre-prepared spare, and retiring done segments.
//
// Everything here runs on the shard thread and does no I/O itself: each file
// operation goes through SpoolIo and continues in a completion. Completions
// find their segment by seq (never by pointer) and first bring the state up
// to date, then run user callbacks last, so a callback may call back into the
// spool (append, mark done, flush) and always sees consistent state.
//
// Bounds: staged bytes per segment never exceed the segment's size (they
// reserve its space), so memory held by staging is at most two segments; one
// write per file is in flight. Batch buffers come from the SpoolIo, which
// pools and bounds them; each is asked for once, with room for all the
// records its batch may take (see AppendMessage), and is touched only as far
// as records fill it.

#include "queue/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "queue/spool_internal.h"

namespace ringpost::queue {

namespace spool_internal {

const char* ErrnoText(int err) {
  const char* s = ::strerrordesc_np(err);
  return s != nullptr ? s : "unknown error";
}

absl::Status ErrnoStatus(int err, std::string_view what) {
  std::string msg = absl::StrCat(ToAbsl(what), ": ", ErrnoText(err));
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(msg);
  }
  return absl::UnavailableError(msg);
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int FsyncDir(const std::string& dir) {
  if (fsync_dir_observer != nullptr) fsync_dir_observer(dir);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace spool_internal

using spool_internal::ErrnoStatus;
using spool_internal::ToAbsl;
using spool_internal::ToStd;

namespace {

// Memory that writes still in flight read from when their Spool was
// destroyed (a drain that timed out). The kernel may read it until the
// write ends, long after ~Spool (an O_DIRECT write reads the pages it
// pinned at any time before it completes), so it is never freed: freeing
// and reusing it would put other bytes into the file, over the head of a
// block that holds acknowledged records. Kept reachable here so leak
// checkers do not report it; it happens at most once per shard, at exit.
void KeepForever(std::shared_ptr<void> memory) {
  static std::mutex* mu = new std::mutex();
  static std::vector<std::shared_ptr<void>>* kept =
      new std::vector<std::shared_ptr<void>>();
  std::lock_guard<std::mutex> guard(*mu);
  kept->push_back(std::move(memory));
}

}  // namespace

// --- WriteBuffer and the SpoolIo defaults -----------------------------------

WriteBuffer::WriteBuffer(SpoolIo* owner, char* block, size_t block_bytes,
                         size_t headroom)
    : owner_(owner),
      block_(block),
      block_bytes_(block_bytes),
      data_(block + headroom),
      capacity_(block_bytes - headroom) {
  CHECK(owner != nullptr);
  CHECK(block != nullptr);
  CHECK(headroom <= block_bytes);
}

WriteBuffer& WriteBuffer::operator=(WriteBuffer&& other) noexcept {
  if (this == &other) return *this;
  Reset();
  owner_ = std::exchange(other.owner_, nullptr);
  block_ = std::exchange(other.block_, nullptr);
  block_bytes_ = std::exchange(other.block_bytes_, 0);
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  capacity_ = std::exchange(other.capacity_, 0);
  return *this;
}

char* WriteBuffer::Extend(size_t n) {
  CHECK(n <= capacity_ - size_);
  char* p = data_ + size_;
  size_ += n;
  return p;
}

void WriteBuffer::Reset() {
  if (block_ != nullptr) owner_->ReleaseWriteBuffer(block_, block_bytes_);
  owner_ = nullptr;
  block_ = nullptr;
  block_bytes_ = 0;
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

WriteBuffer SpoolIo::NewWriteBuffer(uint64_t offset, size_t capacity) {
  char* block = static_cast<char*>(std::malloc(std::max<size_t>(capacity, 1)));
  if (block == nullptr) return WriteBuffer();
  return WriteBuffer(this, block, capacity, 0);
}

void SpoolIo::WriteBufferAndSync(int fd, uint64_t offset, WriteBuffer* buffer,
                                 bool sync,
                                 absl::AnyInvocable<void(int)> done) {
  WriteAndSync(fd, offset, buffer->view(), sync, std::move(done));
}

void SpoolIo::ReleaseWriteBuffer(char* block, size_t block_bytes) {
  std::free(block);
}

Spool::Spool(const Options& options, SpoolIo* io)
    : options_(options),
      io_(io),
      shard_dir_(absl::StrCat(options.dir, "/shard-", options.shard)),
      self_(std::make_shared<Spool*>(this)) {
  journal_bytes_ = options_.journal_bytes;
  if (journal_bytes_ == 0) {
    const uint64_t sixteenth =
        (options_.segment_bytes / 16 + kFileHeaderBytes - 1) /
        kFileHeaderBytes * kFileHeaderBytes;
    journal_bytes_ = std::max(sixteenth, spool_internal::kMinJournalBytes);
  }
}

Spool::~Spool() {
  self_.reset();  // late completions become no-ops
  if (io_in_flight_ > 0) {
    // See KeepForever. Only what a write in flight reads is kept: the
    // segment batch, the journal bytes, a header, the ids block. (The files
    // are closed below all the same: io_uring holds its own reference to
    // the file of an operation in flight.)
    for (auto& [seq, seg] : segments_) {
      if (seg->dat_inflight != nullptr) {
        KeepForever(std::shared_ptr<Batch>(std::move(seg->dat_inflight)));
      }
      if (seg->jnl_writing) {
        KeepForever(
            std::make_shared<std::string>(std::move(seg->jnl_inflight)));
      }
      if (seg->prepare != nullptr) {
        KeepForever(std::shared_ptr<Prepare>(std::move(seg->prepare)));
      }
    }
    if (id_renewing_) {
      KeepForever(std::make_shared<std::string>(std::move(ids_block_)));
    }
  }
  for (auto& [seq, seg] : segments_) {
    if (seg->dat_fd >= 0) io_->Close(seg->dat_fd);
    if (seg->jnl_fd >= 0) io_->Close(seg->jnl_fd);
  }
  if (ids_fd_ >= 0) ::close(ids_fd_);
}

template <typename F>
absl::AnyInvocable<void(int)> Spool::Callback(F f) {
  ++io_in_flight_;
  return [weak = std::weak_ptr<Spool*>(self_), f = std::move(f)](
             int result) mutable {
    const std::shared_ptr<Spool*> self = weak.lock();
    if (!self) return;
    CHECK((*self)->io_in_flight_ > 0);
    --(*self)->io_in_flight_;
    f(result);
  };
}

void Spool::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(
        absl::StrCat("spool shard-", options_.shard, ": ", ToAbsl(line)));
  } else {
    std::fprintf(stderr, "ringpost spool shard-%d: %.*s\n", options_.shard,
                 static_cast<int>(line.size()), line.data());
  }
}

std::string Spool::SegPath(uint64_t seq, bool journal) const {
  return absl::StrCat(shard_dir_, "/seg-", seq, journal ? ".jnl" : ".dat");
}

std::string Spool::FreePath(uint64_t k, bool journal) const {
  return absl::StrCat(shard_dir_, "/free-", k, journal ? ".jnl" : ".dat");
}

Spool::Segment* Spool::Find(uint64_t seq) {
  auto it = segments_.find(seq);
  return it == segments_.end() ? nullptr : it->second.get();
}

uint64_t Spool::NewMessageId() {
  id_counter_ = (id_counter_ + 1) & spool_internal::kCounterMask;
  CHECK(id_counter_ != 0);  // 2^54 ids: centuries at any real rate
  if (id_counter_ >= id_renew_at_) [[unlikely]] RenewIdLease();
  return (static_cast<uint64_t>(options_.shard)
          << spool_internal::kCounterBits) |
         id_counter_;
}

void Spool::RenewIdLease() {
  if (id_counter_ > id_limit_ && !id_limit_passed_) {
    id_limit_passed_ = true;
    Log(absl::StrCat("message ids passed the bound in ", shard_dir_, "/",
                     spool_internal::kIdFileName,
                     " before it could be renewed; some may repeat "
                     "after a restart if the clock is behind them"));
  }
  // Until the write completes: run again when the counter passes the
  // bound, to log it.
  id_renew_at_ = id_limit_passed_ ? ~uint64_t{0} : id_limit_ + 1;
  if (id_renewing_) return;
  id_renewing_ = true;
  const uint64_t bound =
      spool_internal::IdBound(id_counter_, options_.id_lease);
  ids_block_ = EncodeIdFile(bound);
  io_->WriteAndSync(
      ids_fd_, 0, ids_block_, /*sync=*/true,
      Callback([this, bound](int r) { OnIdLeaseWritten(bound, r); }));
}

void Spool::OnIdLeaseWritten(uint64_t bound, int result) {
  id_renewing_ = false;
  if (result == static_cast<int>(ids_block_.size())) {
    id_limit_ = bound;
    id_limit_passed_ = false;
    id_renew_at_ = bound - options_.id_lease / 2;
    return;
  }
  Log(absl::StrCat("write to ", shard_dir_, "/", spool_internal::kIdFileName,
                   " failed (",
                   result < 0 ? spool_internal::ErrnoText(-result) : "short",
                   "); retried later"));
  id_renew_at_ = id_counter_ + std::max<uint64_t>(options_.id_lease / 16, 1);
}

absl::Status Spool::CanAccept() const {
  if (no_space_ && active_ == nullptr) return no_space_status_;
  return absl::OkStatus();
}

Spool::Stats Spool::stats() const {
  Stats s = stats_;
  s.segments_live = segments_.size();
  s.segments_free = free_.size();
  s.no_space = no_space_ && absl::IsResourceExhausted(no_space_status_);
  s.prepare_failing = no_space_;
  return s;
}

// --- staging ----------------------------------------------------------------

bool Spool::Fits(const Segment& seg, size_t framed, size_t jnl_need) const {
  // Each file keeps room for the zero terminator after its last record.
  return seg.dat_reserved + framed + kRecordHeaderBytes <= seg.dat_size &&
         seg.jnl_reserved + jnl_need + kRecordHeaderBytes <= seg.jnl_size;
}

absl::StatusOr<Spool::Segment*> Spool::PickTarget(size_t framed,
                                                  size_t jnl_need) {
  if (active_ != nullptr && Fits(*active_, framed, jnl_need)) return active_;
  if (active_ != nullptr) {
    Segment* full = active_;
    active_ = nullptr;
    Seal(full);
  }
  if (spare_ == nullptr) {
    // After a failed creation the retry timer (or a retiring segment)
    // tries again; until one works, answer at once.
    if (no_space_) return no_space_status_;
    StartSpare();
    if (no_space_) return no_space_status_;
  }
  if (spare_->ready) {
    CHECK(spare_->dat_pending.empty());
    active_ = spare_;
    spare_ = nullptr;
    CHECK(Fits(*active_, framed, jnl_need));
    return active_;
  }
  // A retry after a failure: answer now rather than stage on a maybe.
  if (no_space_) return no_space_status_;
  if (Fits(*spare_, framed, jnl_need)) {
    ++stats_.appends_waiting_for_segment;
    return spare_;
  }
  return absl::ResourceExhaustedError(
      "spool: the next segment is not ready and already holds a segment's "
      "worth of messages");
}

absl::StatusOr<MessageLocator> Spool::AppendMessage(
    const MessageRecord& m, absl::AnyInvocable<void(absl::Status)> committed) {
  if (absl::Status v = ValidateMessage(m); !v.ok()) return v;
  if ((m.id >> spool_internal::kCounterBits) !=
          static_cast<uint64_t>(options_.shard) ||
      (m.id & spool_internal::kCounterMask) == 0 ||
      (m.id & spool_internal::kCounterMask) > id_counter_) {
    return absl::InvalidArgumentError(
        absl::StrCat("message id ", m.id, " was not issued by this spool"));
  }
  const size_t framed = FramedMessageSize(m);
  const size_t jnl_need = m.recipients.size() * kOutcomeRecordBytes;
  if (framed + kFileHeaderBytes + kRecordHeaderBytes > options_.segment_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", framed, " bytes does not fit in a ",
                     options_.segment_bytes, "-byte spool segment"));
  }
  if (jnl_need + kFileHeaderBytes + kRecordHeaderBytes > journal_bytes_) {
    return absl::InvalidArgumentError(
        "message has more recipients than one segment journal can hold");
  }
  absl::StatusOr<Segment*> target = PickTarget(framed, jnl_need);
  if (!target.ok()) return target.status();
  Segment* seg = *target;
  Batch* batch = nullptr;
  if (!seg->dat_pending.empty()) {
    Batch* last = seg->dat_pending.back().get();
    if (last->data.size() + framed <= options_.commit_max_bytes) batch = last;
  }
  if (batch == nullptr) {
    // Room for every record this batch may take (commit_max_bytes, or this
    // one record if larger, and no more than the segment has left) and the
    // terminator. Fits() leaves room for this record and a terminator.
    const size_t room = static_cast<size_t>(std::min<uint64_t>(
        std::max(framed, options_.commit_max_bytes) + kRecordHeaderBytes,
        seg->dat_size - seg->dat_reserved));
    WriteBuffer buffer = io_->NewWriteBuffer(seg->dat_reserved, room);
    if (buffer.capacity() < room) {
      return absl::ResourceExhaustedError(
          "spool: no memory for a commit buffer");
    }
    auto fresh = std::make_unique<Batch>();
    fresh->offset = seg->dat_reserved;
    fresh->data = std::move(buffer);
    batch = fresh.get();
    seg->dat_pending.push_back(std::move(fresh));
  }
  CHECK(batch->offset + batch->data.size() == seg->dat_reserved);
  CHECK(batch->data.size() + framed + kRecordHeaderBytes <=
              batch->data.capacity());
  EncodeMessageInto(m, seg->seq, batch->data.Extend(framed));
  const uint32_t slot = static_cast<uint32_t>(seg->slots.size());
  seg->slots.push_back(Segment::Slot{
      m.id, MessageState(static_cast<uint32_t>(m.recipients.size()))});
  ++seg->live;
  batch->waiters.push_back(Waiter{slot, std::move(committed)});
  seg->dat_reserved += framed;
  seg->jnl_reserved += jnl_need;
  stats_.bytes_staged += framed;
  ++stats_.messages_live;
  MarkDirty(seg);
  MaybeStartSpare();
  return MessageLocator{seg->seq, m.id, slot};
}

void Spool::MarkDirty(Segment* seg) {
  if (seg->dirty) return;
  seg->dirty = true;
  dirty_.push_back(seg->seq);
}

void Spool::EraseMessage(Segment* seg, uint32_t slot) {
  CHECK(slot < seg->slots.size());
  Segment::Slot& s = seg->slots[slot];
  if (s.empty()) return;
  s.state = MessageState(0);  // empties the slot; frees a > 64-recipient mask
  CHECK(seg->live > 0);
  --seg->live;
  CHECK(stats_.messages_live > 0);
  --stats_.messages_live;
}

// --- outcomes ---------------------------------------------------------------

void Spool::MarkDone(const MessageLocator& locator, uint32_t recipient_index,
                     uint8_t kind) {
  CHECK(kind >= kOutcomeDelivered);
  CHECK(kind <= kOutcomeExpired);
  Segment* seg = Find(locator.segment_seq);
  if (seg == nullptr) return;
  if (locator.slot >= seg->slots.size()) return;
  Segment::Slot& slot = seg->slots[locator.slot];
  if (slot.empty() || slot.id != locator.message_id) return;  // done, failed
  MessageState& ms = slot.state;
  CHECK(recipient_index < ms.recipients());
  if (!ms.MarkDone(recipient_index)) return;
  AppendOutcome(seg, OutcomeRecord{locator.message_id, recipient_index, kind});
  if (ms.remaining() == 0) {
    EraseMessage(seg, locator.slot);
    MaybeRetire(seg);
  }
}

void Spool::AppendOutcome(Segment* seg, const OutcomeRecord& o) {
  if (seg->jnl_broken || (seg->ready && seg->jnl_fd < 0)) {
    ++stats_.outcomes_dropped;
    return;
  }
  const uint64_t end = seg->jnl_tail + seg->jnl_inflight_bytes +
                       seg->jnl_pending.size() + kOutcomeRecordBytes;
  if (end + kRecordHeaderBytes > seg->jnl_size) {
    ++stats_.outcomes_dropped;  // only a recovered, damaged journal gets here
    return;
  }
  EncodeOutcome(o, seg->seq, &seg->jnl_pending);
  ++stats_.outcomes_staged;
  MarkDirty(seg);
}

// --- group commit -----------------------------------------------------------

void Spool::Flush() {
  dirty_scratch_.clear();
  std::swap(dirty_, dirty_scratch_);
  for (uint64_t seq : dirty_scratch_) {
    Segment* seg = Find(seq);
    if (seg == nullptr) continue;  // retired since
    seg->dirty = false;
    IssueWrites(seg);
  }
}

void Spool::IssueWrites(Segment* seg) {
  if (!seg->ready) return;  // SpareReady marks it dirty again
  const uint64_t seq = seg->seq;
  if (!seg->dat_broken && seg->dat_inflight == nullptr &&
      !seg->dat_pending.empty()) {
    std::unique_ptr<Batch> b = std::move(seg->dat_pending.front());
    seg->dat_pending.pop_front();
    CHECK(!b->data.empty());
    CHECK(b->offset % kRecordAlign == 0);
    b->record_bytes = b->data.size();
    if (b->offset + b->record_bytes + kRecordHeaderBytes <= seg->dat_size) {
      std::memset(b->data.Extend(kRecordHeaderBytes), 0, kRecordHeaderBytes);
    }
    CHECK(stats_.bytes_staged >= b->record_bytes);
    stats_.bytes_staged -= b->record_bytes;
    ++stats_.commits_issued;
    stats_.records_issued += b->waiters.size();
    stats_.max_records_per_commit =
        std::max<uint64_t>(stats_.max_records_per_commit, b->waiters.size());
    seg->dat_inflight = std::move(b);
    Batch& in = *seg->dat_inflight;
    io_->WriteBufferAndSync(
        seg->dat_fd, in.offset, &in.data, options_.durable,
        Callback([this, seq](int r) { OnSegmentWritten(seq, r); }));
  }
  if (seg->jnl_fd >= 0 && !seg->jnl_broken && !seg->jnl_writing &&
      !seg->jnl_pending.empty()) {
    std::swap(seg->jnl_pending, seg->jnl_inflight);
    seg->jnl_pending.clear();
    seg->jnl_inflight_bytes = seg->jnl_inflight.size();
    if (seg->jnl_tail + seg->jnl_inflight_bytes + kRecordHeaderBytes <=
        seg->jnl_size) {
      seg->jnl_inflight.append(kRecordHeaderBytes, '\0');
    }
    seg->jnl_writing = true;
    const bool sync = options_.sync_journal || seg->jnl_sync_next;
    seg->jnl_sync_next = false;
    ++stats_.journal_writes_issued;
    io_->WriteAndSync(
        seg->jnl_fd, seg->jnl_tail, seg->jnl_inflight, sync,
        Callback([this, seq](int r) { OnJournalWritten(seq, r); }));
  }
}

void Spool::OnSegmentWritten(uint64_t seq, int result) {
  Segment* seg = Find(seq);
  CHECK(seg != nullptr);
  CHECK(seg->dat_inflight != nullptr);
  std::unique_ptr<Batch> b = std::move(seg->dat_inflight);
  std::vector<Waiter> waiters = std::move(b->waiters);
  absl::Status status;
  if (result >= 0 && static_cast<size_t>(result) == b->data.size()) {
    stats_.bytes_committed += b->record_bytes;
    stats_.messages_committed += waiters.size();
    if (!seg->dat_pending.empty()) MarkDirty(seg);
  } else {
    const std::string what = absl::StrCat("spool: write+sync of ",
                                          SegPath(seq, false), " at offset ",
                                          b->offset);
    status = result < 0 ? ErrnoStatus(-result, what)
                        : absl::DataLossError(absl::StrCat(what, ": short"));
    ++stats_.commit_failures;
    std::vector<Waiter> staged;
    FailStaged(seg, &staged);
    Log(absl::StrCat(status.message(), "; failing ",
                     waiters.size() + staged.size(),
                     " messages and abandoning the segment"));
    stats_.messages_failed += waiters.size() + staged.size();
    seg->dat_broken = true;
    seg->sealed = true;
    if (active_ == seg) active_ = nullptr;
    b.reset();  // its buffer goes back to the SpoolIo
    // Never written: answered now. The failed batch's records may be on
    // disk all the same: answered once their cancellation is.
    CancelFailed(seg, &waiters, status);  // may delete seg
    RunWaiters(&staged, status);
    return;
  }
  b.reset();  // its buffer goes back to the SpoolIo
  MaybeRetire(seg);  // may delete seg
  RunWaiters(&waiters, status);
}

void Spool::CancelFailed(Segment* seg, std::vector<Waiter>* failed,
                         const absl::Status& status) {
  // A write or sync that failed may still have put these records on disk
  // (a sync error says nothing about which blocks made it). Their clients
  // get 4xx and send again, so recovery must not deliver these: one
  // cancellation record per message in the journal, synced, before the
  // 4xx goes out. The journal room was reserved for their outcomes.
  const bool journal_ok = !seg->jnl_broken && seg->jnl_fd >= 0;
  for (Waiter& w : *failed) {
    const uint64_t id = seg->slots[w.slot].id;
    EraseMessage(seg, w.slot);
    if (journal_ok) {
      EncodeOutcome(OutcomeRecord{id, 0, kOutcomeCancelled}, seg->seq,
                    &seg->jnl_pending);
      ++stats_.messages_cancelled;
    }
    seg->cancel_waiters.push_back(std::move(w));
  }
  failed->clear();
  seg->cancel_status = status;
  if (!journal_ok) {
    Log(absl::StrCat(
        "journal of segment ", seg->seq, " is unusable: the ",
        seg->cancel_waiters.size(), " messages of the failed write cannot "
        "be marked cancelled; if their records reached the disk they will "
        "be delivered after a restart although their clients were told 4xx"));
    std::vector<Waiter> waiters = std::move(seg->cancel_waiters);
    seg->cancel_waiters.clear();
    MaybeRetire(seg);  // may delete seg
    RunWaiters(&waiters, status);
    return;
  }
  seg->cancel_end =
      seg->jnl_tail + seg->jnl_inflight_bytes + seg->jnl_pending.size();
  seg->jnl_sync_next = true;
  MarkDirty(seg);
  IssueWrites(seg);  // at once, or when the journal write in flight ends
}

void Spool::OnJournalWritten(uint64_t seq, int result) {
  Segment* seg = Find(seq);
  CHECK(seg != nullptr);
  CHECK(seg->jnl_writing);
  seg->jnl_writing = false;
  if (result >= 0 && static_cast<size_t>(result) == seg->jnl_inflight.size()) {
    seg->jnl_tail += seg->jnl_inflight_bytes;
  } else {
    if (!seg->cancel_waiters.empty()) {
      Log(absl::StrCat("the cancellation of ", seg->cancel_waiters.size(),
                       " messages whose commit failed is not on disk; if "
                       "their records are, they will be delivered after a "
                       "restart although their clients were told 4xx"));
    }
    const size_t lost =
        (seg->jnl_inflight_bytes + seg->jnl_pending.size()) /
        kOutcomeRecordBytes;
    Log(absl::StrCat("journal write to ", SegPath(seq, true), " failed (",
                     result < 0 ? spool_internal::ErrnoText(-result) : "short",
                     "): outcomes of this segment are no longer journaled; "
                     "after a crash its messages may be delivered again"));
    stats_.outcomes_dropped += lost;
    seg->jnl_broken = true;
    seg->jnl_pending.clear();
  }
  seg->jnl_inflight.clear();
  seg->jnl_inflight_bytes = 0;
  if (!seg->jnl_pending.empty()) MarkDirty(seg);
  std::vector<Waiter> cancelled;
  absl::Status status;
  if (!seg->cancel_waiters.empty() &&
      (seg->jnl_broken || seg->jnl_tail >= seg->cancel_end)) {
    cancelled = std::move(seg->cancel_waiters);
    seg->cancel_waiters.clear();
    status = seg->cancel_status;
  }
  MaybeRetire(seg);  // may delete seg
  RunWaiters(&cancelled, status);
}

void Spool::FailStaged(Segment* seg, std::vector<Waiter>* out) {
  for (std::unique_ptr<Batch>& b : seg->dat_pending) {
    CHECK(stats_.bytes_staged >= b->data.size());
    stats_.bytes_staged -= b->data.size();
    for (Waiter& w : b->waiters) {
      EraseMessage(seg, w.slot);
      out->push_back(std::move(w));
    }
  }
  seg->dat_pending.clear();
}

void Spool::RunWaiters(std::vector<Waiter>* waiters,
                       const absl::Status& status) {
  for (Waiter& w : *waiters) w.done(status);
  waiters->clear();
}

// --- MessageState -------------------------------------------------------------

Spool::MessageState::MessageState(uint32_t recipients)
    : recipients_(recipients), remaining_(recipients) {
  if (recipients_ > 64) more_.reset(new uint64_t[(recipients_ + 63) / 64]());
}

Spool::MessageState::MessageState(uint32_t remaining,
                                  const std::vector<bool>& done)
    : MessageState(static_cast<uint32_t>(done.size())) {
  for (uint32_t i = 0; i < recipients_; ++i) {
    if (done[i]) MarkDone(i);
  }
  CHECK(remaining_ == remaining);
}

bool Spool::MessageState::MarkDone(uint32_t i) {
  CHECK(i < recipients_);
  uint64_t& word = words()[i / 64];
  const uint64_t bit = uint64_t{1} << (i % 64);
  if (word & bit) return false;
  word |= bit;
  CHECK(remaining_ > 0);
  --remaining_;
  return true;
}

// --- segment life cycle ------------------------------------------------------

void Spool::Seal(Segment* seg) {
  CHECK(seg != active_);
  seg->sealed = true;
  MaybeRetire(seg);
}

void Spool::MaybeRetire(Segment* seg) {
  if (!seg->sealed || !seg->ready) return;
  if (seg->live != 0) return;
  if (seg->dat_inflight != nullptr || !seg->dat_pending.empty()) return;
  if (seg->jnl_writing || !seg->cancel_waiters.empty()) return;
  CHECK(seg != active_);
  CHECK(seg != spare_);
  Retire(seg);
}

void Spool::Retire(Segment* seg) {
  const uint64_t seq = seg->seq;
  const bool reuse = !seg->dat_broken && !seg->jnl_broken &&
                     seg->jnl_fd >= 0 &&
                     seg->dat_size == options_.segment_bytes &&
                     seg->jnl_size == journal_bytes_ &&
                     free_.size() + free_in_progress_ <
                         options_.max_free_segments;
  if (seg->dat_fd >= 0) io_->Close(seg->dat_fd);
  if (seg->jnl_fd >= 0) io_->Close(seg->jnl_fd);
  segments_.erase(seq);  // seg is gone from here on
  ++stats_.segments_retired;
  // The .dat goes first: if only it is renamed or removed when we crash,
  // recovery finds a journal without a segment and drops it. The other
  // order could bring back messages whose outcomes were just dropped.
  if (reuse) {
    const uint64_t k = next_free_name_++;
    ++free_in_progress_;
    io_->Rename(
        SegPath(seq, false), FreePath(k, false),
        Callback([this, seq, k](int r) {
          if (r < 0) {
            --free_in_progress_;
            Log(absl::StrCat("cannot rename ", SegPath(seq, false), ": ",
                             spool_internal::ErrnoText(-r),
                             "; left for the next start"));
            return;
          }
          io_->Rename(SegPath(seq, true), FreePath(k, true),
                      Callback([this, seq, k](int r2) {
                        --free_in_progress_;
                        if (r2 < 0) {
                          Log(absl::StrCat("cannot rename ",
                                           SegPath(seq, true), ": ",
                                           spool_internal::ErrnoText(-r2)));
                          return;
                        }
                        free_.push_back(k);
                        if (no_space_ && spare_ == nullptr) {
                          ++stats_.segment_prepare_retries;
                          StartSpare();
                        }
                      }));
        }));
    return;
  }
  // The .dat's removal is synced before the journal goes (see above).
  io_->Unlink(SegPath(seq, false), /*sync_dir=*/true,
              Callback([this, seq](int r) {
                if (r < 0 && r != -ENOENT) {
                  Log(absl::StrCat("cannot remove ", SegPath(seq, false), ": ",
                                   spool_internal::ErrnoText(-r)));
                  return;
                }
                io_->Unlink(SegPath(seq, true), /*sync_dir=*/false,
                            Callback([this](int) {
                              if (no_space_ && spare_ == nullptr) {
                                ++stats_.segment_prepare_retries;
                                StartSpare();
                              }
                            }));
              }));
}

void Spool::MaybeStartSpare() {
  if (active_ == nullptr || spare_ != nullptr || no_space_) return;
  const Segment& a = *active_;
  const bool dat_half = (a.dat_reserved - kFileHeaderBytes) * 2 >
                        a.dat_size - kFileHeaderBytes;
  const bool jnl_half = (a.jnl_reserved - kFileHeaderBytes) * 2 >
                        a.jnl_size - kFileHeaderBytes;
  if (dat_half || jnl_half) StartSpare();
}

// Preparing a spare, one operation at a time:
//   reuse free-<k>:  open .dat, open .jnl, write+sync both headers with the
//                    new seq, rename .dat then .jnl to seg-<seq>
//   new:             create+fallocate .dat and .jnl, write+sync headers
// The new header is durable before the rename, so a crash anywhere leaves
// either a free file or an empty seg-<seq>, never stale records under a live
// seq.
void Spool::StartSpare() {
  CHECK(spare_ == nullptr);
  const uint64_t seq = next_seq_++;
  auto seg = std::make_unique<Segment>(seq);
  seg->dat_size = options_.segment_bytes;
  seg->jnl_size = journal_bytes_;
  seg->prepare = std::make_unique<Prepare>();
  if (!free_.empty()) {
    seg->prepare->reuse = true;
    seg->prepare->free_name = free_.back();
    free_.pop_back();
  }
  spare_ = seg.get();
  segments_.emplace(seq, std::move(seg));
  PrepareStep(seq, 0);
}

void Spool::PrepareStep(uint64_t seq, int result) {
  Segment* seg = Find(seq);
  CHECK(seg != nullptr);
  CHECK(seg == spare_);
  CHECK(seg->prepare != nullptr);
  Prepare& p = *seg->prepare;
  switch (p.step) {
    case 0:
      break;
    case 1:
      if (result < 0) {
        return SpareFailed(seg, -result,
                           p.reuse ? "open free segment file"
                                   : "create segment file");
      }
      seg->dat_fd = result;
      p.dat_created = !p.reuse;
      break;
    case 2:
      if (result < 0) {
        return SpareFailed(seg, -result,
                           p.reuse ? "open free journal file"
                                   : "create journal file");
      }
      seg->jnl_fd = result;
      p.jnl_created = !p.reuse;
      break;
    case 3:
    case 4:
      if (result < 0) return SpareFailed(seg, -result, "write header");
      if (static_cast<size_t>(result) != p.header.size()) {
        return SpareFailed(seg, EIO, "short header write");
      }
      break;
    case 5:
    case 6:
      if (result < 0) return SpareFailed(seg, -result, "rename free file");
      break;
    default:
      CHECK(false);
  }
  ++p.step;
  auto next = [this, seq] {
    return Callback([this, seq](int r) { PrepareStep(seq, r); });
  };
  switch (p.step) {
    case 1:
      io_->OpenSegmentFile(
          p.reuse ? FreePath(p.free_name, false) : SegPath(seq, false),
          seg->dat_size, !p.reuse, next());
      return;
    case 2:
      io_->OpenSegmentFile(
          p.reuse ? FreePath(p.free_name, true) : SegPath(seq, true),
          seg->jnl_size, !p.reuse, next());
      return;
    case 3:
      p.header = EncodeFileHeader(FileHeader{seq, FileKind::kSegment});
      io_->WriteAndSync(seg->dat_fd, 0, p.header, true, next());
      return;
    case 4:
      p.header = EncodeFileHeader(FileHeader{seq, FileKind::kJournal});
      io_->WriteAndSync(seg->jnl_fd, 0, p.header, true, next());
      return;
    case 5:
      if (!p.reuse) return SpareReady(seg);
      io_->Rename(FreePath(p.free_name, false), SegPath(seq, false), next());
      return;
    case 6:
      io_->Rename(FreePath(p.free_name, true), SegPath(seq, true), next());
      return;
    case 7:
      return SpareReady(seg);
    default:
      CHECK(false);
  }
}

void Spool::SpareReady(Segment* seg) {
  CHECK(seg == spare_);
  CHECK(seg->dat_fd >= 0);
  CHECK(seg->jnl_fd >= 0);
  if (seg->prepare->reuse) {
    ++stats_.segments_reused;
  } else {
    ++stats_.segments_created;
  }
  seg->prepare.reset();
  seg->ready = true;
  if (no_space_) {
    Log(absl::StrCat("segment ", seg->seq, " made after ",
                     prepare_failures_in_row_,
                     " failed attempts; taking new mail again"));
  }
  no_space_ = false;
  no_space_status_ = absl::OkStatus();
  prepare_failures_in_row_ = 0;
  last_prepare_error_.clear();
  if (active_ == nullptr) {
    active_ = seg;
    spare_ = nullptr;
  }
  if (!seg->dat_pending.empty() || !seg->jnl_pending.empty()) MarkDirty(seg);
  MaybeStartSpare();
}

void Spool::SpareFailed(Segment* seg, int err, std::string_view what) {
  CHECK(seg == spare_);
  const uint64_t seq = seg->seq;
  const Prepare p = std::move(*seg->prepare);
  absl::Status status = ErrnoStatus(
      err, absl::StrCat("spool: cannot prepare segment ", seq, " (",
                        ToAbsl(what), ")"));
  const bool full = absl::IsResourceExhausted(status);
  ++prepare_failures_in_row_;
  // Once per kind of error, not once per retry.
  const std::string kind =
      absl::StrCat(ToAbsl(what), ": ", spool_internal::ErrnoText(err));
  if (kind != last_prepare_error_) {
    last_prepare_error_ = kind;
    Log(absl::StrCat(
        status.message(),
        full ? "; disk full: new mail gets 452 4.3.1"
             : "; not a lack of space: new mail gets 451 4.3.0",
        " until a segment can be made (retrying every ", options_.retry_ms,
        " ms; queued mail is still delivered)"));
  }
  if (seg->dat_fd >= 0) io_->Close(seg->dat_fd);
  if (seg->jnl_fd >= 0) io_->Close(seg->jnl_fd);
  seg->dat_fd = -1;
  seg->jnl_fd = -1;
  std::vector<Waiter> waiters;
  FailStaged(seg, &waiters);
  stats_.messages_failed += waiters.size();
  ++stats_.segment_prepare_failures;
  spare_ = nullptr;
  segments_.erase(seq);
  no_space_ = true;
  no_space_status_ = status;
  // Remove what this attempt made; a reused pair's state is now unknown,
  // so it is not offered again. Nothing in these files is live. Never a
  // name this attempt did not make: a create that failed with EEXIST found
  // a file that is not ours (OpenSegmentFile removes what a failed create
  // made itself).
  std::vector<std::string> leftovers;
  if (p.dat_created) leftovers.push_back(SegPath(seq, false));
  if (p.jnl_created) leftovers.push_back(SegPath(seq, true));
  if (p.reuse) {
    // Steps 5 and 6 rename the pair to seg-<seq>: step 6 failing means
    // the .dat has its new name.
    leftovers.push_back(p.step >= 6 ? SegPath(seq, false)
                                    : FreePath(p.free_name, false));
    leftovers.push_back(FreePath(p.free_name, true));
  }
  for (std::string& path : leftovers) {
    io_->Unlink(std::move(path), /*sync_dir=*/false, Callback([](int) {}));
  }
  ArmRetry();
  RunWaiters(&waiters, status);
}

void Spool::ArmRetry() {
  if (retry_armed_) return;
  retry_armed_ = true;
  // Not through Callback(): a timer is not I/O the drain must wait for.
  io_->After(options_.retry_ms,
             [weak = std::weak_ptr<Spool*>(self_)](int) {
               const std::shared_ptr<Spool*> self = weak.lock();
               if (self) (*self)->OnRetryTimer();
             });
}

void Spool::OnRetryTimer() {
  retry_armed_ = false;
  if (!no_space_ || spare_ != nullptr) return;  // recovered meanwhile
  ++stats_.segment_prepare_retries;
  StartSpare();  // a failure arms the timer again
}

}  // namespace ringpost::queue
