// dsn_report_example.cc — writes a few notices ComposeDsn makes, one file
// each, into the directory named on the command line, for
// dsn_report_py_test.py to parse with Python's email package:
//   failure_remote.eml         a bounce with a multi-line remote reply, no RET
//   failure_no_connection.eml  a bounce without any reply, RET=HDRS
//   delay.eml                  a delay warning
//   success.eml                a delivery notice, two recipients
//   full_big.eml               RET=FULL, 200 KB message within the limit
//   full_over_limit.eml        RET=FULL, 200 KB message over the limit
//   hostile.eml                CR/LF and 8-bit octets in every outside value
#include <cstdio>
#include <string>
#include <vector>

#include "relay/delivery/dsn_report.h"

namespace {

using ringpost::delivery::ComposeDsn;
using ringpost::delivery::DsnAction;
using ringpost::delivery::DsnInput;
using ringpost::delivery::DsnRecipient;

constexpr int64_t kArrival = 1'700'000'000'000;
constexpr int64_t kHour = 3'600'000;

std::string Original(size_t body_lines) {
  std::string m =
      "Received: from app1.sender.example (app1.sender.example [192.0.2.7])\r\n"
      "\tby relay.example.net with ESMTPS id 0123456789ABCDEF\r\n"
      "From: Alice <alice@sender.example>\r\n"
      "To: bob@example.com\r\n"
      "Subject: Quarterly report\r\n"
      "Message-ID: <orig-1@sender.example>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n"
      "\r\n";
  for (size_t i = 0; i < body_lines; ++i) {
    m += "Line " + std::to_string(i) + " of the report, padded to a typical length......\r\n";
  }
  return m;
}

DsnInput Base(const std::string& original) {
  DsnInput in;
  in.kind = DsnAction::kFailed;
  in.reporting_mta = "relay.example.net";
  in.report_to = "alice@sender.example";
  in.message_id = "<dsn-example@relay.example.net>";
  in.original_queue_id = "0123456789ABCDEF";
  in.arrival_ms = kArrival;
  in.now_ms = kArrival + 3 * kHour;
  in.original = original;
  return in;
}

DsnRecipient Recipient(const std::string& addr) {
  DsnRecipient r;
  r.final_recipient = addr;
  r.original_recipient = "rfc822;" + addr;
  r.last_attempt_ms = kArrival + 3 * kHour - 1000;
  return r;
}

bool Write(const std::string& dir, const char* name, const DsnInput& in) {
  const std::string path = dir + "/" + name;
  const std::string notice = ComposeDsn(in);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    return false;
  }
  const bool ok = std::fwrite(notice.data(), 1, notice.size(), f) == notice.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::string small = Original(3);
  const std::string big = Original(3000);  // about 200 KB
  bool ok = true;

  DsnInput in = Base(small);
  in.ret_absent = true;
  in.envid = "QQ314159";
  DsnRecipient r = Recipient("bob@example.com");
  r.code = 550;
  r.status = "5.1.1";
  r.remote_mta = "mx.example.com";
  r.diagnostic =
      "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
      "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
      "550 5.1.1 unnecessary spaces.";
  r.explanation = "The recipient's mail server says this address does not exist.";
  r.category = "invalid-recipient";
  in.recipients = {r};
  ok &= Write(dir, "failure_remote.eml", in);

  in = Base(small);
  r = Recipient("carol@nowhere.example");
  r.explanation = "The domain nowhere.example does not exist (DNS: NXDOMAIN).";
  r.category = "bad-domain";
  r.status = "5.1.2";
  in.recipients = {r};
  ok &= Write(dir, "failure_no_connection.eml", in);

  in = Base(small);
  in.kind = DsnAction::kDelayed;
  in.delay_warning_after_ms = 4 * kHour;
  in.max_age_ms = 5 * 24 * kHour;
  r = Recipient("dave@slow.example");
  r.action = DsnAction::kDelayed;
  r.code = 451;
  r.status = "4.7.1";
  r.remote_mta = "mx.slow.example";
  r.diagnostic = "451 4.7.1 Greylisted, please try again later";
  r.explanation = "The recipient's mail server asked us to try again later.";
  r.category = "transient";
  in.recipients = {r};
  ok &= Write(dir, "delay.eml", in);

  in = Base(small);
  in.kind = DsnAction::kDelivered;
  r = Recipient("erin@example.com");
  r.action = DsnAction::kDelivered;
  r.code = 250;
  r.remote_mta = "mx.example.com";
  r.diagnostic = "250 2.0.0 OK 1700010800 x1si";
  r.explanation = "The recipient's mail server accepted the message.";
  DsnRecipient relayed = Recipient("frank@legacy.example");
  relayed.action = DsnAction::kRelayed;
  relayed.code = 250;
  relayed.remote_mta = "mx.legacy.example";
  relayed.diagnostic = "250 Ok";
  relayed.explanation = "The recipient's mail server accepted the message; it sends no notices.";
  in.recipients = {r, relayed};
  ok &= Write(dir, "success.eml", in);

  in = Base(big);
  in.return_full = true;
  in.size_limit = 500000;
  r = Recipient("bob@example.com");
  r.code = 552;
  r.status = "5.2.2";
  r.remote_mta = "mx.example.com";
  r.diagnostic = "552 5.2.2 The recipient's inbox is out of storage space.";
  r.explanation = "The recipient's mailbox is full.";
  r.category = "mailbox-full";
  in.recipients = {r};
  ok &= Write(dir, "full_big.eml", in);
  in.size_limit = 50000;
  ok &= Write(dir, "full_over_limit.eml", in);

  in = Base(small);
  in.ret_absent = true;
  in.report_to = "alice@sender.example\r\nBcc: victim@else.example";
  in.envid = "id\r\nX-Injected: 1";
  r = Recipient("bob@example.com\r\nAction: delivered");
  r.original_recipient = "rfc822;b\xC3\xB6" "b@example.com\r\n\r\nX-Injected: 2";
  r.code = 550;
  r.remote_mta = "mx.example.com\r\nX-Injected: 3";
  r.diagnostic = "550 5.7.1 Nein\r\n\r\nAction: delivered\rStatus: 2.0.0\nbad \xFF\x01 octets";
  r.explanation = "Refused\r\nX-Injected: 4";
  r.category = "policy\r\nX-Injected: 5";
  in.recipients = {r};
  ok &= Write(dir, "hostile.eml", in);

  return ok ? 0 : 1;
}
