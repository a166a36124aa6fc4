// relay/shard/shard.h — one shard: a pinned thread running one io_uring
// loop, and the composition of the owners that share it. Which owner holds
// what (docs/architecture.md draws the path):
//
//   inbound::Server     listeners, client connections, connection limits
//   inbound::Intake     spool group commit, reception, retirement of messages
//   Mailbox             typed jobs and outcomes to and from other shards
//   delivery::Scheduler jobs of the domains this shard owns: attempts,
//                       outcome policy, retry timers, final outcomes
//   delivery::Router    domain → destination (routes, MX through the cache)
//   outbound::Pool      destinations, their queues and connection pools
//
// The owners know nothing of each other or of the shard: each takes a
// narrow host interface, and the shard implements those by forwarding to
// the owner that does the work. One loop turn: MX completions, received
// cross-shard items, the backlog flushed to the rings, the group commit,
// the delivery log.
//
// Only the owner of a destination (hash of the domain) ever touches its
// queue and connections, so per-destination limits hold with no locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "dns/mx.h"
#include "dns/mx_cache.h"
#include "dns/resolv_conf.h"
#include "queue/spool.h"
#include "relay/config/config.h"
#include "relay/delivery/delivery_log.h"
#include "relay/delivery/dns_client.h"
#include "relay/delivery/limiter.h"
#include "relay/delivery/message.h"
#include "relay/delivery/router.h"
#include "relay/delivery/scheduler.h"
#include "relay/inbound/client_counter.h"
#include "relay/inbound/intake.h"
#include "relay/inbound/notices.h"
#include "relay/inbound/server.h"
#include "relay/outbound/pool.h"
#include "relay/runtime/free_list.h"
#include "relay/runtime/loop.h"
#include "relay/inbound/authenticator.h"
#include "relay/shard/admin_endpoint.h"
#include "relay/tls/context.h"
#include "relay/shard/control.h"
#include "relay/shard/cross_shard.h"
#include "relay/shard/metrics.h"
#include "relay/spool/uring_spool_io.h"

namespace ringpost {

class Shard;

// What a SIGHUP hands the shards (main builds it off the shards' threads).
struct Reloaded {
  uint64_t generation = 0;
  Config config;  // the file's, with restart-only settings as running
  // Outbound TLS with tls_ca_file read again (NewClientCtx).
  std::shared_ptr<ssl_ctx_st> tls_client;
  std::string tls_ca_error;
  std::shared_ptr<const delivery::BounceRules> bounce_rules;  // bounce_rules, read again
};

// Everything shards share: the config, the switchboard, counters.
struct Shared {
  // As at start: what the shards were built from. Each shard keeps its own
  // copy of the live settings, replaced when a reload is published.
  Config config;
  int shards = 1;
  std::string hostname;
  // Outbound EHLO name: hostname when it is fully qualified; empty means
  // each connection names its own address as a literal (RFC 5321 4.1.4).
  std::string helo_name;
  int log_fd = -1;
  // Inbound TLS (null without tls_cert) and AUTH credentials: main loads
  // both at start and again on SIGHUP.
  std::unique_ptr<tls::ServerContext> tls_server;
  inbound::CredentialSource credentials;
  // Bounce classification (bounce_rules, or the built-in rules): main
  // loads it at start; a reload hands new rules through Reloaded.
  std::shared_ptr<const delivery::BounceRules> bounce_rules;
  std::unique_ptr<shard::Switchboard> switchboard;
  // Per-destination budgets (connections, paces) every shard's pool
  // counts against (relay/delivery/limiter.h).
  delivery::Limiters limiters;
  // Queue operations from the admin port (relay/shard/control.h), and the
  // domains they suspended. main makes the board.
  std::unique_ptr<shard::ControlBoard> control;
  delivery::Suspensions suspensions;
  std::vector<Shard*> shard_list;
  inbound::ClientCounter clients;
  std::atomic<int> started{0};
  std::atomic<int> failed{0};
  // Drain: shards that will send no more cross-shard outcomes (their
  // outbound work ended and their backlogs are in the rings).
  std::atomic<int> settled{0};
  // A second SIGTERM/SIGINT: in-flight deliveries are not waited for (their
  // messages stay queued; nothing acknowledged is lost).
  std::atomic<bool> hurry{false};
  // Shard threads that finished (main waits on it while it handles signals).
  std::atomic<int> stopped{0};
  // /readyz: 503 from the first SIGTERM/SIGINT on (main sets it).
  std::atomic<bool> draining{false};
  // Per shard: when its loop last turned (shard::SteadyMs), for /healthz.
  std::unique_ptr<std::atomic<uint64_t>[]> heartbeat_ms;
  // Per shard: its /metrics block (relay/shard/metrics.h), and the spool
  // file system's free space, which main samples.
  std::unique_ptr<shard::ShardMetrics[]> metrics;
  shard::SpoolDisk spool_disk;
  std::atomic<int> connections{0};
  // MX resolution: one cache for the process; servers read at start-up.
  // mx_cache is null when no DNS server is configured (routes only).
  std::unique_ptr<dns::MxCache> mx_cache;
  dns::ServerConfig dns_servers;
  std::shared_ptr<const dns::LocalAddresses> local_addresses;

