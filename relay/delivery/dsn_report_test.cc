// dsn_report_test.cc — the notices ComposeDsn writes: one byte for byte,
// then each kind, each field's presence and absence, what content is
// returned (RET, size_limit, cutting), the boundary, hostile values
// (header injection, control characters, 8-bit text, long lines).
// dsn_report_py_test.py parses the same kinds with Python's email package.
#include "relay/delivery/dsn_report.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace ringpost::delivery {
namespace {

constexpr int64_t kArrival = 1'700'000'000'000;  // Tue, 14 Nov 2023 22:13:20 +0000
constexpr int64_t kHour = 3'600'000;

const char kOriginal[] =
    "From: Alice <alice@sender.example>\r\n"
    "To: bob@example.com\r\n"
    "Subject: Quarterly report\r\n"
    "Message-ID: <orig-1@sender.example>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "the numbers are attached.\r\n";

DsnRecipient Rejected() {
  DsnRecipient r;
  r.final_recipient = "bob@example.com";
  r.action = DsnAction::kFailed;
  r.code = 550;
  r.status = "5.1.1";
  r.remote_mta = "mx.example.com";
  r.diagnostic = "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown";
  r.explanation = "The recipient's mail server says this address does not exist.";
  r.last_attempt_ms = kArrival + 2000;
  r.category = "invalid-recipient";
  return r;
}

DsnInput Bounce() {
  DsnInput in;
  in.kind = DsnAction::kFailed;
  in.reporting_mta = "relay.example.net";
  in.report_to = "alice@sender.example";
  in.message_id = "<dsn-1@relay.example.net>";
  in.original_queue_id = "0123456789ABCDEF";
  in.arrival_ms = kArrival;
  in.now_ms = kArrival + 3000;
  in.original = kOriginal;
  in.ret_absent = true;
  in.recipients = {Rejected()};
  return in;
}

// Every line ends in CRLF (no bare CR or LF) and has at most 998 octets.
void ExpectWellFormed(const std::string& notice) {
  size_t start = 0;
  for (size_t i = 0; i < notice.size(); ++i) {
    if (notice[i] == '\r') {
      ASSERT_LT(i + 1, notice.size()) << "bare CR at the end";
      ASSERT_EQ(notice[i + 1], '\n') << "bare CR at " << i;
      EXPECT_LE(i - start, 998u) << "long line: " << notice.substr(start, 80);
      start = i + 2;
      ++i;
    } else {
      ASSERT_NE(notice[i], '\n') << "bare LF at " << i;
    }
  }
  EXPECT_EQ(start, notice.size()) << "the notice does not end in CRLF";
}

// A MIME entity: unfolded header fields (names lower-cased) and its body.
struct Entity {
  std::multimap<std::string, std::string> fields;
  std::string body;
  std::string Field(const std::string& name) const {
    auto it = fields.find(name);
    return it == fields.end() ? "" : it->second;
  }
  bool Has(const std::string& name) const { return fields.count(name) > 0; }
};

Entity ParseEntity(std::string_view text) {
  Entity e;
  std::string last;
  while (!text.empty()) {
    const size_t end = text.find("\r\n");
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 2);
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      auto it = e.fields.find(last);
      if (it != e.fields.end()) it->second += std::string(line);  // unfold: keep the WSP
      continue;
    }
    const size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    last = name;
    e.fields.emplace(name, std::string(value));
  }
  e.body = std::string(text);
  return e;
}

std::string BoundaryOf(const Entity& top) {
  const std::string ct = top.Field("content-type");
  const size_t at = ct.find("boundary=\"");
  if (at == std::string::npos) return "";
  const size_t from = at + 10;
  return ct.substr(from, ct.find('"', from) - from);
}

// The notice's header and its parts, split at the boundary.
struct Notice {
  Entity top;
  std::vector<Entity> parts;
};

