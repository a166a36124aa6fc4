// relay/smtp/xtext.h — "xtext", the encoding of the DSN parameters ENVID
// and ORCPT (RFC 3461 section 4).
//
//   xtext   = *( xchar / hexchar )
//   xchar   = any ASCII character from "!" (33) to "~" (126) except "+" and "="
//   hexchar = "+" followed by two upper-case hexadecimal digits
//
// The inbound session decodes what clients send (and keeps the decoded
// value in the spool); the outbound client encodes it again for the next
// hop. Pure: no I/O, no state, any bytes in.
//
// Decoding is strict: a "+" not followed by two upper-case hex digits, a
// raw "=", or a byte outside 33..126 (space, control, 8-bit) is malformed.
// Encoding writes every byte outside 33..126, "+" and "=" as "+XX" (upper
// case), every other byte as itself, so XtextDecode(XtextEncode(x)) == x for
// any x, and XtextEncode(XtextDecode(t)) == t for any t that decodes with
// no "+XX" where the byte itself would do.
//
// Usage:
//   std::string envid;
//   if (!smtp::XtextDecode(param.value, &envid)) reply 501 5.5.4;
//   smtp::XtextEncode(envid, &line);  // "ENVID=" already appended

#ifndef RINGPOST_RELAY_SMTP_XTEXT_H_
#define RINGPOST_RELAY_SMTP_XTEXT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ringpost::smtp {

// Appends the decoded octets of `in` to *out; false (and *out as it was)
// when `in` is not xtext.
bool XtextDecode(std::string_view in, std::string* out);

// Appends `in` encoded as xtext to *out.
void XtextEncode(std::string_view in, std::string* out);

// What XtextDecode would produce, without producing it: for checking a
// parameter where nothing may be allocated (the command parser).
struct XtextShape {
  size_t decoded_octets = 0;
  // Every decoded octet is printable US-ASCII (32..126), as the DSN fields
  // must be (RFC 3461 4.2, 4.4: they end up in header fields).
  bool printable = true;
};
// nullopt when `in` is not xtext.
std::optional<XtextShape> XtextCheck(std::string_view in);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_XTEXT_H_
