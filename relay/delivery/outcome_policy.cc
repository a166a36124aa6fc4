// outcome_policy.cc — see outcome_policy.h.
#include "relay/delivery/outcome_policy.h"

namespace ringpost::delivery {

bool Expired(int64_t queued_at_ms, int64_t now_ms, const RetrySettings& settings) {
  return now_ms - queued_at_ms >= settings.max_age_ms;
}

int64_t Backoff(uint32_t attempt, const RetrySettings& settings) {
  int64_t delay = settings.retry_min_ms;
  // Bounded: stops doubling at retry_max (at most ~63 rounds for any value).
  for (uint32_t i = 1; i < attempt && delay < settings.retry_max_ms; ++i) delay *= 2;
  return delay > settings.retry_max_ms ? settings.retry_max_ms : delay;
}

Decision Decide(int reply_code, const Attempt& attempt, const RetrySettings& settings,
                uint64_t random) {
  Decision d;
  if (reply_code >= 200 && reply_code < 300) {
    d.action = Action::kDelivered;
    return d;
  }
  if (reply_code >= 500) {
    d.action = Action::kBounce;
    return d;
  }
  if (Expired(attempt.queued_at_ms, attempt.now_ms, settings)) {
    d.action = Action::kExpire;
    return d;
  }
  int64_t delay = Backoff(attempt.number, settings);
  const int64_t jitter_range = delay / 10;
  if (jitter_range > 0) delay += static_cast<int64_t>(random % static_cast<uint64_t>(jitter_range));
  const int64_t left = attempt.queued_at_ms + settings.max_age_ms - attempt.now_ms;
  d.action = Action::kRetry;
  if (left <= delay) {
    d.retry_at_ms = attempt.now_ms + left;  // left > 0: not Expired above
    d.expire_at_retry = true;
  } else {
    d.retry_at_ms = attempt.now_ms + delay;
  }
  return d;
}

Status ConnectionFailureStatus(int code, std::string_view enhanced) {
  Status s;
  s.code = code >= 500 ? 451 : (code >= 400 ? code : 451);
  s.enhanced = enhanced.empty() ? "4.4.1" : std::string(enhanced);
  if (s.enhanced[0] == '5') s.enhanced[0] = '4';
  return s;
}

Status DnsFailureStatus(bool permanent, int code, std::string_view enhanced) {
  Status s;
  if (permanent) {
    s.code = code >= 500 && code < 600 ? code : 550;
  } else {
    s.code = code >= 400 && code < 500 ? code : 451;
  }
  s.enhanced = std::string(enhanced);
  return s;
}

SiteAction AfterConnectFailure(const SiteState& site) {
  if (site.working > 0) return SiteAction::kKeepGoing;
  if (site.failed_in_a_row < site.addresses) return SiteAction::kNextAddress;
  if (site.connecting > 0) return SiteAction::kWait;
  return SiteAction::kDeferQueue;
}

}  // namespace ringpost::delivery
