// relay/smtp/check.h — invariant assertion for the smtp package.
//
// SMTP_CHECK(cond) aborts the process when `cond` is false, in every build
// mode. It guards invariants of this package's own code (a caller feeding a
// finished scanner, an index out of its range), never bytes that came from
// the network: malformed input is reported as a value, not asserted on.
// Write one condition per check so a failure names exactly what broke.

#ifndef RINGPOST_RELAY_SMTP_CHECK_H_
#define RINGPOST_RELAY_SMTP_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define SMTP_CHECK(cond)                                                  \
  do {                                                                    \
    if (!(cond)) [[unlikely]] {                                           \
      std::fprintf(stderr, "%s:%d: SMTP_CHECK failed: %s\n", __FILE__,    \
                   __LINE__, #cond);                                      \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

#endif  // RINGPOST_RELAY_SMTP_CHECK_H_
