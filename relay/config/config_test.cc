// config_test.cc — table-driven tests for the value parsers (durations,
// sizes, host:port, CIDR, routes), TOML loading with line-numbered errors,
// flag/setting-table consistency, and flags-over-file precedence.

#include "relay/config/config.h"

#include <arpa/inet.h>
#include <stdio.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ringpost {
namespace {

using ::testing::HasSubstr;

// --- durations and sizes -------------------------------------------------

TEST(ParseDurationTest, Good) {
  const struct {
    const char* text;
    absl::Duration want;
  } kCases[] = {
      {"250ms", absl::Milliseconds(250)}, {"30s", absl::Seconds(30)},
      {"5m", absl::Minutes(5)},           {"2h", absl::Hours(2)},
      {"5d", absl::Hours(120)},           {"1h30m", absl::Minutes(90)},
      {"0", absl::ZeroDuration()},        {"0s", absl::ZeroDuration()},
      {"1d2h3m4s5ms", absl::Hours(26) + absl::Minutes(3) + absl::Seconds(4) + absl::Milliseconds(5)},
      {"500us", absl::Microseconds(500)}, {"1ms250us", absl::Microseconds(1250)},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<absl::Duration> d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status();
    EXPECT_EQ(*d, c.want) << c.text;
  }
}

TEST(ParseDurationTest, Bad) {
  for (const char* text : {"", "s", "30", "30x", "1.5h", "-5s", " 5s", "5s ", "5 s", "h5",
                           "99999999999999999999s", "40000d", "5S", "5US", "5µs"}) {
    EXPECT_FALSE(ParseDuration(text).ok()) << text;
  }
  EXPECT_THAT(std::string(ParseDuration("300").status().message()), HasSubstr("\"300s\""));
  EXPECT_THAT(std::string(ParseDuration("3w").status().message()), HasSubstr("unknown unit"));
}

TEST(DurationToStringTest, LargestExactUnitRoundTrips) {
  EXPECT_EQ(DurationToString(absl::Seconds(300)), "5m");
  EXPECT_EQ(DurationToString(absl::Hours(120)), "5d");
  EXPECT_EQ(DurationToString(absl::Seconds(90)), "90s");
  EXPECT_EQ(DurationToString(absl::Milliseconds(1500)), "1500ms");
  EXPECT_EQ(DurationToString(absl::ZeroDuration()), "0");
  EXPECT_EQ(DurationToString(absl::Microseconds(500)), "500us");
  EXPECT_EQ(DurationToString(absl::Microseconds(2000)), "2ms");
  for (absl::Duration d : {absl::Microseconds(1), absl::Microseconds(1001), absl::Milliseconds(1),
                           absl::Seconds(61), absl::Hours(25),
                           absl::Hours(24 * 365)}) {
    EXPECT_EQ(*ParseDuration(DurationToString(d)), d);
  }
}

TEST(ParseBytesTest, GoodAndBad) {
  const struct {
    const char* text;
    uint64_t want;
  } kCases[] = {
      {"1024", 1024},         {"10k", 10240},          {"10K", 10240},
      {"50M", 50ull << 20},   {"1G", 1ull << 30},      {"2T", 2ull << 40},
      {"64MiB", 64ull << 20}, {"4kB", 4096},           {"0", 0},
      {"7b", 7},              {"16384", 16384},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<uint64_t> b = ParseBytes(c.text);
    ASSERT_TRUE(b.ok()) << c.text << ": " << b.status();
    EXPECT_EQ(*b, c.want) << c.text;
  }
  for (const char* text : {"", "M", "10X", "1.5G", "-1", "10 M", "10MM", "10Mb ",
                           "99999999999999999999", "20000000T"}) {
    EXPECT_FALSE(ParseBytes(text).ok()) << text;
  }
  EXPECT_EQ(BytesToString(50ull << 20), "50M");
  EXPECT_EQ(BytesToString(16384), "16K");
  EXPECT_EQ(BytesToString(1000), "1000");
}

// --- addresses, networks, routes ---------------------------------------

sockaddr_storage V4(const char* ip) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &sin->sin_addr), 1) << ip;
  return ss;
}

sockaddr_storage V6(const char* ip) {
  sockaddr_storage ss{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1) << ip;
  return ss;
}

