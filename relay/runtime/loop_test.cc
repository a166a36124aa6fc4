// loop_test.cc — the runtime against real loopback sockets: accept, multishot
// receive, sends larger than the socket buffer (short sends), connect with
// timeout, timers, and stop from another thread.
#include "relay/runtime/loop.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "relay/runtime/stream.h"

namespace ringpost::runtime {
namespace {

std::unique_ptr<Loop> NewLoop(unsigned buffers = 64, unsigned size = 4096) {
  LoopOptions o;
  o.sq_entries = 256;
  o.recv_buffers = buffers;
  o.recv_buffer_bytes = size;
  auto loop = Loop::Create(o);
  EXPECT_TRUE(loop.ok()) << loop.status();
  return std::move(*loop);
}

// Echoes everything back.
class Echo final : public StreamHandler {
 public:
  Echo(Loop* loop, int fd, int* live) : stream(new Stream(loop, fd, this)), live_(live) {
    ++*live_;
    stream->Start();
  }
  void OnStreamData(std::string_view d) override { stream->Write(d); }
  void OnStreamClosed(int) override {
    stream->Release();
    --*live_;
    delete this;
  }
  Stream* stream;
  int* live_;
};

// Sends `payload`, collects the echo, quits the loop when all came back.
class Client : public StreamHandler {
 public:
  Client(Loop* loop, std::string payload) : loop_(loop), payload_(std::move(payload)) {}
  void Connected(int fd) {
    stream = new Stream(loop_, fd, this);
    stream->Start();
    stream->Write(payload_);
  }
  void OnStreamData(std::string_view d) override {
    received.append(d);
    if (received.size() == payload_.size()) {
      stream->Close();
    }
  }
  void OnStreamClosed(int error) override {
    close_error = error;
    stream->Release();
    loop_->Quit();
  }
  Loop* loop_;
  std::string payload_;
  std::string received;
  Stream* stream = nullptr;
  int close_error = 1;
};

TEST(LoopTest, EchoLargePayloadThroughSmallBuffers) {
  // 8 buffers of 4 KiB against 8 MiB: ENOBUFS backpressure and short sends.
  auto loop = NewLoop(8, 4096);
  auto addr = ParseHostPort("127.0.0.1:0");
  ASSERT_TRUE(addr.ok());
  Loop* l = loop.get();
  int echoes = 0;
  auto listener = Listener::Create(l, *addr, 16, [l, &echoes](int fd) { new Echo(l, fd, &echoes); });
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto target = ParseHostPort("127.0.0.1:" + std::to_string((*listener)->port()));
  ASSERT_TRUE(target.ok());

  std::string payload;
  for (int i = 0; payload.size() < 8 * 1024 * 1024; ++i) {
    payload += "line " + std::to_string(i) + "\r\n";
  }
  Client client(l, payload);
  int connect_result = 1;
  Connect(l, *target, 2000, [&](int fd) {
    connect_result = fd;
    ASSERT_GE(fd, 0);
    client.Connected(fd);
  });
  Timer guard;
  guard.context = l;
  guard.callback = [](Timer* t) {
    ADD_FAILURE() << "timed out";
    static_cast<Loop*>(t->context)->Quit();
  };
  l->timers().Arm(&guard, l->now_ms() + 20000);
  l->Run();
  // Let the echo side see the close and free itself.
  l->AddTurnHook([l, &echoes] {
    if (echoes == 0) l->Quit();
  });
  l->Run();
  l->timers().Disarm(&guard);
  EXPECT_EQ(echoes, 0);
  EXPECT_GE(connect_result, 0);
  EXPECT_EQ(client.received.size(), payload.size());
  EXPECT_TRUE(client.received == payload);
  EXPECT_GT(l->stats().completions, 0u);
  (*listener)->Close();
}

TEST(LoopTest, ConnectRefusedReportsError) {
  auto loop = NewLoop();
  Loop* l = loop.get();
  // Bind then close a socket to find a port nobody listens on.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  sockaddr_storage dest = {};
  memcpy(&dest, &a, sizeof(a));
  int result = 0;
  Connect(l, dest, 2000, [&](int r) {
    result = r;
    l->Quit();
  });
  l->Run();
  EXPECT_EQ(result, -ECONNREFUSED);
}

TEST(LoopTest, TimersFireInLoop) {
  auto loop = NewLoop();
  Loop* l = loop.get();
  Timer t;
  t.context = l;
  t.callback = [](Timer* self) { static_cast<Loop*>(self->context)->Quit(); };
  const uint64_t start = MonotonicMs();
  l->timers().Arm(&t, l->now_ms() + 30);
  l->Run();
  EXPECT_GE(MonotonicMs() - start, 25u);
}

TEST(LoopTest, RequestStopFromAnotherThreadRunsHandler) {
  auto loop = NewLoop();
  Loop* l = loop.get();
  bool handler_ran = false;
  l->SetStopHandler([&] {
    handler_ran = true;
    l->Quit();
  });
  std::thread stopper([l] {
    usleep(20000);
    l->RequestStop();
  });
  l->Run();
  stopper.join();
  EXPECT_TRUE(handler_ran);
  EXPECT_TRUE(l->stop_requested());
}

TEST(LoopTest, ParseHostPort) {
  EXPECT_TRUE(ParseHostPort("127.0.0.1:25").ok());
  EXPECT_TRUE(ParseHostPort("[::1]:2525").ok());
  EXPECT_FALSE(ParseHostPort("localhost:25").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:70000").ok());
  auto a = ParseHostPort("[::1]:2525");
  EXPECT_EQ(FormatAddress(*a), "[::1]:2525");
}

}  // namespace
}  // namespace ringpost::runtime
