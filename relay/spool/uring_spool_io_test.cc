// uring_spool_io_test.cc — the spool driven through a real io_uring loop:
// group commit lands on disk (a second spool instance recovers every
// acknowledged message), outcomes are journaled, and segment rollover works
// through OPENAT/FALLOCATE/RENAMEAT on the ring; O_DIRECT and buffered. And
// the writes themselves, byte-exact: copied data and buffers from
// NewWriteBuffer at unaligned offsets, a reopened file, a failed write, the
// bound on pooled buffers.
#include "relay/spool/uring_spool_io.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost {
namespace {

// ext4 and xfs take O_DIRECT; there every segment write must be direct.
bool DirectCapable(const std::string& dir) {
  struct statfs fs;
  return statfs(dir.c_str(), &fs) == 0 &&
         (fs.f_type == 0xEF53 /* ext4 */ || fs.f_type == 0x58465342 /* xfs */);
}

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

void CommitDurablyAndRecover(bool direct) {
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
    UringSpoolIo::Options io_options;
    io_options.direct = direct;
    UringSpoolIo io(l, io_options);
    queue::Spool::Options o;
    o.dir = dir;
    o.segment_bytes = 256 * 1024;  // forces several rollovers
    o.commit_max_bytes = 16 * 1024;  // and several batches per turn
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
    if (io.direct_writes() > 0) {
      // Every commit went out from the buffer it was encoded into; only
      // headers (and journals, later) were copied.
      EXPECT_EQ(io.direct_writes() - io.direct_copies(), (*spool)->stats().commits_issued);
    } else {
      EXPECT_FALSE(direct && DirectCapable(dir));
      EXPECT_EQ(io.direct_copies(), 0u);
    }
    EXPECT_LE(io.pooled_buffers(), UringSpoolIo::kMaxPooledBuffers);
    // Mark the first recipient of every message delivered.
    const uint64_t copies = io.direct_copies();
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
    // Journal writes come from a std::string: the copy path.
    if (io.direct_writes() > 0) {
      EXPECT_GT(io.direct_copies(), copies);
    }
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

TEST(UringSpoolIoTest, CommitsAreDurableAndRecoverable) { CommitDurablyAndRecover(true); }

// The buffered fallback (a file system without O_DIRECT, or direct off).
TEST(UringSpoolIoTest, CommitsAreDurableAndRecoverableBuffered) {
  CommitDurablyAndRecover(false);
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
    io.Unlink(dir + "/none", /*sync_dir=*/false, [&](int) { --pending; });  // flushes the close
    RunUntilDone(l, &pending);
    const std::string got = ReadFile(path);
    ASSERT_GE(got.size(), kSize);
    EXPECT_TRUE(got.compare(0, kSize, model) == 0) << "file differs from what was written";
    if (!direct) {
      EXPECT_EQ(io.direct_writes(), 0u);
    } else if (DirectCapable(dir)) {
      EXPECT_EQ(io.direct_writes(), 11u);  // every write, on a file system with O_DIRECT
    }
  }
}

// A file under test: one UringSpoolIo on its own loop, the file, and a model
// of what the file must hold.
class FileUnderTest {
 public:
  FileUnderTest(bool direct, uint64_t size) : size_(size), model_(size, '\0') {
    dir_ = TempDir();
    path_ = dir_ + "/seg";
    runtime::LoopOptions lo;
    lo.sq_entries = 64;
    lo.recv_buffers = 16;
    auto loop = runtime::Loop::Create(lo);
    EXPECT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    UringSpoolIo::Options options;
    options.direct = direct;
    io_ = std::make_unique<UringSpoolIo>(loop_.get(), options);
    // One hook for all runs (hooks cannot be removed): quit when done.
    loop_->AddTurnHook([this] {
      if (pending_ == 0) loop_->Quit();
    });
    Open(true);
  }

