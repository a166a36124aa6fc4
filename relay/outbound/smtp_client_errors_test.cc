// smtp_client_errors_test.cc — the outbound state machine when things go
// wrong: failure replies at every step (503, 5xx to MAIL, a refused or
// garbled greeting, too big for the peer), codes that are not valid where
// they come (a 2xx to DATA, a 354 to BDAT LAST), errors and an unsolicited
// 421 in the middle of a pipeline, lost connections and aborts, and many
// local failures in a row. Each transaction gets exactly one outcome and
// nothing that was not accepted counts as delivered. The dialogue itself
// is in smtp_client_test.cc; the shared host and helpers in
// smtp_client_test_host.h.
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "relay/outbound/smtp_client.h"
#include "relay/outbound/smtp_client_test_host.h"

namespace ringpost::client {
namespace {

using test::AllDecided;
using test::AnyDelivered;
using test::Greet;
using test::kEhloPipelining;
using test::kEhloPlain;
using test::kEhloStream;
using test::TestHost;
using test::Txn;

// A 503 (bad sequence of commands) is the dialogue's fault, not the
// recipient's: it defers, it never bounces good mail.
TEST(SmtpClientTest, BadSequenceReplyIsTemporary) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 sink.test ESMTP\r\n");
  c.Feed(kEhloPipelining);
  h.Take();
  c.Begin(Txn({"b@y.test"}));
  h.Take();
  c.Feed("503 5.5.1 Error: nested MAIL command\r\n554 5.5.1 no valid recipients\r\n"
         "554 5.5.1 no valid recipients\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 451);
  EXPECT_EQ(h.results[0][0].enhanced, "4.5.1");
  EXPECT_FALSE(h.results[0][0].permanent());
}

TEST(SmtpClientTest, MailRejectedDecidesAllAndResets) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  c.Feed(kEhloPipelining);
  h.Take();
  c.Begin(Txn({"b@y.test"}));
  h.Take();
  c.Feed("550 5.7.1 sender rejected\r\n554 5.5.1 no\r\n554 5.5.1 no valid rcpt\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 550);
  EXPECT_EQ(h.Take(), "RSET\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_TRUE(c.idle());
}

TEST(SmtpClientTest, ConnectionLostMidTransactionIsTemporary) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  c.Feed(kEhloPipelining);
  c.Begin(Txn({"b@y.test"}));
  c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
  c.Abort("connection lost");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 451);
  EXPECT_EQ(h.results[0][0].text, "connection lost");
  EXPECT_TRUE(c.ended());
}

TEST(SmtpClientTest, GarbageAndRefusedGreeting) {
  {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    c.Feed("554 5.7.1 go away\r\n");
    EXPECT_TRUE(h.ended);
    EXPECT_EQ(h.end_reason.code, 554);
  }
  {
    TestHost h;
    SmtpClient c(&h, "relay.test");
    c.Feed("220 s\r\n");
    c.Feed(kEhloPipelining);
    c.Begin(Txn({"b@y.test"}));
    c.Feed("hello there\r\n");
    EXPECT_TRUE(h.ended);
    ASSERT_EQ(h.results.size(), 1u);
    EXPECT_EQ(h.results[0][0].code, 451);
  }
}

TEST(SmtpClientTest, TooBigForDestinationIsPermanent) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.Feed("220 s\r\n");
  c.Feed(kEhloPipelining);
  h.Take();
  std::string big(2000, 'x');
  c.Begin(Txn({"b@y.test"}, big));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 552);
  EXPECT_EQ(h.Take(), "");
  EXPECT_TRUE(c.idle());
}

// Defect 1 (issue 11 item 4): only 354 continues a DATA.
TEST(SmtpClientTest, DataReply2xxIsNotDelivered) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPipelining);
  c.Begin(Txn({"b@y.test"}));
  h.Take();
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_FALSE(h.results[0][0].delivered());
  EXPECT_EQ(h.results[0][0].code, 451);
  EXPECT_EQ(h.results[0][0].enhanced, "4.5.0");
  EXPECT_NE(h.results[0][0].text.find("unexpected reply to DATA"), std::string::npos);
  // A confused peer gets no more mail on this connection.
  EXPECT_TRUE(h.ended);
  EXPECT_TRUE(c.ended());
  EXPECT_FALSE(c.can_begin());
}

