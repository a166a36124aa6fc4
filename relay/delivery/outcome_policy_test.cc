// outcome_policy_test.cc — every branch of the delivery policy, from tables:
// reply classes, attempt numbers (backoff, its cap, jitter), the message's
// age (expiry, a retry cut short by max_age), the statuses given when no
// reply came (connection and DNS failures), and destination failover.
#include "relay/delivery/outcome_policy.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::delivery {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kQueuedAt = 1'700'000'000'000;  // any wall clock

// retry_min 5 min, retry_max 1 h, max_age 5 days: the defaults' shape.
RetrySettings Settings() {
  RetrySettings s;
  s.retry_min_ms = 5 * kMinute;
  s.retry_max_ms = kHour;
  s.max_age_ms = 5 * 24 * kHour;
  return s;
}

Decision Retry(int64_t at, bool expire = false) {
  Decision d;
  d.action = Action::kRetry;
  d.retry_at_ms = at;
  d.expire_at_retry = expire;
  return d;
}

Decision Of(Action a) {
  Decision d;
  d.action = a;
  return d;
}

struct DecideCase {
  const char* name;
  int code;
  uint32_t attempt;
  int64_t age_ms;  // now − queued_at
  uint64_t random;
  Decision want;   // retry_at relative to now (rebased below)
};

TEST(OutcomePolicy, DecideTable) {
  const std::vector<DecideCase> cases = {
      // Reply classes.
      {"250 delivered", 250, 1, kMinute, 0, Of(Action::kDelivered)},
      {"251 delivered", 251, 1, kMinute, 0, Of(Action::kDelivered)},
      {"200 delivered", 200, 3, kMinute, 0, Of(Action::kDelivered)},
      {"550 bounces", 550, 1, kMinute, 0, Of(Action::kBounce)},
      {"554 bounces", 554, 7, kMinute, 0, Of(Action::kBounce)},
      {"552 bounces", 552, 1, kMinute, 0, Of(Action::kBounce)},
      {"5xx bounces even when expired", 550, 9, 6 * 24 * kHour, 0, Of(Action::kBounce)},
      {"2xx delivers even when expired", 250, 9, 6 * 24 * kHour, 0, Of(Action::kDelivered)},
      {"451 retries after retry_min", 451, 1, kMinute, 0, Retry(5 * kMinute)},
      {"421 retries", 421, 1, kMinute, 0, Retry(5 * kMinute)},
      {"452 retries", 452, 1, kMinute, 0, Retry(5 * kMinute)},
      {"no reply (0) is temporary", 0, 1, kMinute, 0, Retry(5 * kMinute)},
      {"a 3xx where none belongs is temporary", 354, 1, kMinute, 0, Retry(5 * kMinute)},
      // Backoff doubles per attempt, capped at retry_max.
      {"attempt 2 doubles", 451, 2, kMinute, 0, Retry(10 * kMinute)},
      {"attempt 3 doubles again", 451, 3, kMinute, 0, Retry(20 * kMinute)},
      {"attempt 4", 451, 4, kMinute, 0, Retry(40 * kMinute)},
      {"attempt 5 capped at retry_max", 451, 5, kMinute, 0, Retry(kHour)},
      {"attempt 40 stays at retry_max", 451, 40, kMinute, 0, Retry(kHour)},
      // Jitter: up to 10% of the delay, from the caller's random number.
      {"jitter adds random mod delay/10", 451, 1, kMinute, 7, Retry(5 * kMinute + 7)},
      {"jitter wraps below delay/10", 451, 1, kMinute, 30 * kSecond + 5,
       Retry(5 * kMinute + 5)},
      // Age: expired, and a retry cut short by max_age.
      {"4xx past max_age expires", 451, 3, 5 * 24 * kHour, 0, Of(Action::kExpire)},
      {"4xx long past max_age expires", 451, 3, 9 * 24 * kHour, 0, Of(Action::kExpire)},
      {"retry due after expiry is cut to the expiry", 451, 1, 5 * 24 * kHour - kMinute, 0,
       Retry(kMinute, true)},
      {"retry due exactly at expiry expires then", 451, 1, 5 * 24 * kHour - 5 * kMinute, 0,
       Retry(5 * kMinute, true)},
      {"retry due just before expiry is a retry", 451, 1, 5 * 24 * kHour - 5 * kMinute - 1, 0,
       Retry(5 * kMinute)},
  };
  for (const DecideCase& c : cases) {
    Attempt a;
    a.number = c.attempt;
    a.queued_at_ms = kQueuedAt;
    a.now_ms = kQueuedAt + c.age_ms;
    Decision want = c.want;
    if (want.action == Action::kRetry) want.retry_at_ms += a.now_ms;
    EXPECT_EQ(Decide(c.code, a, Settings(), c.random), want) << c.name;
  }
}

