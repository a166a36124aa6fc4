// queue/record_test.cc — frames and payload codecs: round trips, every-byte
// corruption, stale and torn data, and the resynchronising scanner.

#include "queue/record.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
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

// --- DSN parameters and bounce bookkeeping: the extension block ------------

MessageRecord DsnMessage(uint64_t id) {
  MessageRecord m = SampleMessage(id, 64);
  m.dsn.envid = "QQ314159";
  m.dsn.ret = DsnRet::kHeaders;
  m.dsn.notify = {kNotifySuccess | kNotifyFailure, 0, kNotifyNever};
  m.dsn.orcpt = {"rfc822;a@example.com", "", "rfc822;C@Example.IO"};
  m.reports_on_id = 0x0400000000000042ull;
  m.reports_on_rcpts = {0, 7, 65535};
  return m;
}

// The payload EncodeMessage writes for `m`.
std::string PayloadOf(const MessageRecord& m) {
  std::string buf;
  EncodeMessage(m, 1, &buf);
  return buf.substr(kRecordHeaderBytes, MessagePayloadSize(m));
}

uint32_t FlagsIn(std::string_view payload) {
  uint32_t flags;
  std::memcpy(&flags, payload.data() + 16, 4);
  return flags;
}

// Offset of the extension block in the payload of `m`.
size_t ExtensionOffset(const MessageRecord& m) {
  size_t off = kMessageFixedBytes + m.sender.size();
  for (const std::string& r : m.recipients) off += 4 + r.size();
  return off;
}

TEST(RecordDsnTest, RoundTripsEveryFieldThroughBothEncoders) {
  const MessageRecord m = DsnMessage(9);
  ASSERT_TRUE(ValidateMessage(m).ok()) << ValidateMessage(m);
  std::string buf;
  EncodeMessage(m, 4, &buf);
  EXPECT_EQ(buf.size(), FramedMessageSize(m));
  std::string mem(FramedMessageSize(m), '\xee');
  EXPECT_EQ(EncodeMessageInto(m, 4, mem.data()), buf.size());
  EXPECT_EQ(mem, buf);
  DecodeResult r = DecodeNext(buf, 0, 4);
  ASSERT_EQ(r.status, DecodeStatus::kOk) << r.reason;
  EXPECT_EQ(r.payload.size(), MessagePayloadSize(m));
  EXPECT_EQ(FlagsIn(r.payload), m.flags | kFlagExtensions);
  MessageRecord back;
  ASSERT_TRUE(DecodeMessage(r.payload, &back).ok());
  EXPECT_EQ(back, m);  // flags without kFlagExtensions
}

