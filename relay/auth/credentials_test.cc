// credentials_test.cc — the auth_users format, scrypt against RFC 7914,
// the Verifier's cache and `ringpost passwd`. Lines made here use ln=10
// (about 1 ms) unless the test is about the defaults.

#include "relay/auth/credentials.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ringpost::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kSalt = "0123456789abcdef";

std::string FastLine(std::string_view user, std::string_view password) {
  absl::StatusOr<std::string> line = FormatLine(user, kSalt, 10, 8, 1, password);
  EXPECT_TRUE(line.ok()) << line.status();
  return line.value_or("");
}

std::shared_ptr<const Credentials> MustParse(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const Credentials>> creds = Credentials::Parse(text, "users");
  EXPECT_TRUE(creds.ok()) << creds.status();
  return creds.value_or(nullptr);
}

TEST(CredentialsTest, MakeUserLineRoundTrip) {
  absl::StatusOr<std::string> line = MakeUserLine("alice", "correct horse");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, StartsWith("alice:$scrypt$ln=14,r=8,p=1$"));
  std::shared_ptr<const Credentials> creds = MustParse(*line + "\n");
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->size(), 1u);
  EXPECT_TRUE(creds->Verify("alice", "correct horse"));
  EXPECT_FALSE(creds->Verify("alice", "correct horse "));
  EXPECT_FALSE(creds->Verify("bob", "correct horse"));
}

TEST(CredentialsTest, MakeUserLineSaltsEachLine) {
  absl::StatusOr<std::string> a = MakeUserLine("alice", "pw");
  absl::StatusOr<std::string> b = MakeUserLine("alice", "pw");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b);
}

TEST(CredentialsTest, MakeUserLineRejectsBadInput) {
  EXPECT_FALSE(MakeUserLine("alice", "").ok());
  EXPECT_FALSE(MakeUserLine("", "pw").ok());
  EXPECT_FALSE(MakeUserLine("al ice", "pw").ok());
  EXPECT_FALSE(MakeUserLine("al:ice", "pw").ok());
}

// RFC 7914 section 12, third vector (N=16384, r=8, p=1: our defaults); the
// first 32 of its 64 output octets, since scrypt's last step is PBKDF2 and
// its first block does not depend on the output length.
TEST(CredentialsTest, FormatLineMatchesRfc7914) {
  absl::StatusOr<std::string> line =
      FormatLine("user", "SodiumChloride", 14, 8, 1, "pleaseletmein");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line,
            "user:$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU="
            "$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofI=");
  std::shared_ptr<const Credentials> creds = MustParse(*line);
  ASSERT_NE(creds, nullptr);
  EXPECT_TRUE(creds->Verify("user", "pleaseletmein"));
}

// Computed with Python's hashlib.scrypt (OpenSSL), an independent
// implementation: a change of encoding or parameters shows here.
TEST(CredentialsTest, FormatLineIsStable) {
  EXPECT_EQ(FastLine("bob", "pw"),
            "bob:$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg=="
            "$aMVTuQEI+jkaGyQcKvYHZwvQAIPq1C1TACYLFE9oZeo=");
}

