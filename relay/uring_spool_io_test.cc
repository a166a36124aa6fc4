// uring_spool_io_test.cc — the spool driven through a real io_uring loop:
// group commit lands on disk (a second spool instance recovers every
// acknowledged message), outcomes are journaled, and segment rollover works
// through OPENAT/FALLOCATE/RENAMEAT on the ring.
#include "relay/uring_spool_io.h"

#include <stdlib.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost {
namespace {

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/uringspoolXXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

queue::MessageRecord Record(uint64_t id, int rcpts) {
  queue::MessageRecord m;
  m.id = id;
  m.queued_at_ms = 1700000000000;
  m.sender = "a@x.test";
  for (int i = 0; i < rcpts; ++i) m.recipients.push_back("r" + std::to_string(i) + "@y.test");
  m.body = "Subject: " + std::to_string(id) + "\r\n\r\n" + std::string(1000, 'b') + "\r\n";
  return m;
}

TEST(UringSpoolIoTest, CommitsAreDurableAndRecoverable) {
  const std::string dir = TempDir();
  constexpr int kMessages = 500;
  std::vector<queue::MessageLocator> locators;
  {
    runtime::LoopOptions lo;
    lo.sq_entries = 256;
    lo.recv_buffers = 16;
    auto loop = runtime::Loop::Create(lo);
    ASSERT_TRUE(loop.ok()) << loop.status();
    runtime::Loop* l = loop->get();
    UringSpoolIo io(l);
    queue::Spool::Options o;
    o.dir = dir;
    o.segment_bytes = 256 * 1024;  // forces several rollovers
    std::vector<queue::RecoveredMessage> recovered;
    auto spool = queue::Spool::Open(o, &io, &recovered);
    ASSERT_TRUE(spool.ok()) << spool.status();
    EXPECT_TRUE(recovered.empty());
    int committed = 0, failed = 0;
    int appended = 0;
    l->AddTurnHook([&] {
      // A few messages per turn, as sessions would complete them.
      for (int k = 0; k < 7 && appended < kMessages; ++k, ++appended) {
        auto loc = (*spool)->AppendMessage(
            Record((*spool)->NewMessageId(), 2),
            [&](absl::Status s) { s.ok() ? ++committed : ++failed; });
        ASSERT_TRUE(loc.ok()) << loc.status();
        locators.push_back(*loc);
      }
      (*spool)->Flush();
      if (committed + failed == kMessages && !(*spool)->HasIoInFlight()) l->Quit();
    });
    runtime::Timer guard;
    guard.context = l;
    guard.callback = [](runtime::Timer* t) {
      ADD_FAILURE() << "timed out";
      static_cast<runtime::Loop*>(t->context)->Quit();
    };
    l->timers().Arm(&guard, l->now_ms() + 30000);
    l->Run();
    l->timers().Disarm(&guard);
    EXPECT_EQ(committed, kMessages);
    EXPECT_EQ(failed, 0);
    EXPECT_GE(io.syncs(), 1u);
    EXPECT_LT(io.writes(), static_cast<uint64_t>(kMessages));  // grouped
    // Mark the first recipient of every message delivered.
    for (const auto& loc : locators) (*spool)->MarkDone(loc, 0, queue::kOutcomeDelivered);
    (*spool)->Flush();
    bool journaled = false;
    l->AddTurnHook([&] {
      if (!(*spool)->HasIoInFlight()) {
        journaled = true;
        l->Quit();
      }
    });
    l->timers().Arm(&guard, l->now_ms() + 30000);
    l->Run();
    l->timers().Disarm(&guard);
    EXPECT_TRUE(journaled);
    EXPECT_FALSE((*spool)->HasIoInFlight());
  }
  queue::BlockingSpoolIo blocking;
  queue::Spool::Options o;
  o.dir = dir;
  o.segment_bytes = 256 * 1024;
  std::vector<queue::RecoveredMessage> recovered;
  auto again = queue::Spool::Open(o, &blocking, &recovered);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(recovered.size(), static_cast<size_t>(kMessages));
  for (const auto& r : recovered) {
    ASSERT_EQ(r.done.size(), 2u);
    EXPECT_TRUE(r.done[0]);
    EXPECT_FALSE(r.done[1]);
    EXPECT_EQ(r.record.body, Record(r.record.id, 2).body);
  }
}

}  // namespace
}  // namespace ringpost
