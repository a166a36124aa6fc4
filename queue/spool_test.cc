// queue/spool_test.cc — the spool against real files in a temp dir, driven
// through BlockingSpoolIo: group commit, failures and ENOSPC, rollover,
// recycling, outcomes, and recovery from clean, torn, damaged and garbage
// files.

#include "queue/spool.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "queue/spool_internal.h"

namespace ringpost::queue {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSmallSegment = 64u << 10;

// A message's identity across a restart: recovery hands out new slots.
std::pair<uint64_t, uint64_t> Key(const MessageLocator& l) {
  return {l.segment_seq, l.message_id};
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = ::getenv("TEST_TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") +
                        "/spool_test_XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const std::string& l : logs_) std::fprintf(stderr, "log: %s\n", l.c_str());
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Spool::Options Opts(uint64_t segment_bytes = 1u << 20) {
    Spool::Options o;
    o.dir = dir_;
    o.shard = 3;
    o.segment_bytes = segment_bytes;
    o.log = [this](std::string_view line) {
      if (::getenv("SPOOL_TEST_LOG") != nullptr) {
        std::fprintf(stderr, "log: %.*s\n", static_cast<int>(line.size()),
                     line.data());
      }
      logs_.emplace_back(line);
    };
    return o;
  }

  std::unique_ptr<Spool> OpenSpool(BlockingSpoolIo* io,
                                   const Spool::Options& o,
                                   std::vector<RecoveredMessage>* rec) {
    auto s = Spool::Open(o, io, rec);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    io->RunPending();
    return std::move(*s);
  }

  // What a fresh process would recover from the directory right now.
  std::vector<RecoveredMessage> RecoverNow(const Spool::Options& o) {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto s = Spool::Open(o, &io, &rec);
    EXPECT_TRUE(s.ok()) << s.status();
    return rec;
  }

  // Flush and run completions until nothing moves (bounded).
  static void Drain(Spool* s, BlockingSpoolIo* io) {
    for (int i = 0; i < 10000; ++i) {
      s->Flush();
      if (io->RunPending() == 0 && !s->HasIoInFlight()) return;
    }
    ADD_FAILURE() << "spool did not settle";
  }

  MessageRecord Msg(Spool* s, size_t body_bytes, int rcpts = 1) {
    MessageRecord m;
    m.id = s->NewMessageId();
    m.queued_at_ms = 1700000000000 + static_cast<int64_t>(m.id % 1000);
    m.sender = "sender@example.org";
    for (int i = 0; i < rcpts; ++i) {
      m.recipients.push_back("rcpt" + std::to_string(i) + "@example.com");
    }
    m.body = "Subject: " + std::to_string(m.id) + "\r\n\r\n";
    while (m.body.size() < body_bytes) m.body += "0123456789abcdef\r\n";
    m.body.resize(body_bytes);
    return m;
  }

  // Appends and returns the locator; the callback stores its status.
  MessageLocator Append(Spool* s, const MessageRecord& m,
                        std::vector<absl::Status>* statuses) {
    auto loc = s->AppendMessage(
        m, [statuses](absl::Status st) { statuses->push_back(st); });
    EXPECT_TRUE(loc.ok()) << loc.status();
    return loc.ok() ? *loc : MessageLocator{};
  }

  std::string ShardDir() const { return dir_ + "/shard-3"; }
  std::string SegPath(uint64_t seq) const {
    return ShardDir() + "/seg-" + std::to_string(seq) + ".dat";
  }
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(ShardDir())) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  bool LogHas(std::string_view needle) const {
    for (const std::string& l : logs_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::string dir_;
  std::vector<std::string> logs_;
};

bool AllOk(const std::vector<absl::Status>& v) {
  return std::all_of(v.begin(), v.end(),
                     [](const absl::Status& s) { return s.ok(); });
}

TEST_F(SpoolTest, AppendCommitAndRecoverWithoutClosing) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  EXPECT_TRUE(rec.empty());
  std::vector<MessageRecord> sent;
  std::vector<MessageLocator> locs;
  std::vector<absl::Status> st;
  for (int i = 0; i < 3; ++i) {
    sent.push_back(Msg(spool.get(), 100 + 700 * i, i + 1));
    sent.back().flags = kFlag8BitMime;
    locs.push_back(Append(spool.get(), sent.back(), &st));
  }
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 3u);
  EXPECT_TRUE(AllOk(st));

  // Like kill -9: the first instance is still open, never closed.
  std::vector<RecoveredMessage> again = RecoverNow(Opts());
  ASSERT_EQ(again.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Key(again[i].locator), Key(locs[i]));
    EXPECT_EQ(again[i].record, sent[i]);
    EXPECT_EQ(again[i].done, std::vector<bool>(i + 1, false));
  }
}

// DSN parameters and bounce bookkeeping come back from recovery, next to a
// message without them.
TEST_F(SpoolTest, DsnFieldsSurviveRecovery) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<MessageRecord> sent;
  std::vector<absl::Status> st;
  sent.push_back(Msg(spool.get(), 300, 2));
  sent.back().dsn.envid = "QQ314159";
  sent.back().dsn.ret = DsnRet::kFull;
  sent.back().dsn.notify = {kNotifyNever, kNotifySuccess | kNotifyDelay};
  sent.back().dsn.orcpt = {"", "rfc822;rcpt1@example.com"};
  sent.push_back(Msg(spool.get(), 200, 1));
  sent.push_back(Msg(spool.get(), 200, 1));
  sent.back().sender.clear();
  sent.back().reports_on_id = sent[0].id;
  sent.back().reports_on_rcpts = {0, 1};
  for (const MessageRecord& m : sent) Append(spool.get(), m, &st);
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 3u);
  EXPECT_TRUE(AllOk(st));
  std::vector<RecoveredMessage> again = RecoverNow(Opts());
  ASSERT_EQ(again.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(again[i].record, sent[i]) << i;
}

TEST_F(SpoolTest, HundredAppendsShareOneWriteAndOneSync) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  const BlockingSpoolIo::Counters before = io.counters();
  std::vector<absl::Status> st;
  for (int i = 0; i < 100; ++i) Append(spool.get(), Msg(spool.get(), 1000), &st);
  EXPECT_TRUE(st.empty());  // nothing is committed before the flush
  EXPECT_EQ(io.counters().writes, before.writes);
  spool->Flush();
  EXPECT_EQ(io.counters().writes, before.writes + 1);
  EXPECT_EQ(io.counters().syncs, before.syncs + 1);
  EXPECT_TRUE(st.empty());  // callbacks only run from completions
  io.RunPending();
  ASSERT_EQ(st.size(), 100u);
  EXPECT_TRUE(AllOk(st));
  const Spool::Stats s = spool->stats();
  EXPECT_EQ(s.commits_issued, 1u);
  EXPECT_EQ(s.records_issued, 100u);
  EXPECT_EQ(s.max_records_per_commit, 100u);
  EXPECT_EQ(s.bytes_staged, 0u);
  EXPECT_EQ(s.messages_committed, 100u);
  EXPECT_EQ(s.messages_live, 100u);
}

TEST_F(SpoolTest, AppendsDuringAWriteGoInTheNextGroup) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  Append(spool.get(), Msg(spool.get(), 500), &st);
  spool->Flush();
  const uint64_t writes = io.counters().writes;
  for (int i = 0; i < 5; ++i) Append(spool.get(), Msg(spool.get(), 500), &st);
  spool->Flush();  // a write is in flight: keep staging
  EXPECT_EQ(io.counters().writes, writes);
  io.RunPending();
  EXPECT_EQ(st.size(), 1u);
  spool->Flush();
  EXPECT_EQ(io.counters().writes, writes + 1);
  io.RunPending();
  EXPECT_EQ(st.size(), 6u);
  EXPECT_TRUE(AllOk(st));
  EXPECT_EQ(spool->stats().commits_issued, 2u);
}

