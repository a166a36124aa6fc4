// queue/check.h — invariant assertion for the queue package.
//
// QUEUE_CHECK(cond) aborts the process when `cond` is false, in every build
// mode (NDEBUG does not turn it off). It guards invariants of this package's
// own code: offsets that must stay aligned, state machines that must not skip
// a state, callers that break a documented precondition. It is never used on
// bytes read from disk or on results of system calls: those are reported as
// values (absl::Status, DecodeResult) and logged.
// Write one condition per check so a failure names exactly what broke.
#pragma once

#include <cstdio>
#include <cstdlib>

#define QUEUE_CHECK(cond)                                               \
  do {                                                                  \
    if (!(cond)) [[unlikely]] {                                         \
      std::fprintf(stderr, "%s:%d: QUEUE_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                    \
      std::abort();                                                     \
    }                                                                   \
  } while (0)