  UringSpoolIo& io() { return *io_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool direct_capable() const { return DirectCapable(dir_); }

  void Open(bool create) {
    pending_ = 1;
    io_->OpenSegmentFile(path_, size_, create, [&](int r) {
      fd_ = r;
      --pending_;
    });
    Run();
    ASSERT_GE(fd_, 0) << strerror(-fd_);
  }
  void Close() {
    io_->Close(fd_);
    pending_ = 1;
    io_->Unlink(dir_ + "/none", /*sync_dir=*/false, [&](int) { --pending_; });  // flushes the close
    Run();
  }

  // `len` bytes of `c` plus the 24-byte terminator at `at`, through a buffer
  // made for `made_for` (the offset, if 0); returns the result.
  int WriteBuffer(uint64_t at, size_t len, char c, uint64_t made_for = 0) {
    queue::WriteBuffer b = io_->NewWriteBuffer(made_for != 0 ? made_for : at, len + 24);
    EXPECT_GE(b.capacity(), len + 24);
    // Poison all the memory around the data: the head and pad must be filled.
    memset(b.block(), 0xee, b.block_bytes());
    memset(b.Extend(len), c, len);
    memset(b.Extend(24), 0, 24);
    return Write(at, &b, b.view());
  }
  // The same through WriteAndSync (copied).
  int WriteCopy(uint64_t at, size_t len, char c) {
    std::string data(len, c);
    data.append(24, '\0');
    return Write(at, nullptr, data);
  }
  // Writes `b` (or `data`) and runs the loop until done; updates the model
  // on success.
  int Write(uint64_t at, queue::WriteBuffer* b, std::string_view data) {
    const std::string before(data);  // the SpoolIo must not change it
    pending_ = 1;
    int result = 0;
    auto done = [&](int r) {
      result = r;
      --pending_;
    };
    if (b != nullptr) {
      io_->WriteBufferAndSync(fd_, at, b, true, done);
    } else {
      io_->WriteAndSync(fd_, at, data, true, done);
    }
    Run();
    EXPECT_EQ(data, before) << "the data was changed by its write";
    if (result == static_cast<int>(before.size())) {
      memcpy(model_.data() + at, before.data(), before.size());
    }
    return result;
  }
  void ExpectFileMatches() {
    const std::string got = ReadFile(path_);
    ASSERT_GE(got.size(), size_);
    for (size_t i = 0; i < size_; ++i) {
      if (got[i] != model_[i]) {
        ADD_FAILURE() << "file differs from what was written at offset " << i;
        return;
      }
    }
  }

 private:
  // Runs the loop until pending_ drops to 0 (bounded: 10 s).
  void Run() {
    runtime::Timer guard;
    guard.context = loop_.get();
    guard.callback = [](runtime::Timer* t) {
      ADD_FAILURE() << "timed out";
      static_cast<runtime::Loop*>(t->context)->Quit();
    };
    loop_->timers().Arm(&guard, loop_->now_ms() + 10000);
    loop_->Run();
    loop_->timers().Disarm(&guard);
  }

  uint64_t size_;
  std::string model_;
  std::string dir_;
  std::string path_;
  std::unique_ptr<runtime::Loop> loop_;
  std::unique_ptr<UringSpoolIo> io_;
  int fd_ = -1;
  int pending_ = 0;
};

// Batches encoded into buffers from NewWriteBuffer, at unaligned offsets, one
// after another (each overwriting the previous one's terminator), one across
// many blocks, mixed with copied writes and with buffers that must be copied
// (made for another offset, or by another SpoolIo): the file holds exactly
// what was written, and only those were copied.
TEST(UringSpoolIoTest, BufferWritesLandByteExact) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "buffered");
    FileUnderTest f(direct, 1 << 20);
    ASSERT_EQ(f.WriteCopy(0, 100, 'H'), 124);  // a header, copied
    uint64_t offset = 4096;
    uint64_t copies = 0;
    for (size_t len : {10u, 500u, 3586u, 4096u, 9000u, 1u, 8190u, 4071u, 30u, 300000u,
                       4072u, 4073u, 8u}) {
      ASSERT_EQ(f.WriteBuffer(offset, len, static_cast<char>('a' + len % 26)),
                static_cast<int>(len + 24));
      offset += len;
    }
    // A copied write in between, then buffers again.
    ASSERT_EQ(f.WriteCopy(offset, 777, 'c'), 777 + 24);
    offset += 777;
    ++copies;
    ASSERT_EQ(f.WriteBuffer(offset, 5000, 'd'), 5000 + 24);
    offset += 5000;
    // Made for another offset (another place in its block): copied.
    ASSERT_EQ(f.WriteBuffer(offset, 100, 'e', offset + 1), 124);
    offset += 100;
    ++copies;
    // Made by another SpoolIo: copied.
    queue::BlockingSpoolIo other;
    {
      queue::WriteBuffer b = other.NewWriteBuffer(offset, 1000);
      memset(b.Extend(976), 'f', 976);
      memset(b.Extend(24), 0, 24);
      ASSERT_EQ(f.Write(offset, &b, b.view()), 1000);
      offset += 976;
      ++copies;
    }
    ASSERT_EQ(f.WriteBuffer(offset, 12345, 'g'), 12345 + 24);
    EXPECT_EQ(f.io().head_reads(), 0u);
    f.Close();
    f.ExpectFileMatches();
    if (!direct) {
      EXPECT_EQ(f.io().direct_writes(), 0u);
      EXPECT_EQ(f.io().direct_copies(), 0u);
    } else if (f.direct_capable()) {
      EXPECT_EQ(f.io().direct_writes(), 19u);
      EXPECT_EQ(f.io().direct_copies(), copies + 1);  // + the header
    }
    EXPECT_LE(f.io().pooled_buffers(), UringSpoolIo::kMaxPooledBuffers);
  }
}

