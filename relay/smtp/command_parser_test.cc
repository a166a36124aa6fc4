// relay/smtp/command_parser_test.cc — table-driven tests of ParseCommand:
// every verb, case, arguments, MAIL/RCPT paths and parameters, BDAT, line
// limits, and the canned replies.

#include "relay/smtp/command_parser.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::smtp {
namespace {

struct VerbCase {
  std::string line;
  ParseResult result;
  Verb verb;
  std::string argument;
};

class VerbTest : public ::testing::TestWithParam<VerbCase> {};

TEST_P(VerbTest, Parses) {
  const VerbCase& c = GetParam();
  Command cmd;
  EXPECT_EQ(ParseCommand(c.line, &cmd), c.result) << c.line;
  EXPECT_EQ(cmd.verb, c.verb) << c.line;
  EXPECT_EQ(cmd.argument, c.argument) << c.line;
}

INSTANTIATE_TEST_SUITE_P(
    Verbs, VerbTest,
    ::testing::Values(
        VerbCase{"HELO client.example", ParseResult::kOk, Verb::kHelo,
                 "client.example"},
        VerbCase{"EHLO client.example", ParseResult::kOk, Verb::kEhlo,
                 "client.example"},
        VerbCase{"ehlo [192.0.2.1]", ParseResult::kOk, Verb::kEhlo,
                 "[192.0.2.1]"},
        VerbCase{"EhLo  x  ", ParseResult::kOk, Verb::kEhlo, "x"},
        VerbCase{"EHLO", ParseResult::kSyntaxError, Verb::kEhlo, ""},
        VerbCase{"HELO ", ParseResult::kSyntaxError, Verb::kHelo, ""},
        VerbCase{"EHLO a\x01z", ParseResult::kSyntaxError, Verb::kEhlo,
                 "a\x01z"},
        VerbCase{"DATA", ParseResult::kOk, Verb::kData, ""},
        VerbCase{"data", ParseResult::kOk, Verb::kData, ""},
        VerbCase{"DATA ", ParseResult::kOk, Verb::kData, ""},
        VerbCase{"DATA now", ParseResult::kSyntaxError, Verb::kData, "now"},
        VerbCase{"RSET", ParseResult::kOk, Verb::kRset, ""},
        VerbCase{"rset x", ParseResult::kSyntaxError, Verb::kRset, "x"},
        VerbCase{"NOOP", ParseResult::kOk, Verb::kNoop, ""},
        VerbCase{"NOOP anything at all", ParseResult::kOk, Verb::kNoop,
                 "anything at all"},
        VerbCase{"QUIT", ParseResult::kOk, Verb::kQuit, ""},
        VerbCase{"qUiT", ParseResult::kOk, Verb::kQuit, ""},
        VerbCase{"HELP", ParseResult::kOk, Verb::kHelp, ""},
        VerbCase{"HELP MAIL", ParseResult::kOk, Verb::kHelp, "MAIL"},
        VerbCase{"VRFY user", ParseResult::kOk, Verb::kVrfy, "user"},
        VerbCase{"VRFY", ParseResult::kSyntaxError, Verb::kVrfy, ""},
        VerbCase{"EXPN list", ParseResult::kOk, Verb::kExpn, "list"},
        VerbCase{"STARTTLS", ParseResult::kOk, Verb::kStartTls, ""},
        VerbCase{"starttls", ParseResult::kOk, Verb::kStartTls, ""},
        VerbCase{"STARTTLS x", ParseResult::kSyntaxError, Verb::kStartTls,
                 "x"},
        VerbCase{"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", ParseResult::kOk,
                 Verb::kAuth, "PLAIN dGVzdAB0ZXN0AHRlc3Q="},
        VerbCase{"AUTH", ParseResult::kSyntaxError, Verb::kAuth, ""},
        VerbCase{"BDAT 10", ParseResult::kOk, Verb::kBdat, "10"},
        VerbCase{"FOO bar", ParseResult::kUnknownCommand, Verb::kUnknown,
                 "FOO bar"},
        VerbCase{"", ParseResult::kUnknownCommand, Verb::kUnknown, ""},
        VerbCase{"MAILFROM:<a@b.c>", ParseResult::kUnknownCommand,
                 Verb::kUnknown, "MAILFROM:<a@b.c>"},
        VerbCase{"QUI", ParseResult::kUnknownCommand, Verb::kUnknown, "QUI"},
        VerbCase{"QUITT", ParseResult::kUnknownCommand, Verb::kUnknown,
                 "QUITT"},
        // 'Q'|0x20 folds letters only: digits and punctuation never match.
        VerbCase{"\x11UIT", ParseResult::kUnknownCommand, Verb::kUnknown,
                 "\x11UIT"},
        VerbCase{"STARTTL5", ParseResult::kUnknownCommand, Verb::kUnknown,
                 "STARTTL5"}));

struct PathCase {
  std::string line;
  ParseResult result;
  std::string path;
  bool null_path = false;
  bool utf8 = false;
};

class PathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(PathTest, Parses) {
  const PathCase& c = GetParam();
  Command cmd;
  ASSERT_EQ(ParseCommand(c.line, &cmd), c.result) << c.line;
  if (c.result != ParseResult::kOk) return;
  EXPECT_EQ(cmd.path, c.path) << c.line;
  EXPECT_EQ(cmd.null_path, c.null_path) << c.line;
  EXPECT_EQ(cmd.path_utf8, c.utf8) << c.line;
}

const std::string k64(64, 'l');
const std::string k65(65, 'l');
const std::string kLabel63(63, 'd');

INSTANTIATE_TEST_SUITE_P(
    Paths, PathTest,
    ::testing::Values(
        PathCase{"MAIL FROM:<a@b.example>", ParseResult::kOk, "a@b.example"},
        PathCase{"mail from:<a@b.example>", ParseResult::kOk, "a@b.example"},
        PathCase{"MAIL FROM: <a@b.example>", ParseResult::kOk, "a@b.example"},
        PathCase{"MAIL FROM:<>", ParseResult::kOk, "", true},
        PathCase{"MAIL FROM:<> SIZE=10", ParseResult::kOk, "", true},
        PathCase{"RCPT TO:<x.y+tag@sub-1.example.org>", ParseResult::kOk,
                 "x.y+tag@sub-1.example.org"},
        PathCase{"RCPT TO:<Postmaster>", ParseResult::kOk, "Postmaster"},
        PathCase{"RCPT TO:<postmaster@example.com>", ParseResult::kOk,
                 "postmaster@example.com"},
        PathCase{"MAIL FROM:<Postmaster>", ParseResult::kBadSenderAddress},
        PathCase{"RCPT TO:<>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<a@[192.0.2.1]>", ParseResult::kOk,
                 "a@[192.0.2.1]"},
        PathCase{"RCPT TO:<a@[IPv6:2001:db8::1]>", ParseResult::kOk,
                 "a@[IPv6:2001:db8::1]"},
        PathCase{"RCPT TO:<a@[ipv6:::ffff:192.0.2.1]>", ParseResult::kOk,
                 "a@[ipv6:::ffff:192.0.2.1]"},
        PathCase{"RCPT TO:<a@[256.0.0.1]>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<a@[1.2.3]>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<a@[IPv6:2001:db8:::1]>",
                 ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<a@[tag:foo]>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<\"john doe\"@example.com>", ParseResult::kOk,
                 "\"john doe\"@example.com"},
        PathCase{"RCPT TO:<\"a\\\"b>@c\"@example.com>", ParseResult::kOk,
                 "\"a\\\"b>@c\"@example.com"},
        PathCase{"RCPT TO:<\"unterminated@example.com>",
                 ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<@relay1.example,@relay2.example:u@d.example>",
                 ParseResult::kOk, "u@d.example"},
        PathCase{"RCPT TO:<@relay1.example:u@d.example>", ParseResult::kOk,
                 "u@d.example"},
        PathCase{"RCPT TO:<@relay1.example;u@d.example>",
                 ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<@:u@d.example>", ParseResult::kBadRecipientAddress},
        PathCase{"MAIL FROM:<us\xC3\xA9r@\xC3\xA9xample.com> SMTPUTF8",
                 ParseResult::kOk, "us\xC3\xA9r@\xC3\xA9xample.com", false,
                 true},
        PathCase{"MAIL FROM:<us\xC3r@example.com>",
                 ParseResult::kBadSenderAddress},
        // RFC 6531: UTF-8 in atext, quoted strings and sub-domains; only
        // well-formed UTF-8, never control characters.
        PathCase{"RCPT TO:<\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A>",
                 ParseResult::kOk,
                 "\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A",
                 false, true},
        PathCase{"RCPT TO:<\xF0\x9F\x93\xA7.x@d.example>", ParseResult::kOk,
                 "\xF0\x9F\x93\xA7.x@d.example", false, true},
        PathCase{"RCPT TO:<\"j\xC3\xB6rg x\"@d.example>", ParseResult::kOk,
                 "\"j\xC3\xB6rg x\"@d.example", false, true},
        PathCase{"RCPT TO:<u@xn--bcher-kva.example>", ParseResult::kOk,
                 "u@xn--bcher-kva.example"},
        PathCase{"RCPT TO:<\xC0\xAF@d.example>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<\xED\xA0\x80@d.example>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<u@d\xF5\x80\x80\x80.example>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<u\x01\xC3\xA9@d.example>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<u\x7F@d.example>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<\"u\x01\"@d.example>", ParseResult::kBadRecipientAddress},
        PathCase{"RCPT TO:<u@d\xC3.example>", ParseResult::kBadRecipientAddress},
        PathCase{"MAIL FROM:<a@b.example", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:a@b.example", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<@b.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a..b@c.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<.a@c.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a.@c.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a b@c.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@-c.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@c-.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@c..example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@c.example.>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@c_d.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@b@c.example>", ParseResult::kBadSenderAddress},
        PathCase{"MAIL FROM:<a@b.example>>", ParseResult::kSyntaxError},
        PathCase{"MAIL TO:<a@b.example>", ParseResult::kSyntaxError},
        PathCase{"RCPT FROM:<a@b.example>", ParseResult::kSyntaxError},
        PathCase{"MAIL FROM:<" + k64 + "@b.example>", ParseResult::kOk,
                 k64 + "@b.example"},
        PathCase{"MAIL FROM:<" + k65 + "@b.example>",
                 ParseResult::kBadSenderAddress},
        PathCase{"RCPT TO:<a@" + kLabel63 + ".example>", ParseResult::kOk,
                 "a@" + kLabel63 + ".example"},
        PathCase{"RCPT TO:<a@" + kLabel63 + "d.example>",
                 ParseResult::kBadRecipientAddress},
        // 254 octets of path: "<" + 64 + "@" + 187 + ">" fits 256 ...
        PathCase{"RCPT TO:<" + k64 + "@" + kLabel63 + "." + kLabel63 + "." +
                     std::string(59, 'd') + ">",
                 ParseResult::kOk,
                 k64 + "@" + kLabel63 + "." + kLabel63 + "." +
                     std::string(59, 'd')},
        // ... and 258 does not.
        PathCase{"RCPT TO:<" + k64 + "@" + kLabel63 + "." + kLabel63 + "." +
                     std::string(63, 'd') + ">",
                 ParseResult::kBadRecipientAddress}));

TEST(CommandParser, PathLengthBoundary) {
  // Exactly 256 octets including "<" and ">".
  const std::string domain =
      kLabel63 + "." + kLabel63 + "." + std::string(256 - 2 - 65 - 128, 'd');
  const std::string path = k64 + "@" + domain;
  ASSERT_EQ(path.size() + 2, kPathOctetsMax);
  Command cmd;
  EXPECT_EQ(ParseCommand("RCPT TO:<" + path + ">", &cmd), ParseResult::kOk);
  EXPECT_EQ(ParseCommand("RCPT TO:<" + path + "d>", &cmd),
            ParseResult::kBadRecipientAddress);
}

TEST(CommandParser, MailParameters) {
  Command cmd;
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.example> SIZE=1024 BODY=8BITMIME "
                         "SMTPUTF8 RET=HDRS ENVID=QQ314159",
                         &cmd),
            ParseResult::kOk);
  EXPECT_EQ(cmd.verb, Verb::kMail);
  EXPECT_EQ(cmd.path, "a@b.example");
  ASSERT_EQ(cmd.param_count, 5);
  EXPECT_EQ(cmd.params[0].keyword, "SIZE");
  EXPECT_EQ(cmd.params[0].value, "1024");
  EXPECT_EQ(cmd.params[2].keyword, "SMTPUTF8");
  EXPECT_EQ(cmd.params[2].value, "");
  EXPECT_TRUE(cmd.has_size);
  EXPECT_EQ(cmd.size, 1024u);
  EXPECT_EQ(cmd.body, BodyType::k8BitMime);
  EXPECT_TRUE(cmd.smtputf8);
  ASSERT_NE(FindParam(cmd, "ret"), nullptr);
  EXPECT_EQ(FindParam(cmd, "ret")->value, "HDRS");
  EXPECT_EQ(FindParam(cmd, "Envid")->value, "QQ314159");
  EXPECT_EQ(FindParam(cmd, "NOTIFY"), nullptr);
  // Every one decoded, DSN's too.
  EXPECT_EQ(cmd.dsn_ret, DsnReturn::kHeaders);
  EXPECT_EQ(cmd.dsn_envid, "QQ314159");
  EXPECT_EQ(cmd.unknown_param, kParamsMax);
}

