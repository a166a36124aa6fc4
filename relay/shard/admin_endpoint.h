// relay/shard/admin_endpoint.h — the admin HTTP endpoint (`admin` address),
// served by shard 0 on its own ring: GET /healthz, /readyz and /metrics.
//
// Requests are read with relay/admin/http (strict, bounded: a bad or
// oversized request gets 400/405/413/414/431/505 and the connection
// closes); every response closes its connection. It reads the other shards
// only through Shared: their heartbeats and metric blocks
// (relay/shard/metrics.h), so it never touches their loops or owners.
//
//   /healthz  200 while every shard's loop turns; 503 naming a shard whose
//             loop has not turned for kStallMs.
//   /readyz   200, or 503 while draining, when shard 0's spool cannot
//             take mail (disk full, segment errors), or after a SIGHUP
//             whose configuration was refused (until one is taken).
//   /metrics  Prometheus text: messages, recipient outcomes, latency
//             histograms, queue depth (per shard and top destinations),
//             connections, spool space, DNS cache, io_uring health, loop
//             heartbeats, draining (docs/operations.md lists them).
//   /queue/…  queue operations (relay/shard/control.h): posted to every
//             shard, answered (JSON) once each has applied it, or 504
//             after kControlTimeoutMs.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"

namespace ringpost {

struct Shared;

namespace shard {

// What the endpoint reports about the process: shard 0 fills it in.
class AdminSource {
 public:
  // Whether the spool of the shard serving the endpoint can take mail now.
  virtual bool SpoolAvailable() = 0;
  // Wakes every other shard's loop (a queue operation was posted).
  virtual void WakeShards() = 0;

 protected:
  ~AdminSource() = default;
};

class AdminEndpoint {
 public:
  // A shard whose loop has not turned for this long is reported stalled.
  static constexpr uint64_t kStallMs = 5000;
  // A connection that has not sent a whole request by then is closed.
  static constexpr uint64_t kRequestTimeoutMs = 10000;
  // A queue operation every shard has not applied by then gets 504.
  static constexpr uint64_t kControlTimeoutMs = 10000;

  static absl::StatusOr<std::unique_ptr<AdminEndpoint>> Create(runtime::Loop* loop,
                                                               Shared* shared,
                                                               AdminSource* source);
  ~AdminEndpoint();
  // Stops accepting and closes every connection (drain).
  void Close();
  bool empty() const { return conns_.empty(); }

  // What each endpoint answers.
  struct Page {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  Page Health() const;
  Page Readiness() const;
  Page Metrics() const;
  Page Serve(std::string_view path) const;

 private:
  class Conn;
  AdminEndpoint(runtime::Loop* loop, Shared* shared, AdminSource* source)
      : loop_(loop), shared_(shared), source_(source) {}
  void Accept(int fd);
  void Closed(Conn* conn);

  runtime::Loop* loop_;
  Shared* shared_;
  AdminSource* source_;
  std::unique_ptr<runtime::Listener> listener_;
  absl::flat_hash_set<Conn*> conns_;
};

// Milliseconds of a clock every thread reads alike (heartbeats).
uint64_t SteadyMs();

}  // namespace shard
}  // namespace ringpost
