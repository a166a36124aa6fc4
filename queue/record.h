// queue/record.h — on-disk format of the spool: file headers, record frames,
// and the payload codecs for messages and per-recipient outcomes.
//
// A spool file (segment `.dat` or journal `.jnl`) is:
//   [0, 4096)   file header block: FileHeader, zero padded
//   [4096, ...) records, each 8-byte aligned, appended back to back
//   then either a zero header (24 zero bytes: "nothing more was written"),
//   or stale bytes from an earlier use of a recycled file.
//
// A record frame (all integers little-endian):
//   u32 magic        kRecordMagic
//   u32 type         RecordType
//   u64 segment_seq  the incarnation of the file this record belongs to
//   u32 payload_len  bytes of payload (padding excluded), <= max_payload
//   u32 crc32c       over the 20 header bytes above, then the payload
//   payload, then zero padding up to a multiple of 8
//
// Invariants the reader relies on:
//   - A file's records carry the seq of the file's current incarnation; any
//     record with another seq is stale (a previous use of a recycled file) and
//     marks the end of the current data. Seqs are never reused, so stale data
//     always has a different seq.
//   - Records are written sequentially, so after a crash only the tail can be
//     torn. Corruption elsewhere (bit rot) is skipped by ScanRecords, which
//     resynchronises on the next frame whose CRC verifies.
//
// Encoding writes into caller memory (the group-commit batch buffer, or a
// std::string): the body is copied exactly once, into that memory. Decoding
// never trusts a length before checking it against the bytes that are
// actually there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace ringpost::queue {

inline constexpr uint32_t kRecordMagic = 0x31525052u;  // "RPR1"
inline constexpr uint32_t kFileMagic = 0x46535052u;    // "RPSF"
inline constexpr uint32_t kFileVersion = 1;
inline constexpr size_t kFileHeaderBytes = 4096;
inline constexpr size_t kRecordHeaderBytes = 24;
inline constexpr size_t kRecordAlign = 8;
// Absolute bound on one payload; callers may pass a smaller one.
inline constexpr uint32_t kMaxPayloadBytes = 1u << 30;
// Bounds on message fields, checked by ValidateMessage and DecodeMessage.
inline constexpr size_t kMaxAddressBytes = 4096;
inline constexpr size_t kMaxRecipients = 1u << 16;
inline constexpr size_t kMessageFixedBytes = 32;
inline constexpr size_t kOutcomePayloadBytes = 16;
// Framed size of one outcome record (header + payload, already aligned).
inline constexpr size_t kOutcomeRecordBytes =
    kRecordHeaderBytes + kOutcomePayloadBytes;

enum class RecordType : uint32_t {
  kMessage = 1,
  kOutcome = 2,
};

// MessageRecord::flags bits.
inline constexpr uint32_t kFlag8BitMime = 1u << 0;
inline constexpr uint32_t kFlagSmtpUtf8 = 1u << 1;
// Set by the encoder when dsn or reports_on_* are non-default: the payload
// then has the extension block. Never set in a MessageRecord in memory (the
// decoder takes it out; ValidateMessage refuses it).
inline constexpr uint32_t kFlagExtensions = 1u << 2;

// RCPT NOTIFY bits (RFC 3461 4.1); 0 = NOTIFY not given. kNotifyNever is
// never combined with another bit.
inline constexpr uint8_t kNotifySuccess = 1, kNotifyFailure = 2,
                         kNotifyDelay = 4, kNotifyNever = 8;
enum class DsnRet : uint8_t { kUnspecified = 0, kFull = 1, kHeaders = 2 };
// Bounds on the DSN fields (RFC 3461 4.2, 4.4), of the decoded values.
inline constexpr size_t kMaxEnvidBytes = 100;
inline constexpr size_t kMaxOrcptBytes = 500;  // "addr-type;address"

// A message's RFC 3461 parameters, decoded from xtext.
struct DsnFields {
  std::string envid;  // ENVID; empty: not given
  DsnRet ret = DsnRet::kUnspecified;
  std::vector<uint8_t> notify;  // empty (none given), or one per recipient
  // empty (none given), or one per recipient: "addr-type;address" decoded,
  // "" = not given
  std::vector<std::string> orcpt;

  bool empty() const {  // nothing given
    return envid.empty() && ret == DsnRet::kUnspecified && notify.empty() &&
           orcpt.empty();
  }
  void clear() {  // keeps storage
    envid.clear();
    ret = DsnRet::kUnspecified;
    notify.clear();
    orcpt.clear();
  }
  bool operator==(const DsnFields&) const = default;
};

struct MessageRecord {
  uint64_t id = 0;
  int64_t queued_at_ms = 0;
  std::string sender;  // reverse-path without <>; empty for the null sender
  std::vector<std::string> recipients;
  uint32_t flags = 0;
  // The full message content: headers and body, CRLF line ends, NOT
  // dot-stuffed.
  std::string body;
  DsnFields dsn;
  // When this record is a delivery status notification (a bounce) about an
  // earlier message of the same shard: that message's id and the recipient
  // indices it reports on; they count as done once this record is durable.
  uint64_t reports_on_id = 0;
  std::vector<uint32_t> reports_on_rcpts;

  bool operator==(const MessageRecord&) const = default;
};

