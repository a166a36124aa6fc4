// admin_endpoint.cc — see admin_endpoint.h.
#include "relay/shard/admin_endpoint.h"

#include <array>
#include <chrono>
#include <span>
#include <string>
#include <utility>

#include "base/check.h"
#include "relay/admin/http.h"
#include "relay/admin/metrics_text.h"
#include "relay/shard/control.h"
#include "relay/shard/shard.h"

namespace ringpost::shard {

uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// One admin client: reads one request (bounded by admin::kMaxHead), writes
// one response, closes.
class AdminEndpoint::Conn final : public runtime::StreamHandler {
 public:
  Conn(AdminEndpoint* owner, int fd)
      : owner_(owner), stream_(new runtime::Stream(owner->loop_, fd, this)) {
    timer_.context = this;
    timer_.callback = [](runtime::Timer* t) {
      auto* c = static_cast<Conn*>(t->context);
      if (c->stream_ != nullptr) c->stream_->Abort(-ETIMEDOUT);
    };
    owner_->loop_->timers().Arm(&timer_, owner_->loop_->now_ms() + kRequestTimeoutMs);
    stream_->Start();
  }
  ~Conn() { owner_->loop_->timers().Disarm(&timer_); }

  void Close() {
    if (stream_ != nullptr) stream_->Abort(-ECANCELED);
  }

  void OnStreamData(std::string_view data) override {
    if (answered_) return;
    in_.append(data);
    const admin::ParseResult r = admin::ParseRequest(in_);
    if (r.status == admin::ParseStatus::kNeedMore) return;
    answered_ = true;
    stream_->PauseReading();
    if (r.status == admin::ParseStatus::kError) {
      stream_->Write(admin::Response(r.error_status, "text/plain; charset=utf-8",
                                     r.error + "\n", false, false));
    } else if (r.request.path.starts_with("/queue/")) {
      return StartControl(r.request);
    } else if (r.request.method == "POST") {
      stream_->Write(admin::Response(405, "text/plain; charset=utf-8",
                                     r.request.path + " takes GET\n", false, false,
                                     "GET, HEAD"));
    } else {
      const Page page = owner_->Serve(r.request.path);
      stream_->Write(admin::Response(page.status, page.content_type, page.body,
                                     r.request.method == "HEAD", false));
    }
    stream_->Close();
  }

  // A queue operation: posted to every shard; the answer waits (a 2 ms
  // poll on this loop) until each has applied it.
  void StartControl(const admin::Request& request) {
    runtime::Loop* loop = owner_->loop_;
    ControlRequest c = ParseControl(request.method, request.path, request.query, loop->wall_ms());
    if (c.op == nullptr) {
      stream_->Write(admin::Response(c.error_status, "text/plain; charset=utf-8",
                                     c.error + "\n", false, false, c.allow));
      stream_->Close();
      return;
    }
    Shared* shared = owner_->shared_;
    if (shared->control == nullptr) {
      stream_->Write(admin::Response(503, "text/plain; charset=utf-8",
                                     "queue operations are not available\n", false, false));
      stream_->Close();
      return;
    }
    head_ = request.method == "HEAD";
    op_ = std::move(c.op);
    if (op_->kind == ControlOp::Kind::kSuspend) {
      shared->suspensions.Set(op_->domain, {op_->until_ms, "operator", "suspended by the operator"});
    } else if (op_->kind == ControlOp::Kind::kResume) {
      shared->suspensions.Erase(op_->domain);
    }
    shared->control->Post(op_);
    owner_->source_->WakeShards();
    deadline_ms_ = loop->now_ms() + kControlTimeoutMs;
    loop->timers().Disarm(&timer_);
    timer_.callback = [](runtime::Timer* t) { static_cast<Conn*>(t->context)->PollControl(); };
    loop->timers().Arm(&timer_, loop->now_ms() + 2);
  }

  void PollControl() {
    if (stream_ == nullptr) return;
    runtime::Loop* loop = owner_->loop_;
    if (op_->pending.load(std::memory_order_acquire) > 0) {
      if (loop->now_ms() < deadline_ms_) {
        loop->timers().Arm(&timer_, loop->now_ms() + 2);
        return;
      }
      stream_->Write(admin::Response(504, "text/plain; charset=utf-8",
                                     "not every shard answered in time\n", false, false));
    } else if (op_->kind == ControlOp::Kind::kInspect && op_->found.empty()) {
      stream_->Write(admin::Response(404, "application/json",
                                     "{\"error\":\"no queued mail with that id\"}\n", head_,
                                     false));
    } else {
      std::lock_guard<std::mutex> lock(op_->mu);
      stream_->Write(admin::Response(
          200, "application/json",
          RenderControl(*op_, owner_->shared_->suspensions, loop->wall_ms()), head_, false));
    }
    stream_->Close();
  }

