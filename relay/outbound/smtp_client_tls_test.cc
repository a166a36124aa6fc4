// smtp_client_tls_test.cc — STARTTLS (RFC 3207) in the outbound state
// machine: when the client asks for it per TlsWant, what it does when the
// peer does not offer it or refuses it, the handshake handed to the host,
// the EHLO again inside TLS with only its capabilities kept, plaintext bytes
// after the 220 never read as replies, and the reply waited for meanwhile.
// The recording host is smtp_client_test_host.h's.
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "relay/outbound/smtp_client.h"
#include "relay/outbound/smtp_client_test_host.h"
#include "relay/smtp/reply_parser.h"

namespace ringpost::client {
namespace {

using test::TestHost;
using test::Txn;

constexpr char kEhloTls[] =
    "250-s\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n";
constexpr char kTlsRequired[] = "TLS is required, but the server does not offer STARTTLS";

// A client whose greeting has been answered with EHLO sent; the output is
// drained.
void Greeted(SmtpClient& c, TestHost& h, TlsWant want) {
  c.set_tls(want);
  c.Feed("220 s\r\n");
  ASSERT_EQ(h.Take(), "EHLO relay.test\r\n");
}

// Everything up to the handshake: EHLO offering STARTTLS, STARTTLS, 220.
void UpToHandshake(SmtpClient& c, TestHost& h, TlsWant want) {
  Greeted(c, h, want);
  c.Feed(kEhloTls);
  ASSERT_EQ(h.Take(), "STARTTLS\r\n");
  c.Feed("220 2.0.0 Ready to start TLS\r\n");
  ASSERT_EQ(h.start_tls, 1);
}

// What the session does with the server's replies after the greeting.
struct Case {
  const char* name;
  TlsWant want;
  std::string server;    // replies after the greeting, in one read
  std::string sent;      // what the client sends after its first EHLO
  bool idle;             // reached idle in plaintext (else ended)
  int end_code;          // when ended
  std::string end_enhanced;
  std::string end_text;
};

class StartTlsCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(StartTlsCaseTest, Outcome) {
  const Case& k = GetParam();
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greeted(c, h, k.want);
  c.Feed(k.server);
  EXPECT_EQ(h.Take(), k.sent);
  EXPECT_EQ(h.start_tls, 0);
  EXPECT_FALSE(c.tls_active());
  EXPECT_EQ(c.idle(), k.idle);
  EXPECT_EQ(h.idle, k.idle ? 1 : 0);
  EXPECT_EQ(h.ended, !k.idle);
  EXPECT_EQ(c.ended(), !k.idle);
  if (!k.idle) {
    EXPECT_EQ(h.end_reason.code, k.end_code);
    EXPECT_EQ(h.end_reason.enhanced, k.end_enhanced);
    EXPECT_EQ(h.end_reason.text, k.end_text);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StartTlsCaseTest,
    ::testing::Values(
        Case{"NoneNeverSendsStartTlsEvenWhenOffered", TlsWant::kNone, kEhloTls,
             "", true, 0, "", ""},
        Case{"NoneWithHelo", TlsWant::kNone, "502 no\r\n250 s\r\n",
             "HELO relay.test\r\n", true, 0, "", ""},
        Case{"MayNotOfferedGoesIdle", TlsWant::kMay,
             "250-s\r\n250 PIPELINING\r\n", "", true, 0, "", ""},
        Case{"MayWithHeloGoesIdle", TlsWant::kMay, "502 no\r\n250 s\r\n",
             "HELO relay.test\r\n", true, 0, "", ""},
        Case{"MayRefused454StaysInPlaintext", TlsWant::kMay,
             std::string(kEhloTls) + "454 4.7.0 TLS not available\r\n",
             "STARTTLS\r\n", true, 0, "", ""},
        Case{"MayRefused5xxStaysInPlaintext", TlsWant::kMay,
             std::string(kEhloTls) + "502 5.5.1 not implemented\r\n",
             "STARTTLS\r\n", true, 0, "", ""},
        Case{"May421Ends", TlsWant::kMay,
             std::string(kEhloTls) + "421 4.3.2 shutting down\r\n",
             "STARTTLS\r\n", false, 421, "4.3.2", "shutting down"},
        Case{"MayUnexpected250IsAProtocolError", TlsWant::kMay,
             std::string(kEhloTls) + "250 ok\r\n", "STARTTLS\r\n", false, 451,
             "4.5.0", "protocol error: unexpected reply to STARTTLS: 250 ok"},
        Case{"RequireNotOfferedEnds", TlsWant::kRequire,
             "250-s\r\n250 PIPELINING\r\n", "QUIT\r\n", false, 451, "4.7.5",
             kTlsRequired},
        Case{"RequireWithHeloEnds", TlsWant::kRequire, "502 no\r\n250 s\r\n",
             "HELO relay.test\r\nQUIT\r\n", false, 451, "4.7.5", kTlsRequired},
        Case{"RequireRefused454Ends", TlsWant::kRequire,
             std::string(kEhloTls) + "454 4.7.0 TLS not available\r\n",
             "STARTTLS\r\nQUIT\r\n", false, 451, "4.7.5",
             "TLS is required, but the server refused STARTTLS: 454 4.7.0 TLS "
             "not available"},
        Case{"RequireRefused421Ends", TlsWant::kRequire,
             std::string(kEhloTls) + "421 4.3.2 shutting down\r\n",
             "STARTTLS\r\nQUIT\r\n", false, 451, "4.7.5",
             "TLS is required, but the server refused STARTTLS: 421 4.3.2 "
             "shutting down"},
        Case{"RequireUnexpected250Ends", TlsWant::kRequire,
             std::string(kEhloTls) + "250 ok\r\n", "STARTTLS\r\nQUIT\r\n", false,
             451, "4.7.5",
             "TLS is required, but the server refused STARTTLS: 250 ok"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// kMay and kRequire alike: STARTTLS, the host's handshake, EHLO again, idle,
// and transactions as usual inside TLS.
TEST(SmtpClientTlsTest, UpgradesThenDeliversInsideTls) {
  for (TlsWant want : {TlsWant::kMay, TlsWant::kRequire}) {
    SCOPED_TRACE(static_cast<int>(want));
    TestHost h;
    SmtpClient c(&h, "relay.test");
    UpToHandshake(c, h, want);
    // Nothing goes out until the host says the handshake is done.
    EXPECT_EQ(h.Take(), "");
    EXPECT_FALSE(c.tls_active());
    EXPECT_FALSE(c.idle());
    EXPECT_FALSE(c.can_begin());
    EXPECT_EQ(h.idle, 0);
    c.TlsEstablished();
    EXPECT_TRUE(c.tls_active());
    EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
    c.Feed("250-s\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
    EXPECT_TRUE(c.idle());
    EXPECT_EQ(h.idle, 1);
    EXPECT_EQ(h.start_tls, 1);
    c.Begin(Txn({"b@y.test"}));
    EXPECT_EQ(h.Take(),
              "MAIL FROM:<a@x.test> SIZE=19\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
    EXPECT_EQ(h.Take(), "Subject: x\r\n\r\n..hi\r\n.\r\n");
    c.Feed("250 2.0.0 queued\r\n");
    ASSERT_EQ(h.results.size(), 1u);
    EXPECT_TRUE(h.results[0][0].delivered());
    EXPECT_FALSE(h.ended);
  }
}

// A refused STARTTLS voids nothing: the first EHLO's SIZE still applies.
TEST(SmtpClientTlsTest, RefusedKeepsThePlaintextCapabilities) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greeted(c, h, TlsWant::kMay);
  c.Feed(kEhloTls);
  EXPECT_EQ(h.Take(), "STARTTLS\r\n");
  c.Feed("454 4.7.0 TLS not available\r\n");
  EXPECT_TRUE(c.capabilities().Has(smtp::kExtPipelining));
  EXPECT_EQ(c.capabilities().size_max, 1000u);
  c.Begin(Txn({"b@y.test"}));
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> SIZE=19\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
}

// RFC 3207 4.2: inside TLS only the second EHLO counts. PIPELINING offered
// only there is used; SIZE offered only in plaintext is forgotten.
TEST(SmtpClientTlsTest, CapabilitiesComeFromTheEhloInsideTlsOnly) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greeted(c, h, TlsWant::kMay);
  c.Feed("250-s\r\n250-SIZE 10\r\n250 STARTTLS\r\n");
  EXPECT_EQ(h.Take(), "STARTTLS\r\n");
  c.Feed("220 go\r\n");
  c.TlsEstablished();
  EXPECT_FALSE(c.capabilities().Has(smtp::kExtStartTls));
  EXPECT_EQ(c.capabilities().size_max, 0u);
  EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  c.Feed("250-s\r\n250 PIPELINING\r\n");
  EXPECT_TRUE(c.capabilities().Has(smtp::kExtPipelining));
  EXPECT_FALSE(c.capabilities().Has(smtp::kExtSize));
  // 19 octets is over the forgotten SIZE 10: it goes, pipelined, no SIZE=.
  c.Begin(Txn({"b@y.test"}));
  EXPECT_TRUE(h.results.empty());
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
}

TEST(SmtpClientTlsTest, StartTlsOfferedAgainInsideTlsIsNotSent) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  UpToHandshake(c, h, TlsWant::kRequire);
  c.TlsEstablished();
  EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  c.Feed(kEhloTls);
  EXPECT_EQ(h.Take(), "");
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(h.idle, 1);
  EXPECT_EQ(h.start_tls, 1);
  EXPECT_FALSE(h.ended);
}

// Inside TLS a refused EHLO falls back to HELO as in plaintext; TLS is
// active, so kRequire is satisfied.
TEST(SmtpClientTlsTest, HeloInsideTlsSatisfiesRequire) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  UpToHandshake(c, h, TlsWant::kRequire);
  c.TlsEstablished();
  h.Take();
  c.Feed("502 5.5.1 no\r\n");
  EXPECT_EQ(h.Take(), "HELO relay.test\r\n");
  c.Feed("250 s\r\n");
  EXPECT_TRUE(c.idle());
  EXPECT_FALSE(h.ended);
  EXPECT_EQ(h.Take(), "");
}

// The client-side CVE-2011-0411: replies the server (or a man in the middle)
// sent in plaintext after the 220 must never be taken for replies inside
// TLS. Here an injected "250" would otherwise answer the EHLO inside TLS
// with no PIPELINING, and the real reply would then be an unsolicited 2xx.
TEST(SmtpClientTlsTest, BytesAfterThe220InTheSameReadAreDropped) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greeted(c, h, TlsWant::kMay);
  c.Feed(kEhloTls);
  EXPECT_EQ(h.Take(), "STARTTLS\r\n");
  c.Feed("220 go\r\n250 injected\r\n");
  EXPECT_EQ(h.start_tls, 1);
  EXPECT_EQ(h.Take(), "");
  c.TlsEstablished();
  EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  EXPECT_FALSE(c.idle());
  EXPECT_EQ(c.waiting_for(), Wait::kCommand);
  c.Feed("250-s\r\n250 PIPELINING\r\n");
  EXPECT_FALSE(h.ended);
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(h.idle, 1);
  EXPECT_TRUE(c.capabilities().Has(smtp::kExtPipelining));
}

// So are bytes fed while the handshake runs, even the start of a line
// (read with the EHLO reply, "25" would make it "25250-s", garbage).
TEST(SmtpClientTlsTest, BytesFedDuringTheHandshakeAreDropped) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  UpToHandshake(c, h, TlsWant::kMay);
  c.Feed("250 injected\r\n25");
  c.TlsEstablished();
  EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  c.Feed("250-s\r\n250 PIPELINING\r\n");
  EXPECT_FALSE(h.ended);
  EXPECT_TRUE(c.idle());
  EXPECT_TRUE(c.capabilities().Has(smtp::kExtPipelining));
}

// A host that finishes the handshake inside StartTls() (the EHLO goes out
// before the Feed that carried the 220 returns) still has the rest of that
// read dropped.
class SyncTlsHost : public TestHost {
 public:
  void StartTls() override {
    TestHost::StartTls();
    client->TlsEstablished();
  }
  SmtpClient* client = nullptr;
};

TEST(SmtpClientTlsTest, HandshakeInsideStartTlsStillDropsTheRestOfTheRead) {
  SyncTlsHost h;
  SmtpClient c(&h, "relay.test");
  h.client = &c;
  Greeted(c, h, TlsWant::kMay);
  c.Feed(kEhloTls);
  EXPECT_EQ(h.Take(), "STARTTLS\r\n");
  c.Feed("220 go\r\n250 injected\r\n");
  EXPECT_TRUE(c.tls_active());
  EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  EXPECT_FALSE(c.idle());
  c.Feed("250-s\r\n250 PIPELINING\r\n");
  EXPECT_FALSE(h.ended);
  EXPECT_TRUE(c.idle());
  EXPECT_TRUE(c.capabilities().Has(smtp::kExtPipelining));
}

// The host's timer follows the STARTTLS reply and then the handshake like
// any command.
TEST(SmtpClientTlsTest, WaitingForDuringStartTlsAndTheHandshake) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_tls(TlsWant::kRequire);
  EXPECT_EQ(c.waiting_for(), Wait::kGreeting);
  c.Feed("220 s\r\n");
  EXPECT_EQ(c.waiting_for(), Wait::kCommand);  // EHLO
  c.Feed(kEhloTls);
  EXPECT_EQ(c.waiting_for(), Wait::kCommand);  // STARTTLS
  c.Feed("220 go\r\n");
  EXPECT_EQ(c.waiting_for(), Wait::kCommand);  // the handshake
  c.TlsEstablished();
  EXPECT_EQ(c.waiting_for(), Wait::kCommand);  // EHLO inside TLS
  c.Feed("250 s\r\n");
  EXPECT_EQ(c.waiting_for(), Wait::kNone);
}

// A failed (or timed out) handshake is an Abort as anywhere else: nothing
// in flight to report, and a late TlsEstablished or read changes nothing.
TEST(SmtpClientTlsTest, AbortDuringTheHandshake) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  UpToHandshake(c, h, TlsWant::kRequire);
  c.Abort("TLS handshake failed");
  EXPECT_TRUE(c.ended());
  EXPECT_EQ(c.waiting_for(), Wait::kNone);
  EXPECT_TRUE(h.results.empty());
  c.TlsEstablished();
  c.Feed("250 s\r\n");
  EXPECT_FALSE(c.tls_active());
  EXPECT_EQ(h.Take(), "");
  EXPECT_FALSE(h.ended);  // Abort never calls OnSessionEnd
}

