// delivery_log_benchmark.cc — formatting typical records into the log's
// buffer (LogBuffer, cleared every 64 KiB as DeliveryLog's is), and into a
// std::string through AppendLogRecord (the tests' path, which zero-fills).

#include <string>

#include "benchmark/benchmark.h"
#include "relay/delivery/delivery_log.h"

namespace ringpost {
namespace {

LogRecord TypicalRecord(LogEvent type) {
  LogRecord r;
  r.type = type;
  r.id = 0x0123456789ABCDEFull;
  r.sender = "loadgen@bench.test";
  r.recipient = "user123@a.test";
  r.domain = "a.test";
  r.peer = "127.0.0.1:2525";
  r.code = 250;
  r.enhanced = "2.0.0";
  if (type == LogEvent::kDelivery) {
    r.response = "2.0.0 Ok: queued as 0123456789ABCDEF";
    r.attempt = 1;
  }
  r.size = 1024;
  r.queued_at_ms = 1700000000123;
  r.event_at_ms = r.queued_at_ms + 3;
  return r;
}

// DeliveryLog::Add's formatting: LogBuffer::Append.
void RunLogBuffer(benchmark::State& state, LogRecord r) {
  LogBuffer out;
  for (auto _ : state) {
    out.Append(r);
    if (out.size() >= DeliveryLog::kBatchBytes) {
      benchmark::DoNotOptimize(out.data());
      out.clear();
    }
    ++r.event_at_ms;  // a new millisecond each record, a new second every 1000
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void RunString(benchmark::State& state, LogRecord r) {
  std::string out;
  out.reserve(DeliveryLog::kBatchBytes + 4096);
  for (auto _ : state) {
    AppendLogRecord(r, &out);
    if (out.size() >= DeliveryLog::kBatchBytes) {
      benchmark::DoNotOptimize(out.data());
      out.clear();
    }
    ++r.event_at_ms;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_LogBufferDelivery(benchmark::State& state) {
  RunLogBuffer(state, TypicalRecord(LogEvent::kDelivery));
}
BENCHMARK(BM_LogBufferDelivery);

void BM_LogBufferReception(benchmark::State& state) {
  RunLogBuffer(state, TypicalRecord(LogEvent::kReception));
}
BENCHMARK(BM_LogBufferReception);

void BM_AppendLogRecordDelivery(benchmark::State& state) {
  RunString(state, TypicalRecord(LogEvent::kDelivery));
}
BENCHMARK(BM_AppendLogRecordDelivery);

void BM_AppendLogRecordReception(benchmark::State& state) {
  RunString(state, TypicalRecord(LogEvent::kReception));
}
BENCHMARK(BM_AppendLogRecordReception);

}  // namespace
}  // namespace ringpost
