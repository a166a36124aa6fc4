// notices.cc — see notices.h.
#include "relay/inbound/notices.h"

#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "queue/message_id.h"

namespace ringpost::inbound {
namespace {

constexpr uint64_t kRetryMs = 1000;

// Where a failure happened, in plain words, for the human part: the
// server's reply when one answered, else our own reason with what kind of
// failure it was (the reason already names the host and port, or the
// domain and the DNS answer).
std::string Explain(const RecipientReport& e, std::string_view domain) {
  if (!e.remote.empty()) {
    if (e.outcome == queue::kOutcomeDelivered) {
      return absl::StrCat("The mail server at ", e.remote,
                          " accepted it; that server does not pass delivery "
                          "notifications on, so this is the last report you will get.");
    }
    // Its exact reply follows in the notice (DsnRecipient::diagnostic).
    return absl::StrCat("The mail server at ", e.remote, " refused it.");
  }
  const std::string_view enh = e.enhanced;
  if (enh == "5.1.2" || enh == "5.1.10" || enh == "5.4.4") {
    return absl::StrCat("The domain ", std::string(domain), " cannot receive mail: ", e.text,
                        ".");
  }
  if (enh.starts_with("4.4.") || enh.starts_with("5.4.")) {
    return absl::StrCat("The mail server for ", std::string(domain),
                        " could not be reached: ", e.text, ".");
  }
  return absl::StrCat("It could not be delivered: ", e.text, ".");
}

std::string_view KindName(delivery::DsnAction kind) {
  switch (kind) {
    case delivery::DsnAction::kFailed: return "failure notice (bounce)";
    case delivery::DsnAction::kDelayed: return "delay warning";
    case delivery::DsnAction::kDelivered:
    case delivery::DsnAction::kRelayed: return "success notice";
  }
  return "notice";
}

// "192.0.2.7:25" or "[2001:db8::7]:25" → the address alone, for Remote-MTA.
std::string_view HostOf(std::string_view peer) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string_view::npos) return peer;
  std::string_view host = peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host.find(':') == std::string_view::npos ? host : peer;
}

std::string_view DomainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(at + 1);
}

}  // namespace

// A notice waiting for its spool commit: the recipients it reports on are
// retired once it is durable.
class Notices::Commit final : public CommitListener {
 public:
  Commit(Notices* owner, Message* original, delivery::DsnAction kind, std::string report_to,
         std::vector<Entry> entries)
      : owner_(owner),
        original_(original),
        original_id_(original->id),
        kind_(kind),
        report_to_(std::move(report_to)),
        entries_(std::move(entries)) {}

  void Committed(absl::Status status, uint64_t id) override {
    owner_->Committed(this, status, id);
  }
  const std::string& peer() const override {
    static const std::string kLocal = "local";
    return kLocal;
  }

  Message* original() const { return original_; }  // valid while entries_ is not empty
  uint64_t original_id() const { return original_id_; }
  delivery::DsnAction kind() const { return kind_; }
  const std::string& report_to() const { return report_to_; }
  std::vector<Entry>& entries() { return entries_; }

 private:
  Notices* owner_;
  Message* original_;
  uint64_t original_id_;
  delivery::DsnAction kind_;
  std::string report_to_;
  std::vector<Entry> entries_;
};

Notices::Notices(const Config* config, std::string hostname, runtime::Loop* loop,
                 Intake* intake, DeliveryLog* log)
    : config_(config),
      hostname_(std::move(hostname)),
      loop_(loop),
      intake_(intake),
      log_(log),
      retry_timer_([](runtime::Timer* t) { static_cast<Notices*>(t->context)->OnRetryTimer(); },
                   this) {}

Notices::~Notices() {
  if (retry_timer_.armed()) loop_->timers().Disarm(&retry_timer_);
  FreeAll();
}

void Notices::FreeAll() {
  for (Commit* c : commits_) delete c;
  commits_.clear();
  states_.clear();
  retry_.clear();
}

void Notices::Retire(Message* msg, uint32_t rcpt, uint8_t kind) {
  if (msg->remaining == 1) states_.erase(msg);  // the message goes with its last recipient
  intake_->Retire(msg, rcpt, kind);
}

// Counts one first-attempt result; true when it ended the first pass.
// (A miscount would only split or delay a bounce: never worth a crash.)
bool Notices::FirstPassResult(Message* msg) {
  DCHECK(msg->first_pass_left > 0);
  if (msg->first_pass_left == 0) return false;
  return --msg->first_pass_left == 0;
}

void Notices::Outcome(Message* msg, uint32_t rcpt, uint8_t kind, bool first) {
  const bool pass_over = first && FirstPassResult(msg);
  auto it = states_.empty() ? states_.end() : states_.find(msg);
  if (it == states_.end()) {
    intake_->Retire(msg, rcpt, kind);  // the happy path
    return;
  }
  // Pending recipients are not retired yet, so the message outlives this
  // retirement whenever something is left to send.
  const bool pending = !it->second.pending.empty();
  Retire(msg, rcpt, kind);
  if (pass_over && pending) SendPending(msg, states_.find(msg)->second);
}

