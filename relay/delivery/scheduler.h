// relay/delivery/scheduler.h — the owner shard's side of a job's life:
// from its arrival (through a cross-shard ring) to the final outcome of
// each of its recipients.
//
//   Take → the router (host->Route) → the pool → Outcomes, per attempt:
//   each recipient's reply goes through the outcome policy (Decide):
//     delivered / bounced / expired → the delivery log, and a final
//       outcome sent back to the message's origin shard (host->SendOutcome),
//       which journals it;
//     retry → the delivery log (TransientFailure); the recipients left wait
//       on the job's retry timer, then go to the router again — or expire,
//       when max_age cut the wait short.
//   Every failure gets a category (bounce_class: the rules on the reply
//   text, then its status codes), logged with it. Failures, final or not,
//   and deliveries that owe the sender a success notice go back to the
//   origin as one AttemptReport per attempt instead (host->SendReport):
//   the origin writes the bounces (relay/inbound/notices).
//   A job the router cannot route (Fail) is an attempt like any other.
//
// While draining, work that would start a delivery is dropped: the spool
// keeps the message for the next start, and no final outcome (which would
// have to reach its origin before that shard stops) can come of it.
//
// The random source of the backoff jitter is this object's own generator,
// seeded per shard, passed to the policy as a parameter.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "relay/config/config.h"
#include "relay/delivery/bounce_class.h"
#include "relay/delivery/delivery_log.h"
#include "relay/delivery/message.h"
#include "relay/delivery/outcome_policy.h"
#include "relay/outbound/smtp_client.h"
#include "relay/runtime/free_list.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/metric.h"

namespace ringpost::delivery {

class SchedulerHost {
 public:
  // Sends `job` on to the router (Router::Route).
  virtual void Route(DeliveryJob* job) = 0;
  // A recipient's final outcome (queue::kOutcome*), for its origin shard;
  // `first`: of its first attempt (Message::first_pass_left).
  virtual void SendOutcome(Message* msg, uint32_t rcpt, uint8_t kind, bool first) = 0;
  // An attempt's failures (final or not) and the deliveries the sender
  // asked to hear about, for the message's origin shard, which owns the
  // report from now on. Its recipients get no SendOutcome.
  virtual void SendReport(AttemptReport* report) = 0;

 protected:
  ~SchedulerHost() = default;
};

// What the scheduler counts for /metrics (relay/runtime/metric.h: written by
// this shard only, read by the admin endpoint on shard 0). Recipient
// outcomes of the domains this shard owns: delivered, bounced and expired
// are final; deferred counts each temporary failure.
struct SchedulerMetrics {
  runtime::Counter delivered, bounced, deferred, expired;
  // From the message's reception (queued_at, wall clock) to a recipient's
  // successful delivery, retries included.
  runtime::Histogram delivery{runtime::kLongLatencyBoundsNs};
};

class Scheduler {
 public:
  // `metrics` must outlive the scheduler.
  Scheduler(const Config* config, int shard, runtime::Loop* loop, DeliveryLog* log,
            runtime::FreeList<DeliveryJob>* jobs, SchedulerHost* host,
            SchedulerMetrics* metrics);
  ~Scheduler();

  // A job for a domain this shard owns.
  void Take(DeliveryJob* job);
  // An attempt ended: one outcome per job->rcpts (`peer`: who answered).
  void Outcomes(DeliveryJob* job, std::string_view peer,
                std::vector<client::RecipientOutcome>& outcomes);
  // The attempt ended without a reply per recipient (no route, DNS, a
  // destination that could not be reached): `status` for all. `peer`: the
  // destination, when there was one.
  void Fail(DeliveryJob* job, std::string_view peer, const Status& status,
            std::string_view text);
  // Draining: the job is dropped (the spool keeps the message).
  void Drop(DeliveryJob* job);

  // Queue operations (ringpostctl). Retries now the deferred jobs of
  // `domain` (all when empty); returns their recipients.
  size_t Flush(std::string_view domain);
  // Moves the deferred jobs `take` says yes to into `out` (their timers off).
  template <typename Pred>
  void TakeScheduled(Pred take, std::vector<DeliveryJob*>* out);
  template <typename Fn>
  void ForEachScheduled(Fn fn) const {
    for (const DeliveryJob* job : scheduled_) fn(*job);
  }
  // The operator returns (notify: with a bounce to the sender) or deletes
  // every recipient of `job`: final, logged as a Bounce with category
  // "operator", journaled by the origin like any bounce.
  void Cancel(DeliveryJob* job, bool notify);

  void StartDrain() { draining_ = true; }
  // SIGHUP: the config it points to changed (retry_min, retry_max,
  // max_age); they apply from the next outcome on. A routed job follows
  // its destination policy's schedule (DeliveryJob::retry), which the
  // router refreshes at each routing.
  void Reconfigure();
  // The classification rules (start-up and SIGHUP); never null.
  void SetBounceRules(std::shared_ptr<const BounceRules> rules);
  // After the loop stopped: frees the jobs waiting on retry timers.
  void FreeScheduled();

  uint64_t delivered() const { return metrics_->delivered.value(); }
  uint64_t bounced() const { return metrics_->bounced.value(); }
  uint64_t deferred() const { return metrics_->deferred.value(); }
  uint64_t expired() const { return metrics_->expired.value(); }

 private:
  void RetryDue(DeliveryJob* job);
  void Attempted(DeliveryJob* job, std::string_view peer, bool replied,
                 std::vector<client::RecipientOutcome>& outcomes);
  // The report of this attempt of `job`'s message, made on first use.
  // `first`: the attempt is the recipients' first (AttemptReport::first).
  RecipientReport& Report(const DeliveryJob& job, bool first, uint32_t rcpt, uint8_t outcome);
  void ExpireJob(DeliveryJob* job);
  LogRecord JobRecord(const DeliveryJob& job, uint32_t rcpt, int64_t now) const;
  void Expire(LogRecord& r);
  // Sends report_ (when there is one), then finals_.
  void SendFinals(Message* msg, bool first);
  void Recycle(DeliveryJob* job);  // done with it: no timer armed
  uint64_t NextRandom();
  // The job's destination policy's schedule; the settings' before routing.
  const RetrySettings& RetryOf(const DeliveryJob& job) const {
    return job.retry.max_age_ms != 0 ? job.retry : retry_;
  }

  const Config* config_;
  runtime::Loop* loop_;
  DeliveryLog* log_;
  runtime::FreeList<DeliveryJob>* jobs_;
  SchedulerHost* host_;
  RetrySettings retry_;
  uint64_t random_state_;
  absl::flat_hash_set<DeliveryJob*> scheduled_;  // jobs waiting on retry timers
  std::vector<std::pair<uint32_t, uint8_t>> finals_;  // (rcpt, outcome), scratch
  AttemptReport* report_ = nullptr;  // the attempt being handled has reports
  std::shared_ptr<const BounceRules> rules_ = BounceRules::Defaults();
  bool draining_ = false;
  SchedulerMetrics* metrics_;
};

template <typename Pred>
void Scheduler::TakeScheduled(Pred take, std::vector<DeliveryJob*>* out) {
  for (auto it = scheduled_.begin(); it != scheduled_.end();) {
    DeliveryJob* job = *it;
    if (take(*job)) {
      loop_->timers().Disarm(&job->retry_timer);
      out->push_back(job);
      scheduled_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace ringpost::delivery
