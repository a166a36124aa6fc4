// session_tls_test.cc — STARTTLS (RFC 3207) and AUTH (RFC 4954) in the
// inbound state machine: what EHLO offers before and after TLS, the 220 as
// the last plaintext and the discarded pipelined tail (CVE-2011-0411), the
// PLAIN and LOGIN exchanges and every refusal, require_tls/require_auth, and
// what the Received header says.
#include <deque>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "relay/inbound/session.h"
#include "relay/smtp/sasl.h"

namespace ringpost::server {
namespace {

constexpr std::string_view kTls = "TLSv1.3 TLS_AES_128_GCM_SHA256";
constexpr std::string_view kPassword = "s3cr3t pw!";
constexpr std::string_view k220 = "220 2.0.0 Ready to start TLS\r\n";
constexpr std::string_view k235 = "235 2.7.0 Authentication successful\r\n";

std::string B64(std::string_view octets) {
  std::string out;
  smtp::Base64Encode(octets, &out);
  return out;
}

std::string Plain(std::string_view authzid, std::string_view user, std::string_view password) {
  std::string m(authzid);
  m.push_back('\0');
  m.append(user);
  m.push_back('\0');
  m.append(password);
  return B64(m);
}

class TlsHost : public SessionHost {
 public:
  std::string& Output() override { return out; }
  void OutputReady() override {}
  uint64_t NewMessageId() override { return ++next_id; }
  absl::Status SpoolAvailable() override { return absl::OkStatus(); }
  void Submit(std::unique_ptr<IncomingMessage> m) override { submitted.push_back(std::move(m)); }
  void CloseAfterOutput() override { closed = true; }
  void PauseInput() override { paused = true; }
  void ResumeInput() override { paused = false; }
  int64_t WallClockMs() override { return 1700000000000; }
  void OnRejected(std::string_view, std::string_view, int code, std::string_view,
                  std::string_view) override {
    rejections.push_back(code);
  }
  void StartTls() override {
    ++starttls_calls;
    out_at_starttls = out;
  }
  AuthVerdict Authenticate(std::string_view user, std::string_view password) override {
    auth_calls.push_back(std::string(user) + ":" + std::string(password));
    if (user == "blocked") return AuthVerdict::kBlocked;
    return user == "tim" && password == kPassword ? AuthVerdict::kOk : AuthVerdict::kBad;
  }

  std::string Take() {
    std::string s;
    s.swap(out);
    return s;
  }

  std::string out;
  std::string out_at_starttls;  // the output when StartTls() was called
  uint64_t next_id = 0x100;
  std::deque<std::unique_ptr<IncomingMessage>> submitted;
  std::vector<int> rejections;
  std::vector<std::string> auth_calls;  // "user:password"
  int starttls_calls = 0;
  bool closed = false;
  bool paused = false;
};

ClientInfo Client(bool tls, bool auth, bool relay = false) {
  ClientInfo c;
  c.address = "192.0.2.1";
  c.relay_allowed = relay;
  c.tls_available = tls;
  c.auth_available = auth;
  return c;
}

class SessionTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(Client(true, true)); }
  void Open(ClientInfo client, bool implicit_tls = false) {
    host_ = TlsHost();
    session_ = std::make_unique<Session>(&host_, &limits_, "mx.test", std::move(client));
    if (implicit_tls) session_->TlsEstablished(kTls);
    session_->Start();
    EXPECT_EQ(host_.Take(), "220 mx.test ESMTP ringpost\r\n");
  }
  std::string Send(std::string_view s) {
    session_->Feed(s);
    return host_.Take();
  }
  void StartTls() {
    ASSERT_EQ(Send("STARTTLS\r\n"), k220);
    session_->TlsEstablished(kTls);
    ASSERT_TRUE(session_->tls_active());
  }
  // TLS, EHLO and a successful AUTH PLAIN as tim.
  void Authenticate() {
    StartTls();
    Send("EHLO c\r\n");
    ASSERT_EQ(Send("AUTH PLAIN " + Plain("", "tim", kPassword) + "\r\n"), k235);
  }
  void Commit() {
    ASSERT_FALSE(host_.submitted.empty());
    session_->OnSubmitted(absl::OkStatus(), host_.submitted.back()->id);
  }

