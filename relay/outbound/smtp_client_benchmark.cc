// smtp_client_benchmark.cc — the client's own cost per message on the hot
// paths: streamed BDAT transactions (32 in flight) and pipelined DATA, one
// recipient, 2 KiB of content in 80-octet lines; server replies pre-built, output discarded.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "relay/outbound/smtp_client.h"

namespace ringpost::client {
namespace {

class NullHost : public ClientHost {
 public:
  std::string& Output() override { return out; }
  void OutputReady() override { out.clear(); }
  void OnIdle() override {}
  void OnTransactionDone(void*, std::vector<RecipientOutcome>& o) override {
    delivered += o[0].delivered() ? 1 : 0;
  }
  void OnSessionEnd(const RecipientOutcome&) override {}
  void StartTls() override {}
  std::string out;
  int64_t delivered = 0;
};

void Run(benchmark::State& state, const char* ehlo, size_t depth,
         const std::string& replies_per_message) {
  NullHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(depth);
  c.Feed("220 s\r\n");
  c.Feed(ehlo);
  std::string content = "Subject: x\r\n\r\n";
  while (content.size() < 2048) content += std::string(78, 'x') + "\r\n";
  Transaction t;
  t.sender = "a@x.test";
  t.recipients = {"b@y.test"};
  t.content = content;
  std::string replies;
  for (size_t i = 0; i < depth; ++i) replies += replies_per_message;
  for (auto _ : state) {
    for (size_t i = 0; i < depth; ++i) c.Begin(t);
    c.Feed(replies);
  }
  if (h.delivered != static_cast<int64_t>(state.iterations() * depth)) {
    state.SkipWithError("not delivered");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * depth));
}

void BM_StreamedBdat(benchmark::State& state) {
  Run(state, "250-s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 CHUNKING\r\n", 32,
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as X\r\n");
}
BENCHMARK(BM_StreamedBdat);

void BM_PipelinedData(benchmark::State& state) {
  Run(state, "250-s\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 1,
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 2.0.0 Ok: queued as X\r\n");
}
BENCHMARK(BM_PipelinedData);

}  // namespace
}  // namespace ringpost::client
