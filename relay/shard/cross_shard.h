// relay/shard/cross_shard.h — typed messages between shards.
//
// A message accepted on shard A is spooled on A; each of its jobs goes to
// the shard that owns the job's domain, and each recipient's final outcome
// comes back to A, which journals it. Between two different shards they
// travel through a lock-free single-producer/single-consumer ring, one per
// ordered pair of shards (there is no ring from a shard to itself: its own
// items wait in a local queue until the next turn, so handling one never
// re-enters the code that sent it). The sender wakes a sleeping receiver
// with IORING_OP_MSG_RING once per turn, not once per item.
//
// Bounds, and what happens when they are reached:
//   - each ring holds cross_shard_ring_entries items; when a ring is full,
//     items wait in the sender's backlog for that receiver, in order, and
//     are retried every turn;
//   - the backlog (all receivers plus the local queue) is measured against
//     max_cross_shard_backlog: over it, the shard takes no new transactions
//     (Backpressure) until it drained below. Items are never dropped: each
//     is owed to a message already acknowledged.
// Memory of the rings: entries × shards × (shards − 1) × sizeof(CrossItem).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "base/check.h"
#include "relay/delivery/message.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/spsc_ring.h"

namespace ringpost::shard {

// One item: a job for the receiver to deliver, a final outcome of one
// recipient of a message the receiver spooled, or the report of an attempt
// on such a message (failures, owed success notices: the receiver owns it).
class CrossItem {
 public:
  enum class Kind : uint8_t { kJob = 1, kOutcome = 2, kReport = 3 };

  CrossItem() = default;
  static CrossItem Job(DeliveryJob* job) {
    CrossItem item;
    item.kind_ = Kind::kJob;
    item.job_ = job;
    return item;
  }
  static CrossItem Outcome(Message* msg, uint32_t rcpt, uint8_t outcome, bool first) {
    CrossItem item;
    item.kind_ = Kind::kOutcome;
    item.message_ = msg;
    item.rcpt_ = rcpt;
    item.outcome_ = outcome;
    item.first_ = first;
    return item;
  }
  static CrossItem Report(AttemptReport* report) {
    CrossItem item;
    item.kind_ = Kind::kReport;
    item.report_ = report;
    return item;
  }

  Kind kind() const { return kind_; }
  DeliveryJob* job() const {
    DCHECK(kind_ == Kind::kJob);
    return job_;
  }
  Message* message() const {
    DCHECK(kind_ == Kind::kOutcome);
    return message_;
  }
  AttemptReport* report() const {
    DCHECK(kind_ == Kind::kReport);
    return report_;
  }
  uint32_t rcpt() const { return rcpt_; }
  uint8_t outcome() const { return outcome_; }
  bool first() const { return first_; }

 private:
  union {
    DeliveryJob* job_ = nullptr;  // kJob
    Message* message_;            // kOutcome
    AttemptReport* report_;       // kReport
  };
  uint32_t rcpt_ = 0;     // kOutcome: recipient index
  Kind kind_ = Kind::kJob;
  uint8_t outcome_ = 0;   // kOutcome: queue::kOutcome*
  bool first_ = false;    // kOutcome: of the recipient's first attempt
};
static_assert(sizeof(CrossItem) == 16);

// The rings between every ordered pair of distinct shards, and each shard's
// loop once it runs (for wake-ups). Shared by all shards.
class Switchboard {
 public:
  using Ring = runtime::SpscRing<CrossItem>;

  Switchboard(int shards, size_t ring_entries);
  int shards() const { return shards_; }
  size_t ring_entries() const { return ring_entries_; }
  size_t ring_bytes() const;  // all rings together
  Ring& RingFor(int from, int to) {
    DCHECK(from != to);
    return *rings_[static_cast<size_t>(from * shards_ + to)];
  }
  void Publish(int shard, runtime::Loop* loop) {
    loops_[static_cast<size_t>(shard)].store(loop, std::memory_order_release);
  }
  runtime::Loop* LoopOf(int shard) const {
    return loops_[static_cast<size_t>(shard)].load(std::memory_order_acquire);
  }

 private:
  int shards_;
  size_t ring_entries_;
  std::vector<std::unique_ptr<Ring>> rings_;  // [from * shards + to]; null when from == to
  std::unique_ptr<std::atomic<runtime::Loop*>[]> loops_;
};

// One shard's end of the switchboard: what it sends and what it receives.
// Used only on that shard's thread.
class Mailbox {
 public:
  Mailbox(Switchboard* board, int self, size_t backlog_max);

  void Send(int to, const CrossItem& item);
  // Wake `to` at the end of this turn (its DNS completion was queued).
  void RequestWake(int to) { wake_[static_cast<size_t>(to)] = true; }
  // Pushes the backlog into the rings and wakes the receivers; once per turn.
  void Flush(runtime::Loop* loop);
  // Hands every item received (from each ring, bounded per turn, and the
  // local queue) to handle(item).
  template <typename Handle>
  void Receive(Handle&& handle);
  bool HasIncoming() const;
  bool BacklogEmpty() const;
  bool OverBacklog() const { return backlog_ > backlog_max_; }
  // After every shard stopped: hands each item still held to release(item).
  template <typename Release>
  void ReleaseAll(Release&& release);

 private:
  static constexpr size_t kBatch = 1024;
  static constexpr int kRoundsPerTurn = 16;

  Switchboard* board_;
  int self_;
  size_t backlog_max_;
  size_t backlog_ = 0;  // items in outbox_ and local_
  std::vector<std::deque<CrossItem>> outbox_;  // per receiver: waiting for its ring
  std::vector<CrossItem> local_;               // sent to this shard itself
  std::vector<CrossItem> local_turn_;          // being handled this turn
  std::vector<bool> wake_;                     // receivers to wake this turn
  std::vector<CrossItem> scratch_;
};

template <typename Handle>
void Mailbox::Receive(Handle&& handle) {
  for (int from = 0; from < board_->shards(); ++from) {
    if (from == self_) continue;
    Switchboard::Ring& ring = board_->RingFor(from, self_);
    // Bounded per turn so one busy peer cannot starve the loop.
    for (int round = 0; round < kRoundsPerTurn; ++round) {
      const size_t n = ring.PopBatch(scratch_.data(), scratch_.size());
      for (size_t i = 0; i < n; ++i) handle(scratch_[i]);
      if (n < scratch_.size()) break;
    }
  }
  // Items this shard sent itself before this turn; those sent while
  // handling them wait for the next turn.
  local_turn_.swap(local_);
  backlog_ -= local_turn_.size();
  for (const CrossItem& item : local_turn_) handle(item);
  local_turn_.clear();
}

template <typename Release>
void Mailbox::ReleaseAll(Release&& release) {
  for (const CrossItem& item : local_) release(item);
  local_.clear();
  for (auto& overflow : outbox_) {
    for (const CrossItem& item : overflow) release(item);
    overflow.clear();
  }
  backlog_ = 0;
  for (int from = 0; from < board_->shards(); ++from) {
    if (from == self_) continue;
    CrossItem item;
    while (board_->RingFor(from, self_).TryPop(&item)) release(item);
  }
}

}  // namespace ringpost::shard
