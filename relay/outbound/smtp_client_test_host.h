// smtp_client_test_host.h — what smtp_client_test.cc,
// smtp_client_errors_test.cc and smtp_client_tls_test.cc share: a
// ClientHost that records everything the client does, the EHLO replies the
// scripts use, and small helpers. Test-only: listed in the tests' srcs,
// never in a library.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/outbound/smtp_client.h"

namespace ringpost::client::test {

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
  void StartTls() override { ++start_tls; }
  std::string Take() {
    std::string s;
    s.swap(out);
    return s;
  }
  std::string out;
  int idle = 0;
  int start_tls = 0;
  std::vector<std::vector<RecipientOutcome>> results;
  bool ended = false;
  RecipientOutcome end_reason;
};

inline constexpr char kEhloPipelining[] =
    "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000\r\n";
inline constexpr char kEhloPlain[] = "250 sink.test\r\n";

inline Transaction Txn(const std::vector<std::string_view>& rcpts,
                       std::string_view content = "Subject: x\r\n\r\n.hi\r\n") {
  Transaction t;
  t.sender = "a@x.test";
  t.recipients = rcpts;
  t.content = content;
  return t;
}

inline constexpr char kEhloStream[] =
    "250-s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

// Feeds the greeting and `ehlo`, and drops what the client sent so far.
inline void Greet(SmtpClient& c, TestHost& h, std::string_view ehlo) {
  c.Feed("220 s\r\n");
  c.Feed(ehlo);
  h.Take();
}

inline bool AnyDelivered(const TestHost& h) {
  for (const auto& r : h.results) {
    for (const RecipientOutcome& o : r) {
      if (o.delivered()) return true;
    }
  }
  return false;
}

inline bool AllDecided(const TestHost& h) {
  for (const auto& r : h.results) {
    for (const RecipientOutcome& o : r) {
      if (o.code < 200 || o.code >= 600) return false;
    }
  }
  return true;
}

}  // namespace ringpost::client::test
