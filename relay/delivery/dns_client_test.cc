// dns_client_test.cc — the I/O path of DnsClient (dns::Resolver driven on
// a real io_uring loop) against scripted DNS servers on loopback (a test
// thread with plain sockets plays the server): UDP answers, stray and
// spoofed datagrams through the kernel, TC=1 → TCP, a TCP server that
// hangs up, real timeouts and failover, ICMP refused, overload and
// Shutdown while sockets are in the kernel, idle(), destruction with
// sockets open, ID and source port randomness. The protocol rules without
// sockets (rcodes, FORMERR, CNAMEs, stray limits, rotation) are tested in
// dns/resolver_test.cc.
#include "relay/delivery/dns_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "dns/testing/packets.h"
#include "gtest/gtest.h"

namespace ringpost::delivery {
namespace {

using dns::Answer;
using dns::AnswerStatus;
using dns::ResolverOptions;
using dns::RrType;

using dns::testing::kAnswer;
using dns::testing::kAuthority;
using dns::testing::PacketBuilder;

// What a query looked like to the server.
struct Seen {
  uint16_t id = 0;
  std::string name;
  RrType type = RrType::kA;
  bool edns = false;
  bool tcp = false;
  uint16_t source_port = 0;
};

std::optional<Seen> ParseQuery(const std::string& q) {
  if (q.size() < 17) return std::nullopt;
  Seen s;
  s.id = static_cast<uint16_t>((static_cast<uint8_t>(q[0]) << 8) | static_cast<uint8_t>(q[1]));
  s.edns = q[11] != 0;
  size_t i = 12;
  while (i < q.size() && q[i] != 0) {
    const size_t len = static_cast<uint8_t>(q[i]);
    if (!s.name.empty()) s.name.push_back('.');
    s.name.append(q, i + 1, len);
    i += len + 1;
  }
  if (i + 3 > q.size()) return std::nullopt;
  s.type = static_cast<RrType>((static_cast<uint8_t>(q[i + 1]) << 8) | static_cast<uint8_t>(q[i + 2]));
  return s;
}

// A DNS server on 127.0.0.1 (UDP and TCP on one port) whose replies come
// from `script`: it returns the datagrams/messages to send back, in order.
// An empty vector means "stay silent".
class FakeServer {
 public:
  using Script = std::function<std::vector<std::string>(const Seen&)>;

  // accept_tcp = false: TCP connections complete in the kernel's backlog
  // but are never accepted, so a client's receive waits forever.
  explicit FakeServer(Script script, bool with_tcp = true, bool accept_tcp = true)
      : script_(std::move(script)), accept_tcp_(accept_tcp) {
    for (int tries = 0; tries < 50; ++tries) {
      udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a = {};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) std::abort();
      socklen_t len = sizeof(a);
      getsockname(udp_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
      if (!with_tcp) break;
      tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(tcp_, 16) == 0) {
        break;
      }
      close(tcp_);
      close(udp_);
      tcp_ = udp_ = -1;
    }
    if (udp_ < 0) std::abort();
    spoof_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    thread_ = std::thread([this] { Serve(); });
  }

  ~FakeServer() {
    stop_ = true;
    thread_.join();
    close(udp_);
    if (tcp_ >= 0) close(tcp_);
    close(spoof_);
  }

  sockaddr_storage address() const {
    sockaddr_storage ss = {};
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port_);
    return ss;
  }

  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  // A datagram with this prefix is sent from another socket (spoofed port).
  static constexpr std::string_view kFromOtherPort = "\x01SPOOF";

