// resolv_conf_test.cc — server lists from the `dns` setting and from
// resolv.conf text.
#include "dns/resolv_conf.h"

#include <fstream>

#include "dns/address.h"
#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

TEST(ResolvConfTest, ServerList) {
  auto list = ParseServerList("127.0.0.1:5353, [::1]:53,192.0.2.1");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ(FormatSockaddr((*list)[0]), "127.0.0.1:5353");
  EXPECT_EQ(FormatSockaddr((*list)[1]), "[::1]:53");
  EXPECT_EQ(FormatSockaddr((*list)[2]), "192.0.2.1:53");
  EXPECT_FALSE(ParseServerList("").ok());
  EXPECT_FALSE(ParseServerList("dns.example:53").ok());
  EXPECT_FALSE(ParseServerList("127.0.0.1:0").ok());
  EXPECT_FALSE(ParseServerList("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7,"
                               "8.8.8.8,9.9.9.9")
                   .ok());
}

TEST(ResolvConfTest, ParsesNameserversAndOptions) {
  auto cfg = ParseResolvConf(
      "# comment\n"
      "search example.test\n"
      "nameserver 192.0.2.53\n"
      "nameserver   2001:db8::53   \n"
      "nameserver fe80::1%eth0\n"
      "nameserver not-an-address\n"
      "options ndots:2 timeout:3 attempts:4 rotate\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ(cfg->servers.size(), 2u);
  EXPECT_EQ(FormatSockaddr(cfg->servers[0]), "192.0.2.53:53");
  EXPECT_EQ(FormatSockaddr(cfg->servers[1]), "[2001:db8::53]:53");
  EXPECT_EQ(cfg->timeout_ms, 3000u);
  EXPECT_EQ(cfg->attempts, 4u);
}

TEST(ResolvConfTest, EmptyMeansLocalhostAndValuesAreClamped) {
  auto cfg = ParseResolvConf("options timeout:999 attempts:0\n");
  ASSERT_TRUE(cfg.ok());
  ASSERT_EQ(cfg->servers.size(), 1u);
  EXPECT_EQ(FormatSockaddr(cfg->servers[0]), "127.0.0.1:53");
  EXPECT_EQ(cfg->timeout_ms, 30000u);
  EXPECT_EQ(cfg->attempts, 1u);
}

TEST(ResolvConfTest, LoadPrefersTheSetting) {
  auto explicit_cfg = LoadServerConfig("127.0.0.1:5300", "/nonexistent");
  ASSERT_TRUE(explicit_cfg.ok());
  EXPECT_EQ(FormatSockaddr(explicit_cfg->servers[0]), "127.0.0.1:5300");
  auto missing = LoadServerConfig("", "/nonexistent/resolv.conf");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--dns"), std::string_view::npos);
  const std::string path = ::testing::TempDir() + "/resolv.conf";
  std::ofstream(path) << "nameserver 192.0.2.7\n";
  auto file = LoadServerConfig("", path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(FormatSockaddr(file->servers[0]), "192.0.2.7:53");
}

}  // namespace
}  // namespace ringpost::dns
