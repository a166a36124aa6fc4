// smtp_client_test.cc — the outbound state machine against scripted server
// replies: pipelined and lock-step transactions, per-recipient outcomes,
// failures at every step, dot-stuffing, and lost connections.
#include "relay/client/smtp_client.h"

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace ringpost::client
