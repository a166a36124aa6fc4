// bench/header_scanner_test.cc — header values found across arbitrary
// splits, folding, case, limits, and nothing read past the header section.
#include "bench/header_scanner.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::bench {
namespace {

constexpr std::string_view kMessage =
    "From: a@b.example\r\n"
    "x-ringpost-test-id :  lg-1-2 \r\n"
    "Message-ID:\r\n"
    " <abc@example>\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "X-Ringpost-Test-Id: in-the-body\r\n";

TEST(HeaderScannerTest, FindsValuesForEverySplit) {
  HeaderScanner h("X-Ringpost-Test-Id");
  for (size_t split = 0; split <= kMessage.size(); ++split) {
    h.Reset();
    h.Feed(kMessage.substr(0, split));
    h.Feed(kMessage.substr(split));
    h.Finish();
    ASSERT_TRUE(h.has_id()) << split;
    EXPECT_EQ(h.id(), "lg-1-2");
    ASSERT_TRUE(h.has_message_id());
    EXPECT_EQ(h.message_id(), "<abc@example>");
  }
}

TEST(HeaderScannerTest, ByteByByte) {
  HeaderScanner h("X-Ringpost-Test-Id");
  for (char c : kMessage) h.Feed(std::string_view(&c, 1));
  EXPECT_TRUE(h.done());
  EXPECT_EQ(h.id(), "lg-1-2");
}

TEST(HeaderScannerTest, AbsentHeaderAndBodyIgnored) {
  HeaderScanner h("X-Other");
  h.Feed(kMessage);
  h.Finish();
  EXPECT_FALSE(h.has_id());
  EXPECT_TRUE(h.has_message_id());
}

TEST(HeaderScannerTest, OverlongLinesAreSkippedNotStored) {
  HeaderScanner h("X-Ringpost-Test-Id");
  std::string msg = "X-Ringpost-Test-Id: " + std::string(5000, 'a') + "\r\n";
  msg += "Message-ID: <m@x>\r\n\r\n";
  h.Feed(msg);
  EXPECT_FALSE(h.has_id());
  EXPECT_EQ(h.message_id(), "<m@x>");
}

TEST(HeaderScannerTest, LastLineWithoutNewlineIsFlushedByFinish) {
  HeaderScanner h("X-Ringpost-Test-Id");
  h.Feed("X-Ringpost-Test-Id: t9");
  EXPECT_FALSE(h.has_id());
  h.Finish();
  EXPECT_EQ(h.id(), "t9");
}

}  // namespace
}  // namespace ringpost::bench
