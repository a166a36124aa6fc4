// mx_test.cc — RFC 5321 section 5 rules as table-like cases: ordering and
// shuffling, implicit MX, null MX, NXDOMAIN, temporary failures, mail
// loops, address selection, site keys; and MxResolver driving a scripted
// RecordSource.
#include "dns/mx.h"

#include <deque>
#include <map>
#include <set>

#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

Record MxRec(std::string owner, uint16_t pref, std::string target, uint32_t ttl = 300) {
  Record r;
  r.owner = std::move(owner);
  r.type = RrType::kMx;
  r.preference = pref;
  r.target = std::move(target);
  r.ttl_s = ttl;
  return r;
}

Record Addr(std::string owner, std::string ip, uint32_t ttl = 300) {
  Record r;
  r.owner = std::move(owner);
  r.address = *IpAddress::Parse(ip);
  r.type = r.address.is_v6() ? RrType::kAaaa : RrType::kA;
  r.ttl_s = ttl;
  return r;
}

Answer Ok(std::vector<Record> records, uint32_t ttl = 300) {
  Answer a;
  a.status = AnswerStatus::kOk;
  a.records = std::move(records);
  a.ttl_s = ttl;
  return a;
}

Answer Status(AnswerStatus s, uint32_t ttl = 0) {
  Answer a;
  a.status = s;
  a.ttl_s = ttl;
  return a;
}

std::vector<std::string> Names(const std::vector<MxHost>& hosts) {
  std::vector<std::string> out;
  for (const MxHost& h : hosts) out.push_back(h.name);
  return out;
}

std::vector<std::string> Addrs(const MxHost& h) {
  std::vector<std::string> out;
  for (const auto& sa : h.addresses) out.push_back(FormatSockaddr(sa));
  return out;
}

// Builds the result for `mx` with address answers looked up in `a`/`aaaa`
// by host name (missing: NXDOMAIN).
MxResult Lookup(const Answer& mx, std::map<std::string, Answer> a,
             std::map<std::string, Answer> aaaa = {}, MxOptions opt = {},
             uint64_t seed = 1) {
  MxPlan plan = PlanMxHosts("example.test", mx, opt, seed);
  std::vector<Answer> av;
  std::vector<Answer> aaaav;
  for (const MxHost& h : plan.hosts) {
    av.push_back(a.count(h.name) ? a[h.name] : Status(AnswerStatus::kNxDomain));
    if (opt.ipv6) {
      aaaav.push_back(aaaa.count(h.name) ? aaaa[h.name] : Status(AnswerStatus::kNoData));
    }
  }
  return BuildMxResult("example.test", plan, av, aaaav, opt);
}

TEST(MxTest, SortedByPreferenceWithAddresses) {
  Answer mx = Ok({MxRec("example.test", 20, "mx2.test"), MxRec("example.test", 10, "mx1.test")},
                 300);
  MxResult r = Lookup(mx, {{"mx1.test", Ok({Addr("mx1.test", "192.0.2.1")}, 120)},
                        {"mx2.test", Ok({Addr("mx2.test", "192.0.2.2"),
                                         Addr("mx2.test", "192.0.2.3")})}});
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_EQ(Names(r.hosts), (std::vector<std::string>{"mx1.test", "mx2.test"}));
  EXPECT_EQ(r.hosts[0].preference, 10);
  EXPECT_EQ(Addrs(r.hosts[1]), (std::vector<std::string>{"192.0.2.2:25", "192.0.2.3:25"}));
  EXPECT_EQ(r.ttl_s, 120u);  // min over MX and address TTLs
  EXPECT_EQ(r.site_key, "192.0.2.1:25,192.0.2.2:25,192.0.2.3:25");
  EXPECT_FALSE(r.implicit_mx);
  EXPECT_EQ(r.domain, "example.test");
}

