// delivery_log_test.cc — JSON escaping of every field (also of strings that
// end at a page's end), records identical to a plain reference formatter and
// within their bound, and when the log's batches are written (size, age,
// force).
#include "relay/delivery/delivery_log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

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

// RFC 3339 UTC with milliseconds, formatted from scratch every time.
std::string ReferenceTime(int64_t ms) {
  const time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  snprintf(buf, sizeof(buf), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           static_cast<int>(ms % 1000));
  return buf;
}

// The record as AppendLogRecord wrote it before it was tuned: one append
// per piece, std::to_string for numbers.
std::string ReferenceRecord(const LogRecord& r) {
  std::string out = "{\"type\":\"";
  out += LogEventName(r.type);
  out += "\",\"id\":\"";
  if (r.id != 0) {
    char id[32];
    snprintf(id, sizeof(id), "%016" PRIX64, r.id);
    out += id;
  }
  out += "\",\"sender\":" + Reference(r.sender);
  out += ",\"recipient\":" + Reference(r.recipient);
  out += ",\"domain\":" + Reference(r.domain);
  out += ",\"peer\":" + Reference(r.peer);
  out += ",\"code\":" + std::to_string(r.code);
  out += ",\"enhanced\":" + Reference(r.enhanced);
  out += ",\"response\":" + Reference(r.response);
  out += ",\"attempt\":" + std::to_string(r.attempt);
  out += ",\"size\":" + std::to_string(r.size);
  if (r.tls) {
    out += ",\"tls\":true,\"tls_version\":" + Reference(r.tls_version);
    out += ",\"tls_cipher\":" + Reference(r.tls_cipher);
    out += r.tls_verified ? ",\"tls_verified\":true" : ",\"tls_verified\":false";
  } else {
    out += ",\"tls\":false";
  }
  if (!r.auth_user.empty()) out += ",\"auth_user\":" + Reference(r.auth_user);
  if (!r.category.empty()) out += ",\"category\":" + Reference(r.category);
  if (r.about_id != 0) {
    char id[32];
    snprintf(id, sizeof(id), "%016" PRIX64, r.about_id);
    out += std::string(",\"about\":\"") + id + "\"";
  }
  out += ",\"queued_at\":" + ReferenceTime(r.queued_at_ms);
  out += ",\"event_at\":" + ReferenceTime(r.event_at_ms);
  return out + "}\n";
}

// The line AppendLogRecord writes for a record with `text` as its response.
std::string LineWithResponse(std::string_view text) {
  LogRecord r;
  r.response = text;
  std::string line;
  AppendLogRecord(r, &line);
  return line;
}

TEST(DeliveryLogTest, EscapesEveryByteWhereverItSits) {
  // Each special byte at every offset of strings of every length up to 40
  // (whole 16-byte steps and the last, shorter one), plus bytes >= 0x80
  // as is; from every alignment, since the last step loads 16 bytes from
  // wherever the string's tail starts.
  const std::string specials = std::string("\"\\\n\r\t\x01\x1f\x7f\x80\xff ", 11);
  std::string storage;
  for (size_t len = 0; len <= 40; ++len) {
    for (size_t at = 0; at < std::max<size_t>(len, 1); ++at) {
      for (char c : specials) {
        std::string text(len, 'a');
        if (len > 0) text[at] = c;
        // Bytes that would need escaping after the string: the last step
        // loads some of them, and must ignore them.
        storage.assign(64 + 16, '"');
        const size_t offset = (len * 11 + at * 3 + static_cast<unsigned char>(c)) % 16;
        storage.replace(offset, len, text);
        const std::string_view placed(storage.data() + offset, len);
        ASSERT_EQ(ResponseField(LineWithResponse(placed)), Reference(text))
            << "len " << len << " at " << at << " offset " << offset;
      }
    }
  }
  // Two escapes in one step, escapes only, and an escape at both ends.
  for (size_t len = 0; len <= 40; ++len) {
    for (size_t at = 0; at + 1 < len; ++at) {
      std::string text(len, 'b');
      text[at] = '"';
      text[len - 1 - at] = '\x02';
      ASSERT_EQ(ResponseField(LineWithResponse(text)), Reference(text)) << len << " " << at;
    }
    const std::string escapes(len, '\\');
    ASSERT_EQ(ResponseField(LineWithResponse(escapes)), Reference(escapes)) << len;
    const std::string controls(len, '\x1b');
    ASSERT_EQ(ResponseField(LineWithResponse(controls)), Reference(controls)) << len;
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(ResponseField(LineWithResponse(all)), Reference(all));
}

// Strings that end at, or just before, the end of a readable page followed
// by an unreadable one: the last 16-byte step must not load from the
// second page (it would fault), yet escape as everywhere else.
TEST(DeliveryLogTest, StringsAtAPageEndAreReadSafely) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* const map = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  char* const first = static_cast<char*>(map);
  ASSERT_EQ(mprotect(first + page, page, PROT_NONE), 0);
  const char specials[] = {'"', '\\', '\n', '\x01', 'q'};
  for (size_t len = 0; len <= 40; ++len) {
    for (size_t gap = 0; gap <= 17; ++gap) {  // bytes between the string and the page end
      for (size_t at = 0; at < std::max<size_t>(len, 1); ++at) {
        for (char c : specials) {
          char* const begin = first + page - gap - len;
          memset(begin, 'p', len);
          if (len > 0) begin[at] = c;
          const std::string_view text(begin, len);
          LogRecord r;
          r.sender = text;
          r.recipient = text;
          r.domain = text;
          r.peer = text;
          r.enhanced = text;
          r.response = text;
          std::string line;
          AppendLogRecord(r, &line);
          ASSERT_EQ(line, ReferenceRecord(r))
              << "len " << len << " gap " << gap << " at " << at << " char " << int{c};
        }
      }
    }
  }
  munmap(map, 2 * page);
}

