// relay/delivery/mail_text.h — text for mail the relay writes itself
// (delivery status notifications, dsn_report.h): values from outside made
// safe for a header field, header folding, UTF-8 checks, quoted-printable.
//
// Pure functions. Everything here keeps the two rules of RFC 5322 2.1.1 /
// 2.2 that a generated message must not break, whatever the input: lines
// end in CRLF and nothing else, and no line is longer than 998 octets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::delivery::mail_text {

// RFC 5322 2.1.1: a line is at most 998 octets without its CRLF.
inline constexpr size_t kLineMax = 998;
// Where header fields are folded and plain text is wrapped when a space
// allows it (RFC 5322 2.1.1's 78, less a little).
inline constexpr size_t kFoldAt = 76;

bool IsAscii(std::string_view s);

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) that starts at s[i] (an
// octet >= 0x80), or 0 when there is none. *cp gets its code point.
size_t Utf8Sequence(std::string_view s, size_t i, uint32_t* cp);
bool IsValidUtf8(std::string_view s);

// A header field's (or delivery-status field's) value: CR, LF and TAB
// become spaces, runs of spaces one space, other control characters '?',
// and so does every non-ASCII octet unless keep_utf8 and it belongs to a
// valid UTF-8 character. No leading or trailing space.
std::string FieldText(std::string_view s, bool keep_utf8 = false);

// One line of plain text (a text/plain body): valid UTF-8 kept, TAB a
// space, other control characters and invalid octets '?'.
std::string PlainText(std::string_view s);

// A host name or message id: printable ASCII without spaces, '?' for the rest.
std::string Token(std::string_view s);

// RFC 6533 3 utf-8-addr-xtext of a valid UTF-8 address: QCHAR (printable
// ASCII but '+', '=', '\') as is, every other character as \x{HEX}.
std::string Utf8AddrXtext(std::string_view addr);

// Appends "Name: value" CRLF, folded (RFC 5322 2.2.3) before a space once a
// line passes kFoldAt, so unfolding gives `value` back. A run of non-spaces
// that would pass kLineMax is split with CRLF SP (which adds a space).
// `value` must hold no CR, LF, TAB or double space (pass it through
// FieldText when it comes from outside).
void AppendField(std::string* out, std::string_view name, std::string_view value);

// RFC 2045 6.7 quoted-printable of `text`, whose lines all end in CRLF:
// encoded lines of at most 76 characters, soft line breaks where needed.
std::string QuotedPrintable(std::string_view text);

}  // namespace ringpost::delivery::mail_text
