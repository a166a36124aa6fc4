// args_test.cc — ringpostctl's command line: a table of command lines and
// the request each is (method, target, options), a table of usage errors
// with their messages, the admin address, and the query encoding (read back
// with the admin port's own ParseQuery).
#include "relay/ctl/args.h"
#include "relay/ctl/test_args.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "relay/admin/http.h"

namespace ringpost::ctl {
namespace {

using testing::Split;

std::string Message(const absl::StatusOr<CtlRequest>& r) {
  return std::string(r.status().message());
}

struct Mapped {
  std::string_view line;
  std::string_view method;
  std::string_view target;
};

const Mapped kMapped[] = {
    {"summary", "GET", "/queue/summary"},
    {"suspend gmail.com", "POST", "/queue/suspend?domain=gmail.com"},
    {"suspend gmail.com --for 1h", "POST", "/queue/suspend?domain=gmail.com&for=1h"},
    {"suspend --for=1h gmail.com", "POST", "/queue/suspend?domain=gmail.com&for=1h"},
    {"suspend --for 90m gmail.com", "POST", "/queue/suspend?domain=gmail.com&for=1h30m"},
    {"suspend gmail.com --for=1d", "POST", "/queue/suspend?domain=gmail.com&for=1d"},
    {"--for 30s suspend gmail.com", "POST", "/queue/suspend?domain=gmail.com&for=30s"},
    {"resume gmail.com", "POST", "/queue/resume?domain=gmail.com"},
    {"flush", "POST", "/queue/flush"},
    {"flush example.org", "POST", "/queue/flush?domain=example.org"},
    {"bounce example.org", "POST", "/queue/bounce?domain=example.org"},
    {"bounce --id 0190a1b2c3", "POST", "/queue/bounce?id=0190a1b2c3"},
    {"bounce --id=0190a1b2c3", "POST", "/queue/bounce?id=0190a1b2c3"},
    {"bounce --sender alerts@shop.example", "POST", "/queue/bounce?sender=alerts%40shop.example"},
    {"--sender=a+b@x.example bounce", "POST", "/queue/bounce?sender=a%2Bb%40x.example"},
    {"delete example.org", "POST", "/queue/delete?domain=example.org"},
    {"delete --id 0190a1b2c3", "POST", "/queue/delete?id=0190a1b2c3"},
    {"delete --sender=x@y.example", "POST", "/queue/delete?sender=x%40y.example"},
    {"inspect 0190a1b2c3", "GET", "/queue/message?id=0190a1b2c3"},
    // Values are percent-encoded: all but unreserved characters.
    {"flush [192.0.2.1]", "POST", "/queue/flush?domain=%5B192.0.2.1%5D"},
    {"inspect a/b?c=d&e#f", "GET", "/queue/message?id=a%2Fb%3Fc%3Dd%26e%23f"},
    {"suspend caf\xc3\xa9.example", "POST", "/queue/suspend?domain=caf%C3%A9.example"},
    {"suspend ~a_b-c.d", "POST", "/queue/suspend?domain=~a_b-c.d"},
    // "--" ends the options; "-" alone is a word.
    {"inspect -- -x", "GET", "/queue/message?id=-x"},
    {"-- inspect --id", "GET", "/queue/message?id=--id"},
    {"inspect -", "GET", "/queue/message?id=-"},
};

TEST(ParseArgs, MapsEachCommandToItsRequest) {
  for (const Mapped& m : kMapped) {
    const absl::StatusOr<CtlRequest> r = ParseArgs(Split(m.line));
    ASSERT_TRUE(r.ok()) << m.line << ": " << r.status();
    EXPECT_EQ(r->method, m.method) << m.line;
    EXPECT_EQ(r->target, m.target) << m.line;
    EXPECT_FALSE(r->help);
    // The defaults.
    EXPECT_EQ(r->admin, "127.0.0.1:8025");
    EXPECT_EQ(r->address.host, "127.0.0.1");
    EXPECT_EQ(r->address.port, 8025);
    EXPECT_FALSE(r->json);
    EXPECT_EQ(r->timeout, absl::Seconds(10));
  }
}

TEST(ParseArgs, GlobalOptionsAnywhere) {
  for (const std::string_view line : {
           "--admin=[::1]:9025 --json --timeout=2s summary",
           "summary --admin [::1]:9025 --timeout 2s --json",
           "--json summary --timeout=2s --admin=[::1]:9025",
       }) {
    const absl::StatusOr<CtlRequest> r = ParseArgs(Split(line));
    ASSERT_TRUE(r.ok()) << line << ": " << r.status();
    EXPECT_EQ(r->command, "summary");
    EXPECT_EQ(r->admin, "[::1]:9025");
    EXPECT_EQ(r->address.host, "::1");
    EXPECT_EQ(r->address.port, 9025);
    EXPECT_TRUE(r->json);
    EXPECT_EQ(r->timeout, absl::Seconds(2));
  }
  const absl::StatusOr<CtlRequest> r =
      ParseArgs(Split("suspend gmail.com --timeout=1m30s --for 2h --admin=10.0.0.5:8025"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->target, "/queue/suspend?domain=gmail.com&for=2h");
  EXPECT_EQ(r->timeout, absl::Seconds(90));
  EXPECT_EQ(r->address.host, "10.0.0.5");
}

TEST(ParseArgs, Help) {
  for (const std::string_view line : {"--help", "-h", "help", "summary --help", "--help bogus"}) {
    const absl::StatusOr<CtlRequest> r = ParseArgs(Split(line));
    ASSERT_TRUE(r.ok()) << line << ": " << r.status();
    EXPECT_TRUE(r->help) << line;
  }
  EXPECT_TRUE(Usage().starts_with("usage: ringpostctl [--admin=ADDR:PORT] [--json]"));
  EXPECT_TRUE(Usage().ends_with("\n"));
  for (const std::string_view command :
       {"summary", "suspend", "resume", "flush", "bounce", "delete", "inspect"}) {
    EXPECT_NE(Usage().find("\n  " + std::string(command) + " "), std::string_view::npos) << command;
  }
}

struct Refused {
  std::string_view line;
  std::string_view message;
};

const Refused kRefused[] = {
    {"", "no command given"},
    {"--json", "no command given"},
    {"status", "unknown command \"status\""},
    {"Summary", "unknown command \"Summary\""},
    {"summary extra", "unexpected argument \"extra\" after summary"},
    {"suspend", "suspend needs a DOMAIN"},
    {"suspend --for 1h", "suspend needs a DOMAIN"},
    {"suspend a.example b.example", "unexpected argument \"b.example\" after suspend"},
    {"resume", "resume needs a DOMAIN"},
    {"flush a.example b.example", "unexpected argument \"b.example\" after flush"},
    {"inspect", "inspect needs an ID"},
    {"bounce", "bounce needs exactly one of DOMAIN, --id ID and --sender ADDR"},
    {"bounce a.example --id 1", "bounce needs exactly one of DOMAIN, --id ID and --sender ADDR"},
    {"delete --id 1 --sender a@b", "delete needs exactly one of DOMAIN, --id ID and --sender ADDR"},
    {"delete a.example b.example", "unexpected argument \"b.example\" after delete"},
    // Options: known ones, each once, with a value where one is needed,
    // only with the commands they belong to.
    {"summary --verbose", "unknown option --verbose"},
    {"summary -v", "unknown option -v"},
    {"summary --json=yes", "--json takes no value"},
    {"suspend a.example --for", "--for needs a value"},
    {"suspend --for --json a.example", "--for needs a value"},
    {"suspend a.example --for 1h --for 2h", "--for given twice"},
    {"summary --admin=a:1 --admin=b:2", "--admin given twice"},
    {"resume a.example --for 1h", "--for goes with suspend only"},
    {"flush --for 1h", "--for goes with suspend only"},
    {"flush --id 1", "--id goes with bounce and delete only"},
    {"inspect --sender a@b", "--sender goes with bounce and delete only"},
    {"suspend a.example --id 1", "--id goes with bounce and delete only"},
    // Values.
    {"suspend a.example --for 0s", "--for: a suspension lasts at least 1s"},
    {"suspend a.example --for=500ms", "--for: a suspension lasts at least 1s"},
    {"suspend a.example --for 1hour",
     "--for: bad duration \"1hour\": unknown unit \"hour\" (e.g. 30s, 10m, 2h, 1d, 1h30m)"},
    {"suspend a.example --for=", "--for: bad duration \"\": empty (e.g. 30s, 10m, 2h, 1d, 1h30m)"},
    {"summary --timeout=0s", "--timeout: from 1ms to 1h"},
    {"summary --timeout=2h", "--timeout: from 1ms to 1h"},
    {"summary --timeout=10",
     "--timeout: bad duration \"10\": a number without a unit (d, h, m, "
     "s, ms) (e.g. 30s, 10m, 2h, 1d, 1h30m)"},
    {"bounce --id=", "--id is empty"},
    {"bounce --sender=", "--sender is empty"},
    {"summary --admin=localhost",
     "bad --admin \"localhost\": no port (expected ADDR:PORT, e.g. 127.0.0.1:8025 or [::1]:8025)"},
};

TEST(ParseArgs, UsageErrors) {
  for (const Refused& f : kRefused) {
    const absl::StatusOr<CtlRequest> r = ParseArgs(Split(f.line));
    ASSERT_FALSE(r.ok()) << f.line << " -> " << (r.ok() ? r->target : "");
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << f.line;
    EXPECT_EQ(std::string(r.status().message()), f.message) << f.line;
  }
}

TEST(ParseArgs, RefusesControlCharactersAndOverlongTargets) {
  EXPECT_EQ(Message(ParseArgs({"suspend", "a\nb"})), "DOMAIN holds a control character");
  EXPECT_EQ(Message(ParseArgs({"inspect", "a\x7f"})), "ID holds a control character");
  EXPECT_EQ(Message(ParseArgs({"suspend", ""})), "DOMAIN is empty");
  EXPECT_EQ(Message(ParseArgs({"bounce", "--sender", "a\tb"})),
            "--sender holds a control character");
  // The target fits the admin port's bound, or is refused here.
  const std::string prefix = "/queue/message?id=";
  const std::string fits(admin::kMaxTarget - prefix.size(), 'i');
  const absl::StatusOr<CtlRequest> r = ParseArgs({"inspect", fits});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->target.size(), admin::kMaxTarget);
  const std::string over = fits + "i";
  EXPECT_EQ(Message(ParseArgs({"inspect", over})),
            "the request would be 1025 bytes long, more than the admin port takes (1024)");
  // Encoding counts: 341 '@' are 1023 bytes encoded.
  EXPECT_FALSE(ParseArgs({"bounce", "--sender", std::string(341, '@')}).ok());
}

TEST(ParseAdminAddress, Forms) {
  struct Good {
    std::string_view text, host;
    uint16_t port;
  };
  for (const Good& g : {Good{"127.0.0.1:8025", "127.0.0.1", 8025}, Good{"[::1]:1", "::1", 1},
                        Good{"[2001:db8::5]:65535", "2001:db8::5", 65535},
                        Good{"localhost:8025", "localhost", 8025},
                        Good{"admin.internal:08025", "admin.internal", 8025}}) {
    const absl::StatusOr<AdminAddress> a = ParseAdminAddress(g.text);
    ASSERT_TRUE(a.ok()) << g.text << ": " << a.status();
    EXPECT_EQ(a->host, g.host);
    EXPECT_EQ(a->port, g.port);
  }
  for (const std::string_view bad :
       {"", ":8025", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http",
        "127.0.0.1:-1", "127.0.0.1:+80", "::1:8025", "[::1:8025", "[]:8025", "[::1]x:8025", "a b:1",
        "a/b:1", "127.0.0.1:8025 "}) {
    EXPECT_FALSE(ParseAdminAddress(bad).ok()) << bad;
  }
}

TEST(EncodeQueryValue, EncodesAllButUnreserved) {
  EXPECT_EQ(EncodeQueryValue(""), "");
  EXPECT_EQ(EncodeQueryValue("gmail.com"), "gmail.com");
  EXPECT_EQ(EncodeQueryValue("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(EncodeQueryValue("a b+c&d=e%f/g?h#i"), "a%20b%2Bc%26d%3De%25f%2Fg%3Fh%23i");
  EXPECT_EQ(EncodeQueryValue(std::string("\0\x1f\x7f\x80\xff", 5)), "%00%1F%7F%80%FF");
}

// Every byte string survives the trip: encoded here, decoded by the admin
// port's ParseQuery.
TEST(EncodeQueryValue, ParseQueryReadsItBack) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (const std::string& value : {all, std::string("x@y"), std::string("+ +"), std::string()}) {
    const auto pairs =
        admin::ParseQuery("k=" + EncodeQueryValue(value) + "&v=" + EncodeQueryValue(value));
    ASSERT_TRUE(pairs.has_value());
    ASSERT_EQ(pairs->size(), 2u);
    EXPECT_EQ((*pairs)[0], (std::pair<std::string, std::string>{"k", value}));
    EXPECT_EQ((*pairs)[1].second, value);
  }
  // And every request's target is one the admin reader takes, query included.
  for (const Mapped& m : kMapped) {
    const absl::StatusOr<CtlRequest> r = ParseArgs(Split(m.line));
    ASSERT_TRUE(r.ok());
    const size_t q = r->target.find('?');
    if (q == std::string::npos) continue;
    EXPECT_TRUE(admin::ParseQuery(std::string_view(r->target).substr(q + 1)).has_value())
        << r->target;
  }
}

}  // namespace
}  // namespace ringpost::ctl
