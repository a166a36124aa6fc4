// relay/delivery/message.h — the plain data a message's path passes along:
// a spooled Message (owned by its origin shard) and a DeliveryJob (the
// recipients of one message for one domain, on the shard that owns that
// domain). Every owner may include this file; it includes no owner.
//
// Ownership, across threads:
//   - A Message lives on its origin shard (relay/inbound/intake) from the
//     spool's commit until its last recipient has a final outcome. Owner
//     shards read only its immutable fields (everything but `remaining`,
//     the list links and `submitter`) while they hold a job for it.
//   - A DeliveryJob belongs to exactly one shard at a time: made by the
//     origin, handed through a cross-shard ring to the domain's owner
//     (relay/delivery/scheduler), finished (recycled) there.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "queue/record.h"
#include "queue/spool.h"
#include "relay/config/config.h"
#include "relay/delivery/outcome_policy.h"
#include "relay/runtime/timer_wheel.h"

namespace ringpost {

namespace delivery {
class Scheduler;
}

// Whoever submitted a message and waits for the spool's answer (an inbound
// connection). Told exactly once.
class CommitListener {
 public:
  virtual void Committed(absl::Status status, uint64_t id) = 0;
  // The client's address, for the delivery log's Reception records.
  virtual const std::string& peer() const = 0;

 protected:
  ~CommitListener() = default;
};

struct Message {
  uint64_t id = 0;
  int origin = 0;
  queue::MessageLocator locator;
  std::string sender;
  std::vector<std::string> recipients;
  std::string content;
  int64_t queued_at_ms = 0;  // wall clock
  uint64_t submitted_ns = 0;  // the origin loop's turn clock at submission (metrics)
  bool eight_bit = false;
  bool smtputf8 = false;
  // RFC 3461 parameters (spooled): notify and orcpt empty or one per
  // recipient, indexed like `recipients`.
  queue::DsnFields dsn;
  // How it arrived, for the Reception record (not spooled).
  std::string auth_user;  // SMTP AUTH user; empty: none
  std::string tls;        // "TLSv1.3 with cipher ..."; empty: plaintext
  uint32_t remaining = 0;        // recipients without a final outcome (origin only)
  // Recipients whose first attempt (since the message was queued or
  // recovered) has not reported back yet (origin only): when it reaches 0
  // the first delivery pass is over and its failures go in one bounce.
  uint32_t first_pass_left = 0;
  uint64_t accounted_bytes = 0;  // counted in the origin's queued bytes
  CommitListener* submitter = nullptr;  // until its commit reports
  Message* prev = nullptr;  // the origin's list of live messages
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
    submitted_ns = 0;
    auth_user.clear();
    tls.clear();
    eight_bit = false;
    smtputf8 = false;
    dsn.clear();
    remaining = 0;
    first_pass_left = 0;
    accounted_bytes = 0;
    submitter = nullptr;
    prev = next = nullptr;
  }
};

// Where a destination's mail goes (the router tells the pool): addresses in
// delivery order, the host name each belongs to (the MX host, or a route's
// host: TLS verifies it and sends it as SNI), and the TLS level.
struct Targets {
  std::vector<sockaddr_storage> addrs;
  std::vector<std::string> names;  // one per address
  TlsLevel tls = TlsLevel::kMay;
};

struct DeliveryJob {
  delivery::Scheduler* owner = nullptr;  // the scheduler whose queues hold it
  Message* message = nullptr;
  std::string domain;            // lowercase
  std::vector<uint32_t> rcpts;   // indices into message->recipients
  uint32_t attempts = 0;
  bool expire_at_retry = false;  // the retry timer was cut short by max_age
  // The retry schedule of the destination policy it was last routed under
  // (set by the router); max_age_ms 0: not routed yet (the settings').
  delivery::RetrySettings retry;
  // Its last attempt's failure ("451 4.7.0 text"; empty: none), for
  // ringpostctl inspect.
  std::string last_reply;
  runtime::Timer retry_timer;
  // The TLS of the connection of its last attempt (set by the outbound
  // connection with the outcomes; the scheduler logs it).
  bool tls = false;
  bool tls_verified = false;
  std::string tls_version;
  std::string tls_cipher;

  // Back to the defaults, keeping the vectors' storage (for recycling).
  void Reset() {
    owner = nullptr;
    message = nullptr;
    rcpts.clear();
    attempts = 0;
    expire_at_retry = false;
    retry = {};
    last_reply.clear();
    tls = false;
    tls_verified = false;
  }
};

// What one recipient's attempt tells its message's origin when it did more
// than deliver quietly: a failure, final or not, or a delivery the sender
// asked to hear about (DSN NOTIFY=SUCCESS at a hop that does not pass DSN
// on). The origin sends the notices (relay/inbound/notices).
struct RecipientReport {
  uint32_t rcpt = 0;          // index into message->recipients
  uint8_t outcome = 0;        // queue::kOutcome* when final; 0: deferred (tried again later)
  int code = 0;               // the reply code (ours when no server answered: then 4xx/5xx)
  std::string enhanced;       // "5.1.1"; may be empty
  std::string text;           // the server's reply text, or our reason
  std::string remote;         // the server that answered ("host:port"); empty: none did
  std::string_view category;  // delivery/bounce_class CategoryName (static); empty: delivered
  int64_t at_ms = 0;          // wall clock of the attempt
};

// The reports of one attempt of one job, sent to the message's origin in
// one cross-shard item. Allocated only when an attempt has something to
// report: the happy path sends plain final outcomes.
struct AttemptReport {
  Message* message = nullptr;
  // These recipients' first attempt since the message was queued or
  // recovered (counts down Message::first_pass_left).
  bool first = false;
  std::vector<RecipientReport> recipients;
};

}  // namespace ringpost
