// relay/ctl/json.cc — see json.h.
#include "relay/ctl/json.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "base/check.h"
#include "relay/ctl/absl_strings.h"

namespace ringpost::ctl {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  DCHECK(cp <= 0x10FFFF);
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The well-formed UTF-8 sequence at s[i] (RFC 3629 section 4: no overlong
// forms, no surrogates, nothing above U+10FFFF): its length, and its code
// point in *cp; 0 when the bytes there are not one.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t n = 0;
  uint32_t v = 0;
  uint32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, v = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, v = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  absl::StatusOr<JsonValue> Document() {
    JsonValue v;
    SkipSpace();
    if (!Value(0, &v)) return error_;
    SkipSpace();
    if (pos_ != in_.size()) {
      Fail("text after the value");
      return error_;
    }
    return v;
  }

 private:
  // Records the first error; returns false so callers can `return Fail()`.
  bool Fail(std::string_view what) {
    if (error_.ok()) {
      error_ = absl::InvalidArgumentError(Cat("JSON: ", what, " at byte ", pos_));
    }
    return false;
  }

  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }

  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return Fail("an unknown word");
    pos_ += word.size();
    return true;
  }

  // Recursion is bounded by kMaxJsonDepth: only Array and Object recurse,
  // each with depth + 1.
  bool Value(size_t depth, JsonValue* out) {
    if (AtEnd()) return Fail("the text ends where a value should be");
    if (++values_ > kMaxJsonValues) return Fail("more values than the reader takes");
    switch (Peek()) {
      case '{': return Object(depth + 1, out);
      case '[': return Array(depth + 1, out);
      case '"': out->type = JsonType::kString; return String(&out->text);
      case 't':
        out->type = JsonType::kBool;
        out->boolean = true;
        return Literal("true");
      case 'f': out->type = JsonType::kBool; return Literal("false");
      case 'n': out->type = JsonType::kNull; return Literal("null");
      default: out->type = JsonType::kNumber; return Number(&out->text);
    }
  }

  bool Object(size_t depth, JsonValue* out) {
    if (depth > kMaxJsonDepth) return Fail("arrays and objects nested too deep");
    out->type = JsonType::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      return true;
    }
    absl::flat_hash_set<std::string> keys;
    // Bounded: each iteration consumes at least one member's bytes.
    while (true) {
      if (AtEnd() || Peek() != '"') return Fail("expected a string key");
      const size_t key_pos = pos_;
      std::string key;
      if (!String(&key)) return false;
      if (!keys.insert(key).second) {
        pos_ = key_pos;
        return Fail("a key repeated in one object");
      }
      SkipSpace();
      if (AtEnd() || Peek() != ':') return Fail("expected ':' after a key");
      ++pos_;
      SkipSpace();
      JsonValue member;
      if (!Value(depth, &member)) return false;
      out->members.push_back(JsonMember{std::move(key), std::move(member)});
      SkipSpace();
      if (AtEnd()) return Fail("the text ends inside an object");
      if (Peek() == '}') {
        ++pos_;
        return true;
      }
      if (Peek() != ',') return Fail("expected ',' or '}' in an object");
      ++pos_;
      SkipSpace();
    }
  }

  bool Array(size_t depth, JsonValue* out) {
    if (depth > kMaxJsonDepth) return Fail("arrays and objects nested too deep");
    out->type = JsonType::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      return true;
    }
    // Bounded: each iteration consumes at least one item's bytes.
    while (true) {
      JsonValue item;
      if (!Value(depth, &item)) return false;
      out->items.push_back(std::move(item));
      SkipSpace();
      if (AtEnd()) return Fail("the text ends inside an array");
      if (Peek() == ']') {
        ++pos_;
        return true;
      }
      if (Peek() != ',') return Fail("expected ',' or ']' in an array");
      ++pos_;
      SkipSpace();
    }
  }

  // Four hex digits at pos_, as a number; -1 when they are not.
  int32_t Hex4() {
    if (in_.size() - pos_ < 4) return -1;
    int32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const int d = HexValue(in_[pos_ + k]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    pos_ += 4;
    return v;
  }

  bool Escape(std::string* out) {
    ++pos_;  // '\\'
    if (AtEnd()) return Fail("the text ends inside an escape");
    const char c = Peek();
    ++pos_;
    switch (c) {
      case '"': out->push_back('"'); return true;
      case '\\': out->push_back('\\'); return true;
      case '/': out->push_back('/'); return true;
      case 'b': out->push_back('\b'); return true;
      case 'f': out->push_back('\f'); return true;
      case 'n': out->push_back('\n'); return true;
      case 'r': out->push_back('\r'); return true;
      case 't': out->push_back('\t'); return true;
      case 'u': break;
      default: --pos_; return Fail("an unknown escape");
    }
    const int32_t high = Hex4();
    if (high < 0) return Fail("\\u not followed by four hex digits");
    if (high >= 0xDC00 && high <= 0xDFFF) return Fail("a lone low surrogate");
    if (high < 0xD800 || high > 0xDBFF) {
      AppendUtf8(static_cast<uint32_t>(high), out);
      return true;
    }
    if (in_.substr(pos_, 2) != "\\u") return Fail("a high surrogate without its low half");
    pos_ += 2;
    const int32_t low = Hex4();
    if (low < 0) return Fail("\\u not followed by four hex digits");
    if (low < 0xDC00 || low > 0xDFFF) return Fail("a high surrogate without its low half");
    AppendUtf8(0x10000 + ((static_cast<uint32_t>(high) - 0xD800) << 10) +
                   (static_cast<uint32_t>(low) - 0xDC00),
               out);
    return true;
  }

  bool String(std::string* out) {
    ++pos_;  // '"'
    // Bounded: each iteration consumes at least one byte.
    while (true) {
      if (AtEnd()) return Fail("the text ends inside a string");
      const char c = Peek();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!Escape(out)) return false;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("a control character in a string");
      uint32_t cp = 0;
      const size_t n = DecodeUtf8(in_, pos_, &cp);
      if (n == 0) return Fail("a byte that is not UTF-8 in a string");
      out->append(in_.substr(pos_, n));
      pos_ += n;
    }
  }

  size_t Digits() {
    const size_t start = pos_;
    while (!AtEnd() && IsDigit(Peek())) ++pos_;
    return pos_ - start;
  }

  bool Number(std::string* out) {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (AtEnd() || !IsDigit(Peek())) return Fail("an unexpected character");
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && IsDigit(Peek())) return Fail("a number with a leading zero");
    } else {
      Digits();
    }
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      if (Digits() == 0) return Fail("no digits after a decimal point");
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (Digits() == 0) return Fail("no digits in an exponent");
    }
    out->assign(in_.substr(start, pos_ - start));
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t values_ = 0;
  absl::Status error_;
};