// A reopened file has no copy of its last blocks: the head of the first
// write is read from the file, without touching the data already in place.
TEST(UringSpoolIoTest, BufferWriteToAReopenedFileReadsItsHead) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "buffered");
    FileUnderTest f(direct, 256 * 1024);
    ASSERT_EQ(f.WriteCopy(0, 100, 'H'), 124);
    ASSERT_EQ(f.WriteBuffer(4096, 5000, 'a'), 5024);
    f.Close();
    f.Open(false);
    ASSERT_EQ(f.WriteBuffer(4096 + 5000, 3000, 'b'), 3024);
    ASSERT_EQ(f.WriteBuffer(4096 + 8000, 10, 'c'), 34);
    if (f.io().direct_writes() > 0) {
      EXPECT_EQ(f.io().head_reads(), 1u);
    }
    f.Close();
    f.ExpectFileMatches();
  }
}

// A failed write: the caller's buffer comes back untouched by the pool, the
// next batches (the same bytes again, then more) land byte-exact.
TEST(UringSpoolIoTest, FailedBufferWriteThenTheNextBatch) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "buffered");
    FileUnderTest f(direct, 256 * 1024);
    ASSERT_EQ(f.WriteCopy(0, 100, 'H'), 124);
    ASSERT_EQ(f.WriteBuffer(4096, 1000, 'a'), 1024);
    // Swap a read-only description of the file in under the fd: writes fail.
    const int saved = dup(f.fd());
    ASSERT_GE(saved, 0);
    const int ro = open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ro, 0);
    ASSERT_EQ(dup2(ro, f.fd()), f.fd());
    close(ro);
    {
      queue::WriteBuffer b = f.io().NewWriteBuffer(5096, 2000);
      memset(b.Extend(1976), 'x', 1976);
      memset(b.Extend(24), 0, 24);
      EXPECT_LT(f.Write(5096, &b, b.view()), 0);
      EXPECT_EQ(b.size(), 2000u);  // still the caller's
    }
    ASSERT_EQ(dup2(saved, f.fd()), f.fd());
    close(saved);
    ASSERT_EQ(f.WriteBuffer(5096, 1976, 'y'), 2000);
    ASSERT_EQ(f.WriteBuffer(5096 + 1976, 7000, 'z'), 7024);
    EXPECT_EQ(f.io().head_reads(), 0u);
    f.Close();
    f.ExpectFileMatches();
  }
}

// However many buffers were out at once, at most kMaxPooledBuffers are kept.
TEST(UringSpoolIoTest, BufferPoolIsBounded) {
  FileUnderTest f(true, 64 * 1024);
  std::vector<queue::WriteBuffer> held;
  for (int i = 0; i < 40; ++i) {
    held.push_back(f.io().NewWriteBuffer(4096 + 8 * i, 1000 + 50000 * (i % 5)));
    ASSERT_GE(held.back().capacity(), 1000u + 50000 * (i % 5));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(held.back().block()) % UringSpoolIo::kBlock, 0u);
    EXPECT_EQ(held.back().headroom(), (8u * i) % UringSpoolIo::kBlock);
    EXPECT_EQ(held.back().block_bytes() % UringSpoolIo::kBlock, 0u);
  }
  held.clear();
  EXPECT_EQ(f.io().pooled_buffers(), UringSpoolIo::kMaxPooledBuffers);
  // Reuse: taking and giving back one at a time keeps the pool as it is.
  for (int i = 0; i < 20; ++i) {
    queue::WriteBuffer b = f.io().NewWriteBuffer(4096, 100000);
    EXPECT_EQ(f.io().pooled_buffers(), UringSpoolIo::kMaxPooledBuffers - 1);
  }
  EXPECT_EQ(f.io().pooled_buffers(), UringSpoolIo::kMaxPooledBuffers);
  f.Close();
}

