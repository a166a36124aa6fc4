// queue/record.cc — framing, payload codecs and the resynchronising scanner.
//
// Message payload layout (little-endian):
//   u64 id | i64 queued_at_ms | u32 flags | u32 sender_len | u32 rcpt_count |
//   u32 body_len | sender | rcpt_count x (u32 len | bytes) |
//   [extension block, only with kFlagExtensions in flags] | body
// The body goes last so that encoding is: fixed part, a few short strings,
// then one append of the body straight into the batch buffer.
// Extension block (DSN parameters, bounce bookkeeping):
//   u32 block_len (the bytes after this field, <= kMaxExtensionBytes) |
//   u8 ret | 3 x 0 | u32 envid_len | envid |
//   u32 notify_count (0 or rcpt_count) | notify_count x u8 |
//   u32 orcpt_count (0 or rcpt_count) | orcpt_count x (u32 len | bytes) |
//   u64 reports_on_id | u32 reports_on_count | reports_on_count x u32
// A record without the flag is exactly the format before the block
// existed, so older spools read as they always did, and a message without
// DSN parameters costs nothing. The block is written only when something in
// it differs from the defaults, and the decoder refuses a block that does
// not (one encoding per message).
// Outcome payload: u64 message_id | u32 recipient_index | u8 kind | 3 x 0.
//
// Invariants: every length read from a buffer is compared with the bytes that
// remain before it is used; no loop here runs more than buf.size()/8 times.

#include "queue/record.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "queue/crc32c.h"

