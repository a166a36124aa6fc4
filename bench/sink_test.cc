// bench/sink_test.cc — the sink against a plain blocking client on loopback:
// ESMTP keywords, pipelining, DATA and BDAT content (byte-exact with
// --save_dir), strict line endings, limits, sequence errors, every fault
// injection knob, and what traffic-shaping tests read: open connections and
// their peak, counts per peer address and EHLO name, the arrival log,
// per-connection throttling and max_connections.
//
// Every wait has a deadline: replies are read with a 5 s receive timeout,
// and counts the sink updates after the client's last event (a close) are
// polled until they hold or a deadline passes (WaitUntil).
#include "bench/sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::bench {
namespace {

class Client {
 public:
  // `source`: the local address to bind before connecting (e.g.
  // "127.0.0.2"); null: the kernel's choice.
  explicit Client(uint16_t port, const char* source = nullptr) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv = {5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (source != nullptr) {
      sockaddr_in local = {};
      local.sin_family = AF_INET;
      if (inet_pton(AF_INET, source, &local.sin_addr) != 1 ||
          bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
        return;  // not connected
      }
    }
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // One complete reply, all lines with their CRLF; "" on EOF or timeout.
  std::string Reply() {
    std::string reply;
    while (true) {
      const size_t lf = buf_.find('\n');
      if (lf == std::string::npos) {
        if (!Fill()) return "";
        continue;
      }
      const std::string line = buf_.substr(0, lf + 1);
      buf_.erase(0, lf + 1);
      reply += line;
      if (line.size() < 4 || line[3] != '-') return reply;
    }
  }

  // The first three characters of the next reply.
  std::string Code() { return Reply().substr(0, 3); }

  // True when the server closed the connection (after any pending bytes).
  bool Eof() {
    while (Fill()) {
    }
    return eof_;
  }

 private:
  bool Fill() {
    char tmp[4096];
    const ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      eof_ = n == 0;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

std::unique_ptr<Sink> StartSink(SinkOptions o = SinkOptions()) {
  o.listen = "127.0.0.1:0";
  auto sink = Sink::Start(o);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? std::move(*sink) : nullptr;
}

// Connects, reads the greeting and says EHLO.
std::unique_ptr<Client> Session(const Sink& sink) {
  auto c = std::make_unique<Client>(sink.port());
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(c->Code(), "220");
  c->Send("EHLO test.example\r\n");
  EXPECT_EQ(c->Code(), "250");
  return c;
}

// Polls `done` until it holds or `timeout_ms` passed; true when it held.
// For state the sink changes after the client's last observable event.
template <typename Pred>
bool WaitUntil(Pred done, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// One transaction over DATA, pipelined; the end-of-data reply.
std::string SendMessage(Client* c, const std::string& rcpt = "x@y.example") {
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<" + rcpt + ">\r\nDATA\r\n");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "354");
  c->Send("Subject: x\r\n\r\nbody\r\n.\r\n");
  return c->Reply();
}

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string f; in >> f;) fields.push_back(f);
  return fields;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(SinkTest, EhloAdvertisesExtensions) {
  auto sink = StartSink();
  Client c(sink->port());
  EXPECT_EQ(c.Code(), "220");
  c.Send("EHLO test.example\r\n");
  const std::string ehlo = c.Reply();
  for (const char* kw : {"PIPELINING", "SIZE 104857600", "8BITMIME", "CHUNKING", "SMTPUTF8",
                         "ENHANCEDSTATUSCODES"}) {
    EXPECT_NE(ehlo.find(kw), std::string::npos) << kw << " in " << ehlo;
  }
  c.Send("QUIT\r\n");
  EXPECT_EQ(c.Code(), "221");
  EXPECT_TRUE(c.Eof());
}

// DSN is not offered, but a client that sends its parameters anyway is
// served (they are checked by the command parser and then ignored).
TEST(SinkTest, DsnParametersAreToleratedNotOffered) {
  auto sink = StartSink();
  Client c(sink->port());
  EXPECT_EQ(c.Code(), "220");
  c.Send("EHLO test.example\r\n");
  EXPECT_EQ(c.Reply().find("DSN"), std::string::npos);
  c.Send("MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ+2B1\r\n"
         "RCPT TO:<x@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.example\r\n"
         "RCPT TO:<z@y.example> NOTIFY=NEVER,DELAY\r\n"
         "DATA\r\nSubject: dsn\r\n\r\n.\r\n");
  EXPECT_EQ(c.Code(), "250");
  EXPECT_EQ(c.Code(), "250");
  EXPECT_EQ(c.Reply(),
            "501 5.5.4 Error: bad NOTIFY parameter: NEVER cannot be combined with other "
            "values\r\n");
  EXPECT_EQ(c.Code(), "354");
  EXPECT_EQ(c.Code(), "250");
}

TEST(SinkTest, StartTlsWithoutACertificateIsNotOffered) {
  auto sink = StartSink();
  Client c(sink->port());
  EXPECT_EQ(c.Code(), "220");
  c.Send("EHLO test.example\r\n");
  EXPECT_EQ(c.Reply().find("STARTTLS"), std::string::npos);
  c.Send("STARTTLS\r\nNOOP\r\n");
  EXPECT_EQ(c.Code(), "454");
  EXPECT_EQ(c.Code(), "250");  // still plaintext SMTP
}

TEST(SinkTest, PipelinedTransactionsInOneWrite) {
  SinkOptions o;
  o.record_ids = true;
  auto sink = StartSink(o);
  auto c = Session(*sink);
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "354");
  c->Send("X-Ringpost-Test-Id: one\r\n\r\nbody\r\n.\r\n"
          "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<z@y.example>\r\n"
          "DATA\r\n");
  EXPECT_NE(c->Reply().find("250 2.0.0 Ok: queued as sink-1"), std::string::npos);
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "354");
  c->Send("Subject: no id\r\n\r\n.\r\nQUIT\r\n");
  EXPECT_NE(c->Reply().find("queued as sink-2"), std::string::npos);
  EXPECT_EQ(c->Code(), "221");
  sink->RequestStop();
  sink->Wait();
  const SinkCounts n = sink->Counts();
  EXPECT_EQ(n.messages, 2u);
  EXPECT_EQ(n.recipients, 3u);
  EXPECT_EQ(n.connections, 1u);
  EXPECT_EQ(sink->AcceptedIds(), (std::vector<std::string>{"one", "-"}));
}

TEST(SinkTest, SavesUnstuffedDataAndBdatChunksExactly) {
  char tmpl[] = "/tmp/sink_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  SinkOptions o;
  o.save_dir = tmpl;
  auto sink = StartSink(o);
  auto c = Session(*sink);
  c->Send("MAIL FROM:<s@a.example>\r\nRCPT TO:<r1@b.example>\r\nRCPT TO:<r2@b.example>\r\n"
          "DATA\r\n");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "354");
  c->Send("Subject: dots\r\n\r\n..leading dot\r\n.\r\n");
  EXPECT_NE(c->Reply().find("queued as sink-1"), std::string::npos);
  // BDAT in three chunks, the middle one empty, the last one with LAST.
  c->Send("MAIL FROM:<>\r\nRCPT TO:<r3@b.example>\r\nBDAT 7\r\n.a\r\nb\r\nBDAT 0\r\n"
          "BDAT 5 LAST\r\nc\r\n\r\n");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Reply(), "250 2.0.0 7 octets received\r\n");
  EXPECT_EQ(c->Reply(), "250 2.0.0 7 octets received\r\n");
  EXPECT_NE(c->Reply().find("queued as sink-2"), std::string::npos);
  sink->RequestStop();
  sink->Wait();
  const std::string dir = tmpl;
  EXPECT_EQ(ReadFile(dir + "/1.eml"), "Subject: dots\r\n\r\n.leading dot\r\n");
  EXPECT_EQ(ReadFile(dir + "/1.env"),
            "MAIL FROM:<s@a.example>\nRCPT TO:<r1@b.example>\nRCPT TO:<r2@b.example>\n");
  EXPECT_EQ(ReadFile(dir + "/2.eml"), ".a\r\nb\r\nc\r\n\r\n");
  EXPECT_EQ(ReadFile(dir + "/2.env"), "MAIL FROM:<>\nRCPT TO:<r3@b.example>\n");
  EXPECT_EQ(sink->Counts().bdat_chunks, 3u);
  EXPECT_EQ(sink->Counts().bytes, std::string_view("Subject: dots\r\n\r\n.leading dot\r\n").size() +
                                      std::string_view(".a\r\nb\r\nc\r\n\r\n").size());
  EXPECT_EQ(system(("rm -rf " + dir).c_str()), 0);
}

