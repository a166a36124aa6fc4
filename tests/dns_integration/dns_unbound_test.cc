// dns_unbound_test.cc — the whole dns/ stack (MxCache → MxResolver →
// dns::Resolver driven by delivery::DnsClient on a real io_uring Loop) against a real unbound serving a test
// zone on loopback: two MX, a first MX that refuses connections, implicit
// MX, null MX, NXDOMAIN, CNAME chains and loops, a reply that only fits
// over TCP, a mail loop, REFUSED, IPv6 preference, failover from a silent
// server, one lookup shared by two shard threads, and serve-stale while
// the DNS server is down. Every wait is bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "dns/mx.h"
#include "dns/mx_cache.h"
#include "dns/testing/unbound_server.h"
#include "gtest/gtest.h"
#include "relay/delivery/dns_client.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"

namespace ringpost::dns {
namespace {

using testing::UnboundServer;

std::vector<std::string> TestZone() {
  std::vector<std::string> z = {
      "local-zone: \"example.test.\" static",
      "local-data: \"example.test. 300 IN SOA ns.example.test. host.example.test. 1 3600 600 "
      "86400 120\"",
      // Two MX.
      "local-data: \"two.example.test. 300 IN MX 20 mx2.two.example.test.\"",
      "local-data: \"two.example.test. 300 IN MX 10 mx1.two.example.test.\"",
      "local-data: \"mx1.two.example.test. 300 IN A 127.0.0.2\"",
      "local-data: \"mx2.two.example.test. 300 IN A 127.0.0.3\"",
      // The first MX refuses connections, the second accepts.
      "local-data: \"refuse.example.test. 300 IN MX 10 down.refuse.example.test.\"",
      "local-data: \"refuse.example.test. 300 IN MX 20 up.refuse.example.test.\"",
      "local-data: \"down.refuse.example.test. 300 IN A 127.0.0.4\"",
      "local-data: \"up.refuse.example.test. 300 IN A 127.0.0.5\"",
      // Implicit MX.
      "local-data: \"implicit.example.test. 300 IN A 127.0.0.6\"",
      // Null MX.
      "local-data: \"nullmx.example.test. 300 IN MX 0 .\"",
      // CNAME chain to two.example.test, and a CNAME loop.
      "local-data: \"alias.example.test. 300 IN CNAME alias2.example.test.\"",
      "local-data: \"alias2.example.test. 300 IN CNAME two.example.test.\"",
      "local-data: \"ping.example.test. 300 IN CNAME pong.example.test.\"",
      "local-data: \"pong.example.test. 300 IN CNAME ping.example.test.\"",
      // An MX pointing back at the relay (127.0.0.9 is "local" in the test).
      "local-data: \"loop.example.test. 300 IN MX 10 self.example.test.\"",
      "local-data: \"self.example.test. 300 IN A 127.0.0.9\"",
      // IPv6 and IPv4 for one host.
      "local-data: \"v6.example.test. 300 IN MX 10 mx6.example.test.\"",
      "local-data: \"mx6.example.test. 300 IN AAAA ::1\"",
      "local-data: \"mx6.example.test. 300 IN A 127.0.0.7\"",
      // A reply too large for 1232 bytes of UDP: many A and TXT records.
      "local-data: \"bigmx.example.test. 300 IN MX 10 big.example.test.\"",
      "local-zone: \"refused.test.\" refuse",
  };
  for (int i = 1; i <= 120; ++i) {
    z.push_back("local-data: \"big.example.test. 300 IN A 127.0.1." + std::to_string(i) + "\"");
  }
  for (int i = 0; i < 40; ++i) {
    z.push_back("local-data: \"big.example.test. 300 IN TXT \\\"record " + std::to_string(i) +
                " padding padding padding padding\\\"\"");
  }
  return z;
}

// One unbound for the whole binary, started on first use, stopped by the
// gtest environment at exit.
class Env : public ::testing::Environment {
 public:
  static UnboundServer& Server() {
    if (server_ == nullptr) {
      auto s = UnboundServer::Start(TestZone());
      if (!s.ok()) {
        std::fprintf(stderr, "FATAL: cannot start unbound: %s\n",
                     std::string(s.status().message()).c_str());
        std::abort();
      }
      server_ = std::move(*s);
    }
    return *server_;
  }
  void TearDown() override { server_.reset(); }

 private:
  static inline std::unique_ptr<UnboundServer> server_;
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new Env);

// One shard: a loop, a resolver, an MX resolver, hooked to a cache.
struct Shard {
  std::unique_ptr<runtime::Loop> loop;
  std::unique_ptr<delivery::DnsClient> resolver;
  std::unique_ptr<MxResolver> mx;
  std::function<bool()> until;
  runtime::Timer guard;
  runtime::Timer tick;

