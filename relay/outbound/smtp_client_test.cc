// smtp_client_test.cc — the outbound state machine's dialogue against
// scripted server replies: pipelined, lock-step and chunked transactions,
// several transactions on one connection, replies split at every byte, the
// reply waited for in each phase, recipients over the per-transaction
// limit, and what the peer's extensions allow (SMTPUTF8, 8BITMIME, long
// lines). Failures, unexpected replies and lost connections are in
// smtp_client_errors_test.cc; the host and helpers both use are in
// smtp_client_test_host.h.
#include "relay/outbound/smtp_client.h"

#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "relay/outbound/smtp_client_test_host.h"
#include "relay/smtp/mime_downgrade.h"

namespace ringpost::client {
namespace {

using test::Greet;
using test::kEhloPipelining;
using test::kEhloPlain;
using test::kEhloStream;
using test::TestHost;
using test::Txn;

TEST(SmtpClientTest, PipelinedTransaction) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 sink.test ESMTP\r\n");
  EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  c.Feed(kEhloPipelining);
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(h.idle, 1);
  c.Begin(Txn({"b@y.test", "c@y.test"}));
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> SIZE=19\r\nRCPT TO:<b@y.test>\r\n"
            "RCPT TO:<c@y.test>\r\nDATA\r\n");
  c.Feed("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no such user\r\n354 go\r\n");
  EXPECT_EQ(h.Take(), "Subject: x\r\n\r\n..hi\r\n.\r\n");
  c.Feed("250 2.0.0 Ok: queued as X\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 250);
  EXPECT_EQ(h.results[0][0].enhanced, "2.0.0");
  EXPECT_EQ(h.results[0][0].text, "Ok: queued as X");
  EXPECT_EQ(h.results[0][1].code, 550);
  EXPECT_EQ(h.results[0][1].enhanced, "5.1.1");
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(h.idle, 2);
  c.Quit();
  EXPECT_EQ(h.Take(), "QUIT\r\n");
  c.Feed("221 2.0.0 Bye\r\n");
  EXPECT_TRUE(h.ended);
}

TEST(SmtpClientTest, ChunkingSendsOneBdatLastWithRawContent) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  c.Feed("250-s\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
  h.Take();
  c.Begin(Txn({"b@y.test", "c@y.test"}));
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
            "BDAT 19 LAST\r\nSubject: x\r\n\r\n.hi\r\n");
  c.Feed("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0][0].delivered());
  EXPECT_EQ(h.results[0][1].code, 550);
  EXPECT_TRUE(c.idle());
}

TEST(SmtpClientTest, ChunkingWithoutPipeliningIsLockStep) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  c.Feed("250-s\r\n250 CHUNKING\r\n");
  h.Take();
  c.Begin(Txn({"b@y.test"}));
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "RCPT TO:<b@y.test>\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "BDAT 19 LAST\r\nSubject: x\r\n\r\n.hi\r\n");
  c.Feed("451 4.3.0 later\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 451);
}

TEST(SmtpClientTest, StreamsSeveralTransactionsWithPipeliningAndChunking) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(3);
  c.Feed("220 s\r\n");
  c.Feed("250-s\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
  h.Take();
  EXPECT_EQ(c.capacity(), 3u);
  int cookies[4];
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.can_begin());
    Transaction t = Txn({"b@y.test"});
    t.cookie = &cookies[i];
    c.Begin(t);
  }
  EXPECT_FALSE(c.can_begin());
  EXPECT_EQ(c.in_flight(), 3u);
  const std::string one = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                          "BDAT 19 LAST\r\nSubject: x\r\n\r\n.hi\r\n";
  EXPECT_EQ(h.Take(), one + one + one);
  // Replies in order: first delivered, second rejected at MAIL, third 451.
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"
         "550 5.7.1 no\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"
         "250 ok\r\n250 ok\r\n451 4.3.0 later\r\n");
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.cookies[0], &cookies[0]);
  EXPECT_TRUE(h.results[0][0].delivered());
  EXPECT_EQ(h.cookies[1], &cookies[1]);
  EXPECT_EQ(h.results[1][0].code, 550);
  EXPECT_EQ(h.results[2][0].code, 451);
  EXPECT_TRUE(c.idle());
  EXPECT_TRUE(c.can_begin());
  // A lost connection fails whatever is in flight, temporarily.
  Transaction t = Txn({"b@y.test"});
  t.cookie = &cookies[3];
  c.Begin(t);
  c.Abort("connection lost");
  ASSERT_EQ(h.results.size(), 4u);
  EXPECT_EQ(h.cookies[3], &cookies[3]);
  EXPECT_EQ(h.results[3][0].code, 451);
}

