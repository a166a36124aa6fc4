// resolver_test.cc — the resolver's protocol rules without sockets: a
// scripted ResolverHost records the exchanges it is asked to start and end,
// and the test feeds reply bytes (dns/testing/packets.h), exchange errors
// and deadlines by hand: answers, stray datagrams (ID, question, source,
// size), TC=1 → TCP with length framing, TCP replies in pieces and broken
// ones, timeouts and server rotation, preferred server, SERVFAIL/REFUSED,
// ICMP errors, FORMERR without EDNS, NXDOMAIN TTLs, CNAME chains across
// queries and loops, overload, bad names, shutdown, when callbacks run,
// random IDs, option checks. The I/O path is in
// relay/delivery/dns_client_test.cc.
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dns/testing/packets.h"
#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

using testing::kAnswer;
using testing::kAuthority;
using testing::PacketBuilder;

sockaddr_storage Server(int last_octet, uint16_t port = 53) {
  sockaddr_storage ss = {};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(last_octet));
  a->sin_port = htons(port);
  return ss;
}

// What a query looked like on the wire.
struct Seen {
  uint16_t id = 0;
  std::string name;
  RrType type = RrType::kA;
  bool edns = false;
};

Seen ParseQuery(std::string_view q) {
  Seen s;
  EXPECT_GE(q.size(), 17u);
  if (q.size() < 17) return s;
  s.id = static_cast<uint16_t>((static_cast<uint8_t>(q[0]) << 8) | static_cast<uint8_t>(q[1]));
  s.edns = q[11] != 0;
  size_t i = 12;
  while (i < q.size() && q[i] != 0) {
    const size_t len = static_cast<uint8_t>(q[i]);
    if (!s.name.empty()) s.name.push_back('.');
    s.name.append(q.substr(i + 1, len));
    i += len + 1;
  }
  if (i + 3 > q.size()) return s;
  s.type = static_cast<RrType>((static_cast<uint8_t>(q[i + 1]) << 8) | static_cast<uint8_t>(q[i + 2]));
  return s;
}

struct Exchange {
  ExchangeId id = 0;
  size_t server = 0;
  bool tcp = false;
  std::string bytes;  // as sent (TCP: with the length prefix)
  uint64_t deadline_ms = 0;
  bool ended = false;

  // The DNS message inside `bytes`.
  Seen query() const {
    if (!tcp) return ParseQuery(bytes);
    EXPECT_GE(bytes.size(), 2u);
    const size_t len = (static_cast<uint8_t>(bytes[0]) << 8) | static_cast<uint8_t>(bytes[1]);
    EXPECT_EQ(len + 2, bytes.size()) << "TCP length prefix";
    return ParseQuery(std::string_view(bytes).substr(2));
  }
};

// Records what the resolver asks for, and checks the host contract.
class FakeHost final : public ResolverHost {
 public:
  void StartExchange(ExchangeId id, size_t server, bool tcp, std::string_view bytes,
                     uint64_t deadline_ms) override {
    for (const Exchange& e : exchanges) EXPECT_NE(e.id, id) << "id reused";
    exchanges.push_back({id, server, tcp, std::string(bytes), deadline_ms, false});
    ++live;
  }
  void EndExchange(ExchangeId id) override {
    Exchange* e = Find(id);
    ASSERT_NE(e, nullptr);
    EXPECT_FALSE(e->ended) << "ended twice";
    e->ended = true;
    --live;
  }
  void CallbacksPending() override { ++pending_calls; }

  Exchange* Find(ExchangeId id) {
    for (Exchange& e : exchanges) {
      if (e.id == id) return &e;
    }
    return nullptr;
  }
  // The one live exchange (the tests run one query at a time unless noted).
  const Exchange& Current() const {
    const Exchange* found = nullptr;
    for (const Exchange& e : exchanges) {
      if (!e.ended) {
        EXPECT_EQ(found, nullptr) << "more than one live exchange";
        found = &e;
      }
    }
    EXPECT_NE(found, nullptr) << "no live exchange";
    static const Exchange kNone;
    return found != nullptr ? *found : kNone;
  }

