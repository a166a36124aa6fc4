// relay/smtp/xtext.cc — see xtext.h. One pass, no table: the alphabet is
// two ranges.

#include "relay/smtp/xtext.h"

namespace ringpost::smtp {
namespace {

// An xchar: 33..126 except "+" and "=".
inline bool IsXchar(unsigned char c) {
  return c >= 33 && c <= 126 && c != '+' && c != '=';
}

// 0..15 for "0"-"9" and "A"-"F" (upper case only, RFC 3461 4), else -1.
inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Walks `in`, calling emit(octet) for each decoded octet; false on the
// first malformed position. Bounded by in.size().
template <typename Emit>
bool Walk(std::string_view in, Emit emit) {
  for (size_t i = 0; i < in.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (IsXchar(c)) {
      emit(c);
      continue;
    }
    if (c != '+' || in.size() - i < 3) return false;
    const int hi = HexValue(in[i + 1]);
    const int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    emit(static_cast<unsigned char>(hi << 4 | lo));
    i += 2;
  }
  return true;
}

}  // namespace

bool XtextDecode(std::string_view in, std::string* out) {
  const size_t before = out->size();
  out->reserve(before + in.size());
  if (Walk(in, [out](unsigned char c) { out->push_back(static_cast<char>(c)); })) {
    return true;
  }
  out->resize(before);
  return false;
}

void XtextEncode(std::string_view in, std::string* out) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : in) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (IsXchar(c)) {
      out->push_back(ch);
    } else {
      const char hex[3] = {'+', kHex[c >> 4], kHex[c & 15]};
      out->append(hex, 3);
    }
  }
}

std::optional<XtextShape> XtextCheck(std::string_view in) {
  XtextShape shape;
  if (!Walk(in, [&shape](unsigned char c) {
        ++shape.decoded_octets;
        if (c < 32 || c > 126) shape.printable = false;
      })) {
    return std::nullopt;
  }
  return shape;
}

}  // namespace ringpost::smtp
