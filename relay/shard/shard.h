// shard.h — one shard: a pinned thread running one io_uring loop that owns
// its listeners, inbound sessions, spool segments, destination queues and
// outbound connections.
//
// A message's path (docs/architecture.md draws it):
//   listener (SO_REUSEPORT, this shard) → Session → spool group commit
//   (one write + one fdatasync per loop turn) → 250 to the client →
//   for each recipient domain, the OWNER shard (hash of the domain) gets a
//   DeliveryJob through the SPSC ring from this shard to it (MSG_RING wakes
//   it only when it sleeps) → owner's Site queue → pooled connection →
//   per-recipient outcomes → final outcomes travel back through the ring to
//   this shard, which journals them and retires the message.
// Only the owner of a destination ever touches its queue and connections,
// so per-destination limits hold exactly with no locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "dns/mx.h"
#include "dns/mx_cache.h"
#include "dns/resolv_conf.h"
#include "dns/resolver.h"
#include "queue/spool.h"
#include "relay/outbound/smtp_client.h"
#include "relay/config/config.h"
#include "relay/delivery/delivery_log.h"
#include "relay/runtime/free_list.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/spsc_ring.h"
#include "relay/runtime/stream.h"
#include "relay/inbound/session.h"
#include "relay/shard/uring_spool_io.h"

namespace ringpost {

class Shard;
class InboundConnection;
class OutboundConnection;
struct Site;

// A spooled message in memory. Owned by its origin shard; owner shards read
// it (immutable fields only) while they hold a job that references it.
struct Message {
  uint64_t id = 0;
  int origin = 0;
  queue::MessageLocator locator;
  std::string sender;
  std::vector<std::string> recipients;
  std::string content;
  int64_t queued_at_ms = 0;  // wall clock
  bool eight_bit = false;
  bool smtputf8 = false;
  uint32_t remaining = 0;    // recipients without a final outcome (origin only)
  uint64_t accounted_bytes = 0;  // counted in the origin's queued_bytes_
  InboundConnection* submitter = nullptr;  // until its commit reports
  Message* prev = nullptr;   // the origin's list of live messages
  Message* next = nullptr;

  // Back to the defaults, keeping the strings' storage (for recycling).
  void Reset() {
    id = 0;
    origin = 0;
    locator = {};
    sender.clear();
    recipients.clear();
    content.clear();
    queued_at_ms = 0;
    eight_bit = false;
    smtputf8 = false;
    remaining = 0;
    accounted_bytes = 0;
    submitter = nullptr;
    prev = next = nullptr;
  }
};

// Recipients of one message for one destination domain, on its owner shard.
struct DeliveryJob {
  Shard* owner = nullptr;  // the shard whose queues hold it
  Message* message = nullptr;
  std::string domain;
  std::vector<uint32_t> rcpts;  // indices into message->recipients
  uint32_t attempts = 0;
  bool expire_at_retry = false;  // the retry timer was cut short by max_age
  runtime::Timer retry_timer;
};

// One entry of a cross-shard ring.
struct CrossItem {
  enum Kind : uint32_t { kJob = 1, kOutcome = 2 };
  Kind kind;
  uint32_t rcpt;    // kOutcome: recipient index
  uint32_t result;  // kOutcome: queue::kOutcome*
  void* ptr;        // kJob: DeliveryJob*; kOutcome: Message*
};

// Counts connections per client address across all shards, exactly: one
// mutex-guarded map from address to count, taken once per accepted and once
// per closed connection (never per message). An address leaves the map when
// its count falls to zero, so scans from many addresses do not grow it.
class ClientCounter {
 public:
  bool TryAdd(const std::string& ip, size_t limit);
  void Remove(const std::string& ip);
  size_t Count(const std::string& ip) const;

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> counts_;
};

// Everything shards share: the immutable config, the ring matrix, counters.
struct Shared {
  static constexpr size_t kRingCapacity = 16384;
  using Ring = runtime::SpscRing<CrossItem, kRingCapacity>;

