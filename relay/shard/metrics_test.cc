// metrics_test.cc — the merge of the shards' top destinations, and the
// per-shard block's layout.
#include "relay/shard/metrics.h"

#include <memory>

#include "gtest/gtest.h"

namespace ringpost::shard {
namespace {

using List = std::vector<Destination>;

TEST(MergeTopDestinations, SumsAcrossShardsAndKeepsTheLargest) {
  const std::vector<List> shards = {
      {{"mx.big.test", 50}, {"smarthost:25", 10}, {"a.test", 3}},
      {{"smarthost:25", 45}, {"b.test", 7}},
      {},
  };
  const List top = MergeTopDestinations(shards, 3);
  EXPECT_EQ(top, (List{{"smarthost:25", 55}, {"mx.big.test", 50}, {"b.test", 7}}));
}

TEST(MergeTopDestinations, TiesByNameAndFewerThanN) {
  const std::vector<List> shards = {{{"z.test", 5}, {"b.test", 5}}, {{"a.test", 5}}};
  EXPECT_EQ(MergeTopDestinations(shards, 10),
            (List{{"a.test", 5}, {"b.test", 5}, {"z.test", 5}}));
  EXPECT_EQ(MergeTopDestinations(shards, 1), (List{{"a.test", 5}}));
  EXPECT_TRUE(MergeTopDestinations({}, 10).empty());
  EXPECT_TRUE(MergeTopDestinations(shards, 0).empty());
}

TEST(TopDestinations, PublishReplacesTheList) {
  TopDestinations t;
  List a = {{"x", 1}};
  t.Publish(&a);
  EXPECT_EQ(t.Get(), (List{{"x", 1}}));
  List b = {{"y", 2}, {"z", 1}};
  t.Publish(&b);
  EXPECT_EQ(t.Get(), (List{{"y", 2}, {"z", 1}}));
}

TEST(ShardMetrics, OneCacheLineAlignedBlockPerShard) {
  static_assert(alignof(ShardMetrics) >= 64);
  auto blocks = std::make_unique<ShardMetrics[]>(3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(&blocks[i]) % 64, 0u);
  }
  blocks[1].intake.accepted.Add(2);
  EXPECT_EQ(blocks[1].intake.accepted.value(), 2u);
  EXPECT_EQ(blocks[0].intake.accepted.value(), 0u);
}

}  // namespace
}  // namespace ringpost::shard