TEST(SmtpClientTest, DataReply2xxIsNotDeliveredLockStep) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPlain);
  c.Begin(Txn({"b@y.test"}));
  c.Feed("250 ok\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(h.Take(), "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  c.Feed("250 2.0.0 fine\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_FALSE(h.results[0][0].delivered());
  EXPECT_EQ(h.results[0][0].code, 451);
  EXPECT_TRUE(h.ended);
  EXPECT_EQ(h.Take(), "");  // no content went out
}

// Every step: a code that is not valid there never delivers, and leaves
// every recipient with a temporary failure. (Any 2xx is positive for MAIL,
// RCPT and the end of data, as in Postfix; only DATA wants exactly 354.)
TEST(SmtpClientTest, UnexpectedReplyCodesNeverDeliver) {
  struct Case {
    int step;  // replies fed before the odd one: MAIL, RCPT, DATA(354)
    const char* reply;
  };
  const Case cases[] = {
      {0, "354 go\r\n"},  {0, "334 x\r\n"},
      {1, "354 go\r\n"},  {1, "334 x\r\n"},   {2, "250 ok\r\n"},
      {2, "220 hi\r\n"},  {2, "334 x\r\n"},   {3, "354 go\r\n"},
      {3, "334 x\r\n"},
  };
  const char* valid[] = {"250 ok\r\n", "250 ok\r\n", "354 go\r\n"};
  for (const Case& k : cases) {
    for (const char* ehlo : {kEhloPlain, kEhloPipelining}) {
      SCOPED_TRACE(std::string(k.reply) + " after " + std::to_string(k.step) +
                   " with " + ehlo);
      TestHost h;
      SmtpClient c(&h, "relay.test");
      Greet(c, h, ehlo);
      c.Begin(Txn({"b@y.test"}));
      for (int i = 0; i < k.step; ++i) c.Feed(valid[i]);
      c.Feed(k.reply);
      ASSERT_EQ(h.results.size(), 1u);
      EXPECT_FALSE(h.results[0][0].delivered());
      EXPECT_EQ(h.results[0][0].code, 451);
      EXPECT_TRUE(h.ended);
      // Whatever comes next changes nothing.
      c.Feed("250 ok\r\n");
      EXPECT_EQ(h.results.size(), 1u);
    }
  }
}

TEST(SmtpClientTest, BdatLast354IsNotDelivered) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(4);
  Greet(c, h, kEhloStream);
  int cookies[2];
  for (int& k : cookies) {
    Transaction t = Txn({"b@y.test"});
    t.cookie = &k;
    c.Begin(t);
  }
  c.Feed("250 ok\r\n250 ok\r\n354 go on\r\n");
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.cookies[0], &cookies[0]);
  EXPECT_EQ(h.results[0][0].code, 451);
  EXPECT_EQ(h.results[0][0].enhanced, "4.5.0");
  EXPECT_EQ(h.results[1][0].code, 451);
  EXPECT_FALSE(AnyDelivered(h));
  EXPECT_TRUE(h.ended);
}

// A host like OutboundConnection: its fill loop begins transactions from
// OnIdle while can_begin(); it records how deep OnIdle nests.
class FillHost : public TestHost {
 public:
  void OnIdle() override {
    ++idle;
    if (++depth > max_depth) max_depth = depth;
    if (depth > 100) {  // nested: stop before the stack does
      --depth;
      return;
    }
    while (client->can_begin() && jobs > 0) {
      --jobs;
      client->Begin(txn);
    }
    --depth;
  }
  SmtpClient* client = nullptr;
  Transaction txn;
  int jobs = 0;
  int depth = 0;
  int max_depth = 0;
};

