// cross_shard.cc — see cross_shard.h.
#include "relay/shard/cross_shard.h"

namespace ringpost::shard {

Switchboard::Switchboard(int shards, size_t ring_entries)
    : shards_(shards),
      ring_entries_(ring_entries),
      loops_(new std::atomic<runtime::Loop*>[static_cast<size_t>(shards)]) {
  CHECK(shards >= 1);
  for (int i = 0; i < shards; ++i) loops_[static_cast<size_t>(i)].store(nullptr);
  rings_.resize(static_cast<size_t>(shards * shards));
  for (int from = 0; from < shards; ++from) {
    for (int to = 0; to < shards; ++to) {
      if (from != to) rings_[static_cast<size_t>(from * shards + to)] = std::make_unique<Ring>(ring_entries);
    }
  }
}

size_t Switchboard::ring_bytes() const {
  const size_t pairs = static_cast<size_t>(shards_) * static_cast<size_t>(shards_ - 1);
  return pairs * Ring::MemoryBytes(ring_entries_);
}

Mailbox::Mailbox(Switchboard* board, int self, size_t backlog_max)
    : board_(board),
      self_(self),
      backlog_max_(backlog_max),
      outbox_(static_cast<size_t>(board->shards())),
      wake_(static_cast<size_t>(board->shards()), false),
      scratch_(kBatch) {}

void Mailbox::Send(int to, const CrossItem& item) {
  if (to == self_) {
    local_.push_back(item);
    ++backlog_;
    return;
  }
  auto& overflow = outbox_[static_cast<size_t>(to)];
  if (overflow.empty() && board_->RingFor(self_, to).TryPush(item)) {
    wake_[static_cast<size_t>(to)] = true;
    return;
  }
  overflow.push_back(item);  // ring full: retried every turn, order kept
  ++backlog_;
}

void Mailbox::Flush(runtime::Loop* loop) {
  for (int to = 0; to < board_->shards(); ++to) {
    if (to == self_) continue;
    auto& overflow = outbox_[static_cast<size_t>(to)];
    auto& ring = board_->RingFor(self_, to);
    while (!overflow.empty() && ring.TryPush(overflow.front())) {
      overflow.pop_front();
      --backlog_;
      wake_[static_cast<size_t>(to)] = true;
    }
    if (wake_[static_cast<size_t>(to)]) {
      wake_[static_cast<size_t>(to)] = false;
      // A shard still starting has no loop yet; it reads its rings before
      // it first sleeps, so nothing is missed.
      if (runtime::Loop* target = board_->LoopOf(to)) loop->Wake(target);
    }
  }
}

bool Mailbox::HasIncoming() const {
  if (!local_.empty()) return true;
  for (int from = 0; from < board_->shards(); ++from) {
    if (from != self_ && !board_->RingFor(from, self_).Empty()) return true;
  }
  return false;
}

bool Mailbox::BacklogEmpty() const {
  for (const auto& overflow : outbox_) {
    if (!overflow.empty()) return false;
  }
  return true;
}

}  // namespace ringpost::shard
