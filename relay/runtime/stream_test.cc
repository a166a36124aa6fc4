// stream_test.cc — Stream's state transitions (see the essay in stream.h)
// on a real loop against a loopback TCP peer the test drives with plain
// system calls: close with output pending, abort while a send is in flight,
// the peer closing while reading is paused, Release before and after the
// final completion, and the no-ops each state promises.
//
// Every wait runs the loop until a condition holds, with a deadline; a 1 ms
// timer keeps the loop turning while only the peer's socket changes. A
// released stream frees itself out of sight: the ASan build
// (--config=asan) reports any stream a test leaves behind.
#include "relay/runtime/stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <cctype>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "relay/runtime/loop.h"

namespace ringpost::runtime {
namespace {

constexpr uint64_t kDeadlineMs = 5000;

// Records every handler call. Releases the stream in OnStreamClosed unless
// told not to.
class Recorder final : public StreamHandler {
 public:
  void OnStreamData(std::string_view d) override { data.append(d); }
  void OnStreamClosed(int error) override {
    ++closed_calls;
    close_error = error;
    if (release_on_close) {
      stream->Release();
      stream = nullptr;
    }
  }
  void OnStreamDrained() override { ++drained_calls; }

  Stream* stream = nullptr;
  std::string data;
  int closed_calls = 0;
  int close_error = 1;
  int drained_calls = 0;
  bool release_on_close = true;
};

// The far end of the connection, driven with plain non-blocking calls.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() {
    if (fd_ >= 0) close(fd_);
  }
  // Reads whatever has arrived; notes EOF (or a reset) once seen.
  void Pump() {
    char buf[65536];
    while (!eof) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        eof = true;
      } else if (errno == EAGAIN) {
        return;
      } else {
        eof = true;
        read_error = errno;
      }
    }
  }
  void Send(std::string_view s) {
    ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void ShutdownWrite() { ASSERT_EQ(shutdown(fd_, SHUT_WR), 0); }
  // Closes with an RST instead of a FIN.
  void Reset() {
    linger l = {1, 0};
    ASSERT_EQ(setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    close(fd_);
    fd_ = -1;
  }

  std::string got;
  bool eof = false;
  int read_error = 0;

 private:
  int fd_;
};

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LoopOptions o;
    o.sq_entries = 256;
    o.recv_buffers = 64;
    o.recv_buffer_bytes = 4096;
    auto loop = Loop::Create(o);
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    loop_->AddTurnHook([this] {
      if (until_ && until_()) loop_->Quit();
    });
    tick_.context = this;
    tick_.callback = [](Timer* t) {
      auto* self = static_cast<StreamTest*>(t->context);
      self->loop_->timers().Arm(&self->tick_, self->loop_->now_ms() + 1);
    };
  }

  void TearDown() override {
    // Give released streams their last completions, then stop.
    EXPECT_TRUE(Quiesce());
    peer_.reset();
  }

  // Connects a loopback pair: the accepted end becomes the stream, the
  // connecting end the peer. `small_buffers` shrinks the kernel's socket
  // buffers so a few hundred KiB keep a send in flight until the peer reads.
  void Connect(bool small_buffers = false) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(lfd, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(lfd, 1), 0);
    socklen_t len = sizeof(a);
    ASSERT_EQ(getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(cfd, 0);
    int small = 4096;
    if (small_buffers) {
      ASSERT_EQ(setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    }
    ASSERT_EQ(connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    int sfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(sfd, 0);
    close(lfd);
    if (small_buffers) {
      ASSERT_EQ(setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    }
    ASSERT_EQ(fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK), 0);
    peer_ = std::make_unique<Peer>(cfd);
    rec_.stream = new Stream(loop_.get(), sfd, &rec_);
    stream_fd_ = sfd;
  }

  // Runs the loop until `done` holds (checked after every turn). False
  // when the deadline passed first.
  bool RunUntil(std::function<bool()> done, uint64_t deadline_ms = kDeadlineMs) {
    const uint64_t deadline = MonotonicMs() + deadline_ms;
    bool timed_out = false;
    until_ = [&] {
      if (done()) return true;
      if (MonotonicMs() >= deadline) timed_out = true;
      return timed_out;
    };
    loop_->timers().Arm(&tick_, loop_->now_ms() + 1);
    loop_->Run();
    loop_->timers().Disarm(&tick_);
    until_ = nullptr;
    return !timed_out;
  }

  // Runs until no completion has arrived for five turns in a row (the loop
  // turns every millisecond): whatever was in the kernel has answered.
  bool Quiesce() {
    uint64_t last = loop_->stats().completions;
    int quiet_turns = 0;
    return RunUntil([&] {
      const uint64_t now = loop_->stats().completions;
      quiet_turns = now == last ? quiet_turns + 1 : 0;
      last = now;
      return quiet_turns >= 5;
    });
  }

  // Bytes in the stream's socket receive buffer, not yet taken by a receive.
  int Unread() const {
    int n = -1;
    EXPECT_EQ(ioctl(stream_fd_, FIONREAD, &n), 0);
    return n;
  }

  static std::string Payload(size_t bytes) {
    std::string s;
    for (int i = 0; s.size() < bytes; ++i) s += "line " + std::to_string(i) + "\r\n";
    s.resize(bytes);
    return s;
  }

  std::unique_ptr<Loop> loop_;
  std::function<bool()> until_;
  Timer tick_;
  Recorder rec_;
  std::unique_ptr<Peer> peer_;
  int stream_fd_ = -1;
};

TEST_F(StreamTest, WriteDrainsThenReleaseClosesWithoutCallback) {
  Connect();
  Stream* s = rec_.stream;
  s->Start();
  s->Write("hello\r\n");
  EXPECT_EQ(s->queued_bytes(), 7u);
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return rec_.drained_calls == 1 && peer_->got.size() == 7;
  }));
  EXPECT_EQ(peer_->got, "hello\r\n");
  EXPECT_EQ(s->bytes_sent(), 7u);
  EXPECT_EQ(s->queued_bytes(), 0u);
  EXPECT_FALSE(s->closed());

  peer_->Send("ok");
  ASSERT_TRUE(RunUntil([&] { return rec_.data == "ok"; }));
  EXPECT_EQ(s->bytes_received(), 2u);

  // Release in Open: Closing at once, and no OnStreamClosed.
  s->Release();
  rec_.stream = nullptr;
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_EQ(rec_.closed_calls, 0);
}