TEST_F(SpoolTest, CommitMaxBytesBoundsEachWrite) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  Spool::Options o = Opts();
  o.commit_max_bytes = 8192;
  auto spool = OpenSpool(&io, o, &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  const MessageRecord probe = Msg(spool.get(), 1000);
  const size_t framed = FramedMessageSize(probe);
  for (int i = 0; i < 20; ++i) Append(spool.get(), Msg(spool.get(), 1000), &st);
  const uint64_t bytes_before = io.counters().bytes_written;
  spool->Flush();
  const uint64_t first = io.counters().bytes_written - bytes_before;
  EXPECT_LE(first, 8192u + kRecordHeaderBytes);
  EXPECT_EQ(first, (8192 / framed) * framed + kRecordHeaderBytes);
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 20u);
  EXPECT_TRUE(AllOk(st));
  EXPECT_EQ(spool->stats().commits_issued, (20 + 8192 / framed - 1) /
                                               (8192 / framed));
  EXPECT_EQ(RecoverNow(o).size(), 20u);
}

TEST_F(SpoolTest, MessagesWaitForTheFirstSegment) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto opened = Spool::Open(Opts(), &io, &rec);
  ASSERT_TRUE(opened.ok());
  Spool* spool = opened->get();
  std::vector<absl::Status> st;
  for (int i = 0; i < 3; ++i) Append(spool, Msg(spool, 300), &st);
  EXPECT_EQ(spool->stats().appends_waiting_for_segment, 3u);
  const uint64_t writes = io.counters().writes;
  spool->Flush();  // the segment's files are not ready yet
  EXPECT_EQ(io.counters().writes, writes);
  Drain(spool, &io);
  ASSERT_EQ(st.size(), 3u);
  EXPECT_TRUE(AllOk(st));
  EXPECT_EQ(spool->stats().commits_issued, 1u);
}

TEST_F(SpoolTest, FailedWriteFailsItsBatchAndTheSegment) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> ok_st;
  const MessageLocator before =
      Append(spool.get(), Msg(spool.get(), 400), &ok_st);
  Drain(spool.get(), &io);
  ASSERT_TRUE(AllOk(ok_st));

  std::vector<absl::Status> st;
  std::set<uint64_t> failed_ids;
  io.FailNextWrite(EIO);
  for (int i = 0; i < 5; ++i) {
    failed_ids.insert(Append(spool.get(), Msg(spool.get(), 400), &st).message_id);
  }
  spool->Flush();
  io.RunPending();
  ASSERT_EQ(st.size(), 5u);
  for (const absl::Status& s : st) EXPECT_FALSE(s.ok());
  EXPECT_EQ(spool->stats().commit_failures, 1u);
  EXPECT_EQ(spool->stats().messages_failed, 5u);
  EXPECT_TRUE(LogHas("abandoning the segment"));

  // New messages go to another segment and succeed.
  std::vector<absl::Status> after_st;
  const MessageLocator after =
      Append(spool.get(), Msg(spool.get(), 400), &after_st);
  EXPECT_NE(after.segment_seq, before.segment_seq);
  Drain(spool.get(), &io);
  ASSERT_EQ(after_st.size(), 1u);
  EXPECT_TRUE(after_st[0].ok());

  std::vector<RecoveredMessage> again = RecoverNow(Opts());
  std::set<uint64_t> ids;
  for (const auto& r : again) ids.insert(r.locator.message_id);
  EXPECT_EQ(ids, (std::set<uint64_t>{before.message_id, after.message_id}));
}

TEST_F(SpoolTest, FailedSyncFailsTheBatchAndEverythingStagedBehindIt) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  io.FailNextSync(EIO);
  Append(spool.get(), Msg(spool.get(), 400), &st);
  spool->Flush();  // in flight, will fail
  Append(spool.get(), Msg(spool.get(), 400), &st);
  Append(spool.get(), Msg(spool.get(), 400), &st);
  io.RunPending();
  ASSERT_EQ(st.size(), 3u);
  for (const absl::Status& s : st) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(spool->stats().messages_live, 0u);
  std::vector<absl::Status> later;
  Append(spool.get(), Msg(spool.get(), 400), &later);
  Drain(spool.get(), &io);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_TRUE(later[0].ok());
}

TEST_F(SpoolTest, EnospcOnSegmentCreationIsResourceExhausted) {
  BlockingSpoolIo io;
  io.SetFailFallocate(ENOSPC);
  std::vector<RecoveredMessage> rec;
  auto opened = Spool::Open(Opts(), &io, &rec);
  ASSERT_TRUE(opened.ok());
  Spool* spool = opened->get();
  // Staged while the first segment is being made: fails through the callback.
  std::vector<absl::Status> st;
  Append(spool, Msg(spool, 300), &st);
  io.RunPending();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(spool->CanAccept().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(spool->stats().no_space);

  // Now it fails at once; the retry timer tries again in the background.
  auto loc = spool->AppendMessage(Msg(spool, 300), [](absl::Status) {
    ADD_FAILURE() << "callback of a rejected message ran";
  });
  EXPECT_EQ(loc.status().code(), absl::StatusCode::kResourceExhausted);
  io.RunPending();
  EXPECT_FALSE(spool->CanAccept().ok());
  EXPECT_EQ(io.FireTimers(), 1u);  // still full: fails, and is armed again
  io.RunPending();
  EXPECT_EQ(spool->CanAccept().code(), absl::StatusCode::kResourceExhausted);

  // Space comes back: the next retry succeeds.
  io.SetFailFallocate(0);
  loc = spool->AppendMessage(Msg(spool, 300), [](absl::Status) {});
  EXPECT_EQ(loc.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(io.FireTimers(), 1u);
  io.RunPending();
  EXPECT_TRUE(spool->CanAccept().ok());
  EXPECT_EQ(io.timers_pending(), 0u);
  std::vector<absl::Status> ok_st;
  Append(spool, Msg(spool, 300), &ok_st);
  Drain(spool, &io);
  ASSERT_EQ(ok_st.size(), 1u);
  EXPECT_TRUE(ok_st[0].ok());
  // No half-made files were left behind by the failed attempts.
  for (const std::string& f : Files()) {
    EXPECT_TRUE(f.starts_with("seg-") || f == "ids") << f;
  }
  EXPECT_EQ(Files().size(), 3u);
}

TEST_F(SpoolTest, DiskFullKeepsQueuedMailAndReusesFreedSegments) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  io.SetFailFallocate(ENOSPC);  // after the first segment exists
  std::vector<MessageLocator> locs;
  std::vector<absl::Status> st;
  absl::Status rejected;
  for (int i = 0; i < 200; ++i) {
    auto loc = spool->AppendMessage(
        Msg(spool.get(), 2000), [&st](absl::Status s) { st.push_back(s); });
    if (!loc.ok()) {
      rejected = loc.status();
      break;
    }
    locs.push_back(*loc);
    Drain(spool.get(), &io);
  }
  EXPECT_EQ(rejected.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GT(locs.size(), 10u);
  EXPECT_TRUE(AllOk(st));
  EXPECT_FALSE(spool->CanAccept().ok());
  // Nothing acknowledged is lost.
  EXPECT_EQ(RecoverNow(Opts(kSmallSegment)).size(), locs.size());

  // Deliveries finish: the full segment becomes a free file and is reused
  // without any new allocation.
  for (const MessageLocator& l : locs) {
    spool->MarkDone(l, 0, kOutcomeDelivered);
  }
  Drain(spool.get(), &io);
  EXPECT_TRUE(spool->CanAccept().ok());
  std::vector<absl::Status> st2;
  Append(spool.get(), Msg(spool.get(), 2000), &st2);
  Drain(spool.get(), &io);
  ASSERT_EQ(st2.size(), 1u);
  EXPECT_TRUE(st2[0].ok());
  EXPECT_EQ(spool->stats().segments_reused, 1u);
}

TEST_F(SpoolTest, OutcomesAreAppliedOnRecovery) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  const MessageLocator three = Append(spool.get(), Msg(spool.get(), 300, 3), &st);
  const MessageLocator all_done =
      Append(spool.get(), Msg(spool.get(), 300, 2), &st);
  Drain(spool.get(), &io);
  spool->MarkDone(three, 0, kOutcomeDelivered);
  spool->MarkDone(three, 1, kOutcomeBounced);
  spool->MarkDone(three, 1, kOutcomeBounced);  // a repeat is ignored
  spool->MarkDone(all_done, 0, kOutcomeDelivered);
  spool->MarkDone(all_done, 1, kOutcomeExpired);
  spool->MarkDone(MessageLocator{999, 1}, 0, kOutcomeDelivered);  // unknown
  Drain(spool.get(), &io);
  EXPECT_EQ(spool->stats().outcomes_staged, 4u);

  std::vector<RecoveredMessage> again = RecoverNow(Opts());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(Key(again[0].locator), Key(three));
  EXPECT_EQ(again[0].done, (std::vector<bool>{true, true, false}));
}

TEST_F(SpoolTest, OutcomesOfRecoveredMessagesAreJournaledToo) {
  std::vector<MessageLocator> locs;
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    std::vector<absl::Status> st;
    for (int i = 0; i < 4; ++i) {
      locs.push_back(Append(spool.get(), Msg(spool.get(), 300, 2), &st));
    }
    Drain(spool.get(), &io);
    spool->MarkDone(locs[0], 0, kOutcomeDelivered);
    Drain(spool.get(), &io);
  }
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_EQ(rec.size(), 4u);
    EXPECT_EQ(rec[0].done, (std::vector<bool>{true, false}));
    spool->MarkDone(locs[0], 1, kOutcomeDelivered);
    spool->MarkDone(locs[1], 0, kOutcomeDelivered);
    Drain(spool.get(), &io);
  }
  std::vector<RecoveredMessage> rec = RecoverNow(Opts());
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_EQ(Key(rec[0].locator), Key(locs[1]));
  EXPECT_EQ(rec[0].done, (std::vector<bool>{true, false}));
}