 private:
  void Record(Seen s) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(std::move(s));
  }

  void Serve() {
    // Bounded: the destructor sets stop_; each poll waits at most 20 ms.
    while (!stop_) {
      pollfd fds[2] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}};
      if (poll(fds, tcp_ >= 0 && accept_tcp_ ? 2 : 1, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) ServeUdp();
      if (tcp_ >= 0 && accept_tcp_ && (fds[1].revents & POLLIN)) ServeTcp();
    }
  }

  void ServeUdp() {
    char buf[4096];
    sockaddr_in from = {};
    socklen_t len = sizeof(from);
    const ssize_t n = recvfrom(udp_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) return;
    auto q = ParseQuery(std::string(buf, static_cast<size_t>(n)));
    if (!q) return;
    q->source_port = ntohs(from.sin_port);
    Record(*q);
    for (const std::string& reply : script_(*q)) {
      if (reply.rfind(kFromOtherPort, 0) == 0) {
        const std::string body = reply.substr(kFromOtherPort.size());
        sendto(spoof_, body.data(), body.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      } else {
        sendto(udp_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    }
  }

  void ServeTcp() {
    const int c = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    timeval tv = {2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string in;
    char buf[4096];
    // Bounded by the 2 s receive timeout and the 64 KiB message limit.
    while (in.size() < 2 || in.size() < 2 + static_cast<size_t>((static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]))) {
      const ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    if (in.size() > 2) {
      auto q = ParseQuery(in.substr(2));
      if (q) {
        q->tcp = true;
        Record(*q);
        for (const std::string& reply : script_(*q)) {
          std::string framed;
          framed.push_back(static_cast<char>(reply.size() >> 8));
          framed.push_back(static_cast<char>(reply.size() & 0xff));
          framed += reply;
          send(c, framed.data(), framed.size(), MSG_NOSIGNAL);
        }
      }
    }
    close(c);
  }

  Script script_;
  bool accept_tcp_ = true;
  int udp_ = -1;
  int tcp_ = -1;
  int spoof_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

std::string MxReply(const Seen& q) {
  return PacketBuilder(q.id)
      .Question(q.name, q.type)
      .Mx(kAnswer, q.name, 300, 10, "mx1." + q.name)
      .Mx(kAnswer, q.name, 200, 20, "mx2." + q.name)
      .Build();
}

// A loop for one test, with a predicate checked at the end of every turn
// and a guard timer: every wait is bounded.
class TestLoop {
 public:
  TestLoop() {
    runtime::LoopOptions o;
    o.sq_entries = 256;
    o.recv_buffers = 16;
    auto loop = runtime::Loop::Create(o);
    if (!loop.ok()) std::abort();
    loop_ = std::move(*loop);
    loop_->AddTurnHook([this] {
      if (until_ && until_()) loop_->Quit();
    });
  }
  ~TestLoop() { loop_->timers().Disarm(&guard_); }

  runtime::Loop* get() { return loop_.get(); }

  bool RunUntil(std::function<bool()> done, uint64_t timeout_ms = 10000) {
    until_ = std::move(done);
    timed_out_ = false;
    guard_.context = this;
    guard_.callback = [](runtime::Timer* t) {
      auto* self = static_cast<TestLoop*>(t->context);
      self->timed_out_ = true;
      self->loop_->Quit();
    };
    loop_->timers().Arm(&guard_, runtime::MonotonicMs() + timeout_ms);
    loop_->Run();
    loop_->timers().Disarm(&guard_);
    const bool ok = until_();
    until_ = nullptr;
    return ok;
  }

 private:
  std::unique_ptr<runtime::Loop> loop_;
  std::function<bool()> until_;
  runtime::Timer guard_;
  bool timed_out_ = false;
};

ResolverOptions Options(std::vector<sockaddr_storage> servers, uint64_t timeout_ms = 1000) {
  ResolverOptions o;
  o.servers = std::move(servers);
  o.timeout_ms = timeout_ms;
  o.attempts = 2;
  return o;
}

// Resolves one name and runs the loop until the answer came.
Answer ResolveOnce(TestLoop& loop, DnsClient* r, std::string name, RrType type) {
  std::optional<Answer> got;
  r->Resolve(name, type, [&](Answer a) { got = std::move(a); });
  EXPECT_FALSE(got.has_value()) << "callback ran inside Resolve()";
  EXPECT_TRUE(loop.RunUntil([&] { return got.has_value(); }));
  // Let detached sockets finish their cancellation and close.
  EXPECT_TRUE(loop.RunUntil([&] { return r->idle(); }, 5000));
  return got.value_or(Answer{});
}

sockaddr_storage ClosedUdpPort() {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  sockaddr_storage ss = {};
  std::memcpy(&ss, &a, sizeof(a));
  return ss;
}

TEST(DnsClientTest, AnswersMx) {
  FakeServer server([](const Seen& q) { return std::vector<std::string>{MxReply(q)}; });
  TestLoop loop;
  auto r = DnsClient::Create(loop.get(), Options({server.address()}));
  ASSERT_TRUE(r.ok()) << r.status();
  Answer a = ResolveOnce(loop, r->get(), "Example.TEST", RrType::kMx);
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.name, "example.test");
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.ttl_s, 200u);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "example.test");
  EXPECT_TRUE(seen[0].edns);
  EXPECT_EQ((*r)->stats().attempts, 1u);
}

TEST(DnsClientTest, IgnoresStrayAndSpoofedDatagrams) {
  FakeServer server([](const Seen& q) {
    return std::vector<std::string>{
        PacketBuilder(static_cast<uint16_t>(q.id + 1)).Question(q.name, q.type).Build(),
        PacketBuilder(q.id).Question("other.test", q.type).Build(),
        PacketBuilder(q.id).Question(q.name, RrType::kTxt).Build(),
        std::string("garbage that is not DNS"),
        std::string(FakeServer::kFromOtherPort) + MxReply(q),
        PacketBuilder(q.id).NotResponse().Question(q.name, q.type).Build(),
        MxReply(q)};
  });
  TestLoop loop;
  auto r = DnsClient::Create(loop.get(), Options({server.address()}));
  ASSERT_TRUE(r.ok());
  Answer a = ResolveOnce(loop, r->get(), "example.test", RrType::kMx);
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.records.size(), 2u);
  // The spoofed-port datagram is dropped by the kernel (connected socket);
  // the other five reach us and are ignored.
  EXPECT_GE((*r)->stats().stray, 5u);
  EXPECT_EQ((*r)->stats().attempts, 1u);
}

