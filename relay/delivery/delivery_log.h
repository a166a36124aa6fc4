// delivery_log.h — the delivery log: JSON Lines, one record per event.
//
// Every acceptance (Reception), outcome (Delivery, TransientFailure, Bounce,
// Expiration) and refusal (Rejection) becomes one line with the fields
// operators and tests rely on: type, id, sender, recipient, domain, peer,
// code, enhanced, response, attempt, size, tls, queued_at, event_at.
//
// Each shard has its own DeliveryLog writing to the shared O_APPEND file.
// Records are appended to a buffer that leaves in ONE write through the
// shard's ring (no per-record write(): the log must never be the
// bottleneck) once it holds kBatchBytes or its oldest record is
// `flush_interval_ms` old (a timer sees to that when the shard is idle),
// and at once on Flush(force) (shutdown). A buffered write to ext4 is
// handed to an io-wq worker: one write per loop turn cost a worker wake-up
// per message in lock-step DATA load. While a write is in flight, new
// records collect for the next one. A buffer over `max_buffer_bytes` drops records and counts
// them (the log is an observability stream; the spool holds the truth).
// A short write is continued from where it stopped; a write that fails
// after a short one (file size limit, disk full) leaves part of a record,
// so the next write starts with a newline and never glues a record onto
// it. (Shards share the file: another shard's batch can still land between
// a short write and its continuation; only a failing disk does that.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "relay/runtime/loop.h"

namespace ringpost {

enum class LogEvent : uint8_t {
  kReception,
  kDelivery,
  kTransientFailure,
  kBounce,
  kExpiration,
  kRejection,
  // A notice the relay composed (a bounce, a delay warning, a success
  // report: RFC 3464) and spooled as a message of its own, from <>.
  kNotice,
};

struct LogRecord {
  LogEvent type = LogEvent::kReception;
  uint64_t id = 0;
  std::string_view sender;
  std::string_view recipient;
  std::string_view domain;
  std::string_view peer;       // "host:port" of the other side, if any
  int code = 0;                // SMTP reply code, 0 = none
  std::string_view enhanced;   // "2.0.0"
  std::string_view response;   // reply text
  uint32_t attempt = 0;
  uint64_t size = 0;
  bool tls = false;
  // With tls: what the handshake settled (Delivery and TransientFailure
  // after TLS, Reception over TLS). Written only when tls is true.
  std::string_view tls_version;  // "TLSv1.3"
  std::string_view tls_cipher;   // "TLS_AES_128_GCM_SHA256"
  bool tls_verified = false;     // outbound: chain and name checked (verify)
  std::string_view auth_user;    // Reception: the SMTP AUTH user; written when set
  // TransientFailure, Bounce, Expiration: the failure's class
  // (delivery/bounce_class.h: "invalid-recipient", "policy", ...); written when set.
  std::string_view category;
  // Notice: the message it reports on (`id` is the notice's own); written when set.
  uint64_t about_id = 0;
  int64_t queued_at_ms = 0;    // wall clock
  int64_t event_at_ms = 0;
};

// A crash (kill -9) can stop a log write part-way, leaving the file ending
// in a partial record. Called at start-up on the log opened for appending
// (`path` names the same file): if the file is regular, not empty and does
// not end in '\n', appends one, so that the next record starts a line of
// its own and only the partial one is unreadable. Returns whether it did.
bool TerminatePartialRecord(int fd, const std::string& path);

// Room WriteLogRecord needs for `r`: the longest line its fields can make
// plus slack for stores that run past the cursor (16-byte SIMD copies).
size_t MaxLogRecordSize(const LogRecord& r);
// Writes one JSON line for `r` at `out`, which must have room for
// MaxLogRecordSize(r) bytes; returns the end of the line. Bytes past it
// (within that room) may have been overwritten.
char* WriteLogRecord(const LogRecord& r, char* out);
// Appends one JSON line for `r` to *out (tests; the log uses LogBuffer).
void AppendLogRecord(const LogRecord& r, std::string* out);
std::string_view LogEventName(LogEvent e);
// `s` as a JSON string, quoted and escaped as the log writes it (for other
// JSON the relay writes: the admin port's queue answers).
std::string JsonQuote(std::string_view s);

// Bytes of records for one write. Unlike a std::string resized by each
// record's bound, it never zero-fills the room a record may need (~1.5 KB
// for a typical one, every record): WriteLogRecord needs spare bytes, not
// initialised ones. Grows geometrically, copying only the bytes in use.
class LogBuffer {
 public:
  // Appends one JSON line for `r`.
  void Append(const LogRecord& r);
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  void clear() { size_ = 0; }
  void swap(LogBuffer& other) noexcept;

 private:
  // Makes room for `n` more bytes at data() + size().
  void Grow(size_t n);

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

class DeliveryLog {
 public:
  static constexpr size_t kBatchBytes = 64 * 1024;

  // fd: opened O_WRONLY|O_APPEND|O_CREAT by the caller, shared by shards.
  // flush_interval_ms 0: write every loop turn.
  DeliveryLog(runtime::Loop* loop, int fd, uint32_t flush_interval_ms = 0,
              size_t max_buffer_bytes = 64 << 20);
  ~DeliveryLog();
  void Add(const LogRecord& r);
  // Per turn: issues the pending write when it is due (see above) or
  // `force`, and none is in flight.
  void Flush(bool force = false);
  bool idle() const { return !writing_ && buffer_.empty(); }
  uint64_t records() const { return records_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t write_errors() const { return write_errors_; }

 private:
  void IssueWrite();  // writing_buffer_ from written_ on
  void OnWritten(int32_t res);
  void ArmTimer();

  runtime::Loop* loop_;
  int fd_;
  uint32_t flush_interval_ms_;
  uint64_t first_pending_ms_ = 0;  // when buffer_ got its oldest record
  runtime::Timer timer_;
  size_t max_buffer_bytes_;
  LogBuffer buffer_;
  LogBuffer writing_buffer_;
  size_t written_ = 0;
  bool writing_ = false;
  // A failed write left part of a record at the end of the file: the next
  // write starts with a newline.
  bool torn_ = false;
  uint64_t records_ = 0;
  uint64_t dropped_ = 0;
  uint64_t write_errors_ = 0;
};

}  // namespace ringpost
