// metrics.cc — see metrics.h.
#include "relay/shard/metrics.h"

#include <sys/statvfs.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "relay/shard/shard.h"

namespace ringpost::shard {

std::vector<Destination> MergeTopDestinations(std::span<const std::vector<Destination>> shards,
                                              size_t n) {
  absl::flat_hash_map<std::string, uint64_t> sum;
  for (const std::vector<Destination>& list : shards) {
    for (const auto& [name, depth] : list) sum[name] += depth;
  }
  std::vector<Destination> all(sum.begin(), sum.end());
  auto deeper = [](const Destination& a, const Destination& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (all.size() > n) {
    std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(), deeper);
    all.resize(n);
  } else {
    std::sort(all.begin(), all.end(), deeper);
  }
  return all;
}

void SampleSpoolDisk(Shared* shared) {
  struct statvfs st;
  if (statvfs(shared->config.spool.c_str(), &st) != 0) return;  // keeps the last sample
  shared->spool_disk.free_bytes.store(static_cast<uint64_t>(st.f_bavail) * st.f_frsize,
                                      std::memory_order_relaxed);
  shared->spool_disk.sampled.store(true, std::memory_order_relaxed);
}

}  // namespace ringpost::shard
