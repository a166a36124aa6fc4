// dns/check.h — invariant assertion for the dns package.
//
// DNS_CHECK(cond) aborts the process when `cond` is false, in every build
// mode (NDEBUG does not turn it off). It guards this package's own
// invariants (reference counts of in-flight operations, epoch bookkeeping,
// callers breaking a documented precondition). It is NEVER used on bytes
// received from the network or on results of system calls: a malformed
// reply is a value (absl::Status, Answer), not a crash.
// One condition per check, so a failure names exactly what broke.
#pragma once

#include <cstdio>
#include <cstdlib>

#define DNS_CHECK(cond)                                               \
  do {                                                                \
    if (!(cond)) [[unlikely]] {                                       \
      std::fprintf(stderr, "%s:%d: DNS_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                  \
      std::abort();                                                   \
    }                                                                 \
  } while (0)
