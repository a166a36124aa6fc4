// timer_wheel_test.cc — unit tests for TimerWheel: exact firing times,
// cancel, re-arm from callbacks, large jumps, overflow horizon, and a
// randomized comparison against a std::multimap reference model.

#include "relay/runtime/timer_wheel.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::runtime {
namespace {

constexpr uint64_t kSecondMs = 1000;
constexpr uint64_t kDayMs = 24 * 3600 * kSecondMs;

// Records every firing: which timer, at what wheel time.
struct Recorder {
  TimerWheel* wheel = nullptr;
  std::vector<std::pair<int, uint64_t>> fired;  // (id, wheel now at fire)
};

struct TestTimer {
  Timer timer;
  int id = 0;
  Recorder* recorder = nullptr;
  // Optional behaviour inside the callback.
  uint64_t rearm_delta_ms = 0;
  int rearm_remaining = 0;
  TestTimer* disarm_other = nullptr;
  TestTimer* arm_other = nullptr;
  uint64_t arm_other_at_ms = 0;
};

void OnFire(Timer* t) {
  auto* self = static_cast<TestTimer*>(t->context);
  Recorder* r = self->recorder;
  EXPECT_FALSE(t->armed());
  r->fired.emplace_back(self->id, r->wheel->now_ms());
  if (self->disarm_other != nullptr) r->wheel->Disarm(&self->disarm_other->timer);
  if (self->arm_other != nullptr) {
    r->wheel->Arm(&self->arm_other->timer, self->arm_other_at_ms);
  }
  if (self->rearm_remaining > 0) {
    self->rearm_remaining--;
    r->wheel->Arm(t, r->wheel->now_ms() + self->rearm_delta_ms);
  }
}

class TimerWheelTest : public ::testing::Test {
 protected:
  static constexpr int kTimers = 16;
  TimerWheelTest() {
    for (int i = 0; i < kTimers; i++) {
      timers_[i].id = i;
      timers_[i].recorder = &recorder_;
      timers_[i].timer.callback = &OnFire;
      timers_[i].timer.context = &timers_[i];
    }
  }
  void SetUpWheel(uint64_t now_ms) {
    wheel_ = std::make_unique<TimerWheel>(now_ms);
    recorder_.wheel = wheel_.get();
  }
  void TearDown() override { wheel_.reset(); }  // disarms before timers die