  std::vector<Exchange> exchanges;
  int live = 0;
  int pending_calls = 0;
};

ResolverOptions Options(std::vector<sockaddr_storage> servers) {
  ResolverOptions o;
  o.servers = std::move(servers);
  o.timeout_ms = 1000;
  o.attempts = 2;
  return o;
}

class Harness {
 public:
  explicit Harness(ResolverOptions o) : options_(o) {
    auto r = Resolver::Create(&host, std::move(o));
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) r_ = std::move(*r);
  }
  Resolver& r() { return *r_; }

  // Starts a query whose answer lands in `answer` (after RunPending()).
  void Resolve(std::string_view name, RrType type) {
    answer.reset();
    r_->Resolve(name, type, now, [this](Answer a) { answer = std::move(a); });
    EXPECT_FALSE(answer.has_value()) << "callback ran inside Resolve()";
  }

  // A reply datagram for the current exchange, from its server.
  void Udp(const std::string& bytes, std::optional<sockaddr_storage> from = std::nullopt) {
    const Exchange& e = host.Current();
    ASSERT_FALSE(e.tcp);
    const sockaddr_storage src = from.value_or(options_.servers[e.server]);
    Datagram d;
    d.from = &src;
    d.from_len = sizeof(sockaddr_in);
    d.bytes = bytes;
    r_->OnDatagram(e.id, d, now);
  }
  // A reply message over TCP for the current exchange, framed, fed in
  // pieces of `piece` bytes.
  void Tcp(const std::string& message, size_t piece = 100000) {
    std::string framed;
    framed.push_back(static_cast<char>(message.size() >> 8));
    framed.push_back(static_cast<char>(message.size() & 0xff));
    framed += message;
    const ExchangeId id = host.Current().id;
    ASSERT_TRUE(host.Current().tcp);
    for (size_t i = 0; i < framed.size(); i += piece) {
      ASSERT_FALSE(host.Find(id)->ended) << "ended before the whole reply";
      r_->OnStreamBytes(id, std::string_view(framed).substr(i, piece), now);
    }
  }
  // Advances time to the current exchange's deadline and fires it.
  void Timeout() {
    const Exchange& e = host.Current();
    now = e.deadline_ms;
    r_->OnTimeout(e.id, now);
  }
  // Runs queued callbacks; returns the answer (fails the test if none).
  Answer Run() {
    r_->RunPending();
    EXPECT_TRUE(answer.has_value()) << "no answer";
    return answer.value_or(Answer{});
  }

  FakeHost host;
  uint64_t now = 100000;
  std::optional<Answer> answer;

 private:
  ResolverOptions options_;
  std::unique_ptr<Resolver> r_;
};

std::string MxReply(const Seen& q) {
  return PacketBuilder(q.id)
      .Question(q.name, q.type)
      .Mx(kAnswer, q.name, 300, 10, "mx1." + q.name)
      .Mx(kAnswer, q.name, 200, 20, "mx2." + q.name)
      .Build();
}

TEST(ResolverTest, AnswersMxOverUdp) {
  Harness h(Options({Server(1)}));
  h.Resolve("Example.TEST", RrType::kMx);
  ASSERT_EQ(h.host.exchanges.size(), 1u);
  const Exchange e = h.host.exchanges[0];
  EXPECT_EQ(e.server, 0u);
  EXPECT_FALSE(e.tcp);
  EXPECT_EQ(e.deadline_ms, h.now + 1000);
  const Seen q = e.query();
  EXPECT_EQ(q.name, "example.test");
  EXPECT_EQ(q.type, RrType::kMx);
  EXPECT_TRUE(q.edns);
  h.now += 7;
  h.Udp(MxReply(q));
  EXPECT_TRUE(h.host.exchanges[0].ended);
  EXPECT_EQ(h.host.live, 0);
  EXPECT_EQ(h.host.pending_calls, 1);
  EXPECT_FALSE(h.answer.has_value()) << "callback ran inside OnDatagram()";
  EXPECT_FALSE(h.r().idle());  // a callback is queued
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.name, "example.test");
  EXPECT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.ttl_s, 200u);
  EXPECT_TRUE(h.r().idle());
  EXPECT_EQ(h.r().stats().queries, 1u);
  EXPECT_EQ(h.r().stats().attempts, 1u);
  EXPECT_EQ(h.r().stats().ok, 1u);
}