TEST(SinkTest, StrictCommandLines) {
  auto sink = StartSink();
  auto c = Session(*sink);
  c->Send("FOO bar\r\n");
  EXPECT_EQ(c->Code(), "500");
  c->Send("NOOP\n");
  EXPECT_EQ(c->Reply().substr(0, 9), "500 5.5.2");
  c->Send("NO\rOP\r\n");
  EXPECT_EQ(c->Reply().substr(0, 9), "500 5.5.2");
  c->Send("NOOP " + std::string(1200, 'a') + "\r\n");
  EXPECT_EQ(c->Reply().substr(0, 9), "500 5.5.2");
  // An overlong line arriving in pieces is discarded, answered once.
  c->Send(std::string(3000, 'b'));
  c->Send(std::string(3000, 'b'));
  c->Send("\r\nNOOP\r\n");
  EXPECT_EQ(c->Reply().substr(0, 9), "500 5.5.2");
  EXPECT_EQ(c->Code(), "250");
  c->Send("RCPT TO:<a@b.example>\r\n");
  EXPECT_EQ(c->Code(), "503");
  c->Send("DATA\r\n");
  EXPECT_EQ(c->Code(), "503");
  c->Send("MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "503");
  EXPECT_EQ(c->Code(), "554");
  c->Send("MAIL FROM:<not an address>\r\n");
  EXPECT_EQ(c->Code(), "501");
}

TEST(SinkTest, TooManyErrorsCloseTheConnection) {
  auto sink = StartSink();
  auto c = Session(*sink);
  std::string junk;
  for (int i = 0; i < 30; ++i) junk += "JUNK\r\n";
  c->Send(junk);
  for (int i = 0; i < 19; ++i) EXPECT_EQ(c->Code(), "500");
  EXPECT_EQ(c->Reply().substr(0, 4), "500 ");
  EXPECT_EQ(c->Code(), "421");
  EXPECT_TRUE(c->Eof());
}

TEST(SinkTest, BareLineEndingsInDataAreRejectedNotEndOfData) {
  auto sink = StartSink();
  auto c = Session(*sink);
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
  c->Reply();
  c->Reply();
  EXPECT_EQ(c->Code(), "354");
  // "\n.\n" must not end the data (SMTP smuggling); the real end does.
  c->Send("Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n");
  EXPECT_EQ(c->Reply().substr(0, 10), "550 5.6.11");
  EXPECT_EQ(c->Code(), "250");  // NOOP: still in sync
  EXPECT_EQ(sink->Counts().messages, 0u);
}

TEST(SinkTest, SizeLimits) {
  SinkOptions o;
  o.max_size = 100;
  auto sink = StartSink(o);
  auto c = Session(*sink);
  c->Send("MAIL FROM:<a@b.example> SIZE=101\r\n");
  EXPECT_EQ(c->Reply().substr(0, 9), "552 5.3.4");
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
  c->Reply();
  c->Reply();
  EXPECT_EQ(c->Code(), "354");
  std::string big;
  for (int i = 0; i < 10; ++i) big += "0123456789012345678\r\n";
  c->Send(big + ".\r\n");
  EXPECT_EQ(c->Reply().substr(0, 9), "552 5.3.4");
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 200 LAST\r\n" +
          std::string(200, 'x'));
  c->Reply();
  c->Reply();
  EXPECT_EQ(c->Reply().substr(0, 9), "552 5.3.4");
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
  c->Reply();
  c->Reply();
  EXPECT_EQ(c->Code(), "354");
  c->Send(std::string(1100, 'y') + "\r\n.\r\n");
  EXPECT_EQ(c->Reply().substr(0, 3), "552");  // too big wins over too long
  EXPECT_EQ(sink->Counts().rejected_5xx, 3u);
}