bool Notices::WantsNotice(const Message& msg, uint32_t rcpt, delivery::DsnAction action) const {
  const uint8_t notify = rcpt < msg.dsn.notify.size() ? msg.dsn.notify[rcpt] : 0;
  if (notify & queue::kNotifyNever) return false;
  switch (action) {
    case delivery::DsnAction::kFailed:
      if (msg.sender.empty()) {
        // A notice that failed: to double_bounce, unless it was going there.
        return !config_->double_bounce.empty() &&
               !absl::EqualsIgnoreCase(msg.recipients[rcpt], config_->double_bounce);
      }
      return notify == 0 || (notify & queue::kNotifyFailure) != 0;
    case delivery::DsnAction::kDelayed:
      return !msg.sender.empty() && config_->delay_warning_time > absl::ZeroDuration() &&
             (notify == 0 || (notify & queue::kNotifyDelay) != 0);
    case delivery::DsnAction::kDelivered:
    case delivery::DsnAction::kRelayed:
      return !msg.sender.empty() && (notify & queue::kNotifySuccess) != 0;
  }
  return false;
}

void Notices::Report(std::unique_ptr<AttemptReport> report) {
  Message* msg = report->message;
  CHECK(msg != nullptr);
  State& st = states_[msg];
  for (RecipientReport& e : report->recipients) {
    CHECK(e.rcpt < msg->recipients.size());
    if (report->first) FirstPassResult(msg);
    std::erase(st.waiting, e.rcpt);
    if (e.outcome == 0) {
      st.last[e.rcpt] = e;
      st.waiting.push_back(e.rcpt);
    } else {
      Final(msg, st, e);
    }
  }
  // Final() may have retired the last recipient: the message is gone.
  auto it = states_.find(msg);
  if (it == states_.end()) return;
  State& live = it->second;
  if (!live.waiting.empty()) MaybeWarnDelay(msg, live);
  const bool pass_over = !report->first || msg->first_pass_left == 0;
  if (pass_over && !live.pending.empty()) SendPending(msg, live);
}

// A final outcome in a report: kept for the pass's notice, or retired now
// when no notice is owed.
void Notices::Final(Message* msg, State& st, RecipientReport& e) {
  const delivery::DsnAction action = e.outcome == queue::kOutcomeDelivered
                                         ? delivery::DsnAction::kRelayed
                                         : delivery::DsnAction::kFailed;
  if (!WantsNotice(*msg, e.rcpt, action)) return Retire(msg, e.rcpt, e.outcome);
  Entry entry;
  entry.report = std::move(e);
  // An expiry with no attempt of its own: tell what the last one said.
  auto last_it = st.last.find(entry.report.rcpt);
  if (entry.report.code == 0 && last_it != st.last.end() && last_it->second.code != 0) {
    const RecipientReport& last = last_it->second;
    entry.report.code = last.code;
    entry.report.enhanced = last.enhanced;
    entry.report.text = last.text;
    entry.report.remote = last.remote;
    entry.report.category = last.category;
    entry.report.at_ms = last.at_ms;
  }
  st.pending.push_back(std::move(entry));
}

void Notices::MaybeWarnDelay(Message* msg, State& st) {
  if (st.delay_warned || config_->delay_warning_time <= absl::ZeroDuration()) return;
  const int64_t waited = loop_->wall_ms() - msg->queued_at_ms;
  if (waited < absl::ToInt64Milliseconds(config_->delay_warning_time)) return;
  std::vector<uint32_t> delayed;
  for (uint32_t rcpt : st.waiting) {
    if (WantsNotice(*msg, rcpt, delivery::DsnAction::kDelayed)) delayed.push_back(rcpt);
  }
  if (delayed.empty()) return;
  st.delay_warned = true;
  Submit(msg, delivery::DsnAction::kDelayed, {}, delayed);
}

void Notices::SendPending(Message* msg, State& st) {
  std::vector<Entry> failed, relayed;
  for (Entry& e : st.pending) {
    (e.report.outcome == queue::kOutcomeDelivered ? relayed : failed).push_back(std::move(e));
  }
  st.pending.clear();
  // Submit may finish at once (a spool error puts the entries back) and
  // retire recipients: `st` is not used after this point.
  if (!relayed.empty()) Submit(msg, delivery::DsnAction::kRelayed, std::move(relayed), {});
  if (!failed.empty()) Submit(msg, delivery::DsnAction::kFailed, std::move(failed), {});
}

