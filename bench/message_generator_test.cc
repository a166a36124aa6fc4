// bench/message_generator_test.cc — generated messages have the promised
// size, line shape and headers, and survive DATA framing unchanged.
#include "bench/message_generator.h"

#include <string>

#include "gtest/gtest.h"
#include "relay/smtp/data_scanner.h"

namespace ringpost::bench {
namespace {

std::string Make(size_t size, std::string_view id = "lg-1-7") {
  MessageGenerator gen(size);
  MessageFields f;
  f.from = "a@b.example";
  f.to = "user7@c.example";
  f.id = id;
  f.date = "Tue, 25 Nov 2025 19:40:00 +0000";
  f.sequence = 7;
  std::string headers;
  gen.AppendHeaders(f, &headers);
  std::string msg = headers;
  gen.AppendBody(gen.BodyLength(headers.size()), &msg);
  return msg;
}

void ExpectWellFormed(const std::string& msg) {
  size_t start = 0;
  while (start < msg.size()) {
    const size_t crlf = msg.find("\r\n", start);
    ASSERT_NE(crlf, std::string::npos) << "unterminated last line";
    const std::string_view line(msg.data() + start, crlf - start);
    ASSERT_LE(line.size() + 2, MessageGenerator::kLineOctets);
    ASSERT_EQ(line.find_first_of("\r\n"), std::string_view::npos);
    ASSERT_FALSE(!line.empty() && line.front() == '.');
    for (char c : line) ASSERT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
    start = crlf + 2;
  }
}

TEST(MessageGeneratorTest, ExactSizeForEveryRemainder) {
  const size_t header_octets = Make(0).size();
  for (size_t size = header_octets + 2; size < header_octets + 400; ++size) {
    const std::string msg = Make(size);
    ASSERT_EQ(msg.size(), size);
    ExpectWellFormed(msg);
  }
}

TEST(MessageGeneratorTest, HeadersCarryTheIds) {
  const std::string msg = Make(1024, "lg-42-99");
  EXPECT_NE(msg.find("\r\nX-Ringpost-Test-Id: lg-42-99\r\n"), std::string::npos);
  EXPECT_NE(msg.find("\r\nMessage-ID: <lg-42-99@loadgen.ringpost.invalid>\r\n"),
            std::string::npos);
  EXPECT_EQ(msg.rfind("From: <a@b.example>\r\n", 0), 0u);
  EXPECT_NE(msg.find("\r\n\r\n"), std::string::npos);
}

TEST(MessageGeneratorTest, TooSmallSizeYieldsHeadersOnly) {
  const std::string msg = Make(10);
  EXPECT_GT(msg.size(), 10u);
  EXPECT_EQ(msg.substr(msg.size() - 4), "\r\n\r\n");
  ExpectWellFormed(msg);
}

TEST(MessageGeneratorTest, DataScannerReturnsTheMessageUnchanged) {
  const std::string msg = Make(100000);
  std::string wire = msg + ".\r\n";
  smtp::DataScanner scanner;
  std::string content;
  const auto r = scanner.Scan(wire, &content);
  EXPECT_EQ(r.status, smtp::DataScanner::Status::kDone);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.consumed, wire.size());
  EXPECT_TRUE(content == msg);
}

TEST(MessageGeneratorTest, Rfc5322Date) {
  EXPECT_EQ(FormatRfc5322Date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(FormatRfc5322Date(1764099600), "Tue, 25 Nov 2025 19:40:00 +0000");
}

}  // namespace
}  // namespace ringpost::bench