void AppendEscaped(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  // Bounded by s.size(): each iteration consumes at least one byte.
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out->append("\\ufffd");  // not UTF-8: the replacement character
      ++i;
      continue;
    }
    if (cp == '"') {
      out->append("\\\"");
    } else if (cp == '\\') {
      out->append("\\\\");
    } else if (cp == '\n') {
      out->append("\\n");
    } else if (cp == '\t') {
      out->append("\\t");
    } else if (cp == '\r') {
      out->append("\\r");
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      out->append("\\u00");
      out->push_back(kHex[cp >> 4]);
      out->push_back(kHex[cp & 15]);
    } else {
      out->append(s.substr(i, n));
    }
    i += n;
  }
  out->push_back('"');
}

// Recursion is bounded by the value's depth (kMaxJsonDepth for a parsed
// one).
void Format(const JsonValue& v, size_t indent, std::string* out) {
  switch (v.type) {
    case JsonType::kNull: out->append("null"); return;
    case JsonType::kBool: out->append(v.boolean ? "true" : "false"); return;
    case JsonType::kNumber: out->append(v.text); return;
    case JsonType::kString: AppendEscaped(v.text, out); return;
    case JsonType::kArray: {
      if (v.items.empty()) {
        out->append("[]");
        return;
      }
      out->append("[\n");
      for (size_t i = 0; i < v.items.size(); ++i) {
        out->append(indent + 2, ' ');
        Format(v.items[i], indent + 2, out);
        out->append(i + 1 < v.items.size() ? ",\n" : "\n");
      }
      out->append(indent, ' ');
      out->push_back(']');
      return;
    }
    case JsonType::kObject: {
      if (v.members.empty()) {
        out->append("{}");
        return;
      }
      out->append("{\n");
      for (size_t i = 0; i < v.members.size(); ++i) {
        out->append(indent + 2, ' ');
        AppendEscaped(v.members[i].key, out);
        out->append(": ");
        Format(v.members[i].value, indent + 2, out);
        out->append(i + 1 < v.members.size() ? ",\n" : "\n");
      }
      out->append(indent, ' ');
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (type != JsonType::kObject) return nullptr;
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<int64_t> JsonValue::AsInt64() const {
  if (type != JsonType::kNumber) return std::nullopt;
  if (text.find_first_of(".eE") != std::string::npos) return std::nullopt;
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) return std::nullopt;  // out of range
  return v;
}

absl::StatusOr<JsonValue> ParseJson(std::string_view text) {
  if (text.size() > kMaxJsonBytes) {
    return absl::InvalidArgumentError(
        Cat("JSON: ", text.size(), " bytes, more than the ", kMaxJsonBytes, " read"));
  }
  return Parser(text).Document();
}

std::string FormatJson(const JsonValue& value) {
  std::string out;
  Format(value, 0, &out);
  return out;
}

std::string QuoteJson(std::string_view s) {
  std::string out;
  AppendEscaped(s, &out);
  return out;
}

}  // namespace ringpost::ctl
