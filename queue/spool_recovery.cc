// queue/spool_recovery.cc — start-up half of the spool: Spool::Open.
//
// Runs before the shard's loop, so it uses blocking syscalls directly. For
// <dir>/shard-<N>/ it:
//   1. keeps up to max_free_segments complete free-<k> pairs whose headers
//      verify and whose sizes match the configuration; removes the rest;
//   2. reads every seg-<seq>.dat in seq order, collects its verified message
//      records (ScanRecords skips damage, logging each skipped region), then
//      applies the outcomes in seg-<seq>.jnl;
//   3. returns the messages with undone recipients in (seq, offset) order and
//      keeps their segments sealed; segments with nothing left are renamed to
//      free-<k> or removed;
//   4. continues seqs above every seq seen in a name or a header, and ids
//      above every recovered id, the clock and the bound in `ids` (then
//      writes the next bound there: see Spool::NewMessageId).
// It never removes a file it could not read, never crashes on file contents,
// and every loop is bounded by the directory size or the file size.
//
// What a crash can leave, and what recovery makes of it:
//   new seg-<s> created, header not yet written   -> bad header, no records:
//                                                    removed
//   free-<k> given header <s>, not yet renamed    -> still free (its header
//                                                    seq is counted)
//   free-<k>.dat renamed to seg-<s>, .jnl not yet -> empty seg-<s> retired;
//                                                    lone free-<k>.jnl removed
//   done seg-<s>.dat renamed/removed, .jnl not    -> lone seg-<s>.jnl removed
//   batch write torn at the tail                  -> records up to the tear
//                                                    recovered (one log line)
//   outcome records not yet on disk               -> recipients redelivered
//   a failed commit's records on disk, and its    -> not delivered (the
//     cancellation in the journal                    client was told 4xx)

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "queue/spool.h"
#include "queue/spool_internal.h"

