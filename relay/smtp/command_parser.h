// relay/smtp/command_parser.h — parse one SMTP command line (RFC 5321).
//
// The inbound session splits its input into lines (rejecting bare CR or LF)
// and hands each line, WITHOUT its CRLF, to ParseCommand(). The parser is
// pure: no I/O, no allocation, no exceptions. Every string_view it produces
// points into the caller's line, so the line must outlive the Command.
//
// What it checks:
//   - the verb, case-insensitively (unknown verb -> kUnknownCommand);
//   - the length of the line for that verb (kLineTooLong);
//   - argument presence per verb (DATA/RSET/QUIT/STARTTLS take none;
//     HELO/EHLO/VRFY/EXPN/AUTH need one);
//   - MAIL FROM:<path> / RCPT TO:<path>: optional spaces after the colon,
//     the mailbox by base/mailbox.h (RFC 5321 Mailbox: dot-string or quoted
//     local part, domain or address literal [1.2.3.4] / [IPv6:...]; limits
//     64 local part / 255 domain; non-ASCII accepted as well-formed UTF-8
//     and flagged, RFC 6531), source routes accepted and stripped, the path
//     at most 256 octets incl. <>;
//   - ESMTP parameters keyword[=value], at most kParamsMax, with SIZE, BODY
//     and SMTPUTF8 on MAIL validated and decoded; DSN (RFC 3461): RET and
//     ENVID on MAIL, NOTIFY and ORCPT on RCPT, each at most once and well
//     formed (else kBadParameter, with a text naming it); the first
//     parameter it does not decode is pointed at by unknown_param;
//   - BDAT <size> [LAST], size decimal and at most kBdatSizeMax.
// What it leaves to the session: which parameters are supported (555), state
// (503), policy (relaying, sizes, recipient counts).
//
// Usage:
//   Command cmd;
//   ParseResult r = ParseCommand(line, &cmd);
//   if (r != ParseResult::kOk) { AppendReply(ReplyFor(r), &out); ... }

#ifndef RINGPOST_RELAY_SMTP_COMMAND_PARSER_H_
#define RINGPOST_RELAY_SMTP_COMMAND_PARSER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/mailbox.h"
#include "relay/smtp/reply.h"

