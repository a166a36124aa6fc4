// tests/fuzz/reply_parser_fuzz.cc — libFuzzer target: replies from a peer.
//
// Input: u8 chunking mode/seed, then the bytes a destination server sends.
// The relay's outbound client parses whatever a hostile or broken server
// answers; this target checks that
//   - the parser always makes progress and terminates (each call consumes
//     bytes or completes a reply; bounded by the input size);
//   - every reply has a code 200..599, 1..kLinesMax lines, an enhanced code
//     whose class matches the code, text within bounds;
//   - one chunk, single bytes and random chunks give the same replies and
//     the same final error (the network may split a reply anywhere);
//   - after kError the parser stays in kError until Reset();
//   - ParseEhloCapabilities accepts every reply.
// Seeds: tests/fuzz/corpus/reply_parser/.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/reply_parser.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::fuzz::ForEachChunk;
using ringpost::fuzz::FuzzInput;
using ringpost::fuzz::FuzzRng;
using ringpost::smtp::ReplyParser;
using ringpost::smtp::ServerReply;

struct Seen {
  int code;
  std::string text;
  uint32_t lines;
  bool enhanced;
  std::string enhanced_text;
  bool operator==(const Seen&) const = default;
};

struct Run {
  std::vector<Seen> replies;
  ReplyParser::Error error = ReplyParser::Error::kNone;
  bool operator==(const Run&) const = default;
};

void CheckReply(const ServerReply& r) {
  FUZZ_CHECK(r.code >= 200);
  FUZZ_CHECK(r.code <= 599);
  FUZZ_CHECK(r.line_count >= 1);
  FUZZ_CHECK(r.line_count <= ReplyParser::kLinesMax);
  FUZZ_CHECK(r.enhanced_length <= r.text.size());
  FUZZ_CHECK(r.text.size() <= ReplyParser::kLinesMax * ReplyParser::kLineOctetsMax);
  if (r.has_enhanced) {
    FUZZ_CHECK(r.enhanced.klass == r.code / 100);
    FUZZ_CHECK(r.enhanced_length >= 5);
  } else {
    FUZZ_CHECK(r.enhanced_length == 0);
  }
  const auto caps = ringpost::smtp::ParseEhloCapabilities(r);
  if (r.code != 250) FUZZ_CHECK(caps.extensions == 0);
}

Run ParseAll(std::string_view text, int mode, uint64_t seed) {
  FuzzRng rng(seed);
  ReplyParser parser;
  Run run;
  ServerReply reply;
  ForEachChunk(text, mode, &rng, [&](std::string_view chunk) {
    // Each call consumes at least one byte or completes a reply, so this
    // loop runs at most 2 * size + 1 times.
    const size_t bound = 2 * chunk.size() + 1;
    for (size_t calls = 0; calls <= bound; ++calls) {
      const ReplyParser::Result r = parser.Parse(chunk, &reply);
      FUZZ_CHECK(r.consumed <= chunk.size());
      chunk.remove_prefix(r.consumed);
      if (r.status == ReplyParser::Status::kError) {
        FUZZ_CHECK(parser.error() != ReplyParser::Error::kNone);
        run.error = parser.error();
        // Sticky until Reset().
        const ReplyParser::Result again = parser.Parse("250 ok\r\n", &reply);
        FUZZ_CHECK(again.status == ReplyParser::Status::kError);
        FUZZ_CHECK(again.consumed == 0);
        return false;
      }
      if (r.status == ReplyParser::Status::kNeedMore) {
        FUZZ_CHECK(chunk.empty());
        return true;
      }
      FUZZ_CHECK(r.consumed > 0);
      CheckReply(reply);
      run.replies.push_back(Seen{reply.code, reply.text, reply.line_count,
                                 reply.has_enhanced,
                                 std::string(reply.EnhancedText())});
      if (chunk.empty()) return true;
    }
    FUZZ_CHECK(false);  // no progress
    return false;
  });
  if (run.error != ReplyParser::Error::kNone) {
    parser.Reset();
    FUZZ_CHECK(parser.error() == ReplyParser::Error::kNone);
    const ReplyParser::Result r = parser.Parse("250 2.0.0 ok\r\n", &reply);
    FUZZ_CHECK(r.status == ReplyParser::Status::kReply);
    FUZZ_CHECK(reply.code == 250);
    FUZZ_CHECK(reply.text == "2.0.0 ok");
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  FuzzInput in(data, size);
  const uint8_t mode_seed = in.U8();
  const std::string_view text = in.Rest();
  const Run whole = ParseAll(text, 0, 0);
  const Run random = ParseAll(text, 1 + mode_seed % 3, mode_seed);
  FUZZ_CHECK(whole == random);
  if (text.size() <= 8192) FUZZ_CHECK(whole == ParseAll(text, 1, 0));
  return 0;
}