// Defect 3 (issue 11 item 11a): transactions that end inside Begin (too big
// for the peer, here) must not call OnIdle from Begin: the host's fill loop
// would nest one level per queued job.
TEST(SmtpClientTest, ManyLocalFailuresInARowDoNotRecurse) {
  for (int max_in_flight : {1, 8}) {
    SCOPED_TRACE(max_in_flight);
    FillHost h;
    SmtpClient c(&h, "relay.test");
    c.set_max_in_flight(static_cast<size_t>(max_in_flight));
    h.client = &c;
    static const std::string big(2000, 'x');
    h.txn = Txn({"b@y.test"}, big);
    h.jobs = 100000;
    c.Feed("220 s\r\n");
    c.Feed("250-s\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 1000\r\n");
    EXPECT_EQ(h.max_depth, 1);
    EXPECT_EQ(h.jobs, 0);
    EXPECT_EQ(h.results.size(), 100000u);
    EXPECT_EQ(h.results.back()[0].code, 552);
    EXPECT_TRUE(c.idle());
    EXPECT_EQ(h.Take(), "EHLO relay.test\r\n");
  }
}

// Defect 4 (issue 11 item 11c): after an error mid-pipeline each
// transaction gets exactly one outcome, its own.
TEST(SmtpClientTest, PipelineAbortReportsEachTransactionOnce) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(4);
  Greet(c, h, kEhloStream);
  int cookies[3];
  for (int& k : cookies) {
    Transaction t = Txn({"b@y.test", "c@y.test"});
    t.cookie = &k;
    c.Begin(t);
  }
  // The first completes; the second is half answered.
  c.Feed("250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n250 ok\r\n250 ok\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  c.Abort("connection lost");
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.cookies[0], &cookies[0]);
  EXPECT_EQ(h.cookies[1], &cookies[1]);
  EXPECT_EQ(h.cookies[2], &cookies[2]);
  EXPECT_TRUE(h.results[0][0].delivered());
  EXPECT_TRUE(h.results[0][1].delivered());
  for (int i = 1; i < 3; ++i) {
    for (const RecipientOutcome& o : h.results[i]) {
      EXPECT_EQ(o.code, 451);
      EXPECT_EQ(o.text, "connection lost");
    }
  }
  EXPECT_EQ(c.in_flight(), 0u);
  // Late replies and a second Abort change nothing.
  c.Feed("250 2.0.0 queued\r\n250 ok\r\n");
  c.Abort("again");
  c.Quit();
  EXPECT_EQ(h.results.size(), 3u);
  EXPECT_FALSE(h.ended);
}

TEST(SmtpClientTest, Unsolicited421MidPipelineEndsEveryTransaction) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(4);
  Greet(c, h, kEhloStream);
  int cookies[3];
  for (int& k : cookies) {
    Transaction t = Txn({"b@y.test"});
    t.cookie = &k;
    c.Begin(t);
  }
  c.Feed("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n250 ok\r\n"
         "421 4.3.2 shutting down\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_TRUE(h.results[0][0].delivered());
  EXPECT_EQ(h.cookies[1], &cookies[1]);
  EXPECT_EQ(h.results[1][0].code, 421);
  EXPECT_EQ(h.results[1][0].enhanced, "4.3.2");
  EXPECT_EQ(h.results[2][0].code, 421);
  EXPECT_TRUE(h.ended);
  EXPECT_EQ(h.end_reason.code, 421);
  c.Abort("closed");
  EXPECT_EQ(h.results.size(), 3u);
}

TEST(SmtpClientTest, GarbageMidPipelineFailsTheRestTemporarily) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  c.set_max_in_flight(4);
  Greet(c, h, kEhloStream);
  for (int i = 0; i < 3; ++i) c.Begin(Txn({"b@y.test"}));
  c.Feed("250 ok\r\n250 ok\r\n250 ok\r\nxyz\r\n250 ok\r\n");
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_TRUE(h.results[0][0].delivered());
  EXPECT_EQ(h.results[1][0].code, 451);
  EXPECT_EQ(h.results[2][0].code, 451);
  EXPECT_TRUE(AllDecided(h));
}

TEST(SmtpClientTest, AbortWhileAwaitingRsetReportsNothingTwice) {
  TestHost h;
  SmtpClient c(&h, "relay.test");
  Greet(c, h, kEhloPipelining);
  c.Begin(Txn({"b@y.test"}));
  c.Feed("550 5.7.1 no\r\n503 no\r\n503 no\r\n");
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(c.in_flight(), 0u);
  c.Abort("timeout");
  EXPECT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0][0].code, 550);
}

}  // namespace
}  // namespace ringpost::client
