// reload_test.cc — PlanReload: what a SIGHUP applies and what it keeps.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "relay/config/config.h"

namespace ringpost {
namespace {

Config Parse(const std::string& toml) {
  absl::StatusOr<Config> c = ParseConfigToml(toml, "test.toml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Config{};
}

using Names = std::vector<std::string>;

TEST(ReloadTest, RestartOnlySettingsAreRealSettings) {
  // A misspelt name in the table would silently make a setting live.
  size_t restart_only = 0;
  for (std::string_view name : SettingNames()) restart_only += SettingNeedsRestart(name) ? 1 : 0;
  EXPECT_EQ(restart_only, 28u);
  EXPECT_TRUE(SettingNeedsRestart("listen"));
  EXPECT_TRUE(SettingNeedsRestart("spool"));
  EXPECT_FALSE(SettingNeedsRestart("route"));
  EXPECT_FALSE(SettingNeedsRestart("relay_networks"));
  EXPECT_FALSE(SettingNeedsRestart("max_message_size"));
  EXPECT_FALSE(SettingNeedsRestart("no_such_setting"));
}

TEST(ReloadTest, SameFileChangesNothing) {
  const Config running = Parse("route = [\"a.test=127.0.0.1:2526\"]\n");
  absl::StatusOr<ReloadPlan> plan = PlanReload(running, running);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->changed.empty());
  EXPECT_TRUE(plan->kept.empty());
}

TEST(ReloadTest, LiveSettingsApplyRestartOnlyOnesAreKept) {
  const Config running = Parse(
      "listen = [\"127.0.0.1:2525\"]\n"
      "route = [\"a.test=127.0.0.1:2526\"]\n"
      "max_message_size = \"10M\"\n"
      "shards = 2\n");
  const Config next = Parse(
      "listen = [\"127.0.0.1:2600\"]\n"
      "route = [\"a.test=127.0.0.1:2527\", \"b.test=127.0.0.1:2528\"]\n"
      "max_message_size = \"1M\"\n"
      "relay_networks = [\"10.0.0.0/8\"]\n"
      "shards = 4\n");
  absl::StatusOr<ReloadPlan> plan = PlanReload(running, next);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->changed, (Names{"relay_networks", "route", "max_message_size"}));
  EXPECT_EQ(plan->kept, (Names{"listen", "shards"}));
  EXPECT_EQ(plan->config.listen, running.listen);
  EXPECT_EQ(plan->config.shards, 2);
  EXPECT_EQ(plan->config.routes, next.routes);
  EXPECT_EQ(plan->config.max_message_size, uint64_t{1} << 20);
  EXPECT_EQ(plan->config.relay_networks, next.relay_networks);
}

TEST(ReloadTest, CertificatePathsAreLiveButTlsOnOrOffIsNot) {
  const Config plain = Parse("");
  const Config tls = Parse("tls_cert = \"/etc/a.pem\"\ntls_key = \"/etc/a.key\"\n");
  const Config other = Parse("tls_cert = \"/etc/b.pem\"\ntls_key = \"/etc/b.key\"\n");

  absl::StatusOr<ReloadPlan> on = PlanReload(plain, tls);
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(on->kept, (Names{"tls_cert", "tls_key"}));
  EXPECT_TRUE(on->config.tls_cert.empty());

  absl::StatusOr<ReloadPlan> off = PlanReload(tls, plain);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->kept, (Names{"tls_cert", "tls_key"}));
  EXPECT_EQ(off->config.tls_cert, "/etc/a.pem");

  absl::StatusOr<ReloadPlan> swap = PlanReload(tls, other);
  ASSERT_TRUE(swap.ok()) << swap.status();
  EXPECT_EQ(swap->changed, (Names{"tls_cert", "tls_key"}));
  EXPECT_TRUE(swap->kept.empty());
  EXPECT_EQ(swap->config.tls_key, "/etc/b.key");
}

TEST(ReloadTest, FileValidOnlyWithItsOwnRestartOnlyValuesIsRefused) {
  // require_tls must name a listener: the new one is not listening yet.
  const Config running = Parse("listen = [\"127.0.0.1:2525\"]\n");
  const Config next = Parse(
      "listen = [\"127.0.0.1:2600\"]\n"
      "require_tls = [\"127.0.0.1:2600\"]\n"
      "tls_cert = \"/etc/a.pem\"\ntls_key = \"/etc/a.key\"\n");
  absl::StatusOr<ReloadPlan> plan = PlanReload(running, next);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("need a restart"), std::string::npos)
      << plan.status();
}

}  // namespace
}  // namespace ringpost
