// shard.cc — composition of one shard: see shard.h.
#include "relay/shard/shard.h"

#include <cstdio>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "queue/message_id.h"

namespace ringpost {
namespace {

uint64_t ToMs(absl::Duration d) {
  return static_cast<uint64_t>(absl::ToInt64Milliseconds(d));
}

constexpr uint64_t kCloseTimeoutMs = 5000;
constexpr uint64_t kDrainTickMs = 10;

}  // namespace

Shard::Shard(Shared* shared, int index)
    : shared_(shared),
      index_(index),
      mailbox_(shared->switchboard.get(), index, shared->config.max_cross_shard_backlog) {
  drain_timer_.context = this;
  drain_timer_.callback = [](runtime::Timer* t) { static_cast<Shard*>(t->context)->DrainTick(); };
}

std::shared_ptr<const server::SessionLimits> Shard::MakeLimits() const {
  auto limits = std::make_shared<server::SessionLimits>();
  limits->command_line_octets_max = config_.max_command_line;
  limits->text_line_octets_max = config_.max_line_length;
  limits->message_octets_max = config_.max_message_size;
  limits->recipients_max = config_.max_recipients;
  limits->hops_max = config_.max_hops;
  limits->postmaster =
      config_.postmaster.empty() ? "postmaster@" + shared_->hostname : config_.postmaster;
  return limits;
}

Shard::~Shard() = default;

void Shard::Start() {
  thread_ = std::thread([this] { ThreadMain(); });
}

void Shard::Join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::RequestStop() {
  if (loop_ != nullptr) loop_->RequestStop();
}

uint16_t Shard::bound_port(size_t listener) const {
  return server_ != nullptr ? server_->port(listener) : 0;
}

ShardStats Shard::stats() const {
  ShardStats s;
  if (intake_ != nullptr) {
    s.accepted = intake_->accepted();
    s.recovered = intake_->recovered();
  }
  if (scheduler_ != nullptr) {
    s.delivered = scheduler_->delivered();
    s.bounced = scheduler_->bounced();
    s.deferred = scheduler_->deferred();
    s.expired = scheduler_->expired();
  }
  return s;
}

int Shard::OwnerOf(const std::string& domain) const {
  return static_cast<int>(absl::Hash<std::string>()(domain) %
                          static_cast<size_t>(shared_->shards));
}

void Shard::ThreadMain() {
  absl::Status s = Setup();
  if (!s.ok()) {
    error_ = std::string(s.message());
    shared_->failed.fetch_add(1);
    return;
  }
  shared_->switchboard->Publish(index_, loop_.get());
  shared_->started.fetch_add(1);
  loop_->Run();
  shared_->stopped.fetch_add(1);
  if (outcomes_dropped_at_stop_ > 0) {
    fprintf(stderr,
            "ringpost: shard %d: drain timed out: %llu outcomes not journaled; those "
            "recipients are delivered again after the next start\n",
            index_, static_cast<unsigned long long>(outcomes_dropped_at_stop_));
  }
  const queue::Spool::Stats st = spool_->stats();
  const runtime::LoopStats& l = loop_->stats();
  fprintf(stderr,
          "ringpost: shard %d: %llu messages in %llu commits (max %llu per commit); "
          "%llu loop turns, %llu io_uring_enter, %llu SQEs, %llu wake-ups sent\n",
          index_, static_cast<unsigned long long>(st.messages_committed),
          static_cast<unsigned long long>(st.commits_issued),
          static_cast<unsigned long long>(st.max_records_per_commit),
          static_cast<unsigned long long>(l.turns), static_cast<unsigned long long>(l.enters),
          static_cast<unsigned long long>(l.submissions),
          static_cast<unsigned long long>(l.wakes_sent));
}

absl::Status Shard::Setup() {
  // Copied here, not in the constructor: main fills in the ports shard 0
  // bound (listen port 0) before the other shards start.
  config_ = shared_->config;
  limits_ = MakeLimits();
  const Config& c = config_;
  runtime::LoopOptions lo;
  lo.sq_entries = static_cast<unsigned>(c.sq_entries);
  lo.recv_buffers = static_cast<unsigned>(c.recv_buffers);
  lo.recv_buffer_bytes = static_cast<unsigned>(c.recv_buffer_bytes);
  lo.cpu = index_ % runtime::AvailableCpus();
  auto loop = runtime::Loop::Create(lo);
  if (!loop.ok()) return loop.status();
  loop_ = std::move(*loop);

  UringSpoolIo::Options io_options;
  // Without durability a write only has to reach the page cache: O_DIRECT
  // would make every commit wait for the device for nothing.
  io_options.direct = c.spool_direct_io && c.durability == Durability::kFsync;
  io_options.commit_seconds = &shared_->metrics[index_].commit;
  spool_io_ = std::make_unique<UringSpoolIo>(loop_.get(), io_options);
  queue::Spool::Options so;
  so.dir = c.spool;
  so.shard = index_;
  so.segment_bytes = c.segment_bytes;
  so.commit_max_bytes = c.commit_max_bytes;
  so.durable = c.durability == Durability::kFsync;
  const int shard_index = index_;
  so.log = [shard_index](std::string_view line) {
    fprintf(stderr, "ringpost: shard %d: spool: %.*s\n", shard_index,
            static_cast<int>(line.size()), line.data());
  };
  std::vector<queue::RecoveredMessage> recovered;
  auto spool = queue::Spool::Open(so, spool_io_.get(), &recovered);
  if (!spool.ok()) return spool.status();
  spool_ = std::move(*spool);
  log_ = std::make_unique<DeliveryLog>(
      loop_.get(), shared_->log_fd,
      static_cast<uint32_t>(absl::ToInt64Milliseconds(c.log_flush_interval)));

  if (shared_->mx_cache != nullptr) {
    dns::ResolverOptions ro;
    ro.servers = shared_->dns_servers.servers;
    ro.timeout_ms = ToMs(c.dns_timeout);
    ro.attempts = static_cast<uint32_t>(c.dns_attempts);
    auto resolver = delivery::DnsClient::Create(loop_.get(), ro);
    if (!resolver.ok()) return resolver.status();
    resolver_ = std::move(*resolver);
    dns::MxOptions mo;
    mo.dest_port = c.dest_port;
    mo.ipv6 = c.ipv6;
    mo.local = shared_->local_addresses;
    mx_ = std::make_unique<dns::MxResolver>(resolver_.get(), mo);
  }

  // The owners, each given only what it needs.
  inbound::IntakeOptions io;
  io.shard = index_;
  io.metrics = &shared_->metrics[index_].intake;
  io.queue_memory_share = c.max_queue_memory / static_cast<uint64_t>(shared_->shards);
  // Without durability a commit is a buffered write: nothing to save by waiting.
  if (c.durability == Durability::kFsync) {
    io.commit_delay_ns = static_cast<uint64_t>(absl::ToInt64Nanoseconds(c.commit_delay));
  }
  intake_ = std::make_unique<inbound::Intake>(io, loop_.get(), spool_.get(), log_.get(),
                                              &free_jobs_, static_cast<inbound::IntakeHost*>(this));
  notices_ = std::make_unique<inbound::Notices>(&config_, shared_->hostname, loop_.get(),
                                                intake_.get(), log_.get());
  inbound::ConnectionContext cc;
  cc.loop = loop_.get();
  cc.limits = limits_;
  cc.hostname = shared_->hostname;
  cc.submit = intake_.get();
  cc.log = log_.get();
  cc.tls = shared_->tls_server.get();
  if (!c.auth_users.empty()) {
    authenticator_ = std::make_unique<inbound::Authenticator>(c, &shared_->credentials);
    cc.auth = authenticator_.get();
  }
  server_ = std::make_unique<inbound::Server>(&config_, std::move(cc), &shared_->clients,
                                              &shared_->connections);
  tls::ClientContext::Options tls_options;
  tls_options.ca_file = c.tls_ca_file;
  tls_client_ = std::make_unique<tls::ClientContext>(tls_options);
  pool_ = std::make_unique<outbound::Pool>(loop_.get(), &config_, &shared_->limiters,
                                           shared_->helo_name, tls_client_.get(),
                                           static_cast<outbound::PoolHost*>(this));
  router_ = std::make_unique<delivery::Router>(&config_, index_, loop_.get(),
                                               shared_->mx_cache.get(), mx_.get(),
                                               static_cast<delivery::RouterHost*>(this));
  scheduler_ = std::make_unique<delivery::Scheduler>(&config_, index_, loop_.get(), log_.get(),
                                                     &free_jobs_,
                                                     static_cast<delivery::SchedulerHost*>(this),
                                                     &shared_->metrics[index_].delivery);
  if (shared_->bounce_rules != nullptr) scheduler_->SetBounceRules(shared_->bounce_rules);
  if (absl::Status s = server_->Listen(); !s.ok()) return s;
  if (index_ == 0 && !c.admin.empty()) {
    auto admin = shard::AdminEndpoint::Create(loop_.get(), shared_,
                                              static_cast<shard::AdminSource*>(this));
    if (!admin.ok()) return admin.status();
    admin_ = *std::move(admin);
  }

  // One loop turn, after the completions: a reload, MX answers for this
  // shard, items from other shards, then what this turn produced leaves —
  // cross-shard items to the rings, the group commit, the delivery log.
  router_->SetSuspensions(&shared_->suspensions);
  loop_->AddTurnHook([this] { TakeReload(); });
  loop_->AddTurnHook([this] { TakeControl(); });
  if (shared_->mx_cache != nullptr) {
    loop_->AddTurnHook([this] { shared_->mx_cache->DrainCompletions(index_); });
  }
  loop_->AddTurnHook([this] {
    mailbox_.Receive([this](const shard::CrossItem& item) {
      switch (item.kind()) {
        case shard::CrossItem::Kind::kJob:
          return scheduler_->Take(item.job());
        case shard::CrossItem::Kind::kOutcome:
          return notices_->Outcome(item.message(), item.rcpt(), item.outcome(), item.first());
        case shard::CrossItem::Kind::kReport:
          return notices_->Report(std::unique_ptr<AttemptReport>(item.report()));
      }
    });
  });
  loop_->AddTurnHook([this] {
    // /healthz: this loop turned (an idle loop turns at least every second).
    shared_->heartbeat_ms[index_].store(shard::SteadyMs(), std::memory_order_relaxed);
    PublishMetrics();
    mailbox_.Flush(loop_.get());
    intake_->FlushTurn(draining_);
    log_->Flush(/*force=*/draining_);
  });
  loop_->SetPendingWorkCheck([this] { return HasInboundWork(); });
  loop_->SetStopHandler([this] { StartDrain(); });

  // Recovery: every message with undone recipients goes back to delivery.
  intake_->Recover(recovered);
  if (!recovered.empty()) {
    fprintf(stderr, "ringpost: shard %d: recovered %zu queued messages\n", index_,
            recovered.size());
  }
  return absl::OkStatus();
}

// --- reload ------------------------------------------------------------------

// Between events on this thread: nothing holds a reference into config_
// across turns (the owners read it where they use it, and re-derive what
// they cache in Reconfigure).
void Shard::TakeReload() {
  if (shared_->reload_generation.load(std::memory_order_acquire) == generation_) return;
  std::shared_ptr<const Reloaded> r = shared_->CurrentReload();
  if (r == nullptr || r->generation == generation_) return;
  generation_ = r->generation;
  config_ = r->config;
  limits_ = MakeLimits();
  if (!config_.auth_users.empty() && authenticator_ == nullptr) {
    authenticator_ = std::make_unique<inbound::Authenticator>(config_, &shared_->credentials);
  }
  // Kept once made: sessions that offered AUTH still point to it.
  if (authenticator_ != nullptr) authenticator_->Reconfigure(config_);
  server_->Reconfigure(limits_, config_.auth_users.empty() ? nullptr : authenticator_.get());
  if (r->tls_client != nullptr) tls_client_->Replace(r->tls_client, r->tls_ca_error);
  router_->Reconfigure();
  pool_->Reconfigure(
      [this](std::string_view name) -> const delivery::PolicyPtr& {
        return router_->PolicyByName(name);
      });
  scheduler_->Reconfigure();
  if (r->bounce_rules != nullptr) scheduler_->SetBounceRules(r->bounce_rules);
  shared_->applied_generation[index_].store(generation_, std::memory_order_release);
}

// --- ports -------------------------------------------------------------------

void Shard::SendJob(DeliveryJob* job) { Send(OwnerOf(job->domain), shard::CrossItem::Job(job)); }

void Shard::SendOutcome(Message* msg, uint32_t rcpt, uint8_t kind, bool first) {
  Send(msg->origin, shard::CrossItem::Outcome(msg, rcpt, kind, first));
}

void Shard::SendReport(AttemptReport* report) {
  Send(report->message->origin, shard::CrossItem::Report(report));
}

void Shard::Send(int to, const shard::CrossItem& item) {
  if (settled_ && to != index_ && item.kind() != shard::CrossItem::Kind::kJob) {
    // Only after a timed-out drain: the origin may already have stopped.
    // Not journaled, so the next start delivers that recipient again.
    ++outcomes_dropped_at_stop_;
    if (item.kind() == shard::CrossItem::Kind::kReport) delete item.report();
    return;
  }
  mailbox_.Send(to, item);
}

bool Shard::HasInboundWork() {
  return mailbox_.HasIncoming() ||
         (shared_->mx_cache != nullptr && shared_->mx_cache->HasCompletions(index_));
}

absl::Status Shard::Backpressure() {
  if (mailbox_.OverBacklog()) {
    return absl::ResourceExhaustedError("cross-shard backlog full");
  }
  return absl::OkStatus();
}

// --- metrics -----------------------------------------------------------------

// --- queue operations ---------------------------------------------------------

void Shard::TakeControl() {
  if (shared_->control == nullptr) return;
  control_ops_.clear();
  shared_->control->Take(&control_seen_, &control_ops_);
  for (const std::shared_ptr<shard::ControlOp>& op : control_ops_) {
    if (!draining_) ApplyControl(*op);
    op->pending.fetch_sub(1, std::memory_order_acq_rel);
  }
  control_ops_.clear();
}

void Shard::ApplyControl(shard::ControlOp& op) {
  using Kind = shard::ControlOp::Kind;
  const std::string& domain = op.domain;
  auto matches = [&op](const DeliveryJob& j) {
    if (!op.domain.empty()) return j.domain == op.domain;
    if (!op.id.empty()) return queue::FormatMessageId(j.message->id) == op.id;
    if (!op.sender.empty()) return j.message->sender == op.sender;
    return true;
  };
  uint64_t count = 0;
  switch (op.kind) {
    case Kind::kSummary: {
      absl::flat_hash_map<std::string, shard::ControlOp::Row> rows;
      auto add = [&rows](const DeliveryJob& j, std::string_view policy, bool held) {
        shard::ControlOp::Row& r = rows[j.domain];
        r.domain = j.domain;
        r.queued += j.rcpts.size();
        if (r.oldest_ms == 0 || j.message->queued_at_ms < r.oldest_ms) {
          r.oldest_ms = j.message->queued_at_ms;
        }
        if (!policy.empty()) r.policy = std::string(policy);
        r.held = r.held || held;
      };
      pool_->ForEachReady([&](const DeliveryJob& j, std::string_view p) { add(j, p, false); });
      scheduler_->ForEachScheduled([&](const DeliveryJob& j) { add(j, "", false); });
      router_->ForEachHeld([&](const DeliveryJob& j) { add(j, "", true); });
      std::lock_guard<std::mutex> lock(op.mu);
      for (auto& [d, row] : rows) op.rows.push_back(std::move(row));
      return;
    }
    case Kind::kSuspend: {
      // Already registered (the endpoint did): what waits for the domain
      // in a site's queue is held too; new jobs are held as they come.
      std::vector<DeliveryJob*> jobs;
      pool_->TakeReady([&](const DeliveryJob& j) { return j.domain == domain; }, &jobs);
      for (DeliveryJob* job : jobs) {
        count += job->rcpts.size();
        router_->Hold(job);
      }
      break;
    }
    case Kind::kResume:
      count = router_->Release(domain) + scheduler_->Flush(domain);
      break;
    case Kind::kFlush:
      count = scheduler_->Flush(domain);
      break;
    case Kind::kBounce:
    case Kind::kDelete: {
      std::vector<DeliveryJob*> jobs;
      pool_->TakeReady(matches, &jobs);
      scheduler_->TakeScheduled(matches, &jobs);
      router_->TakeHeld(matches, &jobs);
      for (DeliveryJob* job : jobs) {
        count += job->rcpts.size();
        scheduler_->Cancel(job, /*notify=*/op.kind == Kind::kBounce);
      }
      break;
    }
    case Kind::kInspect: {
      std::vector<std::string> found;
      auto describe = [&](const DeliveryJob& j, std::string_view state, int64_t next_ms) {
        if (queue::FormatMessageId(j.message->id) != op.id) return;
        const Message& m = *j.message;
        std::string rcpts;
        for (uint32_t i : j.rcpts) {
          absl::StrAppend(&rcpts, rcpts.empty() ? "" : ",", JsonQuote(m.recipients[i]));
        }
        found.push_back(absl::StrCat(
            "{\"domain\":", JsonQuote(j.domain), ",\"state\":\"", std::string(state),
            "\",\"sender\":", JsonQuote(m.sender), ",\"recipients\":[", rcpts,
            "],\"size\":", m.content.size(), ",\"queued_at\":", shard::JsonTime(m.queued_at_ms),
            ",\"attempts\":", j.attempts, ",\"next_attempt\":",
            next_ms > 0 ? shard::JsonTime(next_ms) : std::string("null"), ",\"last_reply\":",
            j.last_reply.empty() ? std::string("null") : JsonQuote(j.last_reply), "}"));
      };
      const int64_t wall = loop_->wall_ms();
      const uint64_t mono = loop_->now_ms();
      pool_->ForEachReady([&](const DeliveryJob& j, std::string_view) { describe(j, "ready", 0); });
      scheduler_->ForEachScheduled([&](const DeliveryJob& j) {
        const uint64_t at = j.retry_timer.armed() ? j.retry_timer.deadline_ms() : mono;
        describe(j, "deferred", wall + static_cast<int64_t>(at > mono ? at - mono : 0));
      });
      router_->ForEachHeld([&](const DeliveryJob& j) { describe(j, "held", 0); });
      std::lock_guard<std::mutex> lock(op.mu);
      for (std::string& f : found) op.found.push_back(std::move(f));
      return;
    }
  }
  std::lock_guard<std::mutex> lock(op.mu);
  op.count += count;
}

void Shard::PublishMetrics() {
  shard::ShardMetrics& m = shared_->metrics[index_];
  m.inbound_connections.Set(server_->connections());
  m.outbound_connections.Set(pool_->connections());
  m.queued_recipients.Set(intake_->queued_recipients());
  const int64_t oldest = intake_->oldest_queued_at_ms();
  m.oldest_queued_at_ms.Set(oldest > 0 ? static_cast<uint64_t>(oldest) : 0);
  const runtime::LoopStats& l = loop_->stats();
  m.cq_overflow.Set(l.cq_overflow);
  m.recv_buffer_shortages.Set(l.recv_buffer_shortages);
  m.sq_full.Set(l.sq_full);
  // An idle loop turns every second, so this runs about once a second.
  if (loop_->now_ms() < next_slow_publish_ms_) return;
  next_slow_publish_ms_ = loop_->now_ms() + 1000;
  // Segment files are preallocated: each live one takes its full size.
  m.spool_used_bytes.Set(spool_->stats().segments_live * spool_->segment_file_bytes());
  top_scratch_.clear();
  pool_->TopSites(shard::kTopDestinations, &top_scratch_);
  m.top.Publish(&top_scratch_);
}

// --- drain -------------------------------------------------------------------

void Shard::StartDrain() {
  draining_ = true;
  if (resolver_ != nullptr) resolver_->Shutdown();
  server_->StartDrain();
  pool_->StartDrain();
  router_->StartDrain();
  scheduler_->StartDrain();
  drain_deadline_ms_ = loop_->now_ms() + ToMs(config_.drain_timeout);
  loop_->timers().Arm(&drain_timer_, loop_->now_ms() + kDrainTickMs);
}

// Drain ends in three steps, so every final outcome reaches its origin's
// journal before any shard stops: (1) a shard settles once its outbound
// transactions are done (or the drain timed out) and its backlog is in the
// rings — from then on it sends no outcome to another shard; (2) once every
// shard has settled, each one waits until its rings are empty, its spool
// has nothing staged or in flight and its log is written; (3) it closes
// what is left and stops.
void Shard::DrainTick() {
  const bool timed_out =
      loop_->now_ms() >= drain_deadline_ms_ || shared_->hurry.load(std::memory_order_relaxed);
  if (!settled_ && ((!pool_->Busy() && mailbox_.BacklogEmpty()) || timed_out)) {
    settled_ = true;
    shared_->settled.fetch_add(1);
  }
  const bool peers_done = shared_->settled.load() == shared_->shards;
  const bool quiet = !server_->AwaitingCommits() && !spool_->HasIoInFlight() && log_->idle() &&
                     !HasInboundWork() && (resolver_ == nullptr || resolver_->idle());
  if (closing_) {
    // Spool I/O still in flight (a commit, a new segment's zero-fill) is
    // waited for even after a drain that timed out or was hurried: its
    // buffers and callbacks must not outlive the loop.
    const bool idle = server_->empty() && !pool_->HasConnections() &&
                      (admin_ == nullptr || admin_->empty()) && !spool_->HasIoInFlight();
    if (idle || loop_->now_ms() >= close_deadline_ms_) {
      loop_->Quit();
      return;
    }
  } else if ((peers_done && quiet) || timed_out) {
    CloseAllConnections();
  }
  loop_->timers().Arm(&drain_timer_, loop_->now_ms() + kDrainTickMs);
}

void Shard::CloseAllConnections() {
  closing_ = true;
  close_deadline_ms_ = loop_->now_ms() + kCloseTimeoutMs;
  server_->AbortAll();
  pool_->AbortAll();
  if (admin_ != nullptr) admin_->Close();
}

void Shard::FreeAfterStop() {
  if (pool_ != nullptr) pool_->FreeQueued();
  if (scheduler_ != nullptr) scheduler_->FreeScheduled();
  if (router_ != nullptr) router_->FreeWaiting();
  mailbox_.ReleaseAll([](const shard::CrossItem& item) {
    if (item.kind() == shard::CrossItem::Kind::kJob) delete item.job();
    if (item.kind() == shard::CrossItem::Kind::kReport) delete item.report();
  });
  if (notices_ != nullptr) notices_->FreeAll();
  if (intake_ != nullptr) intake_->FreeAll();
}

}  // namespace ringpost