TEST(OutcomePolicy, SameInputsSameDecision) {
  Attempt a;
  a.number = 2;
  a.queued_at_ms = kQueuedAt;
  a.now_ms = kQueuedAt + kHour;
  for (uint64_t r : {0ull, 1ull, 12345ull, ~0ull}) {
    EXPECT_EQ(Decide(451, a, Settings(), r), Decide(451, a, Settings(), r));
    const Decision d = Decide(451, a, Settings(), r);
    EXPECT_GE(d.retry_at_ms, a.now_ms + 10 * kMinute);
    EXPECT_LT(d.retry_at_ms, a.now_ms + 11 * kMinute);
  }
}

TEST(OutcomePolicy, BackoffTable) {
  RetrySettings s = Settings();
  EXPECT_EQ(Backoff(1, s), 5 * kMinute);
  EXPECT_EQ(Backoff(2, s), 10 * kMinute);
  EXPECT_EQ(Backoff(5, s), kHour);
  EXPECT_EQ(Backoff(1000000, s), kHour);  // bounded work for any attempt number
  s.retry_min_ms = 2 * kHour;  // min above max: max wins
  EXPECT_EQ(Backoff(1, s), kHour);
  s.retry_min_ms = 0;  // no backoff at all
  EXPECT_EQ(Backoff(7, s), 0);
}

TEST(OutcomePolicy, ExpiredAtMaxAge) {
  const RetrySettings s = Settings();
  EXPECT_FALSE(Expired(kQueuedAt, kQueuedAt, s));
  EXPECT_FALSE(Expired(kQueuedAt, kQueuedAt + s.max_age_ms - 1, s));
  EXPECT_TRUE(Expired(kQueuedAt, kQueuedAt + s.max_age_ms, s));
  // A clock stepped back never expires a message early.
  EXPECT_FALSE(Expired(kQueuedAt, kQueuedAt - kHour, s));
}

TEST(OutcomePolicy, ConnectionFailureStatusTable) {
  struct Case {
    int code;
    const char* enhanced;
    Status want;
  };
  const std::vector<Case> cases = {
      {554, "5.7.1", {451, "4.7.1"}},   // a refusing greeting is not final
      {550, "", {451, "4.4.1"}},
      {421, "4.3.2", {421, "4.3.2"}},   // a 4xx keeps its code
      {451, "4.4.2", {451, "4.4.2"}},
      {0, "", {451, "4.4.1"}},          // refused, timed out: no reply at all
      {250, "2.0.0", {451, "2.0.0"}},   // nonsense is still temporary
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ConnectionFailureStatus(c.code, c.enhanced), c.want) << c.code << c.enhanced;
  }
}

TEST(OutcomePolicy, DnsFailureStatusTable) {
  struct Case {
    bool permanent;
    int code;
    const char* enhanced;
    Status want;
  };
  const std::vector<Case> cases = {
      {true, 550, "5.1.2", {550, "5.1.2"}},   // NXDOMAIN
      {true, 556, "5.1.10", {556, "5.1.10"}}, // null MX (RFC 7505)
      {true, 554, "5.4.6", {554, "5.4.6"}},   // mail loop
      {true, 0, "5.1.2", {550, "5.1.2"}},     // no code: 550
      {true, 451, "5.1.2", {550, "5.1.2"}},   // permanent never gets a 4xx
      {false, 451, "4.4.3", {451, "4.4.3"}},  // SERVFAIL, timeout
      {false, 0, "4.4.3", {451, "4.4.3"}},
      {false, 550, "4.4.3", {451, "4.4.3"}},  // temporary never gets a 5xx
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DnsFailureStatus(c.permanent, c.code, c.enhanced), c.want)
        << c.permanent << " " << c.code;
  }
}

TEST(OutcomePolicy, FailoverTable) {
  struct Case {
    const char* name;
    SiteState site;
    SiteAction want;
  };
  const std::vector<Case> cases = {
      {"another connection works", {3, 1, 0, 1}, SiteAction::kKeepGoing},
      {"works, even with all failed", {2, 2, 0, 1}, SiteAction::kKeepGoing},
      {"first MX failed: try the second", {2, 1, 0, 0}, SiteAction::kNextAddress},
      {"one address left of three", {3, 2, 1, 0}, SiteAction::kNextAddress},
      {"all failed, one still connecting", {2, 2, 1, 0}, SiteAction::kWait},
      {"all failed, none connecting", {2, 2, 0, 0}, SiteAction::kDeferQueue},
      {"single address failed", {1, 1, 0, 0}, SiteAction::kDeferQueue},
  };
  for (const Case& c : cases) EXPECT_EQ(AfterConnectFailure(c.site), c.want) << c.name;
}

}  // namespace
}  // namespace ringpost::delivery
