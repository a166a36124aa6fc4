// dsn_report.cc — see dsn_report.h.
#include "relay/delivery/dsn_report.h"

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "relay/delivery/mail_text.h"

namespace ringpost::delivery {
namespace {

using mail_text::AppendField;
using mail_text::FieldText;
using mail_text::IsAscii;
using mail_text::IsValidUtf8;
using mail_text::kFoldAt;
using mail_text::kLineMax;
using mail_text::PlainText;
using mail_text::QuotedPrintable;
using mail_text::Token;
using mail_text::Utf8AddrXtext;

// Plain text lines with no space to wrap at are split here: below kLineMax,
// and with room for the indentation.
constexpr size_t kTextHardMax = 900;

// An address field's value (RFC 3464 2.3.1, 2.3.2): "rfc822; addr" for an
// ASCII address, "utf-8; <xtext>" for a UTF-8 one (RFC 6533).
std::string AddressValue(std::string_view type, std::string_view addr) {
  if (IsAscii(addr) || !IsValidUtf8(addr)) {
    std::string t = Token(type);
    if (t.empty()) t = "rfc822";
    return t + "; " + FieldText(addr);
  }
  return "utf-8; " + Utf8AddrXtext(addr);
}

// ORCPT as decoded ("rfc822;user@example.com"): type and address.
std::string OriginalRecipientValue(std::string_view orcpt) {
  const size_t semi = orcpt.find(';');
  if (semi == std::string_view::npos) return AddressValue("rfc822", FieldText(orcpt, true));
  const std::string type = FieldText(orcpt.substr(0, semi));
  const std::string addr = FieldText(orcpt.substr(semi + 1), true);
  return AddressValue(type, addr);
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// "4 hours", "2 days 3 hours", "35 minutes": the two largest units.
std::string DurationText(int64_t ms) {
  if (ms < 60'000) return "less than a minute";
  const int64_t minutes = ms / 60'000;
  const int64_t units[3] = {minutes / (24 * 60), minutes / 60 % 24, minutes % 60};
  const char* names[3] = {"day", "hour", "minute"};
  std::string out;
  int shown = 0;
  for (int u = 0; u < 3 && shown < 2; ++u) {
    if (units[u] == 0) {
      if (shown > 0) break;  // "2 days", not "2 days 0 hours 5 minutes"
      continue;
    }
    if (!out.empty()) out += ' ';
    out += std::to_string(units[u]) + " " + names[u] + (units[u] == 1 ? "" : "s");
    ++shown;
  }
  return out;
}

// Backs `at` up to the start of a UTF-8 character of s.
size_t CharStart(std::string_view s, size_t at) {
  while (at > 0 && at < s.size() && (static_cast<unsigned char>(s[at]) & 0xc0) == 0x80) --at;
  return at;
}

// Appends `text` (PlainText, one line) after `indent` spaces, split into
// more lines of the same indent where it passes kTextHardMax octets.
void AppendTextLine(std::string* out, size_t indent, std::string_view text) {
  do {
    size_t take = text.size();
    if (take > kTextHardMax) {
      take = CharStart(text, kTextHardMax);
      if (take == 0) take = kTextHardMax;
    }
    out->append(indent, ' ');
    out->append(text.substr(0, take));
    out->append("\r\n");
    text.remove_prefix(take);
  } while (!text.empty());
}

// Appends a paragraph, wrapped at spaces to kFoldAt columns: its first line
// after `indent` spaces, the others after `next_indent` (default: the same).
void AppendWrapped(std::string* out, size_t indent, std::string_view text,
                   size_t next_indent = SIZE_MAX) {
  if (next_indent == SIZE_MAX) next_indent = indent;
  std::string line;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (i == j) break;
    const std::string_view word = text.substr(i, j - i);
    if (!line.empty() && indent + line.size() + 1 + word.size() > kFoldAt) {
      AppendTextLine(out, indent, line);
      line.clear();
      indent = next_indent;
    }
    if (!line.empty()) line += ' ';
    line.append(word);
    i = j;
  }
  if (!line.empty()) AppendTextLine(out, indent, line);
}

// The reply's lines, each with its code: "550-5.1.1 a", "550 5.1.1 b".
// Lines the server sent with their code are kept as they are; the others
// (a reply given as text only) get `code` in front.
std::vector<std::string_view> SplitLines(std::string_view s) {
  std::vector<std::string_view> lines;
  while (!s.empty()) {
    size_t end = s.find_first_of("\r\n");
    const std::string_view line = s.substr(0, end);
    if (!line.empty()) lines.push_back(line);
    if (end == std::string_view::npos) break;
    if (s[end] == '\r' && end + 1 < s.size() && s[end + 1] == '\n') ++end;
    s.remove_prefix(end + 1);
  }
  return lines;
}

bool HasReplyCode(std::string_view line) {
  if (line.size() < 3) return false;
  for (size_t k = 0; k < 3; ++k) {
    if (line[k] < '0' || line[k] > '9') return false;
  }
  return line.size() == 3 || line[3] == ' ' || line[3] == '-';
}

std::vector<std::string> ReplyLines(int code, std::string_view diagnostic) {
  const std::vector<std::string_view> raw = SplitLines(diagnostic);
  std::vector<std::string> lines;
  const bool prefix = code >= 200 && code <= 599;
  for (size_t k = 0; k < raw.size(); ++k) {
    std::string line;
    if (prefix && !HasReplyCode(raw[k])) {
      line = std::to_string(code) + (k + 1 < raw.size() ? "-" : " ");
    }
    line.append(raw[k]);
    lines.push_back(std::move(line));
  }
  return lines;
}

// Whether one line of the original, with its line end (none for a last
// line without one), can go into the notice as it is: at most kLineMax
// octets, ended by CRLF, no other CR. The relay accepts only such lines
// (relay/smtp/data_scanner), but the notice must hold whatever it is given.
bool LineFitsNotice(std::string_view raw) {
  if (!raw.empty() && raw.back() == '\n') {
    if (raw.size() < 2 || raw[raw.size() - 2] != '\r') return false;  // bare LF
    raw.remove_suffix(2);
  }
  return raw.size() <= kLineMax && raw.find('\r') == std::string_view::npos;
}

// The original's lines: where its header section ends, whether every line
// can be returned as it is.
struct OriginalShape {
  size_t header_end = 0;      // octets of the header section (its lines, not the empty line)
  bool unfit_line = false;    // a line LineFitsNotice refuses
  bool eight_bit = false;     // an octet >= 0x80 anywhere
};

OriginalShape Shape(std::string_view m) {
  OriginalShape shape;
  bool in_header = true;
  size_t pos = 0;
  while (pos < m.size()) {
    const size_t end = m.find('\n', pos);
    const size_t next = end == std::string_view::npos ? m.size() : end + 1;
    const std::string_view raw = m.substr(pos, next - pos);
    if (in_header && (raw == "\r\n" || raw == "\n")) in_header = false;
    if (in_header) shape.header_end = next;
    if (!LineFitsNotice(raw)) shape.unfit_line = true;
    if (!IsAscii(raw)) shape.eight_bit = true;
    pos = next;
  }
  return shape;
}

// The header section cut to `limit` octets: before the first field that
// does not fit (or, when not even one does, before the first line that
// does not fit), and before any line LineFitsNotice refuses.
std::string_view CutHeader(std::string_view header, size_t limit, bool* cut) {
  size_t last_field = 0;  // the end of the last whole field that fits
  size_t last_line = 0;   // the end of the last whole line that fits
  size_t pos = 0;
  bool stopped = false;
  while (pos < header.size()) {
    const size_t end = header.find('\n', pos);
    const size_t next = end == std::string_view::npos ? header.size() : end + 1;
    const std::string_view raw = header.substr(pos, next - pos);
    if (raw[0] != ' ' && raw[0] != '\t') last_field = pos;  // a field starts here
    if (next > limit || !LineFitsNotice(raw)) {
      stopped = true;
      break;
    }
    last_line = next;
    pos = next;
  }
  if (!stopped) {
    *cut = false;
    return header;
  }
  *cut = true;
  return header.substr(0, last_field > 0 ? last_field : last_line);
}

enum class Returned { kNothing, kWhole, kHeaders };

struct Content {
  Returned what = Returned::kNothing;
  std::string_view text;
  bool cut = false;           // the header section was cut short
  bool eight_bit = false;
  std::string why_headers;    // kFailed and only headers: the reason, for the human part
};

Content ChooseContent(const DsnInput& in) {
  Content c;
  const OriginalShape shape = Shape(in.original);
  const bool failure = in.kind == DsnAction::kFailed;
  const bool want_whole = failure && (in.return_full || in.ret_absent);
  if (want_whole && !in.original.empty() && in.original.size() <= in.size_limit &&
      !shape.unfit_line) {
    c.what = Returned::kWhole;
    c.text = in.original;
    c.eight_bit = shape.eight_bit;
    return c;
  }
  if (failure) {
    if (!want_whole) {
      c.why_headers = "you asked for headers only (RET=HDRS)";
    } else if (in.original.size() > in.size_limit) {
      c.why_headers = "the whole message (" + std::to_string(in.original.size()) +
                      " octets) is larger than the " + std::to_string(in.size_limit) +
                      " octets a notice returns";
    } else {
      c.why_headers = "the whole message has lines a notice cannot carry (longer than 998 "
                      "octets, or not ended by CRLF)";
    }
  }
  c.text = CutHeader(in.original.substr(0, shape.header_end), in.size_limit, &c.cut);
  if (c.text.empty()) return Content{};
  c.what = Returned::kHeaders;
  c.eight_bit = !IsAscii(c.text);
  return c;
}

uint64_t Fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// A boundary that occurs in none of `parts` (RFC 2046 5.1.1): derived from
// the notice's identity, with a counter bumped until it is unique.
std::string Boundary(const DsnInput& in, const std::vector<std::string_view>& parts) {
  const uint64_t h = Fnv1a(in.message_id, Fnv1a(in.reporting_mta, Fnv1a(in.original_queue_id)));
  for (uint64_t n = 0;; ++n) {
    const std::string b = "=_ringpost_report_" + Hex64(h) + "_" + std::to_string(n);
    const bool clash = std::any_of(parts.begin(), parts.end(), [&](std::string_view p) {
      return p.find(b) != std::string_view::npos;
    });
    if (!clash) return b;
  }
}

std::string_view Subject(DsnAction kind) {
  switch (kind) {
    case DsnAction::kFailed: return "Undelivered Mail Returned to Sender";
    case DsnAction::kDelayed: return "Delayed Mail (still being retried)";
    case DsnAction::kDelivered:
    case DsnAction::kRelayed: return "Successful Mail Delivery Report";
  }
  return "Mail Delivery Report";
}

std::string_view RecipientOutcome(DsnAction a) {
  switch (a) {
    case DsnAction::kFailed: return "could not be delivered";
    case DsnAction::kDelayed: return "not delivered yet, still trying";
    case DsnAction::kDelivered: return "delivered";
    case DsnAction::kRelayed: return "relayed: no further notices will come";
  }
  return "unknown";
}

// Part 1: what happened, in plain words (CRLF lines, not yet encoded).
std::string HumanPart(const DsnInput& in, const Content& content, std::string_view host) {
  std::string t;
  AppendWrapped(&t, 0, "This is the mail delivery system at " + std::string(host) + ".");
  t += "\r\n";
  const bool has_arrival = in.arrival_ms != 0;
  const bool gives_up = in.max_age_ms > 0 && has_arrival;
  switch (in.kind) {
    case DsnAction::kFailed:
      AppendWrapped(&t, 0,
                    "Your message could not be delivered to one or more of its recipients. "
                    "What happened to each is told below.");
      break;
    case DsnAction::kDelayed: {
      std::string s = "Your message has not been delivered yet to one or more of its recipients";
      if (in.delay_warning_after_ms > 0) {
        s += ": it has been waiting for " + DurationText(in.delay_warning_after_ms);
      }
      s += ". This is only a warning: the mail system keeps trying, so you need not send "
           "the message again.";
      if (gives_up) {
        s += " If it still cannot be delivered by " +
             Rfc5322Date(in.arrival_ms + in.max_age_ms) + " (" + DurationText(in.max_age_ms) +
             " after it arrived), the mail system gives up and returns it to you.";
      }
      AppendWrapped(&t, 0, s);
      break;
    }
    case DsnAction::kDelivered:
    case DsnAction::kRelayed:
      AppendWrapped(&t, 0,
                    "This is the delivery report you asked for: your message reached the "
                    "recipients below.");
      break;
  }
  t += "\r\n";
  const std::string qid = Token(in.original_queue_id);
  if (!qid.empty() && has_arrival) {
    AppendWrapped(&t, 0, "Your message arrived on " + Rfc5322Date(in.arrival_ms) +
                             " (queue id " + qid + ").");
  } else if (!qid.empty()) {
    AppendWrapped(&t, 0, "Your message has queue id " + qid + ".");
  } else if (has_arrival) {
    AppendWrapped(&t, 0, "Your message arrived on " + Rfc5322Date(in.arrival_ms) + ".");
  }
  if (content.what == Returned::kWhole) {
    AppendWrapped(&t, 0, "The message is attached below in full.");
  } else if (content.what == Returned::kHeaders) {
    std::string s = "The message's header section is attached below";
    if (!content.why_headers.empty()) s += ": " + content.why_headers;
    s += ".";
    if (content.cut) {
      s += " The header section was cut short to " + std::to_string(content.text.size()) +
           " octets.";
    }
    AppendWrapped(&t, 0, s);
  } else if (in.kind == DsnAction::kFailed) {
    AppendWrapped(&t, 0, "The message is not attached.");
  }
  for (const DsnRecipient& r : in.recipients) {
    t += "\r\n";
    std::string head = "<" + PlainText(FieldText(r.final_recipient, true)) + ">: " +
                       std::string(RecipientOutcome(r.action));
    if (!r.category.empty()) head += " (" + Token(r.category) + ")";  // a name: no spaces
    AppendWrapped(&t, 0, head, 4);
    if (!r.explanation.empty()) AppendWrapped(&t, 4, PlainText(FieldText(r.explanation, true)));
    const std::vector<std::string> reply = ReplyLines(r.code, r.diagnostic);
    if (!reply.empty()) {
      std::string who = "The mail server";
      if (!r.remote_mta.empty()) who += " " + Token(r.remote_mta);
      who += " answered:";
      if (reply.size() == 1) {
        AppendTextLine(&t, 4, who + " " + PlainText(reply[0]));
      } else {
        AppendTextLine(&t, 4, who);
        for (const std::string& line : reply) AppendTextLine(&t, 8, PlainText(line));
      }
    } else if (!r.remote_mta.empty()) {
      AppendTextLine(&t, 4, "Mail server: " + Token(r.remote_mta));
    }
    if (r.last_attempt_ms != 0) {
      AppendTextLine(&t, 4, "Last attempt: " + Rfc5322Date(r.last_attempt_ms) + ".");
    }
  }
  return t;
}

// Part 2: message/delivery-status (RFC 3464 2.2, 2.3).
std::string StatusPart(const DsnInput& in, std::string_view host) {
  std::string s;
  AppendField(&s, "Reporting-MTA", "dns; " + std::string(host));
  if (!in.envid.empty()) AppendField(&s, "Original-Envelope-Id", FieldText(in.envid));
  if (in.arrival_ms != 0) AppendField(&s, "Arrival-Date", Rfc5322Date(in.arrival_ms));
  for (const DsnRecipient& r : in.recipients) {
    s += "\r\n";
    if (!r.original_recipient.empty()) {
      AppendField(&s, "Original-Recipient", OriginalRecipientValue(r.original_recipient));
    }
    AppendField(&s, "Final-Recipient",
                AddressValue("rfc822", FieldText(r.final_recipient, true)));
    AppendField(&s, "Action", DsnActionName(r.action));
    AppendField(&s, "Status", DsnStatus(r.status, r.code, r.action));
    if (!r.remote_mta.empty()) AppendField(&s, "Remote-MTA", "dns; " + Token(r.remote_mta));
    const std::vector<std::string> reply = ReplyLines(r.code, r.diagnostic);
    if (!reply.empty()) {
      std::string joined;
      for (const std::string& line : reply) joined += (joined.empty() ? "" : " ") + line;
      AppendField(&s, "Diagnostic-Code", "smtp; " + FieldText(joined));
    }
    if (r.last_attempt_ms != 0) {
      AppendField(&s, "Last-Attempt-Date", Rfc5322Date(r.last_attempt_ms));
    }
    if (r.action == DsnAction::kDelayed && in.max_age_ms > 0 && in.arrival_ms != 0) {
      AppendField(&s, "Will-Retry-Until", Rfc5322Date(in.arrival_ms + in.max_age_ms));
    }
  }
  return s;
}

}  // namespace

std::string_view DsnActionName(DsnAction a) {
  switch (a) {
    case DsnAction::kFailed: return "failed";
    case DsnAction::kDelayed: return "delayed";
    case DsnAction::kDelivered: return "delivered";
    case DsnAction::kRelayed: return "relayed";
  }
  return "failed";
}

std::string Rfc5322Date(int64_t unix_ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Floor, so times before 1970 land in the right second.
  int64_t secs = unix_ms / 1000;
  if (unix_ms % 1000 < 0) --secs;
  const time_t t = static_cast<time_t>(secs);
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr || tm.tm_year + 1900 < 1900 || tm.tm_year + 1900 > 9999) {
    return "Thu, 01 Jan 1970 00:00:00 +0000";  // out of any sensible range
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string DsnStatus(std::string_view status, int code, DsnAction action) {
  // status-code = class "." subject "." detail; class 2/4/5, 1-3 digits each.
  const auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 3 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const size_t d1 = status.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : status.find('.', d1 + 1);
  if (d2 != std::string_view::npos && d1 == 1 &&
      (status[0] == '2' || status[0] == '4' || status[0] == '5') &&
      digits(status.substr(2, d2 - 2)) && digits(status.substr(d2 + 1))) {
    return std::string(status);
  }
  if (code >= 200 && code < 300) return "2.0.0";
  if (code >= 400 && code < 500) return "4.0.0";
  if (code >= 500 && code < 600) return "5.0.0";
  switch (action) {
    case DsnAction::kFailed: return "5.0.0";
    case DsnAction::kDelayed: return "4.0.0";
    case DsnAction::kDelivered:
    case DsnAction::kRelayed: return "2.0.0";
  }
  return "5.0.0";
}

std::string ComposeDsn(const DsnInput& in) {
  CHECK(!in.recipients.empty());
  std::string host = Token(in.reporting_mta);
  if (host.empty()) host = "localhost";

  const Content content = ChooseContent(in);
  const std::string human_text = HumanPart(in, content, host);
  const bool human_ascii = IsAscii(human_text);
  const std::string human = human_ascii ? human_text : QuotedPrintable(human_text);
  const std::string status = StatusPart(in, host);

  std::string out;
  out.reserve(human.size() + status.size() + content.text.size() + 2048);
  AppendField(&out, "From", "Mail Delivery System <MAILER-DAEMON@" + host + ">");
  if (in.report_to.empty()) {
    AppendField(&out, "To", "undisclosed-recipients:;");  // not reached: no notice goes to <>
  } else {
    std::string_view to = in.report_to;
    if (to.size() >= 2 && to.front() == '<' && to.back() == '>') to = to.substr(1, to.size() - 2);
    AppendField(&out, "To", "<" + FieldText(to, true) + ">");
  }
  AppendField(&out, "Subject", Subject(in.kind));
  AppendField(&out, "Date", Rfc5322Date(in.now_ms));
  if (!in.message_id.empty()) {
    std::string id = Token(in.message_id);
    if (id.front() != '<') id = "<" + id + ">";
    AppendField(&out, "Message-ID", id);
  }
  AppendField(&out, "MIME-Version", "1.0");
  AppendField(&out, "Auto-Submitted", "auto-replied");
  // Unique in the whole notice, its header fields (the To: address) too.
  const std::string boundary = Boundary(in, {out, human, status, content.text});
  AppendField(&out, "Content-Type",
              "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  // RFC 2045 6.4: a multipart holding an 8bit part is 8bit itself.
  if (content.eight_bit) AppendField(&out, "Content-Transfer-Encoding", "8bit");
  out += "\r\nThis is a MIME-encapsulated message: a delivery status notification "
         "(RFC 3464).\r\n";

  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Description: Notification\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += human_ascii ? "Content-Transfer-Encoding: 7bit\r\n"
                     : "Content-Transfer-Encoding: quoted-printable\r\n";
  out += "\r\n";
  out += human;

  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Description: Delivery report\r\n";
  out += "Content-Type: message/delivery-status\r\n\r\n";
  out += status;

  if (content.what != Returned::kNothing) {
    out += "\r\n--" + boundary + "\r\n";
    if (content.what == Returned::kWhole) {
      out += "Content-Description: Undelivered message\r\n";
      out += "Content-Type: message/rfc822\r\n";
    } else {
      out += "Content-Description: Message headers\r\n";
      out += "Content-Type: text/rfc822-headers\r\n";
    }
    if (content.eight_bit) out += "Content-Transfer-Encoding: 8bit\r\n";
    out += "\r\n";
    out.append(content.text);
  }
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace ringpost::delivery
