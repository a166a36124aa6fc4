// tests/fuzz/command_parser_fuzz.cc — libFuzzer target: one SMTP command line.
//
// Input: the line as the session hands it to ParseCommand (CRLF stripped).
// Beyond "no crash, no out-of-bounds read", it checks what the session and
// the outbound client rely on:
//   - every string_view of the Command points into the line;
//   - an accepted line respects the verb's length bound, the path bounds
//     (256 incl. <>, local part 64, domain 255) and kParamsMax;
//   - parsing is deterministic and ASCII case-insensitive in its verdict,
//     except for xtext, whose hex digits are upper case only (RFC 3461 4):
//     there only the verdict on that ENVID or ORCPT may change;
//   - an accepted BDAT size is at most kBdatSizeMax (the session's limit
//     arithmetic relies on it); unknown_param points at a parameter that
//     is not decoded (on MAIL not SIZE, BODY, SMTPUTF8, RET or ENVID; on
//     RCPT not NOTIFY or ORCPT), or is kParamsMax when every one was;
//   - kBadParameter, and only it, comes with a 501 text naming the
//     parameter; accepted DSN values belong to their verb, decode from
//     xtext within their bounds to printable US-ASCII, and encode back to
//     xtext that decodes to the same (what relay/client sends on);
//   - an accepted MAIL/RCPT path, written back as "MAIL FROM:<path>" (what
//     relay/client sends to the next hop), parses again to the same path:
//     the relay never forwards an address it would itself refuse.
// Seeds: tests/fuzz/corpus/command_parser/ (one command line per file).

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/smtp/command_parser.h"
#include "relay/smtp/xtext.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::smtp::Command;
using ringpost::smtp::ParseCommand;
using ringpost::smtp::ParseResult;
using ringpost::smtp::Verb;

bool Inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() &&
         part.data() + part.size() <= whole.data() + whole.size();
}

// A refusal for malformed xtext, the one verdict that depends on case.
bool XtextRefusal(ParseResult r, const Command& cmd) {
  return r == ParseResult::kBadParameter &&
         cmd.param_error.find("xtext") != std::string_view::npos;
}

// `xtext` decodes to printable US-ASCII of at most `max` octets, and that
// encodes back to xtext decoding to the same.
void CheckXtext(std::string_view xtext, size_t max, size_t* decoded_size) {
  std::string decoded;
  FUZZ_CHECK(ringpost::smtp::XtextDecode(xtext, &decoded));
  FUZZ_CHECK(decoded.size() <= max);
  for (char c : decoded) FUZZ_CHECK(c >= 32 && c <= 126);
  std::string encoded;
  ringpost::smtp::XtextEncode(decoded, &encoded);
  std::string again;
  FUZZ_CHECK(ringpost::smtp::XtextDecode(encoded, &again));
  FUZZ_CHECK(again == decoded);
  *decoded_size = decoded.size();
}

