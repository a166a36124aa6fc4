// relay/inbound/intake.h — the origin shard's side of a message's life:
// from the end of DATA to the retirement of its spool record.
//
//   Submit (from a connection, through SubmitPort)
//     → the spool's group commit (one write + one fdatasync per loop turn,
//       held up to commit_delay while more messages may join the group)
//     → Committed: a Reception record per recipient, the recipients grouped
//       into one DeliveryJob per domain and handed to the host (which sends
//       each to the shard that owns the domain), then 250 to the client
//     → Retire, once per recipient's final outcome (delivered, bounced,
//       expired): journaled in the spool; the message is freed after its last.
//   Recover (at start): spooled messages with undone recipients re-enter at
//   the hand-off to delivery.
//
// Memory: live messages are counted in queued bytes against this shard's
// share of max_queue_memory; freed messages and the shells of submitted
// messages are recycled with their strings' storage, so a warm shard
// allocates nothing per message.
#pragma once

#include <linux/time_types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "queue/spool.h"
#include "relay/delivery/delivery_log.h"
#include "relay/delivery/message.h"
#include "relay/inbound/submit_port.h"
#include "relay/runtime/free_list.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/metric.h"

namespace ringpost::inbound {

class IntakeHost {
 public:
  // Hands a job (a message's recipients for one domain) to delivery.
  virtual void SendJob(DeliveryJob* job) = 0;
  // Whether the rest of the shard can take more work (the cross-shard
  // backlog); checked with the spool and queue memory before a transaction.
  virtual absl::Status Backpressure() = 0;
  // Client connections on this shard (each could add one message to a
  // commit group: the commit window waits for at most that many).
  virtual size_t InboundConnections() = 0;

 protected:
  ~IntakeHost() = default;
};

// What the intake counts for /metrics (relay/runtime/metric.h: written by
// this shard only, read by the admin endpoint on shard 0).
struct IntakeMetrics {
  runtime::Counter accepted;   // messages committed and answered 250
  runtime::Counter recovered;  // messages read back from the spool at start
  // From a message's submission (the end of its data: the final "." or the
  // last BDAT) to its 250 being queued: the wait for the group commit.
  // Both ends are the loop's turn clock (Loop::now_ns), read for free.
  runtime::Histogram acceptance{runtime::kShortLatencyBoundsNs};
};

struct IntakeOptions {
  int shard = 0;
  IntakeMetrics* metrics = nullptr;  // required; outlives the Intake
  uint64_t queue_memory_share = 0;  // bytes: max_queue_memory / shards
  uint64_t commit_delay_ns = 0;     // 0: commit as soon as possible
};

class Intake final : public SubmitPort {
 public:
  Intake(IntakeOptions options, runtime::Loop* loop, queue::Spool* spool, DeliveryLog* log,
         runtime::FreeList<DeliveryJob>* jobs, IntakeHost* host);
  ~Intake();

  // SubmitPort
  absl::Status CanAccept() override;
  uint64_t NewMessageId() override { return spool_->NewMessageId(); }
  std::unique_ptr<server::IncomingMessage> NewIncomingMessage() override;
  void Submit(CommitListener* listener,
              std::unique_ptr<server::IncomingMessage> message) override;

  // A notice (relay/inbound/notices): spooled and delivered like a client's
  // message; its record names the recipients `rcpts` of message
  // `reports_on` it reports on (queue/reported.h).
  void SubmitNotice(CommitListener* listener, std::unique_ptr<server::IncomingMessage> notice,
                    uint64_t reports_on, std::vector<uint32_t> rcpts);

  // Start-up: every recovered message with undone recipients to delivery;
  // the recipients a recovered notice reports on are done.
  void Recover(std::vector<queue::RecoveredMessage>& recovered);
  // Once per loop turn: issues the group commit unless the window holds it.
  void FlushTurn(bool draining);
  // A recipient of a message of this shard has its final outcome.
  void Retire(Message* msg, uint32_t rcpt, uint8_t kind);
  // After the loop stopped: frees every live message (the spool keeps them).
  void FreeAll();

  uint64_t accepted() const { return options_.metrics->accepted.value(); }
  uint64_t recovered() const { return options_.metrics->recovered.value(); }
  // Recipients of this shard's committed messages without a final outcome
  // (waiting or in flight, wherever their owner shard holds them).
  uint64_t queued_recipients() const { return queued_recipients_; }
  // queued_at (wall ms) of the oldest committed message still live, or -1.
  int64_t oldest_queued_at_ms() const;

 private:
  static constexpr size_t kRecycledContentMax = 16 * 1024;

  void SubmitRecord(CommitListener* listener, std::unique_ptr<server::IncomingMessage> in,
                    uint64_t reports_on, std::vector<uint32_t>* reported);
  Message* NewMessage();
  void FreeMessage(Message* msg);
  void Account(Message* msg);
  void Committed(Message* msg, absl::Status status);
  void Dispatch(Message* msg, const std::vector<uint32_t>& rcpts);
  bool HoldCommit(bool draining);
  void OnCommitTimer(int32_t res, uint32_t flags);

  IntakeOptions options_;
  runtime::Loop* loop_;
  queue::Spool* spool_;
  DeliveryLog* log_;
  runtime::FreeList<DeliveryJob>* jobs_;
  IntakeHost* host_;
  // Freed messages and the shells of submitted IncomingMessages, recycled
  // with the storage of their strings (see NewIncomingMessage).
  runtime::FreeList<Message> free_messages_{256};
  runtime::FreeList<server::IncomingMessage> free_incoming_{256};
  Message live_;  // sentinel of the intrusive list of live messages
  uint64_t queued_bytes_ = 0;  // bodies of live messages
  // Per-message scratch space, reused (no allocation once warm).
  std::vector<uint32_t> rcpt_scratch_;
  std::vector<DeliveryJob*> job_scratch_;
  std::string domain_scratch_;
  // Group-commit window (HoldCommit).
  uint64_t staged_messages_ = 0;  // submitted since the last commit issued
  uint64_t staged_since_ns_ = 0;  // when the first of them was
  bool commit_timer_armed_ = false;
  __kernel_timespec commit_timeout_{};
  runtime::MemberCompletion<Intake, &Intake::OnCommitTimer> commit_timer_done_{this};
  uint64_t queued_recipients_ = 0;
};

}  // namespace ringpost::inbound
