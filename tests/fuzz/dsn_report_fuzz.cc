// tests/fuzz/dsn_report_fuzz.cc — libFuzzer target: delivery status
// notifications (relay/delivery/dsn_report.h) built from hostile values.
//
// Input: u8 flags (bits 0-1 kind, 2 RET=FULL, 3 no RET, 4 a second
// recipient), u16 size_limit, u8 reply code selector, then NUL-separated
// fields: report_to, envid, final_recipient, original_recipient,
// remote_mta, diagnostic, explanation, category, status, reporting_mta,
// message_id, and the original message (the rest, NULs and all).
// Addresses and reply text come from clients and remote servers; this
// target checks that whatever they hold, the notice
//   - ends every line in CRLF (no bare CR or LF) and has no line over 998
//     octets;
//   - has a header section of our fields only (From, To, Subject, Date,
//     Message-ID, MIME-Version, Auto-Submitted, Content-Type,
//     Content-Transfer-Encoding), continuation lines starting with a space;
//   - has its boundary exactly in the Content-Type parameter, the part
//     delimiters (2 or 3 parts) and the close delimiter that ends it;
//   - has a 7-bit delivery-status part;
//   - is the same when composed twice.
// Seeds: tests/fuzz/corpus/dsn_report/.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/dsn_report.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::delivery::ComposeDsn;
using ringpost::delivery::DsnAction;
using ringpost::delivery::DsnInput;
using ringpost::delivery::DsnRecipient;
using ringpost::fuzz::FuzzInput;

constexpr int kCodes[] = {0, 250, 421, 450, 451, 452, 550, 552, 553, 554, 199, 600, -5};

std::string_view NextField(std::string_view* rest) {
  const size_t nul = rest->find('\0');
  const std::string_view field = rest->substr(0, nul);
  rest->remove_prefix(nul == std::string_view::npos ? rest->size() : nul + 1);
  return field;
}

size_t Count(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

void CheckLines(std::string_view notice) {
  FUZZ_CHECK(notice.size() >= 2);
  FUZZ_CHECK(notice.substr(notice.size() - 2) == "\r\n");
  size_t start = 0;
  for (size_t i = 0; i < notice.size(); ++i) {
    if (notice[i] == '\r') {
      FUZZ_CHECK(i + 1 < notice.size());
      FUZZ_CHECK(notice[i + 1] == '\n');
      FUZZ_CHECK(i - start <= 998);
      start = i + 2;
      ++i;
    } else {
      FUZZ_CHECK(notice[i] != '\n');
    }
  }
}

void CheckHeader(std::string_view header) {
  static constexpr std::string_view kFields[] = {
      "From: ", "To: ", "Subject: ", "Date: ", "Message-ID: ", "MIME-Version: ",
      "Auto-Submitted: ", "Content-Type: ", "Content-Transfer-Encoding: "};
  while (!header.empty()) {
    const size_t end = header.find("\r\n");
    const std::string_view line = header.substr(0, end);
    header.remove_prefix(end == std::string_view::npos ? header.size() : end + 2);
    FUZZ_CHECK(!line.empty());
    if (line[0] == ' ') continue;  // a folded field's continuation
    bool known = false;
    for (std::string_view f : kFields) known = known || line.substr(0, f.size()) == f;
    FUZZ_CHECK(known);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  FuzzInput in(data, size);
  const uint8_t flags = in.U8();
  const uint16_t limit = in.U16();
  const uint8_t code = in.U8();
  std::string_view rest = in.Rest();

  DsnInput d;
  d.kind = static_cast<DsnAction>(flags & 3);
  d.return_full = flags & 4;
  d.ret_absent = flags & 8;
  d.size_limit = limit;
  d.arrival_ms = 1'700'000'000'000;
  d.now_ms = d.arrival_ms + 3'600'000;
  d.max_age_ms = (flags & 32) ? 5 * 86'400'000LL : 0;
  d.delay_warning_after_ms = 4 * 3'600'000LL;
  d.report_to = std::string(NextField(&rest));
  d.envid = std::string(NextField(&rest));
  DsnRecipient r;
  r.final_recipient = std::string(NextField(&rest));
  r.original_recipient = std::string(NextField(&rest));
  r.remote_mta = std::string(NextField(&rest));
  r.diagnostic = std::string(NextField(&rest));
  r.explanation = std::string(NextField(&rest));
  r.category = std::string(NextField(&rest));
  r.status = std::string(NextField(&rest));
  r.code = kCodes[code % std::size(kCodes)];
  r.action = d.kind;
  r.last_attempt_ms = (flags & 64) ? d.now_ms : 0;
  d.reporting_mta = std::string(NextField(&rest));
  d.message_id = std::string(NextField(&rest));
  d.original = rest;
  d.recipients.push_back(r);
  if (flags & 16) {
    r.action = static_cast<DsnAction>((flags >> 6) & 3);
    r.diagnostic += "\r\n" + r.diagnostic;
    d.recipients.push_back(r);
  }

  const std::string notice = ComposeDsn(d);
  CheckLines(notice);
  const size_t header_end = notice.find("\r\n\r\n");
  FUZZ_CHECK(header_end != std::string::npos);
  CheckHeader(std::string_view(notice).substr(0, header_end + 2));

  // Our Content-Type field (an outside value may hold "boundary=" too).
  const size_t type = notice.find("\r\nContent-Type: multipart/report;");
  FUZZ_CHECK(type != std::string::npos);
  FUZZ_CHECK(type < header_end);
  const size_t param = notice.find("boundary=\"", type);
  FUZZ_CHECK(param != std::string::npos);
  FUZZ_CHECK(param < header_end);
  const size_t b_start = param + 10;
  const size_t b_end = notice.find('"', b_start);
  FUZZ_CHECK(b_end != std::string::npos);
  const std::string boundary = notice.substr(b_start, b_end - b_start);
  FUZZ_CHECK(!boundary.empty());
  const size_t uses = Count(notice, boundary);
  FUZZ_CHECK(uses == 4 || uses == 5);  // parameter, 2 or 3 parts, close
  const std::string close = "\r\n--" + boundary + "--\r\n";
  FUZZ_CHECK(notice.size() >= close.size());
  FUZZ_CHECK(notice.compare(notice.size() - close.size(), close.size(), close) == 0);

  // The delivery-status part: from its delimiter to the next.
  const std::string delim = "\r\n--" + boundary + "\r\n";
  const size_t first = notice.find(delim);
  FUZZ_CHECK(first != std::string::npos);
  const size_t second = notice.find(delim, first + delim.size());
  FUZZ_CHECK(second != std::string::npos);
  size_t status_end = notice.find("\r\n--" + boundary, second + delim.size());
  FUZZ_CHECK(status_end != std::string::npos);
  for (size_t i = second; i < status_end; ++i) {
    FUZZ_CHECK(static_cast<unsigned char>(notice[i]) < 0x80);
  }

  FUZZ_CHECK(ComposeDsn(d) == notice);
  return 0;
}
