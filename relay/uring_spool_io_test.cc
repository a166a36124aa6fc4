// uring_spool_io_test.cc — the spool driven through a real io_uring loop:
// group commit lands on disk (a second spool instance recovers every
// acknowledged message), outcomes are journaled, and segment rollover works
// through OPENAT/FALLOCATE/RENAMEAT on the ring.
#include "relay/uring_spool_io.h"

#include <stdio.h>
#include <sys/vfs.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost {
namespace {

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/uringspoolXXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

queue::MessageRecord Record(uint64_t id, int rcpts) {
  queue::MessageRecord m;
  m.id = id;
  m.queued_at_ms = 1700000000000;
  m.sender = "a@x.test";
  for (int i = 0; i < rcpts; ++i) m.recipients.push_back("r" + std::to_string(i) + "@y.test");
  m.body = "Subject: " + std::to_string(id) + "\r\n\r\n" + std::string(1000, 'b') + "\r\n";
  return m;
}

TEST(UringSpoolIoTest, CommitsAreDurableAndRecoverable) {
  const std::string dir = TempDir();
  constexpr int kMessages = 500;
  std::vector<queue::MessageLocator> locators;
  {
    runtime::LoopOptions lo;
    lo.sq_entries = 256;
    lo.recv_buffers = 16;
    auto loop = runtime::Loop::Create(lo);
    ASSERT_TRUE(loop.ok()) << loop.status();
    runtime::Loop* l = loop->get();
    UringSpoolIo io(l);
    queue::Spool::Options o;
    o.dir = dir;
    o.segment_bytes = 256 * 1024;  // forces several rollovers
    std::vector<queue::RecoveredMessage> recovered;
    auto spool = queue::Spool::Open(o, &io, &recovered);
    ASSERT_TRUE(spool.ok()) << spool.status();
    EXPECT_TRUE(recovered.empty());
    int committed = 0, failed = 0;
    int appended = 0;
    l->AddTurnHook([&] {
      // A few messages per turn, as sessions would complete them.
      for (int k = 0; k < 7 && appended < kMessages; ++k, ++appended) {
        auto loc = (*spool)->AppendMessage(
            Record((*spool)->NewMessageId(), 2),
            [&](absl::Status s) { s.ok() ? ++committed : ++failed; });
        ASSERT_TRUE(loc.ok()) << loc.status();
        locators.push_back(*loc);
      }
      (*spool)->Flush();
      if (committed + failed == kMessages && !(*spool)->HasIoInFlight()) l->Quit();
    });
    runtime::Timer guard;
    guard.context = l;
    guard.callback = [](runtime::Timer* t) {
      ADD_FAILURE() << "timed out";
      static_cast<runtime::Loop*>(t->context)->Quit();
    };
    l->timers().Arm(&guard, l->now_ms() + 30000);
    l->Run();
    l->timers().Disarm(&guard);
    EXPECT_EQ(committed, kMessages);
    EXPECT_EQ(failed, 0);
    EXPECT_GE(io.syncs(), 1u);
    EXPECT_LT(io.writes(), static_cast<uint64_t>(kMessages));  // grouped
    EXPECT_EQ(io.head_reads(), 0u);  // every head block came from the copy
    // Mark the first recipient of every message delivered.
    for (const auto& loc : locators) (*spool)->MarkDone(loc, 0, queue::kOutcomeDelivered);
    (*spool)->Flush();
    bool journaled = false;
    l->AddTurnHook([&] {
      if (!(*spool)->HasIoInFlight()) {
        journaled = true;
        l->Quit();
      }
    });
    l->timers().Arm(&guard, l->now_ms() + 30000);
    l->Run();
    l->timers().Disarm(&guard);
    EXPECT_TRUE(journaled);
    EXPECT_FALSE((*spool)->HasIoInFlight());
  }
  queue::BlockingSpoolIo blocking;
  queue::Spool::Options o;
  o.dir = dir;
  o.segment_bytes = 256 * 1024;
  std::vector<queue::RecoveredMessage> recovered;
  auto again = queue::Spool::Open(o, &blocking, &recovered);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(recovered.size(), static_cast<size_t>(kMessages));
  for (const auto& r : recovered) {
    ASSERT_EQ(r.done.size(), 2u);
    EXPECT_TRUE(r.done[0]);
    EXPECT_FALSE(r.done[1]);
    EXPECT_EQ(r.record.body, Record(r.record.id, 2).body);
  }
}

// Runs `loop` until `*pending` drops to 0 (bounded: 10 s).
void RunUntilDone(runtime::Loop* l, const int* pending) {
  l->AddTurnHook([l, pending] {
    if (*pending == 0) l->Quit();
  });
  runtime::Timer guard;
  guard.context = l;
  guard.callback = [](runtime::Timer* t) {
    ADD_FAILURE() << "timed out";
    static_cast<runtime::Loop*>(t->context)->Quit();
  };
  l->timers().Arm(&guard, l->now_ms() + 10000);
  l->Run();
  l->timers().Disarm(&guard);
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

// Appends at unaligned offsets, each overwriting the previous one's
// terminator, as the spool does; with O_DIRECT (where the file system has
// it) and without, the file must hold exactly what was written.
TEST(UringSpoolIoTest, UnalignedAppendsLandByteExact) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "buffered");
    const std::string dir = TempDir();
    const std::string path = dir + "/seg";
    constexpr uint64_t kSize = 256 * 1024;
    runtime::LoopOptions lo;
    lo.sq_entries = 64;
    lo.recv_buffers = 16;
    auto loop = runtime::Loop::Create(lo);
    ASSERT_TRUE(loop.ok()) << loop.status();
    runtime::Loop* l = loop->get();
    UringSpoolIo::Options options;
    options.direct = direct;
    UringSpoolIo io(l, options);
    int fd = -1;
    int pending = 1;
    io.OpenSegmentFile(path, kSize, true, [&](int r) {
      fd = r;
      --pending;
    });
    RunUntilDone(l, &pending);
    ASSERT_GE(fd, 0) << strerror(-fd);

