// client_counter.cc — see client_counter.h.
#include "relay/inbound/client_counter.h"

namespace ringpost::inbound {

bool ClientCounter::TryAdd(const std::string& ip, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t& count = counts_[ip];
  if (count >= limit) {
    if (count == 0) counts_.erase(ip);
    return false;
  }
  ++count;
  return true;
}

void ClientCounter::Remove(const std::string& ip) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(ip);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

size_t ClientCounter::Count(const std::string& ip) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(ip);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace ringpost::inbound