Notice Parse(const std::string& text) {
  Notice n;
  n.top = ParseEntity(text);
  const std::string b = BoundaryOf(n.top);
  const std::string delim = "\r\n--" + b;
  std::string_view body = n.top.body;
  size_t at = body.find("--" + b);  // the first delimiter follows the preamble's CRLF
  EXPECT_NE(at, std::string_view::npos);
  while (at != std::string_view::npos) {
    size_t start = body.find("\r\n", at) + 2;
    if (body.substr(at + 2 + b.size(), 2) == "--") break;  // close delimiter
    size_t next = body.find(delim, start);
    EXPECT_NE(next, std::string_view::npos);
    n.parts.push_back(ParseEntity(body.substr(start, next - start)));
    at = next + 2;
  }
  return n;
}

// The delivery-status part's groups: per-message, then per-recipient.
std::vector<Entity> StatusGroups(const Entity& part) {
  std::vector<Entity> groups;
  std::string_view rest = part.body;
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n\r\n");
    const std::string_view group = rest.substr(0, end == std::string_view::npos ? rest.size() : end + 2);
    if (!group.empty() && group != "\r\n") groups.push_back(ParseEntity(std::string(group) + "\r\n"));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 4);
  }
  return groups;
}

// The human part's text as one line: wrapping and indentation undone.
std::string Flat(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\r' || c == '\n') c = ' ';
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

size_t Count(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

TEST(DsnReportTest, BounceByteForByte) {
  const std::string notice = ComposeDsn(Bounce());
  const std::string b = "=_ringpost_report_" + std::string(16, '?');  // checked below
  const Notice n = Parse(notice);
  const std::string boundary = BoundaryOf(n.top);
  ASSERT_EQ(boundary.size(), b.size() + 2);
  const std::string expected =
      "From: Mail Delivery System <MAILER-DAEMON@relay.example.net>\r\n"
      "To: <alice@sender.example>\r\n"
      "Subject: Undelivered Mail Returned to Sender\r\n"
      "Date: Tue, 14 Nov 2023 22:13:23 +0000\r\n"
      "Message-ID: <dsn-1@relay.example.net>\r\n"
      "MIME-Version: 1.0\r\n"
      "Auto-Submitted: auto-replied\r\n"
      "Content-Type: multipart/report; report-type=delivery-status;\r\n"
      " boundary=\"" + boundary + "\"\r\n"
      "\r\n"
      "This is a MIME-encapsulated message: a delivery status notification (RFC 3464).\r\n"
      "\r\n--" + boundary + "\r\n"
      "Content-Description: Notification\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 7bit\r\n"
      "\r\n"
      "This is the mail delivery system at relay.example.net.\r\n"
      "\r\n"
      "Your message could not be delivered to one or more of its recipients. What\r\n"
      "happened to each is told below.\r\n"
      "\r\n"
      "Your message arrived on Tue, 14 Nov 2023 22:13:20 +0000 (queue id\r\n"
      "0123456789ABCDEF).\r\n"
      "The message is attached below in full.\r\n"
      "\r\n"
      "<bob@example.com>: could not be delivered (invalid-recipient)\r\n"
      "    The recipient's mail server says this address does not exist.\r\n"
      "    The mail server mx.example.com answered: 550 5.1.1 <bob@example.com>: "
      "Recipient address rejected: User unknown\r\n"
      "    Last attempt: Tue, 14 Nov 2023 22:13:22 +0000.\r\n"
      "\r\n--" + boundary + "\r\n"
      "Content-Description: Delivery report\r\n"
      "Content-Type: message/delivery-status\r\n"
      "\r\n"
      "Reporting-MTA: dns; relay.example.net\r\n"
      "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
      "\r\n"
      "Final-Recipient: rfc822; bob@example.com\r\n"
      "Action: failed\r\n"
      "Status: 5.1.1\r\n"
      "Remote-MTA: dns; mx.example.com\r\n"
      "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address\r\n"
      " rejected: User unknown\r\n"
      "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:22 +0000\r\n"
      "\r\n--" + boundary + "\r\n"
      "Content-Description: Undelivered message\r\n"
      "Content-Type: message/rfc822\r\n"
      "\r\n" +
      std::string(kOriginal) + "\r\n--" + boundary + "--\r\n";
  EXPECT_EQ(notice, expected);
  ExpectWellFormed(notice);
  // Derived from the notice's identity: the same input, the same boundary.
  EXPECT_EQ(boundary.substr(0, 18), "=_ringpost_report_");
  EXPECT_EQ(boundary.substr(boundary.size() - 2), "_0");
  EXPECT_EQ(ComposeDsn(Bounce()), notice);
}

TEST(DsnReportTest, MultiLineReplyIsQuotedLineByLineAndJoinedInTheStatus) {
  DsnInput in = Bounce();
  in.recipients[0].diagnostic =
      "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
      "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
      "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser x1si";
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  const Notice n = Parse(notice);
  ASSERT_EQ(n.parts.size(), 3u);
  EXPECT_NE(n.parts[0].body.find("    The mail server mx.example.com answered:\r\n"
                                 "        550-5.1.1 The email account that you tried to reach "
                                 "does not exist. Please try\r\n"
                                 "        550-5.1.1 double-checking"),
            std::string::npos);
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1].Field("diagnostic-code"),
            "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please "
            "try 550-5.1.1 double-checking the recipient's email address for typos or 550 5.1.1 "
            "unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser x1si");
}