TEST(CidrTest, ContainsV4) {
  absl::StatusOr<Cidr> net = Cidr::Parse("10.1.0.0/16");
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_TRUE(net->Contains(V4("10.1.0.0")));
  EXPECT_TRUE(net->Contains(V4("10.1.255.255")));
  EXPECT_FALSE(net->Contains(V4("10.2.0.1")));
  EXPECT_FALSE(net->Contains(V6("::1")));
  EXPECT_TRUE(net->Contains(V6("::ffff:10.1.2.3")));  // dual-stack socket peer
  EXPECT_FALSE(net->Contains(V6("::ffff:10.2.2.3")));
  EXPECT_FALSE(net->Contains(static_cast<const sockaddr*>(nullptr)));
  EXPECT_EQ(net->ToString(), "10.1.0.0/16");

  absl::StatusOr<Cidr> odd = Cidr::Parse("192.168.1.128/25");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains(V4("192.168.1.200")));
  EXPECT_FALSE(odd->Contains(V4("192.168.1.127")));

  absl::StatusOr<Cidr> host = Cidr::Parse("203.0.113.7");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->prefix_len, 32);
  EXPECT_TRUE(host->Contains(V4("203.0.113.7")));
  EXPECT_FALSE(host->Contains(V4("203.0.113.8")));

  absl::StatusOr<Cidr> all = Cidr::Parse("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(V4("198.51.100.1")));
}

TEST(CidrTest, ContainsV6) {
  absl::StatusOr<Cidr> net = Cidr::Parse("2001:db8:abcd::/48");
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_TRUE(net->Contains(V6("2001:db8:abcd:1::5")));
  EXPECT_FALSE(net->Contains(V6("2001:db8:abce::1")));
  EXPECT_FALSE(net->Contains(V4("10.0.0.1")));
  EXPECT_EQ(net->ToString(), "2001:db8:abcd::/48");

  absl::StatusOr<Cidr> lo = Cidr::Parse("::1/128");
  ASSERT_TRUE(lo.ok());
  EXPECT_TRUE(lo->Contains(V6("::1")));
  EXPECT_FALSE(lo->Contains(V6("::2")));

  absl::StatusOr<Cidr> odd = Cidr::Parse("fe80::/10");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains(V6("febf::1")));
  EXPECT_FALSE(odd->Contains(V6("fec0::1")));
}

TEST(CidrTest, Bad) {
  for (const char* text : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::1/129", "::1/-1",
                           "example.com/8", "10.0.0.0/8/8", "10.0.0.0/x", "[::1]/128"}) {
    EXPECT_FALSE(Cidr::Parse(text).ok()) << text;
  }
  absl::Status host_bits = Cidr::Parse("10.1.2.3/8").status();
  EXPECT_THAT(std::string(host_bits.message()), HasSubstr("did you mean 10.0.0.0/8"));
  EXPECT_THAT(std::string(Cidr::Parse("2001:db8::1/32").status().message()),
              HasSubstr("2001:db8::/32"));
}

TEST(DefaultRelayNetworksTest, LoopbackOnly) {
  Config c;
  ASSERT_EQ(c.relay_networks.size(), 2u);
  auto relayed = [&](const sockaddr_storage& a) {
    for (const Cidr& n : c.relay_networks) {
      if (n.Contains(a)) return true;
    }
    return false;
  };
  EXPECT_TRUE(relayed(V4("127.0.0.1")));
  EXPECT_TRUE(relayed(V6("::1")));
  EXPECT_TRUE(relayed(V6("::ffff:127.0.0.1")));
  EXPECT_FALSE(relayed(V4("192.0.2.1")));
  EXPECT_FALSE(relayed(V6("2001:db8::1")));
}

TEST(HostPortTest, Forms) {
  absl::StatusOr<HostPort> hp = ParseHostPort("127.0.0.1:2525", std::nullopt);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 2525);
  hp = ParseHostPort("[::1]:25", std::nullopt);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  hp = ParseHostPort("mx.example.com", uint16_t{25});
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->port, 25);
  hp = ParseHostPort("[mx.example.com]:587", std::nullopt);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "mx.example.com");
  for (const char* text : {"", ":25", "::1:25", "[::1", "[::1]25", "[]:25", "host:0", "host:65536",
                           "host:", "host:x", "1.2.3.999:25", "bad_host!:25", "-a.com:25"}) {
    EXPECT_FALSE(ParseHostPort(text, uint16_t{25}).ok()) << text;
  }
  EXPECT_FALSE(ParseHostPort("127.0.0.1", std::nullopt).ok());
  EXPECT_THAT(std::string(ParseHostPort("::1:25", std::nullopt).status().message()),
              HasSubstr("brackets"));

  absl::StatusOr<sockaddr_storage> sa = ParseSocketAddress("[::1]:2525", std::nullopt);
  ASSERT_TRUE(sa.ok());
  EXPECT_EQ(sa->ss_family, AF_INET6);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in6*>(&*sa)->sin6_port), 2525);
  sa = ParseSocketAddress("10.0.0.1", uint16_t{53});
  ASSERT_TRUE(sa.ok());
  EXPECT_EQ(sa->ss_family, AF_INET);
  EXPECT_FALSE(ParseSocketAddress("localhost:25", std::nullopt).ok());
}