TEST_F(SpoolTest, MissingOrDamagedJournalIsRebuilt) {
  std::vector<MessageLocator> locs;
  uint64_t seq = 0;
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    std::vector<absl::Status> st;
    for (int i = 0; i < 3; ++i) {
      locs.push_back(Append(spool.get(), Msg(spool.get(), 300, 2), &st));
    }
    seq = locs[0].segment_seq;
    Drain(spool.get(), &io);
    spool->MarkDone(locs[0], 0, kOutcomeDelivered);
    spool->MarkDone(locs[0], 1, kOutcomeDelivered);
    spool->MarkDone(locs[1], 1, kOutcomeDelivered);
    Drain(spool.get(), &io);
  }
  const std::string jnl = ShardDir() + "/seg-" + std::to_string(seq) + ".jnl";
  // A damaged journal header: outcomes are still read by the name's seq,
  // and the header is rewritten.
  {
    const int fd = ::open(jnl.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "XXXX", 4, 0), 4);
    ::close(fd);
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_EQ(rec.size(), 2u);
    EXPECT_EQ(rec[0].done, (std::vector<bool>{false, true}));
    EXPECT_TRUE(LogHas("damaged file header"));
  }
  // A lost journal: every recipient counts as not done (duplicates are
  // allowed, losses are not), and a new journal takes further outcomes.
  ASSERT_TRUE(fs::remove(jnl));
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_EQ(rec.size(), 3u);
    EXPECT_TRUE(LogHas("is missing"));
    EXPECT_TRUE(fs::exists(jnl));
    spool->MarkDone(locs[0], 0, kOutcomeDelivered);
    spool->MarkDone(locs[0], 1, kOutcomeDelivered);
    Drain(spool.get(), &io);
  }
  EXPECT_EQ(RecoverNow(Opts()).size(), 2u);
}

TEST_F(SpoolTest, CrashWhileReusingAFreeFileLeavesItFree) {
  // A free file whose new header was written but which was not yet renamed
  // (crash in between) stays free, and its stale records stay dead.
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
    ASSERT_TRUE(spool);
    std::vector<absl::Status> st;
    std::vector<MessageLocator> locs;
    for (int i = 0; i < 120; ++i) {
      locs.push_back(Append(spool.get(), Msg(spool.get(), 1500), &st));
      Drain(spool.get(), &io);
    }
    for (const MessageLocator& l : locs) spool->MarkDone(l, 0, kOutcomeDelivered);
    Drain(spool.get(), &io);
  }
  std::vector<std::string> free_dat;
  for (const std::string& f : Files()) {
    if (f.starts_with("free-") && f.ends_with(".dat")) free_dat.push_back(f);
  }
  ASSERT_FALSE(free_dat.empty());
  const std::string path = ShardDir() + "/" + free_dat[0];
  {
    const std::string header =
        EncodeFileHeader(FileHeader{1000, FileKind::kSegment});
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, header.data(), header.size(), 0),
              static_cast<ssize_t>(header.size()));
    ::close(fd);
  }
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  EXPECT_TRUE(rec.empty());
  std::vector<absl::Status> st;
  const MessageLocator l = Append(spool.get(), Msg(spool.get(), 100), &st);
  EXPECT_GT(l.segment_seq, 1000u);  // above the seq found in the header
  Drain(spool.get(), &io);
  EXPECT_EQ(RecoverNow(Opts(kSmallSegment)).size(), 1u);
}

TEST_F(SpoolTest, RolloverAcrossSegmentsKeepsOrder) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  std::vector<MessageRecord> sent;
  std::vector<MessageLocator> locs;
  std::vector<absl::Status> st;
  for (int i = 0; i < 300; ++i) {
    sent.push_back(Msg(spool.get(), 600 + (i * 37) % 1500));
    locs.push_back(Append(spool.get(), sent.back(), &st));
    if (i % 10 == 9) Drain(spool.get(), &io);
  }
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 300u);
  EXPECT_TRUE(AllOk(st));
  std::set<uint64_t> seqs;
  for (const MessageLocator& l : locs) seqs.insert(l.segment_seq);
  EXPECT_GE(seqs.size(), 5u);
  EXPECT_TRUE(std::is_sorted(
      locs.begin(), locs.end(), [](const MessageLocator& a,
                                   const MessageLocator& b) {
        return a.segment_seq < b.segment_seq;
      }));
  // Every rollover found its spare ready: no append waited for a file.
  EXPECT_EQ(spool->stats().appends_waiting_for_segment, 0u);
  EXPECT_GE(spool->stats().segments_created, seqs.size());

  std::vector<RecoveredMessage> again = RecoverNow(Opts(kSmallSegment));
  ASSERT_EQ(again.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(Key(again[i].locator), Key(locs[i])) << i;
    EXPECT_EQ(again[i].record, sent[i]) << i;
  }
}

