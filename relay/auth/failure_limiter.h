// failure_limiter.h — how many failed SMTP AUTH attempts a client address
// may make before AUTH is refused to it for a while.
//
// Policy
//   Failures are counted per address in a fixed window that opens at the
//   first failure. The failure that reaches max_failures blocks the address
//   for one full window from that moment, so a guesser gets at most
//   max_failures tries per window however it spaces them; each failure
//   recorded while blocked restarts that block. When a window passes the
//   address starts afresh. max_failures = 0 turns the limiter off.
//
//   The address string is the caller's choice of key: for IPv6 a /64 prefix
//   rather than the full address, or one host makes itself 2^64 clients.
//
// Bounds
//   At most max_tracked addresses are remembered. Making room drops the
//   address whose window opened longest ago (expired ones come first by
//   construction), found through a queue of (address, sequence) records in
//   the order windows were opened; records made stale by a later window are
//   skipped, and the queue is compacted once it holds twice max_tracked
//   records, so each operation is O(1) amortised. Flooding the table from
//   many addresses can push a guesser out early; the bound on memory is
//   worth more than that.
//
// Usage (one per shard; times from the shard's monotonic clock)
//   FailureLimiter limiter(5, 600'000);
//   if (limiter.Blocked(peer, now_ms)) { ... 454 or 421 ... }
//   if (!verifier.Verify(...)) limiter.RecordFailure(peer, now_ms);
//
// Invariants
//   - tracked() <= max_tracked.
//   - Every tracked address has exactly one live record in the queue (its
//     sequence matches), and the queue holds at most 2 * max_tracked records
//     after any call.
//   - Not thread-safe.

#ifndef RINGPOST_RELAY_AUTH_FAILURE_LIMITER_H_
#define RINGPOST_RELAY_AUTH_FAILURE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace ringpost::auth {

class FailureLimiter {
 public:
  FailureLimiter(uint32_t max_failures, uint64_t window_ms, size_t max_tracked = 65536);

  // True while the address is blocked (see Policy). Forgets it once its
  // window has passed.
  bool Blocked(std::string_view address, uint64_t now_ms);
  void RecordFailure(std::string_view address, uint64_t now_ms);
  // SIGHUP: new limits for the addresses tracked and those to come. Windows
  // keep their start, so the order of records stays oldest first.
  void SetPolicy(uint32_t max_failures, uint64_t window_ms) {
    max_failures_ = max_failures;
    window_ms_ = window_ms;
  }

  size_t tracked() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t window_start_ms = 0;
    uint32_t failures = 0;
    uint64_t sequence = 0;  // of this address's live record in order_
  };
  struct Record {
    std::string address;
    uint64_t sequence = 0;
  };

  bool Expired(const Entry& entry, uint64_t now_ms) const;
  // (Re)opens the entry's window at now_ms and queues its new record.
  void OpenWindow(const std::string& address, Entry* entry, uint64_t now_ms);
  bool Live(const Record& record) const;
  void EvictOldest();

  uint32_t max_failures_;
  uint64_t window_ms_;
  size_t max_tracked_;
  uint64_t next_sequence_ = 1;
  absl::flat_hash_map<std::string, Entry> entries_;
  std::deque<Record> order_;  // oldest window first; stale records skipped
};

}  // namespace ringpost::auth

#endif  // RINGPOST_RELAY_AUTH_FAILURE_LIMITER_H_