// Unknown MAIL/RCPT parameters must be refused, never silently dropped
// (RFC 5321 4.1.1.11: 555); the parser points at the first one.
TEST(CommandParser, UnknownParameterIsPointedAt) {
  Command cmd;
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c> SIZE=5 BODY=7BIT SMTPUTF8", &cmd),
            ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, kParamsMax);
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c> SIZE=5 XFOO=1 ENVID=x", &cmd),
            ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, 1);
  EXPECT_EQ(cmd.dsn_envid, "x");  // decoded after the unknown one too
  // RCPT: NOTIFY and ORCPT are decoded, anything else is unknown.
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.example> NOTIFY=NEVER", &cmd), ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, kParamsMax);
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.example> NOTIFY=NEVER RET=FULL", &cmd),
            ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, 1);  // RET is a MAIL parameter
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c> NOTIFY=NEVER", &cmd), ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, 0);  // and NOTIFY a RCPT one
  EXPECT_EQ(cmd.dsn_notify, 0);
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.example>", &cmd), ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, kParamsMax);
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c> X=1", &cmd), ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, 0);
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c>", &cmd), ParseResult::kOk);
  EXPECT_EQ(cmd.unknown_param, kParamsMax);
}

TEST(CommandParser, RcptParameters) {
  Command cmd;
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.example> NOTIFY=SUCCESS,FAILURE "
                         "ORCPT=rfc822;u+2Bx@d.example",
                         &cmd),
            ParseResult::kOk);
  ASSERT_EQ(cmd.Params().size(), 2u);
  EXPECT_EQ(FindParam(cmd, "NOTIFY")->value, "SUCCESS,FAILURE");
  EXPECT_EQ(FindParam(cmd, "ORCPT")->value, "rfc822;u+2Bx@d.example");
  EXPECT_FALSE(cmd.has_size);
  EXPECT_EQ(cmd.dsn_notify, kDsnNotifySuccess | kDsnNotifyFailure);
  EXPECT_EQ(cmd.dsn_orcpt_type, "rfc822");
  EXPECT_EQ(cmd.dsn_orcpt, "u+2Bx@d.example");  // still xtext
  EXPECT_EQ(cmd.unknown_param, kParamsMax);
}

