// tests/fuzz/data_scanner_fuzz.cc — libFuzzer target: the DATA phase.
//
// Input: u16 line limit, u16 message limit, u8 chunking mode and seed, then
// the bytes a client sends after "354". The scanner runs over the same bytes
// in one chunk, byte by byte and in random chunks; every run must agree
// (status, bytes consumed, errors, content, 8-bit flag), because TCP may
// split a stream anywhere. A plain reference model then fixes what the
// answer must be:
//   - the data ends exactly after the first CRLF "." CRLF (or a leading
//     "." CRLF): the first occurrence in CRLF + input, nothing else — no
//     "\n.\n", "\r.\r", "\n.\r\n" or "\r\n.\n" ends it (no smuggling);
//   - a bare CR or LF anywhere before that end is flagged;
//   - a clean message's content is the input with leading dots of lines
//     removed and the final "." CRLF dropped; lines and size are checked
//     against the limits;
//   - DotStuffer is the inverse: stuffing a clean content and scanning it
//     again yields the same content, ending exactly at its final "." CRLF.
// What follows the end (a pipelined next message) is scanned again after
// Reset(), so state does not leak from one message to the next.
// Seeds: tests/fuzz/corpus/data_scanner/.

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/smtp/data_scanner.h"
#include "relay/smtp/dot_stuffer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::fuzz::ForEachChunk;
using ringpost::fuzz::FuzzInput;
using ringpost::fuzz::FuzzRng;
using ringpost::smtp::DataScanner;

struct Outcome {
  bool done = false;
  size_t consumed = 0;
  uint32_t errors = 0;
  uint64_t content_octets = 0;
  bool saw_8bit = false;
  std::string content;

  bool operator==(const Outcome&) const = default;
};

Outcome ScanChunked(DataScanner* scanner, std::string_view text, int mode,
                    uint64_t seed) {
  FuzzRng rng(seed);
  Outcome o;
  ForEachChunk(text, mode, &rng, [&](std::string_view chunk) {
    const DataScanner::Result r = scanner->Scan(chunk, &o.content);
    FUZZ_CHECK(r.consumed <= chunk.size());
    FUZZ_CHECK(r.errors == scanner->errors());
    o.consumed += r.consumed;
    if (r.status == DataScanner::Status::kDone) {
      FUZZ_CHECK(scanner->done());
      o.done = true;
      return false;
    }
    FUZZ_CHECK(r.consumed == chunk.size());
    return true;
  });
  o.errors = scanner->errors();
  o.content_octets = scanner->content_octets();
  o.saw_8bit = scanner->saw_8bit();
  // Past the size limit the content is cut wherever the limit fell within a
  // chunk; the message is refused, so only the flag must agree.
  if ((o.errors & DataScanner::kTooBig) != 0) o.content.clear();
  return o;
}

// The reference: where the data ends, by a plain search.
size_t ReferenceEnd(std::string_view text) {
  const std::string framed = "\r\n" + std::string(text);
  const size_t at = framed.find("\r\n.\r\n");
  if (at == std::string::npos) return std::string::npos;
  return at + 3;  // "\r\n.\r\n" at `at` in framed = at - 2 in text, + 5
}

// The reference content of a complete, clean message `msg` (ends in ".\r\n").
std::string ReferenceContent(std::string_view msg) {
  msg.remove_suffix(3);
  std::string out;
  bool line_start = true;
  for (size_t i = 0; i < msg.size(); ++i) {
    const char c = msg[i];
    if (!(line_start && c == '.')) out.push_back(c);
    line_start = c == '\n' && i > 0 && msg[i - 1] == '\r';
  }
  return out;
}

bool HasBareLineEnding(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
  }
  return false;
}

uint64_t LongestLine(std::string_view content) {
  uint64_t longest = 0, current = 0;
  for (char c : content) {
    ++current;
    if (c == '\n') {
      longest = std::max(longest, current);
      current = 0;
    }
  }
  return std::max(longest, current);
}

void CheckOneMessage(const DataScanner::Limits& limits, std::string_view text,
                     int mode, uint64_t seed, int depth) {
  DataScanner whole(limits);
  const Outcome a = ScanChunked(&whole, text, 0, 0);
  DataScanner random(limits);
  const Outcome b = ScanChunked(&random, text, mode, seed);
  FUZZ_CHECK(a == b);
  if (text.size() <= 4096) {
    DataScanner bytes(limits);
    const Outcome c = ScanChunked(&bytes, text, 1, 0);
    FUZZ_CHECK(a == c);
  }

  const size_t end = ReferenceEnd(text);
  FUZZ_CHECK(a.done == (end != std::string::npos));
  if (!a.done) return;
  FUZZ_CHECK(a.consumed == end);
  const std::string_view msg = text.substr(0, end);
  const bool bare = HasBareLineEnding(msg);
  FUZZ_CHECK(((a.errors & DataScanner::kBareLineEnding) != 0) == bare);
  if (!bare) {
    const std::string content = ReferenceContent(msg);
    FUZZ_CHECK(a.content_octets == content.size());
    const bool too_big = content.size() > limits.message_octets_max;
    FUZZ_CHECK(((a.errors & DataScanner::kTooBig) != 0) == too_big);
    const bool too_long = LongestLine(content) > limits.line_octets_max;
    FUZZ_CHECK(((a.errors & DataScanner::kLineTooLong) != 0) == too_long);
    if (!too_big) {
      FUZZ_CHECK(a.content == content);
      bool high = false;
      for (char ch : content) high |= static_cast<unsigned char>(ch) >= 0x80;
      FUZZ_CHECK(a.saw_8bit == high);
    }
  }
  if (a.errors == 0) {
    // Stuff it again: the scanner must give back exactly the content.
    std::string wire;
    ringpost::smtp::AppendDotStuffed(a.content, &wire);
    DataScanner again(limits);
    const Outcome d = ScanChunked(&again, wire, mode, seed + 1);
    FUZZ_CHECK(d.done);
    FUZZ_CHECK(d.consumed == wire.size());
    FUZZ_CHECK(d.errors == 0);
    FUZZ_CHECK(d.content == a.content);
  }
  // The pipelined rest: the same scanner object, reset, must behave like a
  // fresh one.
  if (depth < 4 && end < text.size()) {
    whole.Reset();
    FUZZ_CHECK(!whole.done());
    FUZZ_CHECK(whole.errors() == 0);
    const Outcome reused = ScanChunked(&whole, text.substr(end), 0, 0);
    DataScanner fresh(limits);
    const Outcome first = ScanChunked(&fresh, text.substr(end), 0, 0);
    FUZZ_CHECK(reused == first);
    CheckOneMessage(limits, text.substr(end), mode, seed + 2, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  FuzzInput in(data, size);
  DataScanner::Limits limits;
  const uint16_t line = in.U16();
  const uint16_t message = in.U16();
  // 0 picks the production defaults; small values exercise the limits.
  if (line != 0) limits.line_octets_max = line;
  if (message != 0) limits.message_octets_max = message;
  const uint8_t mode_seed = in.U8();
  CheckOneMessage(limits, in.Rest(), 1 + mode_seed % 3, mode_seed, 0);
  return 0;
}
