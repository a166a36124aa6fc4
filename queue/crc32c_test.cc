// queue/crc32c_test.cc — CRC-32C vectors (RFC 3720 B.4), extension, hw == sw.

#include "queue/crc32c.h"

#include <cstring>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

using internal::Crc32cHardware;
using internal::Crc32cSoftware;
using internal::HaveHardwareCrc32c;

TEST(Crc32cTest, Rfc3720Vectors) {
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(inc.data(), inc.size()), 0x46DD794Eu);
  std::string dec(32, '\0');
  for (int i = 0; i < 32; ++i) dec[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Crc32c(dec.data(), dec.size()), 0x113FDB5Cu);
}

TEST(Crc32cTest, CheckString) {
  const char* s = "123456789";
  EXPECT_EQ(Crc32c(s, 9), 0xE3069283u);
  EXPECT_EQ(Crc32cSoftware(s, 9, 0), 0xE3069283u);
}

TEST(Crc32cTest, EmptyIsIdentity) {
  EXPECT_EQ(Crc32c("", 0), 0u);
  EXPECT_EQ(Crc32c("", 0, 0x12345678u), 0x12345678u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::mt19937_64 rng(7);
  std::string buf(1000, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  const uint32_t whole = Crc32c(buf.data(), buf.size());
  for (size_t split = 0; split <= buf.size(); split += 37) {
    const uint32_t a = Crc32c(buf.data(), split);
    EXPECT_EQ(Crc32c(buf.data() + split, buf.size() - split, a), whole)
        << "split at " << split;
  }
}

TEST(Crc32cTest, HardwareMatchesSoftwareOnRandomData) {
  std::mt19937_64 rng(42);
  std::string buf(70000, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  if (!HaveHardwareCrc32c()) {
    // No SSE4.2: the dispatcher must fall back to the table exactly.
    EXPECT_EQ(Crc32c(buf.data(), buf.size(), 7), Crc32cSoftware(buf.data(), buf.size(), 7));
    return;
  }
  // Every length up to 300 at every misalignment up to 8, then big ones.
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len = 0; len < 300; ++len) {
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(Crc32cHardware(buf.data() + off, len, seed),
                Crc32cSoftware(buf.data() + off, len, seed))
          << "off " << off << " len " << len;
    }
  }
  // Around the three-way runs: 3 x 256 and 3 x 4096 bytes, and beyond.
  for (size_t len = 760; len < 2400; ++len) {
    ASSERT_EQ(Crc32cHardware(buf.data() + len % 8, len, static_cast<uint32_t>(len)),
              Crc32cSoftware(buf.data() + len % 8, len, static_cast<uint32_t>(len)))
        << "len " << len;
  }
  for (size_t len : {12287u, 12288u, 12289u, 13055u, 13056u, 24576u + 768u + 5u}) {
    ASSERT_EQ(Crc32cHardware(buf.data() + 3, len, 9), Crc32cSoftware(buf.data() + 3, len, 9))
        << "len " << len;
  }
  for (size_t len : {1024u, 4096u, 65536u, 69999u}) {
    EXPECT_EQ(Crc32cHardware(buf.data() + 1, len, 0),
              Crc32cSoftware(buf.data() + 1, len, 0));
  }
}

}  // namespace
}  // namespace ringpost::queue
