// mail_text_test.cc — the text helpers of generated mail, directly: UTF-8
// validation, header-safe values, folding (and that unfolding restores the
// value), quoted-printable. dsn_report_test.cc checks them in notices.
#include "relay/delivery/mail_text.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ringpost::delivery::mail_text {
namespace {

// RFC 5322 2.2.3 unfolding: CRLF followed by WSP is removed.
std::string Unfold(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.substr(i, 3) == "\r\n " || s.substr(i, 3) == "\r\n\t") {
      ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

void ExpectLinesAtMost(std::string_view s, size_t max) {
  size_t start = 0;
  for (size_t at = s.find("\r\n"); at != std::string_view::npos; at = s.find("\r\n", start)) {
    EXPECT_LE(at - start, max) << s.substr(start, 40);
    start = at + 2;
  }
  EXPECT_EQ(start, s.size()) << "no CRLF at the end";
}

TEST(MailTextTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("j\xC3\xBCrgen \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // cut short
  EXPECT_FALSE(IsValidUtf8("\xC3("));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  uint32_t cp = 0;
  EXPECT_EQ(Utf8Sequence("\xE2\x82\xAC", 0, &cp), 3u);
  EXPECT_EQ(cp, 0x20ACu);
  EXPECT_EQ(Utf8Sequence("a", 0, &cp), 0u);
  EXPECT_EQ(Utf8Sequence("a", 5, &cp), 0u);
  EXPECT_TRUE(IsAscii("abc\x7f"));
  EXPECT_FALSE(IsAscii("ab\x80"));
}

TEST(MailTextTest, FieldText) {
  EXPECT_EQ(FieldText("  a\r\n\tb  c \r\n"), "a b c");
  EXPECT_EQ(FieldText("x\x01y\x7fz"), "x?y?z");
  EXPECT_EQ(FieldText("caf\xC3\xA9"), "caf??");
  EXPECT_EQ(FieldText("caf\xC3\xA9", true), "caf\xC3\xA9");
  EXPECT_EQ(FieldText("bad \xFF\xC3 x", true), "bad ?? x");
  EXPECT_EQ(FieldText(std::string("a\0b", 3)), "a?b");
  EXPECT_EQ(FieldText("\r\n"), "");
}

TEST(MailTextTest, PlainTextAndToken) {
  EXPECT_EQ(PlainText("a\tb\x01\xC3\xA9\xFF"), "a b?\xC3\xA9?");
  EXPECT_EQ(Token("mx.example.com"), "mx.example.com");
  EXPECT_EQ(Token("a b\r\n\xC3\xA9"), "a?b??\?\?");
}

TEST(MailTextTest, Utf8AddrXtext) {
  EXPECT_EQ(Utf8AddrXtext("j\xC3\xBCrgen+x=y\\z@b\xC3\xBC" "cher.example"),
            "j\\x{FC}rgen\\x{2B}x\\x{3D}y\\x{5C}z@b\\x{FC}cher.example");
  EXPECT_EQ(Utf8AddrXtext("\xF0\x9F\x98\x80@x"), "\\x{1F600}@x");
  EXPECT_EQ(Utf8AddrXtext("a b"), "a\\x{20}b");
}

TEST(MailTextTest, FoldsAtSpacesAndUnfoldsBack) {
  std::string value;
  for (int i = 0; i < 100; ++i) value += (i ? " w" : "w") + std::to_string(i);
  std::string out;
  AppendField(&out, "Diagnostic-Code", value);
  ExpectLinesAtMost(out, kFoldAt);
  EXPECT_GT(std::count(out.begin(), out.end(), '\n'), 5);
  EXPECT_EQ(Unfold(out), "Diagnostic-Code: " + value + "\r\n");
  // Short values stay on one line.
  out.clear();
  AppendField(&out, "Action", "failed");
  EXPECT_EQ(out, "Action: failed\r\n");
  out.clear();
  AppendField(&out, "X", "");
  EXPECT_EQ(out, "X: \r\n");
}

TEST(MailTextTest, SplitsWhatCannotBeFolded) {
  std::string out;
  AppendField(&out, "Original-Envelope-Id", std::string(2500, 'e'));
  ExpectLinesAtMost(out, kLineMax);
  std::string unfolded = Unfold(out);
  EXPECT_EQ(std::count(unfolded.begin(), unfolded.end(), ' '), 1 + 2);  // after ':', per split
  // A long word after short ones: folded before it, then split.
  out.clear();
  AppendField(&out, "X", "short " + std::string(1500, 'l') + " tail");
  ExpectLinesAtMost(out, kLineMax);
  EXPECT_EQ(out.substr(0, 11), "X: short\r\n ");
}

TEST(MailTextTest, QuotedPrintable) {
  EXPECT_EQ(QuotedPrintable("plain text\r\n"), "plain text\r\n");
  EXPECT_EQ(QuotedPrintable("a=b\r\n"), "a=3Db\r\n");
  EXPECT_EQ(QuotedPrintable("caf\xC3\xA9\r\n"), "caf=C3=A9\r\n");
  EXPECT_EQ(QuotedPrintable("trailing \r\n\r\nx\t\r\n"), "trailing=20\r\n\r\nx=09\r\n");
  // Long lines get soft breaks; no =XX is split.
  const std::string line = std::string(70, 'a') + "\xC3\xA9\xC3\xA9" + std::string(100, 'b');
  const std::string qp = QuotedPrintable(line + "\r\n");
  ExpectLinesAtMost(qp, 76);
  std::string decoded;
  for (size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] != '=') {
      decoded += qp[i];
    } else if (qp.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else {
      decoded += static_cast<char>(std::stoi(qp.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
  }
  EXPECT_EQ(decoded, line + "\r\n");
}

}  // namespace
}  // namespace ringpost::delivery::mail_text
