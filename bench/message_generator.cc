// bench/message_generator.cc — see message_generator.h.
#include "bench/message_generator.h"

#include <time.h>

#include "base/check.h"
#include <charconv>

namespace ringpost::bench {
namespace {

// No ".", so no body line ever needs dot-stuffing.
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789";

void AppendPatternLine(size_t line, size_t chars, std::string* out) {
  for (size_t j = 0; j < chars; ++j) {
    out->push_back(kAlphabet[(line + j) % kAlphabet.size()]);
  }
  // A line may not start with a space either: cosmetics only, but keeps
  // every line a plausible text line.
  if (chars > 0 && (*out)[out->size() - chars] == ' ') (*out)[out->size() - chars] = 'x';
  out->append("\r\n");
}

}  // namespace

MessageGenerator::MessageGenerator(size_t size) : size_(size) {
  const size_t lines = size / kLineOctets + 2;
  template_.reserve(lines * kLineOctets);
  for (size_t i = 0; i < lines; ++i) AppendPatternLine(i, kLineOctets - 2, &template_);
  CHECK(template_.size() == lines * kLineOctets);
}

void MessageGenerator::AppendHeaders(const MessageFields& f, std::string* out) const {
  out->append("From: <").append(f.from).append(">\r\n");
  out->append("To: <").append(f.to).append(">\r\n");
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), f.sequence);
  CHECK(ec == std::errc());
  out->append("Subject: ringpost loadgen message ").append(digits, end);
  out->append("\r\nDate: ").append(f.date);
  out->append("\r\nMessage-ID: <").append(f.id).append("@loadgen.ringpost.invalid>\r\n");
  out->append("X-Ringpost-Test-Id: ").append(f.id).append("\r\n");
  out->append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
}

size_t MessageGenerator::BodyLength(size_t header_octets) const {
  if (size_ <= header_octets) return 0;
  const size_t body = size_ - header_octets;
  return body == 1 ? 2 : body;  // a one-octet line cannot end in CRLF
}

void MessageGenerator::AppendBody(size_t octets, std::string* out) const {
  CHECK(octets != 1);
  size_t full = octets / kLineOctets;
  size_t rest = octets % kLineOctets;
  if (rest == 1) {
    // 78k + 1 = 78(k-1) + 77 + 2: shorten the last full line, add "\r\n".
    CHECK(full > 0);
    --full;
    out->append(template_, 0, full * kLineOctets);
    out->append(template_, full * kLineOctets, kLineOctets - 3);
    out->append("\r\n\r\n");
    return;
  }
  out->append(template_, 0, full * kLineOctets);
  if (rest >= 2) {
    out->append(template_, full * kLineOctets, rest - 2);
    out->append("\r\n");
  }
}

std::string FormatRfc5322Date(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm_utc = {};
  gmtime_r(&t, &tm_utc);
  char buf[64];
  const size_t n = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm_utc);
  return std::string(buf, n);
}

}  // namespace ringpost::bench