TEST(SmtpClientTest, LockStepWithoutPipeliningAndHeloFallback) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 old.test\r\n");
  h.Take();
  c.Feed("502 5.5.1 what\r\n");
  EXPECT_EQ(h.Take(), "HELO relay.test\r\n");
  c.Feed(kEhloPlain);
  c.Begin(Txn({"b@y.test"}));
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "RCPT TO:<b@y.test>\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "DATA\r\n");
  c.Feed("354 go\r\n");
  h.Take();
  c.Feed("451 4.3.0 try later\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 451);
  EXPECT_FALSE(h.results[0][0].delivered());
}

TEST(SmtpClientTest, RepliesSplitAtEveryByte) {
  const std::string server =
      "220 s\r\n" + std::string(kEhloPipelining) +
      "250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 done\r\n";
  TestHost h;
  SmtpClient c(&h, "relay.test");
  bool begun = false;
  for (char ch : server) {
    c.Feed(std::string_view(&ch, 1));
    if (c.idle() && !begun) {
      begun = true;
      c.Begin(Txn({"b@y.test"}));
    }
  }
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0][0].delivered());
}

// Defect 2 (issue 11 item 5, client half): the reply waited for, per phase.
TEST(SmtpClientTest, WaitingForFollowsEachPhaseLockStep) {
  using W = Wait;
  TestHost h;
  SmtpClient c(&h, "relay.test");
  EXPECT_EQ(c.waiting_for(), W::kGreeting);
  c.Feed("220 s\r\n");
  EXPECT_EQ(c.waiting_for(), W::kCommand);  // EHLO
  c.Feed("502 no\r\n");
  EXPECT_EQ(c.waiting_for(), W::kCommand);  // HELO
  c.Feed(kEhloPlain);
  EXPECT_EQ(c.waiting_for(), W::kNone);
  c.Begin(Txn({"b@y.test", "c@y.test"}));
  EXPECT_EQ(c.waiting_for(), W::kMail);
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.waiting_for(), W::kRcpt);
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.waiting_for(), W::kRcpt);
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.waiting_for(), W::kDataInit);
  c.Feed("354 go\r\n");
  EXPECT_EQ(c.waiting_for(), W::kDataTerm);
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.waiting_for(), W::kNone);
  // A failed transaction: RSET is awaited like any command.
  c.Begin(Txn({"b@y.test"}));
  c.Feed("550 5.7.1 no\r\n");
  EXPECT_TRUE(h.Take().ends_with("RSET\r\n"));
  EXPECT_EQ(c.waiting_for(), W::kCommand);
  EXPECT_FALSE(c.can_begin());
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.waiting_for(), W::kNone);
  c.Quit();
  EXPECT_EQ(c.waiting_for(), W::kCommand);
  c.Feed("221 bye\r\n");
  EXPECT_EQ(c.waiting_for(), W::kNone);
  EXPECT_TRUE(c.ended());
}