  void OnStreamClosed(int) override {
    stream_->Release();
    stream_ = nullptr;
    AdminEndpoint* owner = owner_;
    owner->Closed(this);  // deletes this
  }

 private:
  AdminEndpoint* owner_;
  runtime::Stream* stream_;
  runtime::Timer timer_;
  std::string in_;
  bool answered_ = false;
  std::shared_ptr<ControlOp> op_;  // a queue operation under way
  uint64_t deadline_ms_ = 0;
  bool head_ = false;
};

absl::StatusOr<std::unique_ptr<AdminEndpoint>> AdminEndpoint::Create(runtime::Loop* loop,
                                                                     Shared* shared,
                                                                     AdminSource* source) {
  auto addr = runtime::ParseHostPort(shared->config.admin);
  if (!addr.ok()) return addr.status();
  std::unique_ptr<AdminEndpoint> endpoint(new AdminEndpoint(loop, shared, source));
  AdminEndpoint* e = endpoint.get();
  auto listener = runtime::Listener::Create(loop, *addr, 64, [e](int fd) { e->Accept(fd); });
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        "admin " + shared->config.admin + ": " +
                            std::string(listener.status().message()));
  }
  endpoint->listener_ = *std::move(listener);
  return endpoint;
}

AdminEndpoint::~AdminEndpoint() {
  for (Conn* c : conns_) delete c;
}

void AdminEndpoint::Close() {
  if (listener_ != nullptr) listener_->Close();
  std::vector<Conn*> conns(conns_.begin(), conns_.end());
  for (Conn* c : conns) c->Close();
}

void AdminEndpoint::Accept(int fd) { conns_.insert(new Conn(this, fd)); }

void AdminEndpoint::Closed(Conn* conn) {
  conns_.erase(conn);
  delete conn;
}

AdminEndpoint::Page AdminEndpoint::Serve(std::string_view path) const {
  if (path == "/healthz") return Health();
  if (path == "/readyz") return Readiness();
  if (path == "/metrics") return Metrics();
  return Page{404, "text/plain; charset=utf-8", "not found: /healthz, /readyz, /metrics\n"};
}

AdminEndpoint::Page AdminEndpoint::Health() const {
  const uint64_t now = SteadyMs();
  std::string stalled;
  for (int i = 0; i < shared_->shards; i++) {
    const uint64_t beat = shared_->heartbeat_ms[i].load(std::memory_order_relaxed);
    if (now > beat + kStallMs) {
      stalled += " shard " + std::to_string(i) + " (no loop turn for " +
                 std::to_string((now - beat) / 1000) + " s)";
    }
  }
  if (!stalled.empty()) return Page{503, "text/plain; charset=utf-8", "stalled:" + stalled + "\n"};
  return Page{200, "text/plain; charset=utf-8", "ok\n"};
}

AdminEndpoint::Page AdminEndpoint::Readiness() const {
  if (shared_->draining.load(std::memory_order_relaxed)) {
    return Page{503, "text/plain; charset=utf-8", "draining\n"};
  }
  if (!source_->SpoolAvailable()) {
    return Page{503, "text/plain; charset=utf-8", "the spool cannot take mail\n"};
  }
  if (const std::string error = shared_->ReloadError(); !error.empty()) {
    return Page{503, "text/plain; charset=utf-8",
                "the last reload failed (still running the previous configuration): " + error +
                    "\n"};
  }
  return Page{200, "text/plain; charset=utf-8", "ready\n"};
}