  Shard(ResolverOptions ro, MxOptions mo, MxCache* cache = nullptr, int index = 0) {
    runtime::LoopOptions lo;
    lo.sq_entries = 256;
    lo.recv_buffers = 16;
    auto l = runtime::Loop::Create(lo);
    if (!l.ok()) std::abort();
    loop = std::move(*l);
    auto r = delivery::DnsClient::Create(loop.get(), std::move(ro));
    if (!r.ok()) std::abort();
    resolver = std::move(*r);
    mx = std::make_unique<MxResolver>(resolver.get(), std::move(mo));
    loop->AddTurnHook([this, cache, index] {
      if (cache != nullptr) cache->DrainCompletions(index);
      if (until && until()) loop->Quit();
    });
    if (cache != nullptr) {
      loop->SetPendingWorkCheck([cache, index] { return cache->HasCompletions(index); });
    }
  }
  ~Shard() {
    resolver->Shutdown();
    RunUntil([this] { return resolver->idle(); }, 5000);
  }

  // Runs the loop until done() (checked every turn and every 10 ms, so a
  // condition set by another thread is seen promptly) or timeout_ms.
  bool RunUntil(std::function<bool()> done, uint64_t timeout_ms = 15000) {
    until = std::move(done);
    guard.context = loop.get();
    guard.callback = [](runtime::Timer* t) { static_cast<runtime::Loop*>(t->context)->Quit(); };
    loop->timers().Arm(&guard, runtime::MonotonicMs() + timeout_ms);
    tick.context = this;
    tick.callback = [](runtime::Timer* t) {
      auto* self = static_cast<Shard*>(t->context);
      self->loop->timers().Arm(&self->tick, runtime::MonotonicMs() + 10);
    };
    loop->timers().Arm(&tick, runtime::MonotonicMs() + 10);
    loop->Run();
    loop->timers().Disarm(&guard);
    loop->timers().Disarm(&tick);
    const bool ok = until();
    until = nullptr;
    return ok;
  }

  MxResult Lookup(std::string_view domain) {
    std::optional<MxResult> got;
    mx->Fetch(domain, [&](MxResult r) { got = std::move(r); });
    EXPECT_TRUE(RunUntil([&] { return got.has_value(); })) << "no result for " << domain;
    return got.value_or(MxResult{});
  }

  Answer Resolve(std::string_view name, RrType type) {
    std::optional<Answer> got;
    resolver->Resolve(name, type, [&](Answer a) { got = std::move(a); });
    EXPECT_TRUE(RunUntil([&] { return got.has_value(); })) << "no answer for " << name;
    return got.value_or(Answer{});
  }
};

ResolverOptions DefaultResolver() {
  ResolverOptions o;
  o.servers = {Env::Server().endpoint()};
  o.timeout_ms = 2000;
  return o;
}

MxOptions DefaultMx(uint16_t port = 2525) {
  MxOptions o;
  o.dest_port = port;
  auto local = std::make_shared<LocalAddresses>();
  local->Add(*IpAddress::Parse("127.0.0.9"), 0);
  o.local = local;
  return o;
}

std::vector<std::string> HostNames(const MxResult& r) {
  std::vector<std::string> out;
  for (const MxHost& h : r.hosts) out.push_back(h.name);
  return out;
}

std::vector<std::string> Addrs(const MxHost& h) {
  std::vector<std::string> out;
  for (const auto& sa : h.addresses) out.push_back(FormatSockaddr(sa));
  return out;
}

TEST(DnsUnboundTest, TwoMxInPreferenceOrder) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("two.example.test");
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_EQ(HostNames(r),
            (std::vector<std::string>{"mx1.two.example.test", "mx2.two.example.test"}));
  EXPECT_EQ(Addrs(r.hosts[0]), (std::vector<std::string>{"127.0.0.2:2525"}));
  EXPECT_EQ(Addrs(r.hosts[1]), (std::vector<std::string>{"127.0.0.3:2525"}));
  EXPECT_EQ(r.site_key, "127.0.0.2:2525,127.0.0.3:2525");
  EXPECT_EQ(r.ttl_s, 300u);
}

TEST(DnsUnboundTest, FirstMxRefusesTheNextAccepts) {
  // A listener on the second MX's address only; the first refuses.
  Shard shard(DefaultResolver(), DefaultMx(0));
  auto listen_addr = runtime::ParseHostPort("127.0.0.5:0");
  ASSERT_TRUE(listen_addr.ok());
  int accepted = 0;
  auto listener = runtime::Listener::Create(shard.loop.get(), *listen_addr, 8, [&](int fd) {
    ++accepted;
    close(fd);
  });
  ASSERT_TRUE(listener.ok()) << listener.status();
  const uint16_t port = (*listener)->port();
  // Re-resolve with the listener's port as dest_port.
  shard.mx = std::make_unique<MxResolver>(shard.resolver.get(), DefaultMx(port));
  MxResult r = shard.Lookup("refuse.example.test");
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[0].name, "down.refuse.example.test");