TEST(MxTest, EqualPreferencesAreShuffledButOrderKept) {
  Answer mx = Ok({MxRec("example.test", 10, "a.test"), MxRec("example.test", 10, "b.test"),
                  MxRec("example.test", 10, "c.test"), MxRec("example.test", 5, "best.test"),
                  MxRec("example.test", 30, "last.test")});
  std::set<std::string> second;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    MxPlan p = PlanMxHosts("example.test", mx, MxOptions{}, seed);
    ASSERT_EQ(p.hosts.size(), 5u);
    EXPECT_EQ(p.hosts.front().name, "best.test");
    EXPECT_EQ(p.hosts.back().name, "last.test");
    second.insert(p.hosts[1].name);
  }
  EXPECT_EQ(second, (std::set<std::string>{"a.test", "b.test", "c.test"}));
}

TEST(MxTest, DuplicateHostsKeepBestPreferenceAndBound) {
  Answer mx = Ok({MxRec("example.test", 30, "x.test"), MxRec("example.test", 10, "x.test"),
                  MxRec("example.test", 20, "y.test")});
  MxPlan p = PlanMxHosts("example.test", mx, MxOptions{}, 1);
  ASSERT_EQ(p.hosts.size(), 2u);
  EXPECT_EQ(p.hosts[0].name, "x.test");
  EXPECT_EQ(p.hosts[0].preference, 10);

  std::vector<Record> many;
  for (int i = 0; i < 50; ++i) {
    many.push_back(MxRec("example.test", static_cast<uint16_t>(i), "h" + std::to_string(i) + ".test"));
  }
  MxOptions opt;
  opt.max_hosts = 3;
  EXPECT_EQ(PlanMxHosts("example.test", Ok(many), opt, 1).hosts.size(), 3u);
}

TEST(MxTest, ImplicitMx) {
  MxResult r = Lookup(Status(AnswerStatus::kNoData, 60),
                   {{"example.test", Ok({Addr("example.test", "192.0.2.7")}, 300)}});
  ASSERT_EQ(r.status, MxStatus::kOk) << r.text;
  EXPECT_TRUE(r.implicit_mx);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].name, "example.test");
  EXPECT_EQ(r.hosts[0].preference, 0);
  EXPECT_EQ(r.ttl_s, 60u);

  MxResult none = Lookup(Status(AnswerStatus::kNoData, 60),
                      {{"example.test", Status(AnswerStatus::kNoData, 30)}});
  EXPECT_EQ(none.status, MxStatus::kPermanent);
  EXPECT_EQ(none.enhanced, "5.1.2");
  EXPECT_EQ(none.code, 550);
}

TEST(MxTest, NullMx) {
  MxResult r = Lookup(Ok({MxRec("example.test", 0, "")}, 3600), {});
  EXPECT_EQ(r.status, MxStatus::kPermanent);
  EXPECT_EQ(r.code, 556);
  EXPECT_EQ(r.enhanced, "5.1.10");
  EXPECT_EQ(r.ttl_s, 3600u);
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_TRUE(r.site_key.empty());
  // A "." beside real MX records is ignored.
  MxResult mixed = Lookup(Ok({MxRec("example.test", 0, ""), MxRec("example.test", 10, "mx.test")}),
                       {{"mx.test", Ok({Addr("mx.test", "192.0.2.1")})}});
  EXPECT_EQ(mixed.status, MxStatus::kOk);
  EXPECT_EQ(Names(mixed.hosts), (std::vector<std::string>{"mx.test"}));
}

TEST(MxTest, NxDomainIsPermanentAndServFailTemporary) {
  MxResult nx = Lookup(Status(AnswerStatus::kNxDomain, 900), {});
  EXPECT_EQ(nx.status, MxStatus::kPermanent);
  EXPECT_EQ(nx.code, 550);
  EXPECT_EQ(nx.enhanced, "5.1.2");
  EXPECT_EQ(nx.ttl_s, 900u);
  for (AnswerStatus s : {AnswerStatus::kServFail, AnswerStatus::kTimeout,
                         AnswerStatus::kCnameLoop, AnswerStatus::kOverloaded,
                         AnswerStatus::kCancelled}) {
    MxResult t = Lookup(Status(s), {});
    EXPECT_EQ(t.status, MxStatus::kTemporary) << AnswerStatusName(s);
    EXPECT_EQ(t.code, 451);
    EXPECT_EQ(t.enhanced, "4.4.3");
    EXPECT_NE(t.text.find(AnswerStatusName(s)), std::string::npos) << t.text;
  }
}