TEST(SmtpClientTest, WaitingForFollowsEachPhasePipelinedAndChunking) {
  using W = Wait;
  {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, kEhloPipelining);
    c.Begin(Txn({"b@y.test"}));
    EXPECT_EQ(c.waiting_for(), W::kMail);
    c.Feed("250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kRcpt);
    c.Feed("250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kDataInit);
    c.Feed("354 go\r\n");
    EXPECT_EQ(c.waiting_for(), W::kDataTerm);
  }
  {  // CHUNKING without PIPELINING: after RCPT, the BDAT LAST reply.
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, "250-s\r\n250 CHUNKING\r\n");
    c.Begin(Txn({"b@y.test"}));
    c.Feed("250 ok\r\n250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kDataTerm);
  }
  {  // Streaming: the oldest transaction in flight decides.
    TestHost h;
    SmtpClient c(&h, "relay.test");
    c.set_max_in_flight(4);
    Greet(c, h, kEhloStream);
    c.Begin(Txn({"b@y.test"}));
    c.Begin(Txn({"c@y.test"}));
    EXPECT_EQ(c.waiting_for(), W::kMail);
    c.Feed("250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kRcpt);
    c.Feed("250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kDataTerm);
    c.Feed("250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kMail);
    c.Feed("250 ok\r\n250 ok\r\n250 ok\r\n");
    EXPECT_EQ(c.waiting_for(), W::kNone);
    c.Abort("gone");
    EXPECT_EQ(c.waiting_for(), W::kNone);
  }
}

// Defect 5 (issue 11 item 9): recipients per transaction.
TEST(SmtpClientTest, RecipientsOverTheLimitGoInSeveralTransactions) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_recipients_per_transaction(2);
  Greet(c, h, kEhloPipelining);
  c.Begin(Txn({"1@y", "2@y", "3@y", "4@y", "5@y"}));
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> SIZE=19\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nDATA\r\n");
  EXPECT_FALSE(c.can_begin());
  c.Feed("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n");
  h.Take();
  c.Feed("250 2.0.0 one\r\n");
  EXPECT_TRUE(h.results.empty());
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> SIZE=19\r\nRCPT TO:<3@y>\r\nRCPT TO:<4@y>\r\nDATA\r\n");
  c.Feed("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n");
  EXPECT_EQ(h.Take(), "RSET\r\n");
  EXPECT_TRUE(h.results.empty());
  EXPECT_EQ(c.waiting_for(), Wait::kCommand);
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test> SIZE=19\r\nRCPT TO:<5@y>\r\nDATA\r\n");
  c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
  h.Take();
  EXPECT_EQ(h.idle, 1);
  c.Feed("250 2.0.0 three\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  const auto& r = h.results[0];
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].text, "one");
  EXPECT_EQ(r[1].code, 550);
  EXPECT_EQ(r[2].code, 550);
  EXPECT_EQ(r[3].code, 550);
  EXPECT_EQ(r[4].text, "three");
  EXPECT_EQ(c.transactions(), 3u);
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(h.idle, 2);
}

TEST(SmtpClientTest, TooManyRecipients452GoAgainAtOnce) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPlain);  // lock-step
  c.Begin(Txn({"1@y", "2@y", "3@y"}));
  c.Feed("250 ok\r\n");
  c.Feed("250 ok\r\n");
  c.Feed("452 4.5.3 too many recipients\r\n");
  c.Feed("452 too many\r\n");
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\n"
            "RCPT TO:<3@y>\r\nDATA\r\n");
  c.Feed("354 go\r\n");
  h.Take();
  c.Feed("250 2.0.0 first\r\n");
  EXPECT_TRUE(h.results.empty());
  // The refused two, in a new transaction on this connection.
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\n");
  c.Feed("250 ok\r\n");
  c.Feed("250 ok\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "RCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\nDATA\r\n");
  c.Feed("354 go\r\n");
  h.Take();
  c.Feed("250 2.0.0 second\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].text, "first");
  EXPECT_EQ(h.results[0][1].text, "second");
  EXPECT_EQ(h.results[0][2].text, "second");
  EXPECT_TRUE(c.idle());
}

TEST(SmtpClientTest, TooManyRecipients452WithNoneAcceptedAreTemporary) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPipelining);
  c.Begin(Txn({"1@y", "2@y"}));
  h.Take();
  c.Feed("250 ok\r\n452 4.5.3 too many\r\n452 4.5.3 too many\r\n"
         "554 5.5.1 no valid recipients\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 452);
  EXPECT_EQ(h.results[0][1].code, 452);
  EXPECT_EQ(h.Take(), "RSET\r\n");
}

TEST(SmtpClientTest, RecipientsSplitAndRetriedWhileStreaming) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(3);
  c.set_max_recipients_per_transaction(2);
  Greet(c, h, kEhloStream);
  int one, two;
  Transaction t = Txn({"1@y", "2@y", "3@y"});
  t.cookie = &one;
  c.Begin(t);
  const std::string bdat = "BDAT 19 LAST\r\nSubject: x\r\n\r\n.hi\r\n";
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\n" +
                          bdat + "MAIL FROM:<a@x.test>\r\nRCPT TO:<3@y>\r\n" + bdat);
  EXPECT_EQ(c.in_flight(), 1u);
  EXPECT_TRUE(c.can_begin());  // two SMTP transactions of three
  t = Txn({"4@y"});
  t.cookie = &two;
  c.Begin(t);
  EXPECT_FALSE(c.can_begin());
  h.Take();
  // First part: 2@y refused as too many, 1@y accepted: 2@y goes again,
  // pipelined after what is in flight.
  c.Feed("250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n250 2.0.0 a\r\n");
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<2@y>\r\n" + bdat);
  EXPECT_TRUE(h.results.empty());
  EXPECT_FALSE(c.can_begin());
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 b\r\n");  // 3@y
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 d\r\n");  // 4@y: the second message
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.cookies[0], &two);
  EXPECT_TRUE(c.can_begin());
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 c\r\n");  // 2@y again
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.cookies[1], &one);
  EXPECT_EQ(h.results[1][0].text, "a");
  EXPECT_EQ(h.results[1][1].text, "c");
  EXPECT_EQ(h.results[1][2].text, "b");
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(c.transactions(), 4u);
}

TEST(SmtpClientTest, SplitTransactionAbortedReportsOnce) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(4);
  c.set_max_recipients_per_transaction(1);
  Greet(c, h, kEhloStream);
  c.Begin(Txn({"1@y", "2@y", "3@y"}));
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 a\r\n250 ok\r\n");
  c.Abort("lost");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0][0].delivered());
  EXPECT_EQ(h.results[0][1].code, 451);
  EXPECT_EQ(h.results[0][2].code, 451);
}