TEST(DnsClientTest, TruncatedReplyRetriesOverTcp) {
  FakeServer server([](const Seen& q) {
    if (!q.tcp) {
      return std::vector<std::string>{
          PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build()};
    }
    PacketBuilder b(q.id);
    b.Question(q.name, q.type);
    for (int i = 1; i <= 200; ++i) b.A(kAnswer, q.name, 60, "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
    return std::vector<std::string>{b.Build()};
  });
  TestLoop loop;
  auto r = DnsClient::Create(loop.get(), Options({server.address()}));
  ASSERT_TRUE(r.ok());
  Answer a = ResolveOnce(loop, r->get(), "big.test", RrType::kA);
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.records.size(), 200u);
  EXPECT_EQ((*r)->stats().tcp_fallbacks, 1u);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0].tcp);
  EXPECT_TRUE(seen[1].tcp);
}

TEST(DnsClientTest, TimeoutMovesToTheNextServer) {
  FakeServer silent([](const Seen&) { return std::vector<std::string>{}; });
  FakeServer good([](const Seen& q) { return std::vector<std::string>{MxReply(q)}; });
  TestLoop loop;
  auto r = DnsClient::Create(loop.get(), Options({silent.address(), good.address()}, 200));
  ASSERT_TRUE(r.ok());
  const uint64_t start = runtime::MonotonicMs();
  Answer a = ResolveOnce(loop, r->get(), "example.test", RrType::kMx);
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_GE(runtime::MonotonicMs() - start, 190u);
  EXPECT_EQ((*r)->stats().timeouts, 1u);
  EXPECT_EQ(silent.seen().size(), 1u);
  EXPECT_EQ(good.seen().size(), 1u);
  // The next query starts with the server that answered: no second timeout.
  const uint64_t again = runtime::MonotonicMs();
  Answer b = ResolveOnce(loop, r->get(), "example2.test", RrType::kMx);
  ASSERT_EQ(b.status, AnswerStatus::kOk) << b.detail;
  EXPECT_LT(runtime::MonotonicMs() - again, 150u);
  EXPECT_EQ(silent.seen().size(), 1u);
  EXPECT_EQ(good.seen().size(), 2u);
}

