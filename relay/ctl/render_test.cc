// render_test.cc — what ringpostctl prints: the summary as golden text (a
// full one, missing and unknown fields, empty), the one-line outcomes, the
// pretty-printed inspect, --json, and bodies that are not what we expect.
#include "relay/ctl/render.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "relay/ctl/args.h"
#include "relay/ctl/test_args.h"
#include "relay/ctl/json.h"

namespace ringpost::ctl {
namespace {

using testing::Split;

using testing::Request;

std::string Render(std::string_view line, std::string_view body) {
  return RenderAnswer(Request(line), body);
}

constexpr std::string_view kSummary = R"({
  "destinations": [
    {"domain": "gmail.com", "queued": 12, "oldest_s": 340, "state": "suspended",
     "until": "2026-12-07T14:00:00Z", "reason": "rule gmail-deferrals", "policy": "gmail.com"},
    {"domain": "example.org", "queued": 3, "oldest_s": 3720, "state": "backing-off",
     "until": "2026-12-07T12:05:00Z", "reason": "421 4.7.0 try later", "policy": ""},
    {"domain": "yahoo.com", "queued": 1, "oldest_s": 0, "state": "active", "until": null,
     "reason": null, "policy": "", "shard": 1}
  ],
  "suspensions": [
    {"name": "gmail.com", "until": "2026-12-07T14:00:00Z", "reason": "3 deferrals in 1m",
     "set_by": "rule gmail-deferrals",
     "replies": ["451 4.7.0 Try again later", "421 4.7.28 Rate limited"]},
    {"name": "yahoo.com", "until": null, "reason": "maintenance", "set_by": "operator",
     "replies": []}
  ],
  "generated": "2026-12-07T12:00:00Z"
})";

TEST(RenderSummary, Golden) {
  EXPECT_EQ(Render("summary", kSummary),
            "DESTINATION  QUEUED  OLDEST  STATE        UNTIL\n"
            "gmail.com        12  5m40s   suspended    2026-12-07T14:00:00Z\n"
            "example.org       3  1h2m    backing-off  2026-12-07T12:05:00Z\n"
            "yahoo.com         1  0s      active       -\n"
            "\n"
            "SUSPENSIONS\n"
            "gmail.com until 2026-12-07T14:00:00Z, set by rule gmail-deferrals: 3 deferrals in 1m\n"
            "  451 4.7.0 Try again later\n"
            "  421 4.7.28 Rate limited\n"
            "yahoo.com until resumed, set by operator: maintenance\n");
}

TEST(RenderSummary, MissingAndOddFieldsPrintAsADash) {
  EXPECT_EQ(Render("summary", R"({"destinations":[{"domain":"a.example"},)"
                              R"({"queued":"many","oldest_s":-5,"state":"","until":7},)"
                              R"({"domain":"b.example","queued":1.5,"oldest_s":2.5,"state":["x"],)"
                              R"("until":{"at":1}},)"
                              R"(42],)"
                              R"("suspensions":[{"name":"a.example"},{}]})"),
            "DESTINATION  QUEUED  OLDEST  STATE  UNTIL\n"
            "a.example         -  -       -      -\n"
            "-              many  -5      -      7\n"
            "b.example       1.5  2.5     -      -\n"
            "-                 -  -       -      -\n"
            "\n"
            "SUSPENSIONS\n"
            "a.example until -, set by -\n"
            "- until -, set by -\n");
}

TEST(RenderSummary, Empty) {
  EXPECT_EQ(Render("summary", R"({"destinations":[],"suspensions":[]})"),
            "no queued mail\n\nno suspensions\n");
  // Without a suspensions list, no section.
  EXPECT_EQ(Render("summary", R"({"destinations":[]})"), "no queued mail\n");
}