TEST(ResolverTest, IgnoresStrayDatagrams) {
  Harness h(Options({Server(1)}));
  h.Resolve("example.test", RrType::kMx);
  const Seen q = h.host.Current().query();
  h.Udp(PacketBuilder(static_cast<uint16_t>(q.id + 1)).Question(q.name, q.type).Build());
  h.Udp(PacketBuilder(q.id).Question("other.test", q.type).Build());
  h.Udp(PacketBuilder(q.id).Question(q.name, RrType::kTxt).Build());
  h.Udp("garbage that is not DNS");
  h.Udp("");
  h.Udp(PacketBuilder(q.id).NotResponse().Question(q.name, q.type).Build());
  h.Udp(MxReply(q), Server(1, 5353));  // right address, wrong port
  h.Udp(MxReply(q), Server(2));        // wrong address
  {
    Datagram big;  // longer than the receive buffer
    const sockaddr_storage src = Server(1);
    const std::string reply = MxReply(q);
    big.from = &src;
    big.from_len = sizeof(sockaddr_in);
    big.bytes = reply;
    big.cut = true;
    h.r().OnDatagram(h.host.Current().id, big, h.now);
  }
  EXPECT_EQ(h.host.pending_calls, 0);
  EXPECT_EQ(h.r().stats().stray, 9u);
  h.Udp(MxReply(q));
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(h.r().stats().attempts, 1u);
}

TEST(ResolverTest, TooManyStrayDatagramsEndTheAttempt) {
  ResolverOptions o = Options({Server(1)});
  o.max_stray_per_attempt = 3;
  o.attempts = 1;
  Harness h(o);
  h.Resolve("never.test", RrType::kA);
  for (int i = 0; i < 3; ++i) h.Udp("junk");
  EXPECT_EQ(h.host.live, 1);
  h.Udp("junk");
  EXPECT_EQ(h.host.live, 0);
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kTimeout);
  EXPECT_NE(a.detail.find("stray"), std::string::npos) << a.detail;
  EXPECT_EQ(h.r().stats().timeouts, 0u);  // did not wait for the deadline
  EXPECT_EQ(h.r().stats().attempt_errors, 1u);
}

TEST(ResolverTest, TruncatedReplyRetriesOverTcpWithLengthFraming) {
  Harness h(Options({Server(1), Server(2)}));
  h.Resolve("big.test", RrType::kA);
  const Seen q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build());
  ASSERT_EQ(h.host.exchanges.size(), 2u);
  EXPECT_TRUE(h.host.exchanges[0].ended);
  const Exchange tcp = h.host.exchanges[1];
  EXPECT_TRUE(tcp.tcp);
  EXPECT_EQ(tcp.server, 0u);  // same server
  const Seen tq = tcp.query();  // checks the prefix
  EXPECT_EQ(tq.name, "big.test");
  EXPECT_NE(tq.id, 0u);
  PacketBuilder b(tq.id);
  b.Question(tq.name, tq.type);
  for (int i = 1; i <= 200; ++i) {
    b.A(kAnswer, tq.name, 60, "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
  }
  h.Tcp(b.Build(), /*piece=*/1000);
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.records.size(), 200u);
  EXPECT_EQ(h.r().stats().tcp_fallbacks, 1u);
  EXPECT_EQ(h.r().stats().attempts, 2u);
}