TEST(MxTest, HostLookupFailures) {
  Answer mx = Ok({MxRec("example.test", 10, "a.test"), MxRec("example.test", 20, "b.test")});
  // One host fails temporarily: the other is used, the result kept briefly.
  MxResult part = Lookup(mx, {{"a.test", Status(AnswerStatus::kTimeout)},
                           {"b.test", Ok({Addr("b.test", "192.0.2.2")}, 3600)}});
  ASSERT_EQ(part.status, MxStatus::kOk);
  EXPECT_EQ(Names(part.hosts), (std::vector<std::string>{"b.test"}));
  EXPECT_LE(part.ttl_s, 60u);
  // All hosts without addresses: permanent 5.4.4.
  MxResult none = Lookup(mx, {});
  EXPECT_EQ(none.status, MxStatus::kPermanent);
  EXPECT_EQ(none.enhanced, "5.4.4");
  // One temporary, one NXDOMAIN: temporary.
  MxResult temp = Lookup(mx, {{"a.test", Status(AnswerStatus::kServFail)}});
  EXPECT_EQ(temp.status, MxStatus::kTemporary);
}

TEST(MxTest, MailLoopDropsSelfAndWorse) {
  auto local = std::make_shared<LocalAddresses>();
  local->Add(*IpAddress::Parse("192.0.2.100"), 25);
  MxOptions opt;
  opt.local = local;
  std::map<std::string, Answer> addrs = {
      {"other.test", Ok({Addr("other.test", "192.0.2.1")})},
      {"self.test", Ok({Addr("self.test", "192.0.2.100")})},
      {"worse.test", Ok({Addr("worse.test", "192.0.2.3")})}};
  // We are the best MX: loop.
  MxResult best = Lookup(Ok({MxRec("example.test", 10, "self.test"),
                          MxRec("example.test", 20, "worse.test")}),
                      addrs, {}, opt);
  EXPECT_EQ(best.status, MxStatus::kPermanent);
  EXPECT_EQ(best.code, 554);
  EXPECT_EQ(best.enhanced, "5.4.6");
  // We are a backup MX: only the better ones remain.
  MxResult backup = Lookup(Ok({MxRec("example.test", 10, "other.test"),
                            MxRec("example.test", 20, "self.test"),
                            MxRec("example.test", 30, "worse.test")}),
                        addrs, {}, opt);
  ASSERT_EQ(backup.status, MxStatus::kOk);
  EXPECT_EQ(Names(backup.hosts), (std::vector<std::string>{"other.test"}));
  // Same address, another port: not us.
  opt.dest_port = 2525;
  MxResult port = Lookup(Ok({MxRec("example.test", 10, "self.test")}), addrs, {}, opt);
  EXPECT_EQ(port.status, MxStatus::kOk);
  // Implicit MX pointing at us.
  opt.dest_port = 25;
  MxResult implicit = Lookup(Status(AnswerStatus::kNoData),
                          {{"example.test", Ok({Addr("example.test", "192.0.2.100")})}}, {},
                          opt);
  EXPECT_EQ(implicit.enhanced, "5.4.6");
}

TEST(MxTest, Ipv6FirstWhenEnabledElseIgnored) {
  Answer mx = Ok({MxRec("example.test", 10, "mx.test")});
  std::map<std::string, Answer> a = {{"mx.test", Ok({Addr("mx.test", "192.0.2.1")})}};
  std::map<std::string, Answer> aaaa = {{"mx.test", Ok({Addr("mx.test", "2001:db8::1")})}};
  MxOptions v6;
  v6.ipv6 = true;
  MxResult on = Lookup(mx, a, aaaa, v6);
  ASSERT_EQ(on.status, MxStatus::kOk);
  EXPECT_EQ(Addrs(on.hosts[0]), (std::vector<std::string>{"[2001:db8::1]:25", "192.0.2.1:25"}));
  MxResult off = Lookup(mx, a, aaaa, MxOptions{});
  EXPECT_EQ(Addrs(off.hosts[0]), (std::vector<std::string>{"192.0.2.1:25"}));
  // IPv6 only, AAAA missing: falls back to the A records.
  MxResult fallback = Lookup(mx, a, {}, v6);
  EXPECT_EQ(Addrs(fallback.hosts[0]), (std::vector<std::string>{"192.0.2.1:25"}));
}

