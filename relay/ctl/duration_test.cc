// duration_test.cc — the command line's durations: what they read as, what
// is refused, the bound, and DurationToString writing what ParseDuration reads.
#include "relay/ctl/duration.h"

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace ringpost::ctl {
namespace {

struct Read {
  std::string_view text;
  absl::Duration value;
  std::string_view formatted;
};

const Read kRead[] = {
    {"30s", absl::Seconds(30), "30s"},
    {"10m", absl::Minutes(10), "10m"},
    {"2h", absl::Hours(2), "2h"},
    {"1d", absl::Hours(24), "1d"},
    {"1h30m", absl::Minutes(90), "1h30m"},
    {"90m", absl::Minutes(90), "1h30m"},
    {"1d12h", absl::Hours(36), "1d12h"},
    {"1d1h1m1s1ms", absl::Hours(25) + absl::Minutes(1) + absl::Seconds(1) + absl::Milliseconds(1),
     "1d1h1m1s1ms"},
    {"250ms", absl::Milliseconds(250), "250ms"},
    {"1s500ms", absl::Milliseconds(1500), "1s500ms"},
    {"3600s", absl::Hours(1), "1h"},
    {"0s", absl::ZeroDuration(), "0s"},
    {"00010m", absl::Minutes(10), "10m"},
    {"3650d", absl::Hours(24 * 3650), "3650d"},
};

TEST(ParseDuration, Reads) {
  for (const Read& r : kRead) {
    const absl::StatusOr<absl::Duration> d = ParseDuration(r.text);
    ASSERT_TRUE(d.ok()) << r.text << ": " << d.status();
    EXPECT_EQ(*d, r.value) << r.text;
    EXPECT_EQ(DurationToString(*d), r.formatted) << r.text;
  }
}

TEST(ParseDuration, Refuses) {
  for (const std::string_view bad : {
           "",         "0",
           "30",       "s",
           "1x",       "1S",
           "1H",       "1 h",
           " 1h",      "1h ",
           "-1h",      "+1h",
           "1.5h",     "1h30",
           "30m1h",  // smallest first
           "1h1h",   // a unit twice
           "1m1h",     "1s1m",
           "1ms1s",    "1hm",
           "1mss",     "1us",
           "1w",       "1y",
           "h1",
           "3650d1ms",  // over the bound
           "3651d",    "99999999999999999999s",
           "87600h1s",
       }) {
    const absl::StatusOr<absl::Duration> d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << bad << " read as " << d.value_or(absl::ZeroDuration());
    EXPECT_TRUE(absl::StrContains(d.status().message(), "e.g. 30s")) << d.status();
  }
}

TEST(ParseDuration, SaysWhatIsWrong) {
  EXPECT_EQ(std::string(ParseDuration("5x").status().message()),
            "bad duration \"5x\": unknown unit \"x\" (e.g. 30s, 10m, 2h, 1d, 1h30m)");
  EXPECT_EQ(std::string(ParseDuration("30").status().message()),
            "bad duration \"30\": a number without a unit (d, h, m, s, ms) "
            "(e.g. 30s, 10m, 2h, 1d, 1h30m)");
}

TEST(DurationToString, LargestUnitsFirst) {
  EXPECT_EQ(DurationToString(absl::Seconds(340)), "5m40s");
  EXPECT_EQ(DurationToString(absl::Seconds(86400 + 60)), "1d1m");
  EXPECT_EQ(DurationToString(absl::Microseconds(1999)), "1ms");  // truncated
  EXPECT_EQ(DurationToString(absl::Microseconds(999)), "0s");
  EXPECT_EQ(DurationToString(absl::ZeroDuration()), "0s");
  EXPECT_EQ(DurationToString(-absl::Seconds(5)), "0s");
  // Every whole-millisecond duration within the bound reads back the same.
  for (int64_t ms : {1LL, 999LL, 1000LL, 59'999LL, 3'600'001LL, 86'399'999LL, 123'456'789'012LL}) {
    const absl::Duration d = absl::Milliseconds(ms);
    EXPECT_EQ(ParseDuration(DurationToString(d)).value_or(absl::ZeroDuration()), d) << ms;
  }
}

}  // namespace
}  // namespace ringpost::ctl
