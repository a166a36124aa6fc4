// timer_wheel.cc — hierarchical timer wheel; see timer_wheel.h for the
// structure and invariants. Every loop here is bounded by the number of armed
// timers or by kLevels/kSlots.

#include "relay/runtime/timer_wheel.h"

#include <bit>

namespace ringpost::runtime {

namespace {

constexpr uint64_t kSlotMask = TimerWheel::kSlots - 1;

constexpr uint16_t SlotWhere(int level, size_t slot) {
  return static_cast<uint16_t>(level * TimerWheel::kSlots + slot + 1);
}

}  // namespace

TimerWheel::TimerWheel(uint64_t now_ms) : now_ms_(now_ms) {
  InitHead(&expired_);
  InitHead(&firing_);
  InitHead(&overflow_);
  for (auto& level : slots_) {
    for (Link& head : level) InitHead(&head);
  }
}

TimerWheel::~TimerWheel() {
  CHECK(!advancing_);
  auto drop_all = [this](Link* head) {
    while (!ListEmpty(head)) Unlink(AsTimer(head->next));
  };
  drop_all(&expired_);
  drop_all(&firing_);
  drop_all(&overflow_);
  for (auto& level : slots_) {
    for (Link& head : level) drop_all(&head);
  }
  CHECK(size_ == 0);
}

void TimerWheel::PushBack(Link* head, Link* node) {
  CHECK(node->next == nullptr);
  CHECK(node->prev == nullptr);
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

void TimerWheel::Splice(Link* from, Link* to) {
  if (ListEmpty(from)) return;
  Link* first = from->next;
  Link* last = from->prev;
  first->prev = to->prev;
  to->prev->next = first;
  last->next = to;
  to->prev = last;
  InitHead(from);
}

void TimerWheel::Arm(Timer* t, uint64_t deadline_ms) {
  CHECK(t != nullptr);
  CHECK(t->callback != nullptr);
  if (t->armed()) {
    Unlink(t);
  }
  t->deadline_ms_ = deadline_ms;
  Place(t, &expired_, kExpired);
  size_++;
  CHECK(t->armed());
}

void TimerWheel::Disarm(Timer* t) {
  CHECK(t != nullptr);
  if (!t->armed()) return;
  Unlink(t);
}

void TimerWheel::Place(Timer* t, Link* due, uint16_t due_where) {
  CHECK(!t->armed());
  const uint64_t deadline = t->deadline_ms_;
  if (deadline <= now_ms_) {
    t->where_ = due_where;
    PushBack(due, AsLink(t));
    return;
  }
  const uint64_t diff = deadline ^ now_ms_;
  CHECK(diff != 0);
  if ((diff >> kWheelBits) != 0) {
    t->where_ = kOverflow;
    PushBack(&overflow_, AsLink(t));
    const uint64_t epoch = deadline >> kWheelBits;
    if (epoch < overflow_min_epoch_) overflow_min_epoch_ = epoch;
    return;
  }
  // The highest differing 8-bit group picks the level.
  const int level = (63 - std::countl_zero(diff)) / kLevelBits;
  CHECK(level >= 0 && level < kLevels);
  const size_t slot = (deadline >> (level * kLevelBits)) & kSlotMask;
  // The slot is strictly after the current time's slot on that level.
  CHECK(slot > ((now_ms_ >> (level * kLevelBits)) & kSlotMask));
  t->where_ = SlotWhere(level, slot);
  PushBack(&slots_[level][slot], AsLink(t));
  occupied_[level][slot / 64] |= uint64_t{1} << (slot % 64);
}

void TimerWheel::Unlink(Timer* t) {
  CHECK(t->armed());
  CHECK(size_ > 0);
  Link* node = AsLink(t);
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = nullptr;
  node->next = nullptr;
  const uint16_t where = t->where_;
  t->where_ = kNowhere;
  size_--;
  if (where >= SlotWhere(0, 0) && where < kExpired) {
    const int level = (where - 1) / static_cast<int>(kSlots);
    const size_t slot = (where - 1) % kSlots;
    if (ListEmpty(&slots_[level][slot])) {
      occupied_[level][slot / 64] &= ~(uint64_t{1} << (slot % 64));
    }
  } else {
    DCHECK(where == kExpired || where == kFiring || where == kOverflow);
  }
}

std::optional<TimerWheel::Event> TimerWheel::NextEvent() const {
  std::optional<Event> best;
  for (int level = 0; level < kLevels; level++) {
    const int shift = level * kLevelBits;
    for (size_t word = 0; word < kSlots / 64; word++) {
      const uint64_t bits = occupied_[level][word];
      if (bits == 0) continue;
      const size_t slot = word * 64 + std::countr_zero(bits);
      DCHECK(slot > ((now_ms_ >> shift) & kSlotMask));
      // Clear this level's group and everything below, then set the slot.
      const int span = shift + kLevelBits;
      const uint64_t base = span >= 64 ? 0 : (now_ms_ >> span) << span;
      const uint64_t time = base | (uint64_t{slot} << shift);
      if (!best || time < best->time_ms) best = Event{time, level};
      break;  // lowest occupied slot of this level found
    }
  }
  if (!ListEmpty(&overflow_)) {
    // A lower bound on every overflow timer's epoch, always a later epoch
    // than now's (removals leave it stale-low, which is safe).
    DCHECK(overflow_min_epoch_ > (now_ms_ >> kWheelBits));
    const uint64_t time = overflow_min_epoch_ << kWheelBits;
    if (!best || time < best->time_ms) best = Event{time, kLevels};
  }
  return best;
}

void TimerWheel::Cascade(Link* list) {
  // Every timer on `list` has deadline >= now_ms_; re-place each relative to
  // the new time. Those due exactly now join the firing list.
  Link local;
  InitHead(&local);
  Splice(list, &local);
  size_t moved = 0;
  while (!ListEmpty(&local)) {
    Link* node = local.next;
    Timer* t = AsTimer(node);
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = nullptr;
    t->where_ = kNowhere;
    DCHECK(t->deadline_ms_ >= now_ms_);
    Place(t, &firing_, kFiring);
    moved++;
    DCHECK(moved <= size_);
  }
}

size_t TimerWheel::FireAll() {
  size_t fired = 0;
  // Bounded: callbacks cannot add to firing_ (due re-arms go to expired_).
  while (!ListEmpty(&firing_)) {
    Timer* t = AsTimer(firing_.next);
    DCHECK(t->where_ == kFiring);
    Unlink(t);
    fired++;
    t->callback(t);
  }
  return fired;
}

size_t TimerWheel::Advance(uint64_t now_ms) {
  DCHECK(!advancing_);
  advancing_ = true;
  const uint64_t target = now_ms > now_ms_ ? now_ms : now_ms_;

  // Timers already due before this call (armed with a past deadline).
  DCHECK(ListEmpty(&firing_));
  Splice(&expired_, &firing_);
  for (Link* l = firing_.next; l != &firing_; l = l->next) {
    AsTimer(l)->where_ = kFiring;
  }
  size_t fired = FireAll();

  // Walk the occupied slot boundaries up to the target. Each step either
  // fires a level-0 slot or cascades a higher slot to lower levels, so the
  // number of steps is bounded by the armed timers times kLevels (plus
  // overflow epochs crossed).
  while (true) {
    if (size_ == 0) break;
    const std::optional<Event> event = NextEvent();
    if (!event || event->time_ms > target) break;
    DCHECK(event->time_ms > now_ms_);
    now_ms_ = event->time_ms;
    if (event->level == kLevels) {
      // Levels are empty here: their events all precede the epoch boundary.
      overflow_min_epoch_ = UINT64_MAX;
      Cascade(&overflow_);
    } else {
      const int shift = event->level * kLevelBits;
      const size_t slot = (now_ms_ >> shift) & kSlotMask;
      Link* head = &slots_[event->level][slot];
      DCHECK(!ListEmpty(head));
      occupied_[event->level][slot / 64] &= ~(uint64_t{1} << (slot % 64));
      if (event->level == 0) {
        for (Link* l = head->next; l != head; l = l->next) {
          DCHECK(AsTimer(l)->deadline_ms_ == now_ms_);
          AsTimer(l)->where_ = kFiring;
        }
        Splice(head, &firing_);
      } else {
        Cascade(head);
      }
    }
    fired += FireAll();
  }
  now_ms_ = target;
  advancing_ = false;
  return fired;
}

std::optional<uint64_t> TimerWheel::NextDeadlineMs() const {
  if (size_ == 0) return std::nullopt;
  if (!ListEmpty(&expired_) || !ListEmpty(&firing_)) return now_ms_;
  const std::optional<Event> event = NextEvent();
  DCHECK(event.has_value());
  return event->time_ms;
}

}  // namespace ringpost::runtime
