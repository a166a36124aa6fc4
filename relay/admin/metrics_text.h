// relay/admin/metrics_text.h — writes the Prometheus text exposition format
// (version 0.0.4) that the admin port serves on GET /metrics.
//
// The shard gathers its counters and histograms and writes them here, one
// family at a time: Family() heads it (# HELP, # TYPE), then its samples
// follow (Sample for counters and gauges, Histogram for histograms). The
// result is served as "text/plain; version=0.0.4; charset=utf-8". No I/O, no
// clock, no registry: the document is exactly what the calls said, in order.
//
// Metric and label names come from our code, never from the network or the
// configuration, so a bad one is a programming error and CHECKed: metric
// names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
// without the reserved "__" prefix; each family is started once, its samples
// follow it before the next family starts (the format wants a family's
// lines together) and carry its name; a sample's label names are distinct.
// Label values are data: escaped (\\, \", \n), and each byte that is not
// part of well-formed UTF-8 written as U+FFFD (Prometheus drops a whole
// scrape over one such value). HELP text escapes \\ and \n. Doubles are written in the shortest form that reads back to the
// same value ("+Inf", "-Inf", "NaN" for the rest), integers exactly.
//
// Usage:
//   admin::MetricsWriter w;
//   w.Family("ringpost_messages_received_total", "counter", "Messages accepted.");
//   w.Sample("ringpost_messages_received_total", {{"listener", "smtp"}}, received);
//   w.Family("ringpost_delivery_seconds", "histogram", "Time to deliver.");
//   w.Histogram("ringpost_delivery_seconds", {}, kBounds, counts, sum_seconds);
//   Respond(200, kMetricsContentType, w.Take());

#ifndef RINGPOST_RELAY_ADMIN_METRICS_TEXT_H_
#define RINGPOST_RELAY_ADMIN_METRICS_TEXT_H_

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace ringpost::admin {

// The Content-Type of the document MetricsWriter writes.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// A label: (name, value).
using Label = std::pair<std::string_view, std::string_view>;

class MetricsWriter {
 public:
  // Starts family `name` of `type` ("counter", "gauge" or "histogram"):
  // writes "# HELP name help" and "# TYPE name type". Counter names should
  // end in "_total" and durations in "_seconds" (Prometheus' conventions;
  // promtool warns otherwise), which the caller chooses.
  void Family(std::string_view name, std::string_view type, std::string_view help);

  // One sample of the current counter or gauge family `name`:
  // `name{label="value",...} value`. The integer overload writes the exact
  // number (a counter of events); pass a uint64_t or a double explicitly,
  // a plain int literal is ambiguous on purpose.
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void Sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);

  // One histogram of the current histogram family `name`, from per-bucket
  // (not cumulative) counts: counts[i] observations fell in
  // (upper_bounds[i-1], upper_bounds[i]], and counts.back(), one more than
  // there are bounds, above the last bound. The bounds are finite and
  // strictly increasing. Writes name_bucket{...,le="bound"} with cumulative
  // counts for each bound and le="+Inf", then name_sum (`sum`, the total of
  // the observed values) and name_count (all observations). `labels` must
  // not hold "le".
  void Histogram(std::string_view name, std::initializer_list<Label> labels,
                 std::span<const double> upper_bounds, std::span<const uint64_t> counts,
                 double sum);

  // The document so far.
  const std::string& text() const { return text_; }

  // Hands the document over and starts a new, empty one (every family may
  // be started again).
  std::string Take();

 private:
  // CHECKs that `name` is the current family and is (or is not) a histogram.
  void CheckCurrentFamily(std::string_view name, bool histogram) const;
  // Writes `name` and the label set, then a space.
  void SampleHead(std::string_view name, std::initializer_list<Label> labels,
                  const Label* extra);

  std::string text_;
  std::string family_;       // the current family, "" before the first
  std::string family_type_;  // its type
  absl::flat_hash_set<std::string> families_;  // every family started
};

}  // namespace ringpost::admin

#endif  // RINGPOST_RELAY_ADMIN_METRICS_TEXT_H_
