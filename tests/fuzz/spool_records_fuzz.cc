// tests/fuzz/spool_records_fuzz.cc — libFuzzer target: the spool's record
// reader on arbitrary bytes (no files: fast).
//
// Input: u8 flags (bit 0: fix up CRCs and seqs with FixFrames, bit 1: scan
// as a journal with the outcome payload bound), u8 seq, then the bytes of a
// spool file after its 4 KiB header. Checks:
//   - ScanRecords terminates, reports records in increasing offsets inside
//     the buffer, and a tail that is 8-aligned and within the buffer;
//   - DecodeNext never returns a payload outside the buffer;
//   - a payload DecodeMessage accepts passes ValidateMessage and re-encodes
//     to the very same bytes (the format has one encoding per message);
//   - the same holds for outcomes.
// Seeds: tests/fuzz/corpus/spool_records/.

#include <cstdint>
#include <string>
#include <string_view>

#include "queue/record.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/spool_frames.h"

namespace q = ringpost::queue;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (4u << 20)) return 0;
  ringpost::fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.U8();
  const uint64_t seq = in.U8();
  std::string buf(in.Rest());
  if ((flags & 1) != 0) ringpost::fuzz::FixFrames(&buf, 0, true, seq);
  const bool journal = (flags & 2) != 0;
  const uint32_t max_payload =
      journal ? q::kOutcomePayloadBytes : q::kMaxPayloadBytes;

  size_t last = 0;
  bool any = false;
  const q::ScanResult res = q::ScanRecords(
      buf, 0, seq, max_payload,
      [&](q::RecordType type, std::string_view payload, size_t off) {
        FUZZ_CHECK(off % q::kRecordAlign == 0);
        FUZZ_CHECK(!any || off > last);
        any = true;
        last = off;
        FUZZ_CHECK(payload.data() >= buf.data() + off);
        FUZZ_CHECK(payload.data() + payload.size() <= buf.data() + buf.size());
        if (type == q::RecordType::kMessage) {
          q::MessageRecord m;
          if (!q::DecodeMessage(payload, &m).ok()) return;
          FUZZ_CHECK(q::ValidateMessage(m).ok());
          FUZZ_CHECK(q::MessagePayloadSize(m) == payload.size());
          std::string again;
          q::EncodeMessage(m, seq, &again);
          const q::DecodeResult d = q::DecodeNext(again, 0, seq);
          FUZZ_CHECK(d.status == q::DecodeStatus::kOk);
          FUZZ_CHECK(d.payload == payload);
        } else {
          FUZZ_CHECK(type == q::RecordType::kOutcome);
          q::OutcomeRecord o;
          if (!q::DecodeOutcome(payload, &o).ok()) return;
          std::string again;
          q::EncodeOutcome(o, seq, &again);
          FUZZ_CHECK(again.size() == q::kOutcomeRecordBytes);
          q::OutcomeRecord back;
          const q::DecodeResult d = q::DecodeNext(again, 0, seq);
          FUZZ_CHECK(d.status == q::DecodeStatus::kOk);
          FUZZ_CHECK(q::DecodeOutcome(d.payload, &back).ok());
          FUZZ_CHECK(back == o);
        }
      },
      [&](size_t off, const char* reason) {
        FUZZ_CHECK(off <= buf.size());
        FUZZ_CHECK(reason != nullptr);
      });
  FUZZ_CHECK(res.tail % q::kRecordAlign == 0);
  FUZZ_CHECK(res.tail <= buf.size());
  if (any) FUZZ_CHECK(res.tail > last);

  // Every aligned offset decodes to a verdict, never a read outside buf.
  for (size_t off = 0; off <= buf.size() && off < 4096; off += q::kRecordAlign) {
    const q::DecodeResult d = q::DecodeNext(buf, off, seq, max_payload);
    if (d.status == q::DecodeStatus::kOk) {
      FUZZ_CHECK(d.next_offset > off);
      FUZZ_CHECK(d.next_offset <= buf.size());
      FUZZ_CHECK(d.payload.size() <= max_payload);
    }
  }
  // The file header decoder on the front of the buffer.
  const auto h = q::DecodeFileHeader(buf);
  if (h) FUZZ_CHECK(q::EncodeFileHeader(*h).substr(0, 24) == buf.substr(0, 24));
  return 0;
}