  TestTimer timers_[kTimers];
  Recorder recorder_;
  std::unique_ptr<TimerWheel> wheel_;
};

TEST_F(TimerWheelTest, AdvanceWithNoTimers) {
  SetUpWheel(1000);
  EXPECT_EQ(wheel_->Advance(1000), 0u);
  EXPECT_EQ(wheel_->Advance(5 * kDayMs), 0u);
  EXPECT_EQ(wheel_->now_ms(), 5 * kDayMs);
  EXPECT_EQ(wheel_->Advance(10), 0u);  // backwards: ignored
  EXPECT_EQ(wheel_->now_ms(), 5 * kDayMs);
  EXPECT_FALSE(wheel_->NextDeadlineMs().has_value());
  EXPECT_EQ(wheel_->size(), 0u);
}

TEST_F(TimerWheelTest, FiresAtExactDeadlineInOrderWhenSteppedByOneMs) {
  SetUpWheel(0);
  const uint64_t deadlines[] = {5, 3, 255, 256, 257, 1000, 65535, 65536, 70000, 1};
  for (size_t i = 0; i < std::size(deadlines); i++) {
    wheel_->Arm(&timers_[i].timer, deadlines[i]);
  }
  EXPECT_EQ(wheel_->size(), std::size(deadlines));
  for (uint64_t now = 1; now <= 70000; now++) {
    const std::optional<uint64_t> next = wheel_->NextDeadlineMs();
    ASSERT_TRUE(next.has_value());
    ASSERT_GE(*next, now - 1);
    wheel_->Advance(now);
  }
  ASSERT_EQ(recorder_.fired.size(), std::size(deadlines));
  for (size_t i = 0; i < recorder_.fired.size(); i++) {
    const auto [id, at] = recorder_.fired[i];
    EXPECT_EQ(at, deadlines[id]) << "timer " << id;
    if (i > 0) {
      EXPECT_LE(recorder_.fired[i - 1].second, at);
    }
  }
  EXPECT_EQ(wheel_->size(), 0u);
  EXPECT_FALSE(wheel_->NextDeadlineMs().has_value());
}

TEST_F(TimerWheelTest, SingleJumpFiresEachExactlyOnceAtItsDeadline) {
  SetUpWheel(12345);
  const uint64_t base = 12345;
  const uint64_t deltas[] = {1, 2, 300, 70'000, 20'000'000, 3 * kDayMs, 5 * kDayMs};
  for (size_t i = 0; i < std::size(deltas); i++) {
    wheel_->Arm(&timers_[i].timer, base + deltas[i]);
  }
  EXPECT_EQ(wheel_->Advance(base + 5 * kDayMs), std::size(deltas));
  ASSERT_EQ(recorder_.fired.size(), std::size(deltas));
  for (const auto& [id, at] : recorder_.fired) EXPECT_EQ(at, base + deltas[id]);
  EXPECT_EQ(wheel_->Advance(base + 50 * kDayMs), 0u);
}

TEST_F(TimerWheelTest, PastAndPresentDeadlinesFireOnNextAdvance) {
  SetUpWheel(10'000);
  wheel_->Arm(&timers_[0].timer, 0);
  wheel_->Arm(&timers_[1].timer, 10'000);
  EXPECT_EQ(wheel_->NextDeadlineMs(), std::optional<uint64_t>(10'000));
  EXPECT_EQ(wheel_->Advance(10'000), 2u);
  EXPECT_EQ(wheel_->size(), 0u);
}

TEST_F(TimerWheelTest, DisarmCancels) {
  SetUpWheel(0);
  wheel_->Arm(&timers_[0].timer, 100);
  wheel_->Arm(&timers_[1].timer, 100);
  wheel_->Arm(&timers_[2].timer, 100'000);
  wheel_->Arm(&timers_[3].timer, 60 * kDayMs);  // overflow list
  wheel_->Disarm(&timers_[0].timer);
  wheel_->Disarm(&timers_[2].timer);
  wheel_->Disarm(&timers_[3].timer);
  wheel_->Disarm(&timers_[3].timer);  // no-op when not armed
  EXPECT_FALSE(timers_[0].timer.armed());
  EXPECT_EQ(wheel_->size(), 1u);
  EXPECT_EQ(wheel_->Advance(100 * kDayMs), 1u);
  ASSERT_EQ(recorder_.fired.size(), 1u);
  EXPECT_EQ(recorder_.fired[0].first, 1);
}

TEST_F(TimerWheelTest, ReArmMovesTimer) {
  SetUpWheel(0);
  wheel_->Arm(&timers_[0].timer, 100);
  wheel_->Arm(&timers_[0].timer, 50'000);
  EXPECT_EQ(wheel_->size(), 1u);
  EXPECT_EQ(timers_[0].timer.deadline_ms(), 50'000u);
  EXPECT_EQ(wheel_->Advance(49'999), 0u);
  EXPECT_EQ(wheel_->Advance(50'000), 1u);
  EXPECT_EQ(recorder_.fired[0].second, 50'000u);
}

TEST_F(TimerWheelTest, PeriodicReArmInsideCallback) {
  SetUpWheel(0);
  timers_[0].rearm_delta_ms = 10;
  timers_[0].rearm_remaining = 1000;
  wheel_->Arm(&timers_[0].timer, 10);
  // One big jump: the timer fires every 10 ms of wheel time.
  EXPECT_EQ(wheel_->Advance(1000), 100u);
  for (size_t i = 0; i < recorder_.fired.size(); i++) {
    EXPECT_EQ(recorder_.fired[i].second, 10 * (i + 1));
  }
  EXPECT_TRUE(timers_[0].timer.armed());
  EXPECT_EQ(timers_[0].timer.deadline_ms(), 1010u);
}

TEST_F(TimerWheelTest, ReArmForNowFiresOnNextAdvanceOnly) {
  SetUpWheel(0);
  timers_[0].rearm_delta_ms = 0;
  timers_[0].rearm_remaining = 3;
  wheel_->Arm(&timers_[0].timer, 5);
  EXPECT_EQ(wheel_->Advance(5), 1u);
  EXPECT_EQ(wheel_->NextDeadlineMs(), std::optional<uint64_t>(5));
  EXPECT_EQ(wheel_->Advance(5), 1u);
  EXPECT_EQ(wheel_->Advance(6), 1u);
  EXPECT_EQ(wheel_->Advance(7), 1u);
  EXPECT_EQ(wheel_->Advance(8), 0u);
  EXPECT_FALSE(timers_[0].timer.armed());
}

TEST_F(TimerWheelTest, CallbackDisarmsAndArmsOthersDueInSameStep) {
  SetUpWheel(0);
  // 0, 1, 2 share one deadline (one slot) and fire in arming order. Each
  // disarms its successor and arms timer 4: 0 fires and disarms 1; 2 fires
  // and "disarms" 0, already fired (a no-op). Timer 4 is armed twice (the
  // second Arm moves it) and fires once.
  for (int i = 0; i < 3; i++) {
    timers_[i].disarm_other = &timers_[(i + 1) % 3];
    timers_[i].arm_other = &timers_[4];
    timers_[i].arm_other_at_ms = 800;
    wheel_->Arm(&timers_[i].timer, 700);
  }
  EXPECT_EQ(wheel_->Advance(1000), 3u);
  ASSERT_EQ(recorder_.fired.size(), 3u);
  EXPECT_EQ(recorder_.fired[0], std::make_pair(0, uint64_t{700}));
  EXPECT_EQ(recorder_.fired[1], std::make_pair(2, uint64_t{700}));
  EXPECT_EQ(recorder_.fired[2], std::make_pair(4, uint64_t{800}));
}

TEST_F(TimerWheelTest, CallbackDisarmsTimerInLaterSlot) {
  SetUpWheel(0);
  timers_[0].disarm_other = &timers_[1];
  wheel_->Arm(&timers_[0].timer, 10);
  wheel_->Arm(&timers_[1].timer, 20);
  wheel_->Arm(&timers_[2].timer, 30);
  EXPECT_EQ(wheel_->Advance(100), 2u);
  ASSERT_EQ(recorder_.fired.size(), 2u);
  EXPECT_EQ(recorder_.fired[0].first, 0);
  EXPECT_EQ(recorder_.fired[1].first, 2);
}

TEST_F(TimerWheelTest, OverflowHorizonAndHugeDeadlines) {
  const uint64_t start = (uint64_t{1} << 32) - 7;  // just before an epoch
  SetUpWheel(start);
  wheel_->Arm(&timers_[0].timer, start + 60 * kDayMs);          // overflow
  wheel_->Arm(&timers_[1].timer, start + 10);                   // crosses epoch
  wheel_->Arm(&timers_[2].timer, start + 400 * kDayMs);         // many epochs
  wheel_->Arm(&timers_[3].timer, UINT64_MAX - 5);               // far future
  EXPECT_EQ(wheel_->NextDeadlineMs(), std::optional<uint64_t>(uint64_t{1} << 32));
  EXPECT_EQ(wheel_->Advance(start + 9), 0u);
  EXPECT_EQ(wheel_->Advance(start + 10), 1u);
  EXPECT_EQ(wheel_->Advance(start + 60 * kDayMs - 1), 0u);
  EXPECT_EQ(wheel_->Advance(start + 60 * kDayMs), 1u);
  EXPECT_EQ(wheel_->Advance(start + 500 * kDayMs), 1u);
  EXPECT_EQ(wheel_->Advance(UINT64_MAX - 6), 0u);
  EXPECT_EQ(wheel_->Advance(UINT64_MAX), 1u);
  for (const auto& [id, at] : recorder_.fired) {
    EXPECT_EQ(at, timers_[id].timer.deadline_ms());
  }
}

TEST_F(TimerWheelTest, NextDeadlineIsLowerBoundWithinOneSlot) {
  SetUpWheel(0);
  wheel_->Arm(&timers_[0].timer, 300'000);  // level 2
  std::optional<uint64_t> next = wheel_->NextDeadlineMs();
  ASSERT_TRUE(next.has_value());
  EXPECT_LE(*next, 300'000u);
  EXPECT_GT(*next + 65'536, 300'000u);
  // Following the bound converges on the exact deadline in <= kLevels steps.
  int steps = 0;
  while (wheel_->size() > 0) {
    next = wheel_->NextDeadlineMs();
    ASSERT_TRUE(next.has_value());
    wheel_->Advance(*next);
    ASSERT_LE(++steps, TimerWheel::kLevels);
  }
  EXPECT_EQ(recorder_.fired[0].second, 300'000u);
}

TEST_F(TimerWheelTest, DestructorDisarms) {
  SetUpWheel(0);
  wheel_->Arm(&timers_[0].timer, 5);
  wheel_->Arm(&timers_[1].timer, 0);
  wheel_->Arm(&timers_[2].timer, 80 * kDayMs);
  wheel_.reset();
  EXPECT_FALSE(timers_[0].timer.armed());
  EXPECT_FALSE(timers_[1].timer.armed());
  EXPECT_FALSE(timers_[2].timer.armed());
}

// Randomized model check: arm, re-arm, disarm and advance at random against
// a std::multimap of deadlines. Every Advance must fire exactly the armed
// timers with deadline <= now, each once, at their exact deadline (or at the
// wheel time of the Advance call if armed with a past deadline).
struct ModelTimer {
  Timer timer;
  int id = 0;
  std::vector<std::pair<int, uint64_t>>* fired = nullptr;
  TimerWheel* wheel = nullptr;
};

void OnModelFire(Timer* t) {
  auto* self = static_cast<ModelTimer*>(t->context);
  self->fired->emplace_back(self->id, self->wheel->now_ms());
}

TEST(TimerWheelModelTest, RandomizedAgainstMultimap) {
  constexpr int kCount = 100'000;
  constexpr int kRounds = 400;
  auto timers = std::make_unique<ModelTimer[]>(kCount);
  std::vector<std::pair<int, uint64_t>> fired;
  std::mt19937_64 rng(20240611);
  uint64_t now = 1'000'000'007;
  TimerWheel wheel(now);

  std::multimap<uint64_t, int> model;
  std::vector<std::multimap<uint64_t, int>::iterator> where(kCount, model.end());
  std::vector<uint64_t> armed_at(kCount, 0);
  for (int i = 0; i < kCount; i++) {
    timers[i].id = i;
    timers[i].fired = &fired;
    timers[i].wheel = &wheel;
    timers[i].timer.callback = &OnModelFire;
    timers[i].timer.context = &timers[i];
  }
  auto random_deadline = [&]() -> uint64_t {
    switch (rng() % 6) {
      case 0: return now - rng() % 1000;                 // past or now
      case 1: return now + rng() % 256;                  // level 0
      case 2: return now + rng() % 65'536;               // level 1
      case 3: return now + rng() % (3600 * kSecondMs);   // up to an hour
      case 4: return now + rng() % (5 * kDayMs);         // up to 5 days
      default: return now + rng() % (120 * kDayMs);      // overflow
    }
  };
  auto arm = [&](int i) {
    const uint64_t d = random_deadline();
    if (where[i] != model.end()) model.erase(where[i]);
    where[i] = model.emplace(d, i);
    armed_at[i] = now;
    wheel.Arm(&timers[i].timer, d);
  };
  for (int i = 0; i < kCount; i++) arm(i);

  size_t total_fired = 0;
  for (int round = 0; round < kRounds; round++) {
    // Mutate a random subset.
    for (int k = 0; k < 500; k++) {
      const int i = static_cast<int>(rng() % kCount);
      if (rng() % 3 == 0) {
        wheel.Disarm(&timers[i].timer);
        if (where[i] != model.end()) model.erase(where[i]);
        where[i] = model.end();
      } else {
        arm(i);
      }
    }
    ASSERT_EQ(wheel.size(), model.size());
    const std::optional<uint64_t> next = wheel.NextDeadlineMs();
    if (model.empty()) {
      ASSERT_FALSE(next.has_value());
    } else {
      ASSERT_TRUE(next.has_value());
      ASSERT_LE(*next, std::max(model.begin()->first, now));
      ASSERT_GE(*next, now);
    }
    // Advance by a mix of small steps and large jumps.
    uint64_t step = 0;
    switch (rng() % 4) {
      case 0: step = rng() % 10; break;
      case 1: step = rng() % 100'000; break;
      case 2: step = rng() % (6 * 3600 * kSecondMs); break;
      default: step = rng() % (2 * kDayMs); break;
    }
    const uint64_t before = now;
    now += step;
    fired.clear();
    const size_t n = wheel.Advance(now);
    ASSERT_EQ(n, fired.size());
    total_fired += n;

    std::vector<int> expected;
    while (!model.empty() && model.begin()->first <= now) {
      const int i = model.begin()->second;
      expected.push_back(i);
      where[i] = model.end();
      model.erase(model.begin());
    }
    std::vector<int> got;
    for (const auto& [id, at] : fired) {
      got.push_back(id);
      const uint64_t d = timers[id].timer.deadline_ms();
      if (d > armed_at[id]) {
        ASSERT_EQ(at, d) << "timer " << id << " fired off its deadline";
      } else {
        ASSERT_EQ(at, before) << "past-deadline timer " << id;
      }
      ASSERT_FALSE(timers[id].timer.armed());
    }
    std::sort(expected.begin(), expected.end());
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, expected) << "round " << round;
    ASSERT_EQ(wheel.size(), model.size());
  }
  EXPECT_GT(total_fired, size_t{kCount} / 2);
  // Drain: everything left fires once.
  fired.clear();
  EXPECT_EQ(wheel.Advance(now + 400 * kDayMs), model.size());
  EXPECT_EQ(wheel.size(), 0u);
}

}  // namespace
}  // namespace ringpost::runtime