TEST_F(StreamTest, CloseWithOutputPendingSendsEverythingThenCloses) {
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Start();
  const std::string payload = Payload(256 * 1024);
  s->Write(payload);
  s->Close();  // Open -> Draining
  EXPECT_FALSE(s->closed());
  s->Write("ignored");  // Write in Draining is dropped
  s->Close();           // and Close again is a no-op
  EXPECT_EQ(s->queued_bytes(), payload.size());

  // The peer does not read yet: the send stays in flight, still Draining.
  ASSERT_TRUE(RunUntil([&] { return s->bytes_sent() > 0; }));
  EXPECT_GT(s->queued_bytes(), 0u);
  EXPECT_FALSE(s->closed());
  EXPECT_EQ(rec_.closed_calls, 0);

  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof && rec_.closed_calls == 1;
  }));
  EXPECT_EQ(peer_->got.size(), payload.size());
  EXPECT_TRUE(peer_->got == payload);
  EXPECT_EQ(rec_.close_error, 0);
  EXPECT_EQ(rec_.drained_calls, 0);  // draining ends in a close, not a drain
}

// Upper-cases what the handler queued with it and brackets each sealed run,
// so the test sees which writes were sealed together, and in what order.
class UpperFilter final : public OutputFilter {
 public:
  void Seal(std::string* out) override {
    if (pending.empty()) return;
    out->push_back('[');
    for (char c : pending) out->push_back(static_cast<char>(toupper(c)));
    out->push_back(']');
    pending.clear();
  }
  std::string pending;
};

