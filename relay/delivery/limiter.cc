// limiter.cc — see limiter.h.
#include "relay/delivery/limiter.h"

namespace ringpost::delivery {

int64_t Limiter::Take(const Pace& pace, std::atomic<int64_t>* tat, int64_t now_ns) {
  if (pace.interval_ns == 0) return 0;
  int64_t seen = tat->load(std::memory_order_relaxed);
  for (;;) {
    int64_t next = seen;
    const int64_t wait = GcraTake(pace, &next, now_ns);
    if (wait > 0) return wait;
    if (tat->compare_exchange_weak(seen, next, std::memory_order_relaxed)) return 0;
  }
}

int64_t Limiter::OpenConnection(const Policy& policy, int64_t now_ns) {
  uint32_t open = connections_.load(std::memory_order_relaxed);
  do {
    if (open >= policy.max_connections) return kFull;
  } while (!connections_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
  const int64_t wait = Take(policy.connection_pace, &connection_tat_, now_ns);
  if (wait > 0) CloseConnection();
  return wait;
}

Limiter* Limiters::Get(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Limiter>& l = limiters_[absl::string_view(key.data(), key.size())];
  if (l == nullptr) l = std::make_unique<Limiter>();
  return l.get();
}

}  // namespace ringpost::delivery