// DSN parameters (RFC 3461): what each decodes to, and the text naming the
// parameter when it is repeated or malformed (501 5.5.4).
struct DsnCase {
  std::string line;
  std::string error;  // "" when it parses
  DsnReturn ret = DsnReturn::kUnspecified;
  std::string envid;
  uint8_t notify = 0;
  std::string orcpt_type;
  std::string orcpt;
};

class DsnParamTest : public ::testing::TestWithParam<DsnCase> {};

TEST_P(DsnParamTest, Decodes) {
  const DsnCase& c = GetParam();
  Command cmd;
  const ParseResult r = ParseCommand(c.line, &cmd);
  if (!c.error.empty()) {
    ASSERT_EQ(r, ParseResult::kBadParameter) << c.line;
    std::string wire;
    AppendReply(ReplyFor(r, cmd), &wire);
    EXPECT_EQ(wire, "501 5.5.4 " + c.error + "\r\n") << c.line;
    return;
  }
  ASSERT_EQ(r, ParseResult::kOk) << c.line;
  EXPECT_EQ(cmd.param_error, "");
  EXPECT_EQ(cmd.dsn_ret, c.ret) << c.line;
  EXPECT_EQ(cmd.dsn_envid, c.envid) << c.line;
  EXPECT_EQ(cmd.dsn_notify, c.notify) << c.line;
  EXPECT_EQ(cmd.dsn_orcpt_type, c.orcpt_type) << c.line;
  EXPECT_EQ(cmd.dsn_orcpt, c.orcpt) << c.line;
  EXPECT_EQ(cmd.unknown_param, kParamsMax) << c.line;
}

