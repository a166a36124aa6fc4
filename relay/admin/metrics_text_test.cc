// metrics_text_test.cc — the Prometheus text the writer produces, as golden
// strings: families, samples with and without labels, escaping, number
// formats, cumulative histogram buckets; and the CHECKs on names and order.
#include "relay/admin/metrics_text.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace ringpost::admin {
namespace {

TEST(MetricsWriter, CounterAndGauge) {
  MetricsWriter w;
  w.Family("ringpost_messages_received_total", "counter", "Messages accepted for relay.");
  w.Sample("ringpost_messages_received_total", {{"listener", "smtp"}}, uint64_t{1027});
  w.Sample("ringpost_messages_received_total", {{"listener", "submission"}, {"tls", "yes"}},
           uint64_t{3});
  w.Family("ringpost_queue_messages", "gauge", "Messages in the spool.");
  w.Sample("ringpost_queue_messages", {}, uint64_t{0});
  EXPECT_EQ(w.text(),
            "# HELP ringpost_messages_received_total Messages accepted for relay.\n"
            "# TYPE ringpost_messages_received_total counter\n"
            "ringpost_messages_received_total{listener=\"smtp\"} 1027\n"
            "ringpost_messages_received_total{listener=\"submission\",tls=\"yes\"} 3\n"
            "# HELP ringpost_queue_messages Messages in the spool.\n"
            "# TYPE ringpost_queue_messages gauge\n"
            "ringpost_queue_messages 0\n");
}

TEST(MetricsWriter, IntegersAreExact) {
  MetricsWriter w;
  w.Family("c_total", "counter", "h");
  w.Sample("c_total", {}, std::numeric_limits<uint64_t>::max());
  w.Sample("c_total", {}, uint64_t{9007199254740993});  // 2^53 + 1: no double holds it
  EXPECT_EQ(w.text(),
            "# HELP c_total h\n# TYPE c_total counter\n"
            "c_total 18446744073709551615\n"
            "c_total 9007199254740993\n");
}

struct DoubleCase {
  double value;
  std::string text;
};

TEST(MetricsWriter, DoublesReadBackExactly) {
  const DoubleCase kCases[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {1.0, "1"},
      {-2.5, "-2.5"},
      {0.1, "0.1"},
      {0.005, "0.005"},
      {1.0 / 3.0, "0.3333333333333333"},
      {1e6, "1e+06"},
      {123456.0, "123456"},
      {1.5e-9, "1.5e-09"},
      {std::numeric_limits<double>::max(), "1.7976931348623157e+308"},
      {std::numeric_limits<double>::denorm_min(), "5e-324"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const DoubleCase& c : kCases) {
    MetricsWriter w;
    w.Family("g", "gauge", "h");
    w.Sample("g", {}, c.value);
    EXPECT_EQ(w.text(), "# HELP g h\n# TYPE g gauge\ng " + c.text + "\n") << c.text;
    if (std::isfinite(c.value)) {
      EXPECT_EQ(std::strtod(c.text.c_str(), nullptr), c.value) << c.text;
    }
  }
}

TEST(MetricsWriter, LabelValuesAndHelpAreEscaped) {
  MetricsWriter w;
  w.Family("ringpost_errors_total", "counter", "Errors, by \"reason\"\\kind\nsecond line.");
  w.Sample("ringpost_errors_total",
           {{"reason", "say \"no\"\\\nnow"}, {"path", "C:\\spool"}, {"empty", ""},
            {"utf8", "caf\xc3\xa9 {x=1,y}"}},
           uint64_t{1});
  EXPECT_EQ(w.text(),
            "# HELP ringpost_errors_total Errors, by \"reason\"\\\\kind\\nsecond line.\n"
            "# TYPE ringpost_errors_total counter\n"
            "ringpost_errors_total{reason=\"say \\\"no\\\"\\\\\\nnow\",path=\"C:\\\\spool\","
            "empty=\"\",utf8=\"caf\xc3\xa9 {x=1,y}\"} 1\n");
}

TEST(MetricsWriter, LabelValuesThatAreNotUtf8GetReplacementCharacters) {
  struct Case {
    std::string value;
    std::string written;
  };
  const std::string kFffd = "\xEF\xBF\xBD";
  const Case kCases[] = {
      {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7\xf4\x8f\xbf\xbf",  // é € 📧 U+10FFFF
       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7\xf4\x8f\xbf\xbf"},
      {"a\xff" "b", "a" + kFffd + "b"},
      {"\x80", kFffd},                                   // a lone continuation byte
      {"\xc3", kFffd},                                   // cut short at the end
      {"\xc3(", kFffd + "("},
      {"\xc0\x80", kFffd + kFffd},                        // overlong NUL
      {"\xe0\x80\xaf", kFffd + kFffd + kFffd},             // overlong '/'
      {"\xed\xa0\x80", kFffd + kFffd + kFffd},             // a surrogate
      {"\xf4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // above U+10FFFF
      {"\xf8\x88\x80\x80\x80", kFffd + kFffd + kFffd + kFffd + kFffd},
      {"\xe2\x82\"", kFffd + kFffd + "\\\""},             // escaping goes on after
  };
  for (const Case& c : kCases) {
    MetricsWriter w;
    w.Family("g", "gauge", "h");
    w.Sample("g", {{"v", c.value}}, uint64_t{1});
    EXPECT_EQ(w.text(), "# HELP g h\n# TYPE g gauge\ng{v=\"" + c.written + "\"} 1\n") << c.value;
  }
}

TEST(MetricsWriter, HistogramBucketsAreCumulative) {
  const double bounds[] = {0.005, 0.1, 1, 10};
  const uint64_t counts[] = {2, 0, 5, 1, 3};  // the last: above 10 s
  const uint64_t zeros[] = {0, 0, 0, 0, 0};
  MetricsWriter w;
  w.Family("ringpost_delivery_seconds", "histogram", "Time from queue to delivery.");
  w.Histogram("ringpost_delivery_seconds", {{"result", "sent"}}, bounds, counts, 47.25);
  w.Histogram("ringpost_delivery_seconds", {}, bounds, zeros, 0.0);
  EXPECT_EQ(w.text(),
            "# HELP ringpost_delivery_seconds Time from queue to delivery.\n"
            "# TYPE ringpost_delivery_seconds histogram\n"
            "ringpost_delivery_seconds_bucket{result=\"sent\",le=\"0.005\"} 2\n"
            "ringpost_delivery_seconds_bucket{result=\"sent\",le=\"0.1\"} 2\n"
            "ringpost_delivery_seconds_bucket{result=\"sent\",le=\"1\"} 7\n"
            "ringpost_delivery_seconds_bucket{result=\"sent\",le=\"10\"} 8\n"
            "ringpost_delivery_seconds_bucket{result=\"sent\",le=\"+Inf\"} 11\n"
            "ringpost_delivery_seconds_sum{result=\"sent\"} 47.25\n"
            "ringpost_delivery_seconds_count{result=\"sent\"} 11\n"
            "ringpost_delivery_seconds_bucket{le=\"0.005\"} 0\n"
            "ringpost_delivery_seconds_bucket{le=\"0.1\"} 0\n"
            "ringpost_delivery_seconds_bucket{le=\"1\"} 0\n"
            "ringpost_delivery_seconds_bucket{le=\"10\"} 0\n"
            "ringpost_delivery_seconds_bucket{le=\"+Inf\"} 0\n"
            "ringpost_delivery_seconds_sum 0\n"
            "ringpost_delivery_seconds_count 0\n");
}

TEST(MetricsWriter, HistogramWithOnlyTheInfBucket) {
  const uint64_t counts[] = {4};
  MetricsWriter w;
  w.Family("h_seconds", "histogram", "h");
  w.Histogram("h_seconds", {}, {}, counts, 0.5);
  EXPECT_EQ(w.text(),
            "# HELP h_seconds h\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"+Inf\"} 4\n"
            "h_seconds_sum 0.5\n"
            "h_seconds_count 4\n");
}

TEST(MetricsWriter, TakeStartsAFreshDocument) {
  MetricsWriter w;
  w.Family("up", "gauge", "h");
  w.Sample("up", {}, 1.0);
  EXPECT_EQ(w.Take(), "# HELP up h\n# TYPE up gauge\nup 1\n");
  EXPECT_EQ(w.text(), "");
  // The same family again, in the next scrape.
  w.Family("up", "gauge", "h");
  w.Sample("up", {}, 0.0);
  EXPECT_EQ(w.Take(), "# HELP up h\n# TYPE up gauge\nup 0\n");
}

TEST(MetricsWriter, NamesMayHoldColonsAndUnderscores) {
  MetricsWriter w;
  w.Family("_a:b_c9", "gauge", "");
  w.Sample("_a:b_c9", {{"_x9", "v"}}, 2.0);
  EXPECT_EQ(w.text(), "# HELP _a:b_c9 \n# TYPE _a:b_c9 gauge\n_a:b_c9{_x9=\"v\"} 2\n");
}

TEST(MetricsWriterDeathTest, BadNamesAreProgrammingErrors) {
  EXPECT_DEATH(MetricsWriter().Family("", "gauge", "h"), "ValidMetricName");
  EXPECT_DEATH(MetricsWriter().Family("9lives", "gauge", "h"), "ValidMetricName");
  EXPECT_DEATH(MetricsWriter().Family("a-b", "gauge", "h"), "ValidMetricName");
  EXPECT_DEATH(MetricsWriter().Family("a", "summary", "h"), "type ==");
  const auto sample_with_label = [](std::string_view label) {
    MetricsWriter w;
    w.Family("g", "gauge", "h");
    w.Sample("g", {{label, "v"}}, 1.0);
  };
  EXPECT_DEATH(sample_with_label("a:b"), "ValidLabelName");
  EXPECT_DEATH(sample_with_label("__name__"), "ValidLabelName");
  EXPECT_DEATH(sample_with_label("1a"), "ValidLabelName");
  EXPECT_DEATH(sample_with_label(""), "ValidLabelName");
  EXPECT_DEATH(
      {
        MetricsWriter w;
        w.Family("g", "gauge", "h");
        w.Sample("g", {{"a", "1"}, {"a", "2"}}, 1.0);
      },
      "first != a->first");
}

TEST(MetricsWriterDeathTest, SamplesFollowTheirFamily) {
  EXPECT_DEATH(MetricsWriter().Sample("g", {}, 1.0), "family_.empty");
  EXPECT_DEATH(
      {
        MetricsWriter w;
        w.Family("g", "gauge", "h");
        w.Family("g", "gauge", "h");
      },
      "first_time");
  EXPECT_DEATH(
      {
        MetricsWriter w;
        w.Family("a", "gauge", "h");
        w.Family("b", "gauge", "h");
        w.Sample("a", {}, 1.0);  // a's lines must stay together
      },
      "name == family_");
  EXPECT_DEATH(
      {
        MetricsWriter w;
        w.Family("h_seconds", "histogram", "h");
        w.Sample("h_seconds", {}, 1.0);
      },
      "histogram");
}

TEST(MetricsWriterDeathTest, HistogramShape) {
  const auto histogram = [](std::span<const double> bounds, std::span<const uint64_t> counts,
                            std::initializer_list<Label> labels) {
    MetricsWriter w;
    w.Family("h_seconds", "histogram", "h");
    w.Histogram("h_seconds", labels, bounds, counts, 0.0);
  };
  const double two[] = {1, 2};
  const double unordered[] = {2, 1};
  const double equal[] = {1, 1};
  const double infinite[] = {1, std::numeric_limits<double>::infinity()};
  const uint64_t three[] = {0, 0, 0};
  const uint64_t overflowing[] = {std::numeric_limits<uint64_t>::max(), 1, 0};
  EXPECT_DEATH(histogram(two, std::span<const uint64_t>(three).first(2), {}), "counts.size");
  EXPECT_DEATH(histogram(unordered, three, {}), "upper_bounds");
  EXPECT_DEATH(histogram(equal, three, {}), "upper_bounds");
  EXPECT_DEATH(histogram(infinite, three, {}), "isfinite");
  EXPECT_DEATH(histogram(two, overflowing, {}), "cumulative");
  EXPECT_DEATH(histogram(two, three, {{"le", "1"}}), "\"le\"");
}

}  // namespace
}  // namespace ringpost::admin
