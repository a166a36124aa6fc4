// intake.cc — see intake.h.
#include "relay/inbound/intake.h"

#include <string>

#include "base/check.h"
#include "queue/reported.h"
#include "relay/smtp/command_parser.h"

namespace ringpost::inbound {
namespace {

// Resets a message for reuse. Its strings keep their storage, except a body
// buffer over `content_max` (a big body's buffer is not worth holding).
template <typename M>
auto ResetKeepingStorage(size_t content_max) {
  return [content_max](M& m) {
    if (m.content.capacity() > content_max) std::string().swap(m.content);
    m.Reset();
  };
}

}  // namespace

Intake::Intake(IntakeOptions options, runtime::Loop* loop, queue::Spool* spool,
               DeliveryLog* log, runtime::FreeList<DeliveryJob>* jobs, IntakeHost* host)
    : options_(options), loop_(loop), spool_(spool), log_(log), jobs_(jobs), host_(host) {
  CHECK(options_.metrics != nullptr);
  live_.next = live_.prev = &live_;
}

Intake::~Intake() = default;

absl::Status Intake::CanAccept() {
  if (queued_bytes_ > options_.queue_memory_share) {
    return absl::ResourceExhaustedError("queue memory limit reached");
  }
  if (absl::Status s = host_->Backpressure(); !s.ok()) return s;
  return spool_->CanAccept();
}

// Storage goes round: a submitted message's strings move into a Message
// (Submit), which hands the recycled Message's empty strings back to the
// shell, which the session fills with the next message. Once warm, a message
// costs no allocation for its body, sender or recipient list.
std::unique_ptr<server::IncomingMessage> Intake::NewIncomingMessage() {
  return free_incoming_.Take();
}

Message* Intake::NewMessage() {
  Message* msg = free_messages_.Take().release();
  msg->next = live_.next;
  msg->prev = &live_;
  live_.next->prev = msg;
  live_.next = msg;
  return msg;
}

void Intake::FreeMessage(Message* msg) {
  queued_bytes_ -= msg->accounted_bytes;
  msg->prev->next = msg->next;
  msg->next->prev = msg->prev;
  free_messages_.Give(std::unique_ptr<Message>(msg),
                      ResetKeepingStorage<Message>(kRecycledContentMax));
}

void Intake::Account(Message* msg) {
  msg->accounted_bytes = msg->content.size();
  queued_bytes_ += msg->accounted_bytes;
}

void Intake::FreeAll() {
  while (live_.next != &live_) FreeMessage(live_.next);
}

void Intake::Submit(CommitListener* listener, std::unique_ptr<server::IncomingMessage> in) {
  SubmitRecord(listener, std::move(in), 0, nullptr);
}

void Intake::SubmitNotice(CommitListener* listener,
                          std::unique_ptr<server::IncomingMessage> notice, uint64_t reports_on,
                          std::vector<uint32_t> rcpts) {
  SubmitRecord(listener, std::move(notice), reports_on, &rcpts);
}

// `reported`: null for a client's message (the happy path moves nothing
// more than it did before notices existed).
void Intake::SubmitRecord(CommitListener* listener, std::unique_ptr<server::IncomingMessage> in,
                          uint64_t reports_on, std::vector<uint32_t>* reported) {
  // Move the parts into the record (no copy), encode, then move them on into
  // the in-memory Message that delivery reads.
  queue::MessageRecord record;
  record.id = in->id;
  record.queued_at_ms = in->received_at_ms;
  record.sender = std::move(in->sender);
  record.recipients = std::move(in->recipients);
  record.body = std::move(in->content);
  record.flags = (in->eight_bit ? queue::kFlag8BitMime : 0) |
                 (in->smtputf8 ? queue::kFlagSmtpUtf8 : 0);
  const bool dsn = !in->dsn.empty();
  if (dsn) record.dsn = std::move(in->dsn);
  Message* msg = NewMessage();
  msg->id = record.id;
  msg->origin = options_.shard;
  msg->queued_at_ms = record.queued_at_ms;
  msg->submitted_ns = loop_->now_ns();
  msg->eight_bit = in->eight_bit;
  msg->smtputf8 = in->smtputf8;
  std::swap(msg->auth_user, in->auth_user);
  std::swap(msg->tls, in->tls);
  msg->submitter = listener;
  if (reported != nullptr) {
    record.reports_on_id = reports_on;
    record.reports_on_rcpts = std::move(*reported);
  }
  // Two pointers: the callback fits AnyInvocable's inline storage.
  auto locator = spool_->AppendMessage(
      record, [this, msg](absl::Status s) { Committed(msg, std::move(s)); });
  // The record's strings go to the Message; the Message's old (empty,
  // recycled) ones back to the shell for the session's next message.
  std::swap(msg->sender, record.sender);
  std::swap(msg->recipients, record.recipients);
  std::swap(msg->content, record.body);
  in->sender = std::move(record.sender);
  in->recipients = std::move(record.recipients);
  in->content = std::move(record.body);
  if (dsn) {
    std::swap(msg->dsn, record.dsn);  // a recycled Message's dsn is empty
    in->dsn = std::move(record.dsn);
  }
  free_incoming_.Give(std::move(in),
                      ResetKeepingStorage<server::IncomingMessage>(kRecycledContentMax));
  Account(msg);
  if (!locator.ok()) {
    const uint64_t id = msg->id;
    FreeMessage(msg);
    listener->Committed(locator.status(), id);
    return;
  }
  msg->locator = *locator;
  if (staged_messages_++ == 0) staged_since_ns_ = runtime::MonotonicNs();
}

void Intake::FlushTurn(bool draining) {
  if (HoldCommit(draining)) return;
  spool_->Flush();
  // Still staged: behind a commit in flight; they keep their age.
  if (spool_->stats().bytes_staged == 0) staged_messages_ = 0;
}

// The group-commit window (commit_delay). Under lock-step load (classic
// DATA: each client waits for its 250 before sending the next message) a
// commit issued as soon as the previous one ends carries few messages, and
// every commit costs the same: a write, a device flush, ~80 us of CPU in
// the virtio doorbell alone on this VM (docs/benchmarks.md). So the commit
// waits, at most commit_delay from its first message, while fewer messages
// wait than this shard has client connections (each could add one). A lone
// client, or pipelined clients that fill the group at once, never wait.
bool Intake::HoldCommit(bool draining) {
  if (options_.commit_delay_ns == 0 || staged_messages_ == 0 || draining ||
      staged_messages_ >= host_->InboundConnections()) {
    return false;
  }
  const uint64_t now = runtime::MonotonicNs();
  const uint64_t due = staged_since_ns_ + options_.commit_delay_ns;
  if (now >= due) return false;
  if (!commit_timer_armed_) {
    // Sub-millisecond: an io_uring timeout, not the (ms) timer wheel. Its
    // completion only wakes the loop; the turn hook then finds the group due.
    commit_timer_armed_ = true;
    commit_timeout_.tv_sec = 0;
    commit_timeout_.tv_nsec = static_cast<long long>(due - now);
    io_uring_prep_timeout(loop_->Sqe(&commit_timer_done_), &commit_timeout_, 0, 0);
  }
  return true;
}

void Intake::OnCommitTimer(int32_t, uint32_t) { commit_timer_armed_ = false; }

void Intake::Committed(Message* msg, absl::Status status) {
  CommitListener* listener = msg->submitter;
  const uint64_t id = msg->id;
  if (!status.ok()) {
    FreeMessage(msg);
    listener->Committed(std::move(status), id);
    return;
  }
  options_.metrics->accepted.Add();
  // The 250 is queued below, in this turn.
  const uint64_t now_ns = loop_->now_ns();
  options_.metrics->acceptance.Observe(now_ns > msg->submitted_ns ? now_ns - msg->submitted_ns
                                                                  : 0);
  const int64_t now = loop_->wall_ms();
  std::vector<uint32_t>& all = rcpt_scratch_;
  all.resize(msg->recipients.size());
  // "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256" (tls::Channel::Description).
  std::string_view tls_version = msg->tls;
  std::string_view tls_cipher;
  if (const size_t with = tls_version.find(" with cipher "); with != std::string_view::npos) {
    tls_cipher = tls_version.substr(with + 13);
    tls_version = tls_version.substr(0, with);
  }
  for (uint32_t i = 0; i < all.size(); ++i) {
    all[i] = i;
    LogRecord r;
    r.type = LogEvent::kReception;
    r.tls = !msg->tls.empty();
    r.tls_version = tls_version;
    r.tls_cipher = tls_cipher;
    r.auth_user = msg->auth_user;
    r.id = id;
    r.sender = msg->sender;
    r.recipient = msg->recipients[i];
    r.domain = smtp::DomainOf(msg->recipients[i]);
    r.peer = listener->peer();
    r.code = 250;
    r.enhanced = "2.0.0";
    r.size = msg->content.size();
    r.queued_at_ms = msg->queued_at_ms;
    r.event_at_ms = now;
    log_->Add(r);
  }
  msg->remaining = static_cast<uint32_t>(all.size());
  queued_recipients_ += msg->remaining;
  msg->submitter = nullptr;
  Dispatch(msg, all);  // before the reply: `all` is scratch space
  listener->Committed(absl::OkStatus(), id);
}

void Intake::Recover(std::vector<queue::RecoveredMessage>& recovered) {
  // What a recovered notice reports on is done, even when the crash came
  // before its retirement was journaled: journal it now.
  for (const queue::ReportedRecipient& r : queue::MarkReportedDone(recovered)) {
    spool_->MarkDone(r.locator, r.recipient, queue::kOutcomeBounced);
  }
  std::vector<uint32_t> undone;
  for (queue::RecoveredMessage& r : recovered) {
    Message* msg = NewMessage();
    msg->id = r.record.id;
    msg->origin = options_.shard;
    msg->locator = r.locator;
    msg->sender = std::move(r.record.sender);
    msg->recipients = std::move(r.record.recipients);
    msg->content = std::move(r.record.body);
    msg->dsn = std::move(r.record.dsn);
    Account(msg);
    msg->queued_at_ms = r.record.queued_at_ms;
    msg->eight_bit = (r.record.flags & queue::kFlag8BitMime) != 0;
    msg->smtputf8 = (r.record.flags & queue::kFlagSmtpUtf8) != 0;
    undone.clear();
    for (uint32_t i = 0; i < msg->recipients.size(); ++i) {
      if (i >= r.done.size() || !r.done[i]) undone.push_back(i);
    }
    msg->remaining = static_cast<uint32_t>(undone.size());
    queued_recipients_ += msg->remaining;
    options_.metrics->recovered.Add();
    if (undone.empty()) {
      FreeMessage(msg);
      continue;
    }
    Dispatch(msg, undone);
  }
}

// Groups the recipients by lowercase domain, one job per domain.
void Intake::Dispatch(Message* msg, const std::vector<uint32_t>& rcpts) {
  msg->first_pass_left = static_cast<uint32_t>(rcpts.size());
  std::vector<DeliveryJob*>& jobs = job_scratch_;
  jobs.clear();
  std::string& domain = domain_scratch_;
  for (uint32_t i : rcpts) {
    domain.clear();
    smtp::AppendAsciiLowercase(smtp::DomainOf(msg->recipients[i]), &domain);
    DeliveryJob* job = nullptr;
    for (DeliveryJob* j : jobs) {
      if (j->domain == domain) {
        job = j;
        break;
      }
    }
    if (job == nullptr) {
      job = jobs_->Take().release();
      job->message = msg;
      job->domain.assign(domain);
      jobs.push_back(job);
    }
    job->rcpts.push_back(i);
  }
  for (DeliveryJob* job : jobs) host_->SendJob(job);
}

void Intake::Retire(Message* msg, uint32_t rcpt, uint8_t kind) {
  CHECK(msg->origin == options_.shard);
  CHECK(rcpt < msg->recipients.size());
  spool_->MarkDone(msg->locator, rcpt, kind);
  CHECK(msg->remaining > 0);
  --queued_recipients_;
  if (--msg->remaining == 0) FreeMessage(msg);
}

// The live list runs newest (live_.next) to oldest (live_.prev), in order of
// submission; only the newest may still wait for their commit.
int64_t Intake::oldest_queued_at_ms() const {
  for (const Message* m = live_.prev; m != &live_; m = m->prev) {
    if (m->submitter == nullptr) return m->queued_at_ms;
  }
  return -1;
}

}  // namespace ringpost::inbound
