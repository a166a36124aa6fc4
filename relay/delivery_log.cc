// delivery_log.cc — see delivery_log.h.
#include "relay/delivery_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <cstdio>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "relay/server/session.h"

namespace ringpost {
namespace {

// Whether JSON must escape a byte: a control character, '"' or '\\'.
constexpr std::array<bool, 256> kEscaped = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

// Index of the first byte at or after `i` that JSON must escape (a control
// character, '"' or '\\'), or s.size(). 16 bytes per step where SSE2 is.
size_t NextToEscape(std::string_view s, size_t i) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    // Bytes below 0x20, as unsigned: max(v, 0x20) != v.
    const __m128i control = _mm_xor_si128(_mm_max_epu8(v, space), v);
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
        _mm_cmpeq_epi8(_mm_cmpeq_epi8(control, _mm_setzero_si128()), _mm_setzero_si128()));
    const int mask = _mm_movemask_epi8(hit);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(mask));
  }
#endif
  for (; i < s.size(); ++i) {
    if (kEscaped[static_cast<unsigned char>(s[i])]) return i;
  }
  return s.size();
}

// A quoted RFC 3339 UTC time up to its second ("\"2023-11-14T22:13:20."),
// formatted once per second: the records of that second reuse it.
struct SecondCache {
  int64_t secs = INT64_MIN;  // no time maps to it: ms / 1000 > INT64_MIN
  char text[32];
  size_t size = 0;
};

// Longest output of the pieces below.
constexpr size_t kMaxEscapedPerByte = 6;  // \u00XX
constexpr size_t kMaxNumberChars = 20;    // UINT64_MAX; INT_MIN is 11
constexpr size_t kMaxTimeChars = sizeof(SecondCache::text) + 5;  // + "mmmZ\""
// Everything else: field names, punctuation, the type's name and the id
// (180 chars at most).
constexpr size_t kMaxFixedChars = 256;

size_t MaxJsonStringChars(std::string_view s) { return 2 + kMaxEscapedPerByte * s.size(); }

// Writes a record through a cursor into space the caller has made room for
// (see the k* bounds above).
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  char* end() const { return p_; }

  void Put(char c) { *p_++ = c; }
  void Put(std::string_view s) { p_ = std::copy(s.begin(), s.end(), p_); }
  template <typename Int>
  void Number(Int v) {
    p_ = std::to_chars(p_, p_ + kMaxNumberChars, v).ptr;
  }
  void MessageId(uint64_t id) {
    server::WriteMessageId(id, p_);
    p_ += server::kMessageIdChars;
  }

  // `s` quoted and escaped as JSON: \" \\ \n \r \t, \u00xx for the other
  // control bytes, every other byte as is.
  void JsonString(std::string_view s) {
    Put('"');
    size_t run = 0;
    for (size_t i = NextToEscape(s, 0); i < s.size(); i = NextToEscape(s, i + 1)) {
      Put(s.substr(run, i - run));
      run = i + 1;
      const unsigned char c = static_cast<unsigned char>(s[i]);
      switch (c) {
        case '"': Put("\\\""); break;
        case '\\': Put("\\\\"); break;
        case '\n': Put("\\n"); break;
        case '\r': Put("\\r"); break;
        case '\t': Put("\\t"); break;
        default:  // c < 0x20
          Put("\\u00");
          Put(static_cast<char>('0' + (c >> 4)));
          Put("0123456789abcdef"[c & 15]);
      }
    }
    Put(s.substr(run));
    Put('"');
  }

  // RFC 3339 UTC with milliseconds, quoted.
  void Time(int64_t ms, SecondCache* cache) {
    const int64_t secs = ms / 1000;
    if (secs != cache->secs) {
      time_t t = static_cast<time_t>(secs);
      struct tm tm;
      gmtime_r(&t, &tm);
      // At most 28 chars: a year fits an int for every int64_t ms.
      const int n = snprintf(cache->text, sizeof(cache->text), "\"%04d-%02d-%02dT%02d:%02d:%02d.",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec);
      cache->size = static_cast<size_t>(n);
      cache->secs = secs;
    }
    Put(std::string_view(cache->text, cache->size));
    const int frac = static_cast<int>(ms % 1000);
    Put(static_cast<char>('0' + frac / 100));
    Put(static_cast<char>('0' + frac / 10 % 10));
    Put(static_cast<char>('0' + frac % 10));
    Put("Z\"");
  }

 private:
  char* p_;
};

}  // namespace

std::string_view LogEventName(LogEvent e) {
  switch (e) {
    case LogEvent::kReception: return "Reception";
    case LogEvent::kDelivery: return "Delivery";
    case LogEvent::kTransientFailure: return "TransientFailure";
    case LogEvent::kBounce: return "Bounce";
    case LogEvent::kExpiration: return "Expiration";
    case LogEvent::kRejection: return "Rejection";
  }
  return "Unknown";
}

void AppendLogRecord(const LogRecord& r, std::string* out) {
  // One cache per field: a retried message's queued_at and event_at lie in
  // different seconds and would evict each other from a shared one.
  thread_local SecondCache queued_cache;
  thread_local SecondCache event_cache;
  // Room for the longest record these fields can make, in one resize; the
  // string is cut back to what was written below.
  const size_t max_size = kMaxFixedChars + MaxJsonStringChars(r.sender) +
                          MaxJsonStringChars(r.recipient) + MaxJsonStringChars(r.domain) +
                          MaxJsonStringChars(r.peer) + MaxJsonStringChars(r.enhanced) +
                          MaxJsonStringChars(r.response) + 3 * kMaxNumberChars + 2 * kMaxTimeChars;
  const size_t start = out->size();
  out->resize(start + max_size);
  char* const begin = out->data() + start;
  Writer w(begin);
  w.Put("{\"type\":\"");
  w.Put(LogEventName(r.type));
  w.Put("\",\"id\":\"");
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
  w.Put(r.tls ? ",\"tls\":true" : ",\"tls\":false");
  w.Put(",\"queued_at\":");
  w.Time(r.queued_at_ms, &queued_cache);
  w.Put(",\"event_at\":");
  w.Time(r.event_at_ms, &event_cache);
  w.Put("}\n");
  const size_t size = static_cast<size_t>(w.end() - begin);
  assert(size <= max_size);
  out->resize(start + size);
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
  AppendLogRecord(r, &buffer_);
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
  io_uring_sqe* sqe = loop_->Sqe([this](int32_t res) { OnWritten(res); });
  // O_APPEND: the kernel places each write at the end of the file.
  io_uring_prep_write(sqe, fd_, writing_buffer_.data(),
                      static_cast<unsigned>(writing_buffer_.size()), 0);
}

void DeliveryLog::OnWritten(int32_t res) {
  if (res < 0) {
    ++write_errors_;
    writing_ = false;
    if (!buffer_.empty()) ArmTimer();
    return;  // the batch is lost; the spool and journal still hold the truth
  }
  written_ += static_cast<size_t>(res);
  if (written_ < writing_buffer_.size()) {
    io_uring_sqe* sqe = loop_->Sqe([this](int32_t r) { OnWritten(r); });
    io_uring_prep_write(sqe, fd_, writing_buffer_.data() + written_,
                        static_cast<unsigned>(writing_buffer_.size() - written_), 0);
    return;
  }
  writing_ = false;
  if (writing_buffer_.capacity() > (4u << 20)) std::string().swap(writing_buffer_);
  // Records that came during the write may be due already, with no turn
  // hook to see it if the loop now sleeps.
  if (!buffer_.empty()) ArmTimer();
}

}  // namespace ringpost
