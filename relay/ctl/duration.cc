// relay/ctl/duration.cc — see duration.h.
#include "relay/ctl/duration.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "relay/ctl/absl_strings.h"

namespace ringpost::ctl {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};

// Largest first: the order the parts must come in.
constexpr Unit kUnits[] = {
    {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1},
};
constexpr size_t kUnitCount = sizeof(kUnits) / sizeof(kUnits[0]);

absl::Status Bad(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      Cat("bad duration \"", text, "\": ", why, " (e.g. 30s, 10m, 2h, 1d, 1h30m)"));
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  const int64_t max_ms = absl::ToInt64Milliseconds(kMaxDuration);
  int64_t total_ms = 0;
  size_t next_unit = 0;  // the parts' units must come after this one
  size_t pos = 0;
  // Bounded: each iteration consumes at least two bytes (digits, a unit).
  while (pos < text.size()) {
    int64_t n = 0;
    const size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (n > max_ms) return Bad(text, "too long");
      n = n * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return Bad(text, "expected a number");
    const size_t unit_start = pos;
    while (pos < text.size() && text[pos] >= 'a' && text[pos] <= 'z') ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    if (unit.empty()) return Bad(text, "a number without a unit (d, h, m, s, ms)");
    size_t u = 0;
    while (u < kUnitCount && kUnits[u].name != unit) ++u;
    if (u == kUnitCount) return Bad(text, Cat("unknown unit \"", unit, "\""));
    if (u < next_unit)
      return Bad(text, "units must go from the largest to the smallest, once each");
    next_unit = u + 1;
    if (n > (max_ms - total_ms) / kUnits[u].ms) return Bad(text, "longer than ten years");
    total_ms += n * kUnits[u].ms;
  }
  return absl::Milliseconds(total_ms);
}

std::string DurationToString(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);  // truncates; saturates when infinite
  if (ms <= 0) return "0s";
  std::string out;
  for (const Unit& unit : kUnits) {
    const int64_t n = ms / unit.ms;
    if (n == 0) continue;
    CatAppend(&out, n, unit.name);
    ms -= n * unit.ms;
  }
  return out;
}

}  // namespace ringpost::ctl
