// relay/ctl/render.cc — see render.h.
#include "relay/ctl/render.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mailbox.h"
#include "relay/ctl/absl_strings.h"
#include "relay/ctl/duration.h"

namespace ringpost::ctl {
namespace {

// A scalar for a table cell or a line: strings (made safe), numbers as
// written, booleans; "-" for anything missing, null, empty or composite.
std::string Cell(const JsonValue* v) {
  if (v == nullptr) return "-";
  switch (v->type) {
    case JsonType::kString: return v->text.empty() ? "-" : ForTerminal(v->text, false);
    case JsonType::kNumber: return v->text;
    case JsonType::kBool: return v->boolean ? "true" : "false";
    default: return "-";
  }
}

// Columns are as wide as their widest cell in characters (code points), so
// UTF-8 names line up as well as ASCII ones.
size_t Width(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void Pad(std::string* out, std::string_view cell, size_t width, bool right) {
  const size_t pad = width - Width(cell);
  if (right) out->append(pad, ' ');
  out->append(cell);
  if (!right) out->append(pad, ' ');
}

// Rows of cells as a table, columns two spaces apart; `right[i]` aligns
// column i to the right. No trailing spaces.
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> widths(right.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line.append("  ");
      const bool last = i + 1 == row.size();
      Pad(&line, row[i], last && !right[i] ? Width(row[i]) : widths[i], right[i]);
    }
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

std::string Oldest(const JsonValue* v) {
  if (v != nullptr) {
    const std::optional<int64_t> s = v->AsInt64();
    if (s && *s >= 0) return DurationToString(absl::Seconds(*s));
  }
  return Cell(v);
}

std::string Suspension(const JsonValue& s) {
  std::string line = Cell(s.Find("name"));
  const JsonValue* until = s.Find("until");
  CatAppend(&line, " until ", until != nullptr && until->is_null() ? "resumed" : Cell(until));
  CatAppend(&line, ", set by ", Cell(s.Find("set_by")));
  const JsonValue* reason = s.Find("reason");
  if (reason != nullptr && reason->is_string() && !reason->text.empty()) {
    CatAppend(&line, ": ", Cell(reason));
  }
  line.push_back('\n');
  if (const JsonValue* replies = s.Find("replies"); replies != nullptr && replies->is_array()) {
    for (const JsonValue& r : replies->items) CatAppend(&line, "  ", Cell(&r), "\n");
  }
  return line;
}

std::string Recipients(const JsonValue& n) {
  return Cat(n.text, n.AsInt64() == 1 ? " recipient" : " recipients");
}

}  // namespace

std::string ForTerminal(std::string_view text, bool keep_lines) {
  std::string out;
  out.reserve(text.size());
  // Bounded by text.size(): each iteration consumes at least one byte.
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      const bool line_char = keep_lines && (c == '\n' || c == '\t');
      out.push_back((c < 0x20 && !line_char) || c == 0x7F ? '?' : static_cast<char>(c));
      ++i;
      continue;
    }
    const size_t n = base::Utf8SequenceLength(text, i);
    const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if (n == 0 || c1) {
      out.push_back('?');
      i += n == 0 ? 1 : n;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string RenderSummary(const JsonValue& summary) {
  const JsonValue* destinations = summary.Find("destinations");
  if (destinations == nullptr || !destinations->is_array()) return "";
  std::string out;
  if (destinations->items.empty()) {
    out = "no queued mail\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"DESTINATION", "QUEUED", "OLDEST", "STATE", "UNTIL"});
    for (const JsonValue& d : destinations->items) {
      rows.push_back({Cell(d.Find("domain")), Cell(d.Find("queued")), Oldest(d.Find("oldest_s")),
                      Cell(d.Find("state")), Cell(d.Find("until"))});
    }
    out = Table(rows, {false, true, false, false, false});
  }
  const JsonValue* suspensions = summary.Find("suspensions");
  if (suspensions != nullptr && suspensions->is_array()) {
    if (suspensions->items.empty()) {
      out.append("\nno suspensions\n");
    } else {
      out.append("\nSUSPENSIONS\n");
      for (const JsonValue& s : suspensions->items) out.append(Suspension(s));
    }
  }
  return out;
}

std::string RenderOutcome(std::string_view command, const JsonValue& body) {
  if (command == "suspend") {
    const JsonValue* domain = body.Find("suspended");
    if (domain == nullptr || !domain->is_string()) return "";
    std::string line = Cat("suspended ", Cell(domain));
    if (const JsonValue* until = body.Find("until"); until != nullptr) {
      CatAppend(&line, " until ", until->is_null() ? "resumed" : Cell(until));
    }
    return line + "\n";
  }
  if (command == "resume") {
    const JsonValue* domain = body.Find("resumed");
    if (domain == nullptr || !domain->is_string()) return "";
    std::string line = Cat("resumed ", Cell(domain));
    if (const JsonValue* n = body.Find("released"); n != nullptr && n->is_number()) {
      CatAppend(&line, ", ", Recipients(*n), " released");
    }
    return line + "\n";
  }
  struct Count {
    std::string_view command, key;
  };
  for (const Count& c :
       {Count{"flush", "flushed"}, Count{"bounce", "bounced"}, Count{"delete", "deleted"}}) {
    if (command != c.command) continue;
    const JsonValue* n = body.Find(c.key);
    if (n == nullptr || !n->is_number()) return "";
    return Cat(c.key, " ", Recipients(*n), "\n");
  }
  return "";
}

std::string RenderAnswer(const CtlRequest& request, std::string_view body) {
  const auto with_newline = [](std::string s) {
    if (!s.empty() && s.back() != '\n') s.push_back('\n');
    return s;
  };
  if (request.json) return with_newline(std::string(body));
  const absl::StatusOr<JsonValue> json = ParseJson(body);
  std::string out;
  if (json.ok()) {
    if (request.command == "summary") {
      out = RenderSummary(*json);
    } else if (request.command == "inspect") {
      out = FormatJson(*json) + "\n";
    } else {
      out = RenderOutcome(request.command, *json);
    }
  }
  if (out.empty()) out = ForTerminal(body, true);
  return with_newline(std::move(out));
}

}  // namespace ringpost::ctl
