// relay/admin/metrics_text.cc — see metrics_text.h.
#include "relay/admin/metrics_text.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "base/check.h"

namespace ringpost::admin {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool ValidMetricName(std::string_view name) {
  if (name.empty() || IsDigit(name.front())) return false;
  for (const char c : name) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '_' && c != ':') return false;
  }
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not "__..." (reserved for Prometheus itself).
bool ValidLabelName(std::string_view name) {
  if (name.empty() || IsDigit(name.front()) || name.starts_with("__")) return false;
  for (const char c : name) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '_') return false;
  }
  return true;
}

void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  // Shortest round-trip form: at most 24 characters ("-1.2345678901234567e-308").
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  CHECK(ec == std::errc());
  out->append(buf, end);
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];  // 20 digits at most
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  CHECK(ec == std::errc());
  out->append(buf, end);
}

// The length of the well-formed UTF-8 sequence `s` starts with (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), 0 if none.
size_t Utf8SequenceLength(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s.front());
  if (b0 < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80;  // the range of the second byte
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong below U+10000
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  const auto b1 = static_cast<unsigned char>(s[1]);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return n;
}

// Label values: backslash, double quote and line feed escaped. They are data
// (a peer's domain, a reply's text), and Prometheus refuses a whole scrape
// over one value that is not UTF-8, so each byte that starts no well-formed
// sequence is written as U+FFFD instead.
void AppendLabelValue(std::string_view value, std::string* out) {
  // Bounded: each iteration consumes at least one byte.
  while (!value.empty()) {
    const size_t n = Utf8SequenceLength(value);
    if (n == 0) {
      out->append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      value.remove_prefix(1);
      continue;
    }
    if (n > 1) {
      out->append(value.substr(0, n));
      value.remove_prefix(n);
      continue;
    }
    const char c = value.front();
    value.remove_prefix(1);
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// HELP text: backslash and line feed escaped (quotes stay).
void AppendHelp(std::string_view help, std::string* out) {
  for (const char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

void AppendLabel(const Label& label, std::string* out) {
  out->append(label.first);
  out->append("=\"");
  AppendLabelValue(label.second, out);
  out->push_back('"');
}

}  // namespace

void MetricsWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  CHECK(ValidMetricName(name));
  CHECK(type == "counter" || type == "gauge" || type == "histogram");
  const bool first_time = families_.emplace(name).second;
  CHECK(first_time);
  family_ = std::string(name);
  family_type_ = std::string(type);
  text_.append("# HELP ");
  text_.append(name);
  text_.push_back(' ');
  AppendHelp(help, &text_);
  text_.append("\n# TYPE ");
  text_.append(name);
  text_.push_back(' ');
  text_.append(type);
  text_.push_back('\n');
}

void MetricsWriter::CheckCurrentFamily(std::string_view name, bool histogram) const {
  CHECK(!family_.empty());  // Family() comes first
  CHECK(name == family_);
  CHECK((family_type_ == "histogram") == histogram);
}

void MetricsWriter::SampleHead(std::string_view name, std::initializer_list<Label> labels,
                               const Label* extra) {
  // Bounded by the caller's label list (a handful): the quadratic check of
  // distinct names costs nothing next to the formatting.
  for (const Label* a = labels.begin(); a != labels.end(); ++a) {
    CHECK(ValidLabelName(a->first));
    for (const Label* b = labels.begin(); b != a; ++b) CHECK(b->first != a->first);
  }
  text_.append(name);
  if (labels.size() != 0 || extra != nullptr) {
    text_.push_back('{');
    bool first = true;
    for (const Label& label : labels) {
      if (!first) text_.push_back(',');
      first = false;
      AppendLabel(label, &text_);
    }
    if (extra != nullptr) {
      if (!first) text_.push_back(',');
      AppendLabel(*extra, &text_);
    }
    text_.push_back('}');
  }
  text_.push_back(' ');
}

void MetricsWriter::Sample(std::string_view name, std::initializer_list<Label> labels,
                           double value) {
  CheckCurrentFamily(name, /*histogram=*/false);
  SampleHead(name, labels, nullptr);
  AppendDouble(value, &text_);
  text_.push_back('\n');
}

void MetricsWriter::Sample(std::string_view name, std::initializer_list<Label> labels,
                           uint64_t value) {
  CheckCurrentFamily(name, /*histogram=*/false);
  SampleHead(name, labels, nullptr);
  AppendUint(value, &text_);
  text_.push_back('\n');
}

void MetricsWriter::Histogram(std::string_view name, std::initializer_list<Label> labels,
                              std::span<const double> upper_bounds,
                              std::span<const uint64_t> counts, double sum) {
  CheckCurrentFamily(name, /*histogram=*/true);
  CHECK(counts.size() == upper_bounds.size() + 1);
  for (const Label& label : labels) CHECK(label.first != "le");
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    CHECK(std::isfinite(upper_bounds[i]));
    if (i > 0) CHECK(upper_bounds[i - 1] < upper_bounds[i]);
  }
  const std::string bucket = family_ + "_bucket";
  uint64_t cumulative = 0;
  std::string le;
  // Bounded by the number of buckets; the last one is le="+Inf".
  for (size_t i = 0; i < counts.size(); ++i) {
    CHECK(cumulative + counts[i] >= cumulative);  // no wrap-around
    cumulative += counts[i];
    le.clear();
    AppendDouble(i < upper_bounds.size() ? upper_bounds[i] : std::numeric_limits<double>::infinity(), &le);
    const Label le_label{"le", le};
    SampleHead(bucket, labels, &le_label);
    AppendUint(cumulative, &text_);
    text_.push_back('\n');
  }
  SampleHead(family_ + "_sum", labels, nullptr);
  AppendDouble(sum, &text_);
  text_.push_back('\n');
  SampleHead(family_ + "_count", labels, nullptr);
  AppendUint(cumulative, &text_);
  text_.push_back('\n');
}

std::string MetricsWriter::Take() {
  std::string out = std::move(text_);
  text_.clear();
  family_.clear();
  family_type_.clear();
  families_.clear();
  return out;
}

}  // namespace ringpost::admin