TEST_F(SpoolTest, DoneSegmentIsRecycledAndItsStaleRecordsStayDead) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  std::vector<MessageLocator> first, second, third;
  // Fill segment A, roll into B.
  MessageLocator l = Append(spool.get(), Msg(spool.get(), 1500), &st);
  const uint64_t seg_a = l.segment_seq;
  first.push_back(l);
  while (true) {
    l = Append(spool.get(), Msg(spool.get(), 1500), &st);
    Drain(spool.get(), &io);
    if (l.segment_seq != seg_a) break;
    first.push_back(l);
  }
  second.push_back(l);
  const uint64_t seg_b = l.segment_seq;
  // Everything in A is delivered: A is retired to a free file.
  for (const MessageLocator& m : first) {
    spool->MarkDone(m, 0, kOutcomeDelivered);
  }
  Drain(spool.get(), &io);
  EXPECT_FALSE(fs::exists(SegPath(seg_a)));
  EXPECT_EQ(spool->stats().segments_free + spool->stats().segments_reused,
            1u);
  // Fill B, roll into C, which must be A's old file.
  while (true) {
    l = Append(spool.get(), Msg(spool.get(), 1500), &st);
    Drain(spool.get(), &io);
    if (l.segment_seq != seg_b) break;
    second.push_back(l);
  }
  third.push_back(l);
  third.push_back(Append(spool.get(), Msg(spool.get(), 1500), &st));
  Drain(spool.get(), &io);
  EXPECT_TRUE(AllOk(st));
  EXPECT_EQ(spool->stats().segments_reused, 1u);

  // A's records are still in the reused file, under an older seq.
  std::vector<RecoveredMessage> again = RecoverNow(Opts(kSmallSegment));
  std::set<uint64_t> got;
  for (const auto& r : again) got.insert(r.locator.message_id);
  std::set<uint64_t> want;
  for (const auto& m : second) want.insert(m.message_id);
  for (const auto& m : third) want.insert(m.message_id);
  EXPECT_EQ(got, want);
  EXPECT_EQ(again.size(), second.size() + third.size());
}

TEST_F(SpoolTest, TornTailLosesOnlyTheTornRecord) {
  for (bool truncate : {true, false}) {
    SCOPED_TRACE(truncate ? "truncated file" : "zeroed half record");
    std::error_code ec;
    fs::remove_all(ShardDir(), ec);
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    std::vector<absl::Status> st;
    std::vector<MessageRecord> sent;
    uint64_t seq = 0;
    size_t last_offset = kFileHeaderBytes;
    for (int i = 0; i < 5; ++i) {
      sent.push_back(Msg(spool.get(), 900));
      if (i < 4) last_offset += FramedMessageSize(sent.back());
      seq = Append(spool.get(), sent.back(), &st).segment_seq;
    }
    Drain(spool.get(), &io);
    ASSERT_TRUE(AllOk(st));
    const size_t cut = last_offset + FramedMessageSize(sent.back()) / 2;
    if (truncate) {
      ASSERT_EQ(::truncate(SegPath(seq).c_str(), static_cast<off_t>(cut)), 0);
    } else {
      std::string zeros(FramedMessageSize(sent.back()), '\0');
      const int fd = ::open(SegPath(seq).c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size() / 2,
                         static_cast<off_t>(cut)),
                static_cast<ssize_t>(zeros.size() / 2));
      ::close(fd);
    }
    logs_.clear();
    std::vector<RecoveredMessage> again = RecoverNow(Opts());
    ASSERT_EQ(again.size(), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(again[i].record, sent[i]);
    EXPECT_TRUE(LogHas("damaged record"));
  }
}

TEST_F(SpoolTest, DamagedRecordInTheMiddleIsSkipped) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  std::vector<MessageRecord> sent;
  std::vector<size_t> offsets;
  size_t off = kFileHeaderBytes;
  uint64_t seq = 0;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(Msg(spool.get(), 700));
    offsets.push_back(off);
    off += FramedMessageSize(sent.back());
    seq = Append(spool.get(), sent.back(), &st).segment_seq;
  }
  Drain(spool.get(), &io);
  for (size_t damage : {offsets[2] + 300, offsets[3] + 17}) {  // body, length
    const int fd = ::open(SegPath(seq).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c;
    ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(damage)), 1);
    c ^= 0x20;
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(damage)), 1);
    ::close(fd);
  }
  std::vector<RecoveredMessage> again = RecoverNow(Opts());
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[0].record, sent[0]);
  EXPECT_EQ(again[1].record, sent[1]);
  EXPECT_EQ(again[2].record, sent[4]);
  EXPECT_TRUE(LogHas("damaged record at offset " + std::to_string(offsets[2])));
}

TEST_F(SpoolTest, GarbageFilesDoNotStopStartUp) {
  ASSERT_TRUE(fs::create_directories(ShardDir()));
  std::mt19937_64 rng(9);
  auto write_random = [&](const std::string& name, size_t n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::ofstream(ShardDir() + "/" + name, std::ios::binary) << bytes;
  };
  write_random("seg-7.dat", 256 << 10);
  write_random("seg-7.jnl", 64 << 10);
  write_random("seg-9.dat", 100);  // shorter than a header block
  write_random("seg-12.jnl", 5000);
  write_random("free-4.dat", 4096);
  write_random("notes.txt", 10);
  std::ofstream(ShardDir() + "/seg-8.dat");  // empty

  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  EXPECT_TRUE(rec.empty());
  EXPECT_TRUE(LogHas("seg-7.dat"));
  EXPECT_TRUE(LogHas("ignoring unexpected file notes.txt"));
  // New segments number above every seq seen.
  std::vector<absl::Status> st;
  const MessageLocator l = Append(spool.get(), Msg(spool.get(), 100), &st);
  EXPECT_GT(l.segment_seq, 12u);
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].ok());
  const std::vector<std::string> files = Files();
  EXPECT_TRUE(std::find(files.begin(), files.end(), "notes.txt") != files.end());
  EXPECT_TRUE(std::find(files.begin(), files.end(), "seg-7.dat") == files.end());
  EXPECT_TRUE(std::find(files.begin(), files.end(), "free-4.dat") ==
              files.end());
  EXPECT_EQ(RecoverNow(Opts()).size(), 1u);
}

TEST_F(SpoolTest, EverythingDoneLeavesNothingToRecover) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  std::vector<MessageLocator> locs;
  for (int i = 0; i < 150; ++i) {
    locs.push_back(Append(spool.get(), Msg(spool.get(), 1000, 2), &st));
    if (i % 20 == 0) Drain(spool.get(), &io);
  }
  Drain(spool.get(), &io);
  for (const MessageLocator& l : locs) {
    spool->MarkDone(l, 1, kOutcomeDelivered);
    spool->MarkDone(l, 0, kOutcomeBounced);
  }
  Drain(spool.get(), &io);
  const Spool::Stats s = spool->stats();
  EXPECT_EQ(s.messages_live, 0u);
  EXPECT_GE(s.segments_retired, 2u);
  EXPECT_LE(s.segments_free, 2u);  // max_free_segments
  EXPECT_TRUE(RecoverNow(Opts(kSmallSegment)).empty());
}