  SessionLimits limits_;
  TlsHost host_;
  std::unique_ptr<Session> session_;
};

TEST_F(SessionTlsTest, EhloOffersStartTlsInPlaintextAndAuthOnlyInTls) {
  struct Case {
    bool tls_available, auth_available, in_tls;
    bool starttls, auth;
  };
  const Case kCases[] = {
      {false, false, false, false, false}, {true, false, false, true, false},
      {true, true, false, true, false},    {false, true, false, false, false},
      {true, true, true, false, true},     {true, false, true, false, false},
      {false, true, true, false, true},
  };
  for (const Case& c : kCases) {
    Open(Client(c.tls_available, c.auth_available), c.in_tls);
    const std::string out = Send("EHLO c\r\n");
    EXPECT_EQ(out.find("250-STARTTLS\r\n") != std::string::npos, c.starttls) << out;
    EXPECT_EQ(out.find("250-AUTH PLAIN LOGIN\r\n") != std::string::npos, c.auth) << out;
    EXPECT_EQ(out.substr(out.size() - 25), "250 ENHANCEDSTATUSCODES\r\n");
  }
  // The full lists, before and after the upgrade.
  Open(Client(true, true));
  const std::string common =
      "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
      "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n";
  EXPECT_EQ(Send("EHLO c\r\n"), common + "250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n");
  StartTls();
  EXPECT_EQ(Send("EHLO c\r\n"), common + "250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n");
}

TEST_F(SessionTlsTest, StartTlsRefusals) {
  struct Case {
    ClientInfo client;
    bool in_tls;
    std::string before;
    std::string line;
    std::string reply;
  };
  const Case kCases[] = {
      {Client(false, false), false, "EHLO c\r\n", "STARTTLS",
       "502 5.5.1 Error: command not implemented\r\n"},
      {Client(true, false), false, "EHLO c\r\n", "STARTTLS now",
       "501 5.5.4 Syntax: command takes no argument\r\n"},
      {Client(true, false, true), false, "EHLO c\r\nMAIL FROM:<a@x.test>\r\n", "STARTTLS",
       "503 5.5.1 Error: MAIL transaction in progress\r\n"},
      {Client(true, true), true, "EHLO c\r\n", "STARTTLS",
       "503 5.5.1 Error: TLS already active\r\n"},
  };
  for (const Case& c : kCases) {
    Open(c.client, c.in_tls);
    Send(c.before);
    const std::string out = Send(c.line + "\r\n");
    EXPECT_EQ(out.substr(0, 10), c.reply.substr(0, 10)) << c.line << ": " << out;
    EXPECT_EQ(host_.starttls_calls, 0);
    EXPECT_EQ(session_->tls_active(), c.in_tls);
    EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  }
}

