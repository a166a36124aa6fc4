// mime_downgrade_test.cc — 8-bit MIME to 7 bits: quoted-printable encoding
// (7-bit output, lines of at most 76 octets, decodes to the input), single
// and multipart messages (headers untouched but for the encoding field,
// 7-bit parts byte for byte), and every case it must refuse.
#include "relay/smtp/mime_downgrade.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

// Quoted-printable decoding (RFC 2045 6.7), strict enough for tests.
std::string DecodeQp(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
      continue;
    }
    if (s.substr(i + 1, 2) == "\r\n") {  // soft line break
      i += 2;
      continue;
    }
    const std::string hex(s.substr(i + 1, 2));
    EXPECT_EQ(hex.size(), 2u);
    out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
    i += 2;
  }
  return out;
}

std::vector<std::string_view> Lines(std::string_view s) {
  std::vector<std::string_view> lines;
  while (!s.empty()) {
    const size_t eol = s.find("\r\n");
    lines.push_back(s.substr(0, eol));
    if (eol == std::string_view::npos) break;
    s.remove_prefix(eol + 2);
  }
  return lines;
}

void ExpectWellFormedQp(std::string_view qp) {
  EXPECT_FALSE(HasEightBit(qp));
  for (std::string_view line : Lines(qp)) {
    EXPECT_LE(line.size(), 76u) << line;
    EXPECT_FALSE(line.substr(0, 2) == "--") << line;
    if (!line.empty()) {
      EXPECT_NE(line.back(), ' ') << line;
      EXPECT_NE(line.back(), '\t') << line;
    }
  }
}

std::string Downgrade(std::string_view in) {
  std::string out;
  std::string_view error;
  EXPECT_TRUE(DowngradeTo7Bit(in, &out, &error)) << error;
  return out;
}

std::string_view Refusal(std::string_view in) {
  std::string out;
  std::string_view error;
  EXPECT_FALSE(DowngradeTo7Bit(in, &out, &error));
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(MimeDowngradeTest, HasEightBitAnywhere) {
  EXPECT_FALSE(HasEightBit(""));
  for (size_t n : {1u, 7u, 63u, 64u, 65u, 200u}) {
    std::string s(n, 'a');
    EXPECT_FALSE(HasEightBit(s));
    for (size_t i = 0; i < n; ++i) {
      s[i] = '\x80';
      EXPECT_TRUE(HasEightBit(s)) << n << " " << i;
      s[i] = 'a';
    }
  }
}

TEST(MimeDowngradeTest, QuotedPrintableRoundTripsAnyBytes) {
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    std::string body;
    const size_t n = rng() % 600;
    for (size_t i = 0; i < n; ++i) {
      const unsigned r = rng() % 10;
      if (r == 0) {
        body += "\r\n";
      } else if (r == 1) {
        body.push_back(' ');
      } else if (r == 2) {
        body.push_back('-');
      } else if (r == 3) {
        body.push_back(static_cast<char>(rng() % 256));
      } else {
        body.push_back(static_cast<char>('a' + rng() % 26));
      }
    }
    std::string qp;
    AppendQuotedPrintable(body, &qp);
    ExpectWellFormedQp(qp);
    EXPECT_EQ(DecodeQp(qp), body);
  }
}

TEST(MimeDowngradeTest, QuotedPrintableDetails) {
  std::string qp;
  AppendQuotedPrintable("caf\xc3\xa9 = ok \r\n--b\r\ntab\t", &qp);
  EXPECT_EQ(qp, "caf=C3=A9 =3D ok=20\r\n=2D-b\r\ntab=09");
  qp.clear();
  const std::string long_line(200, 'x');
  AppendQuotedPrintable(long_line + "\r\n", &qp);
  ExpectWellFormedQp(qp);
  EXPECT_EQ(Lines(qp)[0].size(), 76u);  // 75 octets and the soft break
  EXPECT_EQ(DecodeQp(qp), long_line + "\r\n");
}

TEST(MimeDowngradeTest, SevenBitMessageIsUnchanged) {
  const std::string in = "Subject: hi\r\n\r\nplain text\r\n";
  EXPECT_EQ(Downgrade(in), in);
}

TEST(MimeDowngradeTest, SinglePartGetsQuotedPrintable) {
  const std::string in =
      "From: a@x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\nSubject: hi\r\n\r\n"
      "Gr\xc3\xbc\xc3\x9f" "e\r\n.\r\n";
  EXPECT_EQ(Downgrade(in),
            "From: a@x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\nSubject: hi\r\n\r\n"
            "Gr=C3=BC=C3=9Fe\r\n.\r\n");
}