TEST(RouteTest, Parse) {
  const struct {
    const char* text;
    Route want;
  } kCases[] = {
      {"example.com=127.0.0.1:2526", {"example.com", "127.0.0.1", 2526}},
      {"*=10.0.0.1:25", {"*", "10.0.0.1", 25}},
      {"Example.COM.=mx.example.net", {"example.com", "mx.example.net", 25}},
      {"v6.example=[2001:db8::1]:587", {"v6.example", "2001:db8::1", 587}},
      {"a.example=[smart.example]:26", {"a.example", "smart.example", 26}},
      {" b.example = 10.0.0.2:2525 ", {"b.example", "10.0.0.2", 2525}},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Route> r = ParseRoute(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status();
    EXPECT_EQ(*r, c.want) << c.text;
  }
  for (const char* text : {"", "example.com", "=10.0.0.1:25", "example.com=", "ex ample.com=h:25",
                           "example.com=h:0", "example.com=::1:25", "1.2.3.4=h:25",
                           "**=h:25", "example.com=h:25:26"}) {
    EXPECT_FALSE(ParseRoute(text).ok()) << text;
  }
}

// --- ApplyFlag ------------------------------------------------------------

TEST(ApplyFlagTest, ValidatesAndSets) {
  Config c;
  EXPECT_TRUE(ApplyFlag(&c, "shards", "8").ok());
  EXPECT_EQ(c.shards, 8);
  EXPECT_FALSE(ApplyFlag(&c, "shards", "257").ok());
  EXPECT_FALSE(ApplyFlag(&c, "shards", "-1").ok());
  EXPECT_EQ(c.shards, 8);  // unchanged on error
  EXPECT_FALSE(ApplyFlag(&c, "dest_port", "0").ok());
  EXPECT_FALSE(ApplyFlag(&c, "dest_port", "65536").ok());
  EXPECT_TRUE(ApplyFlag(&c, "dest_port", "2525").ok());
  EXPECT_EQ(c.dest_port, 2525);
  EXPECT_TRUE(ApplyFlag(&c, "max_message_size", "10M").ok());
  EXPECT_EQ(c.max_message_size, 10ull << 20);
  EXPECT_FALSE(ApplyFlag(&c, "max_message_size", "0").ok());
  EXPECT_FALSE(ApplyFlag(&c, "max_recipients", "0").ok());
  EXPECT_FALSE(ApplyFlag(&c, "max_command_line", "100").ok());  // below RFC minimum
  EXPECT_FALSE(ApplyFlag(&c, "sq_entries", "1000").ok());       // not a power of two
  EXPECT_TRUE(ApplyFlag(&c, "sq_entries", "1024").ok());
  EXPECT_FALSE(ApplyFlag(&c, "retry_min", "0s").ok());
  EXPECT_TRUE(ApplyFlag(&c, "retry_min", "250ms").ok());
  EXPECT_EQ(c.retry_min, absl::Milliseconds(250));
  EXPECT_TRUE(ApplyFlag(&c, "durability", "none").ok());
  EXPECT_EQ(c.durability, Durability::kNone);
  EXPECT_FALSE(ApplyFlag(&c, "durability", "sometimes").ok());
  EXPECT_FALSE(ApplyFlag(&c, "spool", "").ok());
  EXPECT_FALSE(ApplyFlag(&c, "admin", "localhost:8025").ok());
  EXPECT_TRUE(ApplyFlag(&c, "dns", "[2001:db8::53]").ok());
  EXPECT_FALSE(ApplyFlag(&c, "dns", "ns.example:53").ok());
  EXPECT_FALSE(ApplyFlag(&c, "hostname", "bad host").ok());
  absl::Status unknown = ApplyFlag(&c, "retry_mni", "1s");
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("did you mean \"retry_min\""));
  absl::Status bad = ApplyFlag(&c, "idle_timeout", "5 minutes");
  EXPECT_TRUE(absl::StartsWith(bad.message(), "idle_timeout: ")) << bad;
}