void Notices::Submit(Message* msg, delivery::DsnAction kind, std::vector<Entry> entries,
                     const std::vector<uint32_t>& delayed) {
  const int64_t now = loop_->wall_ms();
  delivery::DsnInput in;
  in.kind = kind;
  in.reporting_mta = hostname_;
  in.report_to = msg->sender.empty() ? config_->double_bounce : msg->sender;
  in.original_queue_id = queue::FormatMessageId(msg->id);
  in.envid = msg->dsn.envid;
  in.return_full = msg->dsn.ret == queue::DsnRet::kFull;
  in.ret_absent = msg->dsn.ret == queue::DsnRet::kUnspecified;
  in.arrival_ms = msg->queued_at_ms;
  in.now_ms = now;
  in.delay_warning_after_ms = now - msg->queued_at_ms;
  in.max_age_ms = absl::ToInt64Milliseconds(config_->max_age);
  in.original = msg->content;
  in.size_limit = config_->bounce_size_limit;
  auto add = [&](const RecipientReport& e, delivery::DsnAction action) {
    delivery::DsnRecipient& r = in.recipients.emplace_back();
    r.final_recipient = msg->recipients[e.rcpt];
    if (e.rcpt < msg->dsn.orcpt.size()) r.original_recipient = msg->dsn.orcpt[e.rcpt];
    r.action = action;
    r.code = e.code;
    r.status = e.enhanced;
    r.remote_mta = std::string(HostOf(e.remote));
    if (!e.remote.empty()) {
      r.diagnostic = absl::StrCat(e.code, e.enhanced.empty() ? "" : " ", e.enhanced, " ", e.text);
    }
    r.explanation = Explain(e, DomainOf(r.final_recipient));
    if (e.outcome == queue::kOutcomeExpired) {
      r.explanation = absl::StrCat("It could not be delivered within ",
                                   DurationToString(config_->max_age),
                                   ", the longest a message is kept. ",
                                   e.code != 0 ? "The last attempt: " : "", e.code != 0
                                       ? r.explanation : "");
      if (r.status.empty() || r.status[0] != '4') r.status = "4.4.7";
    }
    r.last_attempt_ms = e.at_ms;
    r.category = std::string(e.category);
  };
  for (const Entry& e : entries) add(e.report, kind);
  if (kind == delivery::DsnAction::kDelayed) {
    State& st = states_[msg];
    for (uint32_t rcpt : delayed) {
      auto it = st.last.find(rcpt);
      RecipientReport e = it != st.last.end() ? it->second : RecipientReport{};
      e.rcpt = rcpt;
      add(e, kind);
    }
  }
  std::unique_ptr<server::IncomingMessage> notice = intake_->NewIncomingMessage();
  notice->id = intake_->NewMessageId();
  in.message_id = absl::StrCat("<", queue::FormatMessageId(notice->id), ".notice@", hostname_,
                               ">");
  notice->sender.clear();
  notice->recipients.assign(1, in.report_to);
  notice->content = delivery::ComposeDsn(in);
  notice->received_at_ms = now;
  // The returned original may be 8-bit or carry UTF-8 addresses.
  notice->eight_bit = msg->eight_bit;
  notice->smtputf8 = msg->smtputf8;
  std::vector<uint32_t> rcpts;
  rcpts.reserve(entries.size());
  for (const Entry& e : entries) rcpts.push_back(e.report.rcpt);
  auto* commit = new Commit(this, msg, kind, in.report_to, std::move(entries));
  commits_.insert(commit);
  intake_->SubmitNotice(commit, std::move(notice), msg->id, std::move(rcpts));
}

void Notices::Committed(Commit* commit, const absl::Status& status, uint64_t id) {
  commits_.erase(commit);
  std::unique_ptr<Commit> owned(commit);
  std::vector<Entry>& entries = commit->entries();
  if (!status.ok()) {
    fprintf(stderr, "ringpost: notice about %s not spooled (%s); tried again in %llus\n",
            queue::FormatMessageId(commit->original_id()).c_str(),
            std::string(status.message()).c_str(),
            static_cast<unsigned long long>(kRetryMs / 1000));
    if (entries.empty()) {
      // A delay warning (its message may be gone): the next deferral of
      // the message, if any, tries again.
      for (auto& [m, st] : states_) {
        if (m->id == commit->original_id()) st.delay_warned = false;
      }
      return;
    }
    Message* msg = commit->original();
    State& st = states_[msg];
    for (Entry& e : entries) st.pending.push_back(std::move(e));
    QueueRetry(msg, st);
    return;
  }
  ++sent_;
  LogRecord r;
  r.type = LogEvent::kNotice;
  r.id = id;
  r.about_id = commit->original_id();
  r.recipient = commit->report_to();
  r.domain = DomainOf(commit->report_to());
  r.response = KindName(commit->kind());
  r.event_at_ms = loop_->wall_ms();
  r.queued_at_ms = r.event_at_ms;
  log_->Add(r);
  for (const Entry& e : entries) Retire(commit->original(), e.report.rcpt, e.report.outcome);
}

void Notices::QueueRetry(Message* msg, State& st) {
  if (!st.retry_queued) {
    st.retry_queued = true;
    retry_.push_back(msg);
  }
  if (!retry_timer_.armed()) loop_->timers().Arm(&retry_timer_, loop_->now_ms() + kRetryMs);
}

void Notices::OnRetryTimer() {
  std::vector<Message*> due;
  due.swap(retry_);
  for (Message* msg : due) {
    auto it = states_.find(msg);
    if (it == states_.end()) continue;
    it->second.retry_queued = false;
    if (!it->second.pending.empty()) SendPending(msg, it->second);
  }
}

}  // namespace ringpost::inbound