TEST(DnsClientTest, RefusedPortFailsOverWithoutWaiting) {
  FakeServer good([](const Seen& q) { return std::vector<std::string>{MxReply(q)}; });
  TestLoop loop;
  auto r = DnsClient::Create(loop.get(), Options({ClosedUdpPort(), good.address()}, 3000));
  ASSERT_TRUE(r.ok());
  const uint64_t start = runtime::MonotonicMs();
  Answer a = ResolveOnce(loop, r->get(), "example.test", RrType::kMx);
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_LT(runtime::MonotonicMs() - start, 2000u);
  EXPECT_GE((*r)->stats().attempt_errors, 1u);
}

TEST(DnsClientTest, OverloadBadNameAndShutdownAreAsynchronous) {
  FakeServer silent([](const Seen&) { return std::vector<std::string>{}; });
  TestLoop loop;
  ResolverOptions o = Options({silent.address()}, 5000);
  o.max_inflight = 1;
  auto r = DnsClient::Create(loop.get(), o);
  ASSERT_TRUE(r.ok());
  std::vector<AnswerStatus> got;
  auto record = [&](Answer a) { got.push_back(a.status); };
  (*r)->Resolve("slow.test", RrType::kA, record);
  (*r)->Resolve("second.test", RrType::kA, record);
  (*r)->Resolve("bad name", RrType::kA, record);
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(loop.RunUntil([&] { return got.size() == 2; }));
  EXPECT_EQ(got[0], AnswerStatus::kOverloaded);
  EXPECT_EQ(got[1], AnswerStatus::kBadName);
  EXPECT_FALSE((*r)->idle());
  (*r)->Shutdown();
  EXPECT_EQ(got.size(), 2u);  // not inside Shutdown()
  ASSERT_TRUE(loop.RunUntil([&] { return got.size() == 3 && (*r)->idle(); }));
  EXPECT_EQ(got[2], AnswerStatus::kCancelled);
  (*r)->Resolve("late.test", RrType::kA, record);
  ASSERT_TRUE(loop.RunUntil([&] { return got.size() == 4; }));
  EXPECT_EQ(got[3], AnswerStatus::kCancelled);
}

TEST(DnsClientTest, RandomIdsAndSourcePorts) {
  FakeServer server([](const Seen& q) { return std::vector<std::string>{MxReply(q)}; });
  TestLoop loop;
  auto r = DnsClient::Create(loop.get(), Options({server.address()}));
  ASSERT_TRUE(r.ok());
  int done = 0;
  for (int i = 0; i < 40; ++i) {
    (*r)->Resolve("n" + std::to_string(i) + ".test", RrType::kMx, [&](Answer a) {
      EXPECT_EQ(a.status, AnswerStatus::kOk) << a.detail;
      ++done;
    });
  }
  ASSERT_TRUE(loop.RunUntil([&] { return done == 40 && (*r)->idle(); }));
  std::set<uint16_t> ids;
  std::set<uint16_t> ports;
  for (const Seen& s : server.seen()) {
    ids.insert(s.id);
    ports.insert(s.source_port);
  }
  EXPECT_GE(ids.size(), 38u);
  EXPECT_GE(ports.size(), 30u);
}

TEST(DnsClientTest, TcpServerHangingUpFailsTheAttemptAtOnce) {
  FakeServer server([](const Seen& q) {
    if (q.tcp) return std::vector<std::string>{};  // close without a reply
    return std::vector<std::string>{
        PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build()};
  });
  TestLoop loop;
  ResolverOptions o = Options({server.address()}, 3000);
  o.attempts = 1;
  auto r = DnsClient::Create(loop.get(), o);
  ASSERT_TRUE(r.ok());
  const uint64_t start = runtime::MonotonicMs();
  Answer a = ResolveOnce(loop, r->get(), "hangup.test", RrType::kA);
  EXPECT_EQ(a.status, AnswerStatus::kTimeout);
  EXPECT_NE(a.detail.find("TCP connection closed"), std::string::npos) << a.detail;
  EXPECT_LT(runtime::MonotonicMs() - start, 2000u);  // not the 3 s deadline
  EXPECT_EQ((*r)->stats().tcp_fallbacks, 1u);
  EXPECT_EQ((*r)->stats().attempt_errors, 1u);
  EXPECT_EQ((*r)->live_sockets(), 0u);
}

