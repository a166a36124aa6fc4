// relay/smtp/dot_stuffer.h — encode a message body for the DATA command.
//
// The outbound client sends a spooled body after "354" through DotStuffer:
// every line starting with "." gets a second "." (RFC 5321 4.5.2), the body
// is closed with CRLF if it did not end with one, and "." CRLF follows.
//
// Invariants of the output: lines end in CRLF only (a bare LF or bare CR in
// the input becomes CRLF, so the relay never forwards a smuggling sequence);
// no line but the last is "."; a peer's DataScanner returns the input body
// exactly when the body was already CRLF-clean.
//
// The body may arrive in chunks split anywhere. Output is appended to a
// caller-owned std::string in runs, never byte by byte.
//
// The stuffer also measures the body's longest line (octets of the input
// line without its line break) from the line breaks it finds anyway, so a
// caller can refuse a body over the DATA line limit (RFC 5321 4.5.3.1.6)
// without a second pass: the measure costs one subtraction per line.
//
// Usage:
//   DotStuffer stuffer;
//   for (chunk : body) stuffer.Append(chunk, &wire);
//   stuffer.Finish(&wire);
// or, for a body in one piece: AppendDotStuffed(body, &wire);

#ifndef RINGPOST_RELAY_SMTP_DOT_STUFFER_H_
#define RINGPOST_RELAY_SMTP_DOT_STUFFER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::smtp {

class DotStuffer {
 public:
  // Appends the stuffed form of `chunk` to *out.
  void Append(std::string_view chunk, std::string* out);

  // Ends the body: CRLF if needed, then "." CRLF. Returns the body's
  // longest line (octets without the line break). The stuffer is then ready
  // for the next body.
  size_t Finish(std::string* out);

 private:
  enum class State : uint8_t { kLineStart, kText, kCr };
  State state_ = State::kLineStart;
  size_t line_octets_ = 0;  // of the current line, in earlier chunks
  size_t longest_ = 0;
};

// Appends the complete DATA payload for `body` (stuffed, terminated) to *out.
// Returns the body's longest line, as DotStuffer::Finish.
size_t AppendDotStuffed(std::string_view body, std::string* out);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_DOT_STUFFER_H_