TEST(MxTest, AddressesBoundedAndDeduplicated) {
  std::vector<Record> recs;
  for (int i = 1; i <= 20; ++i) recs.push_back(Addr("mx.test", "192.0.2." + std::to_string(i)));
  recs.push_back(Addr("mx.test", "192.0.2.1"));
  MxOptions opt;
  opt.max_addresses_per_host = 4;
  MxResult r = Lookup(Ok({MxRec("example.test", 10, "mx.test")}), {{"mx.test", Ok(recs)}}, {}, opt);
  ASSERT_EQ(r.status, MxStatus::kOk);
  EXPECT_EQ(r.hosts[0].addresses.size(), 4u);
}

TEST(MxTest, SiteKeyIsSharedByDomainsOnTheSameHosts) {
  std::map<std::string, Answer> addrs = {
      {"mx1.provider.test", Ok({Addr("mx1.provider.test", "192.0.2.1")})},
      {"mx2.provider.test", Ok({Addr("mx2.provider.test", "192.0.2.2")})}};
  MxResult one = Lookup(Ok({MxRec("a.test", 10, "mx1.provider.test"),
                         MxRec("a.test", 20, "mx2.provider.test")}),
                     addrs);
  MxResult two = Lookup(Ok({MxRec("b.test", 5, "mx2.provider.test"),
                         MxRec("b.test", 5, "mx1.provider.test")}),
                     addrs, {}, MxOptions{}, 99);
  EXPECT_FALSE(one.site_key.empty());
  EXPECT_EQ(one.site_key, two.site_key);
}

TEST(MxTest, AddressLiterals) {
  MxOptions opt;
  EXPECT_FALSE(AddressLiteralResult("example.test", opt).has_value());
  auto v4 = AddressLiteralResult("[192.0.2.5]", opt);
  ASSERT_TRUE(v4.has_value());
  ASSERT_EQ(v4->status, MxStatus::kOk);
  EXPECT_EQ(Addrs(v4->hosts[0]), (std::vector<std::string>{"192.0.2.5:25"}));
  auto v6 = AddressLiteralResult("[IPv6:2001:db8::5]", opt);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->status, MxStatus::kOk);
  EXPECT_EQ(AddressLiteralResult("[2001:db8::5]", opt)->status, MxStatus::kPermanent);
  EXPECT_EQ(AddressLiteralResult("[300.1.2.3]", opt)->status, MxStatus::kPermanent);
  auto local = std::make_shared<LocalAddresses>();
  local->Add(*IpAddress::Parse("192.0.2.5"), 0);
  opt.local = local;
  EXPECT_EQ(AddressLiteralResult("[192.0.2.5]", opt)->enhanced, "5.4.6");
}

TEST(LocalAddressesTest, FromConfig) {
  auto local = LocalAddresses::FromConfig({"127.0.0.1:2525", "[::1]:2525"}, {"192.0.2.9"});
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_TRUE(local->Contains(*IpAddress::Parse("127.0.0.1"), 2525));
  EXPECT_FALSE(local->Contains(*IpAddress::Parse("127.0.0.1"), 25));
  EXPECT_TRUE(local->Contains(*IpAddress::Parse("::1"), 2525));
  EXPECT_TRUE(local->Contains(*IpAddress::Parse("192.0.2.9"), 1));
  auto wildcard = LocalAddresses::FromConfig({"0.0.0.0:25"}, {});
  ASSERT_TRUE(wildcard.ok());
  EXPECT_TRUE(wildcard->Contains(*IpAddress::Parse("127.0.0.1"), 25));  // lo is an interface
  EXPECT_FALSE(LocalAddresses::FromConfig({"localhost:25"}, {}).ok());
  EXPECT_FALSE(LocalAddresses::FromConfig({}, {"nonsense"}).ok());
}

