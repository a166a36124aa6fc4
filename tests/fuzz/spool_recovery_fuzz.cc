// tests/fuzz/spool_recovery_fuzz.cc — libFuzzer target: start-up recovery of
// a spool directory holding arbitrary segment and journal files.
//
// Input: u8 flags, u8 seq, u16 length of the segment part, the segment
// part, then the journal part. Flags:
//   bit 0/1  fix up CRCs and seqs of frames in the segment/journal part
//            (tests/fuzz/spool_frames.h), so payloads reach the decoders;
//   bit 2/3  the part IS the whole file (raw); otherwise the harness puts a
//            valid 4 KiB file header for seg-<seq> in front of it;
//   bit 4    write no journal file at all;
//   bit 5    the synthesized headers name segment seq+1 (a recycled file).
// The files go to <tmp>/shard-0/seg-<seq>.dat/.jnl, then Spool::Open runs
// with BlockingSpoolIo (the shard's start-up path). Checks:
//   - Open succeeds (the only refusal allowed is a seq beyond 2^62), never
//     crashes, and every recovered message is valid, belongs to seg-<seq>,
//     has a per-recipient done vector with at least one recipient undone,
//     and a unique id; the spool counts exactly those as live;
//   - the recovered spool works: a new message commits with OK (one more
//     live);
//   - after every recipient (recovered and new) is marked done and flushed,
//     a second Open recovers nothing: outcomes and retirement are durable.
// Runs in $TEST_TMPDIR, else /dev/shm, else /tmp; one directory per process.
// Seeds: tests/fuzz/corpus/spool_recovery/.

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "queue/record.h"
#include "queue/spool.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/spool_frames.h"

namespace {

namespace fs = std::filesystem;
namespace q = ringpost::queue;

constexpr uint64_t kSegmentBytes = 64u << 10;
constexpr size_t kMaxRunPending = 100000;

const std::string& RootDir() {
  static const std::string dir = [] {
    const char* base = ::getenv("TEST_TMPDIR");
    std::string b = base != nullptr ? base
                    : fs::is_directory("/dev/shm") ? "/dev/shm"
                                                   : "/tmp";
    std::string templ = b + "/ringpost_spool_fuzz_XXXXXX";
    FUZZ_CHECK(::mkdtemp(templ.data()) != nullptr);
    return templ;
  }();
  return dir;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(f.good());
}

std::string MakeFile(std::string_view part, bool raw, bool fix, uint64_t seq,
                     uint64_t header_seq, q::FileKind kind) {
  std::string file;
  if (raw) {
    file.assign(part);
  } else {
    file = q::EncodeFileHeader(q::FileHeader{header_seq, kind});
    file.append(part);
  }
  if (fix) ringpost::fuzz::FixFrames(&file, raw ? 0 : q::kFileHeaderBytes, true, seq);
  return file;
}

q::Spool::Options Options() {
  q::Spool::Options o;
  o.dir = RootDir();
  o.shard = 0;
  o.segment_bytes = kSegmentBytes;
  o.log = [](std::string_view) {};
  return o;
}

void Drain(q::BlockingSpoolIo* io) {
  size_t rounds = 0;
  while (io->pending() > 0) {
    FUZZ_CHECK(++rounds < kMaxRunPending);
    io->RunPending();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  ringpost::fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.U8();
  const uint64_t seq = in.U8() + 1;
  const std::string_view dat_part = in.Bytes(in.U16());
  const std::string_view jnl_part = in.Rest();
  const uint64_t header_seq = (flags & 32) != 0 ? seq + 1 : seq;

  const std::string shard_dir = RootDir() + "/shard-0";
  std::error_code ec;
  fs::remove_all(shard_dir, ec);
  fs::create_directories(shard_dir);
  const std::string base = shard_dir + "/seg-" + std::to_string(seq);
  WriteFile(base + ".dat", MakeFile(dat_part, flags & 4, flags & 1, seq,
                                    header_seq, q::FileKind::kSegment));
  if ((flags & 16) == 0) {
    WriteFile(base + ".jnl", MakeFile(jnl_part, flags & 8, flags & 2, seq,
                                      header_seq, q::FileKind::kJournal));
  }

  q::BlockingSpoolIo io;
  std::vector<q::RecoveredMessage> recovered;
  auto opened = q::Spool::Open(Options(), &io, &recovered);
  if (!opened.ok()) {
    FUZZ_CHECK(opened.status().message().find("2^62") != std::string_view::npos);
    return 0;
  }
  std::unique_ptr<q::Spool> spool = std::move(*opened);
  Drain(&io);

  std::set<uint64_t> ids;
  for (const q::RecoveredMessage& r : recovered) {
    FUZZ_CHECK(r.locator.segment_seq == seq);
    FUZZ_CHECK(r.locator.message_id == r.record.id);
    FUZZ_CHECK(ids.insert(r.record.id).second);
    FUZZ_CHECK(q::ValidateMessage(r.record).ok());
    FUZZ_CHECK(r.done.size() == r.record.recipients.size());
    bool undone = false;
    for (bool d : r.done) undone |= !d;
    FUZZ_CHECK(undone);
  }
  FUZZ_CHECK(spool->stats().messages_live == recovered.size());

  // The recovered spool takes new mail.
  q::MessageRecord m;
  m.id = spool->NewMessageId();
  FUZZ_CHECK(ids.count(m.id) == 0);
  m.sender = "sender@example.org";
  m.recipients = {"a@example.com", "b@example.net"};
  m.body = "Subject: after recovery\r\n\r\nbody\r\n";
  int committed = 0;
  auto loc = spool->AppendMessage(m, [&](absl::Status s) {
    FUZZ_CHECK(s.ok());
    ++committed;
  });
  FUZZ_CHECK(loc.ok());
  spool->Flush();
  Drain(&io);
  FUZZ_CHECK(committed == 1);
  FUZZ_CHECK(spool->stats().messages_live == recovered.size() + 1);

  // Everything done: nothing may come back.
  for (const q::RecoveredMessage& r : recovered) {
    for (uint32_t i = 0; i < r.done.size(); ++i) {
      if (!r.done[i]) spool->MarkDone(r.locator, i, q::kOutcomeDelivered);
    }
  }
  spool->MarkDone(*loc, 0, q::kOutcomeDelivered);
  spool->MarkDone(*loc, 1, q::kOutcomeBounced);
  for (int i = 0; i < 8 && (io.pending() > 0 || spool->HasIoInFlight()); ++i) {
    spool->Flush();
    Drain(&io);
  }
  spool->Flush();
  Drain(&io);
  FUZZ_CHECK(!spool->HasIoInFlight());
  FUZZ_CHECK(spool->stats().messages_live == 0);
  spool.reset();

  q::BlockingSpoolIo io2;
  std::vector<q::RecoveredMessage> again;
  auto reopened = q::Spool::Open(Options(), &io2, &again);
  FUZZ_CHECK(reopened.ok());
  Drain(&io2);
  FUZZ_CHECK(again.empty());
  return 0;
}