TEST(SinkTest, InjectedFailures) {
  {
    SinkOptions o;
    o.fail_5xx = 1.0;
    auto sink = StartSink(o);
    auto c = Session(*sink);
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabc");
    c->Reply();
    c->Reply();
    EXPECT_EQ(c->Reply(), "550 5.7.1 sink: injected permanent failure\r\n");
    EXPECT_EQ(sink->Counts().rejected_5xx, 1u);
  }
  {
    SinkOptions o;
    o.fail_4xx = 1.0;
    auto sink = StartSink(o);
    auto c = Session(*sink);
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabc");
    c->Reply();
    c->Reply();
    EXPECT_EQ(c->Reply(), "451 4.3.0 sink: injected temporary failure\r\n");
    EXPECT_EQ(sink->Counts().rejected_4xx, 1u);
  }
  {
    SinkOptions o;
    o.drop = 1.0;
    auto sink = StartSink(o);
    auto c = Session(*sink);
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabc");
    EXPECT_EQ(c->Code(), "250");
    EXPECT_EQ(c->Code(), "250");
    EXPECT_TRUE(c->Eof());
    EXPECT_EQ(sink->Counts().dropped, 1u);
  }
  {
    SinkOptions o;
    o.fail_rcpt_5xx = 1.0;
    auto sink = StartSink(o);
    auto c = Session(*sink);
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    EXPECT_EQ(c->Code(), "250");
    EXPECT_EQ(c->Reply(), "550 5.1.1 sink: injected recipient rejection\r\n");
    EXPECT_EQ(c->Code(), "554");
    EXPECT_EQ(sink->Counts().rcpt_rejected, 1u);
  }
}