TEST(DeliveryLogTest, RecordsMatchTheReferenceFormatter) {
  // Strings: empty, plain, long, and every byte 0..255 at varied offsets
  // (inside and across the 16-byte SIMD steps).
  std::vector<std::string> strings = {"", "a", "loadgen@bench.test", "user123@a.test",
                                      "2.0.0 Ok: queued as 0123456789ABCDEF",
                                      std::string(5000, 'x'), std::string(300, '\n'),
                                      std::string(64, '\0')};
  for (int c = 0; c < 256; ++c) {
    std::string s(1 + c % 37, 'm');
    s[static_cast<size_t>(c * 7) % s.size()] = static_cast<char>(c);
    s.push_back(static_cast<char>(255 - c));
    strings.push_back(s);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  strings.push_back(all);
  strings.push_back(all + all + "tail");

  // Every type, and values no LogEvent has ("Unknown").
  const LogEvent types[] = {LogEvent::kReception,        LogEvent::kDelivery,
                            LogEvent::kTransientFailure, LogEvent::kBounce,
                            LogEvent::kExpiration,       LogEvent::kRejection,
                            LogEvent::kNotice,           static_cast<LogEvent>(7),
                            static_cast<LogEvent>(255)};
  const uint64_t ids[] = {0, 1, 0x0123456789ABCDEFull, 0xFEDCBA9876543210ull, UINT64_MAX};
  // Numbers around the one-to-three-digit shortcut's edges, and the limits.
  const int codes[] = {0, 250, 451, 554, -1, INT_MAX, INT_MIN, 9, 10, 99, 100, 999, 1000, -999};
  const uint32_t attempts[] = {0, 1, 17, UINT32_MAX, 9, 10, 99, 100, 999, 1000, 1001};
  const uint64_t sizes[] = {0, 1024, 1u << 31, UINT64_MAX, 9, 10, 99, 100, 999, 1000};
  // 0, ms 999 and 0 of neighbouring seconds, a leap day, ms 999 of the
  // last second of a year, and far-future times.
  const int64_t times[] = {0,
                           999,
                           1000,
                           1700000000000,
                           1700000000999,
                           1700000001000,
                           1709164800123,
                           1704067199999,
                           253402300799999,
                           INT64_MAX};

  std::string out;
  size_t n = 0;
  LogBuffer buffer;
  std::string buffered;  // what `buffer` should hold
  for (size_t k = 0; k < 3000; ++k) {
    LogRecord r;
    r.type = types[k % std::size(types)];
    r.id = ids[k % std::size(ids)];
    r.sender = strings[k % strings.size()];
    r.recipient = strings[(k * 7 + 1) % strings.size()];
    r.domain = strings[(k * 13 + 2) % strings.size()];
    r.peer = strings[(k * 17 + 3) % strings.size()];
    r.code = codes[k % std::size(codes)];
    r.enhanced = strings[(k * 19 + 4) % strings.size()];
    r.response = strings[(k * 23 + 5) % strings.size()];
    r.attempt = attempts[k % std::size(attempts)];
    r.size = sizes[(k / 3) % std::size(sizes)];
    r.tls = (k / 6) % 2 == 1;
    r.tls_version = strings[(k * 29 + 6) % strings.size()];
    r.tls_cipher = strings[(k * 31 + 7) % strings.size()];
    r.tls_verified = (k / 12) % 2 == 1;
    r.auth_user = (k / 4) % 3 == 0 ? std::string_view() : strings[(k * 37 + 8) % strings.size()];
    r.category = (k / 5) % 2 == 0 ? std::string_view() : strings[(k * 41 + 9) % strings.size()];
    r.about_id = (k / 7) % 2 == 0 ? 0 : ids[(k / 3) % std::size(ids)];
    r.queued_at_ms = times[k % std::size(times)];
    r.event_at_ms = times[(k / 2 + 3) % std::size(times)];
    if (r.event_at_ms < INT64_MAX - 4) r.event_at_ms += static_cast<int64_t>(k % 5);
    const std::string want = ReferenceRecord(r);
    // Into an empty string and after what is already there.
    std::string alone;
    AppendLogRecord(r, &alone);
    ASSERT_EQ(alone, want) << "record " << k;
    AppendLogRecord(r, &out);
    ASSERT_EQ(out.size(), n + want.size()) << "record " << k;
    ASSERT_EQ(out.compare(n, want.size(), want), 0) << "record " << k;
    n = out.size();
    // WriteLogRecord stays within MaxLogRecordSize(r): the bytes after it
    // keep their fill.
    const size_t room = MaxLogRecordSize(r);
    std::vector<char> space(room + 64, '\xA5');
    const char* const end = WriteLogRecord(r, space.data());
    ASSERT_EQ(std::string_view(space.data(), static_cast<size_t>(end - space.data())), want)
        << "record " << k;
    for (size_t i = room; i < space.size(); ++i) {
      ASSERT_EQ(space[i], '\xA5') << "record " << k << " wrote byte " << i - room << " past room";
    }
    // The log's buffer: grows as records come, cleared now and then.
    buffer.Append(r);
    buffered += want;
    if (k % 700 == 699) {
      ASSERT_EQ(std::string_view(buffer.data(), buffer.size()), buffered) << "record " << k;
      buffer.clear();
      buffered.clear();
      EXPECT_TRUE(buffer.empty());
    }
  }
  ASSERT_EQ(std::string_view(buffer.data(), buffer.size()), buffered);
}

TEST(DeliveryLogTest, LogBufferSwapsAndGrows) {
  LogBuffer a;
  LogBuffer b;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.capacity(), 0u);
  LogRecord r;
  r.type = LogEvent::kDelivery;
  r.response = "ok";
  a.Append(r);
  std::string want;
  AppendLogRecord(r, &want);
  EXPECT_EQ(std::string_view(a.data(), a.size()), want);
  a.swap(b);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(std::string_view(b.data(), b.size()), want);
  // A record far larger than the buffer: it grows to hold it, keeping
  // what was there.
  const std::string big(100000, '\n');
  r.response = big;
  b.Append(r);
  AppendLogRecord(r, &want);
  EXPECT_EQ(std::string_view(b.data(), b.size()), want);
  EXPECT_GE(b.capacity(), MaxLogRecordSize(r));
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

// Defect (issue 11, item 7): a short write followed by a failed one left
// half a record at the end of the file, and the next batch was appended to
// that same line, gluing two records. The file size limit makes the short
// write: the kernel writes up to the limit, then refuses with EFBIG.
TEST_F(BatchTest, ShortWriteNeverGluesTwoRecords) {
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  DeliveryLog log(loop_.get(), fd_, 0);
  LogRecord r;
  r.type = LogEvent::kDelivery;
  r.response = std::string(200, 'x');
  auto settle = [&] {
    for (int i = 0; i < 500 && !log.idle(); ++i) Run(&log, 10);
    EXPECT_TRUE(log.idle());
  };
  log.Add(r);
  settle();
  const off_t one = FileSize();
  ASSERT_GT(one, 0);
  // Room for one and a half more records: the next batch of three is cut.
  struct rlimit small = saved;
  small.rlim_cur = static_cast<rlim_t>(one + one + one / 2);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  for (int i = 0; i < 3; ++i) log.Add(r);
  settle();
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  EXPECT_EQ(FileSize(), static_cast<off_t>(small.rlim_cur));
  EXPECT_GE(log.write_errors(), 1u);
  log.Add(r);
  settle();
  // Every line holds at most one record, and the last record is whole.
  std::string all(static_cast<size_t>(FileSize()), '\0');
  ASSERT_EQ(pread(fd_, all.data(), all.size(), 0), static_cast<ssize_t>(all.size()));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), '\n');
  size_t start = 0;
  int lines = 0;
  while (start < all.size()) {
    const size_t end = all.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = all.substr(start, end - start);
    size_t records = 0;
    for (size_t at = line.find("{\"type\""); at != std::string::npos;
         at = line.find("{\"type\"", at + 1)) {
      ++records;
    }
    EXPECT_LE(records, 1u) << "glued line " << lines << ": " << line;
    start = end + 1;
    ++lines;
  }
  // First record, two whole ones and the torn one, the last one.
  EXPECT_EQ(lines, 4);
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

namespace ringpost {
namespace {

TEST(JsonQuoteTest, EscapesAsTheLogDoes) {
  for (std::string_view s : {std::string_view(""), std::string_view("plain"),
                             std::string_view("a\"b\\c\n\r\t\x01\x1f end"),
                             std::string_view("0123456789abcdef0123456789abcdef\"")}) {
    EXPECT_EQ(JsonQuote(s), Reference(s)) << s;
  }
}

}  // namespace
}  // namespace ringpost
