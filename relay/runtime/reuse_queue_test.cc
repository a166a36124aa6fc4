#include "relay/runtime/reuse_queue.h"

#include <deque>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ringpost::runtime {
namespace {

TEST(ReuseQueueTest, FifoOrderAcrossGrowthAndWrap) {
  ReuseQueue<int> q;
  std::deque<int> model;
  std::minstd_rand rng(7);
  int next = 0;
  for (int step = 0; step < 100000; ++step) {
    if (model.empty() || rng() % 3 != 0) {
      q.push_back() = next;
      model.push_back(next++);
    } else {
      ASSERT_EQ(q.front(), model.front());
      q.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(q.size(), model.size());
    if (!model.empty()) {
      ASSERT_EQ(q.back(), model.back());
      const size_t i = rng() % model.size();
      ASSERT_EQ(q[i], model[i]);
    }
  }
}

TEST(ReuseQueueTest, PoppedSlotsKeepTheirStorage) {
  ReuseQueue<std::string> q;
  for (int i = 0; i < 8; ++i) q.push_back().assign(1000, 'x');
  for (int i = 0; i < 8; ++i) q.pop_front();
  EXPECT_TRUE(q.empty());
  // The same eight slots come back, with their capacity and old contents.
  for (int i = 0; i < 8; ++i) {
    std::string& s = q.push_back();
    EXPECT_GE(s.capacity(), 1000u);
    s.clear();
  }
  EXPECT_EQ(q.size(), 8u);
}

}  // namespace
}  // namespace ringpost::runtime