namespace {

// A histogram's bounds in seconds, as the text writer wants them.
template <size_t N>
std::array<double, N> Seconds(const std::array<uint64_t, N>& ns) {
  std::array<double, N> s{};
  for (size_t i = 0; i < N; ++i) s[i] = static_cast<double>(ns[i]) / 1e9;
  return s;
}

const std::array<double, runtime::kShortLatencyBoundsNs.size()> kShortBoundsSeconds =
    Seconds(runtime::kShortLatencyBoundsNs);
const std::array<double, runtime::kLongLatencyBoundsNs.size()> kLongBoundsSeconds =
    Seconds(runtime::kLongLatencyBoundsNs);

void WriteHistogram(admin::MetricsWriter& w, std::string_view name, const std::string& shard,
                    const runtime::Histogram& h) {
  const bool short_layout = h.bounds().data() == runtime::kShortLatencyBoundsNs.data();
  CHECK(short_layout || h.bounds().data() == runtime::kLongLatencyBoundsNs.data());
  const std::span<const double> bounds =
      short_layout ? std::span<const double>(kShortBoundsSeconds)
                   : std::span<const double>(kLongBoundsSeconds);
  std::array<uint64_t, runtime::Histogram::kMaxBounds + 1> counts{};
  for (size_t i = 0; i <= h.bounds().size(); ++i) counts[i] = h.count(i);
  w.Histogram(name, {{"shard", shard}}, bounds,
              std::span<const uint64_t>(counts.data(), h.bounds().size() + 1),
              static_cast<double>(h.sum_ns()) / 1e9);
}

}  // namespace