TEST(DnsClientTest, ShutdownWhileUdpAndTcpSocketsAreInTheKernel) {
  // UDP queries to a silent server wait in RECVMSG; "big.test" goes to TCP
  // on a server that never accepts, so its RECV waits too.
  FakeServer silent([](const Seen&) { return std::vector<std::string>{}; });
  FakeServer tc(
      [](const Seen& q) {
        return std::vector<std::string>{
            PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build()};
      },
      /*with_tcp=*/true, /*accept_tcp=*/false);
  TestLoop loop;
  auto udp = DnsClient::Create(loop.get(), Options({silent.address()}, 10000));
  auto tcp = DnsClient::Create(loop.get(), Options({tc.address()}, 10000));
  ASSERT_TRUE(udp.ok());
  ASSERT_TRUE(tcp.ok());
  std::vector<AnswerStatus> got;
  auto record = [&](Answer a) { got.push_back(a.status); };
  for (int i = 0; i < 20; ++i) {
    (*udp)->Resolve("q" + std::to_string(i) + ".test", RrType::kA, record);
  }
  (*tcp)->Resolve("big.test", RrType::kA, record);
  // Every query is out: 20 datagrams seen, and the TCP fallback started.
  ASSERT_TRUE(loop.RunUntil([&] {
    return silent.seen().size() == 20 && (*tcp)->stats().tcp_fallbacks == 1;
  }));
  ASSERT_TRUE(loop.RunUntil([&] { return (*tcp)->stats().attempts == 2; }));
  EXPECT_EQ((*udp)->live_sockets(), 20u);
  EXPECT_EQ((*tcp)->live_sockets(), 1u);
  EXPECT_FALSE((*udp)->idle());
  EXPECT_FALSE((*tcp)->idle());
  (*udp)->Shutdown();
  (*tcp)->Shutdown();
  EXPECT_TRUE(got.empty());  // not inside Shutdown()
  ASSERT_TRUE(loop.RunUntil([&] { return got.size() == 21 && (*udp)->idle() && (*tcp)->idle(); },
                            5000));
  for (AnswerStatus s : got) EXPECT_EQ(s, AnswerStatus::kCancelled);
  EXPECT_EQ((*udp)->live_sockets(), 0u);
  EXPECT_EQ((*tcp)->live_sockets(), 0u);
  EXPECT_EQ((*udp)->stats().timeouts, 0u);
}

TEST(DnsClientTest, DestroyedWithSocketsOpenAfterTheLoopStopped) {
  FakeServer silent([](const Seen&) { return std::vector<std::string>{}; });
  bool called = false;
  {
    TestLoop loop;
    auto r = DnsClient::Create(loop.get(), Options({silent.address()}, 10000));
    ASSERT_TRUE(r.ok());
    (*r)->Resolve("pending.test", RrType::kA, [&](Answer) { called = true; });
    ASSERT_TRUE(loop.RunUntil([&] { return silent.seen().size() == 1; }));
    EXPECT_EQ((*r)->live_sockets(), 1u);
    r->reset();  // closes the socket with close(); the loop never runs again
  }
  EXPECT_FALSE(called);
}

TEST(DnsClientTest, CreateValidatesOptions) {
  TestLoop loop;
  EXPECT_FALSE(DnsClient::Create(nullptr, Options({ClosedUdpPort()})).ok());
  EXPECT_TRUE(DnsClient::Create(loop.get(), Options({ClosedUdpPort()})).ok());
  EXPECT_FALSE(DnsClient::Create(loop.get(), ResolverOptions{}).ok());
  ResolverOptions o = Options({ClosedUdpPort()});
  o.timeout_ms = 1;
  EXPECT_FALSE(DnsClient::Create(loop.get(), o).ok());
  o = Options({ClosedUdpPort()});
  o.edns_udp_size = 100;
  EXPECT_FALSE(DnsClient::Create(loop.get(), o).ok());
}

}  // namespace
}  // namespace ringpost::delivery
