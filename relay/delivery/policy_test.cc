// policy_test.cc — matching, merging, GCRA, and the shared limiter.
#include "relay/delivery/policy.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "relay/delivery/limiter.h"

namespace ringpost::delivery {
namespace {

constexpr int64_t kMs = 1'000'000;

Config WithPolicies(std::vector<std::string> entries) {
  Config c;
  c.max_connections_per_destination = 32;
  c.max_messages_per_connection = 1000;
  c.max_recipients_per_transaction = 50;
  for (const std::string& e : entries) {
    absl::StatusOr<DestinationPolicy> p = ParseDestinationPolicy(e);
    EXPECT_TRUE(p.ok()) << e << ": " << p.status();
    if (p.ok()) c.destination_policy.push_back(*p);
  }
  return c;
}

TEST(PolicyTableTest, SettingsAloneWhenNoEntries) {
  Config c = WithPolicies({});
  PolicyTable t(c);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.ForDomain("gmail.com"), nullptr);
  const Policy& d = *t.Default();
  EXPECT_EQ(d.name, "");
  EXPECT_EQ(d.max_connections, 32u);
  EXPECT_EQ(d.max_messages_per_connection, 1000u);
  EXPECT_EQ(d.max_recipients_per_transaction, 50u);
  EXPECT_EQ(d.message_pace, Pace{});
  EXPECT_EQ(d.retry.retry_min_ms, 60'000);
  EXPECT_EQ(d.retry.max_age_ms, 5 * 24 * 3600 * 1000LL);
  EXPECT_FALSE(d.tls.has_value());
}

TEST(PolicyTableTest, MostSpecificMatchWins) {
  PolicyTable t(WithPolicies({
      "* max_connections=10 message_rate=100/s",
      "example.com max_connections=2",
      "*.example.com max_connections=3",
      "*.b.example.com max_connections=4",
      "mx:*.outlook.com max_connections=5 tls=verify",
      "mx:aspmx.l.google.com max_connections=6",
  }));
  EXPECT_EQ((*t.ForDomain("example.com"))->max_connections, 2u);
  EXPECT_EQ((*t.ForDomain("a.example.com"))->max_connections, 3u);
  EXPECT_EQ((*t.ForDomain("x.b.example.com"))->max_connections, 4u);
  EXPECT_EQ((*t.ForDomain("b.example.com"))->max_connections, 3u);
  EXPECT_EQ(t.ForDomain("example.org"), nullptr);
  EXPECT_EQ(t.ForDomain("notexample.com"), nullptr);
  // Keys an entry leaves out come from "*".
  EXPECT_EQ((*t.ForDomain("example.com"))->message_pace.interval_ns, 10 * kMs);
  EXPECT_EQ(t.Default()->max_connections, 10u);

  const PolicyPtr* ms = t.ForMxHosts({"contoso-com.mail.protection.outlook.com"});
  ASSERT_NE(ms, nullptr);
  EXPECT_EQ((*ms)->max_connections, 5u);
  EXPECT_TRUE((*ms)->shared);
  EXPECT_EQ((*ms)->tls, TlsLevel::kVerify);
  EXPECT_EQ(t.ForMxHosts({"outlook.com"}), nullptr);  // *. means below it
  const PolicyPtr* g = t.ForMxHosts({"alt1.aspmx.l.google.com", "aspmx.l.google.com"});
  ASSERT_NE(g, nullptr);
  EXPECT_EQ((*g)->max_connections, 6u);
  EXPECT_EQ(t.ForMxHosts({"mx.example.net"}), nullptr);
  EXPECT_FALSE((*t.ForDomain("example.com"))->shared);
}

TEST(PolicyTableTest, ByName) {
  PolicyTable t(WithPolicies({"* max_connections=10", "example.com max_connections=2",
                              "*.example.com max_connections=3",
                              "mx:*.outlook.com max_connections=5"}));
  EXPECT_EQ(t.ByName("example.com")->max_connections, 2u);
  EXPECT_EQ(t.ByName("*.example.com")->max_connections, 3u);
  EXPECT_EQ(t.ByName("mx:*.outlook.com")->max_connections, 5u);
  EXPECT_EQ(t.ByName("*"), t.Default());
  EXPECT_EQ(t.ByName(""), t.Default());
  EXPECT_EQ(t.ByName("gone.example"), t.Default());
}

TEST(PolicyTableTest, RetryScheduleAndBurstInheritance) {
  PolicyTable t(WithPolicies({"* message_rate=10/s message_burst=5",
                              "slow.test retry_min=2h message_burst=2",
                              "fast.test message_rate=60/m"}));
  const Policy& slow = **t.ForDomain("slow.test");
  EXPECT_EQ(slow.retry.retry_min_ms, 2 * 3600 * 1000LL);
  EXPECT_EQ(slow.retry.retry_max_ms, 2 * 3600 * 1000LL);  // raised to retry_min
  EXPECT_EQ(slow.message_pace, (Pace{100 * kMs, 2}));    // "*"'s rate, own burst
  const Policy& fast = **t.ForDomain("fast.test");
  EXPECT_EQ(fast.message_pace, (Pace{1000 * kMs, 1}));   // own rate, burst 1
  EXPECT_EQ(t.Default()->message_pace, (Pace{100 * kMs, 5}));
}

TEST(PaceTest, FastRatesGetAtLeastOneTicksWorth) {
  EXPECT_EQ(MakePace(RateLimit{1000, absl::Seconds(1)}, 1), (Pace{kMs, 1}));
  EXPECT_EQ(MakePace(RateLimit{5000, absl::Seconds(1)}, 1), (Pace{200'000, 5}));
  EXPECT_EQ(MakePace(RateLimit{5000, absl::Seconds(1)}, 20), (Pace{200'000, 20}));
  EXPECT_EQ(MakePace(std::nullopt, 7), Pace{});
}

TEST(GcraTest, BurstThenOnePerInterval) {
  const Pace pace{10 * kMs, 3};
  int64_t tat = 0;
  const int64_t t0 = 1000 * kMs;
  EXPECT_EQ(GcraTake(pace, &tat, t0), 0);
  EXPECT_EQ(GcraTake(pace, &tat, t0), 0);
  EXPECT_EQ(GcraTake(pace, &tat, t0), 0);
  EXPECT_EQ(GcraTake(pace, &tat, t0), 10 * kMs);  // the burst is spent
  EXPECT_EQ(GcraTake(pace, &tat, t0 + 4 * kMs), 6 * kMs);
  EXPECT_EQ(GcraTake(pace, &tat, t0 + 10 * kMs), 0);
  EXPECT_EQ(GcraTake(pace, &tat, t0 + 10 * kMs), 10 * kMs);
  // Idle for long: the burst comes back, no more.
  const int64_t later = t0 + 10'000 * kMs;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(GcraTake(pace, &tat, later), 0);
  EXPECT_GT(GcraTake(pace, &tat, later), 0);
}

TEST(GcraTest, HoldsTheRateOverTime) {
  const Pace pace{20 * kMs, 1};  // 50/s
  int64_t tat = 0;
  int taken = 0;
  // Asked every 1 ms for 10 s: 500 events, the first at once.
  for (int64_t t = 0; t < 10'000 * kMs; t += kMs) {
    if (GcraTake(pace, &tat, t) == 0) ++taken;
  }
  EXPECT_EQ(taken, 500);
}

TEST(GcraTest, SlightLatenessKeepsTheSchedule) {
  const Pace pace{30 * kMs, 1};
  int64_t tat = 0;
  int64_t t = 1000 * kMs;
  ASSERT_EQ(GcraTake(pace, &tat, t), 0);
  // Each event 1 ms after it was due (a timer's rounding): still 30 ms
  // apart on average, not 31.
  for (int i = 0; i < 100; ++i) {
    t = tat + kMs;
    ASSERT_EQ(GcraTake(pace, &tat, t), 0);
  }
  EXPECT_EQ(tat, 1000 * kMs + 101 * 30 * kMs);
  // Late by more than the slack (half the interval): idle, restarts.
  t = tat + 20 * kMs;
  ASSERT_EQ(GcraTake(pace, &tat, t), 0);
  EXPECT_EQ(tat, t + 30 * kMs);
}

TEST(LimiterTest, ConnectionCapHoldsAcrossThreads) {
  Policy p;
  p.max_connections = 5;
  Limiter limiter;
  std::atomic<int> open{0};
  std::atomic<int> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (limiter.OpenConnection(p, 0) != 0) continue;
        const int now = open.fetch_add(1) + 1;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        open.fetch_sub(1);
        limiter.CloseConnection();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(peak.load(), 5);
  EXPECT_GE(peak.load(), 1);
  EXPECT_EQ(limiter.connections(), 0u);
}

TEST(LimiterTest, FullThenPaced) {
  Policy p;
  p.max_connections = 2;
  p.connection_pace = Pace{100 * kMs, 1};
  Limiter limiter;
  EXPECT_EQ(limiter.OpenConnection(p, 0), 0);
  EXPECT_EQ(limiter.OpenConnection(p, 0), 100 * kMs);  // paced, not counted
  EXPECT_EQ(limiter.connections(), 1u);
  EXPECT_EQ(limiter.OpenConnection(p, 100 * kMs), 0);
  EXPECT_EQ(limiter.OpenConnection(p, 500 * kMs), Limiter::kFull);
  limiter.CloseConnection();
  EXPECT_EQ(limiter.OpenConnection(p, 500 * kMs), 0);
}

TEST(LimiterTest, MessagesPacedTogether) {
  Limiter limiter;
  const Pace pace{10 * kMs, 1};
  EXPECT_EQ(limiter.TakeMessage(pace, 0), 0);
  EXPECT_EQ(limiter.TakeMessage(pace, 0), 10 * kMs);
  EXPECT_EQ(limiter.TakeMessage(Pace{}, 0), 0);  // unpaced
}

TEST(LimitersTest, SameKeySameLimiter) {
  Limiters registry;
  Limiter* a = registry.Get("a");
  EXPECT_EQ(registry.Get("a"), a);
  EXPECT_NE(registry.Get("b"), a);
}

}  // namespace
}  // namespace ringpost::delivery
