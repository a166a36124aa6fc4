// relay/smtp/reply_parser_benchmark.cc — cost of parsing server replies:
// a pipelined MAIL/RCPT/DATA batch and a typical EHLO response.

#include <string>

#include "benchmark/benchmark.h"
#include "relay/smtp/reply_parser.h"

namespace ringpost::smtp {
namespace {

void BM_ReplyParser(benchmark::State& state, const char* wire) {
  const std::string input = wire;
  ReplyParser parser;
  ServerReply reply;
  for (auto _ : state) {
    std::string_view rest = input;
    while (!rest.empty()) {
      const ReplyParser::Result r = parser.Parse(rest, &reply);
      if (r.status != ReplyParser::Status::kReply) {
        state.SkipWithError("unexpected parse status");
        return;
      }
      rest.remove_prefix(r.consumed);
      benchmark::DoNotOptimize(reply.code);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(input.size()));
}

BENCHMARK_CAPTURE(BM_ReplyParser, pipelined_batch,
                  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                  "354 End data with <CR><LF>.<CR><LF>\r\n");
BENCHMARK_CAPTURE(BM_ReplyParser, ehlo,
                  "250-mx.example Hello client [192.0.2.1]\r\n"
                  "250-PIPELINING\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
                  "250-CHUNKING\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n"
                  "250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n");

void BM_ParseEhloCapabilities(benchmark::State& state) {
  ReplyParser parser;
  ServerReply reply;
  parser.Parse(
      "250-mx.example Hello client [192.0.2.1]\r\n"
      "250-PIPELINING\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
      "250-CHUNKING\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n"
      "250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n",
      &reply);
  for (auto _ : state) {
    EhloCapabilities caps = ParseEhloCapabilities(reply);
    benchmark::DoNotOptimize(caps);
  }
}
BENCHMARK(BM_ParseEhloCapabilities);

}  // namespace
}  // namespace ringpost::smtp