TEST(ApplyFlagTest, ListsReplaceAndAcceptCommas) {
  Config c;
  ASSERT_TRUE(ApplyFlag(&c, "route", "a.example=h1:1, b.example=[::1]:2").ok());
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[1].host, "::1");
  ASSERT_TRUE(ApplyFlag(&c, "route", "*=smart.example:587").ok());
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].domain, "*");
  EXPECT_FALSE(ApplyFlag(&c, "route", "a.example=h:1,A.example=h:2").ok());  // duplicate
  EXPECT_FALSE(ApplyFlag(&c, "route", "a.example=h:1,,b.example=h:2").ok());
  ASSERT_TRUE(ApplyFlag(&c, "relay_networks", "").ok());
  EXPECT_TRUE(c.relay_networks.empty());
  ASSERT_TRUE(ApplyFlag(&c, "listen", "0.0.0.0:25,[::]:25").ok());
  EXPECT_EQ(c.listen.size(), 2u);
  EXPECT_FALSE(ApplyFlag(&c, "listen", "0.0.0.0:25,0.0.0.0:25").ok());
}

TEST(ValidateConfigTest, CrossChecks) {
  Config c;
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  c.retry_min = absl::Hours(2);
  EXPECT_THAT(std::string(ValidateConfig(c).message()), HasSubstr("retry_max"));
  c = Config{};
  c.tls_cert = "/etc/ringpost/cert.pem";
  EXPECT_FALSE(ValidateConfig(c).ok());
  c.tls_key = "/etc/ringpost/key.pem";
  EXPECT_TRUE(ValidateConfig(c).ok());
  c = Config{};
  c.listen.clear();
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config{};
  c.max_recipients = 0;  // set in code, still checked
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config{};
  c.relay_networks.push_back(Cidr{});  // unparsed
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config{};
  c.admin = "127.0.0.1:2525";
  EXPECT_FALSE(ValidateConfig(c).ok());
}

// --- TOML -------------------------------------------------------------

constexpr char kGoodToml[] = R"(# ringpost test config
listen = ["127.0.0.1:2525", "[::1]:2525"]
shards = 4
spool = "/tmp/spool"
dns = "127.0.0.53"
relay_networks = ["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"]
route = ["example.com=127.0.0.1:2526", "*=10.0.0.1:25"]
dest_port = 2525
admin = "127.0.0.1:9025"
retry_min = "30s"
retry_max = "2h"
max_age = "3d"
max_message_size = "20M"
durability = "none"
max_recipients = 500
idle_timeout = "1m"
data_term_timeout = "15m"
commit_max_bytes = 1048576
hostname = "relay.example.net"
)";

