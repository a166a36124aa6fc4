// relay/smtp/line_break.h — find the next CR or LF in a byte range, fast.
//
// Internal to the smtp package (data_scanner, dot_stuffer). Scans 16 bytes
// per step with SSE2 where available, bytewise otherwise. Reads only bytes
// inside [p, end). When `high` is non-null, sets *high to true if a byte
// with its top bit set occurs in [p, returned position); it never clears it.

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

}  // namespace ringpost::smtp::internal

#endif  // RINGPOST_RELAY_SMTP_LINE_BREAK_H_