TEST_F(StreamTest, OutputFilterSealsATurnsWritesTogetherAndOnClose) {
  Connect();
  Stream* s = rec_.stream;
  UpperFilter filter;
  s->set_output_filter(&filter);
  s->Start();
  // Bytes written straight to the stream keep their place before the run.
  s->Write("plain ");
  for (const char* w : {"one ", "two ", "three"}) {
    filter.pending += w;
    s->Flush();
  }
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->got.size() == 21;
  }));
  EXPECT_EQ(peer_->got, "plain [ONE TWO THREE]");
  // Written while nothing is in flight, sealed on Close.
  filter.pending = "last";
  s->Close();
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof && rec_.closed_calls == 1;
  }));
  EXPECT_EQ(peer_->got, "plain [ONE TWO THREE][LAST]");
}

TEST_F(StreamTest, CloseWithNothingQueuedClosesAtOnce) {
  Connect();
  Stream* s = rec_.stream;
  s->Start();
  s->Close();  // Open -> Closing
  EXPECT_TRUE(s->closed());
  s->Write("ignored");
  s->Abort(-EIO);  // no-op once Closing: the error stays 0
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
  EXPECT_EQ(rec_.close_error, 0);
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_EQ(peer_->got, "");
}

TEST_F(StreamTest, AbortWhileSendInFlightDropsOutputAndReportsError) {
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Start();
  const std::string payload = Payload(256 * 1024);
  s->Write(payload);
  ASSERT_TRUE(RunUntil([&] { return s->bytes_sent() > 0; }));
  ASSERT_GT(s->queued_bytes(), 0u);  // the rest waits in a send in flight
  s->Abort(-ECONNRESET);
  EXPECT_TRUE(s->closed());
  s->Write("ignored");
  // The handler releases in OnStreamClosed, which may come before the
  // aborted send's completion: the stream waits for it before freeing.
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
  EXPECT_EQ(rec_.close_error, -ECONNRESET);
  EXPECT_EQ(rec_.drained_calls, 0);
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_LT(peer_->got.size(), payload.size());
}

TEST_F(StreamTest, AbortAndReleaseWhileSendInFlightMakeNoCallback) {
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Start();
  s->Write(Payload(256 * 1024));
  ASSERT_TRUE(RunUntil([&] { return s->bytes_sent() > 0; }));
  // Release before any final completion: receive, send and close are all
  // still in the kernel.
  s->Abort(-ECONNRESET);
  s->Release();
  rec_.stream = nullptr;
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_TRUE(Quiesce());
  EXPECT_EQ(rec_.closed_calls, 0);
  EXPECT_EQ(rec_.drained_calls, 0);
}

TEST_F(StreamTest, AbortWhileDrainingDropsQueuedOutput) {
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Start();
  s->Write(Payload(256 * 1024));
  s->Close();  // Draining; nothing has left yet
  EXPECT_FALSE(s->closed());
  s->Abort(-EPIPE);  // Draining -> Closing
  EXPECT_TRUE(s->closed());
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof && rec_.closed_calls == 1;
  }));
  EXPECT_EQ(rec_.close_error, -EPIPE);
  EXPECT_EQ(peer_->got, "");  // released in OnStreamClosed: s is gone
}

TEST_F(StreamTest, PeerCloseWhilePausedIsSeenOnResume) {
  Connect();
  Stream* s = rec_.stream;
  s->Start();
  s->PauseReading();
  s->PauseReading();  // idempotent
  // Let the receive and its cancellation settle before the peer speaks.
  ASSERT_TRUE(Quiesce());
  peer_->Send("hello");
  peer_->ShutdownWrite();
  // The bytes sit in the socket; paused, nobody takes them and the FIN
  // goes unnoticed.
  ASSERT_TRUE(RunUntil([&] { return Unread() == 5; }));
  ASSERT_TRUE(Quiesce());
  EXPECT_EQ(Unread(), 5);
  EXPECT_EQ(rec_.data, "");
  EXPECT_EQ(rec_.closed_calls, 0);
  EXPECT_FALSE(s->closed());

  s->ResumeReading();
  s->ResumeReading();  // idempotent
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
  EXPECT_EQ(rec_.data, "hello");  // the data first, then the close
  EXPECT_EQ(rec_.close_error, 0);
}

TEST_F(StreamTest, PeerCloseWhilePausedThenReleaseWithoutResuming) {
  Connect();
  Stream* s = rec_.stream;
  s->Start();
  s->PauseReading();
  ASSERT_TRUE(Quiesce());
  peer_->Send("unread");
  peer_->ShutdownWrite();
  ASSERT_TRUE(RunUntil([&] { return Unread() == 6; }));
  s->Release();
  rec_.stream = nullptr;
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_EQ(rec_.data, "");
  EXPECT_EQ(rec_.closed_calls, 0);
}