// Every family, in this order: mail (messages, recipients, latencies,
// queue), connections, spool, DNS, the loops. Per-shard series carry a
// `shard` label; totals are `sum without (shard)` in PromQL. Everything
// comes from the shards' metric blocks and Shared's atomics.
AdminEndpoint::Page AdminEndpoint::Metrics() const {
  admin::MetricsWriter w;
  const int n = shared_->shards;
  std::vector<std::string> names;
  for (int i = 0; i < n; i++) names.push_back(std::to_string(i));
  const ShardMetrics* m = shared_->metrics.get();
  // One family of one sample per shard.
  auto per_shard = [&](std::string_view name, std::string_view type, std::string_view help,
                       auto value) {
    w.Family(name, type, help);
    for (int i = 0; i < n; i++) {
      w.Sample(name, {{"shard", names[i]}}, static_cast<uint64_t>(value(m[i])));
    }
  };

  per_shard("ringpost_messages_accepted_total", "counter",
            "Messages accepted (answered 250 after the spool commit).",
            [](const ShardMetrics& s) { return s.intake.accepted.value(); });
  per_shard("ringpost_messages_recovered_total", "counter",
            "Messages read back from the spool at start with recipients still to do.",
            [](const ShardMetrics& s) { return s.intake.recovered.value(); });
  w.Family("ringpost_recipient_outcomes_total", "counter",
           "Recipient outcomes, on the shard that owns the domain: delivered, bounced and "
           "expired are final; deferred counts each temporary failure.");
  for (int i = 0; i < n; i++) {
    const delivery::SchedulerMetrics& d = m[i].delivery;
    const std::pair<const char*, uint64_t> outcomes[] = {{"delivered", d.delivered.value()},
                                                         {"bounced", d.bounced.value()},
                                                         {"deferred", d.deferred.value()},
                                                         {"expired", d.expired.value()}};
    for (const auto& [outcome, count] : outcomes) {
      w.Sample("ringpost_recipient_outcomes_total", {{"shard", names[i]}, {"outcome", outcome}},
               count);
    }
  }
  w.Family("ringpost_acceptance_duration_seconds", "histogram",
           "From the end of a message's data to its 250 being queued: the wait for the group "
           "commit.");
  for (int i = 0; i < n; i++) {
    WriteHistogram(w, "ringpost_acceptance_duration_seconds", names[i], m[i].intake.acceptance);
  }
  w.Family("ringpost_spool_commit_duration_seconds", "histogram",
           "One spool group commit (write and sync), from its submission to its completion.");
  for (int i = 0; i < n; i++) {
    WriteHistogram(w, "ringpost_spool_commit_duration_seconds", names[i], m[i].commit);
  }
  w.Family("ringpost_delivery_duration_seconds", "histogram",
           "From a message's reception to a recipient's delivery, retries included.");
  for (int i = 0; i < n; i++) {
    WriteHistogram(w, "ringpost_delivery_duration_seconds", names[i], m[i].delivery.delivery);
  }
  per_shard("ringpost_queue_depth", "gauge",
            "Recipients without a final outcome (waiting or in flight), by the shard whose "
            "spool holds their message.",
            [](const ShardMetrics& s) { return s.queued_recipients.value(); });
  const int64_t now_ms = loop_->wall_ms();
  w.Family("ringpost_queue_oldest_age_seconds", "gauge",
           "Age of the oldest message with recipients still queued (0: none); the overall "
           "figure is max without (shard).");
  for (int i = 0; i < n; i++) {
    const uint64_t at = m[i].oldest_queued_at_ms.value();
    const int64_t age = at == 0 ? 0 : now_ms - static_cast<int64_t>(at);
    w.Sample("ringpost_queue_oldest_age_seconds", {{"shard", names[i]}},
             age > 0 ? static_cast<double>(age) / 1000.0 : 0.0);
  }
  std::vector<std::vector<Destination>> tops;
  for (int i = 0; i < n; i++) tops.push_back(m[i].top.Get());
  w.Family("ringpost_destination_queue_depth", "gauge",
           "The destinations (outbound site: route host:port or MX site) with the most "
           "recipients waiting in their queue or in flight, at most 10, updated every second.");
  for (const auto& [destination, depth] : MergeTopDestinations(tops, kTopDestinations)) {
    w.Sample("ringpost_destination_queue_depth", {{"destination", destination}}, depth);
  }
  per_shard("ringpost_inbound_connections", "gauge", "Open inbound SMTP connections.",
            [](const ShardMetrics& s) { return s.inbound_connections.value(); });
  per_shard("ringpost_outbound_connections", "gauge",
            "Open outbound SMTP connections (connecting included).",
            [](const ShardMetrics& s) { return s.outbound_connections.value(); });
  per_shard("ringpost_spool_used_bytes", "gauge",
            "Disk taken by the shard's live spool segment and journal files (preallocated).",
            [](const ShardMetrics& s) { return s.spool_used_bytes.value(); });
  if (shared_->spool_disk.sampled.load(std::memory_order_relaxed)) {
    w.Family("ringpost_spool_free_bytes", "gauge",
             "Space left for ringpost on the spool's file system (statvfs f_bavail, sampled "
             "every second).");
    w.Sample("ringpost_spool_free_bytes", {},
             shared_->spool_disk.free_bytes.load(std::memory_order_relaxed));
  }
  if (shared_->mx_cache != nullptr) {
    const dns::MxCacheStats c = shared_->mx_cache->Stats();
    w.Family("ringpost_dns_cache_lookups_total", "counter",
             "MX cache lookups by result: hit (fresh), stale (served past its TTL while "
             "refreshes fail), miss (waited for DNS).");
    w.Sample("ringpost_dns_cache_lookups_total", {{"result", "hit"}}, c.hits);
    w.Sample("ringpost_dns_cache_lookups_total", {{"result", "stale"}}, c.stale_serves);
    w.Sample("ringpost_dns_cache_lookups_total", {{"result", "miss"}}, c.misses);
  }
  per_shard("ringpost_io_uring_cq_overflow_total", "counter",
            "Completions the kernel could not post because the completion queue was full "
            "(its overflow counter).",
            [](const ShardMetrics& s) { return s.cq_overflow.value(); });
  per_shard("ringpost_io_uring_recv_buffer_shortages_total", "counter",
            "Receives that found no provided buffer free (ENOBUFS) and waited for one.",
            [](const ShardMetrics& s) { return s.recv_buffer_shortages.value(); });
  per_shard("ringpost_io_uring_sq_full_total", "counter",
            "Times the submission queue was full and had to be submitted early.",
            [](const ShardMetrics& s) { return s.sq_full.value(); });
  w.Family("ringpost_loop_heartbeat_age_seconds", "gauge",
           "Time since each shard's loop last turned (an idle loop turns every second).");
  const uint64_t now = SteadyMs();
  for (int i = 0; i < n; i++) {
    const uint64_t beat = shared_->heartbeat_ms[i].load(std::memory_order_relaxed);
    w.Sample("ringpost_loop_heartbeat_age_seconds", {{"shard", names[i]}},
             now > beat ? static_cast<double>(now - beat) / 1000.0 : 0.0);
  }
  w.Family("ringpost_draining", "gauge", "1 from the first SIGTERM/SIGINT on.");
  w.Sample("ringpost_draining", {},
           static_cast<uint64_t>(shared_->draining.load(std::memory_order_relaxed) ? 1 : 0));
  return Page{200, std::string(admin::kMetricsContentType), w.Take()};
}

}  // namespace ringpost::shard
