// relay/ctl/json.h — a small, strict, bounded JSON reader (RFC 8259) and a
// pretty-printer, for ringpostctl to read the admin port's answers.
//
// The relay answers the operator's commands in JSON; ringpostctl renders
// them as text. It needs a reader that takes exactly RFC 8259 and refuses
// the rest with a reason and a byte offset, never crashes and never grows
// without bound, whatever arrives. So:
//   - the document is one value (object, array, string, number, true,
//     false, null) between optional whitespace (SP, HTAB, LF, CR); anything
//     else after it is refused;
//   - strings: every escape of the RFC (\" \\ \/ \b \f \n \r \t \uXXXX),
//     a surrogate pair as one \uD8xx\uDCxx (a lone surrogate is refused);
//     raw control characters (below 0x20) are refused, and so is a byte
//     that is not part of well-formed UTF-8 (overlong forms, surrogates,
//     above U+10FFFF);
//   - numbers: the RFC's grammar (no leading zeros, no '+', no bare '.',
//     no NaN or Infinity), kept as written;
//   - objects keep their members in document order; a key twice in one
//     object is refused (RFC 8259 says SHOULD be unique; a reader that takes
//     duplicates must pick one, and two readers may pick differently);
//   - bounds: at most kMaxJsonBytes of input, kMaxJsonDepth nested arrays
//     and objects (so the recursion is bounded too) and kMaxJsonValues
//     values in all (a value takes ~100 bytes of memory: "[0,0,0,...]" must
//     not turn 16 MiB of text into 800 MiB of them).
//
// FormatJson writes a value back, indented two spaces per level, strings
// escaped so the text is safe on a terminal: every control character
// (C0, DEL, C1) is written as \uXXXX, the rest of UTF-8 as is.
//
// Usage:
//   absl::StatusOr<ctl::JsonValue> v = ctl::ParseJson(body);
//   if (!v.ok()) { print the body as it came; }
//   if (const ctl::JsonValue* n = v->Find("flushed")) { n->AsInt64() ... }
//   std::cout << ctl::FormatJson(*v) << "\n";

#ifndef RINGPOST_RELAY_CTL_JSON_H_
#define RINGPOST_RELAY_CTL_JSON_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ringpost::ctl {

// The largest document ParseJson reads, in bytes, and the deepest nesting
// of arrays and objects (a scalar at the top is depth 0, `[1]` depth 1).
inline constexpr size_t kMaxJsonBytes = size_t{16} << 20;
inline constexpr size_t kMaxJsonDepth = 64;
inline constexpr size_t kMaxJsonValues = size_t{1} << 20;

enum class JsonType : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

struct JsonMember;

struct JsonValue {
  JsonType type = JsonType::kNull;
  bool boolean = false;  // kBool
  // kString: the decoded string (UTF-8). kNumber: the number as written.
  std::string text;
  std::vector<JsonValue> items;                            // kArray
  std::vector<JsonMember> members;  // kObject, in document order, keys unique

  bool is_null() const { return type == JsonType::kNull; }
  bool is_string() const { return type == JsonType::kString; }
  bool is_number() const { return type == JsonType::kNumber; }
  bool is_array() const { return type == JsonType::kArray; }
  bool is_object() const { return type == JsonType::kObject; }

  // The member `key` of an object; nullptr when absent or not an object.
  const JsonValue* Find(std::string_view key) const;
  // A number written as an integer (no fraction, no exponent) that fits.
  std::optional<int64_t> AsInt64() const;
};

// One member of an object (a struct, not a std::pair: a pair may not hold
// the incomplete JsonValue inside JsonValue's own definition).
struct JsonMember {
  std::string key;
  JsonValue value;
};

// The value `text` holds, or InvalidArgument saying what is wrong and at
// which byte offset.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

// `value` as indented JSON text, without a final newline: `{}` and `[]`
// when empty, otherwise one member or item per line.
std::string FormatJson(const JsonValue& value);

// `s` as a JSON string literal, quotes included, control characters
// escaped (as FormatJson writes strings).
std::string QuoteJson(std::string_view s);

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_JSON_H_
