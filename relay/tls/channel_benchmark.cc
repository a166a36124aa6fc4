// channel_benchmark.cc — what TLS costs a shard, with both ends of each
// connection in memory on one thread (no sockets, no kernel):
//
//   BM_FullHandshake/<key>    a new client and server channel and a full
//                             TLS 1.3 handshake, certificate ECDSA P-256
//                             (key 0) or RSA-2048 (key 1)
//   BM_ResumedHandshake/<key> the same with the client offering the ticket
//                             of the previous connection (same ClientContext
//                             and session key), as the relay's outbound side
//                             does per destination
//   BM_Record/<bytes>         Send on one established channel plus Receive
//                             on the other: encryption and decryption of
//                             `bytes` of plaintext (bytes_per_second counts
//                             the plaintext once)
//   BM_IdleMemory/<n>         heap held per idle connection: n pairs after
//                             the handshake and one record each way
//
// A handshake here includes the server's first record (BoringSSL sends the
// session tickets with it). Handshakes use manual time: the "Time" column
// is the CPU time of the server side only (creating its channel, its
// Receive calls, that first Send, freeing it),
// the "CPU" column the whole pair. The counters say the same as rates:
// server_hs/s/core and pair_hs/s/core.
//
// Run: bazel run -c opt //relay/tls:channel_benchmark
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "benchmark/benchmark.h"
#include "relay/tls/channel.h"
#include "relay/tls/context.h"
#include "relay/tls/test_certs.h"

namespace ringpost::tls {
namespace {

using testing::CertSpec;
using testing::KeyPair;
using testing::KeyType;

// A ServerContext for a certificate of `key` issued by a test CA; its files
// are removed once loaded.
std::unique_ptr<ServerContext> MakeServer(KeyType key) {
  static const testing::TestCa ca;
  CertSpec spec;
  spec.key = key;
  KeyPair pair = ca.Issue(spec);
  std::string prefix = "ringpost-channel-benchmark-" + std::to_string(getpid());
  std::string cert = testing::WriteTempFile(prefix + "-cert.pem", pair.cert_pem);
  std::string key_path = testing::WriteTempFile(prefix + "-key.pem", pair.key_pem);
  absl::StatusOr<std::unique_ptr<ServerContext>> server = ServerContext::Create(cert, key_path);
  CHECK(server.ok());
  std::remove(cert.c_str());
  std::remove(key_path.c_str());
  return *std::move(server);
}

ClientContext::Options ClientOptions() {
  // No verification in these benchmarks: the CA bundle is not needed.
  ClientContext::Options o;
  o.ca_file = "/dev/null";
  return o;
}

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// One connection's two ends. Side times are thread CPU nanoseconds.
struct Pair {
  std::unique_ptr<Channel> client;
  std::unique_ptr<Channel> server;
  uint64_t server_ns = 0;
  uint64_t client_ns = 0;

  Pair(ssl_ctx_st* server_ctx, ClientContext* client_ctx) {
    uint64_t t0 = ThreadCpuNs();
    server = Channel::NewServer(server_ctx);
    uint64_t t1 = ThreadCpuNs();
    client = Channel::NewClient(client_ctx, "localhost", /*verify=*/false, "dest");
    client_ns += ThreadCpuNs() - t1;
    server_ns += t1 - t0;
  }

  // The handshake, then the server's first record (the reply to EHLO,
  // after STARTTLS), which BoringSSL's server sends its session tickets
  // with. `deliver_tickets`: whether that record reaches the client, which
  // caches the session from it.
  void Handshake(bool deliver_tickets) {
    std::string to_server, to_client, plain;
    uint64_t t = ThreadCpuNs();
    client->Start(&to_server);
    client_ns += ThreadCpuNs() - t;
    while (!to_server.empty()) {
      t = ThreadCpuNs();
      CHECK(server->Receive(to_server, &plain, &to_client) == Channel::Result::kOk);
      uint64_t t2 = ThreadCpuNs();
      server_ns += t2 - t;
      to_server.clear();
      if (to_client.empty()) break;
      CHECK(client->Receive(to_client, &plain, &to_server) == Channel::Result::kOk);
      client_ns += ThreadCpuNs() - t2;
      to_client.clear();
    }
    CHECK(client->handshake_done() && server->handshake_done());
    CHECK(plain.empty());
    t = ThreadCpuNs();
    CHECK(server->Send("250 ok\r\n", &to_client) == Channel::Result::kOk);
    uint64_t t2 = ThreadCpuNs();
    server_ns += t2 - t;
    if (!deliver_tickets) return;
    CHECK(client->Receive(to_client, &plain, &to_server) == Channel::Result::kOk);
    client_ns += ThreadCpuNs() - t2;
    CHECK(plain == "250 ok\r\n" && to_server.empty());
  }

