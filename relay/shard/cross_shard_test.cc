// cross_shard_test.cc — the switchboard's bounds: no ring from a shard to
// itself, rings of the configured size, items that do not fit wait in the
// sender's backlog in order, the backlog limit is reported, and a shard's
// own items wait for its next turn.
#include "relay/shard/cross_shard.h"

#include <vector>

#include "gtest/gtest.h"

namespace ringpost::shard {
namespace {

std::vector<DeliveryJob> Jobs(size_t n) { return std::vector<DeliveryJob>(n); }

std::vector<DeliveryJob*> ReceiveAll(Mailbox& box) {
  std::vector<DeliveryJob*> got;
  box.Receive([&](const CrossItem& item) {
    EXPECT_EQ(item.kind(), CrossItem::Kind::kJob);
    got.push_back(item.job());
  });
  return got;
}

TEST(CrossShard, ItemsAreTypedAndSmall) {
  Message msg;
  DeliveryJob job;
  const CrossItem j = CrossItem::Job(&job);
  const CrossItem o = CrossItem::Outcome(&msg, 7, 3, true);
  EXPECT_EQ(j.kind(), CrossItem::Kind::kJob);
  EXPECT_EQ(j.job(), &job);
  EXPECT_EQ(o.kind(), CrossItem::Kind::kOutcome);
  EXPECT_EQ(o.message(), &msg);
  EXPECT_EQ(o.rcpt(), 7u);
  EXPECT_EQ(o.outcome(), 3);
  EXPECT_TRUE(o.first());
  EXPECT_FALSE(CrossItem::Outcome(&msg, 7, 3, false).first());
  AttemptReport report;
  const CrossItem r = CrossItem::Report(&report);
  EXPECT_EQ(r.kind(), CrossItem::Kind::kReport);
  EXPECT_EQ(r.report(), &report);
  EXPECT_EQ(sizeof(CrossItem), 16u);
}

TEST(CrossShard, RingMemoryIsPairsOfDistinctShards) {
  Switchboard one(1, 16);
  EXPECT_EQ(one.ring_bytes(), 0u);  // a single shard has no ring at all
  Switchboard four(4, 1024);
  EXPECT_EQ(four.ring_bytes(), 12 * Switchboard::Ring::MemoryBytes(1024));
  EXPECT_EQ(four.RingFor(0, 1).capacity(), 1024u);
}

TEST(CrossShard, FullRingSpillsToBacklogInOrder) {
  Switchboard board(2, 16);
  Mailbox a(&board, 0, /*backlog_max=*/8);
  Mailbox b(&board, 1, 8);
  auto jobs = Jobs(40);
  for (auto& j : jobs) a.Send(1, CrossItem::Job(&j));
  // 16 in the ring, 24 waiting: over the limit of 8.
  EXPECT_FALSE(a.BacklogEmpty());
  EXPECT_TRUE(a.OverBacklog());
  std::vector<DeliveryJob*> got;
  // Bounded: each round moves at least one ring's worth.
  for (int round = 0; round < 10 && got.size() < jobs.size(); ++round) {
    for (DeliveryJob* j : ReceiveAll(b)) got.push_back(j);
    a.Flush(nullptr);
  }
  ASSERT_EQ(got.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(got[i], &jobs[i]) << i;
  EXPECT_TRUE(a.BacklogEmpty());
  EXPECT_FALSE(a.OverBacklog());
  EXPECT_FALSE(b.HasIncoming());
}

TEST(CrossShard, OwnItemsWaitForTheNextTurn) {
  Switchboard board(1, 16);
  Mailbox box(&board, 0, 1024);
  auto jobs = Jobs(3);
  box.Send(0, CrossItem::Job(&jobs[0]));
  EXPECT_TRUE(box.HasIncoming());
  int handled = 0;
  box.Receive([&](const CrossItem& item) {
    ++handled;
    // Sent while handling: not handled in this same turn.
    if (item.job() == &jobs[0]) box.Send(0, CrossItem::Job(&jobs[1]));
  });
  EXPECT_EQ(handled, 1);
  EXPECT_TRUE(box.HasIncoming());
  EXPECT_EQ(ReceiveAll(box), std::vector<DeliveryJob*>{&jobs[1]});
  EXPECT_FALSE(box.HasIncoming());
}

TEST(CrossShard, ReleaseAllHandsBackEverythingHeld) {
  Switchboard board(2, 16);
  Mailbox a(&board, 0, 1024);
  Mailbox b(&board, 1, 1024);
  auto jobs = Jobs(20);
  for (size_t i = 0; i < 18; ++i) a.Send(1, CrossItem::Job(&jobs[i]));  // 16 ring + 2 backlog
  a.Send(0, CrossItem::Job(&jobs[18]));                                 // own
  b.Send(0, CrossItem::Job(&jobs[19]));                                 // to a
  size_t released = 0;
  a.ReleaseAll([&](const CrossItem&) { ++released; });
  b.ReleaseAll([&](const CrossItem&) { ++released; });
  EXPECT_EQ(released, 20u);
  EXPECT_TRUE(a.BacklogEmpty());
  EXPECT_FALSE(a.HasIncoming());
  EXPECT_FALSE(b.HasIncoming());
}

}  // namespace
}  // namespace ringpost::shard
