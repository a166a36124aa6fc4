// session_test_host.h — what session_test.cc and session_dsn_test.cc share:
// a SessionHost that records everything the session does, and a fixture
// with a relaying client on a fresh session. Test-only: listed in the
// tests' srcs, never in a library.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "relay/inbound/session.h"

namespace ringpost::server::test {

class TestHost : public SessionHost {
 public:
  std::string& Output() override { return out; }
  void OutputReady() override {}
  uint64_t NewMessageId() override { return ++next_id; }
  absl::Status SpoolAvailable() override { return spool_status; }
  std::unique_ptr<IncomingMessage> NewIncomingMessage() override {
    auto m = std::make_unique<IncomingMessage>();
    last_message = m.get();
    return m;
  }
  void Submit(std::unique_ptr<IncomingMessage> m) override {
    submitted.push_back(std::move(m));
  }
  void CloseAfterOutput() override { closed = true; }
  void PauseInput() override { paused = true; }
  void ResumeInput() override { paused = false; }
  int64_t WallClockMs() override { return 1700000000000; }
  void OnRejected(std::string_view, std::string_view recipient, int code,
                  std::string_view, std::string_view) override {
    rejections.push_back(std::to_string(code) + " " + std::string(recipient));
  }
  // STARTTLS and AUTH are not offered here (session_tls_test.cc).
  void StartTls() override { ADD_FAILURE() << "StartTls without tls_available"; }
  AuthVerdict Authenticate(std::string_view, std::string_view) override {
    ADD_FAILURE() << "Authenticate without auth_available";
    return AuthVerdict::kBad;
  }
  std::vector<std::string> rejections;

  std::string Take() {
    std::string s;
    s.swap(out);
    return s;
  }

  std::string out;
  // The latest message handed out; valid while the session holds it (its
  // transaction is open).
  IncomingMessage* last_message = nullptr;
  uint64_t next_id = 0x100;
  absl::Status spool_status;
  std::deque<std::unique_ptr<IncomingMessage>> submitted;
  bool closed = false;
  bool paused = false;
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(true); }
  void Open(bool relay) {
    session_ = std::make_unique<Session>(&host_, &limits_, "mx.test",
                                         ClientInfo{"127.0.0.1", relay});
    session_->Start();
    EXPECT_EQ(host_.Take(), "220 mx.test ESMTP ringpost\r\n");
  }
  std::string Send(std::string_view s) {
    session_->Feed(s);
    return host_.Take();
  }
  void Commit() {
    ASSERT_FALSE(host_.submitted.empty());
    session_->OnSubmitted(absl::OkStatus(), host_.submitted.back()->id);
  }

  SessionLimits limits_;
  TestHost host_;
  std::unique_ptr<Session> session_;
};

}  // namespace ringpost::server::test