// A name from the relay is data: it cannot move the cursor or recolour the
// operator's terminal, and UTF-8 names line up.
TEST(RenderSummary, SafeAndAligned) {
  EXPECT_EQ(Render("summary", R"({"destinations":[{"domain":"\u001b[2Jevil.example","queued":1},)"
                              R"({"domain":"caf\u00e9.example","queued":22},)"
                              R"({"domain":"x\u009by\nz","queued":3}]})"),
            "DESTINATION       QUEUED  OLDEST  STATE  UNTIL\n"
            "?[2Jevil.example       1  -       -      -\n"
            "caf\xc3\xa9.example          22  -       -      -\n"
            "x?y?z                  3  -       -      -\n");
}

TEST(RenderOutcome, OneLine) {
  struct Case {
    std::string_view line, body, printed;
  };
  const Case cases[] = {
      {"suspend gmail.com --for 2h", R"({"suspended":"gmail.com","until":"2026-12-07T14:00:00Z"})",
       "suspended gmail.com until 2026-12-07T14:00:00Z\n"},
      {"suspend gmail.com", R"({"suspended":"gmail.com","until":null})",
       "suspended gmail.com until resumed\n"},
      {"suspend gmail.com", R"({"suspended":"gmail.com"})", "suspended gmail.com\n"},
      {"resume gmail.com", R"({"resumed":"gmail.com","released":4})",
       "resumed gmail.com, 4 recipients released\n"},
      {"resume gmail.com", R"({"resumed":"gmail.com","released":1})",
       "resumed gmail.com, 1 recipient released\n"},
      {"resume gmail.com", R"({"resumed":"gmail.com"})", "resumed gmail.com\n"},
      {"flush", R"({"flushed":12})", "flushed 12 recipients\n"},
      {"flush gmail.com", R"({"flushed":0})", "flushed 0 recipients\n"},
      {"bounce --id 0190a1", R"({"bounced":1})", "bounced 1 recipient\n"},
      {"bounce gmail.com", R"({"bounced":3,"messages":2})", "bounced 3 recipients\n"},
      {"delete --sender a@b.example", R"({"deleted":3})", "deleted 3 recipients\n"},
      // Not what the command's line is made of: the body as it came.
      {"flush", R"({"bounced":3})", "{\"bounced\":3}\n"},
      {"flush", R"({"flushed":"12"})", "{\"flushed\":\"12\"}\n"},
      {"resume gmail.com", R"({"released":4})", "{\"released\":4}\n"},
      {"suspend gmail.com", "[]", "[]\n"},
      {"delete x.example", "deleted, but not in JSON\n", "deleted, but not in JSON\n"},
      {"delete x.example", "not JSON \x1b[31m\ttab\n", "not JSON ?[31m\ttab\n"},
      {"flush", "", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Render(c.line, c.body), c.printed) << c.line << " " << c.body;
  }
}

TEST(RenderAnswer, InspectIsIndented) {
  EXPECT_EQ(Render("inspect 0190a1",
                   R"({"id":"0190a1","sender":"a@b.example","recipients":[{"to":"c@d.example",)"
                   R"("attempts":2,"last_reply":"451 4.7.0 later\u001b"}]})"),
            "{\n"
            "  \"id\": \"0190a1\",\n"
            "  \"sender\": \"a@b.example\",\n"
            "  \"recipients\": [\n"
            "    {\n"
            "      \"to\": \"c@d.example\",\n"
            "      \"attempts\": 2,\n"
            "      \"last_reply\": \"451 4.7.0 later\\u001b\"\n"
            "    }\n"
            "  ]\n"
            "}\n");
  EXPECT_EQ(Render("inspect x", "42"), "42\n");
}

TEST(RenderAnswer, JsonPrintsTheBodyAsItCame) {
  EXPECT_EQ(Render("--json summary", std::string(kSummary)), std::string(kSummary) + "\n");
  EXPECT_EQ(Render("--json flush", "{\"flushed\":12}\n"), "{\"flushed\":12}\n");
  EXPECT_EQ(Render("--json flush", "not json"), "not json\n");
  // Not summary-shaped: the body.
  EXPECT_EQ(Render("summary", R"({"queues":[]})"), "{\"queues\":[]}\n");
}

TEST(ForTerminal, ReplacesControlCharacters) {
  EXPECT_EQ(ForTerminal("plain caf\xc3\xa9", false), "plain caf\xc3\xa9");
  EXPECT_EQ(ForTerminal("a\x1b[0m\x07\x7f\r", true), "a?[0m???");
  EXPECT_EQ(ForTerminal("l1\n\tl2", true), "l1\n\tl2");
  EXPECT_EQ(ForTerminal("l1\n\tl2", false), "l1??l2");
  EXPECT_EQ(ForTerminal("\xc2\x9b"
                        "1m \xc2\xa0",
                        false),
            "?1m \xc2\xa0");  // C1 CSI; NBSP stays
  EXPECT_EQ(ForTerminal("\x9b\xff\xc3", false), "???");
}

}  // namespace
}  // namespace ringpost::ctl