TEST(TomlTest, GoodFile) {
  absl::StatusOr<Config> c = ParseConfigToml(kGoodToml, "good.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, (std::vector<std::string>{"127.0.0.1:2525", "[::1]:2525"}));
  EXPECT_EQ(c->shards, 4);
  EXPECT_EQ(c->spool, "/tmp/spool");
  EXPECT_EQ(c->dns, "127.0.0.53");
  ASSERT_EQ(c->relay_networks.size(), 3u);
  EXPECT_EQ(c->relay_networks[2].ToString(), "fd00::/8");
  ASSERT_EQ(c->routes.size(), 2u);
  EXPECT_EQ(c->routes[0], (Route{"example.com", "127.0.0.1", 2526}));
  EXPECT_EQ(c->routes[1], (Route{"*", "10.0.0.1", 25}));
  EXPECT_EQ(c->dest_port, 2525);
  EXPECT_EQ(c->admin, "127.0.0.1:9025");
  EXPECT_EQ(c->retry_min, absl::Seconds(30));
  EXPECT_EQ(c->retry_max, absl::Hours(2));
  EXPECT_EQ(c->max_age, absl::Hours(72));
  EXPECT_EQ(c->max_message_size, 20ull << 20);
  EXPECT_EQ(c->durability, Durability::kNone);
  EXPECT_EQ(c->max_recipients, 500u);
  EXPECT_EQ(c->idle_timeout, absl::Minutes(1));
  EXPECT_EQ(c->data_term_timeout, absl::Minutes(15));
  EXPECT_EQ(c->commit_max_bytes, 1u << 20);
  EXPECT_EQ(c->hostname, "relay.example.net");
  // Untouched settings keep their defaults.
  EXPECT_EQ(c->max_command_line, 512u);
  EXPECT_EQ(c->connect_timeout, absl::Seconds(30));
}

TEST(TomlTest, EmptyFileGivesDefaults) {
  absl::StatusOr<Config> c = ParseConfigToml("", "empty.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(DescribeConfig(*c), DescribeConfig(Config{}));
}

TEST(TomlTest, UnknownKeyNamesFileAndLine) {
  absl::StatusOr<Config> c = ParseConfigToml("shards = 2\n\nretry_mim = \"1s\"\n", "relay.toml");
  ASSERT_FALSE(c.ok());
  const std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr("relay.toml:3:"));
  EXPECT_THAT(msg, HasSubstr("unknown setting \"retry_mim\""));
  EXPECT_THAT(msg, HasSubstr("did you mean \"retry_min\""));
}

TEST(TomlTest, BadValueNamesLine) {
  absl::StatusOr<Config> c =
      ParseConfigToml("shards = 2\nspool = \"/x\"\nretry_min = \"5x\"\n", "relay.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("relay.toml:3: retry_min: bad duration"));

  c = ParseConfigToml("shards = 999\n", "relay.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("relay.toml:1: shards:"));
}

TEST(TomlTest, BadArrayElementNamesItsLine) {
  const char* text =
      "route = [\n"
      "  \"a.example=10.0.0.1:25\",\n"
      "  \"b.example=10.0.0.1:99999\",\n"
      "]\n";
  absl::StatusOr<Config> c = ParseConfigToml(text, "routes.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("routes.toml:3: route:"));
}

TEST(TomlTest, AllErrorsReportedInFileOrder) {
  absl::StatusOr<Config> c =
      ParseConfigToml("zzz = 1\nshards = \"many\"\naaa = 2\n", "multi.toml");
  ASSERT_FALSE(c.ok());
  const std::vector<std::string> lines = absl::StrSplit(c.status().message(), '\n');
  ASSERT_EQ(lines.size(), 3u) << c.status();
  EXPECT_TRUE(absl::StartsWith(lines[0], "multi.toml:1:"));
  EXPECT_TRUE(absl::StartsWith(lines[1], "multi.toml:2:"));
  EXPECT_TRUE(absl::StartsWith(lines[2], "multi.toml:3:"));
}

TEST(TomlTest, MalformedTableHeaderIsAnErrorNotAnAbort) {
  for (const char* text : {"shards = 1\n[!]\n", "[[?]]\n", "  [\x01]\n"}) {
    absl::StatusOr<Config> r = ParseConfigToml(text, "t.toml");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("invalid table header")) << text;
  }
}

// Inputs that reached assertions inside toml++ 3.3.0 (SIGABRT) before its
// TOML_ASSERT was compiled out; each must be a syntax error naming the line.
TEST(TomlTest, ParserAssertionInputsAreSyntaxErrors) {
  for (const char* text : {"route = [}]\n", "shards = 1\nroute = [\"a=b:25\", }]\n",
                           "route = [,]\n", "x = {a=}\n", "x = [1,,2]\n", "x = }\n"}) {
    absl::StatusOr<Config> r = ParseConfigToml(text, "t.toml");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("t.toml:")) << text;
  }
}

// toml++ 3.3.0's character classifier reached __builtin_unreachable for most
// of U+00A1..U+0499, U+2C4E..U+3047 and U+FB26..U+FEFE (undefined behaviour,
// caught by UBSan under --config=asan). They are ordinary characters now.
TEST(TomlTest, NonAsciiTextIsOrdinary) {
  for (const char* cp : {"\xc3\xa9", "\xc3\x9f", "\xd0\x96", "\xe2\xb1\x8e", "\xe3\x80\x81",
                         "\xef\xac\xa6", "\xef\xbb\xbc", "\xef\xbb\xbe"}) {
    const std::string c(cp);
    absl::StatusOr<Config> r =
        ParseConfigToml("# " + c + "\nspool = \"/tmp/r" + c + "\" # " + c + "\n", "t.toml");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->spool, "/tmp/r" + c);
    // Outside a string or comment it is a syntax error naming the line.
    r = ParseConfigToml("shards = 1\n[s" + c + "]\n", "t.toml");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("t.toml:2:"));
    r = ParseConfigToml("shards = 1" + c + "\n", "t.toml");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("t.toml:1:"));
  }
}

// A string setting never takes control characters: a newline in a path
// would split it in logs and in DescribeConfig (found by the config fuzzer).
TEST(TomlTest, ControlCharactersInStringsAreRefused) {
  Config c;
  absl::Status st = ApplyFlag(&c, "log", "/var/log/a\nb");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("control character (0x0a)"));
  absl::StatusOr<Config> r = ParseConfigToml("shards = 1\ntls_cert = \"/a\\tb\"\n", "t.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("t.toml:2:"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("control character (0x09)"));
  EXPECT_TRUE(ApplyFlag(&c, "log", "/var/log/ringpost \xc3\xa9.log").ok());
}

TEST(TomlTest, BooleanSettingsTakeTomlBooleans) {
  absl::StatusOr<Config> r =
      ParseConfigToml("ipv6 = true\nspool_direct_io = false\n", "t.toml");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ipv6);
  EXPECT_FALSE(r->spool_direct_io);
  r = ParseConfigToml("ipv6 = \"yes\"\n", "t.toml");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ipv6);
  r = ParseConfigToml("ipv6 = 2\n", "t.toml");
  EXPECT_FALSE(r.ok());
}

