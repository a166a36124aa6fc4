// smtp_client_dsn_test.cc — DSN (RFC 3461) on the outbound client: RET,
// ENVID, NOTIFY and ORCPT go to a peer that offers DSN, xtext-encoded and
// in canonical form, to no other peer; each recipient's values follow it
// into split transactions; next_hop_dsn marks what such a peer delivered.
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "queue/record.h"
#include "relay/outbound/smtp_client.h"
#include "relay/outbound/smtp_client_test_host.h"

namespace ringpost::client {
namespace {

using queue::DsnRet;
using queue::kNotifyDelay;
using queue::kNotifyFailure;
using queue::kNotifyNever;
using queue::kNotifySuccess;
using test::Greet;
using test::TestHost;
using test::Txn;

constexpr char kEhloDsn[] = "250-s\r\n250-PIPELINING\r\n250-DSN\r\n250 8BITMIME\r\n";
constexpr char kEhloNoDsn[] = "250-s\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

// A transaction with every DSN parameter, three recipients.
struct DsnTxn {
  DsnTxn() {
    dsn.ret = DsnRet::kHeaders;
    dsn.envid = "QQ+1 2=3";
    txn = Txn({"b@y.test", "c@y.test", "d@y.test"});
    txn.dsn = &dsn;
    txn.notify = {kNotifySuccess | kNotifyFailure, 0, kNotifyNever};
    txn.orcpt = {"rfc822;b+x=@y.test", "", "x-local;D d\xc3\xa9"};
  }
  queue::DsnFields dsn;
  Transaction txn;
};

TEST(SmtpClientDsnTest, SentXtextEncodedWhenThePeerOffersDsn) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloDsn);
  DsnTxn t;
  c.Begin(t.txn);
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ+2B1+202+3D3\r\n"
            "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx+3D@y.test\r\n"
            "RCPT TO:<c@y.test>\r\n"
            "RCPT TO:<d@y.test> NOTIFY=NEVER ORCPT=x-local;D+20d+C3+A9\r\n"
            "DATA\r\n");
}

TEST(SmtpClientDsnTest, NoneSentWhenThePeerDoesNotOfferDsn) {
  for (const char* ehlo : {kEhloNoDsn, test::kEhloPlain}) {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, ehlo);
    DsnTxn t;
    c.Begin(t.txn);
    std::string sent = h.Take();
    if (ehlo == test::kEhloPlain) {  // lock-step: MAIL first
      c.Feed("250 ok\r\n");
      sent += h.Take();
      c.Feed("250 ok\r\n");
      sent += h.Take();
      c.Feed("250 ok\r\n");
      sent += h.Take();
    }
    EXPECT_EQ(sent,
              std::string("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
                          "RCPT TO:<d@y.test>\r\n") +
                  (ehlo == test::kEhloPlain ? "" : "DATA\r\n"))
        << ehlo;
  }
}

TEST(SmtpClientDsnTest, LockStepSendsThemToo) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, "250-s\r\n250 DSN\r\n");
  DsnTxn t;
  c.Begin(t.txn);
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ+2B1+202+3D3\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx+3D@y.test\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "RCPT TO:<c@y.test>\r\n");
}

// Each combination of bits in RFC 3461's order; NEVER alone.
TEST(SmtpClientDsnTest, NotifyIsCanonical) {
  const std::pair<uint8_t, std::string> cases[] = {
      {0, ""},
      {kNotifySuccess, " NOTIFY=SUCCESS"},
      {kNotifyFailure, " NOTIFY=FAILURE"},
      {kNotifyDelay, " NOTIFY=DELAY"},
      {kNotifyDelay | kNotifySuccess, " NOTIFY=SUCCESS,DELAY"},
      {kNotifyDelay | kNotifyFailure, " NOTIFY=FAILURE,DELAY"},
      {kNotifySuccess | kNotifyFailure | kNotifyDelay, " NOTIFY=SUCCESS,FAILURE,DELAY"},
      {kNotifyNever, " NOTIFY=NEVER"},
      {16, ""},  // no such bit: nothing (the spool never holds one)
  };
  for (const auto& [bits, want] : cases) {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, kEhloDsn);
    Transaction t = Txn({"b@y.test"});
    t.notify = {bits};
    c.Begin(t);
    EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>" + want + "\r\nDATA\r\n")
        << int{bits};
  }
}

// ORCPT values the session never stores are left out rather than sent
// malformed.
TEST(SmtpClientDsnTest, OrcptOfTheWrongShapeIsNotSent) {
  const std::pair<std::string_view, std::string> cases[] = {
      {"", ""},
      {"rfc822;a@b", " ORCPT=rfc822;a@b"},
      {"rfc822;a;b", " ORCPT=rfc822;a;b"},  // ";" is an xchar
      {"no-separator", ""},
      {";a@b", ""},
      {"a=b;c", ""},
      {"a b;c", ""},
      {"a\r\nRSET;c", ""},
  };
  for (const auto& [orcpt, want] : cases) {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, kEhloDsn);
    Transaction t = Txn({"b@y.test"});
    t.orcpt = {orcpt};
    c.Begin(t);
    EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>" + want + "\r\nDATA\r\n")
        << orcpt;
  }
}

