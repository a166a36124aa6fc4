// message_id.cc — see message_id.h.
#include "queue/message_id.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ringpost::queue {

void WriteMessageId(uint64_t id, char* out) {
  static_assert(kMessageIdChars == 16);
#if defined(__SSE2__)
  // Bytes most significant first; each byte's two nibbles side by side in
  // byte lanes; then '0' + n, plus 7 more for n > 9 ('A' - '0' - 10).
  const __m128i bytes = _mm_cvtsi64_si128(static_cast<int64_t>(__builtin_bswap64(id)));
  const __m128i low4 = _mm_set1_epi8(0x0F);
  const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
  const __m128i low = _mm_and_si128(bytes, low4);
  const __m128i nibbles = _mm_unpacklo_epi8(high, low);
  const __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)),
                                        _mm_set1_epi8(7));
  const __m128i text = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')), letters);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), text);
#else
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int i = static_cast<int>(kMessageIdChars) - 1; i >= 0; --i, id >>= 4) {
    out[i] = kHex[id & 15];
  }
#endif
}

void AppendMessageId(uint64_t id, std::string* out) {
  char digits[kMessageIdChars];
  WriteMessageId(id, digits);
  out->append(digits, kMessageIdChars);
}

std::string FormatMessageId(uint64_t id) {
  std::string s;
  AppendMessageId(id, &s);
  return s;
}

}  // namespace ringpost::queue
