// free_list_test.cc — objects come back as their reset left them, at most
// `max` are kept, and the rest are freed.
#include "relay/runtime/free_list.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::runtime {
namespace {

struct Thing {
  std::string text;
  int uses = 0;
};

void Clear(Thing& t) {
  t.text.clear();
  t.uses = 0;
}

TEST(FreeList, KeepsStorageThroughReset) {
  FreeList<Thing> list(4);
  std::unique_ptr<Thing> t = list.Take();
  t->text.assign(1000, 'x');
  t->uses = 3;
  const char* storage = t->text.data();
  list.Give(std::move(t), Clear);
  EXPECT_EQ(list.size(), 1u);
  std::unique_ptr<Thing> again = list.Take();
  EXPECT_EQ(list.size(), 0u);
  EXPECT_TRUE(again->text.empty());
  EXPECT_EQ(again->uses, 0);
  EXPECT_GE(again->text.capacity(), 1000u);
  EXPECT_EQ(again->text.data(), storage);
}

TEST(FreeList, KeepsAtMostMaxAndDoesNotResetTheRest) {
  FreeList<Thing> list(2);
  int resets = 0;
  auto count = [&resets](Thing& t) {
    ++resets;
    Clear(t);
  };
  for (int i = 0; i < 5; ++i) list.Give(std::make_unique<Thing>(), count);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(resets, 2);
  list.Take();
  list.Take();
  EXPECT_NE(list.Take(), nullptr);  // empty: a new one
  EXPECT_EQ(list.size(), 0u);
}

}  // namespace
}  // namespace ringpost::runtime
