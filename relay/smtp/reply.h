// relay/smtp/reply.h — a canned SMTP reply the server sends: basic code,
// enhanced status code (RFC 3463) and text.
//
// Invariants: `code` is a three-digit SMTP code (200..599); `enhanced` is
// empty or "c.s.d" with c equal to the first digit of `code`; neither view
// contains CR or LF. Replies built by this package point at string literals,
// so they can be stored and copied freely.

#ifndef RINGPOST_RELAY_SMTP_REPLY_H_
#define RINGPOST_RELAY_SMTP_REPLY_H_

#include <string>
#include <string_view>

namespace ringpost::smtp {

struct Reply {
  int code;
  std::string_view enhanced;
  std::string_view text;
};

// Appends "<code> <enhanced> <text>\r\n" (or "<code> <text>\r\n" when
// `enhanced` is empty) to *out.
void AppendReply(const Reply& reply, std::string* out);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_REPLY_H_
