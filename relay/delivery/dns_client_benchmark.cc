// dns_client_benchmark.cc — resolution throughput of one shard's DNS client
// (dns::Resolver driven on the io_uring loop) against a local unbound
// (started by the benchmark, num-threads 1, answers from local-data), with N
// queries in flight. (It was dns/resolver_benchmark before the resolver
// lost its I/O to this driver.)
//
//   bazel build //relay/delivery:dns_client_benchmark &&
//     bazel-bin/relay/delivery/dns_client_benchmark
//
// BM_ResolveA/N: A queries, N in flight (each on a fresh UDP socket with a
//   random port: SOCKET, CONNECT→SEND→RECVMSG linked, CLOSE).
// BM_MxLookup/N: full MX resolutions (MX query, then A for each of 2 hosts),
//   N domains in flight, no cache.
// items_per_second is the figure: queries/s or MX lookups/s. Both processes
// share the machine, so unbound's own CPU is part of the cost.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "dns/mx.h"
#include "dns/testing/unbound_server.h"
#include "relay/delivery/dns_client.h"
#include "relay/runtime/loop.h"

namespace ringpost::delivery {
namespace {

using namespace ringpost::dns;  // NOLINT: the benchmark speaks dns/ throughout

constexpr int kNames = 512;

testing::UnboundServer& Server() {
  // Destroyed at exit (static destructor): unbound is stopped by its PID.
  static std::unique_ptr<testing::UnboundServer> server = [] {
    std::vector<std::string> zone = {
        // 256 queries in flight overflow a default-sized receive buffer
        // (UDP RcvbufErrors, then 2 s timeouts): give unbound a large one.
        "so-rcvbuf: 4m",
        "local-zone: \"bench.test.\" static",
        "local-data: \"bench.test. 300 IN SOA ns.bench.test. h.bench.test. 1 3600 600 86400 60\"",
    };
    for (int i = 0; i < kNames; ++i) {
      const std::string d = "d" + std::to_string(i) + ".bench.test.";
      zone.push_back("local-data: \"" + d + " 300 IN MX 10 mx1." + d + "\"");
      zone.push_back("local-data: \"" + d + " 300 IN MX 20 mx2." + d + "\"");
      zone.push_back("local-data: \"mx1." + d + " 300 IN A 192.0.2.1\"");
      zone.push_back("local-data: \"mx2." + d + " 300 IN A 192.0.2.2\"");
      zone.push_back("local-data: \"h" + std::to_string(i) + ".bench.test. 300 IN A 192.0.2.3\"");
    }
    auto s = testing::UnboundServer::Start(zone);
    if (!s.ok()) {
      std::fprintf(stderr, "cannot start unbound: %s\n", std::string(s.status().message()).c_str());
      std::abort();
    }
    return std::move(*s);
  }();
  return *server;
}

struct Bench {
  std::unique_ptr<runtime::Loop> loop;
  std::unique_ptr<DnsClient> resolver;
  std::unique_ptr<MxResolver> mx;
  bool quit_when_done = false;
  size_t done = 0;
  size_t target = 0;

  Bench() {
    runtime::LoopOptions lo;
    lo.sq_entries = 1024;
    lo.recv_buffers = 16;
    loop = std::move(*runtime::Loop::Create(lo));
    ResolverOptions ro;
    ro.servers = {Server().endpoint()};
    resolver = std::move(*DnsClient::Create(loop.get(), ro));
    mx = std::make_unique<MxResolver>(resolver.get(), MxOptions{});
    loop->AddTurnHook([this] {
      if (done >= target) loop->Quit();
    });
  }
  ~Bench() {
    resolver->Shutdown();
    target = 0;
    loop->AddTurnHook([this] {
      if (resolver->idle()) loop->Quit();
    });
    loop->Run();
  }
};

// Closed loop: per iteration, `batch` lookups with state.range(0) of them in
// flight. start(i, finish) begins a lookup of name i and calls finish(ok)
// when its answer arrives.
template <typename Start>
void RunClosedLoop(benchmark::State& state, Bench& b, size_t batch,
                   Start start) {
  const size_t inflight = static_cast<size_t>(state.range(0));
  size_t next = 0;
  uint64_t failures = 0;
  std::function<void()> issue = [&] {
    start(next++ % kNames, [&](bool ok) {
      if (!ok) ++failures;
      ++b.done;
      if (b.done + inflight <= b.target) issue();
    });
  };
  for (auto _ : state) {
    b.done = 0;
    b.target = batch;
    for (size_t i = 0; i < inflight && i < batch; ++i) issue();
    b.loop->Run();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["failures"] = static_cast<double>(failures);
  state.counters["timeouts"] = static_cast<double>(b.resolver->stats().timeouts);
}

void BM_ResolveA(benchmark::State& state) {
  Bench b;
  RunClosedLoop(state, b, 2048, [&](size_t i, auto finish) {
    b.resolver->Resolve("h" + std::to_string(i) + ".bench.test", RrType::kA,
                        [finish](Answer a) { finish(a.status == AnswerStatus::kOk); });
  });
}
BENCHMARK(BM_ResolveA)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_MxLookup(benchmark::State& state) {
  Bench b;
  RunClosedLoop(state, b, 1024, [&](size_t i, auto finish) {
    b.mx->Fetch("d" + std::to_string(i) + ".bench.test",
                [finish](MxResult r) { finish(r.status == MxStatus::kOk); });
  });
}
BENCHMARK(BM_MxLookup)->Arg(1)->Arg(16)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ringpost::delivery
