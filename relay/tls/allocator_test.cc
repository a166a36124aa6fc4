// libcrypto must allocate through allocator.cc's hooks: a block from
// OPENSSL_malloc carries our size prefix, and OPENSSL_realloc keeps it.
#include <openssl/mem.h>

#include <cstddef>
#include <cstring>

#include "gtest/gtest.h"

extern "C" size_t OPENSSL_memory_get_size(void* ptr);

namespace {

size_t OurPrefix(void* ptr) {
  size_t size;
  std::memcpy(&size, static_cast<char*>(ptr) - 16, sizeof(size));
  return size;
}

TEST(AllocatorTest, LibcryptoAllocatesThroughTheHooks) {
  void* small = OPENSSL_malloc(100);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(OurPrefix(small), 100u);
  EXPECT_EQ(OPENSSL_memory_get_size(small), 100u);
  std::memset(small, 'x', 100);
  void* grown = OPENSSL_realloc(small, 20000);
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(OurPrefix(grown), 20000u);
  EXPECT_EQ(static_cast<char*>(grown)[99], 'x');  // contents kept
  OPENSSL_free(grown);
  OPENSSL_free(nullptr);
}

}  // namespace