TEST(DsnReportTest, ReplyWithoutCodesGetsTheReplyCode) {
  DsnInput in = Bounce();
  in.recipients[0].diagnostic = "5.1.1 first line\n5.1.1 second line";
  const Notice n = Parse(ComposeDsn(in));
  EXPECT_EQ(StatusGroups(n.parts[1])[1].Field("diagnostic-code"),
            "smtp; 550-5.1.1 first line 550 5.1.1 second line");
  EXPECT_NE(n.parts[0].body.find("        550 5.1.1 second line\r\n"), std::string::npos);
}

TEST(DsnReportTest, FailureWithoutConnection) {
  DsnInput in = Bounce();
  DsnRecipient& r = in.recipients[0];
  r.code = 0;
  r.status = "";
  r.remote_mta = "";
  r.diagnostic = "";
  r.last_attempt_ms = 0;
  r.explanation = "The domain example.com has no mail server (its MX record is \".\").";
  r.category = "";
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  const Notice n = Parse(notice);
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1].Field("status"), "5.0.0");
  EXPECT_EQ(groups[1].Field("action"), "failed");
  for (const char* absent : {"remote-mta", "diagnostic-code", "last-attempt-date",
                             "original-recipient", "will-retry-until"}) {
    EXPECT_FALSE(groups[1].Has(absent)) << absent;
  }
  EXPECT_EQ(n.parts[0].body.find("answered"), std::string::npos);
  EXPECT_NE(n.parts[0].body.find("<bob@example.com>: could not be delivered\r\n"
                                 "    The domain example.com has no mail server"),
            std::string::npos);
}