std::string SwapAsciiCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 32);
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + 32);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  Command cmd;
  const ParseResult r = ParseCommand(line, &cmd);

  FUZZ_CHECK(Inside(cmd.argument, line));
  FUZZ_CHECK(Inside(cmd.path, line));
  FUZZ_CHECK(cmd.param_count <= ringpost::smtp::kParamsMax);
  for (const auto& p : cmd.Params()) {
    FUZZ_CHECK(Inside(p.keyword, line));
    FUZZ_CHECK(Inside(p.value, line));
    FUZZ_CHECK(!p.keyword.empty());
  }
  const int code = ringpost::smtp::ReplyFor(r).code;
  FUZZ_CHECK(code == 250 || code == 500 || code == 501);
  FUZZ_CHECK(cmd.param_error.empty() == (r != ParseResult::kBadParameter));
  if (r == ParseResult::kBadParameter) {
    const ringpost::smtp::Reply reply = ringpost::smtp::ReplyFor(r, cmd);
    FUZZ_CHECK(reply.code == 501 && reply.enhanced == "5.5.4");
    FUZZ_CHECK(reply.text.starts_with("Error: "));
    FUZZ_CHECK(cmd.verb == Verb::kMail || cmd.verb == Verb::kRcpt);
  }

  // Same verdict again, and with the case of every ASCII letter swapped.
  Command again;
  FUZZ_CHECK(ParseCommand(line, &again) == r);
  FUZZ_CHECK(again.path == cmd.path);
  const std::string swapped = SwapAsciiCase(line);
  Command swapped_cmd;
  const ParseResult swapped_r = ParseCommand(swapped, &swapped_cmd);
  FUZZ_CHECK(swapped_r == r || XtextRefusal(r, cmd) || XtextRefusal(swapped_r, swapped_cmd));
  FUZZ_CHECK(swapped_cmd.verb == cmd.verb);

  if (r != ParseResult::kOk) return 0;
  FUZZ_CHECK(cmd.verb != Verb::kUnknown);
  if (cmd.verb == Verb::kBdat) FUZZ_CHECK(cmd.bdat_size <= ringpost::smtp::kBdatSizeMax);
  if (cmd.unknown_param != ringpost::smtp::kParamsMax) {
    FUZZ_CHECK(cmd.unknown_param < cmd.param_count);
    const std::string_view kw = cmd.params[cmd.unknown_param].keyword;
    if (cmd.verb == Verb::kMail) {
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "SIZE"));
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "BODY"));
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "SMTPUTF8"));
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "RET"));
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "ENVID"));
    } else {
      FUZZ_CHECK(cmd.verb == Verb::kRcpt);
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "NOTIFY"));
      FUZZ_CHECK(!ringpost::smtp::AsciiEqualsIgnoreCase(kw, "ORCPT"));
    }
  }
  // DSN values: on their own verb, inside the line, within their bounds.
  FUZZ_CHECK(Inside(cmd.dsn_envid, line));
  FUZZ_CHECK(Inside(cmd.dsn_orcpt_type, line));
  FUZZ_CHECK(Inside(cmd.dsn_orcpt, line));
  if (cmd.verb != Verb::kMail) {
    FUZZ_CHECK(cmd.dsn_ret == ringpost::smtp::DsnReturn::kUnspecified);
    FUZZ_CHECK(cmd.dsn_envid.empty());
  }
  if (cmd.verb != Verb::kRcpt) {
    FUZZ_CHECK(cmd.dsn_notify == 0);
    FUZZ_CHECK(cmd.dsn_orcpt_type.empty() && cmd.dsn_orcpt.empty());
  }
  size_t decoded = 0;
  if (!cmd.dsn_envid.empty()) {
    CheckXtext(cmd.dsn_envid, ringpost::smtp::kDsnEnvidOctetsMax, &decoded);
  }
  FUZZ_CHECK(cmd.dsn_orcpt_type.empty() == cmd.dsn_orcpt.empty());
  if (!cmd.dsn_orcpt.empty()) {
    CheckXtext(cmd.dsn_orcpt, ringpost::smtp::kDsnOrcptOctetsMax, &decoded);
    FUZZ_CHECK(decoded > 0);
    FUZZ_CHECK(cmd.dsn_orcpt_type.size() + 1 + decoded <= ringpost::smtp::kDsnOrcptOctetsMax);
  }
  if (cmd.dsn_notify != 0) {
    FUZZ_CHECK((cmd.dsn_notify & ~0x0F) == 0);
    FUZZ_CHECK((cmd.dsn_notify & ringpost::smtp::kDsnNotifyNever) == 0 ||
               cmd.dsn_notify == ringpost::smtp::kDsnNotifyNever);
  }
  FUZZ_CHECK(line.size() + 2 <= ringpost::smtp::kAuthLineOctetsMax);
  if (cmd.verb != Verb::kMail && cmd.verb != Verb::kRcpt) {
    if (cmd.verb != Verb::kAuth) {
      FUZZ_CHECK(line.size() + 2 <= ringpost::smtp::kCommandLineOctetsMax);
    }
    return 0;
  }
  FUZZ_CHECK(line.size() + 2 <= ringpost::smtp::kMailRcptLineOctetsMax);
  FUZZ_CHECK(cmd.path.size() + 2 <= ringpost::smtp::kPathOctetsMax);
  if (cmd.verb == Verb::kRcpt) FUZZ_CHECK(!cmd.null_path);
  if (cmd.null_path) {
    FUZZ_CHECK(cmd.path.empty());
  } else {
    FUZZ_CHECK(!cmd.path.empty());
  }
  const std::string_view domain = ringpost::smtp::DomainOf(cmd.path);
  FUZZ_CHECK(domain.size() <= ringpost::smtp::kDomainOctetsMax);
  if (cmd.has_size) FUZZ_CHECK(FindParam(cmd, "SIZE") != nullptr);

  // Written back the way the outbound client writes it, the path parses
  // again to itself, with the same UTF-8 flag.
  std::string rebuilt = cmd.verb == Verb::kMail ? "MAIL FROM:<" : "RCPT TO:<";
  rebuilt.append(cmd.path);
  rebuilt.append(">");
  Command re;
  const ParseResult r2 = ParseCommand(rebuilt, &re);
  FUZZ_CHECK(r2 == ParseResult::kOk);
  FUZZ_CHECK(re.path == cmd.path);
  FUZZ_CHECK(re.null_path == cmd.null_path);
  // A stripped source route may carry the only UTF-8 (then the original
  // was flagged and the rebuilt one is not); never the other way round.
  if (re.path_utf8) FUZZ_CHECK(cmd.path_utf8);
  return 0;
}
