// relay/delivery/limiter.h — a destination's budget of connections and
// pace, shared by every shard that sends there.
//
// Domains are owned by shards by hash, so one destination (a provider's MX
// hosts, a smarthost) is often reached from several shards at once; its
// limits must hold for all of them together. A Limiter is that budget:
// three atomics, changed with compare-and-swap, no lock. The Policy passed
// to each call says what the limits are, so a reload changes them at once.
// (An alternative, handing each destination to one owner shard, would pin a
// whole provider's traffic to one core.)
//
// Limiters come from Limiters::Get by key and live as long as the registry:
// a connection keeps a pointer to the one it counted itself against.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "relay/delivery/policy.h"

namespace ringpost::delivery {

class Limiter {
 public:
  static constexpr int64_t kFull = -1;

  // A new connection at `now_ns` (CLOCK_MONOTONIC): 0 when it may open
  // (it is counted), kFull when max_connections are open, else the ns
  // until the connection pace allows one.
  int64_t OpenConnection(const Policy& policy, int64_t now_ns);
  void CloseConnection() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  // A message at `now_ns`: 0 when the message pace allows it now (it is
  // counted), else the ns until it would.
  int64_t TakeMessage(const Pace& pace, int64_t now_ns) { return Take(pace, &message_tat_, now_ns); }
  uint32_t connections() const { return connections_.load(std::memory_order_relaxed); }

  // A shard waits for a connection slot: connections with nothing to do
  // close instead of parking, until one does (TakeWanted).
  void Want() { wanted_.store(true, std::memory_order_relaxed); }
  bool TakeWanted() {
    return wanted_.load(std::memory_order_relaxed) &&
           wanted_.exchange(false, std::memory_order_relaxed);
  }

 private:
  static int64_t Take(const Pace& pace, std::atomic<int64_t>* tat, int64_t now_ns);

  std::atomic<int64_t> message_tat_{0};
  std::atomic<int64_t> connection_tat_{0};
  std::atomic<uint32_t> connections_{0};
  std::atomic<bool> wanted_{false};
};

class Limiters {
 public:
  // The limiter named `key`, made on first use. Any thread.
  Limiter* Get(std::string_view key);

 private:
  std::mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Limiter>> limiters_;  // guarded by mu_
};

}  // namespace ringpost::delivery
