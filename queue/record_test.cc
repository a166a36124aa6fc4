// queue/record_test.cc — frames and payload codecs: round trips, every-byte
// corruption, stale and torn data, and the resynchronising scanner.

#include "queue/record.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

MessageRecord SampleMessage(uint64_t id, size_t body_bytes = 200) {
  MessageRecord m;
  m.id = id;
  m.queued_at_ms = 1700000000123;
  m.sender = "bounce@example.org";
  m.recipients = {"a@example.com", "b@example.net", "c@example.io"};
  m.flags = kFlag8BitMime | kFlagSmtpUtf8;
  m.body = "Subject: hi\r\n\r\n";
  while (m.body.size() < body_bytes) m.body += "line of text\r\n";
  return m;
}

struct Scanned {
  std::vector<size_t> offsets;
  std::vector<std::string_view> payloads;
  std::vector<size_t> corrupt_at;
  ScanResult res;
};

Scanned Scan(std::string_view buf, size_t start, uint64_t seq) {
  Scanned s;
  s.res = ScanRecords(
      buf, start, seq, kMaxPayloadBytes,
      [&](RecordType, std::string_view payload, size_t off) {
        s.offsets.push_back(off);
        s.payloads.push_back(payload);
      },
      [&](size_t off, const char*) { s.corrupt_at.push_back(off); });
  return s;
}

TEST(RecordTest, MessageRoundTrip) {
  MessageRecord m = SampleMessage(77);
  m.body.push_back('\0');
  m.body.push_back('\xff');
  std::string buf;
  EncodeMessage(m, 5, &buf);
  EXPECT_EQ(buf.size(), FramedMessageSize(m));
  EXPECT_EQ(buf.size() % kRecordAlign, 0u);
  DecodeResult r = DecodeNext(buf, 0, 5);
  ASSERT_EQ(r.status, DecodeStatus::kOk) << r.reason;
  EXPECT_EQ(r.type, RecordType::kMessage);
  EXPECT_EQ(r.next_offset, buf.size());
  MessageRecord back;
  ASSERT_TRUE(DecodeMessage(r.payload, &back).ok());
  EXPECT_EQ(back, m);
}

// EncodeMessageInto writes exactly the bytes EncodeMessage appends, and
// nothing outside [out, out + FramedMessageSize(m)), for every padding.
TEST(RecordTest, EncodeMessageIntoMatchesTheStringEncoder) {
  std::vector<MessageRecord> ms;
  for (size_t body : {0u, 1u, 7u, 8u, 9u, 15u, 1000u, 100u * 1024 + 3}) {
    MessageRecord m = SampleMessage(body + 1, 0);
    m.body.assign(body, 'q');
    ms.push_back(m);
  }
  ms.push_back(SampleMessage(5));
  ms.back().sender.clear();  // null sender
  for (const MessageRecord& m : ms) {
    SCOPED_TRACE(m.body.size());
    std::string want = "prefix";
    EncodeMessage(m, 9, &want);
    want.erase(0, 6);
    const size_t framed = FramedMessageSize(m);
    ASSERT_EQ(want.size(), framed);
    std::string mem(framed + 64, '\xee');
    EXPECT_EQ(EncodeMessageInto(m, 9, mem.data() + 32), framed);
    EXPECT_EQ(mem.substr(0, 32), std::string(32, '\xee'));
    EXPECT_TRUE(mem.compare(32, framed, want) == 0);
    EXPECT_EQ(mem.substr(32 + framed), std::string(32, '\xee'));
    DecodeResult r = DecodeNext(std::string_view(mem).substr(32, framed), 0, 9);
    ASSERT_EQ(r.status, DecodeStatus::kOk) << r.reason;
    MessageRecord back;
    ASSERT_TRUE(DecodeMessage(r.payload, &back).ok());
    EXPECT_EQ(back, m);
  }
}

TEST(RecordTest, NullSenderAndEmptyBodyRoundTrip) {
  MessageRecord m;
  m.id = 1;
  m.recipients = {"x@y"};
  std::string buf;
  EncodeMessage(m, 1, &buf);
  DecodeResult r = DecodeNext(buf, 0, 1);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  MessageRecord back;
  ASSERT_TRUE(DecodeMessage(r.payload, &back).ok());
  EXPECT_EQ(back, m);
}