// Each field alone is enough to write the block, and comes back alone.
TEST(RecordDsnTest, EachFieldAloneRoundTrips) {
  struct Case {
    const char* name;
    void (*set)(MessageRecord*);
  };
  const Case cases[] = {
      {"envid", [](MessageRecord* m) { m->dsn.envid = std::string(kMaxEnvidBytes, 'e'); }},
      {"ret full", [](MessageRecord* m) { m->dsn.ret = DsnRet::kFull; }},
      {"ret hdrs", [](MessageRecord* m) { m->dsn.ret = DsnRet::kHeaders; }},
      {"notify", [](MessageRecord* m) { m->dsn.notify = {0, kNotifyDelay, 0}; }},
      {"notify zeros", [](MessageRecord* m) { m->dsn.notify = {0, 0, 0}; }},
      {"orcpt", [](MessageRecord* m) {
         m->dsn.orcpt = {"", "", "rfc822;" + std::string(kMaxOrcptBytes - 7, 'o')};
       }},
      {"orcpt empties", [](MessageRecord* m) { m->dsn.orcpt = {"", "", ""}; }},
      {"reports_on_id", [](MessageRecord* m) { m->reports_on_id = 77; }},
      {"reports_on", [](MessageRecord* m) {
         m->reports_on_id = 77;
         m->reports_on_rcpts = {3};
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MessageRecord m = SampleMessage(3, 20);
    c.set(&m);
    ASSERT_TRUE(ValidateMessage(m).ok()) << ValidateMessage(m);
    const std::string payload = PayloadOf(m);
    EXPECT_NE(FlagsIn(payload) & kFlagExtensions, 0u);
    MessageRecord back;
    // Decoding into a record that held other values replaces them all.
    back = DsnMessage(1);
    ASSERT_TRUE(DecodeMessage(payload, &back).ok()) << DecodeMessage(payload, &back);
    EXPECT_EQ(back, m);
  }
}

// Without DSN the payload is byte for byte the format from before the
// block existed, and such a record decodes with every new field at its
// default, even into a record that held some.
TEST(RecordDsnTest, WithoutDsnTheFormatIsUnchanged) {
  const MessageRecord m = SampleMessage(5, 30);
  std::string want;
  auto put32 = [&](uint32_t v) { want.append(reinterpret_cast<const char*>(&v), 4); };
  auto put64 = [&](uint64_t v) { want.append(reinterpret_cast<const char*>(&v), 8); };
  put64(m.id);
  put64(static_cast<uint64_t>(m.queued_at_ms));
  put32(m.flags);
  put32(static_cast<uint32_t>(m.sender.size()));
  put32(static_cast<uint32_t>(m.recipients.size()));
  put32(static_cast<uint32_t>(m.body.size()));
  want += m.sender;
  for (const std::string& r : m.recipients) {
    put32(static_cast<uint32_t>(r.size()));
    want += r;
  }
  want += m.body;
  EXPECT_EQ(PayloadOf(m), want);
  EXPECT_EQ(MessagePayloadSize(m), want.size());
  MessageRecord back = DsnMessage(1);
  ASSERT_TRUE(DecodeMessage(want, &back).ok());
  EXPECT_EQ(back, m);
  EXPECT_TRUE(back.dsn.empty());
}

// A caller's kFlagExtensions is refused by ValidateMessage and never
// decides what the encoder writes.
TEST(RecordDsnTest, TheFlagBelongsToTheEncoder) {
  MessageRecord m = SampleMessage(5, 30);
  m.flags |= kFlagExtensions;
  EXPECT_FALSE(ValidateMessage(m).ok());
  EXPECT_EQ(FlagsIn(PayloadOf(m)) & kFlagExtensions, 0u);
  m.flags &= ~kFlagExtensions;
  EXPECT_EQ(PayloadOf(m), PayloadOf(SampleMessage(5, 30)));
}

TEST(RecordDsnTest, DecodeRejectsEveryTruncation) {
  const std::string payload = PayloadOf(DsnMessage(5));
  for (size_t n = 0; n < payload.size(); ++n) {
    MessageRecord out;
    EXPECT_FALSE(DecodeMessage(std::string_view(payload).substr(0, n), &out).ok()) << n;
  }
}

// Damage inside the block, each caught by its own check, which names the
// field.
TEST(RecordDsnTest, DecodeNamesTheDamagedField) {
  const MessageRecord m = DsnMessage(5);
  const size_t ext = ExtensionOffset(m);
  const size_t envid_len = ext + 8;
  const size_t notify_count = envid_len + 4 + m.dsn.envid.size();
  const size_t orcpt_count = notify_count + 4 + m.dsn.notify.size();
  size_t reports_id = orcpt_count + 4;
  for (const std::string& o : m.dsn.orcpt) reports_id += 4 + o.size();
  const size_t reports_count = reports_id + 8;
  struct Case {
    size_t offset;
    uint32_t value;
    size_t width;  // 1 or 4 bytes
    const char* error;
  };
  const Case cases[] = {
      {16, m.flags, 4, "body length does not match payload"},  // flag cleared
      {ext, 0, 4, "extension block length does not match payload"},
      {ext, 0xffffff00u, 4, "extension block length over limit"},
      {ext + 4, 3, 1, "DSN RET value out of range"},
      {ext + 5, 1, 1, "DSN RET padding not zero"},
      {envid_len, kMaxEnvidBytes + 1, 4, "DSN ENVID length over limit"},
      {notify_count, 1, 4, "DSN NOTIFY count is not the recipient count"},
      {notify_count + 4, 16, 1, "DSN NOTIFY value out of range"},
      {notify_count + 4, kNotifyNever | kNotifyDelay, 1, "DSN NOTIFY value out of range"},
      {orcpt_count, 2, 4, "DSN ORCPT count is not the recipient count"},
      {orcpt_count + 4, kMaxOrcptBytes + 1, 4, "DSN ORCPT length over limit"},
      {orcpt_count + 4, 400, 4, "DSN ORCPT runs past extension block"},
      {reports_count, kMaxRecipients + 1, 4, "reports_on_rcpts count over limit"},
      {reports_count, 4, 4, "reports_on_rcpts run past extension block"},
      {reports_count, 2, 4, "extension block longer than its fields"},
      {reports_count + 4, kMaxRecipients, 4, "reports_on_rcpts index out of range"},
  };
  for (const Case& c : cases) {
    std::string bad = PayloadOf(m);
    ASSERT_LE(c.offset + c.width, bad.size());
    std::memcpy(bad.data() + c.offset, &c.value, c.width);
    MessageRecord out;
    const absl::Status s = DecodeMessage(bad, &out);
    EXPECT_TRUE(absl::IsDataLoss(s)) << c.error << ": " << s;
    EXPECT_EQ(s.message(), c.error) << c.offset;
  }
  // reports_on_rcpts without the id they belong to.
  std::string bad = PayloadOf(m);
  std::memset(bad.data() + reports_id, 0, 8);
  MessageRecord out;
  EXPECT_EQ(DecodeMessage(bad, &out).message(), "reports_on_rcpts without reports_on_id");
  // An ENVID longer than what is left of a small block.
  MessageRecord small = SampleMessage(5, 30);
  small.dsn.envid = "x";
  bad = PayloadOf(small);
  const uint32_t fifty = 50;
  std::memcpy(bad.data() + ExtensionOffset(small) + 8, &fifty, 4);
  EXPECT_EQ(DecodeMessage(bad, &out).message(), "DSN ENVID runs past extension block");
}

// A block whose fields are all defaults is never written, so reading one
// is damage: the format keeps one encoding per message.
TEST(RecordDsnTest, AFlaggedEmptyBlockIsDamage) {
  MessageRecord m = SampleMessage(5, 30);
  m.reports_on_id = 1;
  std::string payload = PayloadOf(m);
  const size_t id_at = ExtensionOffset(m) + 4 + 4 + 4 + 4 + 4;
  std::memset(payload.data() + id_at, 0, 8);
  MessageRecord out;
  EXPECT_EQ(DecodeMessage(payload, &out).message(), "extension block flagged but empty");
  // An old record with the flag set but no block at all.
  std::string old = PayloadOf(SampleMessage(5, 30));
  const uint32_t flags = FlagsIn(old) | kFlagExtensions;
  std::memcpy(old.data() + 16, &flags, 4);
  EXPECT_TRUE(absl::IsDataLoss(DecodeMessage(old, &out)));
}

// Whatever DecodeMessage accepts is valid and encodes to the same bytes.
TEST(RecordDsnTest, RandomDamageDecodesToNothingOrToItsOwnEncoding) {
  const std::string payload = PayloadOf(DsnMessage(5));
  const size_t ext = ExtensionOffset(DsnMessage(5));
  std::mt19937_64 rng(3);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bad = payload;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      // Mostly inside the block, where the new checks are.
      const size_t at = rng() % 4 != 0 ? ext + rng() % (payload.size() - ext - 64)
                                       : rng() % payload.size();
      bad[at] = static_cast<char>(rng() % 4 == 0 ? rng() : bad[at] ^ (1u << (rng() % 8)));
    }
    MessageRecord out;
    if (!DecodeMessage(bad, &out).ok()) continue;
    ++accepted;
    ASSERT_TRUE(ValidateMessage(out).ok()) << i;
    ASSERT_EQ(PayloadOf(out), bad) << i;
  }
  EXPECT_GT(accepted, 0);  // e.g. flips inside strings and bodies
}