TEST(CredentialsTest, FormatLineRejectsWhatParseWould) {
  EXPECT_FALSE(FormatLine("bob", kSalt, 9, 8, 1, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", kSalt, 21, 8, 1, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", kSalt, 10, 0, 1, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", kSalt, 10, 33, 1, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", kSalt, 10, 8, 0, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", kSalt, 10, 8, 17, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", kSalt, 16, 1, 1, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", "short", 10, 8, 1, "pw").ok());
  EXPECT_FALSE(FormatLine("bob", std::string(65, 's'), 10, 8, 1, "pw").ok());
}

TEST(CredentialsTest, ParseSkipsCommentsBlankLinesAndCr) {
  const std::string text = absl::StrCat("# submitters\n\n   \n", FastLine("alice", "a"),
                                        "\r\n  # indented comment\n", FastLine("bob", "b"),
                                        "  \n");
  std::shared_ptr<const Credentials> creds = MustParse(text);
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->size(), 2u);
  EXPECT_TRUE(creds->Verify("alice", "a"));
  EXPECT_TRUE(creds->Verify("bob", "b"));
  EXPECT_FALSE(creds->Verify("alice", "b"));
}

TEST(CredentialsTest, ParseAcceptsTheWholeParameterRange) {
  // High ln and r together cost seconds; each bound is tried on its own.
  // {15, 9, 1} needs more than BoringSSL's default 32 MiB memory limit.
  for (const auto& [ln, r, p] : std::vector<std::tuple<uint32_t, uint32_t, uint32_t>>{
           {10, 1, 1}, {10, 32, 1}, {10, 1, 16}, {15, 1, 1}, {15, 9, 1}, {16, 2, 1}}) {
    absl::StatusOr<std::string> line = FormatLine("u", kSalt, ln, r, p, "pw");
    ASSERT_TRUE(line.ok()) << line.status();
    std::shared_ptr<const Credentials> creds = MustParse(*line);
    ASSERT_NE(creds, nullptr);
    EXPECT_TRUE(creds->Verify("u", "pw")) << *line;
  }
}

TEST(CredentialsTest, UserNamesAreOctetsUpTo255) {
  const std::string longest(255, 'u');
  const std::string utf8 = "j\xc3\xbcrgen";
  std::shared_ptr<const Credentials> creds =
      MustParse(absl::StrCat(FastLine(longest, "a"), "\n", FastLine(utf8, "b")));
  ASSERT_NE(creds, nullptr);
  EXPECT_TRUE(creds->Verify(longest, "a"));
  EXPECT_TRUE(creds->Verify(utf8, "b"));
  EXPECT_FALSE(creds->Verify("JUERGEN", "b"));
}

struct BadFile {
  std::string text;
  std::string error;  // a substring of the message, with the line number
};

TEST(CredentialsTest, ParseErrorsNameTheLine) {
  const std::string good = FastLine("alice", "a");
  const std::string tail = good.substr(good.find("$scrypt$"));  // "$scrypt$...$HASH"
  const std::string hash = good.substr(good.rfind('$'));        // "$HASH"
  const std::string head = "# header\n\n";                      // errors are on line 3
  const std::vector<BadFile> cases = {
      {head + "bob$scrypt$ln=10,r=8,p=1$x$y", "users:3: missing ':'"},
      {head + "bob:$2y$10$abcdefghijklmnopqrstuv", "users:3: hash does not start with $scrypt$"},
      {head + "bob:scrypt" + tail.substr(7), "users:3: hash does not start"},
      {head + "bob:$scrypt$ln=10,r=8,p=1$!!!!!!!!!!!!" + hash, "users:3: salt is not padded"},
      {head + "bob:$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg" + hash,
       "users:3: salt is not padded"},
      // 'h' leaves non-zero unused bits: another spelling of the same salt.
      {head + "bob:$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZh==" + hash,
       "users:3: salt is not padded"},
      {head + "bob:$scrypt$ln=10,r=8,p=1$c2hvcnQ=" + hash, "users:3: salt is 5 octets"},
      {head + "bob:$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$abc",
       "users:3: hash is not padded"},
      {head + "bob:$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$MDEyMzQ1Njc4OWFiY2RlZg==",
       "users:3: hash is 16 octets"},
      {head + "bob:$scrypt$ln=9,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: ln=9 is outside 10..20"},
      {head + "bob:$scrypt$ln=21,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: ln=21 is outside"},
      {head + "bob:$scrypt$ln=10,r=0,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: r=0 is outside 1..32"},
      {head + "bob:$scrypt$ln=10,r=33,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: r=33 is outside"},
      {head + "bob:$scrypt$ln=16,r=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: ln=16 needs r >= 2"},
      {head + "bob:$scrypt$ln=20,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: ln=20,r=8,p=1 costs more than 16 times the default"},
      {head + "bob:$scrypt$ln=15,r=8,p=16$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: ln=15,r=8,p=16 costs more than"},
      {head + "bob:$scrypt$ln=10,r=8,p=0$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: p=0 is outside 1..16"},
      {head + "bob:$scrypt$ln=10,r=8,p=17$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: p=17 is outside"},
      {head + "bob:$scrypt$ln=10,r=8,p=99999999999$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: parameters are not"},
      {head + "bob:$scrypt$ln=10,p=1,r=8$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: parameters are not"},
      {head + "bob:$scrypt$ln=+10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash,
       "users:3: parameters are not"},
      {head + "bob:$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==" + hash + "$",
       "users:3: hash is not $scrypt$PARAMS$SALT$HASH"},
      {head + ":" + tail, "users:3: user name is empty"},
      {head + std::string(256, 'u') + ":" + tail, "users:3: user name is 256 octets"},
      {head + "b ob:" + tail, "users:3: user name contains"},
      {head + "b\tob:" + tail, "users:3: user name contains"},
      {head + "b\x01ob:" + tail, "users:3: user name contains"},
      {head + "b\x7fob:" + tail, "users:3: user name contains"},
      {"\n" + good + "\n# again\n" + good + "\n", "users:4: user \"alice\" already on line 2"},
  };
  for (const BadFile& c : cases) {
    absl::StatusOr<std::shared_ptr<const Credentials>> creds = Credentials::Parse(c.text, "users");
    ASSERT_FALSE(creds.ok()) << c.text;
    EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(creds.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(CredentialsTest, EmptyFileHasNoUsers) {
  std::shared_ptr<const Credentials> creds = MustParse("# nobody yet\n");
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->size(), 0u);
  EXPECT_FALSE(creds->Verify("alice", "a"));
  EXPECT_FALSE(creds->Verify("", ""));
}

TEST(CredentialsTest, LoadReadsTheFileAndNamesIt) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/auth_users");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f, "%s\nbroken\n", FastLine("alice", "a").c_str());
  fclose(f);
  absl::StatusOr<std::shared_ptr<const Credentials>> creds = Credentials::Load(path);
  ASSERT_FALSE(creds.ok());
  EXPECT_THAT(creds.status().message(), HasSubstr(path + ":2: missing ':'"));

  f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f, "%s\n", FastLine("alice", "a").c_str());
  fclose(f);
  creds = Credentials::Load(path);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_TRUE((*creds)->Verify("alice", "a"));

  creds = Credentials::Load(path + ".missing");
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(creds.status().message(), HasSubstr(path + ".missing"));
}

TEST(CredentialsTest, EachParseHasItsOwnId) {
  const std::string text = FastLine("alice", "a");
  EXPECT_NE(MustParse(text)->id(), MustParse(text)->id());
}

class VerifierTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Credentials> creds_ = MustParse(absl::StrCat(
      FastLine("alice", "a"), "\n", FastLine("bob", "b"), "\n", FastLine("carol", "c")));
};

