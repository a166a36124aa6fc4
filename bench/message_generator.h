// bench/message_generator.h — the synthetic messages bench/loadgen sends.
//
// Every message carries the headers a relay and its tests look at (From, To,
// Subject, Date, Message-ID and X-Ringpost-Test-Id with a unique id) and a
// body of printable ASCII lines of at most 78 octets that fills the message
// to the requested size. Lines end in CRLF, no line starts with "." (so the
// DATA payload needs no dot-stuffing and the BDAT payload equals the DATA
// content), and the message is exactly `size` octets whenever `size` is at
// least the header length plus 2.
//
// The body comes from a template built once, so generating a message costs
// a few small appends for the headers and one copy of the body: no
// allocation once the caller's output buffer has grown.
//
// Usage:
//   MessageGenerator gen(1024);
//   gen.AppendHeaders({...}, &headers);                 // scratch string
//   const size_t body = gen.BodyLength(headers.size());
//   wire.append(headers); gen.AppendBody(body, &wire);  // size == total
#ifndef RINGPOST_BENCH_MESSAGE_GENERATOR_H_
#define RINGPOST_BENCH_MESSAGE_GENERATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::bench {

struct MessageFields {
  std::string_view from;     // mailbox without <>
  std::string_view to;       // first recipient, mailbox without <>
  std::string_view id;       // unique test id, e.g. "lg-1234-17"
  std::string_view date;     // RFC 5322 date-time
  uint64_t sequence = 0;     // shown in the Subject
};

class MessageGenerator {
 public:
  static constexpr size_t kLineOctets = 78;  // incl. CRLF

  explicit MessageGenerator(size_t size);

  // Appends the header section, including the empty line that ends it.
  void AppendHeaders(const MessageFields& fields, std::string* out) const;
  // Body octets that make the message `size` long after `header_octets`.
  size_t BodyLength(size_t header_octets) const;
  // Appends a body of exactly `octets` (never 1: BodyLength avoids it).
  void AppendBody(size_t octets, std::string* out) const;

  size_t size() const { return size_; }

 private:
  size_t size_;
  std::string template_;  // full lines of kLineOctets, enough for any body
};

// Formats `unix_seconds` as an RFC 5322 date-time in UTC, e.g.
// "Tue, 25 Nov 2025 19:40:00 +0000".
std::string FormatRfc5322Date(int64_t unix_seconds);

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_MESSAGE_GENERATOR_H_