// The whole dialogue with every server byte in its own read; the host
// finishes the handshake between reads.
TEST(SmtpClientTlsTest, RepliesSplitAtEveryByte) {
  const std::string plain = std::string("220 s\r\n") + kEhloTls + "220 go\r\n";
  const std::string inside =
      "250-s\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 done\r\n";
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_tls(TlsWant::kRequire);
  for (char ch : plain) c.Feed(std::string_view(&ch, 1));
  ASSERT_EQ(h.start_tls, 1);
  c.TlsEstablished();
  bool begun = false;
  for (char ch : inside) {
    c.Feed(std::string_view(&ch, 1));
    if (c.idle() && !begun) {
      begun = true;
      c.Begin(Txn({"b@y.test"}));
    }
  }
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0][0].delivered());
}

TEST(SmtpClientTlsDeathTest, SetTlsOnlyBeforeTheGreetingIsAnswered) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  EXPECT_DEATH(c.set_tls(TlsWant::kMay), "CHECK failed: state_ == State::kGreeting");
}

TEST(SmtpClientTlsDeathTest, TlsEstablishedOnlyAfterStartTls) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  EXPECT_DEATH(c.TlsEstablished(), "CHECK failed: state_ == State::kTlsHandshake");
}

}  // namespace
}  // namespace ringpost::client