TEST_F(SpoolTest, RecoveredRecordWithAnyIdIsDeliveredAndRetired) {
  // A record on disk may carry an id this spool would never issue (0, or
  // another shard's): it is still mail, is recovered, and once every
  // recipient is done nothing of it stays live or comes back.
  fs::create_directories(ShardDir());
  std::string file = EncodeFileHeader(FileHeader{7, FileKind::kSegment});
  for (uint64_t id : {uint64_t{0}, uint64_t{5} << 54}) {
    MessageRecord m;
    m.id = id;
    m.sender = "sender@example.org";
    m.recipients = {"a@example.com", "b@example.net"};
    m.body = "Subject: stray\r\n\r\nbody\r\n";
    EncodeMessage(m, 7, &file);
  }
  std::ofstream(SegPath(7), std::ios::binary) << file;

  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  ASSERT_EQ(rec.size(), 2u);
  EXPECT_EQ(rec[0].record.id, 0u);
  EXPECT_EQ(spool->stats().messages_live, 2u);
  for (const RecoveredMessage& r : rec) {
    spool->MarkDone(r.locator, 0, kOutcomeDelivered);
    spool->MarkDone(r.locator, 0, kOutcomeDelivered);  // repeat: no effect
    spool->MarkDone(r.locator, 1, kOutcomeBounced);
  }
  Drain(spool.get(), &io);
  EXPECT_EQ(spool->stats().messages_live, 0u);
  spool.reset();
  EXPECT_TRUE(RecoverNow(Opts(kSmallSegment)).empty());
}

TEST_F(SpoolTest, RejectsInvalidAndOversizedMessages) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  auto never = [](absl::Status) { ADD_FAILURE() << "callback ran"; };
  MessageRecord big = Msg(spool.get(), kSmallSegment);
  EXPECT_EQ(spool->AppendMessage(big, never).status().code(),
            absl::StatusCode::kInvalidArgument);
  MessageRecord none = Msg(spool.get(), 10);
  none.recipients.clear();
  EXPECT_EQ(spool->AppendMessage(none, never).status().code(),
            absl::StatusCode::kInvalidArgument);
  MessageRecord zero = Msg(spool.get(), 10);
  zero.id = 0;
  EXPECT_EQ(spool->AppendMessage(zero, never).status().code(),
            absl::StatusCode::kInvalidArgument);
  MessageRecord other_shard = Msg(spool.get(), 10);
  other_shard.id ^= uint64_t{1} << 60;
  EXPECT_EQ(spool->AppendMessage(other_shard, never).status().code(),
            absl::StatusCode::kInvalidArgument);
  MessageRecord future = Msg(spool.get(), 10);
  ++future.id;  // not issued yet
  EXPECT_EQ(spool->AppendMessage(future, never).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<absl::Status> st;
  Append(spool.get(), Msg(spool.get(), 10), &st);
  Drain(spool.get(), &io);
  EXPECT_EQ(st.size(), 1u);
}

TEST_F(SpoolTest, RejectsBadOptions) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  Spool::Options o = Opts();
  o.segment_bytes = 5000;
  EXPECT_FALSE(Spool::Open(o, &io, &rec).ok());
  o = Opts();
  o.shard = 1024;
  EXPECT_FALSE(Spool::Open(o, &io, &rec).ok());
  o = Opts();
  o.dir = dir_ + "/file";
  std::ofstream(o.dir) << "x";  // a file where the directory should be
  EXPECT_EQ(Spool::Open(o, &io, &rec).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SpoolTest, IdsAreUniqueAcrossRestarts) {
  std::set<uint64_t> ids;
  for (int run = 0; run < 3; ++run) {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    for (int i = 0; i < 1000; ++i) {
      const uint64_t id = spool->NewMessageId();
      EXPECT_EQ(id >> 54, 3u);  // the shard
      EXPECT_TRUE(ids.insert(id).second);
    }
  }
}

// The bound in <shard dir>/ids (0 when the file does not decode).
uint64_t IdFileBound(const std::string& shard_dir) {
  std::ifstream in(shard_dir + "/ids", std::ios::binary);
  const std::string contents((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return DecodeIdFile(contents).value_or(0);
}

TEST_F(SpoolTest, IdsContinueAboveThePersistedBoundNotTheClock) {
  // A bound 2^40 ahead of the clock: only the ids file can carry it over.
  Spool::Options o = Opts();
  o.id_lease = uint64_t{1} << 40;
  uint64_t first = 0;
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, o, &rec);
    ASSERT_TRUE(spool);
    first = spool->NewMessageId();
  }
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  EXPECT_GE(spool->NewMessageId(), first + (uint64_t{1} << 40));
}

// An id's counter part (below the shard bits).
uint64_t CounterOf(uint64_t id) { return id & ((uint64_t{1} << 54) - 1); }

// A spool whose id bound moves every 100 ids.
Spool::Options ShortIdLease(Spool::Options o) {
  o.id_lease = 100;
  return o;
}

TEST_F(SpoolTest, IdBoundIsRenewedBeforeTheCounterPassesIt) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, ShortIdLease(Opts()), &rec);
  ASSERT_TRUE(spool);
  const std::string shard_dir = ShardDir();
  for (int i = 0; i < 1000; ++i) {
    const uint64_t counter = CounterOf(spool->NewMessageId());
    io.RunPending();  // the renewal's write, when one was issued
    ASSERT_LT(counter, IdFileBound(shard_dir)) << i;
    // Renewed at half a lease from the bound, a lease ahead of the counter.
    ASSERT_LE(IdFileBound(shard_dir), counter + 100) << i;
    ASSERT_GE(IdFileBound(shard_dir), counter + 50) << i;
  }
  EXPECT_FALSE(LogHas("passed the bound"));
}

TEST_F(SpoolTest, FailedIdBoundWriteIsLoggedAndRetried) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, ShortIdLease(Opts()), &rec);
  ASSERT_TRUE(spool);
  const uint64_t first_bound = IdFileBound(ShardDir());
  io.FailNextWrite(EIO);  // the renewal issued at half a lease
  for (int i = 0; i < 300; ++i) {
    const uint64_t counter = CounterOf(spool->NewMessageId());
    io.RunPending();
    ASSERT_LT(counter, IdFileBound(ShardDir())) << i;
  }
  EXPECT_TRUE(LogHas("ids failed (Input/output error); retried later"));
  EXPECT_GT(IdFileBound(ShardDir()), first_bound);
  EXPECT_FALSE(LogHas("passed the bound"));
}

TEST_F(SpoolTest, IdsPassingAnUnwrittenBoundAreLogged) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, ShortIdLease(Opts()), &rec);
  ASSERT_TRUE(spool);
  std::set<uint64_t> ids;
  // No RunPending: the renewal issued at 50 ids stays unwritten.
  for (int i = 0; i < 300; ++i) {
    EXPECT_TRUE(ids.insert(spool->NewMessageId()).second);
  }
  EXPECT_TRUE(LogHas("passed the bound"));
  io.RunPending();
}

TEST_F(SpoolTest, DamagedIdFileIsLoggedAndIdsJumpAhead) {
  uint64_t last = 0;
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    for (int i = 0; i < 10; ++i) last = spool->NewMessageId();
  }
  std::ofstream(ShardDir() + "/ids", std::ios::trunc) << "not an id bound!";
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  EXPECT_TRUE(LogHas("ids is damaged"));
  EXPECT_GT(spool->NewMessageId(), last);
  EXPECT_FALSE(LogHas("ignoring unexpected file"));
}

TEST_F(SpoolTest, NoSyncWhenNotDurable) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  Spool::Options o = Opts();
  o.durable = false;
  auto spool = OpenSpool(&io, o, &rec);
  ASSERT_TRUE(spool);
  EXPECT_TRUE(LogHas("DURABILITY IS OFF"));
  const uint64_t syncs = io.counters().syncs;
  std::vector<absl::Status> st;
  for (int i = 0; i < 10; ++i) {
    Append(spool.get(), Msg(spool.get(), 100), &st);
    Drain(spool.get(), &io);
  }
  EXPECT_EQ(io.counters().syncs, syncs);
  EXPECT_EQ(st.size(), 10u);
}