namespace ringpost::queue {

using spool_internal::ErrnoText;
using spool_internal::ToAbsl;
using spool_internal::ToStd;

namespace {

constexpr size_t kMaxDirEntries = 1u << 20;
constexpr int kMaxEintrRetries = 100;
// Seqs stay far from wrapping; a name above this is not ours.
constexpr uint64_t kMaxSeq = uint64_t{1} << 62;

// "<prefix><decimal>.dat" or ".jnl", canonical decimal only.
bool ParseName(std::string_view name, std::string_view prefix, uint64_t* num,
               bool* journal) {
  if (!name.starts_with(prefix)) return false;
  name.remove_prefix(prefix.size());
  if (name.ends_with(".dat")) {
    *journal = false;
  } else if (name.ends_with(".jnl")) {
    *journal = true;
  } else {
    return false;
  }
  name.remove_suffix(4);
  // At most 19 digits: always fits in 64 bits.
  if (name.empty() || name.size() > 19) return false;
  if (name.size() > 1 && name[0] == '0') return false;
  uint64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *num = n;
  return true;
}

// Reads all of `path` into *out. Returns 0 or an errno (EFBIG when the file
// is larger than max_bytes).
int ReadWholeFile(const std::string& path, uint64_t max_bytes,
                  std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return EFBIG;
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  int eintr = 0;
  while (got < out->size()) {
    const ssize_t n = ::pread(fd, out->data() + got, out->size() - got,
                              static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR && ++eintr < kMaxEintrRetries) continue;
      const int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;  // shorter than fstat said
    got += static_cast<size_t>(n);
  }
  out->resize(got);
  ::close(fd);
  return 0;
}

// Writes `block` at offset 0 of fd and makes it durable. Returns 0 or an
// errno (EIO for a short write, which sets none).
int WriteAtStartAndSync(int fd, std::string_view block) {
  const ssize_t n = ::pwrite(fd, block.data(), block.size(), 0);
  if (n < 0) return errno;
  if (static_cast<size_t>(n) != block.size()) return EIO;
  return ::fdatasync(fd) != 0 ? errno : 0;
}

// The header block of `path` and the file's size.
std::optional<FileHeader> ReadHeader(const std::string& path,
                                     uint64_t* size) {
  *size = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st;
  std::optional<FileHeader> h;
  if (::fstat(fd, &st) == 0) {
    *size = static_cast<uint64_t>(std::max<off_t>(st.st_size, 0));
    char block[kRecordHeaderBytes];
    if (::pread(fd, block, sizeof(block), 0) ==
        static_cast<ssize_t>(sizeof(block))) {
      h = DecodeFileHeader(std::string_view(block, sizeof(block)));
    }
  }
  ::close(fd);
  return h;
}

void UnlinkQuietly(const std::string& path) { ::unlink(path.c_str()); }

uint64_t NowMicros() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

absl::Status CheckFileSize(uint64_t bytes, std::string_view what) {
  if (bytes % kFileHeaderBytes != 0 ||
      bytes < spool_internal::kMinSegmentBytes ||
      bytes > spool_internal::kMaxSegmentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spool: ", ToAbsl(what), " of ", bytes,
                     " bytes must be a multiple of 4096 from 64 KiB to 4 GiB"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(
    const Options& options, SpoolIo* io,
    std::vector<RecoveredMessage>* recovered) {
  CHECK(io != nullptr);
  CHECK(recovered != nullptr);
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("spool: no spool directory given");
  }
  if (options.shard < 0 || options.shard >= (1 << spool_internal::kShardBits)) {
    return absl::InvalidArgumentError(
        absl::StrCat("spool: shard ", options.shard, " out of 0..1023"));
  }
  if (absl::Status s = CheckFileSize(options.segment_bytes, "segment size");
      !s.ok()) {
    return s;
  }
  if (options.journal_bytes != 0) {
    if (absl::Status s = CheckFileSize(options.journal_bytes, "journal size");
        !s.ok()) {
      return s;
    }
  }
  if (options.commit_max_bytes == 0) {
    return absl::InvalidArgumentError("spool: commit_max_bytes is 0");
  }
  if (options.id_lease < 2 || options.id_lease > (uint64_t{1} << 40)) {
    return absl::InvalidArgumentError("spool: id_lease out of 2..2^40");
  }
  if (options.retry_ms == 0 || options.retry_ms > 3600000) {
    return absl::InvalidArgumentError("spool: retry_ms out of 1..3600000");
  }
  // Before anything else: a spool another process holds is not touched.
  absl::StatusOr<std::shared_ptr<SpoolLock>> lock =
      SpoolLock::Acquire(options.dir);
  if (!lock.ok()) return lock.status();
  std::unique_ptr<Spool> spool(new Spool(options, io));
  spool->lock_ = std::move(*lock);
  if (!options.durable) {
    spool->Log(
        "DURABILITY IS OFF: messages are acknowledged before they reach "
        "stable storage and are lost on a crash. For benchmarks only.");
  }
  if (absl::Status s = spool->Recover(recovered); !s.ok()) return s;
  spool->StartSpare();
  return spool;
}

absl::Status Spool::OpenIdFile(uint64_t max_recovered_counter) {
  const std::string path =
      absl::StrCat(shard_dir_, "/", spool_internal::kIdFileName);
  uint64_t floor = std::max(NowMicros() & spool_internal::kCounterMask,
                            max_recovered_counter);
  std::string contents;
  if (const int err = ReadWholeFile(path, 4096, &contents); err == 0) {
    const std::optional<uint64_t> limit = DecodeIdFile(contents);
    if (!limit || *limit > spool_internal::kCounterMask) {
      Log(absl::StrCat(path, " is damaged; new ids start ",
                       spool_internal::kIdDamageJump,
                       " above the clock and the recovered ids"));
      floor = spool_internal::IdBound(floor, spool_internal::kIdDamageJump);
    } else {
      floor = std::max(floor, *limit);
    }
  } else if (err != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: cannot read ", path, ": ", ErrnoText(err)));
  } else {
    recover_dir_changed_ = true;  // the file is new
  }
  ids_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (ids_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: cannot open ", path, ": ", ErrnoText(errno)));
  }
  id_counter_ = floor;
  id_limit_ = spool_internal::IdBound(floor, options_.id_lease);
  id_renew_at_ = id_limit_ - options_.id_lease / 2;
  if (const int err = WriteAtStartAndSync(ids_fd_, EncodeIdFile(id_limit_));
      err != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: cannot write ", path, ": ", ErrnoText(err)));
  }
  return absl::OkStatus();
}

absl::Status Spool::Recover(std::vector<RecoveredMessage>* recovered) {
  // A directory made here is fsynced in its parent: records synced into
  // files under a name that a power loss could take away are not durable.
  for (const std::string& d : {options_.dir, shard_dir_}) {
    if (const int err = spool_internal::MakeDirDurable(d); err != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("spool: cannot create directory ", d, ": ",
                       ErrnoText(err),
                       " (check the spool path and its permissions)"));
    }
  }
  DIR* dir = ::opendir(shard_dir_.c_str());
  if (dir == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: cannot read directory ", shard_dir_, ": ", ErrnoText(errno)));
  }
  // seq or k -> {has .dat, has .jnl}, in ascending order.
  std::map<uint64_t, std::pair<bool, bool>> segs;
  std::map<uint64_t, std::pair<bool, bool>> frees;
  absl::Status listed;
  for (size_t entries = 0;; ++entries) {
    if (entries > kMaxDirEntries) {
      listed = absl::FailedPreconditionError(absl::StrCat(
          "spool: more than ", kMaxDirEntries, " files in ", shard_dir_));
      break;
    }
    errno = 0;
    const struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0) {
        listed = absl::FailedPreconditionError(absl::StrCat(
            "spool: cannot list ", shard_dir_, ": ", ErrnoText(errno)));
      }
      break;
    }
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    uint64_t n = 0;
    bool journal = false;
    if (ParseName(name, "seg-", &n, &journal)) {
      (journal ? segs[n].second : segs[n].first) = true;
    } else if (ParseName(name, "free-", &n, &journal)) {
      (journal ? frees[n].second : frees[n].first) = true;
    } else if (name == spool_internal::kIdFileName) {
      continue;
    } else {
      Log(absl::StrCat("ignoring unexpected file ", ToAbsl(name)));
    }
  }
  ::closedir(dir);
  if (!listed.ok()) return listed;
  if ((!segs.empty() && segs.rbegin()->first >= kMaxSeq) ||
      (!frees.empty() && frees.rbegin()->first >= kMaxSeq)) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: a file in ", shard_dir_,
                     " has a number above 2^62; it was not made by ringpost"));
  }

  uint64_t max_seq = 0;
  uint64_t max_counter = 0;
  for (const auto& [k, has] : frees) {
    next_free_name_ = std::max(next_free_name_, k + 1);
    const bool pair = has.first && has.second;
    bool keep = pair && free_.size() < options_.max_free_segments;
    if (keep) {
      uint64_t dat_size = 0;
      uint64_t jnl_size = 0;
      const auto hd = ReadHeader(FreePath(k, false), &dat_size);
      const auto hj = ReadHeader(FreePath(k, true), &jnl_size);
      // A free file's header seq bounds the seqs of the stale records in
      // it: count it so no new segment gets one of those seqs.
      if (hd) max_seq = std::max(max_seq, hd->segment_seq);
      if (hj) max_seq = std::max(max_seq, hj->segment_seq);
      keep = hd && hj && dat_size == options_.segment_bytes &&
             jnl_size == journal_bytes_;
    }
    if (keep) {
      free_.push_back(k);
      continue;
    }
    Log(absl::StrCat("removing free-", k, ": ",
                     !pair ? "incomplete pair"
                     : free_.size() >= options_.max_free_segments
                         ? "more than max_free_segments"
                         : "damaged header or size of another configuration"));
    UnlinkQuietly(FreePath(k, false));
    UnlinkQuietly(FreePath(k, true));
    recover_dir_changed_ = true;
  }

  std::string buf;
  const size_t recovered_before = recovered->size();
  for (const auto& [seq, has] : segs) {
    max_seq = std::max(max_seq, seq);
    RecoverSegment(seq, has.first, has.second, &buf, &max_seq, &max_counter,
                   recovered);
  }
  if (max_seq >= kMaxSeq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: a file header in ", shard_dir_, " has a seq above 2^62"));
  }
  next_seq_ = max_seq + 1;
  if (absl::Status s = OpenIdFile(max_counter); !s.ok()) return s;
  if (recover_dir_changed_) {
    if (const int err = spool_internal::FsyncDir(shard_dir_); err != 0) {
      Log(absl::StrCat("fsync of ", shard_dir_, ": ", ErrnoText(err)));
    }
  }
  Log(absl::StrCat("recovered ", recovered->size() - recovered_before,
                   " messages in ", segments_.size(), " segments; ",
                   free_.size(), " free segment files; next segment ",
                   next_seq_));
  return absl::OkStatus();
}

