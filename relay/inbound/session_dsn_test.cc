// session_dsn_test.cc — DSN (RFC 3461) in the inbound session: the
// parameters it takes, what it keeps with the message (decoded, one
// NOTIFY/ORCPT entry per accepted recipient), and the 501 naming a
// repeated or malformed parameter.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "queue/record.h"
#include "relay/inbound/session.h"
#include "relay/inbound/session_test_host.h"

namespace ringpost::server {
namespace {

using queue::DsnRet;
using queue::kNotifyDelay;
using queue::kNotifyFailure;
using queue::kNotifyNever;
using queue::kNotifySuccess;
using test::SessionTest;

class SessionDsnTest : public SessionTest {
 protected:
  // Sends the lines, then DATA with a small message; returns the submitted
  // message's DSN fields (and checks its recipients).
  queue::DsnFields Transaction(const std::vector<std::string>& lines,
                               const std::vector<std::string>& recipients) {
    for (const std::string& line : lines) Send(line + "\r\n");
    const size_t before = host_.submitted.size();
    EXPECT_EQ(Send("DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n").substr(0, 4), "354 ");
    if (host_.submitted.size() != before + 1) {
      ADD_FAILURE() << "nothing submitted";
      return {};
    }
    const IncomingMessage& m = *host_.submitted.back();
    EXPECT_EQ(m.recipients, recipients);
    // The one invariant everything downstream relies on.
    EXPECT_TRUE(m.dsn.notify.empty() || m.dsn.notify.size() == m.recipients.size());
    EXPECT_TRUE(m.dsn.orcpt.empty() || m.dsn.orcpt.size() == m.recipients.size());
    Commit();
    host_.Take();
    return m.dsn;
  }
};

TEST_F(SessionDsnTest, EhloOffersDsn) {
  EXPECT_NE(Send("EHLO c\r\n").find("\r\n250-DSN\r\n"), std::string::npos);
}

TEST_F(SessionDsnTest, KeepsTheDecodedParameters) {
  Send("EHLO c\r\n");
  const queue::DsnFields d = Transaction(
      {"MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ+2B314+20159 SIZE=100",
       "RCPT TO:<b@y.test> NOTIFY=SUCCESS,delay ORCPT=rfc822;first+2Blast+3D@y.test",
       "RCPT TO:<c@y.test>"},
      {"b@y.test", "c@y.test"});
  EXPECT_EQ(d.ret, DsnRet::kHeaders);
  EXPECT_EQ(d.envid, "QQ+314 159");
  EXPECT_EQ(d.notify, (std::vector<uint8_t>{kNotifySuccess | kNotifyDelay, 0}));
  EXPECT_EQ(d.orcpt, (std::vector<std::string>{"rfc822;first+last=@y.test", ""}));
}

TEST_F(SessionDsnTest, WithoutParametersNothingIsKept) {
  Send("EHLO c\r\n");
  EXPECT_TRUE(Transaction({"MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "RCPT TO:<c@y.test>"},
                          {"b@y.test", "c@y.test"})
                  .empty());
  // RET alone, ENVID alone: no per-recipient entries.
  queue::DsnFields d =
      Transaction({"MAIL FROM:<a@x.test> RET=FULL", "RCPT TO:<b@y.test>"}, {"b@y.test"});
  EXPECT_EQ(d.ret, DsnRet::kFull);
  EXPECT_TRUE(d.envid.empty() && d.notify.empty() && d.orcpt.empty());
  d = Transaction({"MAIL FROM:<> ENVID=e", "RCPT TO:<b@y.test>"}, {"b@y.test"});
  EXPECT_EQ(d.envid, "e");
  EXPECT_EQ(d.ret, DsnRet::kUnspecified);
}

// A recipient that gives NOTIFY or ORCPT after others did not: the earlier
// ones get 0 / "", the later ones whatever they give.
TEST_F(SessionDsnTest, EntriesAreFilledInForEarlierRecipients) {
  Send("EHLO c\r\n");
  const queue::DsnFields d = Transaction(
      {"MAIL FROM:<a@x.test>", "RCPT TO:<r1@y.test>", "RCPT TO:<r2@y.test> NOTIFY=NEVER",
       "RCPT TO:<r3@y.test>", "RCPT TO:<r4@y.test> ORCPT=x-local;r4", "RCPT TO:<r5@y.test>"},
      {"r1@y.test", "r2@y.test", "r3@y.test", "r4@y.test", "r5@y.test"});
  EXPECT_EQ(d.notify, (std::vector<uint8_t>{0, kNotifyNever, 0, 0, 0}));
  EXPECT_EQ(d.orcpt, (std::vector<std::string>{"", "", "", "x-local;r4", ""}));
}

// A refused RCPT leaves no entry, whatever refused it.
TEST_F(SessionDsnTest, RefusedRecipientsLeaveNoEntry) {
  limits_.recipients_max = 2;
  Open(true);
  Send("EHLO c\r\n");
  const queue::DsnFields d = Transaction(
      {"MAIL FROM:<a@x.test>",
       "RCPT TO:<nodomain> NOTIFY=SUCCESS ORCPT=rfc822;x",              // 501 5.1.3
       "RCPT TO:<\xC3\xA9@y.test> NOTIFY=SUCCESS ORCPT=rfc822;x",       // 553 5.6.7
       "RCPT TO:<b@y.test> XFOO=1 NOTIFY=SUCCESS ORCPT=rfc822;x",       // 555
       "RCPT TO:<b@y.test> NOTIFY=SUCCESS,NEVER ORCPT=rfc822;x",        // 501
       "RCPT TO:<b@y.test> NOTIFY=FAILURE",
       "RCPT TO:<c@y.test>",
       "RCPT TO:<d@y.test> NOTIFY=DELAY ORCPT=rfc822;d@y.test"},        // 452 4.5.3
      {"b@y.test", "c@y.test"});
  EXPECT_EQ(d.notify, (std::vector<uint8_t>{kNotifyFailure, 0}));
  EXPECT_TRUE(d.orcpt.empty());
  EXPECT_EQ(host_.rejections,
            (std::vector<std::string>{"553 \xC3\xA9@y.test", "555 b@y.test", "452 d@y.test"}));
}

TEST_F(SessionDsnTest, RelayDeniedLeavesNoEntryAndPostmasterKeepsIts) {
  limits_.postmaster = "hostmaster@admin.test";
  Open(false);
  Send("EHLO c\r\n");
  const queue::DsnFields d = Transaction(
      {"MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test> NOTIFY=SUCCESS ORCPT=rfc822;b@y.test",
       "RCPT TO:<Postmaster> NOTIFY=NEVER"},
      {"hostmaster@admin.test"});
  EXPECT_EQ(d.notify, std::vector<uint8_t>{kNotifyNever});
  EXPECT_TRUE(d.orcpt.empty());
}

// Each message of a pipelined batch has its own parameters; nothing of a
// reset or refused transaction carries over.
TEST_F(SessionDsnTest, NothingCarriesOverToTheNextTransaction) {
  Send("EHLO c\r\n");
  Send("MAIL FROM:<a@x.test> RET=FULL ENVID=old\r\nRCPT TO:<b@y.test> NOTIFY=SUCCESS\r\nRSET\r\n");
  EXPECT_TRUE(Transaction({"MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"}, {"b@y.test"}).empty());
  Send(
      "MAIL FROM:<a@x.test> ENVID=one\r\nRCPT TO:<b@y.test> NOTIFY=DELAY\r\n"
      "DATA\r\none\r\n.\r\n"
      "MAIL FROM:<a@x.test> ENVID=two\r\nRCPT TO:<c@y.test> ORCPT=rfc822;c@y.test\r\n"
      "BDAT 5 LAST\r\ntwo\r\n"
      "MAIL FROM:<a@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\nthree\r\n.\r\n");
  ASSERT_EQ(host_.submitted.size(), 4u);
  const queue::DsnFields& one = host_.submitted[1]->dsn;
  const queue::DsnFields& two = host_.submitted[2]->dsn;
  EXPECT_EQ(one.envid, "one");
  EXPECT_EQ(one.notify, std::vector<uint8_t>{kNotifyDelay});
  EXPECT_TRUE(one.orcpt.empty());
  EXPECT_EQ(two.envid, "two");
  EXPECT_TRUE(two.notify.empty());
  EXPECT_EQ(two.orcpt, std::vector<std::string>{"rfc822;c@y.test"});
  EXPECT_TRUE(host_.submitted[3]->dsn.empty());
}

TEST_F(SessionDsnTest, ResetClearsTheFields) {
  IncomingMessage m;
  m.dsn.envid = "x";
  m.dsn.ret = DsnRet::kFull;
  m.dsn.notify = {1};
  m.dsn.orcpt = {"rfc822;a"};
  m.Reset();
  EXPECT_TRUE(m.dsn.empty());
}

// A repeated or malformed DSN parameter: 501 5.5.4 naming it, and the
// command has no effect.
TEST_F(SessionDsnTest, BadParametersGet501NamingThem) {
  struct Case {
    std::string line;
    std::string reply;
  };
  const Case mail_cases[] = {
      {"MAIL FROM:<a@x.test> RET=FULL RET=FULL", "Error: repeated RET parameter"},
      {"MAIL FROM:<a@x.test> RET=ALL", "Error: bad RET parameter: expected RET=FULL or RET=HDRS"},
      {"MAIL FROM:<a@x.test> ENVID=a ENVID=b", "Error: repeated ENVID parameter"},
      {"MAIL FROM:<a@x.test> ENVID=a+2b",
       "Error: bad ENVID parameter: expected ENVID=xtext (RFC 3461)"},
      {"MAIL FROM:<a@x.test> ENVID=" + std::string(101, 'e'),
       "Error: bad ENVID parameter: longer than 100 octets"},
      {"MAIL FROM:<a@x.test> ENVID=a+0Ab", "Error: bad ENVID parameter: not printable US-ASCII"},
  };
  const Case rcpt_cases[] = {
      {"RCPT TO:<b@y.test> NOTIFY=NEVER NOTIFY=NEVER", "Error: repeated NOTIFY parameter"},
      {"RCPT TO:<b@y.test> NOTIFY=NEVER,SUCCESS",
       "Error: bad NOTIFY parameter: NEVER cannot be combined with other values"},
      {"RCPT TO:<b@y.test> NOTIFY=SOMETIMES",
       "Error: bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"},
      {"RCPT TO:<b@y.test> ORCPT=rfc822;a ORCPT=rfc822;a", "Error: repeated ORCPT parameter"},
      {"RCPT TO:<b@y.test> ORCPT=b@y.test",
       "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)"},
      {"RCPT TO:<b@y.test> ORCPT=rfc822;" + std::string(494, 'o'),
       "Error: bad ORCPT parameter: longer than 500 octets"},
      {"RCPT TO:<b@y.test> ORCPT=rfc822;b+7F", "Error: bad ORCPT parameter: not printable US-ASCII"},
  };
  Send("EHLO c\r\n");
  for (const Case& c : mail_cases) {
    EXPECT_EQ(Send(c.line + "\r\n"), "501 5.5.4 " + c.reply + "\r\n") << c.line;
  }
  // No MAIL took: RCPT still needs one.
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test> ENVID=ok\r\n"), "250 2.1.0 Ok\r\n");
  for (const Case& c : rcpt_cases) {
    EXPECT_EQ(Send(c.line + "\r\n"), "501 5.5.4 " + c.reply + "\r\n") << c.line;
  }
  EXPECT_TRUE(host_.rejections.empty());  // syntax errors, as any other 501
  const queue::DsnFields d = Transaction({"RCPT TO:<b@y.test>"}, {"b@y.test"});
  EXPECT_EQ(d.envid, "ok");
  EXPECT_TRUE(d.notify.empty());
  EXPECT_TRUE(d.orcpt.empty());
}

}  // namespace
}  // namespace ringpost::server
