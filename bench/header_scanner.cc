// bench/header_scanner.cc — see header_scanner.h.
#include "bench/header_scanner.h"

#include <utility>

namespace ringpost::bench {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsWsp(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsWsp(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

HeaderScanner::HeaderScanner(std::string id_header) : id_header_(std::move(id_header)) {
  line_.reserve(kLineOctetsMax);
}

void HeaderScanner::Reset() {
  line_.clear();
  line_overflow_ = false;
  done_ = false;
  current_ = Field::kNone;
  has_id_ = false;
  has_message_id_ = false;
  id_.clear();
  message_id_.clear();
}

void HeaderScanner::Feed(std::string_view content) {
  while (!done_ && !content.empty()) {
    const size_t lf = content.find('\n');
    const std::string_view piece =
        lf == std::string_view::npos ? content : content.substr(0, lf);
    if (!line_overflow_) {
      if (line_.size() + piece.size() > kLineOctetsMax) {
        line_overflow_ = true;
        line_.clear();
      } else {
        line_.append(piece);
      }
    }
    if (lf == std::string_view::npos) return;
    content.remove_prefix(lf + 1);
    EndLine();
  }
}

void HeaderScanner::Finish() {
  if (!done_ && (!line_.empty() || line_overflow_)) EndLine();
  done_ = true;
}

void HeaderScanner::AppendValue(std::string_view text, std::string* value) {
  text = Trim(text);
  if (text.empty()) return;
  if (!value->empty()) {
    if (value->size() + 1 >= kValueOctetsMax) return;
    value->push_back(' ');  // unfolded: the line break becomes one space
  }
  value->append(text.substr(0, kValueOctetsMax - value->size()));
}

void HeaderScanner::EndLine() {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line_overflow_) {
    current_ = Field::kNone;
  } else if (line.empty()) {
    done_ = true;
  } else if (IsWsp(line.front())) {
    // Continuation of the previous field (RFC 5322 folding).
    if (current_ == Field::kId) AppendValue(line, &id_);
    if (current_ == Field::kMessageId) AppendValue(line, &message_id_);
  } else {
    current_ = Field::kNone;
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);
      const std::string_view value = line.substr(colon + 1);
      // The first occurrence wins.
      if (!has_id_ && EqualsIgnoreCase(name, id_header_)) {
        has_id_ = true;
        current_ = Field::kId;
        AppendValue(value, &id_);
      } else if (!has_message_id_ && EqualsIgnoreCase(name, "Message-ID")) {
        has_message_id_ = true;
        current_ = Field::kMessageId;
        AppendValue(value, &message_id_);
      }
    }
  }
  line_.clear();
  line_overflow_ = false;
}

}  // namespace ringpost::bench
