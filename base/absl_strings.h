// base/absl_strings.h — std::string_view with Debian's Abseil.
//
// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW=0:
// absl::string_view is its own class and std::string_view does not convert
// to it. Code whose interfaces speak std::string_view (relay/config,
// relay/ctl) passes it to absl::StrCat and friends through these.
#ifndef RINGPOST_BASE_ABSL_STRINGS_H_
#define RINGPOST_BASE_ABSL_STRINGS_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ringpost::base {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

template <typename T>
decltype(auto) AlphaNumArg(const T& v) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return Av(v);
  } else {
    return (v);
  }
}

// absl::StrCat and absl::StrAppend, taking std::string_view too.
template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(AlphaNumArg(args)...);
}

template <typename... Args>
void CatAppend(std::string* out, const Args&... args) {
  absl::StrAppend(out, AlphaNumArg(args)...);
}

}  // namespace ringpost::base

#endif  // RINGPOST_BASE_ABSL_STRINGS_H_
