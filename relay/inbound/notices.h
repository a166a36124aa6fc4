// relay/inbound/notices.h — the origin shard's delivery status
// notifications: bounces, delay warnings and success reports (RFC 3464),
// written to the envelope sender of a message this shard spooled.
//
// What reaches it: the plain final outcomes of recipients delivered quietly
// (Outcome, the happy path: a counter and the retirement), and one
// AttemptReport per attempt that had failures or owed a success notice
// (Report, from the scheduler of the domain's shard).
//
// When a notice goes out:
//   - a failure (bounced, or expired after max_age) of a recipient whose
//     NOTIFY allows FAILURE (no NOTIFY does) waits for the end of its pass:
//     the first pass of a message is the first attempt of every recipient
//     (Message::first_pass_left counts them down), so the failures of one
//     message's first pass go in one bounce, whichever domains they had;
//     a later attempt (a retry of one destination's recipients, or their
//     expiry) is a pass of its own;
//   - a delivery to a hop that takes no DSN, when NOTIFY has SUCCESS: a
//     success notice ("relayed") at the end of the pass, like a bounce;
//   - with delay_warning_time set, the first deferral reported after the
//     message has waited that long sends one delay warning listing the
//     recipients still waiting whose NOTIFY allows DELAY (no NOTIFY does).
//     Once per message while the relay runs (a restart may send another).
//
// Durability: a notice is spooled like any message, from <>, and its record
// names the recipients it reports on (MessageRecord::reports_on_*): they are
// retired only once that record is durable, and a restart that finds the
// record treats them as done (Intake::Recover). So a crash in between
// neither loses the notice nor sends it twice. If the spool cannot take the
// notice now, the recipients stay queued and it is tried again every
// second.
//
// No notice for a message from <> (a notice itself): its failure is in the
// delivery log, and, when double_bounce is set, reported to that address —
// unless the notice that failed was already going there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "relay/config/config.h"
#include "relay/delivery/delivery_log.h"
#include "relay/delivery/dsn_report.h"
#include "relay/delivery/message.h"
#include "relay/inbound/intake.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/timer_wheel.h"

namespace ringpost::inbound {

class Notices {
 public:
  // `config` is the shard's live copy (SIGHUP changes it in place between
  // turns); `hostname` names this relay in the notices.
  Notices(const Config* config, std::string hostname, runtime::Loop* loop, Intake* intake,
          DeliveryLog* log);
  ~Notices();

  // A recipient's plain final outcome (no report was owed).
  void Outcome(Message* msg, uint32_t rcpt, uint8_t kind, bool first);
  // An attempt's report; owned from now on.
  void Report(std::unique_ptr<AttemptReport> report);
  // After the loop stopped: forgets every notice in flight (the spool keeps
  // what was committed; undone recipients are recovered).
  void FreeAll();

  // For tests and /metrics: notices committed to the spool so far.
  uint64_t sent() const { return sent_; }

 private:
  class Commit;  // a notice waiting for its spool commit
  struct Entry {
    RecipientReport report;
    // Expired: what the last attempt said (the expiry itself names none).
    bool had_reply = false;
  };
  // One message with something reported, until it is freed.
  struct State {
    std::vector<Entry> pending;          // final, waiting for the pass's notice
    absl::flat_hash_map<uint32_t, RecipientReport> last;  // per recipient, the last deferral
    std::vector<uint32_t> waiting;       // deferred now, retried later
    bool delay_warned = false;
    bool retry_queued = false;
  };

  void Retire(Message* msg, uint32_t rcpt, uint8_t kind);
  bool FirstPassResult(Message* msg);
  bool WantsNotice(const Message& msg, uint32_t rcpt, delivery::DsnAction action) const;
  void Final(Message* msg, State& st, RecipientReport& e);
  void MaybeWarnDelay(Message* msg, State& st);
  // Sends the pending notices of `msg` (one per kind: failures, successes).
  void SendPending(Message* msg, State& st);
  // Composes and submits one notice about `msg`; `entries` are retired when
  // it is durable (none for a delay warning). False: not submitted now.
  void Submit(Message* msg, delivery::DsnAction kind, std::vector<Entry> entries,
              const std::vector<uint32_t>& delayed);
  void Committed(Commit* commit, const absl::Status& status, uint64_t id);
  void QueueRetry(Message* msg, State& st);
  void OnRetryTimer();

  const Config* config_;
  std::string hostname_;
  runtime::Loop* loop_;
  Intake* intake_;
  DeliveryLog* log_;
  // Node-based: a State& stays valid while others come and go.
  absl::node_hash_map<Message*, State> states_;
  absl::flat_hash_set<Commit*> commits_;  // in flight
  std::vector<Message*> retry_;           // notices the spool could not take
  runtime::Timer retry_timer_;
  uint64_t sent_ = 0;
};

}  // namespace ringpost::inbound