TEST(MimeDowngradeTest, MissingOrFoldedEncodingFieldIsRewritten) {
  EXPECT_EQ(Downgrade("MIME-Version: 1.0\r\nSubject: s\r\n\r\n\xff\r\n"),
            "MIME-Version: 1.0\r\nSubject: s\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n=FF\r\n");
  EXPECT_EQ(Downgrade("MIME-Version: 1.0\r\ncontent-transfer-encoding:\r\n  8BIT (x)\r\n"
                      "X: y\r\n\r\n\xff"),
            "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            "X: y\r\n\r\n=FF");
}

TEST(MimeDowngradeTest, MultipartPartsWalkedByBoundary) {
  const std::string seven =
      "Content-Type: text/plain\r\n\r\nseven bit\r\n-- not a boundary\r\n";
  const std::string in =
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed;\r\n boundary=\"outer b\"\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "preamble\r\n"
      "--outer b\r\n" + seven +
      "\r\n--outer b  \r\n"
      "Content-Type: multipart/alternative; boundary=inner\r\n"
      "\r\n"
      "--inner\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "\xc3\xa9t\xc3\xa9\r\n"
      "--inner\r\n"
      "Content-Type: text/html; charset=utf-8\r\n"
      "\r\n"
      "<p>\xc3\xa9</p>\r\n"
      "--inner--\r\n"
      "\r\n--outer b--\r\n"
      "epilogue\r\n";
  const std::string out = Downgrade(in);
  const std::string expected =
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed;\r\n boundary=\"outer b\"\r\n"
      "Content-Transfer-Encoding: 7bit\r\n"
      "\r\n"
      "preamble\r\n"
      "--outer b\r\n" + seven +
      "\r\n--outer b  \r\n"
      "Content-Type: multipart/alternative; boundary=inner\r\n"
      "\r\n"
      "--inner\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "=C3=A9t=C3=A9\r\n"
      "--inner\r\n"
      "Content-Type: text/html; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "<p>=C3=A9</p>\r\n"
      "--inner--\r\n"
      "\r\n--outer b--\r\n"
      "epilogue\r\n";
  EXPECT_EQ(out, expected);
  EXPECT_FALSE(HasEightBit(out));
}

TEST(MimeDowngradeTest, PartWithoutFinalLineBreakKeepsTheDelimiterCrlf) {
  // The CRLF before a delimiter belongs to the delimiter: it stays a
  // line break, not an encoded octet.
  const std::string in =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\n\r\n\xe9 \r\n--b--\r\n";
  EXPECT_EQ(Downgrade(in),
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9=20\r\n--b--\r\n");
}

TEST(MimeDowngradeTest, RefusesWhatItCannotConvertSafely) {
  const std::string mp = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n";
  // Not MIME at all.
  Refusal("Subject: x\r\n\r\n\xe9\r\n");
  // 8-bit in a header.
  Refusal("MIME-Version: 1.0\r\nSubject: \xe9\r\n\r\nx\r\n");
  Refusal(mp + "--b\r\nX-Name: \xe9\r\n\r\nx\r\n--b--\r\n");
  // message/* with 8-bit inside; also as the default type in a digest.
  Refusal(mp + "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\n\xe9\r\n--b--\r\n");
  Refusal("MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=b\r\n\r\n"
          "--b\r\n\r\nSubject: y\r\n\r\n\xe9\r\n--b--\r\n");
  // Labelled encodings that cannot hold 8-bit octets, and binary.
  Refusal("MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n\xe9\r\n");
  Refusal("MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\xe9\r\n");
  Refusal("MIME-Version: 1.0\r\nContent-Transfer-Encoding: binary\r\n\r\n\xe9\r\n");
  // Malformed structure.
  Refusal("MIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n"
          "Content-Transfer-Encoding: 8bit\r\n\r\n\xe9\r\n");
  Refusal("MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\n\xe9");
  Refusal("MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--b\r\n\r\n\xe9\r\n--b--\r\n");
  Refusal(mp + "--b\r\n\r\n\xe9\r\n");  // no closing delimiter
  Refusal(mp + "\xe9 preamble\r\n--b\r\n\r\nx\r\n--b--\r\n");
  Refusal(mp + "--b\r\n\r\nx\r\n--b--\r\n\xe9 epilogue\r\n");
  Refusal("MIME-Version: 1.0\r\nno colon here\r\n\r\n\xe9\r\n");
  Refusal("MIME-Version: 1.0\r\nContent-Type: text\r\n\r\n\xe9\r\n");
}

TEST(MimeDowngradeTest, DeepNestingIsRefused) {
  std::string in = "MIME-Version: 1.0\r\n";
  std::string tail;
  for (int i = 0; i <= kDowngradeDepthMax + 1; ++i) {
    const std::string b = "b" + std::to_string(i);
    in += "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n";
    tail = "\r\n--" + b + "--\r\n" + tail;
  }
  in += "\r\n\xe9" + tail;
  EXPECT_NE(Refusal(in).find("deep"), std::string_view::npos);
}

}  // namespace
}  // namespace ringpost::smtp