TEST(DsnReportTest, OptionalFieldsAppearWhenGiven) {
  DsnInput in = Bounce();
  in.envid = "QQ314159";
  in.recipients[0].original_recipient = "rfc822;Bob@Example.com";
  std::vector<Entity> groups = StatusGroups(Parse(ComposeDsn(in)).parts[1]);
  EXPECT_EQ(groups[0].Field("reporting-mta"), "dns; relay.example.net");
  EXPECT_EQ(groups[0].Field("original-envelope-id"), "QQ314159");
  EXPECT_EQ(groups[0].Field("arrival-date"), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(groups[1].Field("original-recipient"), "rfc822; Bob@Example.com");
  EXPECT_EQ(groups[1].Field("final-recipient"), "rfc822; bob@example.com");

  in.envid = "";
  in.arrival_ms = 0;
  in.recipients[0].original_recipient = "";
  groups = StatusGroups(Parse(ComposeDsn(in)).parts[1]);
  EXPECT_FALSE(groups[0].Has("original-envelope-id"));
  EXPECT_FALSE(groups[0].Has("arrival-date"));
  EXPECT_FALSE(groups[1].Has("original-recipient"));
  // An ORCPT without its type is an RFC 822 address.
  in.recipients[0].original_recipient = "bob@example.com";
  groups = StatusGroups(Parse(ComposeDsn(in)).parts[1]);
  EXPECT_EQ(groups[1].Field("original-recipient"), "rfc822; bob@example.com");
}

TEST(DsnReportTest, DelayWarning) {
  DsnInput in = Bounce();
  in.kind = DsnAction::kDelayed;
  in.return_full = true;  // RET concerns failures: a delay returns headers
  in.delay_warning_after_ms = 4 * kHour;
  in.max_age_ms = 5 * 24 * kHour;
  DsnRecipient& r = in.recipients[0];
  r.action = DsnAction::kDelayed;
  r.code = 451;
  r.status = "4.7.1";
  r.diagnostic = "451 4.7.1 Greylisted, please try again later";
  r.explanation = "The recipient's mail server asked us to try again later.";
  r.category = "transient";
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  const Notice n = Parse(notice);
  EXPECT_EQ(n.top.Field("subject"), "Delayed Mail (still being retried)");
  ASSERT_EQ(n.parts.size(), 3u);
  EXPECT_EQ(n.parts[2].Field("content-type"), "text/rfc822-headers");
  EXPECT_EQ(n.parts[2].body, "From: Alice <alice@sender.example>\r\nTo: bob@example.com\r\n"
                             "Subject: Quarterly report\r\nMessage-ID: <orig-1@sender.example>\r\n");
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  EXPECT_EQ(groups[1].Field("action"), "delayed");
  EXPECT_EQ(groups[1].Field("status"), "4.7.1");
  EXPECT_EQ(groups[1].Field("will-retry-until"), "Sun, 19 Nov 2023 22:13:20 +0000");
  const std::string text = Flat(n.parts[0].body);
  EXPECT_NE(text.find("waiting for 4 hours"), std::string::npos);
  EXPECT_NE(text.find("Sun, 19 Nov 2023 22:13:20 +0000 (5 days after it arrived)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("not delivered yet, still trying (transient)"), std::string::npos);
  EXPECT_NE(text.find("answered: 451 4.7.1 Greylisted, please try again later"),
            std::string::npos);

  // Without max_age: no Will-Retry-Until, no date to give up.
  in.max_age_ms = 0;
  const Notice m = Parse(ComposeDsn(in));
  EXPECT_FALSE(StatusGroups(m.parts[1])[1].Has("will-retry-until"));
  EXPECT_EQ(m.parts[0].body.find("gives up"), std::string::npos);
}

TEST(DsnReportTest, SuccessNotices) {
  for (DsnAction action : {DsnAction::kDelivered, DsnAction::kRelayed}) {
    DsnInput in = Bounce();
    in.kind = action;
    DsnRecipient& r = in.recipients[0];
    r.action = action;
    r.code = 250;
    r.status = "";
    r.diagnostic = "250 2.0.0 Ok: queued as 4Tz1";
    r.explanation = "The recipient's mail server accepted the message.";
    r.category = "";
    const std::string notice = ComposeDsn(in);
    ExpectWellFormed(notice);
    const Notice n = Parse(notice);
    EXPECT_EQ(n.top.Field("subject"), "Successful Mail Delivery Report");
    const std::vector<Entity> groups = StatusGroups(n.parts[1]);
    EXPECT_EQ(groups[1].Field("action"), DsnActionName(action));
    EXPECT_EQ(groups[1].Field("status"), "2.0.0");
    ASSERT_EQ(n.parts.size(), 3u);
    EXPECT_EQ(n.parts[2].Field("content-type"), "text/rfc822-headers");
  }
}

TEST(DsnReportTest, SeveralRecipientsOneGroupEach) {
  DsnInput in = Bounce();
  DsnRecipient full = Rejected();
  full.final_recipient = "carol@example.com";
  full.status = "5.2.2";
  full.diagnostic = "552 5.2.2 Mailbox full";
  full.category = "mailbox-full";
  in.recipients.push_back(full);
  const Notice n = Parse(ComposeDsn(in));
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[1].Field("final-recipient"), "rfc822; bob@example.com");
  EXPECT_EQ(groups[2].Field("final-recipient"), "rfc822; carol@example.com");
  EXPECT_EQ(groups[2].Field("status"), "5.2.2");
  EXPECT_NE(n.parts[0].body.find("<carol@example.com>: could not be delivered (mailbox-full)"),
            std::string::npos);
}

TEST(DsnReportTest, WhatIsReturned) {
  const std::string headers =
      "From: Alice <alice@sender.example>\r\nTo: bob@example.com\r\n"
      "Subject: Quarterly report\r\nMessage-ID: <orig-1@sender.example>\r\n";
  struct Case {
    const char* name;
    bool return_full;
    bool ret_absent;
    size_t limit;
    const char* type;  // "" for no third part
    const char* says;  // in the human part
  };
  const size_t size = std::string_view(kOriginal).size();
  const Case cases[] = {
      {"no RET", false, true, 50000, "message/rfc822", "attached below in full"},
      {"RET=FULL", true, false, 50000, "message/rfc822", "attached below in full"},
      {"RET=FULL, exactly the limit", true, false, size, "message/rfc822", "in full"},
      {"RET=HDRS", false, false, 50000, "text/rfc822-headers", "headers only (RET=HDRS)"},
      {"RET=FULL, over the limit", true, false, size - 1, "text/rfc822-headers",
       "is larger than the"},
      {"no RET, over the limit", false, true, 130, "text/rfc822-headers", "is larger than the"},
      {"limit 0", true, false, 0, "", "The message is not attached."},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    DsnInput in = Bounce();
    in.return_full = c.return_full;
    in.ret_absent = c.ret_absent;
    in.size_limit = c.limit;
    const std::string notice = ComposeDsn(in);
    ExpectWellFormed(notice);
    const Notice n = Parse(notice);
    EXPECT_NE(Flat(n.parts[0].body).find(c.says), std::string::npos) << n.parts[0].body;
    if (std::string_view(c.type).empty()) {
      EXPECT_EQ(n.parts.size(), 2u);
      continue;
    }
    ASSERT_EQ(n.parts.size(), 3u);
    EXPECT_EQ(n.parts[2].Field("content-type"), c.type);
    if (std::string_view(c.type) == "message/rfc822") {
      EXPECT_EQ(n.parts[2].body, kOriginal);
    } else {
      EXPECT_EQ(n.parts[2].body, headers);
    }
  }
}

TEST(DsnReportTest, HeaderSectionIsCutBetweenFields) {
  DsnInput in = Bounce();
  const std::string original =
      "Received: from a by b;\r\n\tTue, 14 Nov 2023 22:13:19 +0000\r\n"
      "Subject: " + std::string(60, 's') + "\r\n"
      "X-Long: one\r\n two\r\n three\r\n"
      "\r\nbody\r\n";
  in.original = original;
  in.ret_absent = false;  // RET=HDRS
  // Room for the first two fields and part of the third.
  const size_t two_fields = original.find("X-Long");
  in.size_limit = two_fields + 20;
  Notice n = Parse(ComposeDsn(in));
  ASSERT_EQ(n.parts.size(), 3u);
  EXPECT_EQ(n.parts[2].body, original.substr(0, two_fields));
  EXPECT_NE(Flat(n.parts[0].body).find("The header section was cut short to " +
                                 std::to_string(two_fields) + " octets."),
            std::string::npos);
  // Not even the first field fits: cut between its lines.
  in.size_limit = 30;
  n = Parse(ComposeDsn(in));
  ASSERT_EQ(n.parts.size(), 3u);
  EXPECT_EQ(n.parts[2].body, "Received: from a by b;\r\n");
  // Not even its first line: nothing is attached.
  in.size_limit = 10;
  n = Parse(ComposeDsn(in));
  EXPECT_EQ(n.parts.size(), 2u);
  // Everything fits: not cut, not said to be.
  in.size_limit = 50000;
  n = Parse(ComposeDsn(in));
  EXPECT_EQ(n.parts[0].body.find("cut short"), std::string::npos);
}

TEST(DsnReportTest, LongLinesInTheOriginalAreNeverReturned) {
  DsnInput in = Bounce();
  const std::string original = "Subject: x\r\n\r\n" + std::string(1200, 'b') + "\r\n";
  in.original = original;
  Notice n = Parse(ComposeDsn(in));
  ASSERT_EQ(n.parts.size(), 3u);
  EXPECT_EQ(n.parts[2].Field("content-type"), "text/rfc822-headers");
  EXPECT_NE(Flat(n.parts[0].body).find("lines a notice cannot carry"), std::string::npos);
  // A long header line: the section is cut before it.
  const std::string bad_header = "Subject: x\r\nX-Huge: " + std::string(1200, 'h') + "\r\n\r\nb\r\n";
  in.original = bad_header;
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  n = Parse(notice);
  EXPECT_EQ(n.parts[2].body, "Subject: x\r\n");
}

TEST(DsnReportTest, BareCrOrLfInTheOriginalIsNeverReturned) {
  // The relay refuses such lines at DATA; the notice must hold anyway.
  DsnInput in = Bounce();
  const std::string bare_lf = "Subject: x\r\nTo: y\r\n\r\nbody\nmore\r\n";
  in.original = bare_lf;
  std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  Notice n = Parse(notice);
  EXPECT_EQ(n.parts[2].Field("content-type"), "text/rfc822-headers");
  EXPECT_EQ(n.parts[2].body, "Subject: x\r\nTo: y\r\n");
  const std::string bare_cr = "Subject: x\r\nX-Bad: a\rb\r\nTo: y\r\n\r\nbody\r\n";
  in.original = bare_cr;
  notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  n = Parse(notice);
  EXPECT_EQ(n.parts[2].body, "Subject: x\r\n");
  in.original = "Subject: x\nTo: y\n\nbody\n";  // LF only
  notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  EXPECT_EQ(Parse(notice).parts.size(), 2u);
}

TEST(DsnReportTest, BoundaryNeverOccursInTheContent) {
  const std::string first = BoundaryOf(Parse(ComposeDsn(Bounce())).top);
  DsnInput in = Bounce();
  // The original quotes the boundary the notice would take, and the next.
  std::string base = first.substr(0, first.size() - 1);
  const std::string original = std::string(kOriginal) + "--" + first + "\r\n" + base + "1\r\n";
  in.original = original;
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  const std::string b = BoundaryOf(Parse(notice).top);
  EXPECT_EQ(b, base + "2");
  // The delimiters only: three parts' openings and the close.
  EXPECT_EQ(Count(notice, b), 1u + 4u);
  const Notice n = Parse(notice);
  ASSERT_EQ(n.parts.size(), 3u);
  EXPECT_EQ(n.parts[2].body, original);
}

TEST(DsnReportTest, HeaderInjectionIsDefused) {
  DsnInput in = Bounce();
  in.report_to = "alice@sender.example>\r\nBcc: victim@else.example";
  in.envid = "id\r\nAction: delivered";
  in.reporting_mta = "relay.example.net\r\nX-Evil: 1";
  in.message_id = "<a\r\nb@c>";
  DsnRecipient& r = in.recipients[0];
  r.final_recipient = "bob@example.com\r\nAction: delivered";
  r.original_recipient = "rfc822;x\r\n\r\nFinal-Recipient: rfc822; y";
  r.remote_mta = "mx.example.com\r\nStatus: 2.0.0";
  r.diagnostic = "550 no\r\n\r\nAction: delivered\rStatus: 2.0.0\nX: \x01\x7f";
  r.explanation = "Bad\r\nBcc: victim@else.example";
  r.category = "policy\r\nX-Injected: yes";
  r.status = "5.7.1\r\nX: y";
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  for (const char* bad : {"\r\nBcc:", "\r\nX-Evil:", "\r\nAction: delivered", "\r\nX-Injected",
                          "\r\nStatus: 2.0.0", "\r\nX: ", "\r\nFinal-Recipient: rfc822; y"}) {
    EXPECT_EQ(notice.find(bad), std::string::npos) << bad;
  }
  const Notice n = Parse(notice);
  EXPECT_FALSE(n.top.Has("bcc"));
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].Field("original-envelope-id"), "id Action: delivered");
  EXPECT_EQ(groups[1].Field("action"), "failed");
  EXPECT_EQ(groups[1].Field("status"), "5.0.0");  // not an enhanced status: derived
  EXPECT_EQ(groups[1].Field("remote-mta"), "dns; mx.example.com??Status:?2.0.0");
  EXPECT_EQ(groups[1].Field("diagnostic-code"),
            "smtp; 550 no 550-Action: delivered 550-Status: 2.0.0 550 X: ??");
  EXPECT_EQ(n.top.Field("to"), "<alice@sender.example> Bcc: victim@else.example>");
  EXPECT_EQ(n.top.Field("message-id"), "<a??b@c>");
  EXPECT_EQ(n.top.Field("from"),
            "Mail Delivery System <MAILER-DAEMON@relay.example.net??X-Evil:?1>");
}

