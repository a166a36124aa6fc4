// tests/fuzz/fuzz_input.h — carve typed values out of a fuzzer's input.
//
// A libFuzzer target gets one byte string. FuzzInput hands out small integers
// (parameters: limits, chunk sizes, flags) from its FRONT and leaves the rest
// as the payload, so a seed file is "a few parameter bytes, then the text".
// Reading past the end yields zeros: every byte string is a valid input.
// FuzzRng stretches one seed into a deterministic sequence (chunk splits).
//
// Shared by every target in tests/fuzz and compiled both by clang (libFuzzer,
// tools/fuzz) and by gcc (the corpus regression tests under Bazel).

#ifndef RINGPOST_TESTS_FUZZ_FUZZ_INPUT_H_
#define RINGPOST_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// Aborts (a crash libFuzzer records) when an invariant of the code under test
// does not hold. One condition per check, so the report names what broke.
#define FUZZ_CHECK(cond)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,    \
                   __LINE__, #cond);                                      \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

namespace ringpost::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  uint8_t U8() {
    if (rest_.empty()) return 0;
    const uint8_t v = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return v;
  }
  uint16_t U16() {
    const uint16_t lo = U8();
    return static_cast<uint16_t>(lo | (U8() << 8));
  }
  uint32_t U32() {
    const uint32_t lo = U16();
    return lo | (static_cast<uint32_t>(U16()) << 16);
  }
  // Up to n bytes from the front.
  std::string_view Bytes(size_t n) {
    const std::string_view v = rest_.substr(0, n);
    rest_.remove_prefix(v.size());
    return v;
  }
  // Whatever is left.
  std::string_view Rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// xorshift64*: deterministic, seeded from the input.
class FuzzRng {
 public:
  explicit FuzzRng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull | 1) {}
  uint64_t Next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform-ish in [lo, hi].
  size_t Between(size_t lo, size_t hi) {
    return lo + static_cast<size_t>(Next() % (hi - lo + 1));
  }

 private:
  uint64_t s_;
};

// Splits `text` into chunks whose sizes come from `rng`: mode 0 one chunk,
// 1 single bytes, 2 sizes 1..16, 3 sizes 1..4096. Calls f(chunk) for each
// until f returns false.
template <typename F>
void ForEachChunk(std::string_view text, int mode, FuzzRng* rng, F f) {
  while (!text.empty()) {
    size_t n = text.size();
    if (mode == 1) n = 1;
    if (mode == 2) n = rng->Between(1, 16);
    if (mode == 3) n = rng->Between(1, 4096);
    const std::string_view chunk = text.substr(0, n);
    text.remove_prefix(chunk.size());
    if (!f(chunk)) return;
  }
}

}  // namespace ringpost::fuzz

#endif  // RINGPOST_TESTS_FUZZ_FUZZ_INPUT_H_
