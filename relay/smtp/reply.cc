// relay/smtp/reply.cc — formatting of canned SMTP replies.

#include "relay/smtp/reply.h"

#include "base/check.h"

namespace ringpost::smtp {

void AppendReply(const Reply& reply, std::string* out) {
  CHECK(reply.code >= 200);
  CHECK(reply.code <= 599);
  const char digits[4] = {static_cast<char>('0' + reply.code / 100),
                          static_cast<char>('0' + reply.code / 10 % 10),
                          static_cast<char>('0' + reply.code % 10), ' '};
  out->append(digits, sizeof(digits));
  if (!reply.enhanced.empty()) {
    out->append(reply.enhanced);
    out->push_back(' ');
  }
  out->append(reply.text);
  out->append("\r\n", 2);
}

}  // namespace ringpost::smtp
