// relay/shard/control.h — queue operations (ringpostctl, the admin port's
// /queue/ endpoints), carried out by every shard on its own thread.
//
// The admin endpoint (shard 0) turns a request into a ControlOp and posts
// it on the ControlBoard; each shard takes the ops it has not seen at the
// top of a loop turn (one atomic load when there are none), applies them to
// the queues it owns (relay/shard/shard.cc, ApplyControl), adds its part of
// the answer under the op's lock and counts itself done. The endpoint
// answers once every shard has: so an operation applies across all shards
// before the operator hears that it did.
//
// Suspensions by domain live in delivery::Suspensions, shared by every
// shard: the router holds a suspended domain's jobs instead of routing
// them, until the suspension ends (its time, or resume).
//
//   GET  /queue/summary                       per destination: queued, oldest, state
//   POST /queue/suspend?domain=D[&for=DUR]    hold D's mail (until resumed, or DUR)
//   POST /queue/resume?domain=D               release it and retry its deferred mail now
//   POST /queue/flush[?domain=D]              retry deferred mail now
//   POST /queue/bounce?domain=D|id=ID|sender=S   queued mail back to its senders
//   POST /queue/delete?domain=D|id=ID|sender=S   queued mail dropped, no notice
//   GET  /queue/message?id=ID                 one message's envelope and recipients
// Answers are JSON. Mail on a connection at that moment finishes its
// attempt: operations act on what waits (ready, deferred, held).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "relay/delivery/suspensions.h"

namespace ringpost::shard {

struct ControlOp {
  enum class Kind { kSummary, kSuspend, kResume, kFlush, kBounce, kDelete, kInspect };
  Kind kind = Kind::kSummary;
  // Selectors: at most one is set for bounce and delete; domain for
  // suspend, resume, flush (empty: every domain); id for inspect.
  std::string domain;
  std::string id;
  std::string sender;
  int64_t until_ms = 0;  // suspend: wall clock; 0: until resumed

  // Each shard's part of the answer, under `mu`.
  struct Row {
    std::string domain;
    uint64_t queued = 0;         // recipients waiting (ready, deferred, held)
    int64_t oldest_ms = 0;       // the oldest one's queued_at (wall clock)
    std::string policy;          // its destination policy's MATCH
    bool held = false;           // suspended
  };
  std::mutex mu;
  uint64_t count = 0;             // recipients flushed, released, bounced, deleted
  std::vector<Row> rows;          // summary
  std::vector<std::string> found;  // inspect: one JSON object per job found
  std::atomic<int> pending{0};    // shards not done yet
};

// The ops posted, in order; each shard keeps the sequence number of the
// last one it took.
class ControlBoard {
 public:
  explicit ControlBoard(int shards) : shards_(shards) {}
  // Any thread. Every shard will apply `op`.
  void Post(std::shared_ptr<ControlOp> op);
  // On a shard: the ops after `*seen`, in order; moves `*seen` on.
  // Cheap when there are none.
  void Take(uint64_t* seen, std::vector<std::shared_ptr<ControlOp>>* out);

 private:
  static constexpr size_t kKept = 4096;  // shards take ops within a second
  const int shards_;
  std::atomic<uint64_t> last_{0};
  std::mutex mu_;
  std::deque<std::pair<uint64_t, std::shared_ptr<ControlOp>>> ops_;  // guarded by mu_
};

// The admin request as an op, or an error: {status, message}.
struct ControlRequest {
  std::shared_ptr<ControlOp> op;
  int error_status = 0;
  std::string error;
  std::string_view allow = "GET, HEAD";  // a 405's Allow
};
ControlRequest ParseControl(std::string_view method, std::string_view path,
                            std::string_view query, int64_t now_ms);

// The JSON answer to a finished op.
std::string RenderControl(const ControlOp& op, const delivery::Suspensions& suspensions,
                          int64_t now_ms);

// A wall-clock time as a JSON string: "2026-12-07T14:00:00.000Z".
std::string JsonTime(int64_t wall_ms);

}  // namespace ringpost::shard
