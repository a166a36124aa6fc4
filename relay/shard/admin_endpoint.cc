// admin_endpoint.cc — see admin_endpoint.h.
#include "relay/shard/admin_endpoint.h"

#include <chrono>
#include <string>
#include <utility>

#include "relay/admin/http.h"
#include "relay/admin/metrics_text.h"
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
    } else {
      const Page page = owner_->Serve(r.request.path);
      stream_->Write(admin::Response(page.status, page.content_type, page.body,
                                     r.request.method == "HEAD", false));
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
};

absl::StatusOr<std::unique_ptr<AdminEndpoint>> AdminEndpoint::Create(runtime::Loop* loop,
                                                                     const Shared* shared,
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

AdminEndpoint::Page AdminEndpoint::Metrics() const {
  admin::MetricsWriter w;
  std::vector<ShardStats> stats;
  std::vector<std::string> names;
  for (int i = 0; i < shared_->shards; i++) {
    stats.push_back(shared_->shard_list[i]->stats());
    names.push_back(std::to_string(i));
  }
  w.Family("ringpost_messages_accepted_total", "counter",
           "Messages accepted (250 after the spool commit), by shard.");
  for (size_t i = 0; i < stats.size(); i++) {
    w.Sample("ringpost_messages_accepted_total", {{"shard", names[i]}}, stats[i].accepted);
  }
  w.Family("ringpost_recipient_outcomes_total", "counter",
           "Recipient outcomes by class: delivered, bounced and expired are final; deferred "
           "counts each temporary failure.");
  for (size_t i = 0; i < stats.size(); i++) {
    const std::pair<const char*, uint64_t> outcomes[] = {{"delivered", stats[i].delivered},
                                                         {"bounced", stats[i].bounced},
                                                         {"deferred", stats[i].deferred},
                                                         {"expired", stats[i].expired}};
    for (const auto& [outcome, n] : outcomes) {
      w.Sample("ringpost_recipient_outcomes_total", {{"shard", names[i]}, {"outcome", outcome}},
               n);
    }
  }
  w.Family("ringpost_inbound_connections", "gauge", "Open inbound SMTP connections.");
  w.Sample("ringpost_inbound_connections", {},
           static_cast<uint64_t>(shared_->connections.load(std::memory_order_relaxed)));
  w.Family("ringpost_loop_heartbeat_age_seconds", "gauge",
           "Time since each shard's loop last turned (an idle loop turns every second).");
  const uint64_t now = SteadyMs();
  for (int i = 0; i < shared_->shards; i++) {
    const uint64_t beat = shared_->heartbeat_ms[i].load(std::memory_order_relaxed);
    w.Sample("ringpost_loop_heartbeat_age_seconds", {{"shard", names[i]}},
             now > beat ? static_cast<double>(now - beat) / 1000.0 : 0.0);
  }
  if (shared_->mx_cache != nullptr) {
    const dns::MxCacheStats m = shared_->mx_cache->Stats();
    w.Family("ringpost_dns_cache_lookups_total", "counter",
             "MX cache lookups by result: hit (fresh), stale (served past its TTL while "
             "refreshes fail), miss (waited for DNS).");
    w.Sample("ringpost_dns_cache_lookups_total", {{"result", "hit"}}, m.hits);
    w.Sample("ringpost_dns_cache_lookups_total", {{"result", "stale"}}, m.stale_serves);
    w.Sample("ringpost_dns_cache_lookups_total", {{"result", "miss"}}, m.misses);
  }
  w.Family("ringpost_draining", "gauge", "1 from the first SIGTERM/SIGINT on.");
  w.Sample("ringpost_draining", {},
           static_cast<uint64_t>(shared_->draining.load(std::memory_order_relaxed) ? 1 : 0));
  return Page{200, std::string(admin::kMetricsContentType), w.Take()};
}

}  // namespace ringpost::shard
