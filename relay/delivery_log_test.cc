// delivery_log_test.cc — JSON escaping of every field, and when the log's
// batches are written (size, age, force).
#include "relay/delivery_log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace ringpost {
namespace {

// The escaping a JSON encoder must do, one byte at a time.
std::string Reference(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

// The text between "response": and the next field.
std::string ResponseField(const std::string& line) {
  const size_t a = line.find("\"response\":") + 11;
  const size_t b = line.find(",\"attempt\":");
  return line.substr(a, b - a);
}

TEST(DeliveryLogTest, EscapesEveryByteWhereverItSits) {
  // Each special byte at every offset of strings up to 40 bytes long (both
  // the 16-byte SIMD steps and the tail loop), plus bytes >= 0x80 as is.
  const std::string specials = std::string("\"\\\n\r\t\x01\x1f\x7f\x80\xff ", 11);
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (char c : specials) {
        std::string text(len, 'a');
        text[at] = c;
        LogRecord r;
        r.response = text;
        std::string line;
        AppendLogRecord(r, &line);
        ASSERT_EQ(ResponseField(line), Reference(text)) << "len " << len << " at " << at;
      }
    }
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  LogRecord r;
  r.response = all;
  std::string line;
  AppendLogRecord(r, &line);
  EXPECT_EQ(ResponseField(line), Reference(all));
}

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime::LoopOptions lo;
    lo.sq_entries = 64;
    lo.recv_buffers = 16;
    auto loop = runtime::Loop::Create(lo);
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    const char* base = getenv("TEST_TMPDIR");
    path_ = std::string(base != nullptr ? base : "/tmp") + "/delivery-XXXXXX";
    fd_ = mkstemp(path_.data());
    ASSERT_GE(fd_, 0);
    fcntl(fd_, F_SETFL, O_APPEND);
  }
  void TearDown() override {
    close(fd_);
    unlink(path_.c_str());
  }
  off_t FileSize() { return lseek(fd_, 0, SEEK_END); }
  // Runs the loop for about `ms`, calling log->Flush(force) every turn.
  void Run(DeliveryLog* log, uint64_t ms, bool force = false) {
    runtime::Timer stop;
    stop.context = loop_.get();
    stop.callback = [](runtime::Timer* t) { static_cast<runtime::Loop*>(t->context)->Quit(); };
    loop_->timers().Arm(&stop, loop_->now_ms() + ms);
    loop_->AddTurnHook([log, force] { log->Flush(force); });
    loop_->Run();
    loop_->timers().Disarm(&stop);
  }

  std::unique_ptr<runtime::Loop> loop_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(BatchTest, WrittenWhenOldEnoughOrLargeEnough) {
  DeliveryLog log(loop_.get(), fd_, /*flush_interval_ms=*/300);
  LogRecord r;
  r.type = LogEvent::kDelivery;
  r.response = "ok";
  log.Add(r);
  log.Flush();  // not due: young and small
  Run(&log, 50);
  EXPECT_EQ(FileSize(), 0);
  EXPECT_FALSE(log.idle());
  // The timer wakes the loop when the record is due, with nothing else to do.
  Run(&log, 600);
  EXPECT_GT(FileSize(), 0);
  EXPECT_TRUE(log.idle());
  // 64 KiB of records leave at once.
  const off_t before = FileSize();
  std::string big(1000, 'x');
  r.response = big;
  for (int i = 0; i < 70; ++i) log.Add(r);  // > 64 KiB, all young
  Run(&log, 50);
  EXPECT_GE(static_cast<size_t>(FileSize() - before), DeliveryLog::kBatchBytes);
  EXPECT_TRUE(log.idle());
}

TEST_F(BatchTest, ForceWritesAtOnce) {
  DeliveryLog log(loop_.get(), fd_, /*flush_interval_ms=*/10000);
  LogRecord r;
  log.Add(r);
  log.Flush(/*force=*/true);
  Run(&log, 50);
  EXPECT_GT(FileSize(), 0);
  EXPECT_TRUE(log.idle());
}

TEST_F(BatchTest, ZeroIntervalWritesEveryTurn) {
  DeliveryLog log(loop_.get(), fd_, 0);
  LogRecord r;
  log.Add(r);
  Run(&log, 20);
  EXPECT_GT(FileSize(), 0);
}

TEST_F(BatchTest, PartialRecordIsTerminatedAtStart) {
  EXPECT_FALSE(TerminatePartialRecord(fd_, path_));  // empty
  ASSERT_EQ(write(fd_, "{\"type\":\"Deliv", 15), 15);
  EXPECT_TRUE(TerminatePartialRecord(fd_, path_));
  EXPECT_FALSE(TerminatePartialRecord(fd_, path_));  // ends in '\n' now
  EXPECT_EQ(FileSize(), 16);
  char buf[16];
  ASSERT_EQ(pread(fd_, buf, 16, 0), 16);
  EXPECT_EQ(buf[15], '\n');
}

}  // namespace
}  // namespace ringpost