const std::string kEnvid100 = std::string(99, 'e') + "+2B";  // 100 decoded
const std::string kOrcpt500 = std::string(492, 'o') + "+3D";  // "rfc822;" + 493

INSTANTIATE_TEST_SUITE_P(
    Dsn, DsnParamTest,
    ::testing::Values(
        // RET
        DsnCase{"MAIL FROM:<a@b.c> RET=FULL", "", DsnReturn::kFull},
        DsnCase{"MAIL FROM:<a@b.c> ret=hdrs", "", DsnReturn::kHeaders},
        DsnCase{"MAIL FROM:<a@b.c> RET=HEADERS",
                "Error: bad RET parameter: expected RET=FULL or RET=HDRS"},
        DsnCase{"MAIL FROM:<a@b.c> RET", "Error: bad RET parameter: expected RET=FULL or RET=HDRS"},
        DsnCase{"MAIL FROM:<a@b.c> RET=FULL RET=FULL", "Error: repeated RET parameter"},
        // ENVID
        DsnCase{"MAIL FROM:<a@b.c> ENVID=QQ+2B3", "", DsnReturn::kUnspecified, "QQ+2B3"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=a+20b", "", DsnReturn::kUnspecified, "a+20b"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=" + kEnvid100, "", DsnReturn::kUnspecified, kEnvid100},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=" + kEnvid100 + "x",
                "Error: bad ENVID parameter: longer than 100 octets"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=a+2b",
                "Error: bad ENVID parameter: expected ENVID=xtext (RFC 3461)"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=caf\xc3\xa9",
                "Error: bad ENVID parameter: expected ENVID=xtext (RFC 3461)"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID",
                "Error: bad ENVID parameter: expected ENVID=xtext (RFC 3461)"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=a+0D+0Ab",
                "Error: bad ENVID parameter: not printable US-ASCII"},
        DsnCase{"MAIL FROM:<a@b.c> ENVID=x envid=y", "Error: repeated ENVID parameter"},
        DsnCase{"MAIL FROM:<a@b.c> RET=HDRS SIZE=10 ENVID=z", "", DsnReturn::kHeaders, "z"},
        // NOTIFY
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=NEVER", "", {}, "", kDsnNotifyNever},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=never", "", {}, "", kDsnNotifyNever},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=Delay,SUCCESS", "", {}, "",
                kDsnNotifyDelay | kDsnNotifySuccess},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=FAILURE,FAILURE", "", {}, "", kDsnNotifyFailure},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=SUCCESS,FAILURE,DELAY", "", {}, "",
                kDsnNotifySuccess | kDsnNotifyFailure | kDsnNotifyDelay},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=NEVER,FAILURE",
                "Error: bad NOTIFY parameter: NEVER cannot be combined with other values"},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=SUCCESS,NEVER",
                "Error: bad NOTIFY parameter: NEVER cannot be combined with other values"},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=SUCCESS,",
                "Error: bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=,DELAY",
                "Error: bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=SUCCESS;DELAY",
                "Error: bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY",
                "Error: bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"},
        DsnCase{"RCPT TO:<u@d.e> NOTIFY=DELAY NOTIFY=DELAY", "Error: repeated NOTIFY parameter"},
        // ORCPT
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;u@d.e", "", {}, "", 0, "rfc822", "u@d.e"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=RFC822;a;b+2B", "", {}, "", 0, "RFC822", "a;b+2B"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=x-local!#;a+20b", "", {}, "", 0, "x-local!#", "a+20b"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;" + kOrcpt500, "", {}, "", 0, "rfc822", kOrcpt500},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;" + kOrcpt500 + "o",
                "Error: bad ORCPT parameter: longer than 500 octets"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822",
                "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=;u@d.e",
                "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;",
                "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc(822);u@d.e",
                "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;u+4@d.e",
                "Error: bad ORCPT parameter: expected ORCPT=addr-type;xtext (RFC 3461)"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;u+00@d.e",
                "Error: bad ORCPT parameter: not printable US-ASCII"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;a ORCPT=rfc822;b",
                "Error: repeated ORCPT parameter"},
        DsnCase{"RCPT TO:<u@d.e> ORCPT=rfc822;a NOTIFY=NEVER", "", {}, "", kDsnNotifyNever,
                "rfc822", "a"}));