TEST(SinkTest, FailFirstAttemptPerId) {
  SinkOptions o;
  o.fail_first_attempt_4xx = true;
  o.threads = 2;
  auto sink = StartSink(o);
  const auto send = [&](const std::string& headers) {
    auto c = Session(*sink);
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    c->Reply();
    c->Reply();
    c->Reply();
    c->Send(headers + "\r\nbody\r\n.\r\n");
    return c->Code();
  };
  EXPECT_EQ(send("X-Ringpost-Test-Id: t1\r\n"), "451");
  EXPECT_EQ(send("X-Ringpost-Test-Id: t1\r\n"), "250");
  EXPECT_EQ(send("X-Ringpost-Test-Id: t2\r\n"), "451");
  EXPECT_EQ(send("Message-ID: <m1@x>\r\n"), "451");
  EXPECT_EQ(send("Message-ID: <m1@x>\r\n"), "250");
  EXPECT_EQ(send("Subject: no id at all\r\n"), "250");
  EXPECT_EQ(sink->Counts().rejected_4xx, 3u);
  EXPECT_EQ(sink->Counts().messages, 3u);
}

TEST(SinkTest, DelayedReplyKeepsPipelinedOrder) {
  SinkOptions o;
  o.delay_ms = 100;
  auto sink = StartSink(o);
  auto c = Session(*sink);
  timeval start, end;
  gettimeofday(&start, nullptr);
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabc"
          "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabc"
          "NOOP\r\n");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_NE(c->Reply().find("queued as"), std::string::npos);
  EXPECT_EQ(c->Code(), "250");
  EXPECT_EQ(c->Code(), "250");
  EXPECT_NE(c->Reply().find("queued as"), std::string::npos);
  EXPECT_EQ(c->Reply(), "250 2.0.0 Ok\r\n");
  gettimeofday(&end, nullptr);
  const long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_usec - start.tv_usec) / 1000;
  EXPECT_GE(ms, 190);
  EXPECT_EQ(sink->Counts().messages, 2u);
}

