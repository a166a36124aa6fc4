// metrics_text_example.cc — prints a representative /metrics document made
// by MetricsWriter: counters, gauges, histograms, escaped label values and
// the special numbers. metrics_text_promtool_test.sh pipes it through
// Prometheus' own checker (promtool check metrics), so the format is judged
// by the parser that will read it, not only by our golden strings.
#include <cstdint>
#include <cstdio>
#include <limits>

#include "relay/admin/metrics_text.h"

int main() {
  using ringpost::admin::MetricsWriter;
  const double bounds[] = {0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60};
  const uint64_t sent[] = {0, 12, 140, 33, 7, 2, 1, 0, 1};
  const uint64_t deferred[] = {0, 0, 0, 0, 4, 9, 3, 1, 2};

  MetricsWriter w;
  w.Family("ringpost_messages_received_total", "counter", "Messages accepted for relay.");
  w.Sample("ringpost_messages_received_total", {{"listener", "smtp"}}, uint64_t{1027});
  w.Sample("ringpost_messages_received_total", {{"listener", "submission"}}, uint64_t{0});
  w.Family("ringpost_delivery_errors_total", "counter",
           "Failed delivery attempts, by \"reason\" (\\ and newlines\nescaped).");
  w.Sample("ringpost_delivery_errors_total",
           {{"reason", "451 4.7.1 \"greylisted\"\\try later\nsecond line"}, {"shard", "0"}},
           uint64_t{18446744073709551615u});
  w.Sample("ringpost_delivery_errors_total",
           {{"reason", "550 5.1.1 caf\xc3\xa9 \xff\xfe not UTF-8 \xed\xa0\x80"}, {"shard", "1"}},
           uint64_t{2});
  w.Family("ringpost_spool_bytes", "gauge", "Bytes held in the spool.");
  w.Sample("ringpost_spool_bytes", {{"shard", "0"}}, 1.5e9);
  w.Sample("ringpost_spool_bytes", {{"shard", "1"}}, 0.0);
  w.Family("ringpost_dns_cache_ratio", "gauge", "A gauge with the special values.");
  w.Sample("ringpost_dns_cache_ratio", {{"kind", "inf"}}, std::numeric_limits<double>::infinity());
  w.Sample("ringpost_dns_cache_ratio", {{"kind", "neg_inf"}},
           -std::numeric_limits<double>::infinity());
  w.Sample("ringpost_dns_cache_ratio", {{"kind", "nan"}}, std::numeric_limits<double>::quiet_NaN());
  w.Sample("ringpost_dns_cache_ratio", {{"kind", "tiny"}}, 5e-324);
  w.Family("ringpost_delivery_seconds", "histogram", "Time from queueing to the final reply.");
  w.Histogram("ringpost_delivery_seconds", {{"result", "sent"}}, bounds, sent, 6.75);
  w.Histogram("ringpost_delivery_seconds", {{"result", "deferred"}}, bounds, deferred, 123.5);
  w.Family("ringpost_smtp_reply_seconds", "histogram", "A histogram without labels.");
  const uint64_t none[] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  w.Histogram("ringpost_smtp_reply_seconds", {}, bounds, none, 0.0);
  const std::string text = w.Take();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