TEST(DsnReportTest, LongValuesAreFolded) {
  DsnInput in = Bounce();
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  in.recipients[0].diagnostic = "550 5.7.1 " + words;
  in.envid = std::string(3000, 'e');  // no space to fold at
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  const Notice n = Parse(notice);
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  // Folded at spaces: unfolding gives the reply back.
  words.pop_back();
  EXPECT_EQ(groups[1].Field("diagnostic-code"), "smtp; 550 5.7.1 " + words);
  // Split where there is no space: one space added per split.
  std::string envid = groups[0].Field("original-envelope-id");
  EXPECT_EQ(Count(envid, " "), 3u);
  envid.erase(std::remove(envid.begin(), envid.end(), ' '), envid.end());
  EXPECT_EQ(envid, std::string(3000, 'e'));
  // The status part's lines stay short where spaces allow.
  size_t longest = 0;
  std::string_view body = n.parts[1].body;
  for (size_t at = 0; at < body.size();) {
    const size_t end = body.find("\r\n", at);
    const std::string_view line = body.substr(at, end - at);
    if (line.find("eeee") == std::string_view::npos) longest = std::max(longest, line.size());
    at = end + 2;
  }
  EXPECT_LE(longest, 78u);
  // A reply line with no space in 5000 octets, in the human part too.
  in.recipients[0].diagnostic = "550 " + std::string(5000, 'x');
  ExpectWellFormed(ComposeDsn(in));
}

