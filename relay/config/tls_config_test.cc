// tls_config_test.cc — the TLS and AUTH settings: levels, per-domain
// policies, and the cross-setting checks between certificates, listeners,
// requirements and credentials.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/config/config.h"

namespace ringpost {
namespace {

using ::testing::HasSubstr;

TEST(ValidateConfigTest, TlsAndAuthCrossChecks) {
  auto message = [](const Config& c) { return std::string(ValidateConfig(c).message()); };
  Config c;
  c.listen_tls = {"127.0.0.1:465"};
  EXPECT_THAT(message(c), HasSubstr("listen_tls needs tls_cert"));
  c.tls_cert = "/c.pem";
  c.tls_key = "/k.pem";
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  c.listen_tls = {"127.0.0.1:2525"};  // also a listen address
  EXPECT_THAT(message(c), HasSubstr("is also a listen or admin address"));
  c.listen_tls = {"127.0.0.1:465"};
  c.require_tls = {"127.0.0.1:587"};  // not listened on
  EXPECT_THAT(message(c), HasSubstr("require_tls: 127.0.0.1:587 is not a listen"));
  c.require_tls = {"127.0.0.1:2525", "127.0.0.1:465"};
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  c.require_auth = {"127.0.0.1:465"};
  EXPECT_THAT(message(c), HasSubstr("require_auth needs auth_users"));
  c.auth_users = "/users";
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  c.tls_cert.clear();
  c.tls_key.clear();
  c.listen_tls.clear();
  c.require_tls.clear();
  EXPECT_THAT(message(c), HasSubstr("auth_users needs tls_cert"));
}

TEST(TlsPolicyTest, LevelsAndDomains) {
  Config c;
  EXPECT_EQ(c.outbound_tls, TlsLevel::kMay);
  ASSERT_TRUE(ApplyFlag(&c, "outbound_tls", "verify").ok());
  EXPECT_EQ(c.outbound_tls, TlsLevel::kVerify);
  EXPECT_THAT(std::string(ApplyFlag(&c, "outbound_tls", "dane").message()),
              HasSubstr("must be none, may, encrypt or verify"));
  ASSERT_TRUE(ApplyFlag(&c, "outbound_tls_policy", "Example.COM.=encrypt, b.test=none").ok());
  EXPECT_EQ(TlsLevelFor(c, "example.com"), TlsLevel::kEncrypt);
  EXPECT_EQ(TlsLevelFor(c, "b.test"), TlsLevel::kNone);
  EXPECT_EQ(TlsLevelFor(c, "c.test"), TlsLevel::kVerify);
  EXPECT_THAT(std::string(ApplyFlag(&c, "outbound_tls_policy", "a.test=may,A.test=none").message()),
              HasSubstr("two TLS policies for domain"));
  EXPECT_THAT(std::string(ApplyFlag(&c, "outbound_tls_policy", "a.test").message()),
              HasSubstr("expected DOMAIN=LEVEL"));
  EXPECT_THAT(std::string(ApplyFlag(&c, "outbound_tls_policy", "*=verify").message()),
              HasSubstr("bad domain"));
  EXPECT_THAT(std::string(ApplyFlag(&c, "outbound_tls_policy", "a.test=strict").message()),
              HasSubstr("must be none, may"));
}

}  // namespace
}  // namespace ringpost