// A later parse forgets every DSN field and error of an earlier one.
TEST(CommandParser, DsnFieldsAreReset) {
  Command cmd;
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c> RET=FULL ENVID=x", &cmd), ParseResult::kOk);
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.e> NOTIFY=BAD", &cmd), ParseResult::kBadParameter);
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.e> NOTIFY=DELAY ORCPT=rfc822;z", &cmd),
            ParseResult::kOk);
  EXPECT_EQ(cmd.dsn_ret, DsnReturn::kUnspecified);
  EXPECT_EQ(cmd.dsn_envid, "");
  EXPECT_EQ(cmd.param_error, "");
  ASSERT_EQ(ParseCommand("RCPT TO:<u@d.e>", &cmd), ParseResult::kOk);
  EXPECT_EQ(cmd.dsn_notify, 0);
  EXPECT_EQ(cmd.dsn_orcpt_type, "");
  EXPECT_EQ(cmd.dsn_orcpt, "");
}

struct ParamCase {
  std::string line;
  ParseResult result;
};

class ParamTest : public ::testing::TestWithParam<ParamCase> {};

TEST_P(ParamTest, Validates) {
  Command cmd;
  EXPECT_EQ(ParseCommand(GetParam().line, &cmd), GetParam().result)
      << GetParam().line;
}