TEST(SinkTest, StopClosesOpenSessions) {
  SinkOptions o;
  o.threads = 2;
  auto sink = StartSink(o);
  auto a = Session(*sink);
  auto b = Session(*sink);
  sink->RequestStop();
  sink->Wait();
  EXPECT_TRUE(a->Eof());
  EXPECT_TRUE(b->Eof());
  EXPECT_EQ(sink->Counts().connections, 2u);
}

TEST(SinkTest, BadOptionsAreErrors) {
  SinkOptions o;
  o.listen = "nowhere:1";
  EXPECT_FALSE(Sink::Start(o).ok());
  o.listen = "127.0.0.1:0";
  o.fail_4xx = 1.5;
  EXPECT_FALSE(Sink::Start(o).ok());
}

// --- traffic-shaping support ---------------------------------------------------

TEST(SinkTest, CountsOpenConnectionsAndTheirPeak) {
  SinkOptions o;
  o.threads = 2;
  auto sink = StartSink(o);
  constexpr size_t kClients = 6;
  std::vector<std::unique_ptr<Client>> clients;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(sink->port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  // A greeting is sent after its connection was counted.
  for (auto& c : clients) EXPECT_EQ(c->Code(), "220");
  EXPECT_EQ(sink->Counts().connections_open, kClients);
  EXPECT_EQ(sink->Counts().connections_peak, kClients);
  clients.resize(2);  // four close
  EXPECT_TRUE(WaitUntil([&] { return sink->Counts().connections_open == 2; }))
      << sink->Counts().connections_open;
  Client again(sink->port());
  EXPECT_EQ(again.Code(), "220");
  EXPECT_EQ(sink->Counts().connections_open, 3u);
  clients.clear();
  again.Send("QUIT\r\n");
  EXPECT_EQ(again.Code(), "221");
  EXPECT_TRUE(WaitUntil([&] { return sink->Counts().connections_open == 0; }))
      << sink->Counts().connections_open;
  const SinkCounts n = sink->Counts();
  EXPECT_EQ(n.connections_peak, kClients);
  EXPECT_EQ(n.connections, kClients + 1);
  EXPECT_NE(SinkCountsJson(n).find("\"connections_open\": 0, \"connections_peak\": 6, "),
            std::string::npos)
      << SinkCountsJson(n);
}

TEST(SinkTest, CountsMessagesPerPeerAndEhloName) {
  SinkOptions o;
  o.threads = 2;
  auto sink = StartSink(o);
  {
    Client c(sink->port(), "127.0.0.2");
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.Code(), "220");
    c.Send("EHLO mta1.example\r\n");
    EXPECT_EQ(c.Code(), "250");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(SendMessage(&c).substr(0, 3), "250");
    // A new EHLO names the connection's later messages.
    c.Send("EHLO mta3.example\r\n");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(SendMessage(&c).substr(0, 3), "250");
  }
  {
    Client c(sink->port(), "127.0.0.1");
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.Code(), "220");
    c.Send("HELO mta2.example\r\n");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(SendMessage(&c).substr(0, 3), "250");
    // Only the first word counts, and only printable ASCII is kept (the
    // parser has refused control characters already).
    c.Send("EHLO we\"ird\\\xc3\xa9 trailing words\r\n");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(SendMessage(&c).substr(0, 3), "250");
    // Refused messages are not counted.
    c.Send("MAIL FROM:<a@b.example>\r\nDATA\r\n");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(c.Code(), "554");
  }
  const SinkCounts n = sink->Counts();
  EXPECT_EQ(n.messages, 6u);
  EXPECT_EQ(n.peers, (std::map<std::string, uint64_t>{{"127.0.0.1", 2}, {"127.0.0.2", 4}}));
  EXPECT_EQ(n.ehlo_names, (std::map<std::string, uint64_t>{{"mta1.example", 3},
                                                           {"mta2.example", 1},
                                                           {"mta3.example", 1},
                                                           {"we\"ird\\??", 1}}));
  EXPECT_NE(SinkCountsJson(n).find(", \"peers\": {\"127.0.0.1\": 2, \"127.0.0.2\": 4}, "
                                   "\"ehlo_names\": {\"mta1.example\": 3, \"mta2.example\": 1, "
                                   "\"mta3.example\": 1, \"we\\\"ird\\\\??\": 1}}"),
            std::string::npos)
      << SinkCountsJson(n);
}