namespace ringpost::smtp {

enum class Verb : uint8_t {
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kHelp,
  kVrfy,
  kExpn,
  kStartTls,
  kAuth,
  kUnknown,
};

// Upper-case name of the verb ("MAIL", "STARTTLS", "UNKNOWN").
std::string_view VerbName(Verb verb);

enum class ParseResult : uint8_t {
  kOk,
  kUnknownCommand,        // 500 5.5.2
  kLineTooLong,           // 500 5.5.2
  kSyntaxError,           // 501 5.5.4
  kBadSenderAddress,      // 501 5.1.7
  kBadRecipientAddress,   // 501 5.1.3
  kBadParameter,          // 501 5.5.4: a DSN parameter repeated or malformed
                          // (Command::param_error says which and how)
};

// The reply a server sends for a parse result (see reply.h: AppendReply).
Reply ReplyFor(ParseResult result);
struct Command;
// The same, with the text naming the parameter for kBadParameter.
Reply ReplyFor(ParseResult result, const Command& command);

// Command line limits, in octets, counting the CRLF the caller stripped.
inline constexpr size_t kCommandLineOctetsMax = 512;   // RFC 5321 4.5.3.1.4
// MAIL/RCPT grow with extension parameters (SIZE +26, DSN +100/+500,
// AUTH= +500); this bound covers all of them with room to spare.
inline constexpr size_t kMailRcptLineOctetsMax = 2048;
inline constexpr size_t kAuthLineOctetsMax = 12288;    // RFC 4954 4
inline constexpr size_t kPathOctetsMax = 256;          // incl. "<" ">"
inline constexpr size_t kLocalPartOctetsMax = base::kLocalPartOctetsMax;
inline constexpr size_t kDomainOctetsMax = base::kMailDomainOctetsMax;
inline constexpr size_t kParamsMax = 8;
// The largest BDAT chunk size that parses (2^63 - 1, what a signed 64-bit
// offset holds, as Postfix): a larger one, like any malformed BDAT, is a
// syntax error, and the session can no longer frame the client's stream.
inline constexpr uint64_t kBdatSizeMax = INT64_MAX;

enum class BodyType : uint8_t { kUnspecified, k7Bit, k8BitMime, kBinaryMime };

// DSN (RFC 3461). RET= on MAIL.
enum class DsnReturn : uint8_t { kUnspecified, kFull, kHeaders };
// NOTIFY= on RCPT, as bits (the values of queue/record.h's kNotify*).
inline constexpr uint8_t kDsnNotifySuccess = 1;
inline constexpr uint8_t kDsnNotifyFailure = 2;
inline constexpr uint8_t kDsnNotifyDelay = 4;
inline constexpr uint8_t kDsnNotifyNever = 8;
// Bounds on the decoded values (RFC 3461 4.4 and 4.2): ENVID, and ORCPT's
// "addr-type;address".
inline constexpr size_t kDsnEnvidOctetsMax = 100;
inline constexpr size_t kDsnOrcptOctetsMax = 500;

// One ESMTP parameter; `value` is empty when the keyword had no "=value".
struct Param {
  std::string_view keyword;
  std::string_view value;
};

struct Command {
  Verb verb = Verb::kUnknown;
  // Everything after the verb and the spaces following it, trailing spaces
  // removed. For an unknown verb: the whole line.
  std::string_view argument;
  // MAIL/RCPT mailbox without "<" ">" and without a source route; empty for
  // the null reverse-path "<>". RCPT TO:<Postmaster> yields "Postmaster".
  std::string_view path;
  bool null_path = false;
  // The mailbox contains non-ASCII (UTF-8); the session must require
  // SMTPUTF8 on the transaction (553 5.6.7 otherwise).
  bool path_utf8 = false;
  // ESMTP parameters after the path, in order.
  std::array<Param, kParamsMax> params{};
  uint8_t param_count = 0;
  // Index in params[] of the first parameter not decoded below (MAIL: not
  // SIZE, BODY, SMTPUTF8, RET or ENVID; RCPT: not NOTIFY or ORCPT), or
  // kParamsMax when there is none.
  // The session refuses it (555 5.5.4) unless it supports it.
  uint8_t unknown_param = kParamsMax;
  // Decoded MAIL parameters (left at defaults for other verbs).
  bool has_size = false;
  uint64_t size = 0;                            // SIZE=
  BodyType body = BodyType::kUnspecified;       // BODY= (BINARYMIME decoded,
                                                // the session decides)
  bool smtputf8 = false;                        // SMTPUTF8
  // DSN parameters, checked (xtext well formed, decoded length within its
  // bound, printable US-ASCII) but still xtext-encoded: the caller decodes
  // (relay/smtp/xtext.h), which then cannot fail.
  DsnReturn dsn_ret = DsnReturn::kUnspecified;  // MAIL RET=
  std::string_view dsn_envid;                   // MAIL ENVID=; empty: none
  uint8_t dsn_notify = 0;                       // RCPT NOTIFY= bits; 0: none
  std::string_view dsn_orcpt_type;              // RCPT ORCPT= addr-type
                                                // ("rfc822"); empty: none
  std::string_view dsn_orcpt;                   // RCPT ORCPT= address (xtext,
                                                // never empty when given)
  // kBadParameter: the reply text, e.g. "Error: repeated NOTIFY parameter"
  // (static storage).
  std::string_view param_error;
  // BDAT <bdat_size> [LAST].
  uint64_t bdat_size = 0;
  bool bdat_last = false;

  std::span<const Param> Params() const { return {params.data(), param_count}; }
};

// Parses `line` (without CRLF) into *out; every field of *out is rewritten
// (params[] only up to param_count).
// On error, out->verb is still set when the verb was recognised.
ParseResult ParseCommand(std::string_view line, Command* out);

// The parameter named `keyword` (ASCII case-insensitive), or nullptr.
const Param* FindParam(const Command& command, std::string_view keyword);

// The part of `mailbox` after its last '@'; empty when there is none.
using base::DomainOf;

// ASCII case-insensitive equality (bytes >= 0x80 compare exactly), the right
// comparison for domains and ESMTP keywords. Inline: it runs on every MAIL,
// RCPT and BDAT, mostly against short constants.
inline bool AsciiEqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    // Otherwise only a letter against the same letter in the other case.
    if ((x ^ y) != 0x20 ||
        static_cast<unsigned char>((x | 0x20) - 'a') > 'z' - 'a') {
      return false;
    }
  }
  return true;
}

// Appends `text` to *out with A-Z mapped to a-z (other bytes unchanged).
void AppendAsciiLowercase(std::string_view text, std::string* out);

// `domain` with A-Z mapped to a-z: the key for per-domain maps.
std::string LowercaseDomain(std::string_view domain);

}  // namespace ringpost::smtp

#endif  // RINGPOST_RELAY_SMTP_COMMAND_PARSER_H_
