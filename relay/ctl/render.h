// relay/ctl/render.h — what ringpostctl prints for the relay's answers.
//
// With --json the body is printed as it came. Otherwise:
//   - summary: a table of destinations (DESTINATION QUEUED OLDEST STATE
//     UNTIL), then the suspensions in force with who set them and why, and
//     the replies that set them:
//
//       DESTINATION  QUEUED  OLDEST  STATE        UNTIL
//       gmail.com        12  5m40s   suspended    2026-12-07T14:00:00Z
//       example.org       3  1h2m    backing-off  2026-12-07T12:05:00Z
//
//       SUSPENSIONS
//       gmail.com until 2026-12-07T14:00:00Z, set by rule gmail-deferrals: 451s
//         451 4.7.0 Try again later
//
//     Fields the table does not show are ignored; a missing one (or one of
//     an unexpected type) prints as "-"; OLDEST is oldest_s as a duration;
//     a null `until` is "-" in the table and "until resumed" below it;
//   - suspend, resume, flush, bounce, delete: one line from the small
//     object the relay answers ("suspended gmail.com until resumed",
//     "resumed gmail.com, 4 recipients released", "flushed 12 recipients");
//   - inspect: the object, indented (FormatJson), whatever it holds;
//   - anything else, and any body that is not the JSON expected (not JSON,
//     or without the field the command's line is made of): the body itself.
// Every string from the relay is printed with its control characters
// replaced by '?' (or escaped, in FormatJson): a message's envelope must
// not be able to send escape sequences to the operator's terminal. Output
// always ends in a newline.
//
// Usage:
//   std::fputs(ctl::RenderAnswer(request, response.body).c_str(), stdout);

#ifndef RINGPOST_RELAY_CTL_RENDER_H_
#define RINGPOST_RELAY_CTL_RENDER_H_

#include <string>
#include <string_view>

#include "relay/ctl/args.h"
#include "relay/ctl/json.h"

namespace ringpost::ctl {

// What to print for a 2xx answer with `body` to `request`.
std::string RenderAnswer(const CtlRequest& request, std::string_view body);

// The summary table and suspensions; "" when `summary` is not an object
// with a "destinations" array (RenderAnswer then prints the body).
std::string RenderSummary(const JsonValue& summary);

// The one line for `command`'s answer `body`, with its newline; "" when
// the body lacks the field the line is made of.
std::string RenderOutcome(std::string_view command, const JsonValue& body);

// `text` with each control character (C0 but LF and HTAB when
// `keep_lines`, DEL, C1) and each byte that is not part of well-formed
// UTF-8 replaced by '?'.
std::string ForTerminal(std::string_view text, bool keep_lines);

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_RENDER_H_