TEST(ResolverTest, TcpReplyOneByteAtATime) {
  Harness h(Options({Server(1)}));
  h.Resolve("small.test", RrType::kA);
  const Seen q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build());
  const Seen tq = h.host.Current().query();
  h.Tcp(PacketBuilder(tq.id).Question(tq.name, tq.type).A(kAnswer, tq.name, 60, "192.0.2.9").Build(),
        /*piece=*/1);
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  ASSERT_EQ(a.records.size(), 1u);
}

TEST(ResolverTest, ReplyCutMidRecordWithTcRetriesOverTcp) {
  Harness h(Options({Server(1)}));
  h.Resolve("cut.test", RrType::kA);
  const Seen q = h.host.Current().query();
  std::string full =
      PacketBuilder(q.id).Truncated().Question(q.name, q.type).A(kAnswer, q.name, 60, "192.0.2.1").Build();
  h.Udp(full.substr(0, full.size() - 3));
  ASSERT_TRUE(h.host.Current().tcp);
  const Seen tq = h.host.Current().query();
  h.Tcp(PacketBuilder(tq.id).Question(tq.name, tq.type).A(kAnswer, tq.name, 60, "192.0.2.1").Build());
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(h.r().stats().tcp_fallbacks, 1u);
}

TEST(ResolverTest, BrokenTcpRepliesMoveOn) {
  ResolverOptions o = Options({Server(1)});
  o.attempts = 3;
  Harness h(o);
  h.Resolve("tcp.test", RrType::kA);
  Seen q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build());
  // A length below the DNS header.
  h.r().OnStreamBytes(h.host.Current().id, std::string("\x00\x05hello", 7), h.now);
  ASSERT_FALSE(h.host.Current().tcp);  // next attempt, over UDP again
  q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build());
  // Garbage of the announced length.
  h.Tcp(std::string(40, 'x'));
  EXPECT_EQ(h.r().stats().stray, 1u);
  q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id).Truncated().Question(q.name, q.type).Build());
  // The server hangs up half way.
  h.r().OnStreamBytes(h.host.Current().id, std::string("\x00\x30", 2), h.now);
  h.r().OnStreamBytes(h.host.Current().id, "", h.now);
  EXPECT_EQ(h.host.live, 0);
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kServFail);  // a server misbehaved
  EXPECT_NE(a.detail.find("TCP connection closed"), std::string::npos) << a.detail;
  EXPECT_EQ(h.r().stats().attempts, 6u);
  EXPECT_EQ(h.r().stats().tcp_fallbacks, 3u);
  EXPECT_EQ(h.r().stats().attempt_errors, 3u);
}

TEST(ResolverTest, TimeoutMovesToTheNextServerWhichIsThenPreferred) {
  Harness h(Options({Server(1), Server(2)}));
  h.Resolve("example.test", RrType::kMx);
  EXPECT_EQ(h.host.Current().server, 0u);
  h.Timeout();
  EXPECT_EQ(h.host.exchanges.size(), 2u);
  EXPECT_TRUE(h.host.exchanges[0].ended);
  const Exchange& second = h.host.Current();
  EXPECT_EQ(second.server, 1u);
  EXPECT_EQ(second.deadline_ms, h.now + 1000);  // from the time of the retry
  EXPECT_EQ(h.host.pending_calls, 0);
  h.Udp(MxReply(second.query()));
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(h.r().stats().timeouts, 1u);
  // The next query starts with the server that answered.
  h.Resolve("example2.test", RrType::kMx);
  EXPECT_EQ(h.host.Current().server, 1u);
  h.Udp(MxReply(h.host.Current().query()));
  ASSERT_EQ(h.Run().status, AnswerStatus::kOk);
  EXPECT_EQ(h.host.exchanges.size(), 3u);
}

