// BoringSSL (libssl.so.0, unversioned symbols) and ldns (which links
// OpenSSL 3's libssl.so.3/libcrypto.so.3, versioned OPENSSL_3.0.0) share
// the relay's process. Both define SSL_new, EVP_* and friends: this test
// runs a TLS handshake and an ldns parse in one binary, so a symbol bound
// to the wrong library shows up here rather than in production
// (../shared/DESIGN.md asks for exactly this test).
#include <memory>
#include <string>

#include "dns/message.h"
#include "gtest/gtest.h"
#include "relay/tls/channel.h"
#include "relay/tls/context.h"
#include "relay/tls/test_certs.h"

namespace ringpost::tls {
namespace {

TEST(TlsWithLdnsTest, HandshakeAndDnsParseInOneProcess) {
  testing::TestCa ca;
  testing::KeyPair pair = ca.Issue(testing::CertSpec{});
  auto server = ServerContext::Create(testing::WriteTempFile("ldns-cert.pem", pair.cert_pem),
                                      testing::WriteTempFile("ldns-key.pem", pair.key_pem));
  ASSERT_TRUE(server.ok()) << server.status();
  ClientContext::Options options;
  options.ca_file = testing::WriteTempFile("ldns-ca.pem", ca.cert_pem());
  ClientContext client_context(options);
  ServerContext::UniqueCtx ctx = (*server)->Current();
  std::unique_ptr<Channel> s = Channel::NewServer(ctx.get());
  std::unique_ptr<Channel> c = Channel::NewClient(&client_context, "localhost", true, "d");
  std::string to_server, to_client, plain;
  c->Start(&to_server);
  for (int round = 0; round < 10 && !(c->handshake_done() && s->handshake_done()); round++) {
    ASSERT_EQ(s->Receive(to_server, &plain, &to_client), Channel::Result::kOk) << s->error();
    to_server.clear();
    ASSERT_EQ(c->Receive(to_client, &plain, &to_server), Channel::Result::kOk) << c->error();
    to_client.clear();
  }
  ASSERT_TRUE(c->handshake_done());
  EXPECT_TRUE(c->Info().verified);

  // ldns: a query, and the reply made from it (QR set, no records).
  dns::Question q{"example.com", dns::RrType::kMx};
  absl::StatusOr<std::string> query = dns::EncodeQuery(q, 0x1234, 0);
  ASSERT_TRUE(query.ok()) << query.status();
  std::string reply = *query;
  reply[2] = static_cast<char>(reply[2] | 0x80);  // QR: a response
  reply[3] = static_cast<char>(reply[3] | 0x80);  // RA
  absl::StatusOr<dns::Response> r = dns::DecodeResponse(reply, q, 0x1234);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rcode, 0);
  EXPECT_TRUE(r->answers.empty());
}

}  // namespace
}  // namespace ringpost::tls