namespace ringpost::queue {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the spool format is little-endian and written with memcpy");

inline void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

constexpr char kZeros[kRecordAlign + kRecordHeaderBytes] = {};

// Extension block bytes besides the strings and arrays: block_len, ret and
// its padding, envid_len, notify_count, orcpt_count, reports_on_id,
// reports_on_count.
constexpr size_t kExtensionFixedBytes = 4 + 4 + 4 + 4 + 4 + 8 + 4;
// The largest block ValidateMessage allows (block_len counts all but its own
// 4 bytes): every field at its bound.
constexpr size_t kMaxExtensionBytes =
    kExtensionFixedBytes - 4 + kMaxEnvidBytes + kMaxRecipients +
    kMaxRecipients * (4 + kMaxOrcptBytes) + kMaxRecipients * 4;

bool HasExtensions(const MessageRecord& m) {
  return !m.dsn.empty() || m.reports_on_id != 0 || !m.reports_on_rcpts.empty();
}

// Bytes of the extension block, block_len included; 0 when it is not
// written.
size_t ExtensionSize(const MessageRecord& m) {
  if (!HasExtensions(m)) return 0;
  size_t n = kExtensionFixedBytes + m.dsn.envid.size() + m.dsn.notify.size() +
             4 * m.reports_on_rcpts.size();
  for (const std::string& o : m.dsn.orcpt) n += 4 + o.size();
  return n;
}

bool ValidNotify(uint8_t v) {
  constexpr uint8_t kAll =
      kNotifySuccess | kNotifyFailure | kNotifyDelay | kNotifyNever;
  if ((v & ~kAll) != 0) return false;
  return (v & kNotifyNever) == 0 || v == kNotifyNever;
}

// Writes through out->append(const char*, size_t): a std::string, or a
// RawOut over memory the caller sized.
struct RawOut {
  char* p;
  void append(const char* s, size_t n) {
    std::memcpy(p, s, n);
    p += n;
  }
};

// Appends the 24-byte frame header with the CRC left at zero: StoreCrc fills
// it in once the payload follows.
template <typename Out>
void AppendFrameHeader(RecordType type, uint64_t segment_seq,
                       size_t payload_len, Out* out) {
  char h[kRecordHeaderBytes];
  Put32(h, kRecordMagic);
  Put32(h + 4, static_cast<uint32_t>(type));
  Put64(h + 8, segment_seq);
  Put32(h + 16, static_cast<uint32_t>(payload_len));
  Put32(h + 20, 0);
  out->append(h, sizeof(h));
}

// Appends the zero padding after a payload of `payload_len` bytes.
template <typename Out>
void AppendPadding(size_t payload_len, Out* out) {
  out->append(kZeros,
              FramedSize(payload_len) - kRecordHeaderBytes - payload_len);
}

// Stores the CRC of the complete frame at `frame`.
void StoreCrc(char* frame, size_t payload_len) {
  uint32_t crc = Crc32c(frame, 20);
  crc = Crc32c(frame + kRecordHeaderBytes, payload_len, crc);
  Put32(frame + 20, crc);
}

template <typename Out>
void Append32(uint32_t v, Out* out) {
  char b[4];
  Put32(b, v);
  out->append(b, sizeof(b));
}

// Appends the extension block of `m`, `size` (ExtensionSize) bytes.
template <typename Out>
void AppendExtensions(const MessageRecord& m, size_t size, Out* out) {
  const DsnFields& d = m.dsn;
  Append32(static_cast<uint32_t>(size - 4), out);
  const char ret[4] = {static_cast<char>(d.ret), 0, 0, 0};
  out->append(ret, sizeof(ret));
  Append32(static_cast<uint32_t>(d.envid.size()), out);
  out->append(d.envid.data(), d.envid.size());
  Append32(static_cast<uint32_t>(d.notify.size()), out);
  out->append(reinterpret_cast<const char*>(d.notify.data()), d.notify.size());
  Append32(static_cast<uint32_t>(d.orcpt.size()), out);
  for (const std::string& o : d.orcpt) {
    Append32(static_cast<uint32_t>(o.size()), out);
    out->append(o.data(), o.size());
  }
  char id[8];
  Put64(id, m.reports_on_id);
  out->append(id, sizeof(id));
  Append32(static_cast<uint32_t>(m.reports_on_rcpts.size()), out);
  for (uint32_t r : m.reports_on_rcpts) Append32(r, out);
}

// Appends header, payload and padding of a message record (CRC still 0).
template <typename Out>
void AppendMessageFrame(const MessageRecord& m, uint64_t segment_seq,
                        size_t payload_len, Out* out) {
  AppendFrameHeader(RecordType::kMessage, segment_seq, payload_len, out);
  char fixed[kMessageFixedBytes];
  Put64(fixed, m.id);
  Put64(fixed + 8, static_cast<uint64_t>(m.queued_at_ms));
  // The flag says whether the block follows the recipients; the caller's
  // copy of it, if any, is not trusted.
  Put32(fixed + 16, (m.flags & ~kFlagExtensions) |
                        (HasExtensions(m) ? kFlagExtensions : 0));
  Put32(fixed + 20, static_cast<uint32_t>(m.sender.size()));
  Put32(fixed + 24, static_cast<uint32_t>(m.recipients.size()));
  Put32(fixed + 28, static_cast<uint32_t>(m.body.size()));
  out->append(fixed, sizeof(fixed));
  out->append(m.sender.data(), m.sender.size());
  for (const std::string& r : m.recipients) {
    char len[4];
    Put32(len, static_cast<uint32_t>(r.size()));
    out->append(len, sizeof(len));
    out->append(r.data(), r.size());
  }
  if (const size_t ext = ExtensionSize(m); ext != 0) {
    AppendExtensions(m, ext, out);
  }
  out->append(m.body.data(), m.body.size());
  AppendPadding(payload_len, out);
}

// The preconditions of EncodeMessage; returns the payload length.
size_t CheckedPayloadSize(const MessageRecord& m) {
  const size_t payload_len = MessagePayloadSize(m);
  CHECK(payload_len <= kMaxPayloadBytes);
  CHECK(!m.recipients.empty());
  CHECK(m.recipients.size() <= kMaxRecipients);
  return payload_len;
}

bool IsZero(const char* p, size_t n) {
  return std::memcmp(p, kZeros, n) == 0;
}

absl::Status ValidateExtensions(const MessageRecord& m) {
  const DsnFields& d = m.dsn;
  if (d.ret != DsnRet::kUnspecified && d.ret != DsnRet::kFull &&
      d.ret != DsnRet::kHeaders) {
    return absl::InvalidArgumentError("DSN RET value out of range");
  }
  if (d.envid.size() > kMaxEnvidBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("DSN ENVID longer than ", kMaxEnvidBytes, " octets"));
  }
  if (!d.notify.empty() && d.notify.size() != m.recipients.size()) {
    return absl::InvalidArgumentError(
        "DSN NOTIFY values are not one per recipient");
  }
  for (uint8_t v : d.notify) {
    if (!ValidNotify(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("DSN NOTIFY value out of range: ", v));
    }
  }
  if (!d.orcpt.empty() && d.orcpt.size() != m.recipients.size()) {
    return absl::InvalidArgumentError(
        "DSN ORCPT values are not one per recipient");
  }
  for (const std::string& o : d.orcpt) {
    if (o.size() > kMaxOrcptBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("DSN ORCPT longer than ", kMaxOrcptBytes, " octets"));
    }
  }
  if (m.reports_on_rcpts.size() > kMaxRecipients) {
    return absl::InvalidArgumentError(
        absl::StrCat("reports on too many recipients: ",
                     m.reports_on_rcpts.size()));
  }
  for (uint32_t r : m.reports_on_rcpts) {
    if (r >= kMaxRecipients) {
      return absl::InvalidArgumentError(
          absl::StrCat("reported-on recipient index out of range: ", r));
    }
  }
  if (!m.reports_on_rcpts.empty() && m.reports_on_id == 0) {
    return absl::InvalidArgumentError(
        "reports on recipients without the id of their message");
  }
  return absl::OkStatus();
}