TEST(AddressTest, ParseAndFormatEndpoints) {
  auto v4 = ParseEndpoint("192.0.2.1:53");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(FormatSockaddr(*v4), "192.0.2.1:53");
  auto v6 = ParseEndpoint("[2001:db8::1]:5353");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(FormatSockaddr(*v6), "[2001:db8::1]:5353");
  EXPECT_FALSE(ParseEndpoint("2001:db8::1:53").has_value());
  EXPECT_FALSE(ParseEndpoint("[192.0.2.1]:53").has_value());
  EXPECT_FALSE(ParseEndpoint("192.0.2.1:70000").has_value());
  EXPECT_FALSE(ParseEndpoint("192.0.2.1").has_value());
  EXPECT_FALSE(ParseEndpoint("host:25").has_value());
}

// A RecordSource whose answers come from a table, delivered when the test
// calls Deliver() (never inside Resolve).
class ScriptedSource final : public RecordSource {
 public:
  std::map<std::pair<std::string, RrType>, Answer> table;
  std::deque<std::pair<AnswerCallback, Answer>> pending;
  std::vector<std::pair<std::string, RrType>> asked;

  void Resolve(std::string_view name, RrType type, AnswerCallback done) override {
    asked.emplace_back(std::string(name), type);
    auto it = table.find({std::string(name), type});
    Answer a = it != table.end() ? it->second : Status(AnswerStatus::kNxDomain);
    pending.emplace_back(std::move(done), std::move(a));
  }
  // Bounded: each round delivers what was pending at its start.
  void Deliver() {
    for (int round = 0; round < 16 && !pending.empty(); ++round) {
      auto batch = std::move(pending);
      pending.clear();
      for (auto& [cb, a] : batch) cb(std::move(a));
    }
  }
};

TEST(MxResolverTest, MxThenAddressesInParallel) {
  ScriptedSource dns;
  dns.table[{"example.test", RrType::kMx}] =
      Ok({MxRec("example.test", 10, "mx1.test"), MxRec("example.test", 20, "mx2.test")});
  dns.table[{"mx1.test", RrType::kA}] = Ok({Addr("mx1.test", "192.0.2.1")});
  dns.table[{"mx2.test", RrType::kA}] = Ok({Addr("mx2.test", "192.0.2.2")});
  dns.table[{"mx2.test", RrType::kAaaa}] = Ok({Addr("mx2.test", "2001:db8::2")});
  MxOptions opt;
  opt.ipv6 = true;
  opt.dest_port = 2525;
  MxResolver resolver(&dns, opt);
  std::optional<MxResult> got;
  resolver.Fetch("Example.Test.", [&](MxResult r) { got = std::move(r); });
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(resolver.lookups_in_flight(), 1u);
  dns.Deliver();
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->status, MxStatus::kOk) << got->text;
  EXPECT_EQ(Names(got->hosts), (std::vector<std::string>{"mx1.test", "mx2.test"}));
  EXPECT_EQ(Addrs(got->hosts[1]),
            (std::vector<std::string>{"[2001:db8::2]:2525", "192.0.2.2:2525"}));
  EXPECT_EQ(dns.asked.size(), 5u);  // MX + 2 x (A, AAAA)
  EXPECT_EQ(resolver.lookups_in_flight(), 0u);
}

TEST(MxResolverTest, NoAddressQueriesForFinalAnswers) {
  ScriptedSource dns;
  dns.table[{"null.test", RrType::kMx}] = Ok({MxRec("null.test", 0, "")});
  MxResolver resolver(&dns, MxOptions{});
  std::optional<MxResult> got;
  resolver.Fetch("null.test", [&](MxResult r) { got = std::move(r); });
  dns.Deliver();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->enhanced, "5.1.10");
  EXPECT_EQ(dns.asked.size(), 1u);
}

TEST(MxResolverTest, LiteralsAndBadNamesNeedNoDns) {
  ScriptedSource dns;
  MxResolver resolver(&dns, MxOptions{});
  std::optional<MxResult> got;
  resolver.Fetch("[192.0.2.1]", [&](MxResult r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, MxStatus::kOk);
  got.reset();
  resolver.Fetch("bad..name", [&](MxResult r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, MxStatus::kPermanent);
  EXPECT_EQ(got->enhanced, "5.1.2");
  EXPECT_TRUE(dns.asked.empty());
}

}  // namespace
}  // namespace ringpost::dns
