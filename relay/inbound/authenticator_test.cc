#include "relay/inbound/authenticator.h"

#include "gtest/gtest.h"

namespace ringpost::inbound {
namespace {

using server::AuthVerdict;

TEST(FailureKeyTest, IPv4ByAddressIPv6ByPrefix) {
  EXPECT_EQ(FailureKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(FailureKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(FailureKey("2001:db8:1:2::99"), FailureKey("2001:db8:1:2:ffff::1"));
  EXPECT_EQ(FailureKey("not an address"), "not an address");
}

TEST(AuthenticatorTest, GoodBadAndBlocked) {
  absl::StatusOr<std::string> line =
      auth::FormatLine("alice", "0123456789abcdef", 10, 8, 1, "correct horse");
  ASSERT_TRUE(line.ok()) << line.status();
  auto creds = auth::Credentials::Parse(*line + "\n", "test");
  ASSERT_TRUE(creds.ok()) << creds.status();
  CredentialSource source;
  source.Set(*creds);
  Config config;
  config.auth_failures_max = 3;
  config.auth_failure_window = absl::Seconds(60);
  Authenticator a(config, &source);
  EXPECT_EQ(a.Check("192.0.2.1", "alice", "correct horse", 1000), AuthVerdict::kOk);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(a.Check("192.0.2.1", "alice", "wrong", 1000), AuthVerdict::kBad) << i;
  }
  // Over the limit: even the right password waits for the window.
  EXPECT_EQ(a.Check("192.0.2.1", "alice", "correct horse", 2000), AuthVerdict::kBlocked);
  EXPECT_EQ(a.Check("192.0.2.2", "alice", "correct horse", 2000), AuthVerdict::kOk);
  EXPECT_EQ(a.Check("192.0.2.1", "alice", "correct horse", 1000 + 61000), AuthVerdict::kOk);
  // Unknown users and no credentials at all are just bad.
  EXPECT_EQ(a.Check("192.0.2.3", "bob", "x", 1000), AuthVerdict::kBad);
  source.Set(nullptr);
  EXPECT_EQ(a.Check("192.0.2.3", "alice", "correct horse", 1000), AuthVerdict::kBad);
}

}  // namespace
}  // namespace ringpost::inbound
