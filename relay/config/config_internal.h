// relay/config/config_internal.h — what the files of relay/config share and
// nothing outside it uses: the settings table's row type, the table, and the
// few text helpers every file needs.
//
// The package has one file per job:
//   config.h          the public API: Config, value types, entry points
//   values.cc         value syntax: numbers, durations, byte sizes,
//                     host:port, socket addresses, CIDRs, routes
//   settings.cc       the settings table (one row per setting: name, bounds,
//                     parse, format) and what walks it: ApplyFlag,
//                     ValidateConfig, DescribeConfig, SettingNames
//   loader.cc         the TOML file (bounded read, toml++, line-numbered
//                     errors) and LoadConfig (file, then flags, then checks)
//   flags.cc          the absl flags, one per setting, and ParseCommandLine
// A value is parsed in exactly one place (values.cc), checked against its
// bounds in one place (its row in settings.cc), whichever way it arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/absl_strings.h"
#include "relay/config/config.h"

namespace ringpost::config_internal {

// std::string_view with Debian's Abseil (base/absl_strings.h).
using base::Av;
using base::Cat;
using base::CatAppend;
using base::Sv;

inline constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;
inline constexpr size_t kMaxListItems = 10000;

inline constexpr uint64_t kKiB = uint64_t{1} << 10;
inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr uint64_t kGiB = uint64_t{1} << 30;
inline constexpr uint64_t kTiB = uint64_t{1} << 40;

// --- values.cc ----------------------------------------------------------

// `s` in double quotes, for error messages.
std::string Quote(std::string_view s);
// Strict unsigned decimal: digits only, no sign, no spaces; at most `max`.
absl::StatusOr<uint64_t> ParseUint(std::string_view text, uint64_t max);
bool IsPowerOfTwo(uint64_t v);
// Splits a flag-syntax list: comma-separated, items trimmed, "" = no items.
absl::StatusOr<std::vector<std::string>> SplitList(std::string_view value);
// HOST:PORT with an IPv6 host in brackets (the inverse of ParseHostPort).
std::string FormatHostPort(std::string_view host, uint16_t port);

// --- settings.cc --------------------------------------------------------

// One row of the settings table.
struct Setting {
  std::string_view name;
  // Parses and validates `value` (flag syntax) into the config.
  std::function<absl::Status(Config*, std::string_view)> apply;
  // The current value in flag syntax (round-trips through apply).
  std::function<std::string(const Config&)> format;
  // For list settings: validates one item (TOML arrays report its line).
  std::function<absl::Status(std::string_view)> check_item;
  // true/false settings: TOML booleans are taken as such.
  bool boolean = false;
};

// Every setting, in DescribeConfig order.
const std::vector<Setting>& Settings();
// The row named `name`, or nullptr.
const Setting* FindSetting(std::string_view name);
// "unknown setting "x" (did you mean "y"?)".
std::string UnknownSettingMessage(std::string_view name);

}  // namespace ringpost::config_internal
