// delivery_log.cc — see delivery_log.h.
#include "relay/delivery/delivery_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include "base/check.h"
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "queue/message_id.h"

namespace ringpost {
namespace {

constexpr std::string_view EventName(LogEvent e) {
  switch (e) {
    case LogEvent::kReception: return "Reception";
    case LogEvent::kDelivery: return "Delivery";
    case LogEvent::kTransientFailure: return "TransientFailure";
    case LogEvent::kBounce: return "Bounce";
    case LogEvent::kExpiration: return "Expiration";
    case LogEvent::kRejection: return "Rejection";
    case LogEvent::kNotice: return "Notice";
  }
  return "Unknown";
}

// A quoted RFC 3339 UTC time up to its second ("\"2023-11-14T22:13:20."),
// formatted once per second: the records of that second reuse it.
struct SecondCache {
  int64_t secs = INT64_MIN;  // no time maps to it: ms / 1000 > INT64_MIN
  char text[32] = {};  // {} (constant initialisation): no guard on each thread_local use
  size_t size = 0;

  // Out of line: once a second, and it keeps Writer::Time small enough to
  // inline.
  [[gnu::noinline]] void Format(int64_t s) {
    time_t t = static_cast<time_t>(s);
    struct tm tm;
    gmtime_r(&t, &tm);
    // At most 28 chars: a year fits an int for every int64_t ms.
    const int n = snprintf(text, sizeof(text), "\"%04d-%02d-%02dT%02d:%02d:%02d.",
                           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec);
    size = static_cast<size_t>(n);
    secs = s;
  }
};

// A record's first bytes, `{"type":"<name>","id":"`, for each LogEvent
// (the last for values out of range), padded so that one copy of constant
// size writes any of them.
struct RecordStart {
  char text[40];
  size_t size;
};
// Every event, then "Unknown" for any other value.
constexpr size_t kRecordStarts = static_cast<size_t>(LogEvent::kNotice) + 2;
constexpr std::array<RecordStart, kRecordStarts> kRecordStart = [] {
  std::array<RecordStart, kRecordStarts> t{};
  for (size_t e = 0; e < t.size(); ++e) {
    const std::string_view name = EventName(static_cast<LogEvent>(e));
    size_t n = 0;
    for (char c : std::string_view("{\"type\":\"")) t[e].text[n++] = c;
    for (char c : name) t[e].text[n++] = c;
    for (char c : std::string_view("\",\"id\":\"")) t[e].text[n++] = c;
    t[e].size = n;
  }
  return t;
}();

// Longest output of the pieces below.
constexpr size_t kMaxEscapedPerByte = 6;  // \u00XX
constexpr size_t kMaxNumberChars = 20;    // UINT64_MAX; INT_MIN is 11
constexpr size_t kMaxTimeChars = sizeof(SecondCache::text) + 5;  // + "mmmZ\""
// Everything else: field names, punctuation, the type's name and the id
// (about 270 chars with every TLS and AUTH field).
constexpr size_t kMaxFixedChars = 384;
// Past the end of the record: stores of constant size may run up to 16
// bytes past the cursor (JsonString's SIMD copies, RecordStart, Time).
// What they leave there is overwritten or never read.
constexpr size_t kStoreSlack = 16;
static_assert(sizeof(RecordStart::text) <= kMaxFixedChars);

// A LogBuffer's first allocation: a few typical records.
constexpr size_t kMinLogBufferBytes = 4096;

size_t MaxJsonStringChars(std::string_view s) { return 2 + kMaxEscapedPerByte * s.size(); }

// JSON's escape for each byte (see WriteJsonString), in 8 bytes so that
// one store copies it; `size` 0 for a byte kept as is.
struct Escape {
  char text[7];
  uint8_t size;
};
static_assert(sizeof(Escape) == 8);
constexpr std::array<Escape, 256> kEscapes = [] {
  std::array<Escape, 256> t{};
  for (int c = 0; c < 0x20; ++c) {
    t[c] = {{'\\', 'u', '0', '0', static_cast<char>('0' + (c >> 4)), "0123456789abcdef"[c & 15]},
            6};
  }
  t['"'] = {{'\\', '"'}, 2};
  t['\\'] = {{'\\', '\\'}, 2};
  t['\n'] = {{'\\', 'n'}, 2};
  t['\r'] = {{'\\', 'r'}, 2};
  t['\t'] = {{'\\', 't'}, 2};
  return t;
}();

// A 16-byte load from `p` stays in p's page when it starts at most 4080
// bytes into it (4096: the smallest page size; larger ones are multiples).
constexpr uintptr_t kPageBytes = 4096;

#if defined(__SSE2__)
// The `n` < 16 bytes at `p`, which end too near a page's end for a 16-byte
// load, then zeros. Out of line: its stack buffer would cost every
// WriteJsonString call a stack frame and canary.
[[gnu::noinline, gnu::cold]] __m128i LoadTailAtPageEnd(const char* p, size_t n) {
  char tail[16] = {};
  std::memcpy(tail, p, n);
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(tail));
}

// Bit i set where byte i of `v` must be escaped: '"', '\\' or a control
// byte (< 0x20: min(v, 0x1f) == v, as unsigned).
inline unsigned EscapeMask(__m128i v) {
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
  const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                   control);
  return static_cast<unsigned>(_mm_movemask_epi8(hit));
}
#endif