// CVE-2011-0411: commands pipelined after STARTTLS were sent in plaintext
// and must never run, neither before nor after the handshake.
TEST_F(SessionTlsTest, PipelinedCommandsAfterStartTlsAreDiscarded) {
  for (const char* tail : {"RSET\r\n", "MAIL FROM:<evil@x.test>\r\n", "NOOP\r\nNOOP\r\nNO"}) {
    Open(Client(true, true, true));
    Send("EHLO c\r\n");
    EXPECT_EQ(Send(std::string("STARTTLS\r\n") + tail), k220) << tail;
    EXPECT_EQ(host_.starttls_calls, 1);
    EXPECT_EQ(host_.out_at_starttls, k220);  // written before the host is told
    // The host feeds nothing during the handshake; were it to, it is dropped.
    EXPECT_EQ(Send("QUIT\r\n"), "");
    EXPECT_FALSE(host_.closed);
    session_->TlsEstablished(kTls);
    EXPECT_EQ(host_.Take(), "");  // no banner again, no stray reply
    EXPECT_EQ(Send("OP\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    EXPECT_EQ(Send("EHLO c\r\n").substr(0, 12), "250-mx.test\r");
    EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(host_.starttls_calls, 1);
  }
}

// The 220 is the last plaintext: behind a pending commit it waits, reading
// nothing more, and goes out right after the commit's reply.
TEST_F(SessionTlsTest, StartTlsBehindAPendingCommitWaits) {
  Open(Client(true, true, true));
  const std::string out =
      Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n"
           "STARTTLS\r\nRSET\r\n");
  EXPECT_EQ(out.find("220 "), std::string::npos);
  EXPECT_EQ(host_.starttls_calls, 0);
  ASSERT_EQ(host_.submitted.size(), 1u);
  EXPECT_EQ(Send("NOOP\r\n"), "");  // buffered, later discarded
  Commit();
  EXPECT_EQ(host_.Take(), "250 2.0.0 Ok: queued as 0000000000000101\r\n" + std::string(k220));
  EXPECT_EQ(host_.starttls_calls, 1);
  session_->TlsEstablished(kTls);
  EXPECT_EQ(host_.Take(), "");
  EXPECT_EQ(Send("EHLO c\r\n").substr(0, 4), "250-");
}

TEST_F(SessionTlsTest, TlsStartsTheSessionAfresh) {
  Open(Client(true, true, true));
  Send("EHLO c\r\n");
  StartTls();
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_EQ(Send("AUTH PLAIN " + Plain("", "tim", kPassword) + "\r\n"),
            "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_TRUE(host_.auth_calls.empty());
}

TEST_F(SessionTlsTest, ShutdownAndTimeoutDuringTheHandshake) {
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("STARTTLS\r\n"), k220);
  session_->Shutdown();
  EXPECT_EQ(host_.Take(), "");
  session_->TlsEstablished(kTls);
  EXPECT_EQ(host_.Take().substr(0, 10), "421 4.3.2 ");
  EXPECT_TRUE(host_.closed);

  Open(Client(true, false));
  EXPECT_EQ(Send("STARTTLS\r\n"), k220);
  session_->OnTimeout();  // no reply into the handshake
  EXPECT_EQ(host_.Take(), "");
  EXPECT_TRUE(host_.closed);
  session_->TlsEstablished(kTls);  // the host's handshake ended anyway
  EXPECT_FALSE(session_->tls_active());
}

// One exchange per case, after TLS and EHLO: the lines sent, the replies,
// and what the host was asked.
TEST_F(SessionTlsTest, AuthExchanges) {
  const std::string good = Plain("", "tim", kPassword);
  struct Case {
    const char* name;
    std::vector<std::string> lines;
    std::vector<std::string> replies;
    std::vector<std::string> auth_calls;
    bool authenticated;
  };
  const std::string tim = "tim:" + std::string(kPassword);
  const Case kCases[] = {
      {"plain initial response", {"AUTH PLAIN " + good}, {std::string(k235)}, {tim}, true},
      {"plain lower case", {"auth plain " + good}, {std::string(k235)}, {tim}, true},
      {"plain via 334", {"AUTH PLAIN", good}, {"334 \r\n", std::string(k235)}, {tim}, true},
      {"plain authzid is user",
       {"AUTH PLAIN " + Plain("tim", "tim", kPassword)}, {std::string(k235)}, {tim}, true},
      {"plain other authzid",
       {"AUTH PLAIN " + Plain("admin", "tim", kPassword)},
       {"535 5.7.8 Error: authorization identity must be empty or the user\r\n"}, {}, false},
      {"plain wrong password",
       {"AUTH PLAIN " + Plain("", "tim", "guess")},
       {"535 5.7.8 Authentication credentials invalid\r\n"}, {"tim:guess"}, false},
      {"plain empty initial response",
       {"AUTH PLAIN ="}, {"501 5.5.2 Error: malformed PLAIN response\r\n"}, {}, false},
      {"plain one NUL",
       {"AUTH PLAIN", B64(std::string("tim\0pw", 6))},
       {"334 \r\n", "501 5.5.2 Error: malformed PLAIN response\r\n"}, {}, false},
      {"plain bad base64", {"AUTH PLAIN AGZvbwBi=Xi"},
       {"501 5.5.2 Error: invalid base64 data\r\n"}, {}, false},
      {"plain bad base64 response", {"AUTH PLAIN", good + " "},
       {"334 \r\n", "501 5.5.2 Error: invalid base64 data\r\n"}, {}, false},
      {"plain cancelled", {"AUTH PLAIN", "*"},
       {"334 \r\n", "501 5.7.0 Authentication aborted\r\n"}, {}, false},
      {"login",
       {"AUTH LOGIN", B64("tim"), B64(kPassword)},
       {"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", std::string(k235)}, {tim}, true},
      {"login initial response",
       {"AUTH LOGIN " + B64("tim"), B64(kPassword)},
       {"334 UGFzc3dvcmQ6\r\n", std::string(k235)}, {tim}, true},
      {"login cancelled at the password",
       {"AUTH LOGIN " + B64("tim"), "*"},
       {"334 UGFzc3dvcmQ6\r\n", "501 5.7.0 Authentication aborted\r\n"}, {}, false},
      {"login empty user", {"AUTH LOGIN", ""},
       {"334 VXNlcm5hbWU6\r\n", "501 5.5.2 Error: malformed LOGIN response\r\n"}, {}, false},
      {"login wrong password",
       {"AUTH LOGIN " + B64("tim"), B64("guess")},
       {"334 UGFzc3dvcmQ6\r\n", "535 5.7.8 Authentication credentials invalid\r\n"},
       {"tim:guess"}, false},
      {"unknown mechanism", {"AUTH CRAM-MD5"},
       {"504 5.5.4 Error: unsupported authentication mechanism\r\n"}, {}, false},
      {"bare LF in a response", {"AUTH PLAIN", good + "\n"},
       {"334 \r\n", "500 5.5.2 Error: bare LF received; command lines must end with CRLF\r\n"},
       {}, false},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Open(Client(true, true));
    StartTls();
    Send("EHLO c\r\n");
    for (size_t i = 0; i < c.lines.size(); ++i) {
      const std::string line = c.lines[i];
      // The bare-LF case carries its own line end.
      const bool own_end = !line.empty() && line.back() == '\n';
      const std::string out = Send(own_end ? line : line + "\r\n");
      ASSERT_LT(i, c.replies.size());
      EXPECT_EQ(out, c.replies[i]) << i;
      EXPECT_EQ(out.find(kPassword), std::string::npos);
    }
    EXPECT_EQ(host_.auth_calls, c.auth_calls);
    EXPECT_EQ(session_->auth_user(), c.authenticated ? "tim" : "");
    // Back to commands either way.
    EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
    EXPECT_FALSE(host_.closed);
  }
}

TEST_F(SessionTlsTest, AuthRefusals) {
  const std::string auth = "AUTH PLAIN " + Plain("", "tim", kPassword) + "\r\n";
  Open(Client(true, false));
  Send("EHLO c\r\n");
  StartTls();
  Send("EHLO c\r\n");
  EXPECT_EQ(Send(auth), "502 5.5.1 Error: command not implemented\r\n");
  Open(Client(true, true));
  Send("EHLO c\r\n");
  EXPECT_EQ(Send(auth),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  ClientInfo require_tls = Client(true, true);
  require_tls.require_tls = true;
  Open(require_tls);
  Send("EHLO c\r\n");
  EXPECT_EQ(Send(auth), "530 5.7.0 Must issue a STARTTLS command first\r\n");
  Open(Client(true, true), true);
  EXPECT_EQ(Send(auth), "503 5.5.1 Error: send EHLO first\r\n");
  Send("HELO c\r\n");
  EXPECT_EQ(Send(auth), "503 5.5.1 Error: send EHLO first\r\n");
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
  EXPECT_EQ(Send(auth), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  Send("RSET\r\n");
  EXPECT_EQ(Send(auth), k235);
  EXPECT_EQ(Send(auth), "503 5.5.1 Error: already authenticated\r\n");
  EXPECT_EQ(host_.auth_calls.size(), 1u);
  EXPECT_EQ(Send("AUTH\r\n").substr(0, 4), "501 ");
}

TEST_F(SessionTlsTest, TooManyFailuresFromTheHostBlocksAndCloses) {
  StartTls();
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("AUTH PLAIN " + Plain("", "blocked", "x") + "\r\nNOOP\r\n"),
            "421 4.7.0 Too many authentication failures, try again later\r\n");
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(session_->closed());
  EXPECT_TRUE(session_->auth_user().empty());
}

TEST_F(SessionTlsTest, WrongCredentialsCountAsErrors) {
  limits_.errors_max = 3;
  Open(Client(true, true));
  StartTls();
  Send("EHLO c\r\n");
  const std::string wrong = "AUTH PLAIN " + Plain("", "tim", "guess") + "\r\n";
  EXPECT_EQ(Send(wrong).substr(0, 4), "535 ");
  EXPECT_EQ(Send(wrong).substr(0, 4), "535 ");
  EXPECT_EQ(Send(wrong), "535 5.7.8 Authentication credentials invalid\r\n"
                         "421 4.7.0 mx.test Error: too many errors\r\n");
  EXPECT_TRUE(host_.closed);
}

// RFC 4954 4: response lines up to 12288 octets; a longer one ends the
// exchange (500 5.5.6), however it arrives, and the session reads on.
TEST_F(SessionTlsTest, AuthLineLimits) {
  const std::string long_b64 = B64(std::string(3000, 'x'));  // 4000 octets
  for (const bool chunked : {false, true}) {
    SCOPED_TRACE(chunked);
    Open(Client(true, true));
    StartTls();
    Send("EHLO c\r\n");
    // Longer than a MAIL line, within AUTH's: read and judged as PLAIN.
    EXPECT_EQ(Send("AUTH PLAIN " + long_b64 + "\r\n"),
              "501 5.5.2 Error: malformed PLAIN response\r\n");
    EXPECT_EQ(Send("AUTH PLAIN\r\n"), "334 \r\n");
    const std::string too_long(smtp::kAuthLineOctetsMax - 1, 'A');  // + CRLF: one over
    std::string out;
    if (chunked) {
      out = Send(too_long);
      out += Send(too_long);
      out += Send("\r\nNOOP\r\n");
    } else {
      out = Send(too_long + "\r\nNOOP\r\n");
    }
    EXPECT_EQ(out, "500 5.5.6 Authentication Exchange line is too long\r\n250 2.0.0 Ok\r\n");
    // Exactly at the limit: a response (bad base64 for its length).
    EXPECT_EQ(Send("AUTH PLAIN\r\n"), "334 \r\n");
    EXPECT_EQ(Send(std::string(smtp::kAuthLineOctetsMax - 3, 'A') + "\r\n"),
              "501 5.5.2 Error: invalid base64 data\r\n");
  }
}

TEST_F(SessionTlsTest, RequireTlsAndRequireAuth) {
  ClientInfo client = Client(true, true);
  client.require_tls = true;
  client.require_auth = true;
  Open(client);
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "530 5.7.0 Must issue a STARTTLS command first\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  StartTls();
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "530 5.7.0 Authentication required\r\n");
  EXPECT_EQ(Send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(host_.rejections, (std::vector<int>{530, 530}));
  EXPECT_EQ(Send("AUTH PLAIN " + Plain("", "tim", kPassword) + "\r\n"), k235);
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "250 2.1.0 Ok\r\n");
  // require_tls alone: TLS is enough.
  client.require_auth = false;
  Open(client);
  StartTls();
  Send("EHLO c\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@x.test>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(SessionTlsTest, AuthenticatedClientRelaysAndTheMessageSaysHow) {
  Open(Client(true, true, false));
  Send("EHLO c\r\n");
  StartTls();
  Send("EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "554 5.7.1 Relay access denied\r\n");
  Send("RSET\r\n");
  ASSERT_EQ(Send("AUTH LOGIN " + B64("tim") + "\r\n" + B64(kPassword) + "\r\n"),
            "334 UGFzc3dvcmQ6\r\n" + std::string(k235));
  // With AUTH offered, MAIL's AUTH= is accepted (and ignored).
  EXPECT_EQ(Send("MAIL FROM:<a@x.test> AUTH=<> SIZE=10\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@y.test>\r\n"), "250 2.1.5 Ok\r\n");
  Send("DATA\r\nSubject: hi\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(host_.submitted.size(), 1u);
  const IncomingMessage& m = *host_.submitted[0];
  EXPECT_EQ(m.auth_user, "tim");
  EXPECT_EQ(m.tls, kTls);
  EXPECT_EQ(m.content.substr(0, m.content.find(";")),
            "Received: from c ([192.0.2.1])\r\n\t(using TLSv1.3 TLS_AES_128_GCM_SHA256)\r\n"
            "\tby mx.test (ringpost) with ESMTPSA id 0000000000000101");
  EXPECT_EQ(m.content.find("tim"), std::string::npos);
  // Still refused when it is not the only unknown parameter.
  Commit();
  host_.Take();
  EXPECT_EQ(Send("MAIL FROM:<a@x.test> AUTH=<> XFOO=1\r\n"),
            "555 5.5.4 Error: unsupported parameter XFOO\r\n");
}

TEST_F(SessionTlsTest, ReceivedHeaderProtocolNames) {
  struct Case {
    bool tls, helo, auth;
    const char* protocol;
  };
  const Case kCases[] = {
      {false, false, false, "ESMTP"}, {false, true, false, "SMTP"},
      {true, false, false, "ESMTPS"}, {true, true, false, "SMTP"},
      {true, false, true, "ESMTPSA"},
      // HELO after AUTH: still authenticated, so still ESMTPSA (found by
      // the session fuzz target).
      {true, true, true, "ESMTPSA"},
  };
  for (const Case& c : kCases) {
    Open(Client(true, true, true), c.tls);
    if (c.auth) {
      Send("EHLO c\r\n");
      ASSERT_EQ(Send("AUTH PLAIN " + Plain("", "tim", kPassword) + "\r\n"), k235);
    }
    Send(c.helo ? "HELO c\r\n" : "EHLO c\r\n");
    Send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n");
    ASSERT_EQ(host_.submitted.size(), 1u) << c.protocol;
    const IncomingMessage& m = *host_.submitted[0];
    EXPECT_NE(m.content.find(std::string(" with ") + c.protocol + " id "), std::string::npos)
        << c.protocol << ": " << m.content;
    EXPECT_EQ(m.content.find("(using ") != std::string::npos, c.tls) << c.protocol;
    EXPECT_EQ(m.tls, c.tls ? kTls : "");
    EXPECT_EQ(m.auth_user, c.auth ? "tim" : "");
  }
}

// TCP may split the exchange anywhere: same replies, same identity.
TEST_F(SessionTlsTest, EveryByteSplitOfAnExchangeGivesTheSameResult) {
  const std::string script = "EHLO c\r\nAUTH LOGIN\r\n" + B64("tim") + "\r\n" + B64(kPassword) +
                             "\r\nAUTH PLAIN\r\n*\r\nNOOP\r\n";
  std::string want;
  for (size_t split = 0; split < script.size(); ++split) {
    Open(Client(true, true), true);
    std::string out = Send(script.substr(0, split));
    out += Send(script.substr(split));
    if (split == 0) want = out;
    EXPECT_EQ(out, want) << split;
    EXPECT_EQ(session_->auth_user(), "tim") << split;
  }
  EXPECT_NE(want.find(std::string(k235) + "503 5.5.1 Error: already authenticated\r\n"),
            std::string::npos)
      << want;
}

}  // namespace
}  // namespace ringpost::server
