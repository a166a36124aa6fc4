// relay/smtp/reply_parser.h — streaming parser of SMTP server replies.
//
// The outbound client feeds every byte it receives to ReplyParser::Parse();
// each call returns at most one complete reply and says how many input bytes
// it consumed, so pipelined replies in one chunk come out one at a time and
// a reply split across chunks is assembled internally.
//
// Grammar (RFC 5321 4.2): lines "ddd-text" continue, "ddd text" or "ddd"
// end a reply; all lines carry the same code; the first digit is 2..5. An
// enhanced status code (RFC 2034/3463) is taken from the start of the first
// line's text when its class matches the code's first digit. Lines end with
// CRLF; a bare LF is tolerated (peers are not ours to fix).
//
// Invariants: memory is bounded (a line over kLineOctetsMax bytes, or a
// reply over kLinesMax lines, is an error, however the bytes arrive); any
// input yields a value, never a crash. After kError the connection is out
// of sync: the parser keeps returning kError until Reset().
//
// Usage:
//   ServerReply reply;
//   while (!in.empty()) {
//     ReplyParser::Result r = parser.Parse(in, &reply);
//     in.remove_prefix(r.consumed);
//     if (r.status == ReplyParser::Status::kReply) handle(reply);
//     else if (r.status == ReplyParser::Status::kError) drop connection;
//   }

#ifndef RINGPOST_RELAY_SMTP_REPLY_PARSER_H_
#define RINGPOST_RELAY_SMTP_REPLY_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::smtp {

struct EnhancedCode {
  uint8_t klass = 0;   // 2, 4 or 5
  uint16_t subject = 0;
  uint16_t detail = 0;
};

// ReplyParser::Parse hands a finished reply over field by field (a new
// field must be added there too).
struct ServerReply {
  int code = 0;                 // 200..599
  bool has_enhanced = false;
  EnhancedCode enhanced;
  uint8_t enhanced_length = 0;  // octets of "c.s.d" at the start of `text`
  uint32_t line_count = 0;
  // The text of each line (after "ddd-" / "ddd "), joined with "\n".
  std::string text;

  // "5.1.1" as the server wrote it, or empty.
  std::string_view EnhancedText() const {
    return std::string_view(text).substr(0, enhanced_length);
  }
  bool IsPositive() const { return code >= 200 && code < 400; }
  bool IsTransient() const { return code >= 400 && code < 500; }
  bool IsPermanent() const { return code >= 500; }
};

class ReplyParser {
 public:
  static constexpr size_t kLineOctetsMax = 512 * 4;  // incl. CRLF
  static constexpr size_t kLinesMax = 128;

  enum class Status : uint8_t { kNeedMore, kReply, kError };
  enum class Error : uint8_t {
    kNone,
    kLineTooLong,   // no LF within kLineOctetsMax bytes
    kBadCode,       // not three digits with the first in 2..5
    kBadSeparator,  // fourth octet neither " ", "-" nor end of line
    kCodeMismatch,  // a continuation line changed the code
    kTooManyLines,
  };

  struct Result {
    Status status;
    size_t consumed;  // bytes of `input` used by this call
  };

  // Consumes input up to the end of the next complete reply and moves it to
  // *out (kReply), or consumes everything and waits (kNeedMore), or reports
  // a protocol error (kError; see error()).
  Result Parse(std::string_view input, ServerReply* out);

  Error error() const { return error_; }
  void Reset();

 private:
  Error ProcessLine(std::string_view line, bool* final);

  std::string partial_;   // an incomplete line carried between calls
  ServerReply pending_;   // the reply being assembled
  Error error_ = Error::kNone;
};

// EHLO keywords the client acts on (bits of EhloCapabilities::extensions).
enum EhloExtension : uint32_t {
  kExtPipelining = 1u << 0,
  kExtSize = 1u << 1,
  kExt8BitMime = 1u << 2,
  kExtChunking = 1u << 3,
  kExtSmtpUtf8 = 1u << 4,
  kExtStartTls = 1u << 5,
  kExtEnhancedStatusCodes = 1u << 6,
  kExtDsn = 1u << 7,
  kExtAuth = 1u << 8,
  kExtBinaryMime = 1u << 9,
};

// AUTH mechanisms (bits of EhloCapabilities::auth_mechanisms).
enum AuthMechanism : uint32_t {
  kAuthPlain = 1u << 0,
  kAuthLogin = 1u << 1,
};

struct EhloCapabilities {
  uint32_t extensions = 0;
  uint32_t auth_mechanisms = 0;
  uint64_t size_max = 0;  // "SIZE n"; 0 when absent or unlimited

  bool Has(EhloExtension ext) const { return (extensions & ext) != 0; }
};

// Reads the keywords of a 250 EHLO reply (every line after the first).
// Unknown keywords are ignored; a reply other than 250 has none.
EhloCapabilities ParseEhloCapabilities(const ServerReply& reply);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_REPLY_PARSER_H_
