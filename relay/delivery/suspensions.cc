// suspensions.cc — see suspensions.h.
#include "relay/delivery/suspensions.h"

#include <algorithm>

namespace ringpost::delivery {

void Suspensions::Set(const std::string& domain, Entry entry) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_[domain] = std::move(entry);
  count_.store(entries_.size(), std::memory_order_relaxed);
}

bool Suspensions::Erase(const std::string& domain) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool erased = entries_.erase(domain) > 0;
  count_.store(entries_.size(), std::memory_order_relaxed);
  return erased;
}

bool Suspensions::Held(std::string_view domain, int64_t now_ms) {
  if (empty()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(absl::string_view(domain.data(), domain.size()));
  if (it == entries_.end()) return false;
  if (it->second.until_ms == 0 || it->second.until_ms > now_ms) return true;
  entries_.erase(it);
  count_.store(entries_.size(), std::memory_order_relaxed);
  return false;
}

std::vector<std::pair<std::string, Suspensions::Entry>> Suspensions::List(int64_t now_ms) const {
  std::vector<std::pair<std::string, Entry>> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [domain, e] : entries_) {
    if (e.until_ms == 0 || e.until_ms > now_ms) out.emplace_back(domain, e);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace ringpost::delivery
