#include <liburing.h>
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
TEST(Toolchain, Links) {
  io_uring ring;
  ASSERT_EQ(io_uring_queue_init(8, &ring, 0), 0);
  io_uring_queue_exit(&ring);
  EXPECT_EQ(absl::StrCat("a", 1), "a1");
}
