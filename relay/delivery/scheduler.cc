// scheduler.cc — see scheduler.h.
#include "relay/delivery/scheduler.h"

#include "base/check.h"

namespace ringpost::delivery {
namespace {

// NOTIFY=SUCCESS on this recipient (RFC 3461 4.1), from a sender that can
// be told.
bool WantsSuccessNotice(const Message& msg, uint32_t rcpt) {
  return !msg.sender.empty() && rcpt < msg.dsn.notify.size() &&
         (msg.dsn.notify[rcpt] & queue::kNotifySuccess) != 0;
}

}  // namespace

Scheduler::Scheduler(const Config* config, int shard, runtime::Loop* loop, DeliveryLog* log,
                     runtime::FreeList<DeliveryJob>* jobs, SchedulerHost* host,
                     SchedulerMetrics* metrics)
    : config_(config),
      loop_(loop),
      log_(log),
      jobs_(jobs),
      host_(host),
      random_state_(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(shard + 1)),
      metrics_(metrics) {
  CHECK(metrics_ != nullptr);
  Reconfigure();
}

void Scheduler::Reconfigure() {
  retry_.retry_min_ms = absl::ToInt64Milliseconds(config_->retry_min);
  retry_.retry_max_ms = absl::ToInt64Milliseconds(config_->retry_max);
  retry_.max_age_ms = absl::ToInt64Milliseconds(config_->max_age);
}

void Scheduler::SetBounceRules(std::shared_ptr<const BounceRules> rules) {
  CHECK(rules != nullptr);
  rules_ = std::move(rules);
}

Scheduler::~Scheduler() { CHECK(report_ == nullptr); }

// SplitMix64: jitter needs spread, not secrecy.
uint64_t Scheduler::NextRandom() {
  uint64_t z = (random_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Scheduler::Take(DeliveryJob* job) {
  if (draining_) return Drop(job);
  job->owner = this;
  job->retry_timer.context = job;
  job->retry_timer.callback = [](runtime::Timer* t) {
    auto* j = static_cast<DeliveryJob*>(t->context);
    j->owner->RetryDue(j);
  };
  host_->Route(job);
}

void Scheduler::RetryDue(DeliveryJob* job) {
  scheduled_.erase(job);
  if (draining_) return Drop(job);
  // Retries are never scheduled past a message's expiry, so max_age holds
  // even for mail that no attempt reaches (docs/configuration.md).
  if (job->expire_at_retry ||
      Expired(job->message->queued_at_ms, loop_->wall_ms(), RetryOf(*job))) {
    return ExpireJob(job);
  }
  host_->Route(job);
}

void Scheduler::Drop(DeliveryJob* job) { delete job; }

size_t Scheduler::Flush(std::string_view domain) {
  std::vector<DeliveryJob*> due;
  TakeScheduled([domain](const DeliveryJob& j) { return domain.empty() || j.domain == domain; },
                &due);
  size_t rcpts = 0;
  for (DeliveryJob* job : due) {
    rcpts += job->rcpts.size();
    scheduled_.insert(job);  // RetryDue takes it off
    RetryDue(job);
  }
  return rcpts;
}

void Scheduler::Cancel(DeliveryJob* job, bool notify) {
  Message* msg = job->message;
  const int64_t now = loop_->wall_ms();
  // A job never tried still owes its message's first pass its outcome.
  const bool first = job->attempts == 0;
  finals_.clear();
  for (uint32_t rcpt : job->rcpts) {
    LogRecord r = JobRecord(*job, rcpt, now);
    r.type = LogEvent::kBounce;
    r.code = 550;
    r.enhanced = "5.0.0";
    r.response = notify ? "returned to the sender by the operator" : "deleted by the operator";
    r.category = "operator";
    log_->Add(r);
    metrics_->bounced.Add();
    if (notify && !msg->sender.empty()) {
      RecipientReport& e = Report(*job, first, rcpt, queue::kOutcomeBounced);
      e.code = r.code;
      e.enhanced = r.enhanced;
      e.text = r.response;
      e.category = r.category;
      e.at_ms = now;
    } else {
      finals_.emplace_back(rcpt, queue::kOutcomeBounced);
    }
  }
  Recycle(job);
  SendFinals(msg, first);
}

void Scheduler::Recycle(DeliveryJob* job) {
  jobs_->Give(std::unique_ptr<DeliveryJob>(job), [](DeliveryJob& j) { j.Reset(); });
}

void Scheduler::FreeScheduled() {
  for (DeliveryJob* job : scheduled_) {
    loop_->timers().Disarm(&job->retry_timer);
    delete job;
  }
  scheduled_.clear();
}

// A log record about one recipient of `job`, with what every record says.
LogRecord Scheduler::JobRecord(const DeliveryJob& job, uint32_t rcpt, int64_t now) const {
  const Message* msg = job.message;
  LogRecord r;
  r.id = msg->id;
  r.sender = msg->sender;
  r.recipient = msg->recipients[rcpt];
  r.domain = job.domain;
  r.attempt = job.attempts;
  r.size = msg->content.size();
  r.queued_at_ms = msg->queued_at_ms;
  r.event_at_ms = now;
  return r;
}

// Turns `r` into the recipient's Expiration record and counts it.
void Scheduler::Expire(LogRecord& r) {
  r.type = LogEvent::kExpiration;
  r.code = 0;
  r.enhanced = "4.4.7";
  r.response = "message expired: not delivered within max_age";
  metrics_->expired.Add();
}

// Sends the report and finals_ to the message's origin. The message must
// not be touched after its last final outcome is sent: the origin may free
// it at once.
void Scheduler::SendFinals(Message* msg, bool first) {
  if (report_ != nullptr) {
    AttemptReport* report = report_;
    report_ = nullptr;
    host_->SendReport(report);
  }
  for (const auto& [rcpt, kind] : finals_) host_->SendOutcome(msg, rcpt, kind, first);
}

RecipientReport& Scheduler::Report(const DeliveryJob& job, bool first, uint32_t rcpt,
                                   uint8_t outcome) {
  if (report_ == nullptr) {
    report_ = new AttemptReport;
    report_->message = job.message;
    report_->first = first;
  }
  RecipientReport& e = report_->recipients.emplace_back();
  e.rcpt = rcpt;
  e.outcome = outcome;
  return e;
}

void Scheduler::ExpireJob(DeliveryJob* job) {
  const int64_t now = loop_->wall_ms();
  finals_.clear();
  for (uint32_t rcpt : job->rcpts) {
    LogRecord r = JobRecord(*job, rcpt, now);
    Expire(r);
    r.category = CategoryName(BounceCategory::kTransient);  // retries ran out
    log_->Add(r);
    // No attempt now: the origin tells the sender what the last one said.
    RecipientReport& e = Report(*job, /*first=*/false, rcpt, queue::kOutcomeExpired);
    e.enhanced = r.enhanced;
    e.text = r.response;
    e.category = r.category;
    e.at_ms = now;
  }
  Message* msg = job->message;
  Recycle(job);
  // Expiring at the retry time: the first attempt reported already.
  SendFinals(msg, /*first=*/false);
}

void Scheduler::Fail(DeliveryJob* job, std::string_view peer, const Status& status,
                     std::string_view text) {
  job->tls = false;  // no connection carried this attempt
  std::vector<client::RecipientOutcome> outcomes(job->rcpts.size());
  for (auto& o : outcomes) {
    o.code = status.code;
    o.enhanced = status.enhanced;
    o.text = std::string(text);
  }
  Attempted(job, peer, /*replied=*/false, outcomes);
}

void Scheduler::Outcomes(DeliveryJob* job, std::string_view peer,
                         std::vector<client::RecipientOutcome>& outcomes) {
  Attempted(job, peer, /*replied=*/true, outcomes);
}

// `replied`: each outcome is what the server at `peer` answered (not our
// own reason for an attempt that got no reply).
void Scheduler::Attempted(DeliveryJob* job, std::string_view peer, bool replied,
                          std::vector<client::RecipientOutcome>& outcomes) {
  CHECK(outcomes.size() == job->rcpts.size());
  Message* msg = job->message;
  const int64_t now = loop_->wall_ms();
  ++job->attempts;
  Attempt attempt;
  attempt.number = job->attempts;
  attempt.queued_at_ms = msg->queued_at_ms;
  attempt.now_ms = now;
  const uint64_t random = NextRandom();  // one draw per attempt: one retry time per job
  Decision retry_at;
  std::vector<uint32_t> retry;  // rarely used: allocates only on failures
  finals_.clear();
  for (size_t k = 0; k < job->rcpts.size(); ++k) {
    const uint32_t rcpt = job->rcpts[k];
    const client::RecipientOutcome& o = outcomes[k];
    LogRecord r = JobRecord(*job, rcpt, now);
    r.peer = peer;
    r.tls = job->tls;
    r.tls_version = job->tls_version;
    r.tls_cipher = job->tls_cipher;
    r.tls_verified = job->tls_verified;
    r.code = o.code;
    r.enhanced = o.enhanced;
    r.response = o.text;
    const Decision d = Decide(o.code, attempt, RetryOf(*job), random);
    if (d.action != Action::kDelivered) {
      // The failure path only: the rules are regular expressions.
      r.category = CategoryName(rules_->Classify(o.code, o.enhanced, o.text));
      uint8_t outcome = 0;  // kRetry: deferred
      if (d.action == Action::kBounce) outcome = queue::kOutcomeBounced;
      if (d.action == Action::kExpire) outcome = queue::kOutcomeExpired;
      RecipientReport& e = Report(*job, attempt.number == 1, rcpt, outcome);
      e.code = o.code;
      e.enhanced = o.enhanced;
      e.text = o.text;
      if (replied) e.remote = std::string(peer);
      e.category = r.category;
      e.at_ms = now;
      job->last_reply = std::to_string(o.code) + " " + o.enhanced + (o.enhanced.empty() ? "" : " ") + o.text;
    }
    switch (d.action) {
      case Action::kDelivered:
        r.type = LogEvent::kDelivery;
        if (o.next_hop_dsn || !WantsSuccessNotice(*msg, rcpt)) {
          finals_.emplace_back(rcpt, queue::kOutcomeDelivered);
        } else {
          // RFC 3461 5.2.2: the next hop takes no DSN, so this relay
          // reports the delivery ("relayed").
          RecipientReport& e = Report(*job, attempt.number == 1, rcpt, queue::kOutcomeDelivered);
          e.code = o.code;
          e.enhanced = o.enhanced;
          e.text = o.text;
          e.remote = std::string(peer);
          e.at_ms = now;
        }
        metrics_->delivered.Add();
        metrics_->delivery.Observe(
            now > msg->queued_at_ms ? static_cast<uint64_t>(now - msg->queued_at_ms) * 1000000
                                    : 0);
        break;
      case Action::kBounce:
        r.type = LogEvent::kBounce;
        metrics_->bounced.Add();
        break;
      case Action::kExpire:
        r.type = LogEvent::kTransientFailure;
        log_->Add(r);  // the failed attempt that ended it
        Expire(r);
        break;
      case Action::kRetry:
        r.type = LogEvent::kTransientFailure;
        retry.push_back(rcpt);
        retry_at = d;
        metrics_->deferred.Add();
        break;
    }
    log_->Add(r);
  }
  const bool first = attempt.number == 1;
  if (retry.empty()) {
    Recycle(job);
  } else {
    job->rcpts = std::move(retry);
    job->expire_at_retry = retry_at.expire_at_retry;
    const int64_t delay = retry_at.retry_at_ms - now;
    scheduled_.insert(job);
    loop_->timers().Arm(&job->retry_timer,
                        loop_->now_ms() + static_cast<uint64_t>(delay > 0 ? delay : 0));
  }
  SendFinals(msg, first);
}

}  // namespace ringpost::delivery