// Reads little-endian fields off the front of a byte range, each length
// checked against what is left; the first failure names its field.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = Get32(in_.data());
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = Get64(in_.data());
    in_.remove_prefix(8);
    return true;
  }
  bool Bytes(size_t n, std::string_view* v) {
    if (n > in_.size()) return false;
    *v = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  size_t left() const { return in_.size(); }

 private:
  std::string_view in_;
};

// The extension block: `ext` is exactly the bytes between the recipients
// and the body. Every length is checked against the bytes there and
// against its bound.
absl::Status DecodeExtensions(std::string_view ext, uint32_t rcpt_count,
                              MessageRecord* out) {
  Reader r(ext);
  uint32_t block_len = 0;
  if (!r.U32(&block_len)) {
    return absl::DataLossError("extension block length runs past payload");
  }
  if (block_len > kMaxExtensionBytes) {
    return absl::DataLossError("extension block length over limit");
  }
  if (block_len != r.left()) {
    return absl::DataLossError(
        "extension block length does not match payload");
  }
  DsnFields& d = out->dsn;
  uint8_t ret = 0;
  uint8_t pad[3] = {};
  if (!r.U8(&ret) || !r.U8(&pad[0]) || !r.U8(&pad[1]) || !r.U8(&pad[2])) {
    return absl::DataLossError("DSN RET runs past extension block");
  }
  if (ret > static_cast<uint8_t>(DsnRet::kHeaders)) {
    return absl::DataLossError("DSN RET value out of range");
  }
  if ((pad[0] | pad[1] | pad[2]) != 0) {
    return absl::DataLossError("DSN RET padding not zero");
  }
  d.ret = static_cast<DsnRet>(ret);

  uint32_t len = 0;
  std::string_view bytes;
  if (!r.U32(&len)) {
    return absl::DataLossError("DSN ENVID length runs past extension block");
  }
  if (len > kMaxEnvidBytes) {
    return absl::DataLossError("DSN ENVID length over limit");
  }
  if (!r.Bytes(len, &bytes)) {
    return absl::DataLossError("DSN ENVID runs past extension block");
  }
  d.envid.assign(bytes);

  uint32_t count = 0;
  if (!r.U32(&count)) {
    return absl::DataLossError("DSN NOTIFY count runs past extension block");
  }
  if (count != 0 && count != rcpt_count) {
    return absl::DataLossError("DSN NOTIFY count is not the recipient count");
  }
  if (!r.Bytes(count, &bytes)) {
    return absl::DataLossError("DSN NOTIFY values run past extension block");
  }
  d.notify.assign(bytes.begin(), bytes.end());
  for (uint8_t v : d.notify) {
    if (!ValidNotify(v)) {
      return absl::DataLossError("DSN NOTIFY value out of range");
    }
  }

  if (!r.U32(&count)) {
    return absl::DataLossError("DSN ORCPT count runs past extension block");
  }
  if (count != 0 && count != rcpt_count) {
    return absl::DataLossError("DSN ORCPT count is not the recipient count");
  }
  d.orcpt.clear();
  // Each takes at least 4 bytes, which bounds the reservation.
  d.orcpt.reserve(std::min<size_t>(count, r.left() / 4));
  for (uint32_t i = 0; i < count; ++i) {
    if (!r.U32(&len)) {
      return absl::DataLossError("DSN ORCPT length runs past extension block");
    }
    if (len > kMaxOrcptBytes) {
      return absl::DataLossError("DSN ORCPT length over limit");
    }
    if (!r.Bytes(len, &bytes)) {
      return absl::DataLossError("DSN ORCPT runs past extension block");
    }
    d.orcpt.emplace_back(bytes);
  }

  if (!r.U64(&out->reports_on_id)) {
    return absl::DataLossError("reports_on_id runs past extension block");
  }
  if (!r.U32(&count)) {
    return absl::DataLossError(
        "reports_on_rcpts count runs past extension block");
  }
  if (count > kMaxRecipients) {
    return absl::DataLossError("reports_on_rcpts count over limit");
  }
  if (count > r.left() / 4) {
    return absl::DataLossError("reports_on_rcpts run past extension block");
  }
  out->reports_on_rcpts.resize(count);
  for (uint32_t& index : out->reports_on_rcpts) {
    r.U32(&index);  // in bounds: checked above
    if (index >= kMaxRecipients) {
      return absl::DataLossError("reports_on_rcpts index out of range");
    }
  }
  if (!out->reports_on_rcpts.empty() && out->reports_on_id == 0) {
    return absl::DataLossError("reports_on_rcpts without reports_on_id");
  }
  if (r.left() != 0) {
    return absl::DataLossError("extension block longer than its fields");
  }
  // The encoder writes no block for default values: one encoding per
  // message.
  if (!HasExtensions(*out)) {
    return absl::DataLossError("extension block flagged but empty");
  }
  return absl::OkStatus();
}

}  // namespace