  void Destroy() {
    uint64_t t0 = ThreadCpuNs();
    server.reset();
    uint64_t t1 = ThreadCpuNs();
    client.reset();
    client_ns += ThreadCpuNs() - t1;
    server_ns += t1 - t0;
  }
};

void Handshakes(benchmark::State& state, bool resume) {
  auto server = MakeServer(state.range(0) == 0 ? KeyType::kEcdsaP256 : KeyType::kRsa2048);
  ServerContext::UniqueCtx ctx = server->Current();
  ClientContext client(ClientOptions());
  if (resume) {
    Pair first(ctx.get(), &client);
    first.Handshake(/*deliver_tickets=*/true);
    CHECK(client.cached_sessions() == 1);
  }
  uint64_t server_ns = 0, pair_ns = 0, resumed = 0;
  for (auto _ : state) {
    Pair p(ctx.get(), &client);
    // Resumed: the new tickets replace the one used, as on a real
    // connection. Full: the client never sees a ticket.
    p.Handshake(/*deliver_tickets=*/resume);
    resumed += p.client->Info().resumed ? 1 : 0;
    p.Destroy();
    state.SetIterationTime(static_cast<double>(p.server_ns) * 1e-9);
    server_ns += p.server_ns;
    pair_ns += p.server_ns + p.client_ns;
  }
  // Full handshakes must not resume, resumed ones must all resume.
  CHECK(resumed == (resume ? static_cast<uint64_t>(state.iterations()) : 0));
  const double n = static_cast<double>(state.iterations());
  state.counters["server_hs/s/core"] = n / (static_cast<double>(server_ns) * 1e-9);
  state.counters["pair_hs/s/core"] = n / (static_cast<double>(pair_ns) * 1e-9);
  state.SetLabel(state.range(0) == 0 ? "ECDSA P-256" : "RSA-2048");
}

void BM_FullHandshake(benchmark::State& state) { Handshakes(state, /*resume=*/false); }
void BM_ResumedHandshake(benchmark::State& state) { Handshakes(state, /*resume=*/true); }
BENCHMARK(BM_FullHandshake)->Arg(0)->Arg(1)->UseManualTime();
BENCHMARK(BM_ResumedHandshake)->Arg(0)->Arg(1)->UseManualTime();

void BM_Record(benchmark::State& state) {
  auto server = MakeServer(KeyType::kEcdsaP256);
  ServerContext::UniqueCtx ctx = server->Current();
  ClientContext client(ClientOptions());
  Pair p(ctx.get(), &client);
  p.Handshake(/*deliver_tickets=*/true);
  const std::string text(static_cast<size_t>(state.range(0)), 'x');
  std::string wire, plain, back;
  for (auto _ : state) {
    wire.clear();
    plain.clear();
    p.client->Send(text, &wire);
    p.server->Receive(wire, &plain, &back);
    benchmark::DoNotOptimize(plain.data());
  }
  CHECK(plain == text && back.empty());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(p.server->Description());
}
BENCHMARK(BM_Record)->Arg(1024)->Arg(64 * 1024);

// Bytes the heap hands out now (the system allocator: this target does not
// link jemalloc; mallinfo2 sums every arena, mmap'd chunks included).
size_t HeapInUse() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

void BM_IdleMemory(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  auto server = MakeServer(KeyType::kEcdsaP256);
  ServerContext::UniqueCtx ctx = server->Current();
  ClientContext client(ClientOptions());
  // Warm: per-thread buffers, the client's one cached session, lazily made
  // tables, so that the deltas below are the channels alone.
  {
    Pair warm(ctx.get(), &client);
    warm.Handshake(/*deliver_tickets=*/true);
  }
  std::vector<std::unique_ptr<Channel>> servers, clients;
  servers.reserve(n);
  clients.reserve(n);
  for (auto _ : state) {
    const size_t before = HeapInUse();
    for (size_t i = 0; i < n; i++) {
      Pair p(ctx.get(), &client);
      p.Handshake(/*deliver_tickets=*/true);
      // Then one exchange the other way, as a MAIL command.
      std::string wire, plain, back;
      CHECK(p.client->Send("MAIL FROM:<a@client.example>\r\n", &wire) == Channel::Result::kOk);
      CHECK(p.server->Receive(wire, &plain, &back) == Channel::Result::kOk);
      CHECK(back.empty());
      servers.push_back(std::move(p.server));
      clients.push_back(std::move(p.client));
    }
    const size_t both = HeapInUse();
    clients.clear();
    const size_t servers_only = HeapInUse();
    servers.clear();
    state.counters["server_bytes/conn"] =
        static_cast<double>(servers_only - before) / static_cast<double>(n);
    state.counters["client_bytes/conn"] =
        static_cast<double>(both - servers_only) / static_cast<double>(n);
  }
}
BENCHMARK(BM_IdleMemory)->Arg(1000)->Iterations(1);

}  // namespace
}  // namespace ringpost::tls
