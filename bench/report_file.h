// bench/report_file.h — write the small result files the bench tools leave
// for harnesses (reports, id lists, port numbers, saved messages).
//
// Blocking I/O: for start-up, exit and debug paths only, never on a loop
// thread's hot path.
#ifndef RINGPOST_BENCH_REPORT_FILE_H_
#define RINGPOST_BENCH_REPORT_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace ringpost::bench {

// Writes `text` to `path` through "<path>.tmp" and rename(), so a reader
// polling the file never sees half of it.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_REPORT_FILE_H_