size_t MessagePayloadSize(const MessageRecord& m) {
  size_t n = kMessageFixedBytes + m.sender.size() + m.body.size();
  for (const std::string& r : m.recipients) n += 4 + r.size();
  return n + ExtensionSize(m);
}

size_t FramedMessageSize(const MessageRecord& m) {
  return FramedSize(MessagePayloadSize(m));
}

absl::Status ValidateMessage(const MessageRecord& m) {
  if (m.recipients.empty()) {
    return absl::InvalidArgumentError("message has no recipients");
  }
  if (m.recipients.size() > kMaxRecipients) {
    return absl::InvalidArgumentError(
        absl::StrCat("too many recipients: ", m.recipients.size()));
  }
  if (m.sender.size() > kMaxAddressBytes) {
    return absl::InvalidArgumentError("sender address too long");
  }
  for (const std::string& r : m.recipients) {
    if (r.empty() || r.size() > kMaxAddressBytes) {
      return absl::InvalidArgumentError("recipient address empty or too long");
    }
  }
  if ((m.flags & kFlagExtensions) != 0) {
    return absl::InvalidArgumentError(
        "flags carry kFlagExtensions, which only the encoder sets");
  }
  if (absl::Status s = ValidateExtensions(m); !s.ok()) return s;
  if (MessagePayloadSize(m) > kMaxPayloadBytes) {
    return absl::InvalidArgumentError("message larger than a spool record");
  }
  return absl::OkStatus();
}