INSTANTIATE_TEST_SUITE_P(
    Params, ParamTest,
    ::testing::Values(
        ParamCase{"MAIL FROM:<a@b.c> SIZE=0", ParseResult::kOk},
        ParamCase{"MAIL FROM:<a@b.c>  SIZE=1   BODY=7BIT  ", ParseResult::kOk},
        ParamCase{"MAIL FROM:<a@b.c> body=binarymime", ParseResult::kOk},
        ParamCase{"MAIL FROM:<a@b.c> SIZE=18446744073709551615",
                  ParseResult::kOk},
        ParamCase{"MAIL FROM:<a@b.c> SIZE=18446744073709551616",
                  ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> SIZE=12a", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> SIZE", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> SIZE=", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> SIZE=1 SIZE=2", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> BODY=9BIT", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> SMTPUTF8=yes", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c>SIZE=1", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> -X=1", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> X=a=b", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> X=a\x01", ParseResult::kSyntaxError},
        ParamCase{"MAIL FROM:<a@b.c> X-Y=1", ParseResult::kOk},
        ParamCase{"MAIL FROM:<a@b.c> A B C D E F G H", ParseResult::kOk},
        ParamCase{"MAIL FROM:<a@b.c> A B C D E F G H I",
                  ParseResult::kSyntaxError},
        // SIZE/BODY are MAIL parameters; on RCPT they are left undecoded
        // for the session to refuse (555).
        ParamCase{"RCPT TO:<a@b.c> SIZE=abc", ParseResult::kOk}));

