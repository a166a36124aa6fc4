// base/mailbox.h — the one grammar for envelope addresses and the names in
// them: RFC 5321 Mailbox (with the RFC 6531 SMTPUTF8 form) and host/domain
// names, shared by the SMTP command parser, the configuration and the DNS
// messages.
//
// A Mailbox is Local-part "@" ( Domain / address-literal ):
//   - Local-part: a Dot-string (atext atoms joined by single dots) or a
//     Quoted-string (qtextSMTP and backslash pairs of printable ASCII),
//     at most 64 octets, quotes included;
//   - Domain: dot-separated labels of letters, digits and '-', each 1..63
//     octets, neither starting nor ending with '-', at most 255 octets;
//   - address-literal: "[" IPv4 "]" or "[IPv6:" IPv6 "]" (the IPv6 tag in
//     any case); other general-address-literal tags are not registered and
//     are refused;
//   - the whole mailbox at most 254 octets (the 256 of RFC 5321 4.5.3.1.3
//     count the "<" ">" of the path).
// With SMTPUTF8 (Utf8::kAllow), the local part (atoms and quoted strings)
// and domain labels may also hold well-formed UTF-8: no overlong forms, no
// surrogates, nothing above U+10FFFF, no sequence cut off (RFC 3629). The
// caller learns that it did (Mailbox::utf8) and decides whether the
// transaction may carry it (the session: 553 5.6.7 without SMTPUTF8).
// Path syntax around a mailbox ("<>", source routes, <Postmaster>) is SMTP
// command syntax and stays in relay/smtp/command_parser.
//
// Host names: one label scanner, three sets of rules. They differ on
// purpose, because the names come from different places and go to
// different places:
//   kMailDomain   the Domain of a mailbox (RFC 5321 4.1.2: Let-dig
//                 [Ldh-str]); U-labels only under SMTPUTF8 (kMailDomainUtf8);
//                 up to 255 octets, the limit RFC 5321 4.5.3.1.2 states.
//   kHostName     a host we connect to or announce (the EHLO name, a route's
//                 next hop): RFC 1123 labels, plus '_' (tolerated: it occurs
//                 in real MX and SRV targets), ASCII, up to 253 characters
//                 (255 wire octets, the DNS limit).
//   kDnsName      a name in a DNS query or reply: what kHostName allows, and
//                 '-' also first or last in a label. DNS itself allows any
//                 octet in a label (RFC 2181 11); the resolver keeps only
//                 names that print and compare safely, and rejects nothing
//                 else a server may legitimately return. Names with other
//                 bytes are dropped, never escaped.
// No set accepts empty labels (so no leading, doubled or trailing dot; the
// DNS code strips one trailing dot before checking) or labels over 63.
//
// Everything here is pure: no allocation, no I/O, loops bounded by the
// input. Scan* functions read a prefix of a longer text (a command line)
// and return the index after what they read, or kNpos; Check*/Parse*
// functions take a whole string.
//
// Usage:
//   base::Mailbox m;
//   if (base::ParseMailbox(text, base::Utf8::kRefuse, &m) != base::MailboxError::kOk) ...
//   if (base::CheckName(host, base::kHostName) != base::NameError::kOk) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringpost::base {

inline constexpr size_t kNpos = std::string_view::npos;

inline constexpr size_t kLocalPartOctetsMax = 64;   // RFC 5321 4.5.3.1.1
inline constexpr size_t kMailDomainOctetsMax = 255; // RFC 5321 4.5.3.1.2
inline constexpr size_t kMailboxOctetsMax = 254;    // path 256 minus "<" ">"
inline constexpr size_t kHostNameCharsMax = 253;    // 255 wire octets
inline constexpr size_t kLabelOctetsMax = 63;       // RFC 1035 2.3.4