// Inlined into WriteLogRecord (six calls out of line cost ~12% of a
// record), except under ASan or TSan: inlined, its loads would be
// instrumented as its caller's are (see WriteJsonString).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RINGPOST_JSON_STRING_INLINE __attribute__((noinline))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RINGPOST_JSON_STRING_INLINE __attribute__((noinline))
#endif
#endif
#ifndef RINGPOST_JSON_STRING_INLINE
#define RINGPOST_JSON_STRING_INLINE __attribute__((always_inline)) inline
#endif

// `s` quoted and escaped as JSON at `p` (\" \\ \n \r \t, \u00xx for the
// other control bytes, every other byte as is); returns the end. Stores
// may run up to 16 bytes past it (kStoreSlack).
//
// 16 bytes per step: load, store all 16, keep the clean run before the
// first byte to escape. Most strings are shorter than 16 bytes, so the
// last step loads 16 bytes even past the end of `s` when that cannot leave
// the page (a load within a mapped page cannot fault; the bytes past the
// end are masked off); near a page's end it copies the tail first.
// no_sanitize_address: that over-read is deliberate, and ASan would report
// it against the string's allocation (TSan, as a race with whoever writes
// the bytes after it).
RINGPOST_JSON_STRING_INLINE __attribute__((no_sanitize_address, no_sanitize_thread)) char*
WriteJsonString(char* p, std::string_view s) {
  *p++ = '"';
  const char* in = s.data();
  const char* const end = in + s.size();
  while (in != end) {
#if defined(__SSE2__)
    const size_t left = static_cast<size_t>(end - in);
    __m128i v;
    unsigned stop = 1u << 16;  // a clean step keeps all 16 bytes
    if (left >= 16) {
      v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
    } else {
      v = (reinterpret_cast<uintptr_t>(in) & (kPageBytes - 1)) <= kPageBytes - 16
              ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(in))
              : LoadTailAtPageEnd(in, left);
      stop = 1u << left;  // bytes from `end` on are not the string's
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
    const unsigned n = static_cast<unsigned>(__builtin_ctz(EscapeMask(v) | stop));
    in += n;
    p += n;
    if (n == 16 || in == end) continue;
#else
    if (kEscapes[static_cast<unsigned char>(*in)].size == 0) {
      *p++ = *in++;
      continue;
    }
#endif
    const Escape& e = kEscapes[static_cast<unsigned char>(*in++)];
    std::memcpy(p, &e, sizeof(e));
    p += e.size;
  }
  *p++ = '"';
  return p;
}

