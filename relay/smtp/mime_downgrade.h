// relay/smtp/mime_downgrade.h — 8-bit MIME content to 7 bits, for a peer
// without 8BITMIME (RFC 6152 section 3).
//
// The outbound client must never send an octet with the top bit set to a
// server that did not offer 8BITMIME. DowngradeTo7Bit rewrites a message so
// that every body part holding 8-bit octets is quoted-printable encoded
// (RFC 2045 6.7) and labelled so; everything else is copied byte for byte.
//
// What it does, entity by entity (the message itself, then the parts of
// multipart bodies, walked by their boundaries, RFC 2046 5.1):
//   - an entity without 8-bit octets is copied unchanged;
//   - a leaf part (not multipart/*, not message/*) whose body has 8-bit
//     octets and whose Content-Transfer-Encoding is absent, 7bit or 8bit
//     gets its Content-Transfer-Encoding field replaced by (or, when absent,
//     added as) "quoted-printable", and its body encoded: line breaks stay
//     hard line breaks, lines are at most 76 octets, soft breaks as "=";
//     a line never starts with "-" (encoded "=2D"), so no encoded line can
//     look like a boundary delimiter;
//   - a multipart/* entity has its parts converted; its own
//     Content-Transfer-Encoding, when present and not 7bit, becomes 7bit.
//     Preamble and epilogue are copied (they must be 7-bit).
// Nothing else in the headers changes.
//
// It refuses (returns false with a reason, and the caller fails the
// recipients with 5.6.3) rather than guess: 8-bit octets in a header (they
// would need RFC 2047 encoding), in a message/* part (its body may not be
// re-encoded, RFC 2046 5.2), in a part labelled binary, quoted-printable or
// base64, in a preamble or epilogue, in a message without MIME-Version (a
// Content-Transfer-Encoding field means nothing there), or a malformed
// structure (duplicate Content-Type or Content-Transfer-Encoding, a
// multipart without boundary or closing delimiter, a header line without a
// colon, nesting deeper than kDowngradeDepthMax).
//
// Content is expected as on the wire: CRLF line breaks. Cost: one pass to
// find 8-bit octets per entity, one to encode; only for peers without
// 8BITMIME, which the client checks first.

#ifndef RINGPOST_RELAY_SMTP_MIME_DOWNGRADE_H_
#define RINGPOST_RELAY_SMTP_MIME_DOWNGRADE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace ringpost::smtp {

// Whether `content` has an octet with its top bit set.
bool HasEightBit(std::string_view content);

// Multipart nesting accepted by DowngradeTo7Bit.
inline constexpr int kDowngradeDepthMax = 32;

// Replaces *out with the 7-bit form of `message` and returns true, or
// returns false and sets *error to a phrase saying why it cannot be done
// ("a header has 8-bit octets", ...); *out is then unspecified.
bool DowngradeTo7Bit(std::string_view message, std::string* out,
                     std::string_view* error);

// Appends the quoted-printable form of `body` to *out (CRLF line breaks
// kept as hard breaks, lines of at most 76 octets). Exposed for tests.
void AppendQuotedPrintable(std::string_view body, std::string* out);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_MIME_DOWNGRADE_H_