void Spool::RecoverSegment(uint64_t seq, bool has_dat, bool has_jnl,
                           std::string* buf, uint64_t* max_seq,
                           uint64_t* max_counter,
                           std::vector<RecoveredMessage>* recovered) {
  const std::string dat_path = SegPath(seq, false);
  const std::string jnl_path = SegPath(seq, true);
  if (!has_dat) {
    // Retiring removes or renames the .dat first: this one is done.
    Log(absl::StrCat(jnl_path, ": journal of a retired segment; removing"));
    UnlinkQuietly(jnl_path);
    recover_dir_changed_ = true;
    return;
  }
  if (const int err =
          ReadWholeFile(dat_path, spool_internal::kMaxSegmentBytes, buf);
      err != 0) {
    Log(absl::StrCat("cannot read ", dat_path, ": ", ErrnoText(err),
                     "; left in place, its messages are NOT recovered"));
    return;
  }
  const uint64_t dat_file_size = buf->size();
  const std::optional<FileHeader> h = DecodeFileHeader(
      std::string_view(*buf).substr(0, kFileHeaderBytes));
  if (h) *max_seq = std::max(*max_seq, h->segment_seq);
  const bool dat_header_ok =
      h && h->kind == FileKind::kSegment && h->segment_seq == seq;

  std::vector<MessageRecord> msgs;
  absl::flat_hash_map<uint64_t, size_t> index;
  auto on_corrupt = [&](const std::string& path) {
    return [this, &path](size_t off, const char* reason) {
      Log(absl::StrCat(path, ": damaged record at offset ", off, " (", reason,
                       "); skipped"));
    };
  };
  if (h && !dat_header_ok) {
    // Not written by the segment this name says: nothing in it is live.
    Log(absl::StrCat(dat_path, ": header belongs to segment ",
                     h->segment_seq, "; no records read"));
  } else {
    if (!h) {
      Log(absl::StrCat(dat_path, ": damaged file header; reading records of "
                                 "segment ",
                       seq, " anyway"));
    }
    const ScanResult res = ScanRecords(
        *buf, kFileHeaderBytes, seq, kMaxPayloadBytes,
        [&](RecordType type, std::string_view payload, size_t off) {
          MessageRecord m;
          absl::Status s = type == RecordType::kMessage
                               ? DecodeMessage(payload, &m)
                               : absl::DataLossError("not a message record");
          if (!s.ok()) {
            Log(absl::StrCat(dat_path, ": record at offset ", off, ": ",
                             s.message(), "; skipped"));
            return;
          }
          if (!index.emplace(m.id, msgs.size()).second) {
            Log(absl::StrCat(dat_path, ": duplicate message id ", m.id,
                             " at offset ", off, "; skipped"));
            return;
          }
          msgs.push_back(std::move(m));
        },
        on_corrupt(dat_path));
    if (res.budget_exhausted) {
      Log(absl::StrCat(dat_path, ": stopped looking for records after offset ",
                       res.tail, " (scan budget)"));
    }
  }
  for (const MessageRecord& m : msgs) {
    if ((m.id >> spool_internal::kCounterBits) ==
        static_cast<uint64_t>(options_.shard)) {
      *max_counter =
          std::max(*max_counter, m.id & spool_internal::kCounterMask);
    }
  }

  std::vector<std::vector<bool>> done(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) {
    done[i].assign(msgs[i].recipients.size(), false);
  }
  uint64_t jnl_tail = kFileHeaderBytes;
  bool jnl_readable = false;
  bool jnl_header_ok = false;
  uint64_t jnl_file_size = 0;
  if (has_jnl) {
    if (const int err =
            ReadWholeFile(jnl_path, spool_internal::kMaxSegmentBytes, buf);
        err != 0) {
      Log(absl::StrCat("cannot read ", jnl_path, ": ", ErrnoText(err),
                       "; this segment's recipients count as not done"));
    } else {
      jnl_readable = true;
      jnl_file_size = buf->size();
      const std::optional<FileHeader> hj = DecodeFileHeader(
          std::string_view(*buf).substr(0, kFileHeaderBytes));
      if (hj) *max_seq = std::max(*max_seq, hj->segment_seq);
      jnl_header_ok =
          hj && hj->kind == FileKind::kJournal && hj->segment_seq == seq;
      if (hj && !jnl_header_ok) {
        Log(absl::StrCat(jnl_path, ": header belongs to segment ",
                         hj->segment_seq, "; no outcomes read"));
      } else {
        if (!hj) {
          Log(absl::StrCat(jnl_path, ": damaged file header; reading "
                                     "outcomes anyway"));
        }
        const ScanResult res = ScanRecords(
            *buf, kFileHeaderBytes, seq, kOutcomePayloadBytes,
            [&](RecordType type, std::string_view payload, size_t off) {
              OutcomeRecord o;
              absl::Status s = type == RecordType::kOutcome
                                   ? DecodeOutcome(payload, &o)
                                   : absl::DataLossError("not an outcome");
              if (!s.ok()) {
                Log(absl::StrCat(jnl_path, ": record at offset ", off, ": ",
                                 s.message(), "; skipped"));
                return;
              }
              auto it = index.find(o.message_id);
              if (it == index.end()) return;  // its record was damaged
              std::vector<bool>& d = done[it->second];
              if (o.kind == kOutcomeCancelled) {
                // Its commit failed and its client was told 4xx: the record
                // is on disk, but it is not mail we accepted.
                d.assign(d.size(), true);
                return;
              }
              if (o.recipient_index >= d.size()) {
                Log(absl::StrCat(jnl_path, ": outcome at offset ", off,
                                 " names recipient ", o.recipient_index,
                                 " of a message with ", d.size()));
                return;
              }
              d[o.recipient_index] = true;
            },
            on_corrupt(jnl_path));
        jnl_tail = std::max<uint64_t>(res.tail, kFileHeaderBytes);
      }
    }
  } else if (!msgs.empty()) {
    Log(absl::StrCat(jnl_path, " is missing; every recipient of segment ",
                     seq, " counts as not done"));
  }

  uint64_t undone_rcpts = 0;
  std::vector<uint32_t> undone(msgs.size(), 0);
  for (size_t i = 0; i < msgs.size(); ++i) {
    undone[i] = static_cast<uint32_t>(
        std::count(done[i].begin(), done[i].end(), false));
    undone_rcpts += undone[i];
  }
  if (undone_rcpts == 0) {
    RetireAtStartup(seq,
                    dat_header_ok && dat_file_size == options_.segment_bytes,
                    jnl_readable && jnl_header_ok &&
                        jnl_file_size == journal_bytes_);
    return;
  }

  auto seg = std::make_unique<Segment>(seq);
  seg->ready = true;
  seg->sealed = true;  // recovered segments take no new messages
  seg->dat_size = dat_file_size;
  if (has_jnl && !jnl_readable) {
    seg->jnl_broken = true;  // do not write over what we could not read
  } else {
    uint64_t jnl_size = 0;
    const int fd =
        OpenJournalForAppend(seq, !(has_jnl && jnl_header_ok), &jnl_size);
    if (fd < 0) {
      Log(absl::StrCat("cannot prepare ", jnl_path, " for outcomes: ",
                       ErrnoText(-fd),
                       "; this segment's outcomes will not be journaled"));
      seg->jnl_broken = true;
    } else {
      seg->jnl_fd = fd;
      seg->jnl_size = jnl_size;
    }
  }
  seg->jnl_tail = jnl_tail;
  seg->jnl_reserved = jnl_tail + undone_rcpts * kOutcomeRecordBytes;
  if (!seg->jnl_broken &&
      seg->jnl_reserved + kRecordHeaderBytes > seg->jnl_size) {
    Log(absl::StrCat(jnl_path, " has room for fewer outcomes than the ",
                     undone_rcpts, " recipients left; the rest will not be "
                                   "journaled"));
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (undone[i] == 0) continue;
    const uint64_t id = msgs[i].id;
    const uint32_t slot = static_cast<uint32_t>(seg->slots.size());
    seg->slots.push_back(
        Segment::Slot{id, MessageState{undone[i], done[i]}});
    ++seg->live;
    ++stats_.messages_live;
    recovered->push_back(RecoveredMessage{MessageLocator{seq, id, slot},
                                          std::move(msgs[i]),
                                          std::move(done[i])});
  }
  segments_.emplace(seq, std::move(seg));
}

