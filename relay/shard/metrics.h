// relay/shard/metrics.h — what /metrics reports, per shard: one block per
// shard, owned by Shared (made by main before the shards start, so it
// outlives every reader and writer).
//
// How the numbers flow (docs/architecture.md, "Metrics"):
//   - Counters and histograms of events are counted where the event happens,
//     straight into the block: the owners (Intake, Scheduler, UringSpoolIo)
//     get pointers to their parts at construction. Single writer, relaxed
//     atomics with a plain load and store (relay/runtime/metric.h): no
//     locked instruction on the per-message path, and no per-turn copying
//     of histograms, which would cost more than counting into them directly.
//   - State that the shard can read cheaply (connections, recipients queued,
//     the oldest queued message, the loop's io_uring counters) is copied in
//     by the shard once per loop turn (Shard's turn hook): a dozen stores.
//   - Once a second the shard also publishes its spool files' size and its
//     top destinations by queue depth; the latter, a list of strings, under
//     a mutex that only that publication and a scrape take.
//   - The spool file system's free space needs statvfs, a blocking system
//     call no shard may make: main's thread samples it (SampleSpoolDisk).
// Shard 0's admin endpoint reads all of it on a scrape and touches nothing
// else of another shard.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "relay/delivery/scheduler.h"
#include "relay/inbound/intake.h"
#include "relay/runtime/metric.h"

namespace ringpost {

struct Shared;

namespace shard {

// A destination (an outbound site key) and its recipients waiting or in
// flight.
using Destination = std::pair<std::string, uint64_t>;

// How many destinations each shard publishes and the endpoint reports.
inline constexpr size_t kTopDestinations = 10;

// One shard's top destinations, replaced as a whole once a second.
class TopDestinations {
 public:
  void Publish(std::vector<Destination>* top) {
    std::lock_guard<std::mutex> lock(mu_);
    top_.swap(*top);
  }
  std::vector<Destination> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return top_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Destination> top_;
};

// The top `n` destinations over every shard's list, largest first (ties by
// name). The same site key on several shards (domains owned by different
// shards that route to one smarthost) is summed. Each shard sends only its
// own top N, so a destination outside one shard's list is undercounted by
// what that shard holds of it: the order at the top is right whenever each
// shard's N-th is small next to the overall leaders.
std::vector<Destination> MergeTopDestinations(std::span<const std::vector<Destination>> shards,
                                              size_t n);

struct alignas(64) ShardMetrics {
  // Counted by the owners as things happen.
  inbound::IntakeMetrics intake;
  delivery::SchedulerMetrics delivery;
  // One spool group commit (write and sync), submission to completion.
  runtime::Histogram commit{runtime::kShortLatencyBoundsNs};

  // Copied in by the shard every loop turn.
  runtime::Gauge inbound_connections;
  runtime::Gauge outbound_connections;
  runtime::Gauge queued_recipients;    // of this shard's spool, no final outcome yet
  runtime::Gauge oldest_queued_at_ms;  // wall clock; 0: nothing queued
  runtime::Gauge cq_overflow;          // runtime::LoopStats
  runtime::Gauge recv_buffer_shortages;
  runtime::Gauge sq_full;

  // Published by the shard once a second.
  runtime::Gauge spool_used_bytes;  // its live segment and journal files
  TopDestinations top;
};

// The spool directory's file system, sampled by main's thread.
struct SpoolDisk {
  std::atomic<bool> sampled{false};
  std::atomic<uint64_t> free_bytes{0};  // available to ringpost (f_bavail)
};

// statvfs of the spool directory into shared->spool_disk. Blocking: call it
// from main's thread (about once a second), never from a shard.
void SampleSpoolDisk(Shared* shared);

}  // namespace shard
}  // namespace ringpost
