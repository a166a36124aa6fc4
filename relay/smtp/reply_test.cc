// relay/smtp/reply_test.cc — wire form of canned replies.

#include "relay/smtp/reply.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

TEST(Reply, AppendsWireForm) {
  struct {
    Reply reply;
    std::string wire;
  } cases[] = {
      {{250, "2.0.0", "Ok"}, "250 2.0.0 Ok\r\n"},
      {{220, "", "mx.example ESMTP"}, "220 mx.example ESMTP\r\n"},
      {{554, "5.7.1", "Relay access denied"},
       "554 5.7.1 Relay access denied\r\n"},
  };
  std::string out = "x";
  std::string want = "x";
  for (const auto& c : cases) {
    AppendReply(c.reply, &out);
    want += c.wire;
  }
  EXPECT_EQ(out, want);
}

}  // namespace
}  // namespace ringpost::smtp