TEST_F(SpoolTest, CallbacksMayCallBackIntoTheSpool) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  Spool* s = spool.get();
  int chained = 0;
  std::function<void(absl::Status)> next = [&](absl::Status st) {
    ASSERT_TRUE(st.ok());
    if (++chained >= 5) return;
    auto loc = s->AppendMessage(Msg(s, 200), next);
    ASSERT_TRUE(loc.ok());
    s->MarkDone(*loc, 0, kOutcomeDelivered);  // before its commit: allowed
    s->Flush();
  };
  ASSERT_TRUE(s->AppendMessage(Msg(s, 200), next).ok());
  Drain(s, &io);
  EXPECT_EQ(chained, 5);
}

TEST_F(SpoolTest, CompletionsAfterDestructionAreIgnored) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  int ran = 0;
  ASSERT_TRUE(
      spool->AppendMessage(Msg(spool.get(), 100), [&](absl::Status) { ++ran; })
          .ok());
  spool->Flush();
  EXPECT_TRUE(spool->HasIoInFlight());
  spool.reset();
  io.RunPending();
  EXPECT_EQ(ran, 0);
}

// Records go out from buffers the SpoolIo made (one write per batch, no
// std::string in between), and every buffer goes back to it.
TEST_F(SpoolTest, SegmentWritesGoOutFromSpoolIoBuffers) {
  BlockingSpoolIo io;
  {
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    std::vector<absl::Status> st;
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 10; ++i) {
        Append(spool.get(), Msg(spool.get(), 100 + 333 * i), &st);
      }
      Drain(spool.get(), &io);
    }
    ASSERT_EQ(st.size(), 50u);
    EXPECT_TRUE(AllOk(st));
    EXPECT_EQ(io.counters().buffer_writes, spool->stats().commits_issued);
    EXPECT_EQ(io.counters().buffers_made, spool->stats().commits_issued);
    EXPECT_EQ(io.counters().buffers_released, io.counters().buffers_made);
    // A batch being filled holds its buffer until its write ends.
    Append(spool.get(), Msg(spool.get(), 100), &st);
    EXPECT_EQ(io.counters().buffers_released + 1, io.counters().buffers_made);
  }
  // ~Spool gives back the buffers of batches never written.
  EXPECT_EQ(io.counters().buffers_released, io.counters().buffers_made);
  EXPECT_EQ(RecoverNow(Opts()).size(), 50u);
}

// A SpoolIo whose buffers look like UringSpoolIo's: data at offset % 4096 of
// a block-sized allocation, the memory around it poisoned. Its writes check
// that they were given one of its buffers, made for the offset written.
class HeadroomIo final : public SpoolIo {
 public:
  explicit HeadroomIo(BlockingSpoolIo* inner) : inner_(inner) {}
  ~HeadroomIo() override { EXPECT_EQ(live_, 0); }

  WriteBuffer NewWriteBuffer(uint64_t offset, size_t capacity) override {
    if (fail_alloc) return WriteBuffer();
    const size_t head = offset % 4096;
    const size_t bytes = (head + capacity + 4095) / 4096 * 4096;
    char* block = static_cast<char*>(std::malloc(bytes));
    std::memset(block, 0xee, bytes);
    ++live_;
    max_live = std::max(max_live, live_);
    return WriteBuffer(this, block, bytes, head);
  }
  void WriteBufferAndSync(int fd, uint64_t offset, WriteBuffer* buffer,
                          bool sync,
                          absl::AnyInvocable<void(int)> done) override {
    ++buffer_writes;
    if (buffer->owner() != this || buffer->headroom() != offset % 4096 ||
        buffer->headroom() + buffer->capacity() != buffer->block_bytes() ||
        buffer->size() > buffer->capacity()) {
      ++mismatches;
    }
    // The spool never writes around its data.
    for (size_t i = 0; i < buffer->headroom(); ++i) {
      if (buffer->block()[i] != '\xee') {
        ++mismatches;
        break;
      }
    }
    inner_->WriteAndSync(fd, offset, buffer->view(), sync, std::move(done));
  }
  void WriteAndSync(int fd, uint64_t offset, std::string_view data, bool sync,
                    absl::AnyInvocable<void(int)> done) override {
    inner_->WriteAndSync(fd, offset, data, sync, std::move(done));
  }
  void OpenSegmentFile(std::string path, uint64_t size, bool create,
                       absl::AnyInvocable<void(int)> done) override {
    inner_->OpenSegmentFile(std::move(path), size, create, std::move(done));
  }
  void Rename(std::string from, std::string to,
              absl::AnyInvocable<void(int)> done) override {
    inner_->Rename(std::move(from), std::move(to), std::move(done));
  }
  void Unlink(std::string path, bool sync_dir,
              absl::AnyInvocable<void(int)> done) override {
    inner_->Unlink(std::move(path), sync_dir, std::move(done));
  }
  void Close(int fd) override { inner_->Close(fd); }
  void After(uint64_t ms, absl::AnyInvocable<void(int)> done) override {
    inner_->After(ms, std::move(done));
  }

  bool fail_alloc = false;
  int max_live = 0;
  uint64_t buffer_writes = 0;
  uint64_t mismatches = 0;

 protected:
  void ReleaseWriteBuffer(char* block, size_t) override {
    --live_;
    std::free(block);
  }

 private:
  BlockingSpoolIo* inner_;
  int live_ = 0;
};

// Batches at unaligned offsets, several staged behind a write in flight, one
// larger than commit_max_bytes, and a failed write followed by more batches:
// each is encoded where its offset said, and recovery returns exactly the
// acknowledged messages.
TEST_F(SpoolTest, BatchesAreEncodedForTheOffsetTheyAreWrittenAt) {
  BlockingSpoolIo blocking;
  HeadroomIo io(&blocking);
  std::vector<MessageRecord> acked;
  {
    Spool::Options o = Opts();
    o.commit_max_bytes = 8192;
    std::vector<RecoveredMessage> rec;
    auto opened = Spool::Open(o, &io, &rec);
    ASSERT_TRUE(opened.ok()) << opened.status();
    Spool* spool = opened->get();
    blocking.RunPending();
    std::mt19937 rng(7);
    std::vector<std::pair<MessageRecord, absl::Status>> results;
    size_t after_failure = 0;
    auto append = [&](size_t body) {
      MessageRecord m = Msg(spool, body, 1 + static_cast<int>(rng() % 3));
      const size_t i = results.size();
      results.emplace_back(m, absl::UnknownError("pending"));
      auto loc = spool->AppendMessage(
          m, [&results, i](absl::Status st) { results[i].second = st; });
      ASSERT_TRUE(loc.ok()) << loc.status();
    };
    for (int round = 0; round < 30; ++round) {
      for (int i = 0; i < 6; ++i) append(1 + rng() % 3000);
      if (round == 10) append(20000);  // alone in its batch
      if (round == 20) blocking.FailNextWrite(EIO);
      // Flush every other round only, and run completions late, so that
      // batches pile up behind the write in flight.
      if (round % 2 == 1) spool->Flush();
      if (round % 3 == 2) blocking.RunPending();
      if (round == 22) {
        Drain(spool, &blocking);
        after_failure = results.size();
      }
    }
    Drain(spool, &blocking);
    size_t failed = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& [m, st] = results[i];
      ASSERT_NE(st.code(), absl::StatusCode::kUnknown);
      if (st.ok()) {
        acked.push_back(m);
      } else {
        ++failed;
        EXPECT_LT(i, after_failure);
      }
    }
    EXPECT_GT(failed, 0u);
    EXPECT_GT(acked.size(), 7 * 6u);
    EXPECT_EQ(spool->stats().commit_failures, 1u);
    EXPECT_GT(io.max_live, 2);  // batches were staged behind one another
    EXPECT_EQ(io.buffer_writes, spool->stats().commits_issued);
    EXPECT_EQ(io.mismatches, 0u);
  }
  std::vector<RecoveredMessage> again = RecoverNow(Opts());
  ASSERT_EQ(again.size(), acked.size());
  for (size_t i = 0; i < acked.size(); ++i) {
    EXPECT_EQ(again[i].record, acked[i]) << i;
  }
}

