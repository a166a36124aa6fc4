// relay/delivery/outcome_policy.h — what an attempt's result means for mail.
//
// Pure functions, no state, no clock, no random source of their own: every
// input is a parameter, so each branch is tested from a table
// (outcome_policy_test.cc) and the same inputs always give the same answer.
// The scheduler (relay/delivery/scheduler) and the connection pool
// (relay/outbound/pool) ask; they only carry the decisions out.
//
// A recipient's attempt ends in one of four ways (Decide):
//   2xx                → delivered
//   5xx                → bounced with that status (RFC 5321 4.2.1)
//   4xx (or anything else, e.g. a lost connection's 451)
//                      → retried at now + backoff, or expired when the
//                        message is older than max_age
// Backoff: retry_min · 2^(attempt−1), at most retry_max, plus up to 10%
// jitter drawn from the caller's random number (so a burst's retries do not
// land together). A retry is never scheduled past the message's expiry:
// then it is due exactly at the expiry and is marked to expire, not retry.
//
// When no SMTP reply came, the recipient still needs a status:
//   ConnectionFailureStatus  a connection refused, timed out or greeted
//       with an error is temporary for every recipient: 5xx becomes 4xx
//       (a refusing server at one address says nothing final about the
//       mail), no code becomes 451 4.4.1.
//   DnsFailureStatus  NXDOMAIN, null MX, a mail loop: permanent (5xx, 550
//       when the resolver gave none); SERVFAIL, timeouts: temporary (4xx,
//       451 when none).
//
// A destination with several addresses (MX hosts in preference order, each
// host's addresses in order) fails over (RFC 5321 5.1): AfterConnectFailure
// says, once a connection could not be used, whether to wait for the
// connections that work, try the next address now, wait for attempts still
// connecting, or defer the destination's queue.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::delivery {

// An SMTP status: reply code and enhanced code ("4.4.1"; may be empty).
struct Status {
  int code = 0;
  std::string enhanced;

  bool operator==(const Status&) const = default;
};

struct RetrySettings {
  int64_t retry_min_ms = 0;
  int64_t retry_max_ms = 0;
  int64_t max_age_ms = 0;
};

// One recipient's attempt, as the scheduler knows it.
struct Attempt {
  uint32_t number = 1;       // 1 for the first attempt
  int64_t queued_at_ms = 0;  // wall clock, when the message was accepted
  int64_t now_ms = 0;        // wall clock, now
};

enum class Action { kDelivered, kBounce, kRetry, kExpire };

struct Decision {
  Action action = Action::kRetry;
  // kRetry: when (wall clock ms) the next attempt is due.
  int64_t retry_at_ms = 0;
  // kRetry: the retry was cut short by max_age; when it is due, the
  // recipient expires instead of being tried again.
  bool expire_at_retry = false;

  bool operator==(const Decision&) const = default;
};

// The decision for a recipient whose attempt ended with `reply_code`.
// `random` is any 64-bit random number (the jitter's source).
Decision Decide(int reply_code, const Attempt& attempt, const RetrySettings& settings,
                uint64_t random);

// Whether a message accepted at `queued_at_ms` is past max_age at `now_ms`.
bool Expired(int64_t queued_at_ms, int64_t now_ms, const RetrySettings& settings);

// The delay before retry number `attempt`+1, without jitter or expiry.
int64_t Backoff(uint32_t attempt, const RetrySettings& settings);

Status ConnectionFailureStatus(int code, std::string_view enhanced);
Status DnsFailureStatus(bool permanent, int code, std::string_view enhanced);

// A destination's connections and addresses, after a connection that never
// got ready was counted (the pool advances to the next address and counts
// the failure before it asks).
struct SiteState {
  size_t addresses = 1;       // delivery addresses known
  size_t failed_in_a_row = 0;  // addresses that failed since one worked
  size_t connecting = 0;      // attempts still connecting
  size_t working = 0;         // connections past EHLO
};

enum class SiteAction {
  kKeepGoing,  // other connections work: they take the queue
  kNextAddress,  // try the next address now
  kWait,       // every address failed, but attempts are still connecting
  kDeferQueue  // every address failed: defer what waits (then retried)
};

SiteAction AfterConnectFailure(const SiteState& site);

}  // namespace ringpost::delivery