  // What the client does with the list: try each host in order.
  std::vector<int> results;
  size_t next = 0;
  std::function<void()> try_next = [&] {
    const sockaddr_storage dest = r.hosts[next].addresses[0];
    runtime::Connect(shard.loop.get(), dest, 2000, [&](int fd_or_error) {
      results.push_back(fd_or_error);
      if (fd_or_error >= 0) {
        close(fd_or_error);
      } else if (++next < r.hosts.size()) {
        try_next();
      }
    });
  };
  try_next();
  ASSERT_TRUE(shard.RunUntil([&] { return accepted == 1; }));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0], -ECONNREFUSED);
  EXPECT_GE(results[1], 0);
  (*listener)->Close();
  // The listener must outlive its cancelled accept: let that complete.
  shard.RunUntil([] { return false; }, 200);
}

TEST(DnsUnboundTest, ImplicitMx) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("implicit.example.test");
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_TRUE(r.implicit_mx);
  EXPECT_EQ(HostNames(r), (std::vector<std::string>{"implicit.example.test"}));
  EXPECT_EQ(Addrs(r.hosts[0]), (std::vector<std::string>{"127.0.0.6:2525"}));
}

TEST(DnsUnboundTest, NullMxBounces) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("nullmx.example.test");
  EXPECT_EQ(r.status, MxStatus::kPermanent);
  EXPECT_EQ(r.code, 556);
  EXPECT_EQ(r.enhanced, "5.1.10");
}

TEST(DnsUnboundTest, NxDomainBouncesWithNegativeTtl) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("nosuch.example.test");
  EXPECT_EQ(r.status, MxStatus::kPermanent);
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.enhanced, "5.1.2");
  EXPECT_GT(r.ttl_s, 0u);
  EXPECT_LE(r.ttl_s, 120u);  // the SOA MINIMUM
}

TEST(DnsUnboundTest, CnameChainReachesTheSameSite) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult alias = shard.Lookup("alias.example.test");
  MxResult two = shard.Lookup("two.example.test");
  ASSERT_EQ(alias.status, MxStatus::kOk) << alias.text;
  EXPECT_EQ(HostNames(alias), HostNames(two));
  EXPECT_EQ(alias.site_key, two.site_key);
}

TEST(DnsUnboundTest, CnameLoopIsTemporary) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("ping.example.test");
  EXPECT_EQ(r.status, MxStatus::kTemporary) << r.text;
  EXPECT_EQ(r.enhanced, "4.4.3");
}

TEST(DnsUnboundTest, LargeReplyForcesTcp) {
  Shard shard(DefaultResolver(), DefaultMx());
  Answer a = shard.Resolve("big.example.test", RrType::kA);
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.records.size(), 120u);
  EXPECT_GE(shard.resolver->stats().tcp_fallbacks, 1u);
  MxResult r = shard.Lookup("bigmx.example.test");
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_EQ(r.hosts[0].addresses.size(), 8u);  // max_addresses_per_host
}

TEST(DnsUnboundTest, MxPointingAtUsIsAMailLoop) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("loop.example.test");
  EXPECT_EQ(r.status, MxStatus::kPermanent);
  EXPECT_EQ(r.code, 554);
  EXPECT_EQ(r.enhanced, "5.4.6");
}

TEST(DnsUnboundTest, RefusedIsTemporary) {
  Shard shard(DefaultResolver(), DefaultMx());
  MxResult r = shard.Lookup("x.refused.test");
  EXPECT_EQ(r.status, MxStatus::kTemporary) << r.text;
  EXPECT_NE(r.text.find("REFUSED"), std::string::npos) << r.text;
}

TEST(DnsUnboundTest, Ipv6FirstWhenEnabled) {
  MxOptions mo = DefaultMx();
  mo.ipv6 = true;
  Shard shard(DefaultResolver(), mo);
  MxResult r = shard.Lookup("v6.example.test");
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_EQ(Addrs(r.hosts[0]), (std::vector<std::string>{"[::1]:2525", "127.0.0.7:2525"}));
  Shard v4(DefaultResolver(), DefaultMx());
  MxResult only4 = v4.Lookup("v6.example.test");
  EXPECT_EQ(Addrs(only4.hosts[0]), (std::vector<std::string>{"127.0.0.7:2525"}));
}

