// delivery_log.cc — see delivery_log.h.
#include "relay/delivery_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "relay/server/session.h"

namespace ringpost {
namespace {

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
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return s.size();
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t run = 0;
  for (size_t i = NextToEscape(s, 0); i < s.size(); i = NextToEscape(s, i + 1)) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        char buf[8];
        snprintf(buf, sizeof(buf), "\\u%04x", c);
        out->append(buf);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

// RFC 3339 UTC with milliseconds. The part up to the second is formatted
// once per second per thread.
void AppendTime(int64_t ms, std::string* out) {
  thread_local int64_t cached_secs = -1;
  thread_local char cached[32];
  thread_local int cached_len = 0;
  const int64_t secs = ms / 1000;
  if (secs != cached_secs) {
    time_t t = static_cast<time_t>(secs);
    struct tm tm;
    gmtime_r(&t, &tm);
    cached_len = snprintf(cached, sizeof(cached), "\"%04d-%02d-%02dT%02d:%02d:%02d.",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                          tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  out->append(cached, static_cast<size_t>(cached_len));
  const int frac = static_cast<int>(ms % 1000);
  const char digits[5] = {static_cast<char>('0' + frac / 100),
                          static_cast<char>('0' + frac / 10 % 10),
                          static_cast<char>('0' + frac % 10), 'Z', '"'};
  out->append(digits, 5);
}

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
  out->append("{\"type\":\"");
  out->append(LogEventName(r.type));
  out->append("\",\"id\":\"");
  out->append(r.id != 0 ? server::FormatMessageId(r.id) : std::string());
  out->append("\",\"sender\":");
  AppendJsonString(r.sender, out);
  out->append(",\"recipient\":");
  AppendJsonString(r.recipient, out);
  out->append(",\"domain\":");
  AppendJsonString(r.domain, out);
  out->append(",\"peer\":");
  AppendJsonString(r.peer, out);
  out->append(",\"code\":");
  out->append(std::to_string(r.code));
  out->append(",\"enhanced\":");
  AppendJsonString(r.enhanced, out);
  out->append(",\"response\":");
  AppendJsonString(r.response, out);
  out->append(",\"attempt\":");
  out->append(std::to_string(r.attempt));
  out->append(",\"size\":");
  out->append(std::to_string(r.size));
  out->append(r.tls ? ",\"tls\":true" : ",\"tls\":false");
  out->append(",\"queued_at\":");
  AppendTime(r.queued_at_ms, out);
  out->append(",\"event_at\":");
  AppendTime(r.event_at_ms, out);
  out->append("}\n");
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