TEST_F(SpoolTest, NoMemoryForACommitBufferIsResourceExhausted) {
  BlockingSpoolIo blocking;
  HeadroomIo io(&blocking);
  std::vector<RecoveredMessage> rec;
  auto opened = Spool::Open(Opts(), &io, &rec);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Spool* spool = opened->get();
  blocking.RunPending();
  io.fail_alloc = true;
  int ran = 0;
  auto loc = spool->AppendMessage(Msg(spool, 100), [&](absl::Status) { ++ran; });
  EXPECT_EQ(loc.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(spool->stats().messages_live, 0u);
  EXPECT_EQ(spool->stats().bytes_staged, 0u);
  io.fail_alloc = false;
  std::vector<absl::Status> st;
  Append(spool, Msg(spool, 100), &st);
  Drain(spool, &blocking);
  EXPECT_EQ(ran, 0);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].ok());
  EXPECT_EQ(RecoverNow(Opts()).size(), 1u);
}

// Per-recipient state with 1, 64 (the inline mask), 65 and 1000 recipients:
// outcomes in any order with repeats, before and after recovery.
TEST_F(SpoolTest, RecipientsAreDoneInAnyOrderWithRepeats) {
  const std::vector<uint32_t> counts = {1, 64, 65, 1000};
  std::mt19937 rng(11);
  std::vector<MessageLocator> locs;
  std::vector<std::vector<uint32_t>> orders;  // per message, with repeats
  std::vector<std::vector<bool>> expect_done;
  size_t first_half_outcomes = 0;
  {
    BlockingSpoolIo io;
    std::vector<RecoveredMessage> rec;
    auto spool = OpenSpool(&io, Opts(), &rec);
    ASSERT_TRUE(spool);
    std::vector<absl::Status> st;
    for (uint32_t n : counts) {
      locs.push_back(Append(spool.get(), Msg(spool.get(), 200, n), &st));
      std::vector<uint32_t> order(n);
      for (uint32_t i = 0; i < n; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      // Repeats: some right away, some much later.
      for (uint32_t k = 0; k < n / 3 + 1; ++k) {
        const uint32_t pos = static_cast<uint32_t>(rng() % order.size());
        order.insert(order.begin() + pos + (k % 2), order[pos]);
      }
      orders.push_back(order);
      expect_done.emplace_back(n, false);
    }
    Drain(spool.get(), &io);
    ASSERT_TRUE(AllOk(st));
    // The first half of each order now, including its repeats.
    size_t distinct = 0;
    for (size_t m = 0; m < counts.size(); ++m) {
      for (size_t k = 0; k < orders[m].size() / 2; ++k) {
        const uint32_t r = orders[m][k];
        spool->MarkDone(locs[m], r, kOutcomeDelivered);
        if (!expect_done[m][r]) ++distinct;
        expect_done[m][r] = true;
        EXPECT_EQ(spool->stats().outcomes_staged, distinct);
      }
    }
    first_half_outcomes = distinct;
    // No message has all its recipients done yet (a 1-recipient one may).
    size_t live = 0;
    for (size_t m = 0; m < counts.size(); ++m) {
      live += std::count(expect_done[m].begin(), expect_done[m].end(), false) > 0;
    }
    EXPECT_EQ(spool->stats().messages_live, live);
    Drain(spool.get(), &io);
  }
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  size_t next = 0;
  for (size_t m = 0; m < counts.size(); ++m) {
    if (std::count(expect_done[m].begin(), expect_done[m].end(), false) == 0) {
      continue;  // retired
    }
    ASSERT_LT(next, rec.size());
    EXPECT_EQ(Key(rec[next].locator), Key(locs[m]));
    locs[m] = rec[next].locator;  // locators from before do not survive
    EXPECT_EQ(rec[next].done, expect_done[m]) << counts[m];
    ++next;
  }
  EXPECT_EQ(next, rec.size());
  // The rest after recovery: repeats of outcomes from before the restart
  // are ignored too, and each message goes once its last recipient is done.
  size_t distinct = 0;
  for (size_t m = 0; m < counts.size(); ++m) {
    for (size_t k = orders[m].size() / 2; k < orders[m].size(); ++k) {
      const uint32_t r = orders[m][k];
      spool->MarkDone(locs[m], r, kOutcomeBounced);
      if (!expect_done[m][r]) ++distinct;
      expect_done[m][r] = true;
      EXPECT_EQ(spool->stats().outcomes_staged, distinct);
    }
    EXPECT_TRUE(std::all_of(expect_done[m].begin(), expect_done[m].end(),
                            [](bool b) { return b; }));
  }
  EXPECT_EQ(first_half_outcomes + distinct, 1u + 64 + 65 + 1000);
  EXPECT_EQ(spool->stats().messages_live, 0u);
  Drain(spool.get(), &io);
  EXPECT_TRUE(RecoverNow(Opts()).empty());
}

// --- issue 11: two relays on one spool, retries, durability gaps -----------

// Defect: a second relay started on the same spool (SO_REUSEPORT let it bind
// the same ports) recovered, retired and unlinked the first one's files. The
// spool root is locked; a second process is refused at once, naming the
// spool and the holder's PID, and creates nothing.
TEST_F(SpoolTest, SecondProcessOnTheSpoolIsRefusedAndTouchesNothing) {
  int ready[2];
  int hold[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(hold), 0);
  const std::string lock_path = dir_ + "/lock";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The running relay: holds the lock as ringpost does.
    ::close(ready[0]);
    ::close(hold[1]);
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0640);
    char c = 'n';
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::pwrite(fd, pid.data(), pid.size(), 0) ==
          static_cast<ssize_t>(pid.size())) {
        c = 'y';
      }
    }
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    if (::read(hold[0], &c, 1) < 0) ::_exit(1);  // until the parent is done
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  ::close(ready[0]);

  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto refused = Spool::Open(Opts(), &io, &rec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(refused.status().message());
  EXPECT_NE(msg.find(dir_), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + std::to_string(child)), std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(ShardDir())) << "the refused spool made its dir";
  EXPECT_EQ(io.pending(), 0u);
  EXPECT_EQ(io.counters().creates, 0u);

  ::close(hold[1]);  // the holder exits: its lock goes with it
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  // The lock file now names this process.
  std::ifstream in(lock_path);
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(::getpid()));
  // Shards of one process share the lock: another shard opens too.
  Spool::Options other = Opts();
  other.shard = 4;
  BlockingSpoolIo io2;
  std::vector<RecoveredMessage> rec2;
  EXPECT_TRUE(Spool::Open(other, &io2, &rec2).ok());
}