TEST_F(VerifierTest, SecondGoodPasswordRunsNoScrypt) {
  Verifier verifier;
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_EQ(verifier.scrypt_runs(), 1u);
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_EQ(verifier.scrypt_runs(), 1u);
}

TEST_F(VerifierTest, WrongPasswordAfterAGoodOneRunsScryptAndFails) {
  Verifier verifier;
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_FALSE(verifier.Verify(creds_, "alice", "b"));
  EXPECT_EQ(verifier.scrypt_runs(), 2u);
  EXPECT_FALSE(verifier.Verify(creds_, "bob", "a"));  // alice's password, bob's name
  EXPECT_EQ(verifier.scrypt_runs(), 3u);
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));  // still cached
  EXPECT_EQ(verifier.scrypt_runs(), 3u);
}

TEST_F(VerifierTest, FailuresAreNotCached) {
  Verifier verifier;
  EXPECT_FALSE(verifier.Verify(creds_, "alice", "x"));
  EXPECT_FALSE(verifier.Verify(creds_, "alice", "x"));
  EXPECT_FALSE(verifier.Verify(creds_, "nobody", "x"));
  EXPECT_FALSE(verifier.Verify(creds_, "nobody", "x"));
  EXPECT_EQ(verifier.scrypt_runs(), 4u);
  EXPECT_EQ(verifier.cached(), 0u);
}

TEST_F(VerifierTest, HoldsAtMostMaxEntriesOldestDroppedFirst) {
  Verifier verifier(2);
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_TRUE(verifier.Verify(creds_, "bob", "b"));
  EXPECT_TRUE(verifier.Verify(creds_, "carol", "c"));
  EXPECT_EQ(verifier.cached(), 2u);
  EXPECT_EQ(verifier.scrypt_runs(), 3u);
  EXPECT_TRUE(verifier.Verify(creds_, "carol", "c"));
  EXPECT_TRUE(verifier.Verify(creds_, "bob", "b"));
  EXPECT_EQ(verifier.scrypt_runs(), 3u);
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));  // dropped: scrypt again
  EXPECT_EQ(verifier.scrypt_runs(), 4u);
  EXPECT_EQ(verifier.cached(), 2u);
}