TEST(ResolverTest, AllServersSilentIsATimeoutAfterEveryAttempt) {
  Harness h(Options({Server(1), Server(2)}));
  h.Resolve("example.test", RrType::kMx);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(h.host.Current().server, static_cast<size_t>(i % 2));
    h.Timeout();
  }
  EXPECT_EQ(h.host.live, 0);
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kTimeout);
  EXPECT_TRUE(IsTemporary(a.status));
  EXPECT_NE(a.detail.find("no reply from 127.0.0.2"), std::string::npos) << a.detail;
  EXPECT_EQ(h.r().stats().attempts, 4u);
  EXPECT_EQ(h.r().stats().timeouts, 4u);
  EXPECT_EQ(h.r().stats().failed, 1u);
}

TEST(ResolverTest, ServerErrorsEverywhere) {
  Harness h(Options({Server(1), Server(2)}));
  h.Resolve("broken.test", RrType::kMx);
  const int rcodes[] = {kRcodeServFail, kRcodeRefused, kRcodeNotImp, kRcodeServFail};
  for (int rcode : rcodes) {
    const Seen q = h.host.Current().query();
    h.Udp(PacketBuilder(q.id).Rcode(rcode).Question(q.name, q.type).Build());
  }
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kServFail);
  EXPECT_NE(a.detail.find("SERVFAIL"), std::string::npos) << a.detail;
  EXPECT_EQ(h.r().stats().server_errors, 4u);
  EXPECT_EQ(h.host.exchanges.size(), 4u);
}

TEST(ResolverTest, ExchangeErrorFailsOverWithoutWaiting) {
  Harness h(Options({Server(1), Server(2)}));
  h.Resolve("example.test", RrType::kMx);
  h.r().OnExchangeError(h.host.Current().id, ECONNREFUSED, "receive", h.now);
  EXPECT_EQ(h.host.Current().server, 1u);
  h.Udp(MxReply(h.host.Current().query()));
  ASSERT_EQ(h.Run().status, AnswerStatus::kOk);
  EXPECT_EQ(h.r().stats().attempt_errors, 1u);
  EXPECT_EQ(h.r().stats().timeouts, 0u);
  // Every attempt refused: a temporary failure naming the error.
  h.Resolve("example3.test", RrType::kMx);
  for (int i = 0; i < 4; ++i) {
    h.r().OnExchangeError(h.host.Current().id, ECONNREFUSED, "receive", h.now);
  }
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kTimeout);
  EXPECT_NE(a.detail.find("receive: " + std::string(std::strerror(ECONNREFUSED))),
            std::string::npos)
      << a.detail;
}

TEST(ResolverTest, NxDomainWithNegativeTtl) {
  Harness h(Options({Server(1)}));
  h.Resolve("gone.test", RrType::kMx);
  const Seen q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id).Rcode(kRcodeNxDomain).Question(q.name, q.type).Soa(kAuthority, "test", 3600, 90).Build());
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kNxDomain);
  EXPECT_EQ(a.ttl_s, 90u);
  EXPECT_FALSE(IsTemporary(a.status));
  EXPECT_EQ(h.host.exchanges.size(), 1u);  // a definite answer: no retry
}

TEST(ResolverTest, FormErrRetriesTheSameServerOnceWithoutEdns) {
  Harness h(Options({Server(1), Server(2)}));
  h.Resolve("old.test", RrType::kMx);
  Seen q = h.host.Current().query();
  EXPECT_TRUE(q.edns);
  h.Udp(PacketBuilder(q.id).Rcode(kRcodeFormErr).Question(q.name, q.type).Build());
  EXPECT_EQ(h.host.Current().server, 0u);
  q = h.host.Current().query();
  EXPECT_FALSE(q.edns);
  // FORMERR again: not retried a second time, the next server is asked
  // (without EDNS from now on).
  h.Udp(PacketBuilder(q.id).Rcode(kRcodeFormErr).Question(q.name, q.type).Build());
  EXPECT_EQ(h.host.Current().server, 1u);
  q = h.host.Current().query();
  EXPECT_FALSE(q.edns);
  h.Udp(MxReply(q));
  ASSERT_EQ(h.Run().status, AnswerStatus::kOk);
  EXPECT_EQ(h.r().stats().server_errors, 2u);
}

