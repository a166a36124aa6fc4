// smtp_client_test.cc — the outbound state machine against scripted server
// replies: pipelined and lock-step transactions, per-recipient outcomes,
// failures at every step, dot-stuffing, and lost connections.
#include "relay/outbound/smtp_client.h"

#include <string>

#include "gtest/gtest.h"
#include "relay/smtp/mime_downgrade.h"

namespace ringpost::client {
namespace {

class TestHost : public ClientHost {
 public:
  std::string& Output() override { return out; }
  void OutputReady() override {}
  void OnIdle() override { ++idle; }
  void OnTransactionDone(void* cookie, std::vector<RecipientOutcome>& o) override {
    results.push_back(o);
    cookies.push_back(cookie);
  }
  std::vector<void*> cookies;
  void OnSessionEnd(const RecipientOutcome& r) override {
    ended = true;
    end_reason = r;
  }
  std::string Take() {
    std::string s;
    s.swap(out);
    return s;
  }
  std::string out;
  int idle = 0;
  std::vector<std::vector<RecipientOutcome>> results;
  bool ended = false;
  RecipientOutcome end_reason;
};

constexpr char kEhloPipelining[] =
    "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000\r\n";
constexpr char kEhloPlain[] = "250 sink.test\r\n";

Transaction Txn(const std::vector<std::string_view>& rcpts,
                std::string_view content = "Subject: x\r\n\r\n.hi\r\n") {
  Transaction t;
  t.sender = "a@x.test";
  t.recipients = rcpts;
  t.content = content;
  return t;
}

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


// --- issue 11 -------------------------------------------------------------

constexpr char kEhloStream[] =
    "250-s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

void Greet(SmtpClient& c, TestHost& h, std::string_view ehlo) {
  c.Feed("220 s\r\n");
  c.Feed(ehlo);
  h.Take();
}

bool AnyDelivered(const TestHost& h) {
  for (const auto& r : h.results) {
    for (const RecipientOutcome& o : r) {
      if (o.delivered()) return true;
    }
  }
  return false;
}

bool AllDecided(const TestHost& h) {
  for (const auto& r : h.results) {
    for (const RecipientOutcome& o : r) {
      if (o.code < 200 || o.code >= 600) return false;
    }
  }
  return true;
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