TEST(RecordTest, OutcomeRoundTripAndSize) {
  OutcomeRecord o{123456789012345ull, 7, kOutcomeBounced};
  std::string buf;
  EncodeOutcome(o, 9, &buf);
  EXPECT_EQ(buf.size(), kOutcomeRecordBytes);
  DecodeResult r = DecodeNext(buf, 0, 9);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.type, RecordType::kOutcome);
  OutcomeRecord back;
  ASSERT_TRUE(DecodeOutcome(r.payload, &back).ok());
  EXPECT_EQ(back, o);
}

TEST(RecordTest, EncodeAppendsAfterExistingBytes) {
  std::string buf = "01234567";  // 8 bytes already staged
  EncodeMessage(SampleMessage(1), 3, &buf);
  EncodeOutcome({1, 0, kOutcomeDelivered}, 3, &buf);
  EncodeMessage(SampleMessage(2, 5000), 3, &buf);
  size_t off = 8;
  std::vector<RecordType> types;
  while (true) {
    DecodeResult r = DecodeNext(buf, off, 3);
    if (r.status != DecodeStatus::kOk) {
      EXPECT_EQ(r.status, DecodeStatus::kEnd);
      break;
    }
    types.push_back(r.type);
    off = r.next_offset;
  }
  EXPECT_EQ(off, buf.size());
  EXPECT_EQ(types, (std::vector<RecordType>{RecordType::kMessage,
                                            RecordType::kOutcome,
                                            RecordType::kMessage}));
}

TEST(RecordTest, ZeroHeaderAndShortTailAreEnd) {
  std::string buf(64, '\0');
  EXPECT_EQ(DecodeNext(buf, 0, 1).status, DecodeStatus::kEnd);
  EXPECT_EQ(DecodeNext(buf, 48, 1).status, DecodeStatus::kEnd);  // 16 left
  EXPECT_EQ(DecodeNext(buf, 64, 1).status, DecodeStatus::kEnd);
}

TEST(RecordTest, VerifiedRecordOfAnotherSeqIsEnd) {
  std::string buf;
  EncodeMessage(SampleMessage(1), 4, &buf);
  EXPECT_EQ(DecodeNext(buf, 0, 5).status, DecodeStatus::kEnd);
  // The same header with a damaged payload is damage, not stale data.
  buf[40] ^= 1;
  EXPECT_EQ(DecodeNext(buf, 0, 5).status, DecodeStatus::kCorrupt);
}

TEST(RecordTest, EveryByteFlipIsDetected) {
  std::string buf;
  const MessageRecord m = SampleMessage(99, 120);
  EncodeMessage(m, 11, &buf);
  const size_t covered = kRecordHeaderBytes + MessagePayloadSize(m);
  ASSERT_LT(covered, 4096u);  // keeps the loop bounded
  for (size_t i = 0; i < covered; ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bad = buf;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      DecodeResult r = DecodeNext(bad, 0, 11);
      EXPECT_NE(r.status, DecodeStatus::kOk)
          << "byte " << i << " mask " << int{mask};
    }
  }
}

TEST(RecordTest, LengthsAreCheckedAgainstBuffer) {
  std::string buf;
  EncodeMessage(SampleMessage(1), 2, &buf);
  // Truncated: every shorter prefix that still holds a header is corrupt.
  for (size_t n = kRecordHeaderBytes; n < buf.size(); n += 8) {
    EXPECT_EQ(DecodeNext(std::string_view(buf).substr(0, n), 0, 2).status,
              DecodeStatus::kCorrupt)
        << n;
  }
  // A caller limit smaller than the payload.
  EXPECT_EQ(DecodeNext(buf, 0, 2, 16).status, DecodeStatus::kCorrupt);
  // An absurd length.
  std::string big = buf;
  const uint32_t huge = 0xfffffff0u;
  std::memcpy(big.data() + 16, &huge, 4);
  EXPECT_EQ(DecodeNext(big, 0, 2).status, DecodeStatus::kCorrupt);
}

TEST(RecordTest, DecodeMessageRejectsEveryTruncation) {
  std::string buf;
  const MessageRecord m = SampleMessage(5, 64);
  EncodeMessage(m, 1, &buf);
  const std::string payload =
      buf.substr(kRecordHeaderBytes, MessagePayloadSize(m));
  for (size_t n = 0; n < payload.size(); ++n) {
    MessageRecord out;
    EXPECT_FALSE(DecodeMessage(std::string_view(payload).substr(0, n), &out)
                     .ok())
        << n;
  }
}