// "00" to "99".
constexpr std::array<char, 200> kDigitPairs = [] {
  std::array<char, 200> t{};
  for (int i = 0; i < 100; ++i) {
    t[2 * i] = static_cast<char>('0' + i / 10);
    t[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return t;
}();

// Writes a record through a cursor into space the caller has made room for
// (see the k* bounds above).
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  char* end() const { return p_; }

  void Put(char c) { *p_++ = c; }
  // A string literal: its length is known here, so the copy is a few moves
  // inlined rather than a memmove call per field name.
  template <size_t N>
  void Put(const char (&s)[N]) {
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  // {"type":"<name>","id":" in one copy of constant size (kRecordStart).
  void Start(LogEvent type) {
    const RecordStart& s =
        kRecordStart[std::min(static_cast<size_t>(type), kRecordStart.size() - 1)];
    std::memcpy(p_, s.text, sizeof(s.text));
    p_ += s.size;
  }
  template <typename Int>
  void Number(Int v) {
    p_ = std::to_chars(p_, p_ + kMaxNumberChars, v).ptr;
  }
  void MessageId(uint64_t id) {
    queue::WriteMessageId(id, p_);
    p_ += queue::kMessageIdChars;
  }

  void JsonString(std::string_view s) { p_ = WriteJsonString(p_, s); }

  // RFC 3339 UTC with milliseconds, quoted.
  void Time(int64_t ms, SecondCache* cache) {
    const int64_t secs = ms / 1000;
    if (secs != cache->secs) cache->Format(secs);
    // All of text (a constant-size copy), kept up to its size.
    std::memcpy(p_, cache->text, sizeof(cache->text));
    p_ += cache->size;
    const int frac = static_cast<int>(ms - secs * 1000);  // ms % 1000, no second division
    if (frac >= 0) [[likely]] {
      const unsigned u = static_cast<unsigned>(frac);
      p_[0] = static_cast<char>('0' + u / 100);
      std::memcpy(p_ + 1, &kDigitPairs[2 * (u % 100)], 2);
      p_ += 3;
    } else {  // before 1970: as it always was
      Put(static_cast<char>('0' + frac / 100));
      Put(static_cast<char>('0' + frac / 10 % 10));
      Put(static_cast<char>('0' + frac % 10));
    }
    Put("Z\"");
  }

 private:
  char* p_;
};

}  // namespace

std::string_view LogEventName(LogEvent e) { return EventName(e); }

std::string JsonQuote(std::string_view s) {
  std::string out(MaxJsonStringChars(s) + kStoreSlack, '\0');
  out.resize(static_cast<size_t>(WriteJsonString(out.data(), s) - out.data()));
  return out;
}

size_t MaxLogRecordSize(const LogRecord& r) {
  return kMaxFixedChars + MaxJsonStringChars(r.sender) + MaxJsonStringChars(r.recipient) +
         MaxJsonStringChars(r.domain) + MaxJsonStringChars(r.peer) +
         MaxJsonStringChars(r.enhanced) + MaxJsonStringChars(r.response) +
         MaxJsonStringChars(r.tls_version) + MaxJsonStringChars(r.tls_cipher) +
         MaxJsonStringChars(r.auth_user) + MaxJsonStringChars(r.category) +
         4 * kMaxNumberChars + 2 * kMaxTimeChars + kStoreSlack;
}

char* WriteLogRecord(const LogRecord& r, char* out) {
  // One cache per field: a retried message's queued_at and event_at lie in
  // different seconds and would evict each other from a shared one.
  thread_local SecondCache queued_cache;
  thread_local SecondCache event_cache;
  Writer w(out);
  w.Start(r.type);  // {"type":"Delivery","id":"
  if (r.id != 0) w.MessageId(r.id);
  w.Put("\",\"sender\":");
  w.JsonString(r.sender);
  w.Put(",\"recipient\":");
  w.JsonString(r.recipient);
  w.Put(",\"domain\":");
  w.JsonString(r.domain);
  w.Put(",\"peer\":");
  w.JsonString(r.peer);
  w.Put(",\"code\":");
  w.Number(r.code);
  w.Put(",\"enhanced\":");
  w.JsonString(r.enhanced);
  w.Put(",\"response\":");
  w.JsonString(r.response);
  w.Put(",\"attempt\":");
  w.Number(r.attempt);
  w.Put(",\"size\":");
  w.Number(r.size);
  if (r.tls) {
    w.Put(",\"tls\":true,\"tls_version\":");
    w.JsonString(r.tls_version);
    w.Put(",\"tls_cipher\":");
    w.JsonString(r.tls_cipher);
    if (r.tls_verified) {
      w.Put(",\"tls_verified\":true");
    } else {
      w.Put(",\"tls_verified\":false");
    }
  } else {
    w.Put(",\"tls\":false");
  }
  if (!r.auth_user.empty()) {
    w.Put(",\"auth_user\":");
    w.JsonString(r.auth_user);
  }
  if (!r.category.empty()) {
    w.Put(",\"category\":");
    w.JsonString(r.category);
  }
  if (r.about_id != 0) {
    w.Put(",\"about\":\"");
    w.MessageId(r.about_id);
    w.Put("\"");
  }
  w.Put(",\"queued_at\":");
  w.Time(r.queued_at_ms, &queued_cache);
  w.Put(",\"event_at\":");
  w.Time(r.event_at_ms, &event_cache);
  w.Put("}\n");
  CHECK(static_cast<size_t>(w.end() - out) <= MaxLogRecordSize(r) - kStoreSlack);
  return w.end();
}

void AppendLogRecord(const LogRecord& r, std::string* out) {
  // Room for the longest record, cut back to what was written.
  const size_t start = out->size();
  out->resize(start + MaxLogRecordSize(r));
  char* const end = WriteLogRecord(r, out->data() + start);
  out->resize(static_cast<size_t>(end - out->data()));
}

void LogBuffer::Append(const LogRecord& r) {
  const size_t room = MaxLogRecordSize(r);
  if (capacity_ - size_ < room) Grow(room);
  size_ = static_cast<size_t>(WriteLogRecord(r, data_.get() + size_) - data_.get());
}

void LogBuffer::Grow(size_t n) {
  // Doubling, as std::string does: a batch reaches its size in a few steps.
  const size_t capacity = std::max({2 * capacity_, size_ + n, kMinLogBufferBytes});
  // make_unique_for_overwrite: no zero-fill (see the class comment).
  std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

void LogBuffer::swap(LogBuffer& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(size_, other.size_);
  std::swap(capacity_, other.capacity_);
}

bool TerminatePartialRecord(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return false;
  const int rfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) return false;
  char last = '\n';
  const ssize_t n = pread(rfd, &last, 1, st.st_size - 1);
  close(rfd);
  if (n != 1 || last == '\n') return false;
  return write(fd, "\n", 1) == 1;
}

DeliveryLog::DeliveryLog(runtime::Loop* loop, int fd, uint32_t flush_interval_ms,
                         size_t max_buffer_bytes)
    : loop_(loop), fd_(fd), flush_interval_ms_(flush_interval_ms),
      max_buffer_bytes_(max_buffer_bytes) {
  timer_.context = this;
  // Only wakes the loop: the turn hook's Flush() then finds the batch due.
  timer_.callback = [](runtime::Timer* t) { static_cast<DeliveryLog*>(t->context)->Flush(); };
}

DeliveryLog::~DeliveryLog() { loop_->timers().Disarm(&timer_); }

void DeliveryLog::Add(const LogRecord& r) {
  if (fd_ < 0) return;
  if (buffer_.size() > max_buffer_bytes_) {
    ++dropped_;
    return;
  }
  if (buffer_.empty()) {
    first_pending_ms_ = loop_->now_ms();
    ArmTimer();
  }
  buffer_.Append(r);
  ++records_;
}

void DeliveryLog::ArmTimer() {
  if (flush_interval_ms_ > 0 && !timer_.armed()) {
    loop_->timers().Arm(&timer_, first_pending_ms_ + flush_interval_ms_);
  }
}

void DeliveryLog::Flush(bool force) {
  if (writing_ || buffer_.empty() || fd_ < 0) return;
  if (!force && buffer_.size() < kBatchBytes &&
      loop_->now_ms() < first_pending_ms_ + flush_interval_ms_) {
    return;
  }
  loop_->timers().Disarm(&timer_);
  writing_buffer_.clear();
  writing_buffer_.swap(buffer_);
  written_ = 0;
  writing_ = true;
  if (torn_) {
    // An earlier batch stopped inside a record: end that line first, so
    // that this batch's first record starts a line of its own.
    static constexpr char kNewline = '\n';
    io_uring_sqe* sqe = loop_->Sqe([this](int32_t res) {
      if (res != 1) return OnWritten(res < 0 ? res : -EIO);
      torn_ = false;
      IssueWrite();
    });
    io_uring_prep_write(sqe, fd_, &kNewline, 1, 0);
    return;
  }
  IssueWrite();
}

void DeliveryLog::IssueWrite() {
  io_uring_sqe* sqe = loop_->Sqe([this](int32_t res) { OnWritten(res); });
  // O_APPEND: the kernel places each write at the end of the file.
  io_uring_prep_write(sqe, fd_, writing_buffer_.data() + written_,
                      static_cast<unsigned>(writing_buffer_.size() - written_), 0);
}

void DeliveryLog::OnWritten(int32_t res) {
  if (res == 0) res = -EIO;  // no progress: would loop forever
  if (res < 0) {
    ++write_errors_;
    writing_ = false;
    // A short write before the error (file size limit, disk full) left
    // the start of a record: the next write ends that line first.
    if (written_ > 0 && writing_buffer_.data()[written_ - 1] != '\n') torn_ = true;
    if (!buffer_.empty()) ArmTimer();
    return;  // the batch is lost; the spool and journal still hold the truth
  }
  written_ += static_cast<size_t>(res);
  if (written_ < writing_buffer_.size()) return IssueWrite();  // the rest
  writing_ = false;
  if (writing_buffer_.capacity() > (4u << 20)) LogBuffer().swap(writing_buffer_);
  // Records that came during the write may be due already, with no turn
  // hook to see it if the loop now sleeps.
  if (!buffer_.empty()) ArmTimer();
}

}  // namespace ringpost