TEST_F(VerifierTest, ZeroEntriesDisablesTheCache) {
  Verifier verifier(0);
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_EQ(verifier.scrypt_runs(), 2u);
  EXPECT_EQ(verifier.cached(), 0u);
}

TEST_F(VerifierTest, ReloadClearsTheCache) {
  Verifier verifier;
  EXPECT_TRUE(verifier.Verify(creds_, "alice", "a"));
  EXPECT_TRUE(verifier.Verify(creds_, "bob", "b"));
  // Reloaded without alice, and bob's password changed.
  std::shared_ptr<const Credentials> reloaded =
      MustParse(absl::StrCat(FastLine("bob", "new"), "\n", FastLine("carol", "c")));
  EXPECT_FALSE(verifier.Verify(reloaded, "alice", "a"));
  EXPECT_FALSE(verifier.Verify(reloaded, "bob", "b"));
  EXPECT_TRUE(verifier.Verify(reloaded, "bob", "new"));
  EXPECT_EQ(verifier.scrypt_runs(), 5u);
  EXPECT_EQ(verifier.cached(), 1u);
}

// Runs PasswdMain on `input`; returns its exit code, stdout and stderr.
struct PasswdResult {
  int code = -1;
  std::string out;
  std::string err;
};

PasswdResult RunPasswd(std::string_view user, const std::string& input) {
  PasswdResult result;
  // fmemopen() of zero octets fails on glibc; an empty stdin is a tmpfile.
  FILE* in = input.empty() ? tmpfile()
                           : fmemopen(const_cast<char*>(input.data()), input.size(), "r");
  char* out_buf = nullptr;
  size_t out_size = 0;
  char* err_buf = nullptr;
  size_t err_size = 0;
  FILE* out = open_memstream(&out_buf, &out_size);
  FILE* err = open_memstream(&err_buf, &err_size);
  EXPECT_NE(in, nullptr);
  EXPECT_NE(out, nullptr);
  EXPECT_NE(err, nullptr);
  result.code = PasswdMain(user, in, out, err);
  fclose(in);
  fclose(out);
  fclose(err);
  result.out.assign(out_buf, out_size);
  result.err.assign(err_buf, err_size);
  free(out_buf);
  free(err_buf);
  return result;
}

TEST(PasswdMainTest, WritesALineThatVerifies) {
  PasswdResult r = RunPasswd("alice", "hunter2\nignored second line\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_THAT(r.out, StartsWith("alice:$scrypt$ln=14,r=8,p=1$"));
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1);
  std::shared_ptr<const Credentials> creds = MustParse(r.out);
  ASSERT_NE(creds, nullptr);
  EXPECT_TRUE(creds->Verify("alice", "hunter2"));
}

TEST(PasswdMainTest, StripsCrLfAndTakesALastLineWithoutEnd) {
  PasswdResult crlf = RunPasswd("alice", "hunter2\r\n");
  PasswdResult bare = RunPasswd("bob", "hunter2");
  ASSERT_EQ(crlf.code, 0) << crlf.err;
  ASSERT_EQ(bare.code, 0) << bare.err;
  std::shared_ptr<const Credentials> creds = MustParse(crlf.out + bare.out);
  ASSERT_NE(creds, nullptr);
  EXPECT_TRUE(creds->Verify("alice", "hunter2"));
  EXPECT_FALSE(creds->Verify("alice", "hunter2\r"));
  EXPECT_TRUE(creds->Verify("bob", "hunter2"));
}

TEST(PasswdMainTest, RejectsEmptyTooLongAndBadUser) {
  for (const std::string& input : {std::string(), std::string("\n"), std::string("\r\n")}) {
    PasswdResult r = RunPasswd("alice", input);
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr("empty password"));
  }
  PasswdResult at_limit = RunPasswd("alice", std::string(1024, 'x') + "\r\n");
  EXPECT_EQ(at_limit.code, 0) << at_limit.err;
  PasswdResult too_long = RunPasswd("alice", std::string(1025, 'x') + "\n");
  EXPECT_EQ(too_long.code, 2);
  EXPECT_EQ(too_long.out, "");
  EXPECT_THAT(too_long.err, HasSubstr("longer than 1024"));
  PasswdResult bad_user = RunPasswd("al:ice", "pw\n");
  EXPECT_EQ(bad_user.code, 2);
  EXPECT_EQ(bad_user.out, "");
  EXPECT_THAT(bad_user.err, HasSubstr("user name contains"));
}

}  // namespace
}  // namespace ringpost::auth
