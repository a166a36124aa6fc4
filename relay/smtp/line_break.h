// relay/smtp/line_break.h — line breaks in content, fast.
//
// Internal to the smtp package (data_scanner, dot_stuffer) and the session's
// BDAT content check. Both scan 16 bytes per step with SSE2 where available,
// bytewise otherwise, and read only bytes inside the range they are given.
//
// FindLineBreak: the next CR or LF. When `high` is non-null, sets *high to
// true if a byte with its top bit set occurs in [p, returned position); it
// never clears it.
//
// CrlfCheck: whether content split over any number of pieces has only CRLF
// line endings (no bare CR, no bare LF) and whether it has 8-bit octets.

#ifndef RINGPOST_RELAY_SMTP_LINE_BREAK_H_
#define RINGPOST_RELAY_SMTP_LINE_BREAK_H_

#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ringpost::smtp::internal {

// First CR or LF in [p, end), or `end` when there is none.
inline const char* FindLineBreak(const char* p, const char* end, bool* high) {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  __m128i top = _mm_setzero_si128();
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned breaks = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf))));
    if (breaks != 0) {
      const unsigned index = static_cast<unsigned>(__builtin_ctz(breaks));
      const unsigned before = (1u << index) - 1;
      if (high != nullptr &&
          ((static_cast<unsigned>(_mm_movemask_epi8(v)) & before) != 0 ||
           _mm_movemask_epi8(top) != 0)) {
        *high = true;
      }
      return p + index;
    }
    top = _mm_or_si128(top, v);
    p += 16;
  }
  if (high != nullptr && _mm_movemask_epi8(top) != 0) *high = true;
#endif
  bool seen_high = false;
  for (; p < end; ++p) {
    const char c = *p;
    if (c == '\r' || c == '\n') break;
    seen_high |= static_cast<unsigned char>(c) >= 0x80;
  }
  if (high != nullptr && seen_high) *high = true;
  return p;
}

// Feed the content piece by piece; after the last piece, the content is
// well formed iff ok(). Each LF must sit right after a CR and each CR right
// before an LF: the bytes that are LF must be exactly the bytes that follow
// a CR. Per 16-byte block that is one compare of the LF lanes with the CR
// lanes moved up one byte (the previous block's last lane moving in), and
// the differences are only collected, tested once per piece.
class CrlfCheck {
 public:
  void Feed(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    // The CR lanes of the previous block; only lane 15 (the octet before
    // `p`) is read.
    __m128i prev_crs = prev_cr_ ? _mm_set1_epi8(-1) : _mm_setzero_si128();
    __m128i wrong = _mm_setzero_si128();
    __m128i top = _mm_setzero_si128();
    const auto step = [&](__m128i v) {
      const __m128i crs = _mm_cmpeq_epi8(v, cr);
      const __m128i after_cr = _mm_or_si128(_mm_slli_si128(crs, 1), _mm_srli_si128(prev_crs, 15));
      wrong = _mm_or_si128(wrong, _mm_xor_si128(after_cr, _mm_cmpeq_epi8(v, lf)));
      top = _mm_or_si128(top, v);
      prev_crs = crs;
    };
    while (end - p >= 32) {
      step(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      step(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
      p += 32;
    }
    if (end - p >= 16) {
      step(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      p += 16;
    }
    bad_ |= _mm_movemask_epi8(wrong) != 0;
    high_ |= _mm_movemask_epi8(top) != 0;
    prev_cr_ = (_mm_movemask_epi8(prev_crs) & 0x8000) != 0;
#endif
    // The tail, bytewise (locals: stores through `this` would alias *p).
    bool carry = prev_cr_;
    bool bad = false;
    bool high = false;
    for (; p < end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      bad |= (c == '\n') != carry;
      carry = c == '\r';
      high |= c >= 0x80;
    }
    prev_cr_ = carry;
    bad_ |= bad;
    high_ |= high;
  }

  // No bare CR or LF so far, and the content does not end inside a CRLF.
  bool ok() const { return !bad_ && !prev_cr_; }
  bool eight_bit() const { return high_; }
  void Reset() { *this = CrlfCheck(); }

 private:
  bool prev_cr_ = false;  // the last octet fed was CR
  bool bad_ = false;
  bool high_ = false;
};

}  // namespace ringpost::smtp::internal

#endif  // RINGPOST_RELAY_SMTP_LINE_BREAK_H_