// Which names a check accepts (see the essay above for the three sets).
struct NameRules {
  bool underscore = false;   // '_' anywhere in a label
  bool edge_hyphen = false;  // '-' may start or end a label
  bool utf8 = false;         // well-formed UTF-8 in labels (U-labels)
  size_t octets_max = 0;     // the whole name
};
inline constexpr NameRules kMailDomain{false, false, false, kMailDomainOctetsMax};
inline constexpr NameRules kMailDomainUtf8{false, false, true, kMailDomainOctetsMax};
inline constexpr NameRules kHostName{true, false, false, kHostNameCharsMax};
inline constexpr NameRules kDnsName{true, true, false, kHostNameCharsMax};

enum class NameError : uint8_t {
  kOk,
  kEmpty,
  kTooLong,       // over rules.octets_max
  kEmptyLabel,    // leading, doubled or trailing dot
  kLabelTooLong,  // over 63 octets
  kEdgeHyphen,    // '-' first or last in a label
  kNonAscii,      // a byte >= 0x80 where UTF-8 is not allowed
  kBadUtf8,       // malformed UTF-8 where it is allowed
  kBadChar,       // any other byte no label may hold
};
// "empty", "longer than the limit", ... (for error messages).
std::string_view NameErrorText(NameError error);

// Checks the whole of `name` against `rules`.
NameError CheckName(std::string_view name, const NameRules& rules);

// True for the bytes a label may hold under `rules` besides UTF-8 (letters,
// digits, '-', and '_' when allowed): the per-byte test for names read from
// DNS wire labels.
bool IsLabelByte(unsigned char c, const NameRules& rules);

// Scans a name starting at s[i], ending before the first byte that cannot
// continue it. Returns the index after it, or kNpos when the part scanned
// breaks a rule (an empty label, "a-.b", too long). *utf8 is set when it
// held non-ASCII (only possible when rules.utf8).
size_t ScanName(std::string_view s, size_t i, const NameRules& rules, bool* utf8);

// Length of the well-formed UTF-8 sequence at s[i] (a byte >= 0x80), or 0
// when it is malformed, overlong, a surrogate, above U+10FFFF or cut off.
size_t Utf8SequenceLength(std::string_view s, size_t i);

enum class Utf8 : uint8_t {
  kRefuse,  // ASCII only (no SMTPUTF8)
  kAllow,   // RFC 6531: UTF-8 in local part and domain
};

// Local-part at s[i] (Dot-string or Quoted-string), at most 64 octets.
// Returns the index after it, or kNpos. *utf8 as in ScanName.
size_t ScanLocalPart(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8);

// Domain or address-literal at s[i] (see above), at most 255 octets.
// *literal is set for an address literal. Returns the index after it, or
// kNpos.
size_t ScanMailDomain(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8,
                      bool* literal);

// Local-part "@" domain at s[i] (both as above): the command parser's one
// call per path. Returns the index after the domain, or kNpos.
size_t ScanMailbox(std::string_view s, size_t i, Utf8 utf8_rule, bool* utf8);

// The pieces of a parsed mailbox; views into the text parsed.
struct Mailbox {
  std::string_view local_part;  // as written: a quoted one keeps its quotes
  std::string_view domain;      // a literal keeps its brackets
  bool quoted = false;          // local part is a Quoted-string
  bool address_literal = false;
  bool utf8 = false;            // non-ASCII somewhere: needs SMTPUTF8
};

enum class MailboxError : uint8_t {
  kOk,
  kEmpty,
  kTooLong,          // over 254 octets
  kBadLocalPart,     // includes a local part over 64 octets
  kMissingDomain,    // no "@domain" after the local part
  kBadDomain,        // includes a domain over 255 octets
  kBadAddressLiteral,
  kNonAscii,         // UTF-8 with Utf8::kRefuse
  kBadUtf8,          // malformed UTF-8 with Utf8::kAllow
  kTrailingText,     // bytes after the domain
};
std::string_view MailboxErrorText(MailboxError error);

// Parses the whole of `text` as a Mailbox; on kOk fills *out.
MailboxError ParseMailbox(std::string_view text, Utf8 utf8_rule, Mailbox* out);

// The part of a mailbox after its last '@' (a domain holds none; a quoted
// local part may); empty when there is none ("Postmaster").
std::string_view DomainOf(std::string_view mailbox);

}  // namespace ringpost::base
