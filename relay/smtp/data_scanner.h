// relay/smtp/data_scanner.h — streaming scanner for the SMTP DATA phase.
//
// After "354", the session feeds every received chunk to Scan(). The scanner
// removes dot-stuffing (RFC 5321 4.5.2), appends the message content to the
// caller's std::string, and stops right after the end-of-data sequence,
// reporting how many bytes of the chunk it consumed; the rest (a pipelined
// command) belongs to the session.
//
// Invariants and contract:
//   - Only CRLF "." CRLF ends the data, or "." CRLF as the very first line
//     (empty message). "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n" and the like do
//     NOT end it: a LF without CR before it, or a CR without LF after it, sets
//     kBareLineEnding and scanning goes on to the real end (no SMTP
//     smuggling; the session can reject and stay in sync).
//   - Content = input with the leading dot of each line removed and the
//     final "." CRLF dropped; the CRLF before the final dot is content.
//   - A line (content octets incl. CRLF, the stuffing dot not counted) over
//     Limits::line_octets_max sets kLineTooLong; content over
//     Limits::message_octets_max sets kTooBig and nothing more is appended.
//     Errors never stop the scan; the session rejects the message once
//     Scan() returns kDone with errors() != 0.
//   - Chunks may split the input anywhere. Work is linear in input size; runs
//     between stuffed dots are appended in bulk.
//   - After kDone, call Reset() before the next message.
//
// Usage:
//   DataScanner scanner(limits);
//   DataScanner::Result r = scanner.Scan(chunk, &body);
//   if (r.status == DataScanner::Status::kDone) {
//     if (scanner.errors() != 0) reply DataScanner::ReplyFor(scanner.errors());
//     chunk.remove_prefix(r.consumed);  // next command(s)
//   }

#ifndef RINGPOST_RELAY_SMTP_DATA_SCANNER_H_
#define RINGPOST_RELAY_SMTP_DATA_SCANNER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/smtp/reply.h"

namespace ringpost::smtp {

class DataScanner {
 public:
  struct Limits {
    size_t line_octets_max = 1000;             // RFC 5321 4.5.3.1.6
    uint64_t message_octets_max = 10'240'000;  // Postfix's default
  };

  // Error flags, or-ed into errors().
  static constexpr uint32_t kBareLineEnding = 1u << 0;
  static constexpr uint32_t kLineTooLong = 1u << 1;
  static constexpr uint32_t kTooBig = 1u << 2;

  enum class Status : uint8_t { kNeedMore, kDone };

  struct Result {
    Status status;
    size_t consumed;   // bytes of this chunk used; < chunk size only if kDone
    uint32_t errors;   // errors() after this call
  };

  DataScanner() = default;
  explicit DataScanner(const Limits& limits) : limits_(limits) {}

  // Scans `chunk`, appending content to *out (nullptr: count only).
  // Must not be called again after kDone until Reset().
  Result Scan(std::string_view chunk, std::string* out);

  // Ready for the next message; keeps the limits.
  void Reset();

  bool done() const { return state_ == State::kDone; }
  uint32_t errors() const { return errors_; }
  // Content octets seen so far (also those not appended after kTooBig).
  uint64_t content_octets() const { return content_octets_; }
  // A byte >= 0x80 occurred in the content (8BITMIME bookkeeping).
  bool saw_8bit() const { return saw_8bit_; }

  // The reply for a rejected message: kTooBig wins (552 5.3.4), then
  // kBareLineEnding (550 5.6.11), then kLineTooLong (550 5.6.0).
  // `errors` must be non-zero.
  static Reply ReplyFor(uint32_t errors);

 private:
  enum class State : uint8_t {
    kLineStart,  // after CRLF, or at the start of data
    kText,       // inside a line
    kCr,         // inside a line, just after a CR
    kDot,        // after a "." at the start of a line
    kDotCr,      // after "." CR at the start of a line
    kDone,
  };

  void Emit(const char* from, const char* to, std::string* out);
  void EndLine(uint64_t line_octets);

  Limits limits_;
  State state_ = State::kLineStart;
  uint32_t errors_ = 0;
  bool saw_8bit_ = false;
  uint64_t line_octets_ = 0;  // current line's octets from earlier chunks
  uint64_t content_octets_ = 0;
};

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_DATA_SCANNER_H_
