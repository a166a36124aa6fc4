// relay/inbound/client_counter.h — connections per client address, exactly,
// across all shards: one mutex-guarded map from address to count, taken once
// per accepted and once per closed connection (never per message). An
// address leaves the map when its count falls to zero, so scans from many
// addresses do not grow it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace ringpost::inbound {

class ClientCounter {
 public:
  bool TryAdd(const std::string& ip, size_t limit);
  void Remove(const std::string& ip);
  size_t Count(const std::string& ip) const;

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> counts_;
};

}  // namespace ringpost::inbound
