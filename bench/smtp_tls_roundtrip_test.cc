// bench/smtp_tls_roundtrip_test.cc — loadgen --tls against the sink with a
// certificate, in this process over loopback: STARTTLS, the handshake and
// every message through tls::Channel on both sides, counted by both; a
// dropped connection resumes its session; a sink without TLS is refused.
#include <algorithm>
#include <string>
#include <vector>

#include "bench/loadgen.h"
#include "bench/roundtrip.h"
#include "bench/sink.h"
#include "gtest/gtest.h"
#include "relay/tls/test_certs.h"

namespace ringpost::bench {
namespace {

class SmtpTlsRoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tls::testing::TestCa ca;
    tls::testing::KeyPair pair = ca.Issue(tls::testing::CertSpec{});
    cert_ = tls::testing::WriteTempFile("sink-cert.pem", pair.cert_pem);
    key_ = tls::testing::WriteTempFile("sink-key.pem", pair.key_pem);
  }

  SinkOptions TlsSink() const {
    SinkOptions so;
    so.tls_cert = cert_;
    so.tls_key = key_;
    return so;
  }

  static LoadgenOptions TlsLoad(uint64_t messages, int connections) {
    LoadgenOptions o;
    o.messages = messages;
    o.connections = connections;
    o.tls = true;
    return o;
  }


  static void ExpectAllDeliveredOverTls(RunResult& run, uint64_t n, uint64_t connections) {
    EXPECT_TRUE(run.lg.AllAccepted());
    EXPECT_EQ(run.lg.accepted, n);
    EXPECT_EQ(run.lg.errors, 0u);
    EXPECT_EQ(run.sink.messages, n);
    EXPECT_EQ(run.sink.tls_messages, n);
    EXPECT_EQ(run.sink.protocol_errors, 0u);
    EXPECT_EQ(run.sink.connections, connections);
    EXPECT_EQ(run.sink.tls_handshakes, connections);
    EXPECT_EQ(run.lg.tls_handshakes, connections);
    std::sort(run.lg.accepted_ids.begin(), run.lg.accepted_ids.end());
    std::sort(run.sink_ids.begin(), run.sink_ids.end());
    EXPECT_TRUE(run.lg.accepted_ids == run.sink_ids);
  }

  std::string cert_;
  std::string key_;
};

TEST_F(SmtpTlsRoundTripTest, DataOverStartTls) {
  RunResult run = RoundTrip(TlsSink(), TlsLoad(2000, 4));
  ExpectAllDeliveredOverTls(run, 2000, 4);
  EXPECT_EQ(run.sink.bytes, 2000u * 1024u);
}

TEST_F(SmtpTlsRoundTripTest, PipelinedBdatOverStartTls) {
  LoadgenOptions lo = TlsLoad(2000, 4);
  lo.chunking = true;
  lo.inflight = 32;
  lo.size = 70000;  // several records per message
  RunResult run = RoundTrip(TlsSink(), lo);
  ExpectAllDeliveredOverTls(run, 2000, 4);
  EXPECT_EQ(run.sink.bdat_chunks, 2000u);
  EXPECT_EQ(run.sink.bytes, 2000u * 70000u);
}

TEST_F(SmtpTlsRoundTripTest, ReconnectsResumeTheSession) {
  SinkOptions so = TlsSink();
  so.drop = 0.05;
  so.seed = 3;
  LoadgenOptions lo = TlsLoad(1000, 2);
  RunResult run = RoundTrip(so, lo);
  ASSERT_GT(run.sink.dropped, 0u);
  EXPECT_EQ(run.lg.accepted, run.sink.messages);
  EXPECT_EQ(run.sink.tls_messages, run.sink.messages);
  EXPECT_EQ(run.lg.tls_handshakes, run.sink.tls_handshakes);
  EXPECT_EQ(run.sink.tls_handshakes, run.sink.connections);
  // The ticket comes with the reply to the first EHLO, before any message,
  // so every session after the first of each connection resumes (the
  // second connection's first one may too: same thread, same target).
  EXPECT_GE(run.lg.tls_resumed + 2, run.lg.tls_handshakes);
  EXPECT_GT(run.lg.tls_resumed, 0u);
}

TEST_F(SmtpTlsRoundTripTest, SinkWithoutTlsIsRefused) {
  LoadgenOptions lo = TlsLoad(10, 1);
  lo.reconnect_attempts = 0;
  RunResult run = RoundTrip(SinkOptions(), lo);
  EXPECT_FALSE(run.lg.AllAccepted());
  EXPECT_EQ(run.lg.attempted, 0u);
  EXPECT_EQ(run.lg.tls_handshakes, 0u);
  EXPECT_EQ(run.sink.messages, 0u);
}

TEST_F(SmtpTlsRoundTripTest, BadTlsOptionsAreErrors) {
  SinkOptions so = TlsSink();
  so.listen = "127.0.0.1:0";
  so.tls_key.clear();
  EXPECT_FALSE(Sink::Start(so).ok());
  so.tls_key = cert_;  // a certificate is not a key
  auto bad = Sink::Start(so);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tls_key"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace ringpost::bench
