// failure_limiter_test.cc — blocking at the limit, the window, and the bound
// on tracked addresses.

#include "relay/auth/failure_limiter.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::auth {
namespace {

TEST(FailureLimiterTest, BlocksAtMaxFailures) {
  FailureLimiter limiter(3, 1000);
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(limiter.Blocked("192.0.2.1", 100));
    limiter.RecordFailure("192.0.2.1", 100);
  }
  EXPECT_FALSE(limiter.Blocked("192.0.2.1", 100));
  limiter.RecordFailure("192.0.2.1", 100);
  EXPECT_TRUE(limiter.Blocked("192.0.2.1", 100));
  EXPECT_TRUE(limiter.Blocked("192.0.2.1", 1099));
}

TEST(FailureLimiterTest, UnblocksAWindowAfterTheLimitWasReached) {
  FailureLimiter limiter(3, 1000);
  limiter.RecordFailure("a", 0);
  limiter.RecordFailure("a", 500);
  limiter.RecordFailure("a", 900);  // the block lasts until 1900, not 1000
  EXPECT_TRUE(limiter.Blocked("a", 1000));
  EXPECT_TRUE(limiter.Blocked("a", 1899));
  EXPECT_FALSE(limiter.Blocked("a", 1900));
  EXPECT_EQ(limiter.tracked(), 0u);  // forgotten once its window passed
  limiter.RecordFailure("a", 1900);  // starts afresh
  EXPECT_FALSE(limiter.Blocked("a", 1900));
}

TEST(FailureLimiterTest, FailuresSpreadOverWindowsDoNotBlock) {
  FailureLimiter limiter(3, 1000);
  limiter.RecordFailure("a", 0);
  limiter.RecordFailure("a", 999);
  limiter.RecordFailure("a", 1000);  // the first window has closed
  limiter.RecordFailure("a", 1500);
  EXPECT_FALSE(limiter.Blocked("a", 1500));
  limiter.RecordFailure("a", 1999);
  EXPECT_TRUE(limiter.Blocked("a", 1999));
}

TEST(FailureLimiterTest, FailuresWhileBlockedExtendTheBlock) {
  FailureLimiter limiter(2, 1000);
  limiter.RecordFailure("a", 0);
  limiter.RecordFailure("a", 0);
  limiter.RecordFailure("a", 800);
  EXPECT_TRUE(limiter.Blocked("a", 1799));
  EXPECT_FALSE(limiter.Blocked("a", 1800));
}

TEST(FailureLimiterTest, AddressesAreIndependent) {
  FailureLimiter limiter(2, 1000);
  limiter.RecordFailure("192.0.2.1", 0);
  limiter.RecordFailure("192.0.2.1", 0);
  limiter.RecordFailure("192.0.2.2", 0);
  EXPECT_TRUE(limiter.Blocked("192.0.2.1", 10));
  EXPECT_FALSE(limiter.Blocked("192.0.2.2", 10));
  EXPECT_FALSE(limiter.Blocked("2001:db8::1", 10));
  EXPECT_EQ(limiter.tracked(), 2u);
}

TEST(FailureLimiterTest, OneFailureBlocksWhenTheLimitIsOne) {
  FailureLimiter limiter(1, 1000);
  EXPECT_FALSE(limiter.Blocked("a", 0));
  limiter.RecordFailure("a", 0);
  EXPECT_TRUE(limiter.Blocked("a", 0));
  EXPECT_FALSE(limiter.Blocked("a", 1000));
}

TEST(FailureLimiterTest, ZeroMaxFailuresNeverBlocks) {
  FailureLimiter limiter(0, 1000);
  for (int i = 0; i < 100; ++i) limiter.RecordFailure("a", i);
  EXPECT_FALSE(limiter.Blocked("a", 100));
  EXPECT_EQ(limiter.tracked(), 0u);
}

TEST(FailureLimiterTest, ClockBeforeTheWindowCountsAsInside) {
  FailureLimiter limiter(1, 1000);
  limiter.RecordFailure("a", 5000);
  EXPECT_TRUE(limiter.Blocked("a", 4000));
}

TEST(FailureLimiterTest, EvictsTheOldestWindowAtTheBound) {
  FailureLimiter limiter(3, 1'000'000, 3);
  limiter.RecordFailure("a", 1);
  limiter.RecordFailure("b", 2);
  limiter.RecordFailure("c", 3);
  limiter.RecordFailure("a", 4);  // a's window still opened at 1
  limiter.RecordFailure("d", 5);  // evicts a
  EXPECT_EQ(limiter.tracked(), 3u);
  EXPECT_FALSE(limiter.Blocked("a", 6));
  limiter.RecordFailure("b", 6);
  limiter.RecordFailure("b", 6);  // reaches the limit: b's block opens at 6
  limiter.RecordFailure("e", 7);  // evicts c, now the oldest window
  EXPECT_TRUE(limiter.Blocked("b", 8));
  limiter.RecordFailure("c", 8);  // evicts d; c starts afresh
  limiter.RecordFailure("c", 8);
  EXPECT_FALSE(limiter.Blocked("c", 8));
  EXPECT_TRUE(limiter.Blocked("b", 8));
  EXPECT_EQ(limiter.tracked(), 3u);
}

TEST(FailureLimiterTest, StaysBoundedUnderAFlood) {
  constexpr size_t kMaxTracked = 64;
  FailureLimiter limiter(3, 1000, kMaxTracked);
  uint64_t now_ms = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 200; ++i) {
      const std::string address = "10.0." + std::to_string(round % 7) + "." + std::to_string(i);
      limiter.RecordFailure(address, now_ms);
      limiter.RecordFailure(address, now_ms);
      limiter.RecordFailure(address, now_ms);
      limiter.RecordFailure(address, now_ms);  // blocked: restarts its window
      EXPECT_TRUE(limiter.Blocked(address, now_ms));
      EXPECT_LE(limiter.tracked(), kMaxTracked);
      now_ms += 7;
    }
  }
  EXPECT_EQ(limiter.tracked(), kMaxTracked);
}

}  // namespace
}  // namespace ringpost::auth