TEST(SinkTest, SourceKeysAreBounded) {
  auto sink = StartSink();
  Client c(sink->port());
  EXPECT_EQ(c.Code(), "220");
  const size_t names = kSourceKeysMax + 5;
  for (size_t i = 0; i < names; ++i) {
    c.Send("EHLO n" + std::to_string(i) +
           ".example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 1 LAST\r\nx");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(c.Code(), "250");
    ASSERT_EQ(c.Code(), "250");
  }
  const SinkCounts n = sink->Counts();
  EXPECT_EQ(n.messages, names);
  EXPECT_EQ(n.ehlo_names.size(), kSourceKeysMax + 1);
  EXPECT_EQ(n.ehlo_names.at("n0.example"), 1u);
  EXPECT_EQ(n.ehlo_names.at("other"), 5u);
  EXPECT_EQ(n.ehlo_names.count("n1000.example"), 0u);
  EXPECT_EQ(n.peers, (std::map<std::string, uint64_t>{{"127.0.0.1", names}}));
}

TEST(SinkTest, ThrottleAfterTransactionsAtMail) {
  SinkOptions o;
  o.throttle_after = 2;
  auto sink = StartSink(o);
  for (int connection = 0; connection < 2; ++connection) {  // the script is per connection
    auto c = Session(*sink);
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    c->Send("MAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(c->Reply(), "451 4.7.0 Try again later\r\n");
    c->Send("NOOP\r\nMAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(c->Code(), "250");  // still open
    EXPECT_EQ(c->Reply(), "451 4.7.0 Try again later\r\n");
  }
  const SinkCounts n = sink->Counts();
  EXPECT_EQ(n.messages, 4u);
  EXPECT_EQ(n.throttled, 4u);
  EXPECT_EQ(n.rejected_4xx, 0u);
  EXPECT_NE(SinkCountsJson(n).find("\"throttled\": 4"), std::string::npos);
}

TEST(SinkTest, Throttle421ClosesTheConnection) {
  SinkOptions o;
  o.throttle_after = 2;
  o.throttle_reply = "421 4.7.0 sink: go away";
  auto sink = StartSink(o);
  auto c = Session(*sink);
  EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
  EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
  c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n");
  EXPECT_EQ(c->Reply(), "421 4.7.0 sink: go away\r\n");
  EXPECT_TRUE(c->Eof());  // nothing after it: the RCPT is not answered
  EXPECT_EQ(sink->Counts().throttled, 1u);
  EXPECT_TRUE(WaitUntil([&] { return sink->Counts().connections_open == 0; }));
}

TEST(SinkTest, ThrottleAtRcptAndAtData) {
  {
    SinkOptions o;
    o.throttle_after = 2;
    o.throttle_at = ThrottleAt::kRcpt;
    auto sink = StartSink(o);
    auto c = Session(*sink);
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<z@y.example>\r\n"
            "DATA\r\n");
    EXPECT_EQ(c->Code(), "250");
    EXPECT_EQ(c->Reply(), "451 4.7.0 Try again later\r\n");
    EXPECT_EQ(c->Reply(), "451 4.7.0 Try again later\r\n");
    EXPECT_EQ(c->Code(), "554");  // no valid recipients
    EXPECT_EQ(sink->Counts().throttled, 2u);
    EXPECT_EQ(sink->Counts().messages, 2u);
  }
  {
    SinkOptions o;
    o.throttle_after = 2;
    o.throttle_at = ThrottleAt::kData;
    o.throttle_reply = "554 5.7.0 sink: no more";
    auto sink = StartSink(o);
    auto c = Session(*sink);
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    EXPECT_EQ(SendMessage(c.get()), "554 5.7.0 sink: no more\r\n");
    c->Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabc");
    EXPECT_EQ(c->Code(), "250");
    EXPECT_EQ(c->Code(), "250");
    EXPECT_EQ(c->Reply(), "554 5.7.0 sink: no more\r\n");
    const SinkCounts n = sink->Counts();
    EXPECT_EQ(n.messages, 2u);
    EXPECT_EQ(n.throttled, 2u);
    EXPECT_EQ(n.rejected_5xx, 0u);
  }
  {
    SinkOptions o;
    o.throttle_after = 1;
    o.throttle_at = ThrottleAt::kData;
    o.throttle_reply = "421 4.3.2 sink: shutting down";
    auto sink = StartSink(o);
    auto c = Session(*sink);
    EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
    EXPECT_EQ(SendMessage(c.get()), "421 4.3.2 sink: shutting down\r\n");
    EXPECT_TRUE(c->Eof());
    EXPECT_EQ(sink->Counts().messages, 1u);
  }
}

TEST(SinkTest, BadThrottleOptionsAreRefused) {
  for (const char* bad : {"", "451", "451 ", "451-4.7.0 more follows", "251 2.0.0 fine",
                          "45x 4.7.0 x", "4510 x", "451 a\r\n", "451 tab\there",
                          "351 go ahead"}) {
    EXPECT_FALSE(ValidateThrottleReply(bad).ok()) << bad;
    SinkOptions o;
    o.listen = "127.0.0.1:0";
    o.throttle_after = 1;
    o.throttle_reply = bad;
    const auto sink = Sink::Start(o);
    ASSERT_FALSE(sink.ok()) << bad;
    EXPECT_NE(sink.status().message().find("--throttle_reply"), std::string::npos);
  }
  EXPECT_FALSE(ValidateThrottleReply("451 " + std::string(kThrottleReplyOctetsMax, 'x')).ok());
  for (const char* good : {"451 4.7.0 Try again later", "421 x", "550 5.7.1 No"}) {
    EXPECT_TRUE(ValidateThrottleReply(good).ok()) << good;
  }
  ThrottleAt at;
  EXPECT_TRUE(ParseThrottleAt("rcpt", &at));
  EXPECT_EQ(at, ThrottleAt::kRcpt);
  EXPECT_FALSE(ParseThrottleAt("RCPT", &at));
  EXPECT_FALSE(ParseThrottleAt("helo", &at));
}

TEST(SinkTest, MaxConnectionsRefusesTheNextOne) {
  SinkOptions o;
  o.threads = 2;
  o.max_connections = 2;
  auto sink = StartSink(o);
  auto a = Session(*sink);
  auto b = Session(*sink);
  {
    Client c(sink->port());
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.Reply(), "421 4.7.0 Too many connections\r\n");
    EXPECT_TRUE(c.Eof());
  }
  EXPECT_EQ(sink->Counts().connections_refused, 1u);
  EXPECT_EQ(sink->Counts().connections_peak, 3u);  // the refused one was open too
  // The refused connection and one served one close: room for one more.
  a.reset();
  EXPECT_TRUE(WaitUntil([&] { return sink->Counts().connections_open == 1; }))
      << sink->Counts().connections_open;
  auto d = Session(*sink);
  EXPECT_EQ(SendMessage(d.get()).substr(0, 3), "250");
  const SinkCounts n = sink->Counts();
  EXPECT_EQ(n.connections_refused, 1u);
  EXPECT_EQ(n.connections, 4u);
  EXPECT_NE(SinkCountsJson(n).find("\"connections_refused\": 1"), std::string::npos);
}