TEST(RecordTest, DecodeMessageSurvivesRandomPayloads) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string p(rng() % 300, '\0');
    for (char& c : p) c = static_cast<char>(rng());
    if (p.size() >= 32 && (i % 2) == 0) {
      // Plausible counts so the parser goes deeper.
      const uint32_t small[3] = {static_cast<uint32_t>(rng() % 20),
                                 static_cast<uint32_t>(rng() % 4 + 1),
                                 static_cast<uint32_t>(rng() % 50)};
      std::memcpy(p.data() + 20, small, sizeof(small));
    }
    MessageRecord out;
    (void)DecodeMessage(p, &out);
    OutcomeRecord o;
    (void)DecodeOutcome(p, &o);
  }
}

TEST(RecordTest, ValidateMessageBounds) {
  MessageRecord m = SampleMessage(1);
  EXPECT_TRUE(ValidateMessage(m).ok());
  MessageRecord none = m;
  none.recipients.clear();
  EXPECT_FALSE(ValidateMessage(none).ok());
  MessageRecord empty_rcpt = m;
  empty_rcpt.recipients.push_back("");
  EXPECT_FALSE(ValidateMessage(empty_rcpt).ok());
  MessageRecord long_sender = m;
  long_sender.sender.assign(kMaxAddressBytes + 1, 'a');
  EXPECT_FALSE(ValidateMessage(long_sender).ok());
}

TEST(RecordTest, IdFileRoundTripAndDamage) {
  const uint64_t bound = 0x0123456789ABCDEFull;
  std::string file = EncodeIdFile(bound);
  ASSERT_EQ(file.size(), kIdFileBytes);
  EXPECT_EQ(DecodeIdFile(file), bound);
  for (size_t i = 0; i < file.size(); ++i) {
    std::string bad = file;
    bad[i] ^= 1;
    EXPECT_FALSE(DecodeIdFile(bad)) << i;
  }
  EXPECT_FALSE(DecodeIdFile(file.substr(0, 15)));
  EXPECT_FALSE(DecodeIdFile(file + "x"));
}

TEST(RecordTest, FileHeaderRoundTripAndDamage) {
  const FileHeader h{42, FileKind::kJournal};
  std::string block = EncodeFileHeader(h);
  ASSERT_EQ(block.size(), kFileHeaderBytes);
  auto back = DecodeFileHeader(block);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);
  for (size_t i = 0; i < 24; ++i) {
    std::string bad = block;
    bad[i] ^= 0x10;
    EXPECT_FALSE(DecodeFileHeader(bad).has_value()) << i;
  }
  EXPECT_FALSE(DecodeFileHeader(std::string(kFileHeaderBytes, '\0')));
}

// --- ScanRecords ------------------------------------------------------------

std::string TenRecords(uint64_t seq, std::vector<size_t>* offsets) {
  std::string buf;
  for (int i = 0; i < 10; ++i) {
    offsets->push_back(buf.size());
    EncodeMessage(SampleMessage(i + 1, 100 + 40 * i), seq, &buf);
  }
  buf.append(kRecordHeaderBytes, '\0');  // the terminator the spool writes
  return buf;
}

TEST(ScanRecordsTest, CleanBuffer) {
  std::vector<size_t> offs;
  std::string buf = TenRecords(3, &offs);
  Scanned s = Scan(buf, 0, 3);
  EXPECT_EQ(s.offsets, offs);
  EXPECT_TRUE(s.corrupt_at.empty());
  EXPECT_EQ(s.res.tail, buf.size() - kRecordHeaderBytes);
}

TEST(ScanRecordsTest, DamagedPayloadSkipsOneRecord) {
  std::vector<size_t> offs;
  std::string buf = TenRecords(3, &offs);
  buf[offs[4] + 60] ^= 0x40;
  Scanned s = Scan(buf, 0, 3);
  EXPECT_EQ(s.offsets.size(), 9u);
  EXPECT_EQ(s.corrupt_at, std::vector<size_t>{offs[4]});
  EXPECT_EQ(s.offsets[4], offs[5]);
}

TEST(ScanRecordsTest, DamagedLengthResynchronises) {
  std::vector<size_t> offs;
  std::string buf = TenRecords(3, &offs);
  buf[offs[4] + 16] ^= 0x08;  // payload_len off by 8: lands mid-record
  buf[offs[6] + 2] ^= 0x01;   // and a bad magic two records later
  Scanned s = Scan(buf, 0, 3);
  EXPECT_EQ(s.offsets.size(), 8u);
  EXPECT_EQ(s.corrupt_at, (std::vector<size_t>{offs[4], offs[6]}));
  EXPECT_EQ(s.offsets.back(), offs[9]);
}