    std::string model(kSize, '\0');
    const std::string header(100, 'H');
    std::vector<std::string> batches;  // kept alive until written
    uint64_t offset = 4096;
    auto write = [&](uint64_t at, std::string data) {
      memcpy(model.data() + at, data.data(), data.size());
      batches.push_back(std::move(data));
      pending = 1;
      int result = 0;
      io.WriteAndSync(fd, at, batches.back(), true, [&](int r) {
        result = r;
        --pending;
      });
      RunUntilDone(l, &pending);
      EXPECT_EQ(result, static_cast<int>(batches.back().size()));
    };
    write(0, header);
    // Sizes cross block boundaries in every way: inside one block, exactly to
    // a boundary, over several blocks, and a terminator straddling one.
    for (size_t len : {10u, 500u, 3586u, 4096u, 9000u, 1u, 8190u, 4071u, 30u}) {
      std::string batch(len, static_cast<char>('a' + len % 26));
      batch.append(24, '\0');  // the terminator the next batch overwrites
      write(offset, batch);
      offset += len;
    }
    EXPECT_EQ(io.head_reads(), 0u);
    // A reopened file (no copy of its blocks yet) reads the head block.
    io.Close(fd);
    pending = 1;
    io.OpenSegmentFile(path, kSize, false, [&](int r) {
      fd = r;
      --pending;
    });
    RunUntilDone(l, &pending);
    ASSERT_GE(fd, 0);
    write(offset, std::string(777, 'z') + std::string(24, '\0'));
    if (io.direct_writes() > 0) {
      EXPECT_EQ(io.head_reads(), 1u);
    }
    io.Close(fd);
    pending = 1;
    io.Unlink(dir + "/none", [&](int) { --pending; });  // flushes the close
    RunUntilDone(l, &pending);
    const std::string got = ReadFile(path);
    ASSERT_GE(got.size(), kSize);
    EXPECT_TRUE(got.compare(0, kSize, model) == 0) << "file differs from what was written";
    if (!direct) {
      EXPECT_EQ(io.direct_writes(), 0u);
    } else if (struct statfs fs; statfs(dir.c_str(), &fs) == 0 &&
               (fs.f_type == 0xEF53 /* ext4 */ || fs.f_type == 0x58465342 /* xfs */)) {
      EXPECT_EQ(io.direct_writes(), 11u);  // every write, on a file system with O_DIRECT
    }
  }
}

}  // namespace
}  // namespace ringpost
