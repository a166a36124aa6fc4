// client_counter_test.cc — the per-client connection limit counts each
// address exactly, across threads.
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "relay/inbound/client_counter.h"

namespace ringpost::inbound {
namespace {

std::string Address(int i) {
  return "10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255);
}

TEST(ClientCounter, LimitIsPerAddress) {
  ClientCounter c;
  EXPECT_TRUE(c.TryAdd("127.0.0.2", 2));
  EXPECT_TRUE(c.TryAdd("127.0.0.2", 2));
  EXPECT_FALSE(c.TryAdd("127.0.0.2", 2));
  EXPECT_EQ(c.Count("127.0.0.2"), 2u);
  EXPECT_TRUE(c.TryAdd("127.0.0.1", 2));  // another address is not affected
  c.Remove("127.0.0.2");
  EXPECT_TRUE(c.TryAdd("127.0.0.2", 2));
  EXPECT_FALSE(c.TryAdd("127.0.0.2", 2));
}

// Many addresses each at their limit never refuse a different address: the
// count is exact, not a hashed approximation that lets addresses collide.
TEST(ClientCounter, ManyFullAddressesDoNotRefuseAnother) {
  ClientCounter c;
  constexpr int kAddresses = 200000;
  for (int i = 0; i < kAddresses; ++i) {
    ASSERT_TRUE(c.TryAdd(Address(i), 1)) << Address(i);
  }
  for (int i = 0; i < kAddresses; ++i) {
    ASSERT_FALSE(c.TryAdd(Address(i), 1)) << Address(i);
  }
  EXPECT_TRUE(c.TryAdd("127.0.0.1", 1));
  for (int i = 0; i < kAddresses; ++i) c.Remove(Address(i));
  for (int i = 0; i < kAddresses; ++i) EXPECT_EQ(c.Count(Address(i)), 0u);
}

TEST(ClientCounter, LimitOfZeroRefusesAll) {
  ClientCounter c;
  EXPECT_FALSE(c.TryAdd("127.0.0.1", 0));
  EXPECT_EQ(c.Count("127.0.0.1"), 0u);
}

TEST(ClientCounter, ConcurrentShardsNeverExceedTheLimit) {
  ClientCounter c;
  constexpr int kThreads = 4;
  constexpr int kTries = 20000;
  std::vector<int> added(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c, &added, t] {
      for (int i = 0; i < kTries; ++i) {
        if (c.TryAdd("192.0.2.1", 100)) ++added[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  int total = 0;
  for (int a : added) total += a;
  EXPECT_EQ(total, 100);
  EXPECT_EQ(c.Count("192.0.2.1"), 100u);
}

}  // namespace
}  // namespace ringpost::inbound