  Config config;
  int shards = 1;
  std::string hostname;
  // Outbound EHLO name: hostname when it is fully qualified; empty means
  // each connection names its own address as a literal (RFC 5321 4.1.4).
  std::string helo_name;
  int log_fd = -1;
  std::vector<std::unique_ptr<Ring>> rings;  // [from * shards + to]
  std::vector<Shard*> shard_list;
  ClientCounter clients;
  std::atomic<int> started{0};
  std::atomic<int> failed{0};
  // Drain: shards that will send no more cross-shard outcomes (their
  // outbound work ended and their overflow queues are empty).
  std::atomic<int> settled{0};
  std::atomic<int> connections{0};
  // MX resolution: one cache for the process; servers read at start-up.
  // mx_cache is null when no DNS server is configured (routes only).
  std::unique_ptr<dns::MxCache> mx_cache;
  dns::ServerConfig dns_servers;
  std::shared_ptr<const dns::LocalAddresses> local_addresses;

  Ring& RingFor(int from, int to) { return *rings[static_cast<size_t>(from * shards + to)]; }
};

struct ShardStats {
  uint64_t accepted = 0;
  uint64_t delivered = 0;
  uint64_t bounced = 0;
  uint64_t deferred = 0;
  uint64_t expired = 0;
  uint64_t recovered = 0;
};

class Shard {
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
  runtime::Loop* loop() { return loop_.get(); }
  int index() const { return index_; }
  uint16_t bound_port(size_t listener) const;
  ShardStats stats() const;

  // --- used by connections (loop thread only) ---
  const Config& config() const { return shared_->config; }
  const server::SessionLimits& limits() const { return limits_; }
  const std::string& hostname() const { return shared_->hostname; }
  queue::Spool& spool() { return *spool_; }
  // Whether a new transaction may start: spool space and queue memory.
  absl::Status CanAccept();
  DeliveryLog& log() { return *log_; }
  std::unique_ptr<server::IncomingMessage> NewIncomingMessage();
  void SubmitMessage(InboundConnection* conn,
                     std::unique_ptr<server::IncomingMessage> message);
  void ConnectionClosed(InboundConnection* conn);
  // A pooled connection can take a job: returns one or nullptr.
  DeliveryJob* NextJob(OutboundConnection* conn);
  void ConnectionReady(OutboundConnection* conn);
  void RetryDue(DeliveryJob* job);
  // From another shard's thread, through the MX cache's wake hook: wake `to`
  // at the end of this turn (this shard queued a DNS completion for it).
  void RequestWake(int to) { wake_[static_cast<size_t>(to)] = true; }
  void HandleOutcomes(DeliveryJob* job, const std::string& peer,
                      std::vector<client::RecipientOutcome>& outcomes);
  // The connection is gone. `ever_ready`: it got past EHLO; otherwise the
  // destination failed (refused, timed out, bad greeting) with `reason`.
  void OutboundClosed(OutboundConnection* conn, bool ever_ready,
                      const client::RecipientOutcome& reason);
  bool draining() const { return draining_; }
  int64_t WallClockMs() const;

 private:
  friend class OutboundConnection;
  void ThreadMain();
  absl::Status Setup();
  void Accept(int fd);
  void Committed(InboundConnection* conn, Message* msg, absl::Status status);
  bool HoldCommit();  // whether this turn's group commit waits for more
  void OnCommitTimer(int32_t res, uint32_t flags);
  void Dispatch(Message* msg, const std::vector<uint32_t>& undone);
  void Send(int to, const CrossItem& item);
  void DrainInbox();
  void FlushOutboxes();
  bool HasInboundWork();
  void TakeJob(DeliveryJob* job);
  void RouteJob(DeliveryJob* job);
  void RouteResolved(DeliveryJob* job, const dns::MxResult& r);
  void DeferJob(DeliveryJob* job, int code, const std::string& enhanced,
                const std::string& text);
  void ScheduleRetry(DeliveryJob* job, const std::string& reason_text);
  void DropJob(DeliveryJob* job);
  bool Expired(const Message* msg, int64_t now_ms) const;
  void ExpireJob(DeliveryJob* job);
  LogRecord JobRecord(const DeliveryJob& job, uint32_t rcpt, int64_t now) const;
  void Expire(LogRecord& r);
  void SendFinals(Message* msg);
  void FinalOutcome(Message* msg, uint32_t rcpt, uint8_t kind);
  void ApplyOutcome(Message* msg, uint32_t rcpt, uint8_t kind);
  void Kick(Site* site);
  void FailSite(Site* site, int code, const std::string& enhanced,
                const std::string& text);
  void StartDrain();
  void DrainTick();
  void CloseAllConnections();
  Message* NewMessage();
  DeliveryJob* NewJob();
  void RecycleJob(DeliveryJob* job);  // done with it: no timer armed
  void Account(Message* msg);
  void FreeMessage(Message* msg);
  int OwnerOf(const std::string& domain) const;