TEST(RecordDsnTest, ValidateMessageBounds) {
  struct Case {
    const char* name;
    void (*set)(MessageRecord*);
    bool ok;
  };
  const Case cases[] = {
      {"sample", [](MessageRecord*) {}, true},
      {"envid at bound", [](MessageRecord* m) { m->dsn.envid.assign(kMaxEnvidBytes, 'e'); }, true},
      {"envid over", [](MessageRecord* m) { m->dsn.envid.assign(kMaxEnvidBytes + 1, 'e'); }, false},
      {"orcpt at bound",
       [](MessageRecord* m) { m->dsn.orcpt[1].assign(kMaxOrcptBytes, 'o'); }, true},
      {"orcpt over",
       [](MessageRecord* m) { m->dsn.orcpt[1].assign(kMaxOrcptBytes + 1, 'o'); }, false},
      {"orcpt short", [](MessageRecord* m) { m->dsn.orcpt.pop_back(); }, false},
      {"orcpt long", [](MessageRecord* m) { m->dsn.orcpt.emplace_back(); }, false},
      {"orcpt none", [](MessageRecord* m) { m->dsn.orcpt.clear(); }, true},
      {"notify short", [](MessageRecord* m) { m->dsn.notify.pop_back(); }, false},
      {"notify long", [](MessageRecord* m) { m->dsn.notify.push_back(0); }, false},
      {"notify none", [](MessageRecord* m) { m->dsn.notify.clear(); }, true},
      {"notify all three",
       [](MessageRecord* m) { m->dsn.notify[0] = kNotifySuccess | kNotifyFailure | kNotifyDelay; },
       true},
      {"notify never and more",
       [](MessageRecord* m) { m->dsn.notify[0] = kNotifyNever | kNotifyFailure; }, false},
      {"notify unknown bit", [](MessageRecord* m) { m->dsn.notify[0] = 16; }, false},
      {"ret out of range", [](MessageRecord* m) { m->dsn.ret = static_cast<DsnRet>(3); }, false},
      {"reports index at bound",
       [](MessageRecord* m) { m->reports_on_rcpts = {kMaxRecipients - 1}; }, true},
      {"reports index over", [](MessageRecord* m) { m->reports_on_rcpts = {kMaxRecipients}; },
       false},
      {"reports count at bound",
       [](MessageRecord* m) { m->reports_on_rcpts.assign(kMaxRecipients, 1); }, true},
      {"reports count over",
       [](MessageRecord* m) { m->reports_on_rcpts.assign(kMaxRecipients + 1, 1); }, false},
      {"reports without id", [](MessageRecord* m) { m->reports_on_id = 0; }, false},
      {"id without reports", [](MessageRecord* m) { m->reports_on_rcpts.clear(); }, true},
  };
  for (const Case& c : cases) {
    MessageRecord m = DsnMessage(1);
    c.set(&m);
    EXPECT_EQ(ValidateMessage(m).ok(), c.ok) << c.name << ": " << ValidateMessage(m);
    if (c.ok) {
      // The largest cases too: what validates encodes and decodes.
      MessageRecord back;
      ASSERT_TRUE(DecodeMessage(PayloadOf(m), &back).ok()) << c.name;
      EXPECT_EQ(back, m) << c.name;
    }
  }
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