void EncodeMessage(const MessageRecord& m, uint64_t segment_seq,
                   std::string* out) {
  const size_t payload_len = CheckedPayloadSize(m);
  const size_t start = out->size();
  out->reserve(start + FramedSize(payload_len));
  AppendMessageFrame(m, segment_seq, payload_len, out);
  CHECK(out->size() == start + FramedSize(payload_len));
  StoreCrc(out->data() + start, payload_len);
}

size_t EncodeMessageInto(const MessageRecord& m, uint64_t segment_seq,
                         char* out) {
  const size_t payload_len = CheckedPayloadSize(m);
  RawOut raw{out};
  AppendMessageFrame(m, segment_seq, payload_len, &raw);
  CHECK(raw.p == out + FramedSize(payload_len));
  StoreCrc(out, payload_len);
  return FramedSize(payload_len);
}

void EncodeOutcome(const OutcomeRecord& o, uint64_t segment_seq,
                   std::string* out) {
  CHECK(o.kind >= kOutcomeDelivered);
  CHECK(o.kind <= kOutcomeCancelled);
  const size_t start = out->size();
  AppendFrameHeader(RecordType::kOutcome, segment_seq, kOutcomePayloadBytes,
                    out);
  char p[kOutcomePayloadBytes] = {};
  Put64(p, o.message_id);
  Put32(p + 8, o.recipient_index);
  p[12] = static_cast<char>(o.kind);
  out->append(p, sizeof(p));
  AppendPadding(kOutcomePayloadBytes, out);
  CHECK(out->size() == start + kOutcomeRecordBytes);
  StoreCrc(out->data() + start, kOutcomePayloadBytes);
}

DecodeResult DecodeNext(std::string_view buf, size_t offset,
                        uint64_t expected_segment_seq,
                        uint32_t max_payload_bytes) {
  CHECK(offset % kRecordAlign == 0);
  CHECK(offset <= buf.size());
  DecodeResult r;
  const size_t remaining = buf.size() - offset;
  if (remaining < kRecordHeaderBytes) {
    r.status = DecodeStatus::kEnd;
    r.reason = "end of file";
    return r;
  }
  const char* p = buf.data() + offset;
  if (IsZero(p, kRecordHeaderBytes)) {
    r.status = DecodeStatus::kEnd;
    r.reason = "zero header";
    return r;
  }
  r.status = DecodeStatus::kCorrupt;
  if (Get32(p) != kRecordMagic) {
    r.reason = "bad magic";
    return r;
  }
  const uint32_t type = Get32(p + 4);
  if (type != static_cast<uint32_t>(RecordType::kMessage) &&
      type != static_cast<uint32_t>(RecordType::kOutcome)) {
    r.reason = "unknown record type";
    return r;
  }
  const uint64_t seq = Get64(p + 8);
  const uint32_t len = Get32(p + 16);
  if (len > max_payload_bytes) {
    r.reason = "payload length over limit";
    return r;
  }
  const size_t framed = FramedSize(len);
  if (framed > remaining) {
    r.reason = "record runs past end of file";
    return r;
  }
  uint32_t crc = Crc32c(p, 20);
  crc = Crc32c(p + kRecordHeaderBytes, len, crc);
  if (crc != Get32(p + 20)) {
    r.reason = seq == expected_segment_seq
                   ? "checksum mismatch"
                   : "checksum mismatch (header of another incarnation)";
    return r;
  }
  if (seq != expected_segment_seq) {
    r.status = DecodeStatus::kEnd;
    r.reason = "record of another incarnation (stale data)";
    return r;
  }
  r.status = DecodeStatus::kOk;
  r.type = static_cast<RecordType>(type);
  r.payload = std::string_view(p + kRecordHeaderBytes, len);
  r.next_offset = offset + framed;
  return r;
}

