// failure_limiter.cc — per-address AUTH failure windows (see the header for
// the policy and bounds).

#include "relay/auth/failure_limiter.h"

#include <utility>

#include "base/check.h"

namespace ringpost::auth {
namespace {

// Debian's Abseil has its own absl::string_view, which std::string_view
// does not convert to; lookups by a view go through this.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

FailureLimiter::FailureLimiter(uint32_t max_failures, uint64_t window_ms, size_t max_tracked)
    : max_failures_(max_failures), window_ms_(window_ms), max_tracked_(max_tracked) {
  CHECK(max_tracked_ >= 1);
}

bool FailureLimiter::Expired(const Entry& entry, uint64_t now_ms) const {
  // A clock read before the window opened counts as inside it.
  return now_ms >= entry.window_start_ms && now_ms - entry.window_start_ms >= window_ms_;
}

bool FailureLimiter::Blocked(std::string_view address, uint64_t now_ms) {
  const auto it = entries_.find(Av(address));
  if (it == entries_.end()) return false;
  if (Expired(it->second, now_ms)) {
    entries_.erase(it);  // its record in order_ goes stale and is skipped
    return false;
  }
  return it->second.failures >= max_failures_;
}

void FailureLimiter::RecordFailure(std::string_view address, uint64_t now_ms) {
  if (max_failures_ == 0) return;
  auto it = entries_.find(Av(address));
  if (it == entries_.end()) {
    if (entries_.size() == max_tracked_) EvictOldest();
    it = entries_.emplace(std::string(address), Entry{}).first;
  } else if (Expired(it->second, now_ms)) {
    it->second.failures = 0;
  }
  Entry& entry = it->second;
  if (entry.failures == 0 || entry.failures >= max_failures_ - 1) {
    // A first failure opens the window; the one that reaches the limit, and
    // any while blocked, start a full window of blocking from now.
    OpenWindow(it->first, &entry, now_ms);
  }
  if (entry.failures < max_failures_) ++entry.failures;
  CHECK(entries_.size() <= max_tracked_);
}

void FailureLimiter::OpenWindow(const std::string& address, Entry* entry, uint64_t now_ms) {
  entry->window_start_ms = now_ms;
  entry->sequence = next_sequence_++;
  order_.push_back(Record{address, entry->sequence});
  if (order_.size() <= 2 * max_tracked_) return;
  // Compact: keep the one live record per entry, in order. At most
  // max_tracked survive, so the next compaction is max_tracked pushes away.
  std::deque<Record> live;
  for (Record& record : order_) {
    if (Live(record)) live.push_back(std::move(record));
  }
  order_ = std::move(live);
  CHECK(order_.size() == entries_.size());
}

bool FailureLimiter::Live(const Record& record) const {
  const auto it = entries_.find(record.address);
  return it != entries_.end() && it->second.sequence == record.sequence;
}

void FailureLimiter::EvictOldest() {
  // Each entry has a live record, so the loop ends at the first of them.
  while (true) {
    CHECK(!order_.empty());
    Record record = std::move(order_.front());
    order_.pop_front();
    if (Live(record)) {
      entries_.erase(record.address);
      return;
    }
  }
}

}  // namespace ringpost::auth