// Defect: after a segment create failed with EEXIST, the spool unlinked
// that name: a file it had not made (another relay's segment).
TEST_F(SpoolTest, FailedCreateNeverRemovesAFileItDidNotMake) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(kSmallSegment), &rec);
  ASSERT_TRUE(spool);
  // Segment 1 is active; the spare will be segment 2. Someone else's file
  // takes that name first.
  const std::string theirs = SegPath(2);
  { std::ofstream(theirs) << "not ours"; }
  std::vector<absl::Status> st;
  while (spool->stats().segment_prepare_failures == 0 && st.size() < 20) {
    Append(spool.get(), Msg(spool.get(), 3000), &st);
    Drain(spool.get(), &io);
  }
  ASSERT_EQ(spool->stats().segment_prepare_failures, 1u);
  EXPECT_TRUE(AllOk(st));
  ASSERT_TRUE(fs::exists(theirs)) << "removed a file it did not create";
  std::ifstream in(theirs);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "not ours");
  EXPECT_TRUE(LogHas("File exists"));
  // Not a lack of space: once the active segment is full, 451, not 452.
  for (int i = 0; i < 40 && spool->CanAccept().ok(); ++i) {
    auto loc = spool->AppendMessage(Msg(spool.get(), 3000),
                                    [](absl::Status) {});
    if (!loc.ok()) break;
    Drain(spool.get(), &io);
  }
  EXPECT_EQ(spool->CanAccept().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(spool->stats().no_space);
  EXPECT_TRUE(spool->stats().prepare_failing);
  // The retry takes the next seq and works.
  EXPECT_EQ(io.FireTimers(), 1u);
  io.RunPending();
  EXPECT_TRUE(spool->CanAccept().ok());
  EXPECT_TRUE(fs::exists(theirs));
}

// Defect: after one failed segment creation the spool refused mail until a
// segment retired; nothing retried. Now a timer does, an I/O error is told
// from a full disk (451 4.3.0 vs 452 4.3.1), logged once, with its errno.
TEST_F(SpoolTest, SegmentCreationIsRetriedOnATimerAndEioIsNotDiskFull) {
  BlockingSpoolIo io;
  io.SetFailFallocate(EIO);
  std::vector<RecoveredMessage> rec;
  auto opened = Spool::Open(Opts(), &io, &rec);
  ASSERT_TRUE(opened.ok());
  Spool* spool = opened->get();
  io.RunPending();
  const absl::Status refused = spool->CanAccept();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("Input/output error"),
            absl::string_view::npos)
      << refused;
  EXPECT_FALSE(spool->stats().no_space);
  EXPECT_TRUE(spool->stats().prepare_failing);
  EXPECT_TRUE(LogHas("not a lack of space"));
  EXPECT_EQ(io.timers_pending(), 1u);
  // Still failing: tried again, armed again, not logged again.
  EXPECT_EQ(io.FireTimers(), 1u);
  io.RunPending();
  EXPECT_EQ(io.timers_pending(), 1u);
  EXPECT_EQ(std::count_if(logs_.begin(), logs_.end(),
                          [](const std::string& l) {
                            return l.find("cannot prepare") !=
                                   std::string::npos;
                          }),
            1);
  // Now a full disk: 452's status, logged as such.
  io.SetFailFallocate(ENOSPC);
  EXPECT_EQ(io.FireTimers(), 1u);
  io.RunPending();
  EXPECT_EQ(spool->CanAccept().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(spool->stats().no_space);
  EXPECT_TRUE(LogHas("disk full"));
  // The disk recovers; nothing retires, nothing is appended: the timer
  // alone brings the spool back.
  io.SetFailFallocate(0);
  EXPECT_EQ(io.FireTimers(), 1u);
  io.RunPending();
  EXPECT_TRUE(spool->CanAccept().ok());
  EXPECT_EQ(io.timers_pending(), 0u);
  EXPECT_EQ(spool->stats().segment_prepare_retries, 3u);
  EXPECT_TRUE(LogHas("taking new mail again"));
  std::vector<absl::Status> st;
  Append(spool, Msg(spool, 300), &st);
  Drain(spool, &io);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].ok());
}

// Defect: a message whose commit failed (its client told 451/452) could be
// on disk anyway (the write landed, the sync failed) and recovery delivered
// it after a restart; the client, told 4xx, had sent it again: duplicate.
// The failed batch's messages are cancelled in the journal before the 4xx.
TEST_F(SpoolTest, FailedCommitIsNotDeliveredAfterRestart) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  const MessageRecord kept = Msg(spool.get(), 500);
  Append(spool.get(), kept, &st);
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 1u);
  ASSERT_TRUE(st[0].ok());
  // The write lands, its fdatasync fails: both messages get an error.
  io.FailNextSync(EIO);
  Append(spool.get(), Msg(spool.get(), 500, 2), &st);
  Append(spool.get(), Msg(spool.get(), 500), &st);
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[1].code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(st[2].code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(spool->stats().messages_cancelled, 2u);
  // After a crash now, only the acknowledged message comes back.
  std::vector<RecoveredMessage> after = RecoverNow(Opts());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].record, kept);
}

// The residual case: when the cancellation cannot be made durable either
// (the disk keeps failing), the clients are still answered (4xx), and the
// log says their records may come back after a restart.
TEST_F(SpoolTest, CancellationThatCannotBeSyncedIsAnsweredAndLogged) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = OpenSpool(&io, Opts(), &rec);
  ASSERT_TRUE(spool);
  io.SetFailSyncs(EIO);
  std::vector<absl::Status> st;
  Append(spool.get(), Msg(spool.get(), 500), &st);
  Drain(spool.get(), &io);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_FALSE(st[0].ok());
  EXPECT_TRUE(LogHas("is not on disk"));
  io.SetFailSyncs(0);
}

// Defect: a new spool root and shard directory were not fsynced in their
// parents, so a power loss could take away the names of files whose
// records had been synced (and acknowledged).
TEST_F(SpoolTest, NewSpoolDirectoriesAreSyncedInTheirParents) {
  static std::vector<std::string>* synced = new std::vector<std::string>();
  synced->clear();
  spool_internal::fsync_dir_observer = [](const std::string& d) {
    synced->push_back(d);
  };
  Spool::Options o = Opts();
  o.dir = dir_ + "/root";  // neither it nor its shard dir exists yet
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  auto spool = Spool::Open(o, &io, &rec);
  spool_internal::fsync_dir_observer = nullptr;
  ASSERT_TRUE(spool.ok()) << spool.status();
  auto has = [](const std::string& d) {
    return std::find(synced->begin(), synced->end(), d) != synced->end();
  };
  EXPECT_TRUE(has(dir_)) << "the root's parent was not synced";
  EXPECT_TRUE(has(dir_ + "/root")) << "the shard dir's parent was not synced";
}

// A retired segment's .dat removal is synced before its journal goes.
TEST_F(SpoolTest, RetiredSegmentRemovalIsSynced) {
  BlockingSpoolIo io;
  std::vector<RecoveredMessage> rec;
  Spool::Options o = Opts(kSmallSegment);
  o.max_free_segments = 0;  // retired segments are removed, not kept
  auto spool = OpenSpool(&io, o, &rec);
  ASSERT_TRUE(spool);
  std::vector<absl::Status> st;
  std::vector<MessageLocator> locs;
  while (spool->stats().segments_created < 3 && locs.size() < 100) {
    locs.push_back(Append(spool.get(), Msg(spool.get(), 3000), &st));
    Drain(spool.get(), &io);
  }
  const uint64_t syncs_before = io.counters().dir_syncs;
  for (const MessageLocator& l : locs) {
    spool->MarkDone(l, 0, kOutcomeDelivered);
  }
  Drain(spool.get(), &io);
  ASSERT_GE(spool->stats().segments_retired, 1u);
  EXPECT_GE(io.counters().dir_syncs - syncs_before,
            spool->stats().segments_retired);
}

}  // namespace
}  // namespace ringpost::queue