TEST(SmtpClientDsnTest, RetAndEnvidEachAlone) {
  const struct {
    DsnRet ret;
    std::string envid;
    std::string want;
  } cases[] = {
      {DsnRet::kFull, "", " RET=FULL"},
      {DsnRet::kHeaders, "", " RET=HDRS"},
      {DsnRet::kUnspecified, "id", " ENVID=id"},
      {DsnRet::kUnspecified, "", ""},
  };
  for (const auto& k : cases) {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, kEhloDsn);
    queue::DsnFields dsn;
    dsn.ret = k.ret;
    dsn.envid = k.envid;
    Transaction t = Txn({"b@y.test"});
    t.dsn = &dsn;
    c.Begin(t);
    EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>" + k.want + "\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  }
}

// A transaction split by max_recipients_per_transaction, and the recipients
// a 452 sends again: each RCPT keeps its own recipient's values, and every
// part repeats RET and ENVID.
TEST(SmtpClientDsnTest, ValuesFollowTheirRecipientIntoEveryPart) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_recipients_per_transaction(2);
  Greet(c, h, kEhloDsn);
  DsnTxn t;
  c.Begin(t.txn);
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ+2B1+202+3D3\r\n"
            "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx+3D@y.test\r\n"
            "RCPT TO:<c@y.test>\r\nDATA\r\n");
  // b accepted, c "too many recipients": c goes again, with d.
  c.Feed("250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n354 go\r\n");
  h.Take();
  c.Feed("250 2.0.0 queued\r\n");
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ+2B1+202+3D3\r\n"
            "RCPT TO:<c@y.test>\r\n"
            "RCPT TO:<d@y.test> NOTIFY=NEVER ORCPT=x-local;D+20d+C3+A9\r\n"
            "DATA\r\n");
  c.Feed("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  h.Take();
  c.Feed("250 2.0.0 queued\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  for (const RecipientOutcome& o : h.results[0]) {
    EXPECT_TRUE(o.delivered());
    EXPECT_TRUE(o.next_hop_dsn);
  }
}

// next_hop_dsn: set on what a DSN peer delivered, never on refusals,
// failures at the end of data, local failures, or a peer without DSN.
TEST(SmtpClientDsnTest, NextHopDsnMarksWhatADsnPeerDelivered) {
  for (const char* ehlo : {kEhloDsn, kEhloNoDsn}) {
    const bool dsn = ehlo == kEhloDsn;
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, ehlo);
    DsnTxn t;
    c.Begin(t.txn);
    c.Feed("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n");
    c.Feed("250 2.0.0 queued\r\n");
    ASSERT_EQ(h.results.size(), 1u);
    const std::vector<RecipientOutcome>& r = h.results[0];
    EXPECT_TRUE(r[0].delivered());
    EXPECT_EQ(r[0].next_hop_dsn, dsn) << ehlo;
    EXPECT_EQ(r[1].code, 550);
    EXPECT_FALSE(r[1].next_hop_dsn);
    EXPECT_EQ(r[2].next_hop_dsn, dsn);
    // The same peer refusing the content: no recipient is marked.
    c.Begin(t.txn);
    c.Feed("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    c.Feed("554 5.7.1 spam\r\n");
    ASSERT_EQ(h.results.size(), 2u);
    for (const RecipientOutcome& o : h.results[1]) {
      EXPECT_EQ(o.code, 554);
      EXPECT_FALSE(o.next_hop_dsn);
    }
  }
  // Local failure (over the peer's SIZE): nothing was sent, nothing marked.
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, "250-s\r\n250-DSN\r\n250 SIZE 5\r\n");
  DsnTxn t;
  c.Begin(t.txn);
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 552);
  EXPECT_FALSE(h.results[0][0].next_hop_dsn);
  EXPECT_EQ(h.Take(), "");
}

// Outcome slots are reused: a mark from one transaction never leaks into
// the next one's outcome for the same slot.
TEST(SmtpClientDsnTest, NextHopDsnDoesNotLeakIntoTheNextTransaction) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloDsn);
  c.Begin(Txn({"b@y.test"}));
  c.Feed("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n");
  c.Begin(Txn({"b@y.test"}));
  c.Feed("250 ok\r\n451 4.3.0 later\r\n354 go\r\n.\r\n");
  c.Feed("250 queued\r\n");
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_TRUE(h.results[0][0].next_hop_dsn);
  EXPECT_EQ(h.results[1][0].code, 451);
  EXPECT_FALSE(h.results[1][0].next_hop_dsn);
}

// STARTTLS: only what the EHLO inside TLS offers counts.
TEST(SmtpClientDsnTest, DsnOfferedOnlyBeforeTlsIsNotUsed) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_tls(TlsWant::kMay);
  c.Feed("220 s\r\n");
  c.Feed("250-s\r\n250-DSN\r\n250 STARTTLS\r\n");
  c.Feed("220 go ahead\r\n");
  ASSERT_EQ(h.start_tls, 1);
  c.TlsEstablished();
  c.Feed("250-s\r\n250 PIPELINING\r\n");
  h.Take();
  DsnTxn t;
  c.Begin(t.txn);
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
            "RCPT TO:<d@y.test>\r\nDATA\r\n");
}

}  // namespace
}  // namespace ringpost::client