TEST(TomlTest, WrongTypes) {
  const struct {
    const char* text;
    const char* want;
  } kCases[] = {
      {"shards = true\n", "boolean"},
      {"shards = 1.5\n", "float"},
      {"retry_min = 60\n", "missing unit"},
      {"spool = [\"/a\", \"/b\"]\n", "not an array"},
      {"route = [1, 2]\n", "expected strings"},
      {"[server]\nshards = 1\n", "unknown setting \"server\""},
      {"shards = -3\n", "shards:"},
      {"route = [\"a.example=h:1,b.example=h:2\"]\n", "route:"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Config> r = ParseConfigToml(c.text, "t.toml");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want)) << c.text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("t.toml:")) << c.text;
  }
}

TEST(TomlTest, SyntaxErrorNamesLine) {
  absl::StatusOr<Config> c = ParseConfigToml("shards = 2\nspool = \"unterminated\n", "syn.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("syn.toml:2:"));
  c = ParseConfigToml("shards = 2\nshards = 3\n", "dup.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("dup.toml:2:"));
}

TEST(TomlTest, CrossCheckErrorNamesFile) {
  absl::StatusOr<Config> c = ParseConfigToml("retry_min = \"2h\"\nretry_max = \"1h\"\n", "x.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("x.toml: retry_min (2h)"));
}

TEST(PrecedenceTest, FlagAppliedAfterFileWins) {
  // LoadConfig applies flags after the file through ApplyFlag; the same
  // sequence here, without global flag state.
  absl::StatusOr<Config> c = ParseConfigToml(kGoodToml, "good.toml");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(ApplyFlag(&*c, "shards", "0").ok());
  ASSERT_TRUE(ApplyFlag(&*c, "route", "only.example=10.9.9.9:25").ok());
  ASSERT_TRUE(ApplyFlag(&*c, "retry_max", "3h").ok());
  EXPECT_EQ(c->shards, 0);
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].domain, "only.example");
  EXPECT_EQ(c->retry_max, absl::Hours(3));
  EXPECT_EQ(c->retry_min, absl::Seconds(30));  // from the file
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

// --- settings table, flags, DescribeConfig --------------------------------

TEST(SettingsTest, EverySettingHasAFlagWhoseDefaultMatchesConfig) {
  const Config defaults;
  const std::string described = DescribeConfig(defaults);
  for (std::string_view name : SettingNames()) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(absl::string_view(name.data(), name.size()));
    ASSERT_NE(flag, nullptr) << name;
    EXPECT_FALSE(flag->Help().empty()) << name;
    Config c;
    ASSERT_TRUE(ApplyFlag(&c, name, flag->DefaultValue()).ok())
        << name << " default " << flag->DefaultValue();
    EXPECT_EQ(DescribeConfig(c), described) << "flag default of --" << name
                                            << " differs from Config default";
  }
}

TEST(SettingsTest, EveryFlagInFlagsCcIsASetting) {
  size_t flags_here = 0;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::StrContains(flag->Filename(), "relay/config/flags.cc")) continue;
    flags_here++;
    if (name == "config") continue;
    Config c;
    EXPECT_TRUE(ApplyFlag(&c, std::string(name), flag->DefaultValue()).ok()) << name;
  }
  EXPECT_EQ(flags_here, SettingNames().size() + 1);  // + --config
}

TEST(SettingsTest, DescribeConfigRoundTripsThroughApplyFlag) {
  absl::StatusOr<Config> c = ParseConfigToml(kGoodToml, "good.toml");
  ASSERT_TRUE(c.ok());
  const std::string text = DescribeConfig(*c);
  EXPECT_THAT(text, HasSubstr("durability = none  # WARNING"));
  EXPECT_THAT(text, HasSubstr("route = example.com=127.0.0.1:2526,*=10.0.0.1:25\n"));
  EXPECT_THAT(text, HasSubstr("listen = 127.0.0.1:2525,[::1]:2525\n"));
  EXPECT_THAT(text, HasSubstr("log = \"\"\n"));
  Config rebuilt;
  size_t lines = 0;
  const std::vector<std::string> all_lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  for (const std::string& full : all_lines) {
    std::string_view line = full;
    lines++;
    line = line.substr(0, line.find("  #"));
    const size_t eq = line.find(" = ");
    ASSERT_NE(eq, std::string_view::npos) << line;
    std::string_view value = line.substr(eq + 3);
    if (value == "\"\"") value = "";
    ASSERT_TRUE(ApplyFlag(&rebuilt, line.substr(0, eq), value).ok()) << line;
  }
  EXPECT_EQ(lines, SettingNames().size());
  EXPECT_EQ(DescribeConfig(rebuilt), text);
}