TEST_F(StreamTest, PauseThenResumeBeforeTheCancellationLandsKeepsReading) {
  Connect();
  Stream* s = rec_.stream;
  s->Start();
  ASSERT_TRUE(Quiesce());  // the receive is armed in the kernel
  // Pause (cancel submitted at the end of the turn) and resume at once:
  // the cancelled receive's final completion re-arms it.
  s->PauseReading();
  s->ResumeReading();
  s->PauseReading();
  s->ResumeReading();
  ASSERT_TRUE(Quiesce());
  peer_->Send("abc");
  ASSERT_TRUE(RunUntil([&] { return rec_.data == "abc"; }));
  // And with the receive idle: pause, let it settle, resume.
  s->PauseReading();
  ASSERT_TRUE(Quiesce());
  peer_->Send("def");
  ASSERT_TRUE(RunUntil([&] { return Unread() == 3; }));
  EXPECT_EQ(rec_.data, "abc");
  s->ResumeReading();
  ASSERT_TRUE(RunUntil([&] { return rec_.data == "abcdef"; }));
  s->Close();
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
}

TEST_F(StreamTest, PeerFinWhileDrainingEndsTheDrain) {
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Start();
  const std::string payload = Payload(256 * 1024);
  s->Write(payload);
  s->Close();
  ASSERT_TRUE(RunUntil([&] { return s->bytes_sent() > 0; }));
  peer_->ShutdownWrite();  // Draining -> Closing(0) on the FIN
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
  EXPECT_EQ(rec_.close_error, 0);
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_LT(peer_->got.size(), payload.size());
}

TEST_F(StreamTest, PeerResetReportsTheError) {
  Connect();
  rec_.stream->Start();
  ASSERT_TRUE(Quiesce());
  peer_->Reset();
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
  EXPECT_EQ(rec_.close_error, -ECONNRESET);
}

TEST_F(StreamTest, ReleaseWhileDrainingStillDeliversEverything) {
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Start();
  const std::string payload = Payload(256 * 1024);
  s->Write(payload);
  s->Close();
  s->Release();  // Draining stays Draining; no more handler calls
  rec_.stream = nullptr;
  peer_->Send("late data goes nowhere");
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
  EXPECT_TRUE(peer_->got == payload);
  EXPECT_EQ(rec_.data, "");
  EXPECT_EQ(rec_.closed_calls, 0);
  EXPECT_EQ(rec_.drained_calls, 0);
}

TEST_F(StreamTest, ReleaseAfterTheFinalCompletionFreesAtOnce) {
  Connect();
  rec_.release_on_close = false;
  Stream* s = rec_.stream;
  s->Start();
  s->Write("bye");
  s->Close();
  ASSERT_TRUE(RunUntil([&] { return rec_.closed_calls == 1; }));
  ASSERT_TRUE(Quiesce());  // nothing left in the kernel
  EXPECT_TRUE(s->closed());
  // Every call is still legal on a closed, owned stream, and changes nothing.
  s->PauseReading();
  s->ResumeReading();
  s->Write("ignored");
  s->Close();
  s->Abort(-EIO);
  EXPECT_EQ(rec_.closed_calls, 1);
  s->Release();  // Closed and idle: frees here
  rec_.stream = nullptr;
  peer_->Pump();
  EXPECT_EQ(peer_->got, "bye");
}

TEST_F(StreamTest, ReleaseTwiceIsAnInvariantFailure) {
  // The kernel's io_uring worker is a thread of ours: re-run, don't fork.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Connect(/*small_buffers=*/true);
  Stream* s = rec_.stream;
  s->Write(Payload(256 * 1024));
  s->Close();
  s->Release();  // released while Draining: not freed yet
  rec_.stream = nullptr;
  EXPECT_DEATH(s->Release(), "CHECK failed: !released_");
  ASSERT_TRUE(RunUntil([&] {
    peer_->Pump();
    return peer_->eof;
  }));
}

}  // namespace
}  // namespace ringpost::runtime
