// relay/delivery/dsn_report.h — the delivery status notification (RFC 3464,
// in a multipart/report of RFC 6522) that tells a message's sender what
// became of it: a bounce, a delay warning or a success notice.
//
// Pure: ComposeDsn takes every value it shows (times included) as input and
// returns the notice's bytes. No clock, no random source, no I/O, so each
// notice is tested byte for byte (dsn_report_test.cc) and parsed by Python's
// email package (dsn_report_py_test.py). The caller spools the result as a
// new message with the null reverse-path (MAIL FROM:<>), so a notice never
// causes another notice.
//
// The notice (CRLF line ends, no line longer than 998 octets):
//   header  From: Mail Delivery System <MAILER-DAEMON@reporting_mta>, To:,
//           Subject (by kind), Date (UTC), Message-ID, MIME-Version,
//           Auto-Submitted: auto-replied (RFC 3834), Content-Type:
//           multipart/report; report-type=delivery-status; boundary=...
//   part 1  text/plain; charset=utf-8: what happened to each recipient, in
//           plain words: the explanation, the remote server's exact reply,
//           the last attempt, for a delay when we give up, whether the
//           returned content was cut. 7bit when ASCII, else quoted-printable.
//   part 2  message/delivery-status: Reporting-MTA, Original-Envelope-Id,
//           Arrival-Date; per recipient Original-Recipient, Final-Recipient,
//           Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
//           Will-Retry-Until (delays). Fields whose input is empty or 0 are
//           left out.
//   part 3  the original: message/rfc822 (whole) or text/rfc822-headers
//           (its header section); left out when there is nothing to return.
//
// What is returned (RFC 3461 4.3 leaves the default to the MTA; this is
// Postfix's choice):
//   kFailed, RET=FULL or no RET   the whole message as message/rfc822 when
//                                 it fits in size_limit octets; otherwise
//                                 only its header section.
//   kFailed, RET=HDRS             the header section.
//   kDelayed, kDelivered, kRelayed
//                                 the header section (RET concerns failure
//                                 notices only; a success or delay notice
//                                 returns no content).
// A header section over size_limit is cut before the first header field
// that does not fit (never inside a line: before a line when a single field
// does not fit), and the human part says so. The whole message is returned
// only when every line of it fits a notice (at most 998 octets, ended by
// CRLF, no bare CR); a header section is cut before a line that does not.
//
// Values from outside (addresses, the remote reply, the envelope id, host
// names) cannot break the notice's structure:
//   - In header fields and in the delivery-status part, CR, LF and TAB
//     become spaces (runs of spaces become one), other control characters
//     '?'. Long values are folded at spaces (unfolding restores them); a run
//     of 998 octets without a space is split with an added space.
//   - The delivery-status part is 7-bit: non-ASCII octets of a reply or an
//     envelope id become '?'. An address with non-ASCII characters (SMTPUTF8,
//     RFC 6531) is written as "utf-8; " in RFC 6533's utf-8-addr-xtext
//     (non-ASCII characters, '+', '=', '\' and spaces as \x{HEX}), after
//     octets that are not valid UTF-8 became '?'.
//   - The human part keeps valid UTF-8 (then quoted-printable) and replaces
//     invalid octets and control characters with '?'.
//   - The To: address keeps valid UTF-8 (the notice goes to that address
//     with SMTPUTF8 anyway); other octets become '?'.
//   - The multipart boundary is checked against the notice's header fields
//     and every part's content, and changed (a counter) until it occurs in
//     none.
// The returned original is copied as it is; when it holds 8-bit octets its
// part says Content-Transfer-Encoding: 8bit, and the notice then needs a
// next hop that offers 8BITMIME (or SMTPUTF8 for 8-bit headers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringpost::delivery {

enum class DsnAction : uint8_t { kFailed, kDelayed, kDelivered, kRelayed };

struct DsnRecipient {
  std::string final_recipient;     // the address tried (no <>), e.g. "user@example.com"
  std::string original_recipient;  // from ORCPT: "rfc822;user@example.com" (decoded); empty: none
  DsnAction action = DsnAction::kFailed;
  int code = 0;                    // SMTP reply code (0: none, e.g. never connected)
  // Enhanced status "5.1.1"; empty (or not of the form c.s.d): derived from
  // code (its class: "5.0.0", "4.0.0", "2.0.0"), else from action.
  std::string status;
  std::string remote_mta;          // host name of the server that answered; empty: none
  // That server's reply, as received: "550 5.1.1 text", or CRLF-joined lines
  // "550-5.1.1 a\r\n550 5.1.1 b". Lines without their own reply code get
  // `code` in front. Empty: no reply.
  std::string diagnostic;
  std::string explanation;         // one sentence in plain words (the cause), always given
  int64_t last_attempt_ms = 0;     // wall clock; 0: none
  std::string category;            // classification name (bounce_class.h), shown in the human part
};

struct DsnInput {
  DsnAction kind = DsnAction::kFailed;  // kFailed: a bounce; kDelayed: a delay warning; kDelivered/kRelayed: success notice
  std::string reporting_mta;       // our host name
  std::string report_to;           // the original envelope sender (the notice's To:); never empty
  std::string message_id;          // the notice's Message-ID, with <>
  std::string original_queue_id;   // our id of the original message (human part)
  std::string envid;               // original ENVID (decoded); empty: none
  // RET=FULL: return the whole message (within size_limit); false: RET=HDRS,
  // unless ret_absent.
  bool return_full = false;
  // The original MAIL command had no RET parameter: a failure notice returns
  // the whole message within size_limit, as for RET=FULL (see above).
  bool ret_absent = false;
  int64_t arrival_ms = 0;          // when we accepted the original (wall clock); 0: not shown
  int64_t now_ms = 0;              // Date:
  int64_t delay_warning_after_ms = 0;  // kDelayed: how long it has been waiting (for the text); optional
  int64_t max_age_ms = 0;          // how long we keep trying from arrival ("will give up at ..."); optional
  std::string_view original;       // the original message content: headers + body, CRLF lines
  size_t size_limit = 50000;       // bounce_size_limit: octets of returned content at most
  std::vector<DsnRecipient> recipients;  // at least one
};

// The complete notice (header + body, CRLF line ends, lines <= 998 octets),
// ready to spool with the null sender. `in.recipients` must not be empty
// (CHECKed: a notice about nobody is a caller's bug).
std::string ComposeDsn(const DsnInput& in);

// Helpers the notice uses, exposed for tests and for the caller's logs.

// "failed", "delayed", "delivered", "relayed" (RFC 3464 2.3.3).
std::string_view DsnActionName(DsnAction a);

// RFC 5322 date-time in UTC: "Tue, 14 Nov 2023 22:13:20 +0000".
std::string Rfc5322Date(int64_t unix_ms);

// `status` when it is an enhanced status code (class 2, 4 or 5, then 1..3
// digits, then 1..3 digits), else "c.0.0" with c from `code` (2xx, 4xx,
// 5xx), else from `action` (failed 5, delayed 4, delivered/relayed 2).
std::string DsnStatus(std::string_view status, int code, DsnAction action);

}  // namespace ringpost::delivery