TEST(DnsUnboundTest, FailoverFromASilentServer) {
  int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  sockaddr_storage silent_addr = {};
  std::memcpy(&silent_addr, &a, sizeof(a));
  ResolverOptions ro = DefaultResolver();
  ro.servers = {silent_addr, Env::Server().endpoint()};
  ro.timeout_ms = 300;
  Shard shard(ro, DefaultMx());
  MxResult r = shard.Lookup("two.example.test");
  EXPECT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_GE(shard.resolver->stats().timeouts, 1u);
  close(silent);
}

// Two shard threads, one cache: both miss the same name at the same time;
// one lookup reaches unbound, both callbacks run on their own threads.
TEST(DnsUnboundTest, CacheSharedByTwoShards) {
  MxCacheOptions co;
  co.shards = 2;
  MxCache cache(co);
  std::atomic<runtime::Loop*> loops[2] = {nullptr, nullptr};
  cache.SetWakeHook([&](int from, int to) { loops[from].load()->Wake(loops[to].load()); });
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> finished{0};
  MxResultPtr results[2];
  std::thread::id callback_threads[2];
  uint64_t queries[2] = {0, 0};
  auto run = [&](int index) {
    Shard shard(DefaultResolver(), DefaultMx(), &cache, index);
    loops[index] = shard.loop.get();
    ready.fetch_add(1);
    for (int i = 0; i < 10000 && !go.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    bool done = false;
    MxResultPtr hit = cache.Lookup(index, "two.example.test", shard.loop->now_ms(), shard.mx.get(),
                                   [&](MxResultPtr r) {
                                     results[index] = std::move(r);
                                     callback_threads[index] = std::this_thread::get_id();
                                     done = true;
                                   });
    if (hit) {
      results[index] = hit;
      callback_threads[index] = std::this_thread::get_id();
      done = true;
    }
    EXPECT_TRUE(shard.RunUntil([&] { return done; }));
    finished.fetch_add(1);
    // Keep the loop alive (and wakeable) until the other shard is done too.
    EXPECT_TRUE(shard.RunUntil([&] { return finished.load() == 2; }));
    queries[index] = shard.resolver->stats().queries;
    loops[index] = nullptr;
  };
  std::thread t0(run, 0);
  std::thread t1(run, 1);
  for (int i = 0; i < 10000 && ready.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto id0 = t0.get_id();
  const auto id1 = t1.get_id();
  go.store(true);
  t0.join();
  t1.join();
  ASSERT_NE(results[0], nullptr);
  ASSERT_NE(results[1], nullptr);
  EXPECT_EQ(results[0]->status, MxStatus::kOk);
  EXPECT_EQ(results[0]->site_key, results[1]->site_key);
  EXPECT_EQ(callback_threads[0], id0);
  EXPECT_EQ(callback_threads[1], id1);
  MxCacheStats s = cache.Stats();
  EXPECT_EQ(s.fetches, 1u);
  EXPECT_EQ(s.coalesced + s.hits, 1u);
  // One shard sent the MX query and the two address queries; the other none.
  EXPECT_EQ(queries[0] + queries[1], 3u);
  EXPECT_TRUE(queries[0] == 0 || queries[1] == 0);
}

// The DNS server goes away: an expired entry is served stale instead of
// turning deliverable mail into temporary failures.
TEST(DnsUnboundTest, ServeStaleDuringAnOutage) {
  auto own = UnboundServer::Start(TestZone());
  ASSERT_TRUE(own.ok()) << own.status();
  ResolverOptions ro;
  ro.servers = {(*own)->endpoint()};
  ro.timeout_ms = 200;
  ro.attempts = 1;
  uint64_t skew_ms = 0;  // added to the loop clock: "time passes"
  MxCacheOptions co;
  co.max_ttl_s = 300;
  co.clock = [&] { return runtime::MonotonicMs() + skew_ms; };
  MxCache cache(co);
  Shard shard(ro, DefaultMx(), &cache, 0);
  auto lookup = [&]() -> MxResultPtr {
    MxResultPtr out;
    MxResultPtr hit = cache.Lookup(0, "two.example.test", shard.loop->now_ms() + skew_ms,
                                   shard.mx.get(), [&](MxResultPtr r) { out = std::move(r); });
    if (hit) return hit;
    EXPECT_TRUE(shard.RunUntil([&] { return out != nullptr; }));
    return out;
  };
  MxResultPtr first = lookup();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->status, MxStatus::kOk) << first->text;
  own->reset();  // outage: unbound stopped
  skew_ms = 301'000;  // past the TTL
  MxResultPtr stale = lookup();
  ASSERT_NE(stale, nullptr);
  EXPECT_EQ(stale->status, MxStatus::kOk);
  EXPECT_EQ(stale->site_key, first->site_key);
  MxCacheStats s = cache.Stats();
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.stale_serves, 1u);
}

}  // namespace
}  // namespace ringpost::dns