struct BdatCase {
  std::string line;
  ParseResult result;
  uint64_t size;
  bool last;
};

class BdatTest : public ::testing::TestWithParam<BdatCase> {};

TEST_P(BdatTest, Parses) {
  const BdatCase& c = GetParam();
  Command cmd;
  ASSERT_EQ(ParseCommand(c.line, &cmd), c.result) << c.line;
  EXPECT_EQ(cmd.verb, Verb::kBdat);
  if (c.result != ParseResult::kOk) return;
  EXPECT_EQ(cmd.bdat_size, c.size);
  EXPECT_EQ(cmd.bdat_last, c.last);
}

INSTANTIATE_TEST_SUITE_P(
    Bdat, BdatTest,
    ::testing::Values(
        BdatCase{"BDAT 0 LAST", ParseResult::kOk, 0, true},
        BdatCase{"BDAT 1048576", ParseResult::kOk, 1048576, false},
        BdatCase{"bdat 12 last", ParseResult::kOk, 12, true},
        BdatCase{"BDAT  7   LAST ", ParseResult::kOk, 7, true},
        BdatCase{"BDAT", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT LAST", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT -1", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 10 FIRST", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 10 LAST x", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 99999999999999999999", ParseResult::kSyntaxError, 0,
                 false},
        // Overflow-checked, and bounded by kBdatSizeMax (2^63 - 1): the
        // 2^64 - 1 that once wrapped the session's size check is refused.
        BdatCase{"BDAT 9223372036854775807 LAST", ParseResult::kOk,
                 9223372036854775807ull, true},
        BdatCase{"BDAT 9223372036854775808", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 18446744073709551615 LAST", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 18446744073709551616", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 12x", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT +12", ParseResult::kSyntaxError, 0, false},
        BdatCase{"BDAT 0x10", ParseResult::kSyntaxError, 0, false}));

TEST(CommandParser, BdatSizeIsZeroAfterSyntaxError) {
  Command cmd;
  ASSERT_EQ(ParseCommand("BDAT 10", &cmd), ParseResult::kOk);
  EXPECT_EQ(ParseCommand("BDAT 18446744073709551615", &cmd), ParseResult::kSyntaxError);
  EXPECT_EQ(cmd.bdat_size, 0u);
}

TEST(CommandParser, LineLimits) {
  Command cmd;
  // 510 octets + CRLF = 512: fits; one more does not.
  const std::string noop_ok = "NOOP " + std::string(505, 'x');
  ASSERT_EQ(noop_ok.size(), 510u);
  EXPECT_EQ(ParseCommand(noop_ok, &cmd), ParseResult::kOk);
  EXPECT_EQ(ParseCommand(noop_ok + "x", &cmd), ParseResult::kLineTooLong);
  EXPECT_EQ(cmd.verb, Verb::kNoop);
  EXPECT_EQ(ParseCommand(std::string(600, 'Z'), &cmd),
            ParseResult::kLineTooLong);
  // MAIL may carry extension parameters beyond 512.
  std::string mail = "MAIL FROM:<a@b.c> XFOO=" + std::string(600, 'e');
  EXPECT_EQ(ParseCommand(mail, &cmd), ParseResult::kOk);
  mail += std::string(kMailRcptLineOctetsMax, 'e');
  EXPECT_EQ(ParseCommand(mail, &cmd), ParseResult::kLineTooLong);
  // AUTH initial responses may reach 12288 octets.
  const std::string auth = "AUTH PLAIN " + std::string(8000, 'A');
  EXPECT_EQ(ParseCommand(auth, &cmd), ParseResult::kOk);
}