absl::Status DecodeMessage(std::string_view payload, MessageRecord* out) {
  if (payload.size() < kMessageFixedBytes) {
    return absl::DataLossError("message payload shorter than its fixed part");
  }
  const char* p = payload.data();
  const uint32_t sender_len = Get32(p + 20);
  const uint32_t rcpt_count = Get32(p + 24);
  const uint32_t body_len = Get32(p + 28);
  if (sender_len > kMaxAddressBytes) {
    return absl::DataLossError("sender length over limit");
  }
  if (rcpt_count == 0 || rcpt_count > kMaxRecipients) {
    return absl::DataLossError("recipient count out of range");
  }
  size_t pos = kMessageFixedBytes;
  if (sender_len > payload.size() - pos) {
    return absl::DataLossError("sender runs past payload");
  }
  out->id = Get64(p);
  out->queued_at_ms = static_cast<int64_t>(Get64(p + 8));
  out->flags = Get32(p + 16);
  out->sender.assign(p + pos, sender_len);
  pos += sender_len;
  out->recipients.clear();
  // Each recipient takes at least 5 bytes, which bounds the reservation.
  out->recipients.reserve(
      std::min<size_t>(rcpt_count, (payload.size() - pos) / 5));
  for (uint32_t i = 0; i < rcpt_count; ++i) {
    if (payload.size() - pos < 4) {
      return absl::DataLossError("recipient length runs past payload");
    }
    const uint32_t len = Get32(p + pos);
    pos += 4;
    if (len == 0 || len > kMaxAddressBytes) {
      return absl::DataLossError("recipient length out of range");
    }
    if (len > payload.size() - pos) {
      return absl::DataLossError("recipient runs past payload");
    }
    out->recipients.emplace_back(p + pos, len);
    pos += len;
  }
  if (body_len > payload.size() - pos) {
    return absl::DataLossError("body runs past payload");
  }
  // Between the recipients and the body: the extension block, or nothing.
  const std::string_view ext =
      payload.substr(pos, payload.size() - pos - body_len);
  if ((out->flags & kFlagExtensions) != 0) {
    out->flags &= ~kFlagExtensions;
    if (absl::Status s = DecodeExtensions(ext, rcpt_count, out); !s.ok()) {
      return s;
    }
  } else {
    if (!ext.empty()) {
      return absl::DataLossError("body length does not match payload");
    }
    out->dsn.clear();
    out->reports_on_id = 0;
    out->reports_on_rcpts.clear();
  }
  out->body.assign(payload.data() + payload.size() - body_len, body_len);
  return absl::OkStatus();
}

absl::Status DecodeOutcome(std::string_view payload, OutcomeRecord* out) {
  if (payload.size() != kOutcomePayloadBytes) {
    return absl::DataLossError("outcome payload has the wrong size");
  }
  const char* p = payload.data();
  const uint8_t kind = static_cast<uint8_t>(p[12]);
  if (kind < kOutcomeDelivered || kind > kOutcomeCancelled) {
    return absl::DataLossError("unknown outcome kind");
  }
  out->message_id = Get64(p);
  out->recipient_index = Get32(p + 8);
  out->kind = kind;
  return absl::OkStatus();
}

