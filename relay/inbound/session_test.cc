// session_test.cc — the inbound state machine driven byte by byte: replies,
// pipelining, strict line endings, smuggling, limits, relay control and the
// rule that 250 follows the spool commit, never precedes it.
#include "queue/message_id.h"
#include "relay/inbound/session.h"

#include <cstdio>
#include <deque>

#include "gtest/gtest.h"
#include "relay/inbound/session_test_host.h"

namespace ringpost::server {
namespace {

using test::SessionTest;
using test::TestHost;

TEST_F(SessionTest, FullTransaction) {
  EXPECT_EQ(Send("EHLO client.test\r\n"),
            "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
            "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"
            "250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(Send("Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n"), "");
  ASSERT_EQ(host_.submitted.size(), 1u);
  const IncomingMessage& m = *host_.submitted[0];
  EXPECT_EQ(m.sender, "a@x.test");
  EXPECT_FALSE(m.smtputf8);
  ASSERT_EQ(m.recipients.size(), 1u);
  EXPECT_EQ(m.recipients[0], "b@y.test");
  EXPECT_EQ(m.content.rfind("Received: from client.test ([127.0.0.1])\r\n", 0), 0u);
  const std::string tail = "Subject: hi\r\n\r\n.dot\r\nbody\r\n";
  EXPECT_EQ(m.content.substr(m.content.size() - tail.size()), tail);
  Commit();
  EXPECT_EQ(host_.Take(), "250 2.0.0 Ok: queued as 0000000000000101\r\n");
  EXPECT_EQ(Send("QUIT\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, PipelinedMessagesRepliesStayInOrderOfCommands) {
  std::string batch =
      "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
      "RCPT TO:<c@z.test>\r\nDATA\r\nhello\r\n.\r\n"
      "MAIL FROM:<>\r\nRCPT TO:<d@y.test>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n";
  std::string out = Send(batch);
  EXPECT_NE(out.find("354 "), std::string::npos);
  EXPECT_EQ(out.find("queued"), std::string::npos);  // not before the commit
  EXPECT_EQ(out.find("2.1.0"), out.rfind("2.1.0"));  // 2nd MAIL reply held
  // Both messages were read and handed to the spool already.
  ASSERT_EQ(host_.submitted.size(), 2u);
  EXPECT_EQ(host_.submitted[0]->recipients.size(), 2u);
  EXPECT_EQ(host_.submitted[1]->sender, "");
  // The second commit finishing first releases nothing.
  session_->OnSubmitted(absl::OkStatus(), host_.submitted[1]->id);
  EXPECT_EQ(host_.Take(), "");
  EXPECT_FALSE(host_.closed);
  session_->OnSubmitted(absl::OkStatus(), host_.submitted[0]->id);
  out = host_.Take();
  EXPECT_EQ(out,
            "250 2.0.0 Ok: queued as 0000000000000101\r\n"
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "250 2.0.0 Ok: queued as 0000000000000102\r\n221 2.0.0 Bye\r\n");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, BdatChunksAndLast) {
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  // The chunk holds what looks like a command: it is content, never run.
  std::string out = Send("BDAT 20\r\nSubject: x\r\n\r\nQUIT\r\n");
  EXPECT_EQ(out.substr(0, 10), "250 2.0.0 ");
  EXPECT_NE(out.find(" octets received\r\n"), std::string::npos);
  EXPECT_FALSE(host_.closed);
  ASSERT_TRUE(host_.submitted.empty());
  // "NO" after the chunk is the start of the next command line.
  EXPECT_EQ(Send("BDAT 6 LAST\r\n.dot\r\nNO"), "");
  ASSERT_EQ(host_.submitted.size(), 1u);
  const std::string& content = host_.submitted[0]->content;
  const std::string body = "Subject: x\r\n\r\nQUIT\r\n.dot\r\n";
  EXPECT_EQ(content.substr(content.size() - body.size()), body);
  Commit();
  EXPECT_EQ(host_.Take().substr(0, 24), "250 2.0.0 Ok: queued as ");
  EXPECT_EQ(Send("OP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(SessionTest, BdatIntermediateChunkReply) {
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  std::string out = Send("BDAT 4\r\nab\r\n");
  EXPECT_EQ(out.substr(0, 10), "250 2.0.0 ");
  EXPECT_NE(out.find(" octets received\r\n"), std::string::npos);
  EXPECT_EQ(Send("BDAT 0 LAST\r\n"), "");
  ASSERT_EQ(host_.submitted.size(), 1u);
  // Held behind the pending commit, then released in order.
  EXPECT_EQ(Send("DATA\r\n"), "");
  Commit();
  out = host_.Take();
  EXPECT_EQ(out.substr(out.find("\r\n") + 2), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(SessionTest, BdatErrorsConsumeTheChunk) {
  Send("EHLO c\r\n");
  // No MAIL: the 6 octets "QUIT\r\n" are consumed as chunk data, not run.
  EXPECT_EQ(Send("BDAT 6 LAST\r\nQUIT\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_FALSE(host_.closed);
  // Bare LF in content rejects the message.
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 8 LAST\r\nab\ncd\r\n\r\n").substr(0, 10), "550 5.6.11");
  EXPECT_TRUE(host_.submitted.empty());
  // Over the size limit: consumed, refused, session goes on.
  limits_.message_octets_max = 100;
  Open(true);
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  std::string big(1000, 'x');
  EXPECT_EQ(Send("BDAT 1000 LAST\r\n" + big), "552 5.3.4 Error: message size exceeds fixed limit\r\n");
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(host_.submitted.empty());
}

TEST_F(SessionTest, BdatLineEndingsAcrossChunks) {
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  // CR at the end of one chunk, its LF at the start of the next: fine;
  // an octet over 0x7F marks the message 8-bit.
  const std::string first = std::string(40, 'a') + "\xc3\xa9\r";
  EXPECT_EQ(Send("BDAT " + std::to_string(first.size()) + "\r\n" + first).substr(0, 10),
            "250 2.0.0 ");
  // The second LF is bare.
  EXPECT_EQ(Send("BDAT 3 LAST\r\n\nb\n").substr(0, 10), "550 5.6.11");
  ASSERT_TRUE(host_.submitted.empty());
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT " + std::to_string(first.size()) + "\r\n" + first).substr(0, 10),
            "250 2.0.0 ");
  EXPECT_EQ(Send("BDAT 4 LAST\r\n\nb\r\n"), "");
  ASSERT_EQ(host_.submitted.size(), 1u);
  EXPECT_TRUE(host_.submitted[0]->eight_bit);
  Commit();
  host_.Take();
  // Content that ends in a CR is refused.
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 3 LAST\r\nab\r").substr(0, 10), "550 5.6.11");
  EXPECT_EQ(host_.submitted.size(), 1u);
}

TEST(MessageId, SixteenUppercaseHexDigits) {
  for (uint64_t id : {uint64_t{0}, uint64_t{1}, uint64_t{0x0123456789ABCDEF},
                      uint64_t{0xFEDCBA9876543210}, ~uint64_t{0}, uint64_t{0xA0B0C0D0E0F09}}) {
    char want[17];
    snprintf(want, sizeof(want), "%016llX", static_cast<unsigned long long>(id));
    EXPECT_EQ(queue::FormatMessageId(id), want);
  }
  uint64_t x = 0x9E3779B97F4A7C15;
  for (int i = 0; i < 1000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    char want[17];
    snprintf(want, sizeof(want), "%016llX", static_cast<unsigned long long>(x));
    ASSERT_EQ(queue::FormatMessageId(x), want);
  }
}

TEST_F(SessionTest, PipelinedBdatMessagesAreReadBeforeCommits) {
  Send("EHLO c\r\n");
  std::string batch;
  for (int i = 0; i < 3; ++i) {
    batch += "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4 LAST\r\nhi\r\n";
  }
  // Only the first transaction's replies leave before its commit.
  EXPECT_EQ(Send(batch), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  ASSERT_EQ(host_.submitted.size(), 3u);
  for (int i = 0; i < 3; ++i) session_->OnSubmitted(absl::OkStatus(), host_.submitted[i]->id);
  std::string out = host_.Take();
  size_t queued = 0;
  for (size_t p = out.find("queued as"); p != std::string::npos; p = out.find("queued as", p + 1)) {
    ++queued;
  }
  EXPECT_EQ(queued, 3u);
  EXPECT_EQ(session_->messages_accepted(), 3u);
}

TEST_F(SessionTest, EveryByteSplitGivesSameResult) {
  const std::string script =
      "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
      "line one\r\n.leading\r\n.\r\n";
  for (size_t split = 1; split < script.size(); ++split) {
    TestHost host;
    Session s(&host, &limits_, "mx.test", ClientInfo{"127.0.0.1", true});
    s.Start();
    s.Feed(std::string_view(script).substr(0, split));
    s.Feed(std::string_view(script).substr(split));
    ASSERT_EQ(host.submitted.size(), 1u) << split;
    const std::string& c = host.submitted[0]->content;
    EXPECT_EQ(c.substr(c.find("line one")), "line one\r\nleading\r\n") << split;
  }
}

TEST_F(SessionTest, BareLineEndingsInCommandsAreRefused) {
  EXPECT_EQ(Send("EHLO c\n"),
            "500 5.5.2 Error: bare LF received; command lines must end with CRLF\r\n");
  EXPECT_EQ(Send("NOOP\rX\r\n"),
            "500 5.5.2 Error: bare CR received; command lines must end with CRLF\r\n");
}

TEST_F(SessionTest, SmugglingSequencesDoNotEndDataAndRejectMessage) {
  for (const char* smuggle : {"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n"}) {
    TestHost host;
    Session s(&host, &limits_, "mx.test", ClientInfo{"127.0.0.1", true});
    s.Start();
    s.Feed("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    host.out.clear();
    std::string data = "hello";
    data += smuggle;
    data += "MAIL FROM:<evil@x.test>\r\n";
    s.Feed(data);
    EXPECT_TRUE(host.submitted.empty()) << smuggle;
    EXPECT_EQ(host.out, "") << "no reply before the real end";
    s.Feed("\r\n.\r\n");
    EXPECT_TRUE(host.submitted.empty());
    EXPECT_EQ(host.out.substr(0, 4), "550 ") << host.out;
    host.out.clear();
    s.Feed("NOOP\r\n");
    EXPECT_EQ(host.out, "250 2.0.0 Ok\r\n");
  }
}

TEST_F(SessionTest, RelayDeniedOutsideRelayNetworks) {
  Open(false);
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "554 5.7.1 Relay access denied\r\n");
  EXPECT_EQ(Send("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_TRUE(host_.submitted.empty());
  ASSERT_EQ(host_.rejections.size(), 1u);
  EXPECT_EQ(host_.rejections[0], "554 b@y.test");
}

TEST_F(SessionTest, Limits) {
  limits_.recipients_max = 2;
  limits_.message_octets_max = 100;
  Open(true);
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test> SIZE=1000\r\n"),
            "552 5.3.4 Error: message size exceeds fixed limit\r\n");
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n");
  EXPECT_EQ(Send("RCPT TO:<d@y.test>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
  Send("DATA\r\n");
  std::string big(200, 'x');
  std::string out = Send(big + "\r\n.\r\n");
  EXPECT_EQ(out.substr(0, 4), "552 ") << out;
  EXPECT_TRUE(host_.submitted.empty());
  std::string longline(3000, 'A');
  out = Send(longline + "\r\n");
  EXPECT_EQ(out, "500 5.5.2 Error: line too long\r\n");
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(SessionTest, OrderAndMiscCommands) {
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_EQ(Send("HELO c\r\n"), "250 mx.test\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(Send("VRFY bob\r\n").substr(0, 10), "252 2.5.2 ");
  EXPECT_EQ(Send("XYZZY\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(Send("HELP\r\n").substr(0, 4), "214 ");
}

TEST_F(SessionTest, SpoolFullAndCommitFailure) {
  Send("EHLO c\r\n");
  host_.spool_status = absl::ResourceExhaustedError("disk full");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "452 4.3.1 Insufficient system storage\r\n");
  // A spool that cannot make a segment for another reason (EIO, EROFS) is
  // not "full": the client hears of a local error.
  host_.spool_status = absl::UnavailableError("EIO");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "451 4.3.0 Error: queue file write error\r\n");
  host_.spool_status = absl::OkStatus();
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n");
  session_->OnSubmitted(absl::InternalError("fdatasync failed"), host_.submitted.back()->id);
  EXPECT_EQ(host_.Take(), "451 4.3.0 Error: queue file write error\r\n");
}

TEST_F(SessionTest, TooManyErrorsHangsUp) {
  for (int i = 0; i < 25 && !host_.closed; ++i) Send("BOGUS\r\n");
  EXPECT_TRUE(host_.closed);
}

// --- BDAT framing and sizes (issue 11, item 2) ------------------------------

// A size near 2^64 once wrapped `received + size` below the limit: the chunk
// was accepted and buffered without bound. Sizes over kBdatSizeMax do not
// parse, and an unparseable BDAT cannot be framed: 521, closed.
TEST_F(SessionTest, BdatSizeNearUint64MaxDoesNotWrapTheLimitCheck) {
  limits_.message_octets_max = 100;
  for (const char* size : {"18446744073709551615", "18446744073709551600",
                           "9223372036854775808"}) {
    host_ = TestHost();
    Open(true);
    Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
    EXPECT_EQ(Send("BDAT 50\r\n" + std::string(48, 'x') + "\r\n").substr(0, 4), "250 ");
    EXPECT_EQ(Send(std::string("BDAT ") + size + " LAST\r\n"),
              "521 5.5.4 Error: malformed BDAT command, expected BDAT size [LAST]; "
              "closing connection\r\n")
        << size;
    EXPECT_TRUE(host_.closed) << size;
    EXPECT_TRUE(session_->closed());
    // Whatever follows is neither content nor commands.
    EXPECT_EQ(Send(std::string(1 << 16, 'y') + "\r\nNOOP\r\n"), "");
    EXPECT_TRUE(host_.submitted.empty());
    ASSERT_EQ(host_.rejections.size(), 1u);
    EXPECT_EQ(host_.rejections[0], "521 ");
  }
}

// The largest size that parses, with a message under way: the chunk is
// refused before anything is reserved, and its octets are dropped as they
// come (never buffered); the reply waits for the end of the chunk.
TEST_F(SessionTest, BdatChunkPastTheLimitIsDroppedNotBuffered) {
  limits_.message_octets_max = 1000;
  Open(true);
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 600\r\n" + std::string(598, 'x') + "\r\n").substr(0, 4), "250 ");
  EXPECT_EQ(Send("BDAT 9223372036854775807 LAST\r\n"), "");
  EXPECT_TRUE(session_->reading_content());
  const size_t capacity = host_.last_message->content.capacity();
  for (int i = 0; i < 64; ++i) ASSERT_EQ(Send(std::string(1 << 16, 'z')), "");
  EXPECT_EQ(host_.last_message->content.capacity(), capacity);
  EXPECT_LT(host_.last_message->content.size(), 1000u);
  EXPECT_FALSE(host_.closed);
  // A chunk that ends: 552, exactly at the limit's edge.
  Open(true);
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 600\r\n" + std::string(598, 'x') + "\r\n").substr(0, 4), "250 ");
  EXPECT_EQ(Send("BDAT 401 LAST\r\n" + std::string(401, 'z')),
            "552 5.3.4 Error: message size exceeds fixed limit\r\n");
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(host_.submitted.empty());
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 600\r\n" + std::string(598, 'x') + "\r\n").substr(0, 4), "250 ");
  EXPECT_EQ(Send("BDAT 400 LAST\r\n" + std::string(398, 'z') + "\r\n"), "");
  EXPECT_EQ(host_.submitted.size(), 1u);
}

// A declared size within the limit is not reserved ahead in full: a client
// that declares megabytes and sends nothing costs nothing.
TEST_F(SessionTest, BdatDeclaredSizeIsNotReservedAhead) {
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 50000000 LAST\r\n"), "");
  EXPECT_LT(host_.last_message->content.capacity(), 2u << 20);
}

TEST_F(SessionTest, MalformedBdatClosesTheSession) {
  for (const char* line : {"BDAT", "BDAT LAST", "BDAT x", "BDAT 10 junk", "BDAT 10 LAST x",
                           "BDAT -1", "BDAT 99999999999999999999"}) {
    for (bool in_transaction : {false, true}) {
      host_ = TestHost();
      Open(true);
      Send(in_transaction ? "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                          : "EHLO c\r\n");
      // What follows the line would be the chunk: it must not run.
      EXPECT_EQ(Send(std::string(line) + "\r\nNOOP\r\n").substr(0, 10), "521 5.5.4 ") << line;
      EXPECT_TRUE(host_.closed) << line;
      EXPECT_EQ(host_.rejections.size(), in_transaction ? 1u : 0u) << line;
    }
  }
  // Behind a pending commit: its 250 first, then the 521, then the close.
  host_ = TestHost();
  Open(true);
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4 LAST\r\nhi\r\n");
  EXPECT_EQ(Send("BDAT x\r\n"), "");
  EXPECT_FALSE(host_.closed);
  Commit();
  const std::string out = host_.Take();
  EXPECT_EQ(out.substr(0, 24), "250 2.0.0 Ok: queued as ");
  EXPECT_NE(out.find("\r\n521 5.5.4 "), std::string::npos) << out;
  EXPECT_TRUE(host_.closed);
}

// After a refused chunk the transaction is failed until LAST; a zero-size
// LAST chunk was left unanswered until more input arrived.
TEST_F(SessionTest, BdatZeroLastAfterFailedChunkIsAnsweredAtOnce) {
  limits_.message_octets_max = 100;
  Open(true);
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 200\r\n" + std::string(200, 'x')).substr(0, 4), "552 ");
  EXPECT_EQ(Send("BDAT 0 LAST\r\n"), "552 5.3.4 Error: message size exceeds fixed limit\r\n");
  EXPECT_FALSE(session_->reading_content());
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

// BDAT (not LAST) without MAIL left its 503 behind: the next transaction's
// chunks were dropped with "need MAIL command".
TEST_F(SessionTest, BdatWithoutMailDoesNotFailTheNextTransaction) {
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("BDAT 3\r\nabc"), "503 5.5.1 Error: need MAIL command\r\n");
  Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
  EXPECT_EQ(Send("BDAT 4 LAST\r\nhi\r\n"), "");
  ASSERT_EQ(host_.submitted.size(), 1u);
}

// --- Mail loops (issue 11, item 8) -------------------------------------------

std::string Received(int n, const char* name = "Received:") {
  std::string h;
  for (int i = 0; i < n; ++i) {
    h += name;
    h += " from hop" + std::to_string(i) + ".test\r\n\tby x.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
  }
  return h;
}

TEST_F(SessionTest, TooManyReceivedHeadersIsRefusedAsALoop) {
  limits_.hops_max = 3;  // ours + 2 from the client
  Open(true);
  Send("EHLO c\r\n");
  struct Case {
    std::string header;
    bool refused;
  };
  const Case cases[] = {
      {Received(2), false},
      {Received(3), true},
      {Received(1) + Received(1, "received:") + Received(1, "RECEIVED:"), true},
      {Received(5, "X-Received:") + Received(2), false},
      // Only the header section counts.
      {Received(2) + "Subject: x\r\n\r\n" + Received(5), false},
      {"\r\n" + Received(5), false},
  };
  for (const Case& c : cases) {
    for (bool bdat : {false, true}) {
      const std::string content = c.header + "Subject: loop\r\n\r\nbody\r\n";
      host_.rejections.clear();
      const size_t before = host_.submitted.size();
      std::string out = Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
      if (bdat) {
        out += Send("BDAT " + std::to_string(content.size()) + " LAST\r\n" + content);
      } else {
        out += Send("DATA\r\n" + content + ".\r\n");
      }
      if (c.refused) {
        EXPECT_NE(out.find("554 5.4.0 Too many hops\r\n"), std::string::npos) << out;
        EXPECT_EQ(host_.submitted.size(), before);
        ASSERT_EQ(host_.rejections.size(), 1u);
        EXPECT_EQ(host_.rejections[0], "554 ");
      } else {
        ASSERT_EQ(host_.submitted.size(), before + 1) << out;
        Commit();
        host_.Take();
      }
    }
  }
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

// --- Conformance (issue 11, item 9) ------------------------------------------

// DSN's parameters are offered (session_dsn_test.cc); the MAIL ones on RCPT,
// the RCPT ones on MAIL, and everything else not offered get 555.
TEST_F(SessionTest, UnknownAndUnofferedParametersAreRefusedWith555) {
  Send("EHLO c\r\n");
  for (const char* mail : {"MAIL FROM:<a@x.test> XFOO=1", "MAIL FROM:<a@x.test> NOTIFY=NEVER",
                           "MAIL FROM:<a@x.test> ORCPT=rfc822;a@x.test",
                           "MAIL FROM:<a@x.test> AUTH=<>",
                           "MAIL FROM:<a@x.test> SIZE=10 BODY=BINARYMIME"}) {
    EXPECT_EQ(Send(std::string(mail) + "\r\n").substr(0, 10), "555 5.5.4 ") << mail;
  }
  EXPECT_EQ(Send("MAIL FROM:<a@x.test> RET=FULL XFOO=1\r\n"),
            "555 5.5.4 Error: unsupported parameter XFOO\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test> SIZE=10 BODY=8BITMIME SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
  for (const char* rcpt : {"RCPT TO:<b@y.test> RET=FULL", "RCPT TO:<b@y.test> ENVID=x",
                           "RCPT TO:<b@y.test> SIZE=1"}) {
    EXPECT_EQ(Send(std::string(rcpt) + "\r\n").substr(0, 10), "555 5.5.4 ") << rcpt;
  }
  EXPECT_EQ(host_.rejections.size(), 9u);
  EXPECT_EQ(host_.rejections.back(), "555 b@y.test");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("DATA\r\nhi\r\n.\r\n").substr(0, 4), "354 ");
  ASSERT_EQ(host_.submitted.size(), 1u);
  EXPECT_EQ(host_.submitted[0]->recipients, std::vector<std::string>{"b@y.test"});
}

TEST_F(SessionTest, PostmasterIsAcceptedFromAnyClientAndRewritten) {
  limits_.postmaster = "hostmaster@admin.test";
  for (bool relay : {false, true}) {
    host_ = TestHost();
    Open(relay);
    Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
    EXPECT_EQ(Send("RCPT TO:<PostMaster>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(Send("RCPT TO:<postmaster>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n").substr(0, 4), relay ? "250 " : "554 ");
    Send("DATA\r\nSubject: hi\r\n\r\nhi\r\n.\r\n");
    ASSERT_EQ(host_.submitted.size(), 1u);
    std::vector<std::string> want = {"hostmaster@admin.test", "hostmaster@admin.test"};
    if (relay) want.push_back("b@y.test");
    EXPECT_EQ(host_.submitted[0]->recipients, want);
  }
}

TEST_F(SessionTest, NonAsciiAddressNeedsSmtpUtf8) {
  const std::string utf8_sender = "j\xC3\xB6rg@b\xC3\xBC" "cher.test";
  const std::string utf8_rcpt = "\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B.test";
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("MAIL FROM:<" + utf8_sender + ">\r\n"),
            "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<" + utf8_rcpt + ">\r\n"),
            "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
  ASSERT_EQ(host_.rejections.size(), 2u);
  EXPECT_EQ(host_.rejections[1], "553 " + utf8_rcpt);
  Send("RSET\r\n");
  EXPECT_EQ(Send("MAIL FROM:<" + utf8_sender + "> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<" + utf8_rcpt + ">\r\n"), "250 2.1.5 Ok\r\n");
  // Invalid UTF-8 and control characters stay syntax errors.
  EXPECT_EQ(Send("RCPT TO:<\xC3@y.test>\r\n").substr(0, 4), "501 ");
  EXPECT_EQ(Send("RCPT TO:<a\x01\xC3\xA9@y.test>\r\n").substr(0, 4), "501 ");
  Send("DATA\r\nSubject: hi\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(host_.submitted.size(), 1u);
  EXPECT_TRUE(host_.submitted[0]->smtputf8);
  EXPECT_EQ(host_.submitted[0]->sender, utf8_sender);
  EXPECT_EQ(host_.submitted[0]->recipients, std::vector<std::string>{utf8_rcpt});
}

}  // namespace
}  // namespace ringpost::server