TEST(CommandParser, ResetsEveryField) {
  Command cmd;
  ASSERT_EQ(ParseCommand("MAIL FROM:<a@b.c> SIZE=5 SMTPUTF8", &cmd),
            ParseResult::kOk);
  ASSERT_EQ(ParseCommand("RCPT TO:<d@e.f>", &cmd), ParseResult::kOk);
  EXPECT_FALSE(cmd.has_size);
  EXPECT_FALSE(cmd.smtputf8);
  EXPECT_EQ(cmd.param_count, 0);
  EXPECT_EQ(cmd.path, "d@e.f");
}

TEST(CommandParser, Replies) {
  struct {
    ParseResult result;
    std::string wire;
  } cases[] = {
      {ParseResult::kUnknownCommand,
       "500 5.5.2 Error: command not recognized\r\n"},
      {ParseResult::kLineTooLong, "500 5.5.2 Error: line too long\r\n"},
      {ParseResult::kSyntaxError,
       "501 5.5.4 Syntax error in parameters or arguments\r\n"},
      {ParseResult::kBadSenderAddress,
       "501 5.1.7 Bad sender address syntax\r\n"},
      {ParseResult::kBadRecipientAddress,
       "501 5.1.3 Bad recipient address syntax\r\n"},
      {ParseResult::kBadParameter,
       "501 5.5.4 Error: malformed or repeated parameter\r\n"},
  };
  for (const auto& c : cases) {
    std::string out;
    AppendReply(ReplyFor(c.result), &out);
    EXPECT_EQ(out, c.wire);
  }
}

TEST(CommandParser, VerbNames) {
  EXPECT_EQ(VerbName(Verb::kStartTls), "STARTTLS");
  EXPECT_EQ(VerbName(Verb::kBdat), "BDAT");
  EXPECT_EQ(VerbName(Verb::kUnknown), "UNKNOWN");
  // Every name parses back to its verb.
  for (int v = 0; v < static_cast<int>(Verb::kUnknown); ++v) {
    Command cmd;
    ParseCommand(VerbName(static_cast<Verb>(v)), &cmd);
    EXPECT_EQ(cmd.verb, static_cast<Verb>(v));
  }
}

TEST(DomainHelpers, DomainOf) {
  EXPECT_EQ(DomainOf("user@Example.COM"), "Example.COM");
  EXPECT_EQ(DomainOf("\"a@b\"@c.example"), "c.example");
  EXPECT_EQ(DomainOf("postmaster"), "");
  EXPECT_EQ(DomainOf(""), "");
  EXPECT_EQ(DomainOf("a@"), "");
}

TEST(DomainHelpers, CaseFolding) {
  EXPECT_TRUE(AsciiEqualsIgnoreCase("Example.COM", "example.com"));
  EXPECT_FALSE(AsciiEqualsIgnoreCase("example.com", "example.co"));
  EXPECT_FALSE(AsciiEqualsIgnoreCase("\xC3\x89", "\xC3\xA9"));
  EXPECT_FALSE(AsciiEqualsIgnoreCase("@", "`"));
  EXPECT_EQ(LowercaseDomain("MX1.Example.COM"), "mx1.example.com");
  EXPECT_EQ(LowercaseDomain("\xC3\x89XAMPLE"), "\xC3\x89xample");
  std::string out = "key:";
  AppendAsciiLowercase("AbC", &out);
  EXPECT_EQ(out, "key:abc");
}

TEST(DomainHelpers, CaseFoldingAgreesWithLowercasingForEveryBytePair) {
  const auto lower = [](int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  for (int x = 0; x < 256; ++x) {
    for (int y = 0; y < 256; ++y) {
      const char a[2] = {'k', static_cast<char>(x)};
      const char b[2] = {'K', static_cast<char>(y)};
      ASSERT_EQ(AsciiEqualsIgnoreCase(std::string_view(a, 2),
                                      std::string_view(b, 2)),
                lower(x) == lower(y))
          << x << " " << y;
    }
  }
}

}  // namespace
}  // namespace ringpost::smtp