// Decodes quoted-printable (RFC 2045 6.7).
std::string DecodeQp(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

TEST(DsnReportTest, EightBitText) {
  DsnInput in = Bounce();
  DsnRecipient& r = in.recipients[0];
  r.final_recipient = "j\xC3\xBCrgen+tag@b\xC3\xBC" "cher.example";  // jürgen+tag@bücher.example
  r.original_recipient = "utf-8;j\xC3\xBCrgen@example.com";
  r.diagnostic = "550 5.1.1 Benutzer unbekannt: \xC3\xBC, bad \xFF\xC3 octets";
  r.explanation = "Der Empf\xC3\xA4nger existiert nicht.";
  const std::string notice = ComposeDsn(in);
  ExpectWellFormed(notice);
  const Notice n = Parse(notice);
  EXPECT_EQ(n.parts[0].Field("content-transfer-encoding"), "quoted-printable");
  const std::string text = Flat(DecodeQp(n.parts[0].body));
  EXPECT_NE(text.find("Der Empf\xC3\xA4nger existiert nicht."), std::string::npos);
  EXPECT_NE(text.find("answered: 550 5.1.1 Benutzer unbekannt: \xC3\xBC, bad ?? octets"),
            std::string::npos) << text;
  EXPECT_NE(text.find("<j\xC3\xBCrgen+tag@b\xC3\xBC" "cher.example>"), std::string::npos);
  for (size_t i = 0; i < n.parts[0].body.size(); ++i) {
    ASSERT_LT(static_cast<unsigned char>(n.parts[0].body[i]), 0x80u);
  }
  // The delivery-status part is 7-bit: RFC 6533 utf-8 addresses, '?' in replies.
  const std::vector<Entity> groups = StatusGroups(n.parts[1]);
  EXPECT_EQ(groups[1].Field("final-recipient"),
            "utf-8; j\\x{FC}rgen\\x{2B}tag@b\\x{FC}cher.example");
  EXPECT_EQ(groups[1].Field("original-recipient"), "utf-8; j\\x{FC}rgen@example.com");
  EXPECT_EQ(groups[1].Field("diagnostic-code"),
            "smtp; 550 5.1.1 Benutzer unbekannt: ??, bad ?? octets");
  for (char c : n.parts[1].body) ASSERT_LT(static_cast<unsigned char>(c), 0x80u);
  // The To: address keeps its UTF-8 (SMTPUTF8); invalid octets become '?'.
  in.report_to = "m\xC3\xA4x@example.com\xFF";
  EXPECT_EQ(Parse(ComposeDsn(in)).top.Field("to"), "<m\xC3\xA4x@example.com?>");
}

TEST(DsnReportTest, EightBitContentIsMarked) {
  DsnInput in = Bounce();
  const std::string original = "Subject: caf\xC3\xA9\r\n\r\nd\xC3\xA9j\xC3\xA0 vu\r\n";
  in.original = original;
  Notice n = Parse(ComposeDsn(in));
  EXPECT_EQ(n.top.Field("content-transfer-encoding"), "8bit");
  EXPECT_EQ(n.parts[2].Field("content-transfer-encoding"), "8bit");
  EXPECT_EQ(n.parts[2].body, original);
  n = Parse(ComposeDsn(Bounce()));
  EXPECT_FALSE(n.top.Has("content-transfer-encoding"));
  EXPECT_FALSE(n.parts[2].Has("content-transfer-encoding"));
}

TEST(DsnReportTest, StatusIsKeptOrDerived) {
  struct Case {
    std::string_view status;
    int code;
    DsnAction action;
    std::string_view want;
  };
  const Case cases[] = {
      {"5.1.1", 550, DsnAction::kFailed, "5.1.1"},
      {"4.4.7", 0, DsnAction::kFailed, "4.4.7"},  // expired after deferrals
      {"5.7.708", 550, DsnAction::kFailed, "5.7.708"},
      {"2.0.0", 250, DsnAction::kDelivered, "2.0.0"},
      {"", 550, DsnAction::kFailed, "5.0.0"},
      {"", 451, DsnAction::kFailed, "4.0.0"},
      {"", 250, DsnAction::kRelayed, "2.0.0"},
      {"", 0, DsnAction::kFailed, "5.0.0"},
      {"", 0, DsnAction::kDelayed, "4.0.0"},
      {"", 0, DsnAction::kDelivered, "2.0.0"},
      {"3.1.1", 0, DsnAction::kFailed, "5.0.0"},
      {"5.1", 550, DsnAction::kFailed, "5.0.0"},
      {"5.1.1111", 550, DsnAction::kFailed, "5.0.0"},
      {"5..1", 550, DsnAction::kFailed, "5.0.0"},
      {"5.1.1 ", 550, DsnAction::kFailed, "5.0.0"},
      {"x5.1.1", 0, DsnAction::kDelayed, "4.0.0"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DsnStatus(c.status, c.code, c.action), c.want) << c.status << " " << c.code;
  }
}

TEST(DsnReportTest, Dates) {
  EXPECT_EQ(Rfc5322Date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(Rfc5322Date(kArrival), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(Rfc5322Date(kArrival + 999), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(Rfc5322Date(951782400000), "Tue, 29 Feb 2000 00:00:00 +0000");
  EXPECT_EQ(Rfc5322Date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
  EXPECT_EQ(Rfc5322Date(INT64_MAX), "Thu, 01 Jan 1970 00:00:00 +0000");  // out of range
}

TEST(DsnReportTest, ActionNames) {
  EXPECT_EQ(DsnActionName(DsnAction::kFailed), "failed");
  EXPECT_EQ(DsnActionName(DsnAction::kDelayed), "delayed");
  EXPECT_EQ(DsnActionName(DsnAction::kDelivered), "delivered");
  EXPECT_EQ(DsnActionName(DsnAction::kRelayed), "relayed");
}

TEST(DsnReportDeathTest, NoRecipientsIsACallersBug) {
  DsnInput in = Bounce();
  in.recipients.clear();
  EXPECT_DEATH(ComposeDsn(in), "recipients");
}

}  // namespace
}  // namespace ringpost::delivery