TEST(ScanRecordsTest, StopsAtStaleRecordsAfterTornTail) {
  // An older incarnation wrote 10 records; the new one wrote 3 and then a
  // torn fourth over them.
  std::vector<size_t> old_offs;
  std::string buf = TenRecords(1, &old_offs);
  std::string fresh;
  for (int i = 0; i < 3; ++i) EncodeMessage(SampleMessage(100 + i, 90), 2, &fresh);
  std::string torn;
  EncodeMessage(SampleMessage(200, 300), 2, &torn);
  fresh += torn.substr(0, torn.size() / 2);
  ASSERT_LT(fresh.size(), buf.size());
  buf.replace(0, fresh.size(), fresh);
  Scanned s = Scan(buf, 0, 2);
  EXPECT_EQ(s.offsets.size(), 3u);
  EXPECT_EQ(s.corrupt_at.size(), 1u);
  EXPECT_FALSE(s.res.budget_exhausted);
}

TEST(ScanRecordsTest, GarbageFindsNothingAndTerminates) {
  std::mt19937_64 rng(5);
  std::string buf(1 << 20, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  Scanned s = Scan(buf, 0, 1);
  EXPECT_TRUE(s.offsets.empty());
  EXPECT_EQ(s.res.tail, 0u);
}

TEST(ScanRecordsTest, RandomMutationsNeverYieldBadRecords) {
  // Mutation fuzzing, bounded: whatever the damage, the scanner terminates,
  // every record it returns verifies, and its tail stays inside the buffer.
  std::vector<size_t> offs;
  const std::string clean = TenRecords(6, &offs);
  std::mt19937_64 rng(123);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string buf = clean;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % buf.size();
      switch (rng() % 4) {
        case 0:
          buf[at] = static_cast<char>(buf[at] ^ (1u << (rng() % 8)));
          break;
        case 1:
          buf[at] = static_cast<char>(rng());
          break;
        case 2:
          buf.resize(at);  // torn
          break;
        default:
          std::memset(buf.data() + at, 0, std::min<size_t>(64, buf.size() - at));
      }
      if (buf.empty()) break;
    }
    size_t good = 0;
    const ScanResult res = ScanRecords(
        buf, 0, 6, kMaxPayloadBytes,
        [&](RecordType type, std::string_view payload, size_t off) {
          ASSERT_EQ(type, RecordType::kMessage);
          ASSERT_LE(off + kRecordHeaderBytes + payload.size(), buf.size());
          MessageRecord m;
          // A verified frame is one we wrote: its payload decodes.
          EXPECT_TRUE(DecodeMessage(payload, &m).ok());
          ++good;
        },
        [](size_t, const char*) {});
    EXPECT_LE(res.tail, buf.size());
    EXPECT_EQ(res.records, good);
    EXPECT_LE(good, 10u);
  }
}

TEST(ScanRecordsTest, TailStopsBeforeADamagedLastRecord) {
  std::vector<size_t> offs;
  std::string buf = TenRecords(3, &offs);
  buf[offs[9] + 40] ^= 1;
  Scanned s = Scan(buf, 0, 3);
  EXPECT_EQ(s.offsets.size(), 9u);
  EXPECT_EQ(s.res.tail, offs[9]);
}

TEST(ScanRecordsTest, HostileHeadersHitTheBudget) {
  // Every 32 bytes a header with the right magic and seq and a length that
  // reaches almost to the end, so each candidate costs a long CRC: unbounded
  // scanning would be quadratic. The budget must stop it.
  const size_t n = 1 << 20;
  std::string buf(n, '\0');
  for (size_t p = 0; p + 32 <= n; p += 32) {
    const uint32_t magic = kRecordMagic;
    const uint32_t type = 1;
    const uint64_t seq = 1;
    const uint32_t len = static_cast<uint32_t>(n - p - 64);
    std::memcpy(buf.data() + p, &magic, 4);
    std::memcpy(buf.data() + p + 4, &type, 4);
    std::memcpy(buf.data() + p + 8, &seq, 8);
    std::memcpy(buf.data() + p + 16, &len, 4);
  }
  Scanned s = Scan(buf, 0, 1);
  EXPECT_TRUE(s.offsets.empty());
  EXPECT_TRUE(s.res.budget_exhausted);
}

}  // namespace
}  // namespace ringpost::queue