// --- LoadConfig with a real command line (the only test touching global
// flag state) -------------------------------------------------------------

TEST(LoadConfigTest, FileThenRepeatedFlagsWin) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/load_config_test.toml";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("shards = 4\nretry_max = \"2h\"\nroute = [\"file.example=10.0.0.1:25\"]\n", f);
  fclose(f);

  std::vector<std::string> args = {
      "ringpost",
      "--config=" + path,
      "--route=a.example=10.0.0.1:25",
      "--route",
      "b.example=[::1]:2526,c.example=mx.c.example",
      "--shards=0",  // explicitly given: wins even though it equals the default
      "--retry_min=2m",
      "--listen=127.0.0.1:2600",
      "positional",
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::vector<char*> rest = ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_STREQ(rest[1], "positional");

  absl::StatusOr<Config> c = LoadConfig(absl::GetFlag(FLAGS_config));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->shards, 0);
  EXPECT_EQ(c->retry_max, absl::Hours(2));   // file
  EXPECT_EQ(c->retry_min, absl::Minutes(2));  // flag
  EXPECT_EQ(c->listen, std::vector<std::string>{"127.0.0.1:2600"});
  ASSERT_EQ(c->routes.size(), 3u);
  EXPECT_EQ(c->routes[0].domain, "a.example");
  EXPECT_EQ(c->routes[1], (Route{"b.example", "::1", 2526}));
  EXPECT_EQ(c->routes[2], (Route{"c.example", "mx.c.example", 25}));

  EXPECT_FALSE(LoadConfig(path + ".missing").ok());
}

}  // namespace
}  // namespace ringpost

namespace ringpost {
namespace {

TEST(HostnameTest, FullyQualifiedForEhlo) {
  EXPECT_TRUE(IsFullyQualifiedHostname("mx1.example.com"));
  EXPECT_TRUE(IsFullyQualifiedHostname("relay.test"));
  EXPECT_FALSE(IsFullyQualifiedHostname("mx1"));
  EXPECT_FALSE(IsFullyQualifiedHostname("localhost"));
  EXPECT_FALSE(IsFullyQualifiedHostname("10.0.0.1"));
  EXPECT_FALSE(IsFullyQualifiedHostname("example."));
  EXPECT_FALSE(IsFullyQualifiedHostname(""));
  EXPECT_FALSE(IsFullyQualifiedHostname("bad host.example"));
}

}  // namespace
}  // namespace ringpost

