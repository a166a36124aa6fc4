// relay/smtp/command_parser_benchmark.cc — cost of parsing one command line.

#include <string>

#include "benchmark/benchmark.h"
#include "relay/smtp/command_parser.h"

namespace ringpost::smtp {
namespace {

void BM_ParseCommand(benchmark::State& state, const char* line) {
  const std::string input = line;
  Command cmd;
  for (auto _ : state) {
    std::string_view view = input;
    benchmark::DoNotOptimize(view);
    const ParseResult r = ParseCommand(view, &cmd);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(cmd);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(input.size()));
}

BENCHMARK_CAPTURE(BM_ParseCommand, mail_size_body,
                  "MAIL FROM:<sender@example.com> SIZE=1024 BODY=8BITMIME");
BENCHMARK_CAPTURE(BM_ParseCommand, rcpt, "RCPT TO:<recipient@example.org>");
BENCHMARK_CAPTURE(BM_ParseCommand, data, "DATA");

}  // namespace
}  // namespace ringpost::smtp