// Issue 11, item 11b (suspected, confirmed): when a drain timed out with a
// commit write in flight, ~Spool gave the batch's buffer back to the pool
// and ~UringSpoolIo freed it, while the kernel could still read it (an
// O_DIRECT write reads pinned pages until it completes): the memory's next
// user could have written other bytes over the head of a block holding
// acknowledged records. The spool now keeps such memory for good.
TEST(UringSpoolIoTest, SpoolDestroyedWithAWriteInFlightKeepsItsBuffer) {
  const std::string dir = TempDir();
  runtime::LoopOptions lo;
  lo.sq_entries = 256;
  lo.recv_buffers = 16;
  auto loop = runtime::Loop::Create(lo);
  ASSERT_TRUE(loop.ok()) << loop.status();
  runtime::Loop* l = loop->get();
  UringSpoolIo io(l);
  queue::Spool::Options o;
  o.dir = dir;
  o.segment_bytes = 256 * 1024;
  std::vector<queue::RecoveredMessage> recovered;
  auto spool = queue::Spool::Open(o, &io, &recovered);
  ASSERT_TRUE(spool.ok()) << spool.status();
  int pending = 1;
  queue::Spool* s = spool->get();
  l->AddTurnHook([&pending, &s] {
    if (s != nullptr && s->stats().segments_created >= 1 && !s->HasIoInFlight()) pending = 0;
  });
  RunUntilDone(l, &pending);  // the first segment is ready
  ASSERT_TRUE(s->CanAccept().ok());
  const size_t pooled = io.pooled_buffers();
  auto loc = s->AppendMessage(Record(s->NewMessageId(), 1), [](absl::Status) {});
  ASSERT_TRUE(loc.ok()) << loc.status();
  s->Flush();  // the commit is on the ring from here on
  ASSERT_TRUE(s->HasIoInFlight());
  s = nullptr;
  spool->reset();  // as a shard whose drain timed out
  EXPECT_EQ(io.pooled_buffers(), pooled)
      << "the buffer of a write in flight went back to the pool, to be reused or freed";
  // The write still completes (into a spool that is gone) and lands.
  EXPECT_EQ(io.writes_in_flight(), 1u);
  pending = 1;
  l->AddTurnHook([&pending, &io] {
    if (io.writes_in_flight() == 0) pending = 0;
  });
  RunUntilDone(l, &pending);
  const std::string seg = ReadFile(dir + "/shard-0/seg-1.dat");
  EXPECT_NE(seg.find("Subject: "), std::string::npos) << "the commit did not land";
}

// The spool's retry timer: After() fires on the loop's timer wheel, not
// before its time; one still pending when the SpoolIo goes is dropped.
TEST(UringSpoolIoTest, AfterFiresOnTheLoopTimers) {
  runtime::LoopOptions lo;
  lo.sq_entries = 64;
  lo.recv_buffers = 16;
  auto loop = runtime::Loop::Create(lo);
  ASSERT_TRUE(loop.ok()) << loop.status();
  runtime::Loop* l = loop->get();
  int pending = 1;
  uint64_t fired_at = 0;
  {
    UringSpoolIo io(l);
    const uint64_t start = runtime::MonotonicMs();
    io.After(30, [&](int r) {
      EXPECT_EQ(r, 0);
      fired_at = runtime::MonotonicMs();
      pending = 0;
    });
    io.After(600000, [](int) { ADD_FAILURE() << "a dropped timer ran"; });
    EXPECT_EQ(io.timers_pending(), 2u);
    RunUntilDone(l, &pending);
    EXPECT_GE(fired_at, start + 30);
    EXPECT_EQ(io.timers_pending(), 1u);
  }
  // The wheel no longer holds the dropped timer.
  EXPECT_FALSE(l->timers().NextDeadlineMs().has_value());
}

}  // namespace
}  // namespace ringpost