TEST(ResolverTest, EdnsCanBeTurnedOff) {
  ResolverOptions o = Options({Server(1)});
  o.edns_udp_size = 0;
  Harness h(o);
  h.Resolve("plain.test", RrType::kA);
  EXPECT_FALSE(h.host.Current().query().edns);
}

TEST(ResolverTest, CnameChainAcrossQueries) {
  Harness h(Options({Server(1)}));
  h.Resolve("alias.test", RrType::kA);
  for (int i = 0; i < 3; ++i) {
    const Seen q = h.host.Current().query();
    PacketBuilder b(q.id);
    b.Question(q.name, q.type);
    if (q.name == "alias.test") b.Cname(kAnswer, "alias.test", 500, "middle.test");
    if (q.name == "middle.test") b.Cname(kAnswer, "middle.test", 400, "target.test");
    if (q.name == "target.test") b.A(kAnswer, "target.test", 600, "192.0.2.5");
    h.Udp(b.Build());
  }
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.name, "target.test");
  EXPECT_EQ(a.ttl_s, 400u);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].address.ToString(), "192.0.2.5");
  EXPECT_EQ(h.host.exchanges.size(), 3u);
}

TEST(ResolverTest, CnameInsideOneReply) {
  Harness h(Options({Server(1)}));
  h.Resolve("www.test", RrType::kA);
  const Seen q = h.host.Current().query();
  h.Udp(PacketBuilder(q.id)
            .Question(q.name, q.type)
            .Cname(kAnswer, "www.test", 120, "host.test")
            .A(kAnswer, "host.test", 600, "192.0.2.7")
            .Build());
  Answer a = h.Run();
  ASSERT_EQ(a.status, AnswerStatus::kOk) << a.detail;
  EXPECT_EQ(a.name, "host.test");
  EXPECT_EQ(a.ttl_s, 120u);
  EXPECT_EQ(h.host.exchanges.size(), 1u);
}

TEST(ResolverTest, CnameLoopAcrossQueriesIsBounded) {
  ResolverOptions o = Options({Server(1)});
  o.max_cname_hops = 5;
  Harness h(o);
  h.Resolve("ping.test", RrType::kA);
  // Bounded: at most max_cname_hops + 1 exchanges before the loop is called.
  for (int i = 0; i < 10 && h.host.live > 0; ++i) {
    const Seen q = h.host.Current().query();
    h.Udp(PacketBuilder(q.id)
              .Question(q.name, q.type)
              .Cname(kAnswer, q.name, 300, q.name == "ping.test" ? "pong.test" : "ping.test")
              .Build());
  }
  Answer a = h.Run();
  EXPECT_EQ(a.status, AnswerStatus::kCnameLoop);
  EXPECT_LE(h.host.exchanges.size(), 5u);
}

TEST(ResolverTest, OverloadBadNameAndShutdownNeverCallBackInside) {
  ResolverOptions o = Options({Server(1)});
  o.max_inflight = 1;
  Harness h(o);
  std::vector<AnswerStatus> got;
  auto record = [&](Answer a) { got.push_back(a.status); };
  h.r().Resolve("slow.test", RrType::kA, h.now, record);
  h.r().Resolve("second.test", RrType::kA, h.now, record);
  h.r().Resolve("bad name", RrType::kA, h.now, record);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(h.host.pending_calls, 1);  // once, when the queue filled
  h.r().RunPending();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], AnswerStatus::kOverloaded);
  EXPECT_EQ(got[1], AnswerStatus::kBadName);
  EXPECT_FALSE(h.r().idle());
  EXPECT_EQ(h.r().live_exchanges(), 1u);
  h.r().Shutdown();
  EXPECT_EQ(got.size(), 2u);  // not inside Shutdown()
  EXPECT_EQ(h.host.live, 0);  // the exchange was ended
  EXPECT_EQ(h.host.pending_calls, 2);
  h.r().RunPending();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], AnswerStatus::kCancelled);
  EXPECT_TRUE(h.r().idle());
  h.r().Resolve("late.test", RrType::kA, h.now, record);
  EXPECT_EQ(h.host.exchanges.size(), 1u);  // no exchange after Shutdown()
  h.r().RunPending();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3], AnswerStatus::kCancelled);
  EXPECT_EQ(h.r().stats().failed, 4u);
}