TEST(SinkTest, ArrivalsOneLinePerAcceptedMessage) {
  char tmpl[] = "/tmp/sink_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/arrivals";
  SinkOptions o;
  o.threads = 2;
  o.arrivals_path = path;
  o.throttle_after = 3;
  o.throttle_at = ThrottleAt::kData;  // the 4th message of a connection is refused
  auto sink = StartSink(o);
  const int64_t start_ns = RealtimeNs();
  {
    Client c(sink->port(), "127.0.0.2");
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.Code(), "220");
    c.Send("EHLO mta1.example\r\n");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(SendMessage(&c, "x@One.example").substr(0, 3), "250");
    c.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<y@two.example>\r\nRCPT TO:<z@three.example>\r\n"
           "BDAT 3 LAST\r\nabc");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(c.Code(), "250");
    EXPECT_EQ(SendMessage(&c, "Postmaster").substr(0, 3), "250");
    EXPECT_EQ(SendMessage(&c, "x@refused.example").substr(0, 3), "451");
  }
  auto c = Session(*sink);  // EHLO test.example from 127.0.0.1
  EXPECT_EQ(SendMessage(c.get(), "x@four.example").substr(0, 3), "250");
  const int64_t end_ns = RealtimeNs();
  // While running (what SIGUSR1 does), then after the stop: the same lines.
  ASSERT_TRUE(sink->WriteArrivals().ok());
  const std::string running = ReadFile(path);
  sink->RequestStop();
  sink->Wait();
  ASSERT_TRUE(sink->WriteArrivals().ok());
  EXPECT_EQ(ReadFile(path), running);
  const std::vector<std::string> lines = Lines(running);
  ASSERT_EQ(lines.size(), 4u) << running;
  const std::vector<std::vector<std::string>> want = {
      {"127.0.0.2", "mta1.example", "One.example"},
      {"127.0.0.2", "mta1.example", "two.example"},
      {"127.0.0.2", "mta1.example", "-"},
      {"127.0.0.1", "test.example", "four.example"}};
  int64_t last_ns = start_ns;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<std::string> f = Fields(lines[i]);
    ASSERT_EQ(f.size(), 4u) << lines[i];
    const int64_t ns = std::stoll(f[0]);
    EXPECT_GE(ns, last_ns) << lines[i];  // sorted, and within the test's time
    EXPECT_LE(ns, end_ns) << lines[i];
    last_ns = ns;
    EXPECT_EQ(std::vector<std::string>(f.begin() + 1, f.end()), want[i]) << lines[i];
  }
  EXPECT_EQ(system(("rm -rf " + std::string(tmpl)).c_str()), 0);
}

TEST(SinkTest, ArrivalsAreBounded) {
  char tmpl[] = "/tmp/sink_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/arrivals";
  SinkOptions o;
  o.arrivals_path = path;
  o.max_arrivals = 2;
  auto sink = StartSink(o);
  auto c = Session(*sink);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(SendMessage(c.get(), "x@d" + std::to_string(i) + ".example").substr(0, 3), "250");
  }
  ASSERT_TRUE(sink->WriteArrivals().ok());
  const std::vector<std::string> lines = Lines(ReadFile(path));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Fields(lines[0]).back(), "d0.example");
  EXPECT_EQ(Fields(lines[1]).back(), "d1.example");
  EXPECT_EQ(lines[2], "# dropped 3");
  EXPECT_EQ(sink->Counts().messages, 5u);
  EXPECT_EQ(system(("rm -rf " + std::string(tmpl)).c_str()), 0);
}

TEST(SinkTest, NoArrivalsWithoutAPath) {
  auto sink = StartSink();
  auto c = Session(*sink);
  EXPECT_EQ(SendMessage(c.get()).substr(0, 3), "250");
  EXPECT_TRUE(sink->WriteArrivals().ok());
}

}  // namespace
}  // namespace ringpost::bench
