// bench/header_scanner.h — streaming extraction of two header values from a
// message as it arrives: the test id header (X-Ringpost-Test-Id unless
// configured otherwise) and Message-ID.
//
// bench/sink feeds it the message content (after dot-unstuffing, or the raw
// BDAT chunks) in whatever pieces the network delivered, and reads the
// values once the message ends. It looks only at the header section (up to
// the first empty line), matches field names case-insensitively, unfolds
// continuation lines and trims the value.
//
// Bounded: at most kLineOctetsMax octets of a header line are kept (longer
// lines are skipped), values are capped at kValueOctetsMax, and after the
// header section every Feed() returns at once.
//
// Usage:
//   HeaderScanner headers("X-Ringpost-Test-Id");
//   headers.Feed(piece); ...       // any split
//   headers.Finish();              // end of message: flush a last line
//   if (headers.has_id()) use(headers.id());
//   headers.Reset();               // next message; buffers are reused
#ifndef RINGPOST_BENCH_HEADER_SCANNER_H_
#define RINGPOST_BENCH_HEADER_SCANNER_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace ringpost::bench {

class HeaderScanner {
 public:
  static constexpr size_t kLineOctetsMax = 1000;
  static constexpr size_t kValueOctetsMax = 998;

  explicit HeaderScanner(std::string id_header);

  void Reset();
  void Feed(std::string_view content);
  void Finish();

  // True once the empty line ending the header section was seen.
  bool done() const { return done_; }
  bool has_id() const { return has_id_; }
  std::string_view id() const { return id_; }
  bool has_message_id() const { return has_message_id_; }
  std::string_view message_id() const { return message_id_; }

 private:
  enum class Field { kNone, kId, kMessageId };
  void EndLine();
  void AppendValue(std::string_view text, std::string* value);

  std::string id_header_;
  std::string line_;        // the current line, without CRLF, bounded
  bool line_overflow_ = false;
  bool done_ = false;
  Field current_ = Field::kNone;  // field a continuation line belongs to
  bool has_id_ = false;
  bool has_message_id_ = false;
  std::string id_;
  std::string message_id_;
};

}  // namespace ringpost::bench

#endif  // RINGPOST_BENCH_HEADER_SCANNER_H_
