// timer_wheel.h — intrusive, allocation-free hierarchical timer wheel for one
// shard loop, with millisecond resolution.
//
// Purpose
//   Every connection, DNS query and queue entry on a shard owns one or more
//   timers (idle, session, command, retry). They are armed and disarmed far
//   more often than they fire, so both must be O(1) and allocation-free. The
//   loop asks NextDeadlineMs() for its io_uring wait timeout and calls
//   Advance(now) once per turn.
//
// Usage
//   struct Session {
//     ringpost::runtime::Timer idle;   // idle.callback = &OnIdle;
//   };                                 // idle.context = session;
//   wheel.Arm(&session->idle, now_ms + 300'000);
//   ...
//   wheel.Disarm(&session->idle);      // before the session is destroyed
//
// Structure
//   kLevels levels of kSlots slots each. Level L slot s covers deadlines whose
//   bits above level L equal those of the wheel's current time and whose
//   8-bit group L equals s (always greater than the current time's group L).
//   When the wheel's time reaches the start of an occupied level-L slot, that
//   slot cascades: its timers are re-placed relative to the new time, landing
//   on lower levels. Timers fire exactly at their deadline millisecond.
//   Deadlines in a later 2^32 ms (~49.7 day) epoch than the current time wait
//   on an overflow list, re-examined when time reaches the earliest epoch
//   holding one of them.
//   Per-level occupancy bitmaps let Advance() jump over empty time in
//   O(kLevels) steps, so large jumps in time are cheap.
//
// Invariants
//   - A timer is on at most one list; armed() <=> it is on a list.
//   - A level slot's bitmap bit is set <=> the slot's list is non-empty.
//   - Every timer on level L has deadline > now_ms() and lies inside the
//     slot's range (see above); every timer on the expired list has
//     deadline <= now_ms().
//   - Callbacks run with the timer already disarmed; they may Arm/Disarm any
//     timer, including the one firing. A timer armed by a callback with a
//     deadline <= now fires on the next Advance() call, never the current
//     one, so a timer re-arming itself "now" cannot livelock the loop.
//   - Single-threaded: a wheel and its timers belong to one shard thread.
//     Advance() must not be called from a callback.

#ifndef RINGPOST_RELAY_RUNTIME_TIMER_WHEEL_H_
#define RINGPOST_RELAY_RUNTIME_TIMER_WHEEL_H_

#include <array>
#include "base/check.h"
#include <cstddef>
#include <cstdint>
#include <optional>

namespace ringpost::runtime {

namespace timer_internal {

// Doubly-linked circular list node. List heads are bare links.
struct Link {
  Link* prev = nullptr;
  Link* next = nullptr;
};

}  // namespace timer_internal

class TimerWheel;

// A timer embedded in its owning object. The owner sets `callback` (and
// `context`, if useful) before arming it and must disarm it before the
// timer is destroyed. Not copyable: its address is its identity.
struct Timer : private timer_internal::Link {
  using Callback = void (*)(Timer*);

  Timer() = default;
  Timer(Callback cb, void* ctx) : callback(cb), context(ctx) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() { CHECK(!armed()); }

  Callback callback = nullptr;
  void* context = nullptr;  // free for the owner, e.g. a back pointer

  bool armed() const { return next != nullptr; }
  // The deadline the timer was last armed with; meaningful while armed().
  uint64_t deadline_ms() const { return deadline_ms_; }

 private:
  friend class TimerWheel;
  uint64_t deadline_ms_ = 0;
  uint16_t where_ = 0;  // TimerWheel::Where code of the list it is on
};

class TimerWheel {
 public:
  static constexpr int kLevelBits = 8;
  static constexpr int kLevels = 4;
  static constexpr size_t kSlots = size_t{1} << kLevelBits;
  // Deadlines at least this far from now wait on the overflow list.
  static constexpr int kWheelBits = kLevelBits * kLevels;

  explicit TimerWheel(uint64_t now_ms);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  // Disarms every timer still armed (their callbacks do not run).
  ~TimerWheel();

  // Arms `t` to fire at `deadline_ms`; moves it if already armed. A deadline
  // <= now_ms() fires on the next Advance(). t->callback must be set. O(1).
  void Arm(Timer* t, uint64_t deadline_ms);

  // Disarms `t`; no-op if it is not armed. O(1).
  void Disarm(Timer* t);

  // Moves time forward to `now_ms` (a smaller value is treated as the
  // current time) and fires every timer whose deadline is <= now_ms, each
  // exactly once, in no promised order across slots. Returns the number of
  // callbacks run.
  size_t Advance(uint64_t now_ms);

  // A lower bound on the earliest armed deadline, never below now_ms() and
  // never later than the true earliest deadline; nullopt when nothing is
  // armed. Exact when the earliest timer sits on level 0; otherwise the start
  // of its slot (its 2^32 ms epoch for the overflow list), so a loop that
  // sleeps until this bound wakes at most kLevels extra times per deadline.
  // now_ms() when something is already due.
  std::optional<uint64_t> NextDeadlineMs() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint64_t now_ms() const { return now_ms_; }

 private:
  using Link = timer_internal::Link;

  // Where codes: 0 = not on a list; 1..kLevels*kSlots = level slot + 1.
  enum Where : uint16_t {
    kNowhere = 0,
    kExpired = kLevels * kSlots + 1,
    kFiring,
    kOverflow,
  };
  static_assert(kOverflow < 0xFFFF);

  struct Event {
    uint64_t time_ms;
    int level;  // kLevels means the overflow list
  };

  static Timer* AsTimer(Link* l) { return static_cast<Timer*>(l); }
  static Link* AsLink(Timer* t) { return t; }
  static void InitHead(Link* head) { head->prev = head->next = head; }
  static bool ListEmpty(const Link* head) { return head->next == head; }
  static void PushBack(Link* head, Link* node);
  static void Splice(Link* from, Link* to);  // moves all of `from` to `to`

  // Places an unlinked timer relative to now_ms_; a due timer goes on `due`.
  void Place(Timer* t, Link* due, uint16_t due_where);
  void Unlink(Timer* t);
  std::optional<Event> NextEvent() const;
  void Cascade(Link* list);
  size_t FireAll();

  uint64_t now_ms_;
  size_t size_ = 0;
  bool advancing_ = false;
  Link expired_;   // due, fires on next Advance()
  Link firing_;    // due, firing in the current Advance() step
  Link overflow_;  // beyond 2^kWheelBits ms from now
  uint64_t overflow_min_epoch_ = UINT64_MAX;  // lower bound, deadline >> kWheelBits
  std::array<std::array<uint64_t, kSlots / 64>, kLevels> occupied_{};
  std::array<std::array<Link, kSlots>, kLevels> slots_;
};

}  // namespace ringpost::runtime

#endif  // RINGPOST_RELAY_RUNTIME_TIMER_WHEEL_H_
