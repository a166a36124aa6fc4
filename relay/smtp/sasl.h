// relay/smtp/sasl.h — the octet-level pieces of SMTP AUTH (RFC 4954): strict
// base64 and the SASL PLAIN message (RFC 4616).
//
// The inbound session reads an AUTH exchange line by line; each client
// response is base64 text that this file turns into octets, and for PLAIN
// into the three fields of the message. Everything here is pure (no I/O, no
// state) and every function takes arbitrary bytes: it sits under a fuzzer
// (tests/fuzz/sasl_fuzz.cc).
//
// Strict on purpose: a credential exchange has exactly one meaning. Base64
// is RFC 4648 section 4 without the leniencies decoders often allow: no
// whitespace or line breaks, no characters outside the alphabet, length a
// multiple of 4, padding only at the end and only as much as needed, and the
// unused bits of the last character zero (section 3.5), so every accepted
// text is the one encoding of its octets.
//
// PLAIN: `[authzid] NUL authcid NUL passwd`, exactly two NULs; authcid and
// passwd non-empty; each field at most kSaslFieldOctetsMax octets (RFC 4616
// section 2: 255). The relay has no notion of acting for someone else, so an
// authorization identity other than the user's own is refused.
//
// Usage:
//   std::string octets;
//   if (!smtp::Base64Decode(line, &octets)) reply 501 5.5.2;
//   smtp::SaslPlain plain;
//   switch (smtp::ParseSaslPlain(octets, &plain)) { ... plain.user ... }

#ifndef RINGPOST_RELAY_SMTP_SASL_H_
#define RINGPOST_RELAY_SMTP_SASL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::smtp {

// Decodes base64 `text` (strict, see above) into *out, replacing its
// contents. The empty text decodes to no octets. On false *out holds
// nothing useful.
bool Base64Decode(std::string_view text, std::string* out);

// Appends the base64 encoding of `octets` (with padding) to *out.
void Base64Encode(std::string_view octets, std::string* out);

// RFC 4616 section 2: authzid, authcid and passwd are each at most 255
// octets. The same bound applies to the LOGIN user name and password.
inline constexpr size_t kSaslFieldOctetsMax = 255;

// The fields of a PLAIN message; views into the decoded octets.
struct SaslPlain {
  std::string_view authzid;  // empty, or equal to user
  std::string_view user;     // authcid
  std::string_view password;
};

enum class SaslPlainResult : uint8_t {
  kOk,
  kMalformed,        // not two NULs, an empty or over-long field
  kAuthzidNotUser,   // well-formed, but asks to act as someone else
};

// Splits a decoded PLAIN message. Only on kOk is *out filled.
SaslPlainResult ParseSaslPlain(std::string_view message, SaslPlain* out);

// Whether a decoded LOGIN user name or password is acceptable: non-empty,
// at most kSaslFieldOctetsMax octets, no NUL (the host sees the same kind of
// strings from LOGIN as from PLAIN).
bool ValidSaslLoginField(std::string_view field);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_SASL_H_
