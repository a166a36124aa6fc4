// relay/delivery/suspensions.h — domains whose mail is held: by the
// operator (ringpostctl suspend) or, later, by automatic backoff rules.
// Shared by every shard (a mutex; one relaxed load when none is held):
// the router of a domain's owner holds its jobs instead of routing them.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace ringpost::delivery {

class Suspensions {
 public:
  struct Entry {
    int64_t until_ms = 0;  // wall clock; 0: until resumed
    std::string set_by;    // "operator", or "rule NAME"
    std::string reason;
  };
  void Set(const std::string& domain, Entry entry);
  bool Erase(const std::string& domain);
  // Whether `domain` is held at `now_ms` (one relaxed load when nothing is
  // suspended). An entry found past its time is removed.
  bool Held(std::string_view domain, int64_t now_ms);
  std::vector<std::pair<std::string, Entry>> List(int64_t now_ms) const;
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;  // guarded by mu_
  std::atomic<size_t> count_{0};
};

}  // namespace ringpost::delivery