ScanResult ScanRecords(
    std::string_view buf, size_t start, uint64_t segment_seq,
    uint32_t max_payload_bytes,
    absl::FunctionRef<void(RecordType, std::string_view, size_t)> on_record,
    absl::FunctionRef<void(size_t, const char*)> on_corrupt) {
  CHECK(start % kRecordAlign == 0);
  ScanResult res;
  res.tail = std::min(start, buf.size() / kRecordAlign * kRecordAlign);
  size_t pos = res.tail;
  // CRC bytes we are willing to spend on candidate frames while scanning.
  int64_t budget = 2 * static_cast<int64_t>(buf.size()) + (int64_t{1} << 20);
  auto charge = [&](size_t at) {
    const size_t left = buf.size() - at - kRecordHeaderBytes;
    budget -= static_cast<int64_t>(std::min<size_t>(Get32(buf.data() + at + 16),
                                                    left));
    return budget >= 0;
  };
  // Each iteration moves `pos` strictly forward: at most size/8 iterations.
  while (true) {
    const DecodeResult r = DecodeNext(buf, pos, segment_seq, max_payload_bytes);
    if (r.status == DecodeStatus::kOk) {
      on_record(r.type, r.payload, pos);
      ++res.records;
      CHECK(r.next_offset > pos);
      pos = r.next_offset;
      res.tail = pos;
      continue;
    }
    if (r.status == DecodeStatus::kEnd) break;
    on_corrupt(pos, r.reason);
    ++res.corrupt_regions;

    size_t resume = 0;
    bool stop = false;
    // First guess: the damaged frame's own length, if its header is sane
    // (only the payload was hit). Trusted only if a good record is there.
    const char* h = buf.data() + pos;
    if (Get32(h) == kRecordMagic && Get64(h + 8) == segment_seq &&
        Get32(h + 16) <= max_payload_bytes &&
        FramedSize(Get32(h + 16)) <= buf.size() - pos) {
      const size_t cand = pos + FramedSize(Get32(h + 16));
      if (cand + kRecordHeaderBytes <= buf.size() &&
          Get32(buf.data() + cand) == kRecordMagic) {
        if (!charge(cand)) {
          res.budget_exhausted = true;
          break;
        }
        const DecodeResult c =
            DecodeNext(buf, cand, segment_seq, max_payload_bytes);
        if (c.status == DecodeStatus::kOk) resume = cand;
      }
    }
    // Otherwise: every 8-byte step forward.
    for (size_t p = pos + kRecordAlign;
         resume == 0 && p + kRecordHeaderBytes <= buf.size();
         p += kRecordAlign) {
      if (Get32(buf.data() + p) != kRecordMagic) continue;
      if (!charge(p)) {
        res.budget_exhausted = true;
        stop = true;
        break;
      }
      const DecodeResult c = DecodeNext(buf, p, segment_seq, max_payload_bytes);
      if (c.status == DecodeStatus::kOk) {
        resume = p;
      } else if (c.status == DecodeStatus::kEnd) {
        stop = true;  // a verified record of an older incarnation
        break;
      }
    }
    if (stop || resume == 0) break;
    CHECK(resume > pos);
    pos = resume;
  }
  return res;
}

std::string EncodeFileHeader(const FileHeader& h) {
  std::string block(kFileHeaderBytes, '\0');
  char* p = block.data();
  Put32(p, kFileMagic);
  Put32(p + 4, kFileVersion);
  Put64(p + 8, h.segment_seq);
  Put32(p + 16, static_cast<uint32_t>(h.kind));
  Put32(p + 20, Crc32c(p, 20));
  return block;
}

std::optional<FileHeader> DecodeFileHeader(std::string_view block) {
  if (block.size() < 24) return std::nullopt;
  const char* p = block.data();
  if (Get32(p) != kFileMagic) return std::nullopt;
  if (Get32(p + 4) != kFileVersion) return std::nullopt;
  if (Crc32c(p, 20) != Get32(p + 20)) return std::nullopt;
  const uint32_t kind = Get32(p + 16);
  if (kind != static_cast<uint32_t>(FileKind::kSegment) &&
      kind != static_cast<uint32_t>(FileKind::kJournal)) {
    return std::nullopt;
  }
  FileHeader h;
  h.segment_seq = Get64(p + 8);
  h.kind = static_cast<FileKind>(kind);
  return h;
}

std::string EncodeIdFile(uint64_t bound) {
  std::string out(kIdFileBytes, '\0');
  char* p = out.data();
  Put64(p, bound);
  Put32(p + 8, Crc32c(p, 8));
  Put32(p + 12, kIdFileMagic);
  return out;
}

std::optional<uint64_t> DecodeIdFile(std::string_view contents) {
  if (contents.size() != kIdFileBytes) return std::nullopt;
  const char* p = contents.data();
  if (Get32(p + 12) != kIdFileMagic) return std::nullopt;
  if (Get32(p + 8) != Crc32c(p, 8)) return std::nullopt;
  return Get64(p);
}

}  // namespace ringpost::queue
