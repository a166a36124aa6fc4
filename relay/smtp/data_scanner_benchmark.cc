// relay/smtp/data_scanner_benchmark.cc — DATA scanning, dot-stuffing and
// the BDAT line-ending check: throughput on realistic messages (78-octet
// lines, some starting with ".").

#include <string>

#include "benchmark/benchmark.h"
#include "relay/smtp/data_scanner.h"
#include "relay/smtp/dot_stuffer.h"
#include "relay/smtp/line_break.h"

namespace ringpost::smtp {
namespace {

// A body of about `octets` octets: header block, then text lines, every
// 16th line starting with a dot.
std::string MakeBody(size_t octets) {
  std::string body =
      "From: sender@example.com\r\nTo: rcpt@example.org\r\n"
      "Subject: benchmark\r\n\r\n";
  const std::string line(76, 'x');
  for (size_t n = 0; body.size() < octets; ++n) {
    body += (n % 16 == 0 ? "." : "") + line.substr(0, 75) + "\r\n";
  }
  return body;
}

void BM_DataScanner(benchmark::State& state) {
  std::string wire;
  AppendDotStuffed(MakeBody(static_cast<size_t>(state.range(0))), &wire);
  DataScanner scanner;
  std::string content;
  content.reserve(wire.size());
  for (auto _ : state) {
    scanner.Reset();
    content.clear();
    const DataScanner::Result r = scanner.Scan(wire, &content);
    if (r.status != DataScanner::Status::kDone || r.errors != 0) {
      state.SkipWithError("scan did not finish cleanly");
      break;
    }
    benchmark::DoNotOptimize(content.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(wire.size()));
}
BENCHMARK(BM_DataScanner)->Arg(1024)->Arg(100 * 1024);

// The same 100 KB message arriving in 4 KB reads.
void BM_DataScannerChunked(benchmark::State& state) {
  std::string wire;
  AppendDotStuffed(MakeBody(100 * 1024), &wire);
  const size_t chunk = static_cast<size_t>(state.range(0));
  DataScanner scanner;
  std::string content;
  content.reserve(wire.size());
  for (auto _ : state) {
    scanner.Reset();
    content.clear();
    for (size_t pos = 0; pos < wire.size(); pos += chunk) {
      std::string_view piece = std::string_view(wire).substr(pos, chunk);
      if (scanner.Scan(piece, &content).status == DataScanner::Status::kDone) {
        break;
      }
    }
    benchmark::DoNotOptimize(content.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(wire.size()));
}
BENCHMARK(BM_DataScannerChunked)->Arg(4096);

void BM_DotStuffer(benchmark::State& state) {
  const std::string body = MakeBody(static_cast<size_t>(state.range(0)));
  std::string wire;
  wire.reserve(body.size() * 2);
  for (auto _ : state) {
    wire.clear();
    AppendDotStuffed(body, &wire);
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_DotStuffer)->Arg(1024)->Arg(100 * 1024);

// BDAT content: no bare CR or LF, 8-bit octets noted (CrlfCheck).
void BM_CrlfCheck(benchmark::State& state) {
  const std::string body = MakeBody(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    internal::CrlfCheck check;
    check.Feed(body.data(), body.data() + body.size());
    if (!check.ok()) {
      state.SkipWithError("clean body refused");
      break;
    }
    benchmark::DoNotOptimize(check);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_CrlfCheck)->Arg(1024)->Arg(100 * 1024);

// The same check line by line, hopping from one FindLineBreak to the next
// (how the session did it before CrlfCheck): the baseline for the above.
void BM_CrlfCheckByLineBreaks(benchmark::State& state) {
  const std::string body = MakeBody(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    bool bad = false;
    bool high = false;
    const char* p = body.data();
    const char* end = p + body.size();
    while (p < end) {
      const char* q = internal::FindLineBreak(p, end, &high);
      if (q == end) break;
      if (*q == '\n' || q + 1 == end || q[1] != '\n') bad = true;
      p = q + 2;
    }
    if (bad) {
      state.SkipWithError("clean body refused");
      break;
    }
    benchmark::DoNotOptimize(high);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_CrlfCheckByLineBreaks)->Arg(1024)->Arg(100 * 1024);

}  // namespace
}  // namespace ringpost::smtp
