#include "relay/tls/channel.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "relay/tls/context.h"
#include "relay/tls/test_certs.h"

namespace ringpost::tls {
namespace {

using testing::CertSpec;
using testing::KeyPair;
using testing::KeyType;
using testing::TestCa;
using testing::WriteTempFile;

// A client and a server channel wired back to back in memory.
struct Pair {
  std::unique_ptr<Channel> client;
  std::unique_ptr<Channel> server;
  std::string client_plain;  // what the client received
  std::string server_plain;
  Channel::Result client_result = Channel::Result::kOk;
  Channel::Result server_result = Channel::Result::kOk;

  // Moves bytes both ways until neither side has anything to say.
  void Pump(std::string to_server = {}, std::string to_client = {}) {
    for (int round = 0; round < 20 && (!to_server.empty() || !to_client.empty()); round++) {
      std::string out;
      if (!to_server.empty()) {
        server_result = server->Receive(to_server, &server_plain, &out);
        to_server.clear();
        to_client += out;
        out.clear();
      }
      if (!to_client.empty()) {
        client_result = client->Receive(to_client, &client_plain, &out);
        to_client.clear();
        to_server += out;
      }
    }
  }
  void Handshake() {
    std::string hello;
    client->Start(&hello);
    ASSERT_FALSE(hello.empty());
    Pump(hello);
  }
  // Sends plaintext from one side to the other.
  void ClientSends(std::string_view text) {
    std::string wire;
    ASSERT_EQ(client->Send(text, &wire), Channel::Result::kOk);
    Pump(wire);
  }
  void ServerSends(std::string_view text) {
    std::string wire;
    ASSERT_EQ(server->Send(text, &wire), Channel::Result::kOk);
    Pump({}, wire);
  }
};

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_path_ = WriteTempFile("ca.pem", ca_.cert_pem());
    Serve(ca_.Issue(CertSpec{}));
  }
  // Makes the server present `pair`.
  void Serve(const KeyPair& pair) {
    std::string cert = WriteTempFile("cert.pem", pair.cert_pem);
    std::string key = WriteTempFile("key.pem", pair.key_pem);
    absl::StatusOr<std::unique_ptr<ServerContext>> server = ServerContext::Create(cert, key);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  Pair Connect(ClientContext* client, std::string_view name, bool verify,
               std::string key = "dest") {
    Pair p;
    ServerContext::UniqueCtx ctx = server_->Current();
    p.server = Channel::NewServer(ctx.get());
    p.client = Channel::NewClient(client, name, verify, std::move(key));
    return p;
  }
  ClientContext::Options ClientOptions() const {
    ClientContext::Options o;
    o.ca_file = ca_path_;
    return o;
  }

  TestCa ca_;
  std::string ca_path_;
  std::unique_ptr<ServerContext> server_;
};

TEST_F(ChannelTest, HandshakeAndDataBothWays) {
  ClientContext client(ClientOptions());
  EXPECT_EQ(client.ca_error(), "");
  Pair p = Connect(&client, "localhost", /*verify=*/true);
  p.Handshake();
  ASSERT_TRUE(p.client->handshake_done()) << p.client->error();
  ASSERT_TRUE(p.server->handshake_done()) << p.server->error();
  p.ServerSends("220 ready\r\n");
  EXPECT_EQ(p.client_plain, "220 ready\r\n");
  std::string big(100000, 'x');
  p.ClientSends(big);
  EXPECT_EQ(p.server_plain, big);
  ChannelInfo info = p.client->Info();
  EXPECT_EQ(info.version, "TLSv1.3");
  EXPECT_EQ(info.cipher.rfind("TLS_", 0), 0u) << info.cipher;
  EXPECT_TRUE(info.verified);
  EXPECT_FALSE(info.resumed);
  EXPECT_EQ(p.server->Description(), "TLSv1.3 with cipher " + p.server->Info().cipher);
}

TEST_F(ChannelTest, RsaCertificate) {
  CertSpec spec;
  spec.key = KeyType::kRsa2048;
  Serve(ca_.Issue(spec));
  ClientContext client(ClientOptions());
  Pair p = Connect(&client, "localhost", /*verify=*/true);
  p.Handshake();
  EXPECT_TRUE(p.client->handshake_done()) << p.client->error();
}

TEST_F(ChannelTest, VerifiesAnAddressLiteralAgainstIpEntries) {
  CertSpec spec;
  spec.name = "127.0.0.1";
  Serve(ca_.Issue(spec));
  ClientContext client(ClientOptions());
  Pair p = Connect(&client, "127.0.0.1", /*verify=*/true);
  p.Handshake();
  EXPECT_TRUE(p.client->handshake_done()) << p.client->error();
  Pair wrong = Connect(&client, "127.0.0.2", /*verify=*/true);
  wrong.Handshake();
  EXPECT_NE(wrong.client->error().find("certificate name mismatch (expected 127.0.0.2)"),
            std::string::npos)
      << wrong.client->error();
}

TEST_F(ChannelTest, ResumesPerDestination) {
  ClientContext client(ClientOptions());
  {
    Pair p = Connect(&client, "localhost", /*verify=*/false);
    p.Handshake();
    // TLS 1.3 tickets come after the handshake, with the first data.
    p.ServerSends("220 ready\r\n");
    ASSERT_EQ(client.cached_sessions(), 1u);
  }
  Pair again = Connect(&client, "localhost", /*verify=*/false);
  again.Handshake();
  ASSERT_TRUE(again.client->handshake_done());
  EXPECT_TRUE(again.client->Info().resumed);
  // A verifying handshake does not reuse the unverified session.
  Pair verify = Connect(&client, "localhost", /*verify=*/true);
  verify.Handshake();
  ASSERT_TRUE(verify.client->handshake_done());
  EXPECT_FALSE(verify.client->Info().resumed);
  // Another destination starts from scratch.
  Pair other = Connect(&client, "localhost", /*verify=*/false, "other");
  other.Handshake();
  EXPECT_FALSE(other.client->Info().resumed);
  EXPECT_EQ(client.handshakes(), 4u);
  EXPECT_EQ(client.resumed(), 1u);
}

struct VerifyCase {
  const char* what;
  CertSpec spec;
  bool self_signed;
  const char* error;
};

TEST_F(ChannelTest, VerifyRefusesBadCertificatesWithAReason) {
  const int64_t kDay = 86400;
  const VerifyCase cases[] = {
      {"self-signed", CertSpec{}, true, "untrusted certificate"},
      {"expired", CertSpec{"localhost", KeyType::kEcdsaP256, -10 * kDay, -kDay}, false,
       "certificate expired"},
      {"wrong name", CertSpec{"other.example", KeyType::kEcdsaP256, -kDay, kDay}, false,
       "certificate name mismatch (expected localhost)"},
  };
  for (const VerifyCase& c : cases) {
    SCOPED_TRACE(c.what);
    Serve(c.self_signed ? testing::SelfSigned(c.spec) : ca_.Issue(c.spec));
    ClientContext client(ClientOptions());
    Pair p = Connect(&client, "localhost", /*verify=*/true);
    p.Handshake();
    EXPECT_FALSE(p.client->handshake_done());
    EXPECT_EQ(p.client_result, Channel::Result::kError);
    EXPECT_NE(p.client->error().find(c.error), std::string::npos) << p.client->error();
    EXPECT_EQ(p.client->error().rfind("TLS handshake failed: ", 0), 0u);
    // The same certificate is fine when any certificate will do.
    Pair any = Connect(&client, "localhost", /*verify=*/false);
    any.Handshake();
    EXPECT_TRUE(any.client->handshake_done()) << any.client->error();
    EXPECT_FALSE(any.client->Info().verified);
  }
}

TEST_F(ChannelTest, MissingCaFileMakesVerifyFailButNotTheContext) {
  ClientContext::Options o;
  o.ca_file = "/nonexistent/ca.pem";
  ClientContext client(o);
  EXPECT_NE(client.ca_error().find("/nonexistent/ca.pem"), std::string::npos);
  Pair p = Connect(&client, "localhost", /*verify=*/true);
  p.Handshake();
  EXPECT_NE(p.client->error().find("untrusted certificate"), std::string::npos)
      << p.client->error();
}

TEST_F(ChannelTest, PlaintextAtATlsServerIsAnError) {
  ServerContext::UniqueCtx ctx = server_->Current();
  std::unique_ptr<Channel> server = Channel::NewServer(ctx.get());
  std::string plain, wire;
  EXPECT_EQ(server->Receive("EHLO client.example\r\n", &plain, &wire), Channel::Result::kError);
  EXPECT_EQ(plain, "");
  EXPECT_EQ(server->error().rfind("TLS handshake failed: ", 0), 0u) << server->error();
  // Further input is refused without touching BoringSSL again.
  EXPECT_EQ(server->Receive("more", &plain, &wire), Channel::Result::kError);
}

TEST_F(ChannelTest, CloseNotifyEndsTheStream) {
  ClientContext client(ClientOptions());
  Pair p = Connect(&client, "localhost", /*verify=*/false);
  p.Handshake();
  std::string wire;
  p.client->Close(&wire);
  ASSERT_FALSE(wire.empty());
  p.Pump(wire);
  EXPECT_EQ(p.server_result, Channel::Result::kClosed);
}

TEST_F(ChannelTest, ByteAtATimeHandshake) {
  ClientContext client(ClientOptions());
  Pair p = Connect(&client, "localhost", /*verify=*/true);
  std::string to_server;
  p.client->Start(&to_server);
  for (int round = 0; round < 10 && !to_server.empty(); round++) {
    std::string to_client;
    for (char c : to_server) {
      ASSERT_EQ(p.server->Receive(std::string_view(&c, 1), &p.server_plain, &to_client),
                Channel::Result::kOk);
    }
    to_server.clear();
    for (char c : to_client) {
      ASSERT_EQ(p.client->Receive(std::string_view(&c, 1), &p.client_plain, &to_server),
                Channel::Result::kOk);
    }
  }
  EXPECT_TRUE(p.client->handshake_done());
  EXPECT_TRUE(p.server->handshake_done());
}

TEST_F(ChannelTest, ReloadKeepsOldPairOnBadFilesAndSwapsOnGoodOnes) {
  EXPECT_EQ(server_->generation(), 1u);
  ServerContext::UniqueCtx before = server_->Current();
  // Break the files the context reads.
  WriteTempFile("cert.pem", "not a certificate");
  absl::Status bad = server_->Reload();
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("cert.pem"), std::string::npos) << bad;
  EXPECT_EQ(server_->generation(), 1u);
  // A key that does not match the certificate.
  KeyPair a = ca_.Issue(CertSpec{});
  KeyPair b = ca_.Issue(CertSpec{});
  WriteTempFile("cert.pem", a.cert_pem);
  WriteTempFile("key.pem", b.key_pem);
  bad = server_->Reload();
  EXPECT_NE(bad.message().find("does not match"), std::string::npos) << bad;
  EXPECT_EQ(server_->generation(), 1u);
  // A good pair is taken by new handshakes; the old context still serves.
  WriteTempFile("key.pem", a.key_pem);
  EXPECT_TRUE(server_->Reload().ok());
  EXPECT_EQ(server_->generation(), 2u);
  ClientContext client(ClientOptions());
  Pair old_ctx;
  old_ctx.server = Channel::NewServer(before.get());
  old_ctx.client = Channel::NewClient(&client, "localhost", true, "x");
  old_ctx.Handshake();
  EXPECT_TRUE(old_ctx.client->handshake_done()) << old_ctx.client->error();
}

}  // namespace
}  // namespace ringpost::tls
