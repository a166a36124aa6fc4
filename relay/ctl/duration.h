// relay/ctl/duration.h — the durations ringpostctl takes on its command
// line (`suspend DOMAIN --for 1h30m`, `--timeout=10s`) and shows (a queue's
// oldest message, "5m40s").
//
// A duration is one or more NUMBER UNIT parts, units d, h, m, s and ms, each
// at most once and from the largest to the smallest: "30s", "10m", "2h",
// "1d", "1h30m", "1d12h", "1s500ms". No spaces, no signs, no fractions;
// "0s" is zero. At most kMaxDuration: a bound against overflow, not a
// policy (the relay decides how long a suspension may be). relay/config's
// ParseDuration reads every string DurationToString writes, so the relay can
// parse what ringpostctl sends it.
//
// Usage:
//   absl::StatusOr<absl::Duration> d = ctl::ParseDuration("1h30m");
//   ctl::DurationToString(*d) == "1h30m";
//   ctl::DurationToString(absl::Seconds(90)) == "1m30s"

#ifndef RINGPOST_RELAY_CTL_DURATION_H_
#define RINGPOST_RELAY_CTL_DURATION_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ringpost::ctl {

inline constexpr absl::Duration kMaxDuration = absl::Hours(24 * 3650);  // ten years

// The duration `text` says, or InvalidArgument naming what is wrong.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// `d`, truncated to whole milliseconds, in the form ParseDuration reads:
// largest units first, zero parts left out ("1d2h", "1m30s", "250ms");
// "0s" for zero. Negative durations are written as zero.
std::string DurationToString(absl::Duration d);

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_DURATION_H_
