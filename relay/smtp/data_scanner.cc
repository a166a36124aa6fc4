// relay/smtp/data_scanner.cc — DATA phase scanner.
//
// A five-state machine over line starts. Inside a line the scanner jumps
// from one CR/LF to the next with FindLineBreak (16 bytes per step) and
// keeps a pending output run [run, p) that is appended only when a stuffing
// dot must be dropped, at the end of data, or at the end of the chunk.

#include "relay/smtp/data_scanner.h"

#include "base/check.h"
#include "relay/smtp/line_break.h"

namespace ringpost::smtp {

void DataScanner::Reset() {
  state_ = State::kLineStart;
  errors_ = 0;
  saw_8bit_ = false;
  line_octets_ = 0;
  content_octets_ = 0;
}

void DataScanner::Emit(const char* from, const char* to, std::string* out) {
  CHECK(from <= to);
  const size_t n = static_cast<size_t>(to - from);
  if (n == 0) return;
  content_octets_ += n;
  if (content_octets_ > limits_.message_octets_max) errors_ |= kTooBig;
  if ((errors_ & kTooBig) == 0 && out != nullptr) out->append(from, n);
}

void DataScanner::EndLine(uint64_t line_octets) {
  if (line_octets > limits_.line_octets_max) errors_ |= kLineTooLong;
  line_octets_ = 0;
}

DataScanner::Result DataScanner::Scan(std::string_view chunk,
                                      std::string* out) {
  CHECK(state_ != State::kDone);
  const char* const begin = chunk.data();
  const char* const end = begin + chunk.size();
  const char* p = begin;
  const char* run = begin;   // first input byte not yet emitted or dropped
  const char* line = begin;  // first byte of the current line in this chunk
  bool high = saw_8bit_;

  const auto line_octets = [&](const char* to) {
    return line_octets_ + static_cast<uint64_t>(to - line);
  };

  while (p < end) {
    switch (state_) {
      case State::kLineStart:
        if (*p == '.') {
          Emit(run, p, out);
          ++p;
          run = p;   // the dot is dropped ...
          line = p;  // ... and is not a content octet of the line
          state_ = State::kDot;
        } else {
          state_ = State::kText;
        }
        break;

      case State::kText:
        // Whole lines in one go, until a line starts with "." or input ends.
        for (;;) {
          const char* q = internal::FindLineBreak(p, end, &high);
          if (q == end) {
            p = end;
            break;
          }
          if (*q == '\n') {
            // LF without CR: flagged; it does not start a new line, so a
            // following "." CRLF cannot end the data.
            errors_ |= kBareLineEnding;
            p = q + 1;
            EndLine(line_octets(p));
            line = p;
            continue;
          }
          if (q + 1 == end) {
            p = end;
            state_ = State::kCr;
            break;
          }
          if (q[1] != '\n') {
            errors_ |= kBareLineEnding;  // CR without LF
            p = q + 1;
            continue;
          }
          p = q + 2;
          EndLine(line_octets(p));
          line = p;
          if (p == end || *p == '.') {
            state_ = State::kLineStart;
            break;
          }
        }
        break;

      case State::kCr:
        if (*p == '\n') {
          ++p;
          EndLine(line_octets(p));
          line = p;
          state_ = State::kLineStart;
        } else {
          errors_ |= kBareLineEnding;  // rescan *p as text
          state_ = State::kText;
        }
        break;

      case State::kDot:
        if (*p == '\r') {
          ++p;
          run = p;  // held back: content only if no LF follows
          state_ = State::kDotCr;
        } else if (*p == '\n') {
          errors_ |= kBareLineEnding;  // CRLF "." LF
          ++p;
          EndLine(line_octets(p));
          line = p;
          state_ = State::kText;
        } else {
          state_ = State::kText;  // a stuffed line
        }
        break;

      case State::kDotCr:
        if (*p == '\n') {
          ++p;
          state_ = State::kDone;
          saw_8bit_ = high;
          return {Status::kDone, static_cast<size_t>(p - begin), errors_};
        }
        errors_ |= kBareLineEnding;  // CRLF "." CR <not LF>; rescan *p
        state_ = State::kText;
        break;

      case State::kDone:
        CHECK(false);
        break;
    }
  }
  Emit(run, end, out);
  line_octets_ = line_octets(end);
  if (line_octets_ > limits_.line_octets_max) errors_ |= kLineTooLong;
  saw_8bit_ = high;
  return {Status::kNeedMore, chunk.size(), errors_};
}

Reply DataScanner::ReplyFor(uint32_t errors) {
  CHECK(errors != 0);
  if ((errors & kTooBig) != 0) {
    return {552, "5.3.4", "Message size exceeds fixed maximum message size"};
  }
  if ((errors & kBareLineEnding) != 0) {
    return {550, "5.6.11",
            "Bare CR or LF in message data; lines must end with CRLF"};
  }
  return {550, "5.6.0", "Message contains a line that is too long"};
}

}  // namespace ringpost::smtp
