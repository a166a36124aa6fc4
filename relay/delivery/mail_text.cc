// mail_text.cc — see mail_text.h.
#include "relay/delivery/mail_text.h"

#include <algorithm>
#include <cstdio>

#include "base/check.h"

namespace ringpost::delivery::mail_text {
namespace {

bool IsCtl(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

size_t Utf8Sequence(std::string_view s, size_t i, uint32_t* cp) {
  if (i >= s.size()) return 0;
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = at(i);
  size_t n;
  uint32_t v;
  uint32_t min;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2, v = b0 & 0x1f, min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3, v = b0 & 0x0f, min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (at(i + k) & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
    } else if (const size_t n = Utf8Sequence(s, i, &cp); n > 0) {
      i += n;
    } else {
      return false;
    }
  }
  return true;
}

std::string FieldText(std::string_view s, bool keep_utf8) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      ++i;
      continue;
    }
    if (space) out += ' ';
    space = false;
    if (c >= 0x80) {
      uint32_t cp;
      const size_t n = keep_utf8 ? Utf8Sequence(s, i, &cp) : 0;
      if (n > 0) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += '?';
        ++i;
      }
      continue;
    }
    out += IsCtl(c) ? '?' : static_cast<char>(c);
    ++i;
  }
  return out;
}

std::string PlainText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    if (c >= 0x80) {
      const size_t n = Utf8Sequence(s, i, &cp);
      if (n > 0) {
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
      out += '?';
    } else if (c == '\t') {
      out += ' ';
    } else {
      out += IsCtl(c) ? '?' : static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

std::string Token(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

std::string Utf8AddrXtext(std::string_view addr) {
  std::string out;
  for (size_t i = 0; i < addr.size();) {
    const unsigned char c = static_cast<unsigned char>(addr[i]);
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0x80) n = Utf8Sequence(addr, i, &cp);
    DCHECK(n > 0);
    if (n == 0) n = 1;  // not reached: the caller checked the address
    i += n;
    if (cp >= 0x21 && cp <= 0x7e && cp != '+' && cp != '=' && cp != '\\') {
      out += static_cast<char>(cp);
      continue;
    }
    char hex[16];
    std::snprintf(hex, sizeof(hex), "\\x{%02X}", cp);
    out += hex;
  }
  return out;
}


void AppendField(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ");
  size_t col = name.size() + 2;
  size_t i = 0;
  while (i < value.size()) {
    // The next word: its leading space (one at most) and what follows up to
    // the next space.
    size_t j = i;
    if (value[j] == ' ') ++j;
    while (j < value.size() && value[j] != ' ') ++j;
    std::string_view word = value.substr(i, j - i);
    if (word.front() == ' ' && col + word.size() > kFoldAt && col > 1) {
      out->append("\r\n");
      col = 0;
    }
    while (col + word.size() > kLineMax) {
      const size_t take = kLineMax - col;
      out->append(word.substr(0, take));
      out->append("\r\n ");
      col = 1;
      word.remove_prefix(take);
    }
    out->append(word);
    col += word.size();
    i = j;
  }
  out->append("\r\n");
}

std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3 / 2);
  while (!text.empty()) {
    // Every line of `text` ends in CRLF (the human part is built so).
    const size_t end = text.find("\r\n");
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 2);
    size_t col = 0;
    for (size_t k = 0; k < line.size(); ++k) {
      const unsigned char c = static_cast<unsigned char>(line[k]);
      const bool last = k + 1 == line.size();
      char unit[3];
      size_t n = 1;
      if ((c >= 33 && c <= 126 && c != '=') || (c == ' ' && !last)) {
        unit[0] = static_cast<char>(c);
      } else {
        unit[0] = '=', unit[1] = kHex[c >> 4], unit[2] = kHex[c & 15], n = 3;
      }
      // 75 and the "=" of a soft break make 76.
      if (col + n > 75) {
        out.append("=\r\n");
        col = 0;
      }
      out.append(unit, n);
      col += n;
    }
    out.append("\r\n");
  }
  return out;
}

}  // namespace ringpost::delivery::mail_text