TEST(ResolverTest, CallbackMayResolveAgain) {
  Harness h(Options({Server(1)}));
  std::vector<AnswerStatus> got;
  h.r().Resolve("first.test", RrType::kMx, h.now, [&](Answer a) {
    got.push_back(a.status);
    h.r().Resolve("second.test", RrType::kMx, h.now, [&](Answer b) { got.push_back(b.status); });
  });
  h.Udp(MxReply(h.host.Current().query()));
  h.r().RunPending();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(h.host.Current().query().name, "second.test");
  h.Udp(MxReply(h.host.Current().query()));
  h.r().RunPending();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], AnswerStatus::kOk);
}

TEST(ResolverTest, ManyQueriesAtOnceGetRandomIds) {
  Harness h(Options({Server(1)}));
  int done = 0;
  for (int i = 0; i < 40; ++i) {
    h.r().Resolve("n" + std::to_string(i) + ".test", RrType::kMx, h.now, [&](Answer a) {
      EXPECT_EQ(a.status, AnswerStatus::kOk) << a.detail;
      ++done;
    });
  }
  EXPECT_EQ(h.host.live, 40);
  EXPECT_EQ(h.r().live_exchanges(), 40u);
  std::set<uint16_t> ids;
  const std::vector<Exchange> started = h.host.exchanges;
  // Answer in reverse order: each reply finds its own query.
  for (auto it = started.rbegin(); it != started.rend(); ++it) {
    const Seen q = it->query();
    ids.insert(q.id);
    const sockaddr_storage src = Server(1);
    const std::string reply = MxReply(q);
    Datagram d;
    d.from = &src;
    d.from_len = sizeof(sockaddr_in);
    d.bytes = reply;
    h.r().OnDatagram(it->id, d, h.now);
  }
  h.r().RunPending();
  EXPECT_EQ(done, 40);
  EXPECT_GE(ids.size(), 38u);
  EXPECT_EQ(h.r().stats().stray, 0u);
}

TEST(ResolverTest, DestructorCallsNoHost) {
  FakeHost host;
  {
    auto r = Resolver::Create(&host, Options({Server(1)}));
    ASSERT_TRUE(r.ok());
    (*r)->Resolve("pending.test", RrType::kA, 0, [](Answer) { ADD_FAILURE() << "called"; });
    EXPECT_EQ(host.live, 1);
  }
  EXPECT_EQ(host.live, 1);  // the host closes its own sockets
}

TEST(ResolverTest, CreateValidatesOptions) {
  FakeHost host;
  EXPECT_FALSE(Resolver::Create(&host, ResolverOptions{}).ok());
  EXPECT_FALSE(Resolver::Create(nullptr, Options({Server(1)})).ok());
  EXPECT_TRUE(Resolver::Create(&host, Options({Server(1)})).ok());
  ResolverOptions o = Options({Server(1)});
  o.timeout_ms = 1;
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
  o = Options({Server(1)});
  o.edns_udp_size = 100;
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
  o = Options({Server(1)});
  o.attempts = 0;
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
  o = Options({Server(1)});
  o.max_cname_hops = 17;
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
  o = Options({Server(1)});
  o.max_inflight = 0;
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
  o = Options(std::vector<sockaddr_storage>(9, Server(1)));
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
  o = Options({sockaddr_storage{}});
  EXPECT_FALSE(Resolver::Create(&host, o).ok());
}

}  // namespace
}  // namespace ringpost::dns