// Defect 6 (issue 11 item 9): SMTPUTF8 outbound.
TEST(SmtpClientTest, Smtputf8MessageSendsTheMailParameter) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloStream);
  Transaction t = Txn({"b@y.test"});
  t.smtputf8 = true;
  t.eight_bit = true;
  c.Begin(t);
  EXPECT_TRUE(h.Take().starts_with("MAIL FROM:<a@x.test> BODY=8BITMIME SMTPUTF8\r\n"));
}

TEST(SmtpClientTest, Smtputf8MessageToPeerWithoutItFails553) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPipelining);
  Transaction t = Txn({"b@y.test", "c@y.test"});
  t.smtputf8 = true;
  c.Begin(t);
  EXPECT_EQ(h.Take(), "");
  ASSERT_EQ(h.results.size(), 1u);
  for (const RecipientOutcome& o : h.results[0]) {
    EXPECT_EQ(o.code, 553);
    EXPECT_EQ(o.enhanced, "5.6.7");
  }
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(h.idle, 1);  // no OnIdle from Begin
}

// Defect 7 (issue 11 item 9): no 8-bit octet to a peer without 8BITMIME.
TEST(SmtpClientTest, EightBitToPeerWithout8BitMimeIsDowngraded) {
  const std::string body =
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n";
  for (bool declared : {true, false}) {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, "250-s\r\n250 PIPELINING\r\n");
    Transaction t = Txn({"b@y.test"}, body);
    t.eight_bit = declared;
    c.Begin(t);
    EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
    const std::string wire = h.Take();
    EXPECT_EQ(wire,
              "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n.\r\n");
    EXPECT_FALSE(smtp::HasEightBit(wire));
    c.Feed("250 ok\r\n");
    ASSERT_EQ(h.results.size(), 1u);
    EXPECT_TRUE(h.results[0][0].delivered());
  }
}

TEST(SmtpClientTest, EightBitThatCannotBeDowngradedFails554) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, "250-s\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
  // Not MIME: no way to label an encoding.
  c.Begin(Txn({"b@y.test"}, "Subject: x\r\n\r\ncaf\xc3\xa9\r\n"));
  EXPECT_EQ(h.Take(), "");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 554);
  EXPECT_EQ(h.results[0][0].enhanced, "5.6.3");
  EXPECT_TRUE(c.idle());
}

TEST(SmtpClientTest, EightBitToPeerWith8BitMimeGoesAsIs) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPipelining);
  Transaction t = Txn({"b@y.test"}, "Subject: x\r\n\r\ncaf\xc3\xa9\r\n");
  t.eight_bit = true;
  c.Begin(t);
  EXPECT_EQ(h.Take(),
            "MAIL FROM:<a@x.test> SIZE=21 BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(h.Take(), "Subject: x\r\n\r\ncaf\xc3\xa9\r\n.\r\n");
}

// Defect 8 (issue 11 item 9): lines over 1000 octets never go by DATA.
TEST(SmtpClientTest, LongLinesByDataWithoutChunkingFail) {
  const std::string ok_line(998, 'a');
  const std::string long_line(999, 'a');
  {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, "250-s\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    const std::string content = "Subject: x\r\n\r\n" + long_line + "\r\nend\r\n";
    c.Begin(Txn({"b@y.test", "c@y.test"}, content));
    h.Take();
    c.Feed("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    EXPECT_EQ(h.Take(), "");  // nothing of it sent
    ASSERT_EQ(h.results.size(), 1u);
    for (const RecipientOutcome& o : h.results[0]) {
      EXPECT_EQ(o.code, 554);
      EXPECT_EQ(o.enhanced, "5.6.0");
      EXPECT_NE(o.text.find("CHUNKING"), std::string::npos);
    }
    EXPECT_TRUE(h.ended);  // only closing abandons a DATA after 354
  }
  {  // 998 octets and CRLF: allowed.
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, "250-s\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    const std::string content = "Subject: x\r\n\r\n" + ok_line + "\r\n";
    c.Begin(Txn({"b@y.test"}, content));
    h.Take();
    c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
    EXPECT_EQ(h.Take(), content + ".\r\n");
    c.Feed("250 ok\r\n");
    EXPECT_TRUE(h.results[0][0].delivered());
  }
  {  // With CHUNKING the same message goes by BDAT.
    TestHost h;
    SmtpClient c(&h, "relay.test");
    Greet(c, h, "250-s\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    const std::string content = "Subject: x\r\n\r\n" + long_line + "\r\n";
    c.Begin(Txn({"b@y.test"}, content));
    EXPECT_NE(h.Take().find(long_line), std::string::npos);
    c.Feed("250 ok\r\n250 ok\r\n250 ok\r\n");
    EXPECT_TRUE(h.results[0][0].delivered());
  }
}

}  // namespace
}  // namespace ringpost::client