  // SIGHUP. Main publishes; each shard takes the newest at the start of its
  // next loop turn (an idle loop turns every second) and records its
  // generation in applied_generation[shard].
  void PublishReload(std::shared_ptr<Reloaded> r) {
    std::lock_guard<std::mutex> lock(reload_mu_);
    r->generation = reload_generation.load() + 1;
    reloaded_ = std::move(r);
    reload_generation.store(reloaded_->generation, std::memory_order_release);
  }
  std::shared_ptr<const Reloaded> CurrentReload() const {
    std::lock_guard<std::mutex> lock(reload_mu_);
    return reloaded_;
  }
  std::atomic<uint64_t> reload_generation{0};
  std::unique_ptr<std::atomic<uint64_t>[]> applied_generation;
  // Why the last reload was refused ("" once one succeeds): /readyz is 503
  // with it, so the operator (and the balancer) notice.
  void SetReloadError(std::string error) {
    std::lock_guard<std::mutex> lock(reload_mu_);
    reload_error_ = std::move(error);
  }
  std::string ReloadError() const {
    std::lock_guard<std::mutex> lock(reload_mu_);
    return reload_error_;
  }

 private:
  mutable std::mutex reload_mu_;
  std::shared_ptr<const Reloaded> reloaded_;  // guarded by reload_mu_
  std::string reload_error_;                  // guarded by reload_mu_
};

struct ShardStats {
  uint64_t accepted = 0;
  uint64_t delivered = 0;
  uint64_t bounced = 0;
  uint64_t deferred = 0;
  uint64_t expired = 0;
  uint64_t recovered = 0;
};

class Shard final : private inbound::IntakeHost,
                    private delivery::SchedulerHost,
                    private delivery::RouterHost,
                    private outbound::PoolHost,
                    private shard::AdminSource {
 public:
  Shard(Shared* shared, int index);
  ~Shard();

  // Starts the thread; it reports through shared->started / failed.
  void Start();
  void RequestStop();
  void Join();
  // After every shard thread has exited: frees what is still in memory
  // (queued jobs, ring contents, live messages). The spool keeps the truth.
  void FreeAfterStop();
  const std::string& error() const { return error_; }
  int index() const { return index_; }
  uint16_t bound_port(size_t listener) const;
  ShardStats stats() const;
  // On this shard's thread, through the MX cache's wake hook: wake `to` at
  // the end of this turn (this shard queued a DNS completion for it).
  void RequestWake(int to) { mailbox_.RequestWake(to); }

 private:
  void ThreadMain();
  absl::Status Setup();
  int OwnerOf(const std::string& domain) const;
  void Send(int to, const shard::CrossItem& item);
  // Cross-shard items or MX answers wait to be handled on this shard.
  bool HasInboundWork();
  // SIGHUP: takes a newer published reload, if any (top of each turn).
  void TakeReload();
  std::shared_ptr<const server::SessionLimits> MakeLimits() const;
  void StartDrain();
  void DrainTick();
  void CloseAllConnections();
  // Once per loop turn: this shard's state into its metrics block; once a
  // second, its spool size and top destinations too.
  void PublishMetrics();

  // shard::AdminSource
  bool SpoolAvailable() override { return intake_->CanAccept().ok(); }
  void WakeShards() override {
    for (int i = 0; i < shared_->shards; ++i) {
      if (i != index_) mailbox_.RequestWake(i);
    }
  }
  // Queue operations: the ops posted since the last turn, applied here.
  void TakeControl();
  void ApplyControl(shard::ControlOp& op);

  // inbound::IntakeHost
  void SendJob(DeliveryJob* job) override;
  absl::Status Backpressure() override;
  size_t InboundConnections() override { return server_->connections(); }
  // delivery::SchedulerHost
  void Route(DeliveryJob* job) override { router_->Route(job); }
  void SendOutcome(Message* msg, uint32_t rcpt, uint8_t kind, bool first) override;
  void SendReport(AttemptReport* report) override;
  // delivery::RouterHost
  outbound::Site* Destination(std::string_view key, const Targets* targets,
                              const delivery::PolicyPtr& policy) override {
    return pool_->Destination(key, targets, policy);
  }
  void Enqueue(outbound::Site* site, DeliveryJob* job) override { pool_->Enqueue(site, job); }
  void RouteFailed(DeliveryJob* job, const delivery::Status& status,
                   std::string_view text) override {
    scheduler_->Fail(job, "", status, text);
  }
  void Drop(DeliveryJob* job) override { scheduler_->Drop(job); }
  // outbound::PoolHost
  void Outcomes(DeliveryJob* job, const std::string& peer,
                std::vector<client::RecipientOutcome>& outcomes) override {
    scheduler_->Outcomes(job, peer, outcomes);
  }
  void Deferred(DeliveryJob* job, const std::string& peer, const delivery::Status& status,
                std::string_view text) override {
    scheduler_->Fail(job, peer, status, text);
  }

  Shared* shared_;
  // The live settings (from Setup on): the owners point here; replaced by
  // TakeReload.
  Config config_;
  uint64_t generation_ = 0;  // of the reload config_ came from
  int index_;
  std::thread thread_;
  std::string error_;
  std::shared_ptr<const server::SessionLimits> limits_;
  shard::Mailbox mailbox_;
  runtime::FreeList<DeliveryJob> free_jobs_{4096};
  // Made by Setup, on the shard's thread, in this order.
  std::unique_ptr<runtime::Loop> loop_;
  std::unique_ptr<UringSpoolIo> spool_io_;
  std::unique_ptr<queue::Spool> spool_;
  std::unique_ptr<DeliveryLog> log_;
  std::unique_ptr<delivery::DnsClient> resolver_;
  std::unique_ptr<dns::MxResolver> mx_;
  std::unique_ptr<inbound::Intake> intake_;
  std::unique_ptr<inbound::Notices> notices_;
  std::unique_ptr<shard::AdminEndpoint> admin_;  // shard 0 only
  std::unique_ptr<inbound::Authenticator> authenticator_;
  std::unique_ptr<inbound::Server> server_;
  std::unique_ptr<tls::ClientContext> tls_client_;
  std::unique_ptr<outbound::Pool> pool_;
  std::unique_ptr<delivery::Router> router_;
  std::unique_ptr<delivery::Scheduler> scheduler_;
  // Drain.
  bool draining_ = false;
  bool closing_ = false;  // drain done: closing every connection
  bool settled_ = false;  // no more outcomes to other shards
  uint64_t close_deadline_ms_ = 0;
  uint64_t drain_deadline_ms_ = 0;
  uint64_t outcomes_dropped_at_stop_ = 0;
  runtime::Timer drain_timer_;
  // Metrics: when the once-a-second part is due, and its scratch list.
  uint64_t next_slow_publish_ms_ = 0;
  uint64_t control_seen_ = 0;  // the last ControlBoard op taken
  std::vector<std::shared_ptr<shard::ControlOp>> control_ops_;  // scratch
  std::vector<shard::Destination> top_scratch_;
};

}  // namespace ringpost