// OutcomeRecord::kind values. The first three are final for that recipient.
inline constexpr uint8_t kOutcomeDelivered = 1;
inline constexpr uint8_t kOutcomeBounced = 2;
inline constexpr uint8_t kOutcomeExpired = 3;
// The whole message (recipient_index 0): its commit failed and its client
// was told 4xx, so its record, should it be on disk anyway, is not mail.
inline constexpr uint8_t kOutcomeCancelled = 4;

struct OutcomeRecord {
  uint64_t message_id = 0;
  uint32_t recipient_index = 0;
  uint8_t kind = 0;

  bool operator==(const OutcomeRecord&) const = default;
};

// Bytes a record with `payload_len` bytes of payload takes in a file.
constexpr size_t FramedSize(size_t payload_len) {
  return kRecordHeaderBytes +
         (payload_len + kRecordAlign - 1) / kRecordAlign * kRecordAlign;
}

// Checks the bounds above (recipient count >= 1, lengths, total payload;
// DSN: notify and orcpt empty or one per recipient, each notify a valid
// mask, envid and every orcpt within their bounds; reports_on_rcpts at most
// kMaxRecipients indices, each < kMaxRecipients, and none without a
// reports_on_id; flags without kFlagExtensions).
absl::Status ValidateMessage(const MessageRecord& m);
size_t MessagePayloadSize(const MessageRecord& m);
size_t FramedMessageSize(const MessageRecord& m);

// Appends one framed record to *out. Precondition for messages:
// ValidateMessage(m).ok(). Outcome kind must be one of kOutcome*.
void EncodeMessage(const MessageRecord& m, uint64_t segment_seq,
                   std::string* out);
// The same bytes written to out[0, FramedMessageSize(m)), which must be
// writable; returns FramedMessageSize(m).
size_t EncodeMessageInto(const MessageRecord& m, uint64_t segment_seq,
                         char* out);
void EncodeOutcome(const OutcomeRecord& o, uint64_t segment_seq,
                   std::string* out);

enum class DecodeStatus {
  kOk,       // a record of expected_segment_seq whose CRC verifies
  kEnd,      // end of this incarnation's data: too few bytes left for a
             // header, a zero header, or a verified record of another seq
  kCorrupt,  // bad magic/type/length/CRC: a torn write or damage
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kEnd;
  RecordType type = RecordType::kMessage;  // kOk only
  std::string_view payload;                // kOk only; points into buf
  size_t next_offset = 0;  // kOk: offset just past the record's padding
  const char* reason = "";  // kEnd/kCorrupt: static text for logs
};

// Decodes the frame at buf[offset]. Precondition: offset % 8 == 0 and
// offset <= buf.size(). Never reads outside buf.
DecodeResult DecodeNext(std::string_view buf, size_t offset,
                        uint64_t expected_segment_seq,
                        uint32_t max_payload_bytes = kMaxPayloadBytes);

// Payload codecs. Errors are DataLoss with the field that was wrong.
absl::Status DecodeMessage(std::string_view payload, MessageRecord* out);
absl::Status DecodeOutcome(std::string_view payload, OutcomeRecord* out);

// Walks every record of `segment_seq` in buf[start, buf.size()).
// On kCorrupt it reports the offset, then resynchronises: first at the end of
// the damaged frame if its header looked sane, otherwise by trying every
// 8-byte step forward for a frame whose CRC verifies. It stops at the first
// kEnd in normal mode, at a verified record of another seq while scanning,
// at the end of buf, or when the CRC work spent scanning exceeds a budget
// proportional to buf.size() (so hostile bytes cannot make it quadratic).
struct ScanResult {
  size_t records = 0;
  size_t corrupt_regions = 0;
  // Offset just past the last good record (or `start`): where appending to
  // this file may continue.
  size_t tail = 0;
  bool budget_exhausted = false;
};
ScanResult ScanRecords(
    std::string_view buf, size_t start, uint64_t segment_seq,
    uint32_t max_payload_bytes,
    absl::FunctionRef<void(RecordType type, std::string_view payload,
                           size_t offset)>
        on_record,
    absl::FunctionRef<void(size_t offset, const char* reason)> on_corrupt);

// The 4 KiB block at the start of every spool file.
enum class FileKind : uint32_t {
  kSegment = 1,  // seg-<seq>.dat: message records
  kJournal = 2,  // seg-<seq>.jnl: outcome records
};

struct FileHeader {
  uint64_t segment_seq = 0;
  FileKind kind = FileKind::kSegment;

  bool operator==(const FileHeader&) const = default;
};

// Returns exactly kFileHeaderBytes bytes.
std::string EncodeFileHeader(const FileHeader& h);
// nullopt unless magic, version, kind and checksum are all right.
std::optional<FileHeader> DecodeFileHeader(std::string_view block);

// <shard dir>/ids, the bound above every id counter a shard has issued
// (see Spool::NewMessageId): the bound (8 bytes), the CRC32C of those 8
// bytes (4), kIdFileMagic (4).
inline constexpr size_t kIdFileBytes = 16;
inline constexpr uint32_t kIdFileMagic = 0x44495052u;  // "RPID"
// Returns exactly kIdFileBytes bytes.
std::string EncodeIdFile(uint64_t bound);
// nullopt unless size, magic and checksum are all right.
std::optional<uint64_t> DecodeIdFile(std::string_view contents);

}  // namespace ringpost::queue
