// relay/smtp/dot_stuffer.cc — DATA encoding.
//
// Same shape as the DataScanner: jump from CR/LF to CR/LF, append unchanged
// runs in bulk, and touch single bytes only at line starts and line ends.

#include "relay/smtp/dot_stuffer.h"

#include <algorithm>

#include "base/check.h"
#include "relay/smtp/line_break.h"

namespace ringpost::smtp {

void DotStuffer::Append(std::string_view chunk, std::string* out) {
  const char* const end = chunk.data() + chunk.size();
  const char* p = chunk.data();
  const char* run = p;   // first input byte not yet appended
  const char* line = p;  // start of the current line in this chunk
  // A line ends at `at` (its break): its length counts for longest_.
  const auto line_end = [&](const char* at) {
    const size_t n = line_octets_ + static_cast<size_t>(at - line);
    if (n > longest_) longest_ = n;
    line_octets_ = 0;
  };
  while (p < end) {
    switch (state_) {
      case State::kLineStart:
        if (*p == '.') {
          out->append(run, static_cast<size_t>(p - run));
          out->push_back('.');  // the input dot follows in the next run
          run = p;
        }
        state_ = State::kText;
        break;

      case State::kText: {
        const char* q = internal::FindLineBreak(p, end, nullptr);
        if (q == end) {
          p = end;
        } else if (*q == '\n') {  // bare LF -> CRLF
          line_end(q);
          out->append(run, static_cast<size_t>(q - run));
          out->append("\r\n", 2);
          p = run = line = q + 1;
          state_ = State::kLineStart;
        } else if (q + 1 == end) {
          line_end(q);
          p = line = end;  // the CR goes out with the run; LF decided next chunk
          state_ = State::kCr;
        } else if (q[1] == '\n') {
          line_end(q);
          p = line = q + 2;
          state_ = State::kLineStart;
        } else {  // bare CR -> CRLF
          line_end(q);
          out->append(run, static_cast<size_t>(q + 1 - run));
          out->push_back('\n');
          p = run = line = q + 1;
          state_ = State::kLineStart;
        }
        break;
      }

      case State::kCr:
        CHECK(p == run);
        if (*p == '\n') {
          ++p;
        } else {
          out->push_back('\n');  // the CR already sent was bare
        }
        line = p;
        state_ = State::kLineStart;
        break;
    }
  }
  line_octets_ += static_cast<size_t>(end - line);
  out->append(run, static_cast<size_t>(end - run));
}

size_t DotStuffer::Finish(std::string* out) {
  switch (state_) {
    case State::kLineStart:
      break;
    case State::kText:
      if (line_octets_ > longest_) longest_ = line_octets_;
      out->append("\r\n", 2);
      break;
    case State::kCr:
      out->push_back('\n');
      break;
  }
  out->append(".\r\n", 3);
  state_ = State::kLineStart;
  const size_t longest = longest_;
  line_octets_ = 0;
  longest_ = 0;
  return longest;
}

size_t AppendDotStuffed(std::string_view body, std::string* out) {
  // Room for the body, a few stuffed dots and the terminator, growing
  // geometrically so repeated calls on one string stay linear.
  const size_t needed = out->size() + body.size() + body.size() / 64 + 8;
  if (needed > out->capacity()) {
    out->reserve(std::max(needed, 2 * out->capacity()));
  }
  DotStuffer stuffer;
  stuffer.Append(body, out);
  return stuffer.Finish(out);
}

}  // namespace ringpost::smtp