  Shared* shared_;
  int index_;
  std::thread thread_;
  std::string error_;
  std::unique_ptr<runtime::Loop> loop_;
  std::atomic<runtime::Loop*> published_loop_{nullptr};  // for other shards
  std::unique_ptr<UringSpoolIo> spool_io_;
  std::unique_ptr<queue::Spool> spool_;
  std::unique_ptr<DeliveryLog> log_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<dns::MxResolver> mx_;
  absl::flat_hash_set<DeliveryJob*> waiting_dns_;  // jobs whose MX lookup runs
  std::vector<std::unique_ptr<runtime::Listener>> listeners_;
  std::vector<uint16_t> ports_;
  server::SessionLimits limits_;
  absl::flat_hash_set<InboundConnection*> inbound_;
  absl::flat_hash_map<std::string, std::unique_ptr<Site>> sites_;
  std::vector<Site*> route_sites_;  // per config().routes entry, once known
  std::vector<std::deque<CrossItem>> outbox_;  // overflow when a ring is full
  std::vector<bool> wake_;                     // targets to wake this turn
  std::vector<CrossItem> inbox_scratch_;
  std::deque<CrossItem> self_queue_;           // items for this shard itself
  absl::flat_hash_set<DeliveryJob*> scheduled_;  // jobs waiting on retry timers
  // Per-message scratch space, reused (no allocation once warm).
  std::vector<uint32_t> rcpt_scratch_;
  std::vector<DeliveryJob*> job_scratch_;
  std::string domain_scratch_;
  // Group-commit window (HoldCommit).
  uint64_t commit_delay_ns_ = 0;
  uint64_t staged_messages_ = 0;  // submitted since the last commit issued
  uint64_t staged_since_ns_ = 0;  // when the first of them was
  bool commit_timer_armed_ = false;
  __kernel_timespec commit_timeout_{};
  runtime::MemberCompletion<Shard, &Shard::OnCommitTimer> commit_timer_done_{this};
  std::vector<std::pair<uint32_t, uint8_t>> finals_scratch_;
  runtime::FreeList<DeliveryJob> free_jobs_{4096};
  // Freed messages and the shells of submitted IncomingMessages, recycled
  // with the storage of their strings (see NewIncomingMessage).
  static constexpr size_t kRecycledContentMax = 16 * 1024;
  runtime::FreeList<Message> free_messages_{256};
  runtime::FreeList<server::IncomingMessage> free_incoming_{256};
  Message live_messages_;  // sentinel of the intrusive list of live messages
  uint64_t queued_bytes_ = 0;  // bodies of live messages (max_queue_memory)
  bool draining_ = false;
  bool closing_ = false;        // drain done: closing every connection
  uint64_t close_deadline_ms_ = 0;
  bool settled_ = false;  // drain: no more outcomes to other shards
  uint64_t outcomes_dropped_at_stop_ = 0;
  uint64_t drain_deadline_ms_ = 0;
  runtime::Timer drain_timer_;
  std::atomic<uint64_t> accepted_{0}, delivered_{0}, bounced_{0}, deferred_{0},
      expired_{0}, recovered_{0};
};

}  // namespace ringpost
