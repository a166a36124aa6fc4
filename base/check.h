// base/check.h — the one invariant check of the project, in two tiers.
//
// CHECK(cond)  Guards what mail depends on: spool ordering, ownership of a
//              message or job, ring and buffer bounds, a state machine's
//              legal transitions. Stays in every build; when `cond` is false
//              it prints the file, line and condition and aborts the process
//              (a crash that loses nothing: the spool is the truth, and a
//              restart recovers it) rather than run on with corrupt state.
// DCHECK(cond) For the hot path, where a check per byte or per item costs
//              measurable time: compiled in debug and sanitizer builds
//              (NDEBUG unset), a no-op in optimized builds. The condition is
//              still type-checked, never evaluated.
//
// Neither checks input from the network or from files: malformed input is
// reported as a value (a reply, a Status), never asserted on. Write one
// condition per check so a failure names exactly what broke.
//
// base/ sits below everything (relay/, dns/, queue/ all use it) and depends
// on nothing of ours; plain assert() is not used anywhere.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace ringpost::base {

[[noreturn]] inline void CheckFailed(const char* kind, const char* file, int line,
                                     const char* cond) {
  std::fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, kind, cond);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ringpost::base

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) [[unlikely]] {                                            \
      ::ringpost::base::CheckFailed("CHECK", __FILE__, __LINE__, #cond);   \
    }                                                                      \
  } while (0)

#ifdef NDEBUG
#define DCHECK(cond)                  \
  do {                                \
    if (false) static_cast<void>(cond); \
  } while (0)
#else
#define DCHECK(cond)                                                       \
  do {                                                                     \
    if (!(cond)) [[unlikely]] {                                            \
      ::ringpost::base::CheckFailed("DCHECK", __FILE__, __LINE__, #cond);  \
    }                                                                      \
  } while (0)
#endif