namespace ringpost {
namespace {

// --- cross-shard rings ----------------------------------------------------

TEST(CrossShardTest, Defaults) {
  const Config c;
  EXPECT_EQ(c.cross_shard_ring_entries, 1024u);
  EXPECT_EQ(c.max_cross_shard_backlog, 65536u);
  EXPECT_TRUE(ValidateConfig(c).ok());
  const std::string described = DescribeConfig(c);
  EXPECT_THAT(described, HasSubstr("cross_shard_ring_entries = 1024\n"));
  EXPECT_THAT(described, HasSubstr("max_cross_shard_backlog = 65536\n"));
}

TEST(CrossShardTest, RingEntriesArePowersOfTwoIn16To65536) {
  for (const char* good : {"16", "32", "1024", "4096", "65536"}) {
    Config c;
    ASSERT_TRUE(ApplyFlag(&c, "cross_shard_ring_entries", good).ok()) << good;
    EXPECT_EQ(std::to_string(c.cross_shard_ring_entries), good);
  }
  const struct {
    const char* value;
    const char* error;
  } kBad[] = {
      {"8", "cross_shard_ring_entries: 8 is out of range 16..65536"},
      {"131072", "cross_shard_ring_entries: 131072 is out of range 16..65536"},
      {"0", "cross_shard_ring_entries: 0 is out of range 16..65536"},
      {"1000", "cross_shard_ring_entries: 1000 is not a power of two (nearest: 512 or 1024)"},
      {"17", "cross_shard_ring_entries: 17 is not a power of two (nearest: 16 or 32)"},
      {"65535", "cross_shard_ring_entries: 65535 is not a power of two (nearest: 32768 or 65536)"},
      {"-16", "is not a non-negative integer"},
      {"1k", "is not a non-negative integer"},
      {"", "empty"},
  };
  for (const auto& b : kBad) {
    Config c;
    absl::Status s = ApplyFlag(&c, "cross_shard_ring_entries", b.value);
    EXPECT_FALSE(s.ok()) << b.value;
    EXPECT_THAT(std::string(s.message()), HasSubstr(b.error)) << b.value;
    EXPECT_EQ(c.cross_shard_ring_entries, 1024u) << "unchanged after an error";
  }
}

TEST(CrossShardTest, BacklogIn1024To100Million) {
  for (const char* good : {"1024", "65536", "1000000", "100000000"}) {
    Config c;
    ASSERT_TRUE(ApplyFlag(&c, "max_cross_shard_backlog", good).ok()) << good;
    EXPECT_EQ(std::to_string(c.max_cross_shard_backlog), good);
  }
  for (const char* bad : {"1023", "0", "100000001", "5e6", "1,000"}) {
    Config c;
    absl::Status s = ApplyFlag(&c, "max_cross_shard_backlog", bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(absl::StartsWith(s.message(), "max_cross_shard_backlog: ")) << s;
    EXPECT_EQ(c.max_cross_shard_backlog, 65536u);
  }
  Config c;
  EXPECT_THAT(std::string(ApplyFlag(&c, "max_cross_shard_backlog", "1023").message()),
              HasSubstr("out of range 1024..100000000"));
}

TEST(CrossShardTest, FromToml) {
  absl::StatusOr<Config> c = ParseConfigToml(
      "cross_shard_ring_entries = 4096\nmax_cross_shard_backlog = \"200000\"\n", "x.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cross_shard_ring_entries, 4096u);
  EXPECT_EQ(c->max_cross_shard_backlog, 200000u);
  absl::StatusOr<Config> bad =
      ParseConfigToml("shards = 2\ncross_shard_ring_entries = 3000\n", "x.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("x.toml:2: cross_shard_ring_entries: 3000 is not a power of two"));
}

TEST(CrossShardTest, ValidateHoldsACodeBuiltConfigToTheBounds) {
  Config c;
  c.cross_shard_ring_entries = 1000;
  EXPECT_FALSE(ValidateConfig(c).ok());
  c.cross_shard_ring_entries = 1024;
  c.max_cross_shard_backlog = 10;
  EXPECT_FALSE(ValidateConfig(c).ok());
}

// --- addresses through base/mailbox ---------------------------------------

TEST(AddressSettingsTest, PostmasterIsAnAsciiMailbox) {
  for (const char* good : {"postmaster@example.com", "hostmaster+relay@mx.example.com",
                           "\"post master\"@example.com"}) {
    Config c;
    EXPECT_TRUE(ApplyFlag(&c, "postmaster", good).ok()) << good;
  }
  Config empty;
  EXPECT_TRUE(ApplyFlag(&empty, "postmaster", "").ok());  // default: postmaster@hostname
  const struct {
    const char* value;
    const char* error;
  } kBad[] = {
      {"postmaster", "missing @domain"},
      {"@example.com", "bad local part"},
      {"a b@example.com", "bad local part"},
      {"a..b@example.com", "bad local part"},
      {"pm@-bad.example", "bad domain"},
      {"pm@exa_mple.com", "bad domain"},
      {"pm@example.com.", "bad domain"},
      {"p\xC3\xA9@example.com", "non-ASCII"},
      {"pm@[192.0.2.1]", "not an address literal"},
  };
  for (const auto& b : kBad) {
    Config c;
    absl::Status s = ApplyFlag(&c, "postmaster", b.value);
    EXPECT_FALSE(s.ok()) << b.value;
    EXPECT_THAT(std::string(s.message()), HasSubstr(b.error)) << b.value;
  }
}

TEST(AddressSettingsTest, HostNamesAndRouteDomains) {
  Config c;
  EXPECT_TRUE(ApplyFlag(&c, "hostname", "relay_1.example.net").ok());  // '_' tolerated
  EXPECT_THAT(std::string(ApplyFlag(&c, "hostname", "-relay.example").message()),
              HasSubstr("label starts or ends with '-'"));
  EXPECT_FALSE(ApplyFlag(&c, "hostname", "r\xC3\xA9lay.example").ok());
  EXPECT_TRUE(ApplyFlag(&c, "route", "Example.COM.=mx_1.example.net:25").ok());
  EXPECT_EQ(c.routes[0].domain, "example.com");
  EXPECT_EQ(c.routes[0].host, "mx_1.example.net");
  // A route's domain is a mail domain: '_' can never match a recipient.
  EXPECT_FALSE(ApplyFlag(&c, "route", "exa_mple.com=10.0.0.1:25").ok());
  EXPECT_FALSE(ApplyFlag(&c, "route", "10.0.0.1=10.0.0.2:25").ok());
  EXPECT_FALSE(ApplyFlag(&c, "route", "a..b=10.0.0.2:25").ok());
}

}  // namespace
}  // namespace ringpost