// Opens seg-<seq>.jnl for appending outcomes, creating it or giving it a
// fresh header when `rewrite_header`. Records after the header are kept.
// Returns an fd or -errno; *size is the file's size.
int Spool::OpenJournalForAppend(uint64_t seq, bool rewrite_header,
                                uint64_t* size) {
  const std::string path = SegPath(seq, true);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return -errno;
  auto fail = [fd](int err = errno) {
    ::close(fd);
    return -err;
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail();
  uint64_t have = static_cast<uint64_t>(std::max<off_t>(st.st_size, 0));
  if (have < journal_bytes_) {
    if (::fallocate(fd, 0, 0, static_cast<off_t>(journal_bytes_)) != 0 &&
        (errno != EOPNOTSUPP ||
         ::ftruncate(fd, static_cast<off_t>(journal_bytes_)) != 0)) {
      return fail();
    }
    have = journal_bytes_;
    rewrite_header = true;
  }
  if (rewrite_header) {
    const std::string header =
        EncodeFileHeader(FileHeader{seq, FileKind::kJournal});
    if (const int err = WriteAtStartAndSync(fd, header); err != 0) {
      return fail(err);
    }
    recover_dir_changed_ = true;
  }
  *size = have;
  return fd;
}

void Spool::RetireAtStartup(uint64_t seq, bool dat_reusable,
                            bool jnl_reusable) {
  const std::string dat = SegPath(seq, false);
  const std::string jnl = SegPath(seq, true);
  recover_dir_changed_ = true;
  if (dat_reusable && jnl_reusable &&
      free_.size() < options_.max_free_segments) {
    const uint64_t k = next_free_name_++;
    if (::rename(dat.c_str(), FreePath(k, false).c_str()) == 0) {
      // As below: the .dat's new name durable before the journal moves.
      if (const int err = spool_internal::FsyncDir(shard_dir_); err != 0) {
        Log(absl::StrCat("fsync of ", shard_dir_, ": ", ErrnoText(err)));
      }
      if (::rename(jnl.c_str(), FreePath(k, true).c_str()) == 0) {
        free_.push_back(k);
        Log(absl::StrCat("segment ", seq, " has nothing left; kept as free-",
                         k));
      } else {
        Log(absl::StrCat("cannot rename ", jnl, ": ", ErrnoText(errno)));
        UnlinkQuietly(FreePath(k, false));
        UnlinkQuietly(jnl);
      }
      return;
    }
    Log(absl::StrCat("cannot rename ", dat, ": ", ErrnoText(errno)));
  }
  if (::unlink(dat.c_str()) != 0 && errno != ENOENT) {
    Log(absl::StrCat("cannot remove ", dat, ": ", ErrnoText(errno),
                     "; left in place"));
    return;
  }
  // The .dat's removal durable before the journal's: a power loss between
  // them must not bring back the records without their outcomes.
  if (const int err = spool_internal::FsyncDir(shard_dir_); err != 0) {
    Log(absl::StrCat("fsync of ", shard_dir_, ": ", ErrnoText(err)));
  }
  UnlinkQuietly(jnl);
  Log(absl::StrCat("segment ", seq, " has nothing left; removed"));
}

}  // namespace ringpost::queue
