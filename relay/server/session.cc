// session.cc — see session.h.
#include "relay/server/session.h"

#include <time.h>

#include <cassert>
#include <cstdio>
#include <utility>

namespace ringpost::server {
namespace {

std::string FormatId(uint64_t id) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llX", static_cast<unsigned long long>(id));
  return std::string(buf, 16);
}

// RFC 5322 date-time in UTC.
void AppendRfc5322Date(int64_t ms, std::string* out) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  out->append(buf, n);
}

}  // namespace

Session::Session(SessionHost* host, const SessionLimits* limits,
                 std::string hostname, ClientInfo client)
    : host_(host),
      limits_(limits),
      hostname_(std::move(hostname)),
      client_(std::move(client)),
      scanner_(smtp::DataScanner::Limits{limits->text_line_octets_max,
                                         limits->message_octets_max}) {}

void Session::Start() {
  std::string banner = hostname_;
  banner += " ESMTP ringpost";
  Reply(220, "", banner);
}

void Session::Reply(int code, std::string_view enhanced, std::string_view text) {
  std::string& out = host_->Output();
  char num[4] = {static_cast<char>('0' + code / 100),
                 static_cast<char>('0' + code / 10 % 10),
                 static_cast<char>('0' + code % 10), ' '};
  out.append(num, 4);
  if (!enhanced.empty()) {
    out.append(enhanced);
    out.push_back(' ');
  }
  out.append(text);
  out.append("\r\n");
  host_->OutputReady();
}

void Session::Reject(std::string_view sender, std::string_view recipient, int code,
                     std::string_view enhanced, std::string_view text) {
  Reply(code, enhanced, text);
  host_->OnRejected(sender, recipient, code, enhanced, text);
}

void Session::Feed(std::string_view data) {
  if (state_ == State::kClosed) return;
  if (input_.empty() && state_ != State::kCommitting) {
    // Common case: process straight from the receive buffer.
    input_view_ = data;
    Process();
    if (state_ != State::kClosed && !input_view_.empty()) {
      input_.assign(input_view_.data(), input_view_.size());
    }
    input_view_ = {};
  } else {
    input_.append(data);
    if (state_ == State::kCommitting) {
      if (input_.size() > limits_->pending_input_max && !paused_) {
        paused_ = true;
        host_->PauseInput();
      }
      return;
    }
    ProcessBuffered();
  }
}

void Session::ProcessBuffered() {
  std::string pending;
  pending.swap(input_);
  input_view_ = pending;
  Process();
  if (state_ != State::kClosed && !input_view_.empty()) {
    input_.assign(input_view_.data(), input_view_.size());
  }
  input_view_ = {};
}

void Session::Process() {
  // Bounded: every iteration consumes input or leaves the loop.
  while (!input_view_.empty()) {
    if (state_ == State::kData) {
      smtp::DataScanner::Result r = scanner_.Scan(input_view_, &message_->content);
      input_view_.remove_prefix(r.consumed);
      if (r.status != smtp::DataScanner::Status::kDone) return;
      FinishData();
      continue;
    }
    if (state_ != State::kCommand) return;

    const size_t lf = input_view_.find('\n');
    if (lf == std::string_view::npos) {
      if (input_view_.size() > smtp::kMailRcptLineOctetsMax) {
        if (!discarding_line_) {
          Reply(500, "5.5.2", "Error: line too long");
          CountError();
        }
        discarding_line_ = true;
        input_view_ = {};
      }
      return;
    }
    std::string_view line = input_view_.substr(0, lf + 1);
    input_view_.remove_prefix(lf + 1);
    if (discarding_line_) {
      discarding_line_ = false;
      continue;
    }
    if (lf == 0 || line[lf - 1] != '\r') {
      Reply(500, "5.5.2", "Error: bare LF received; command lines must end with CRLF");
      CountError();
      continue;
    }
    line.remove_suffix(2);
    if (line.find('\r') != std::string_view::npos) {
      Reply(500, "5.5.2", "Error: bare CR received; command lines must end with CRLF");
      CountError();
      continue;
    }
    ProcessCommandLine(line);
  }
}

void Session::CountError() {
  if (++errors_ >= limits_->errors_max && state_ != State::kClosed) {
    Reply(421, "4.7.0", hostname_ + " Error: too many errors");
    Close();
  }
}

void Session::Close() {
  state_ = State::kClosed;
  input_view_ = {};
  input_.clear();
  host_->CloseAfterOutput();
}

void Session::ResetTransaction() {
  message_.reset();
  have_mail_ = false;
}

void Session::ProcessCommandLine(std::string_view line) {
  if (line.size() + 2 > limits_->command_line_octets_max &&
      line.size() + 2 > smtp::kMailRcptLineOctetsMax) {
    Reply(500, "5.5.2", "Error: line too long");
    CountError();
    return;
  }
  smtp::Command cmd;
  smtp::ParseResult pr = smtp::ParseCommand(line, &cmd);
  if (pr != smtp::ParseResult::kOk) {
    smtp::Reply r = smtp::ReplyFor(pr);
    Reply(r.code, r.enhanced, r.text);
    CountError();
    return;
  }
  switch (cmd.verb) {
    case smtp::Verb::kHelo:
      HandleEhlo(cmd, false);
      break;
    case smtp::Verb::kEhlo:
      HandleEhlo(cmd, true);
      break;
    case smtp::Verb::kMail:
      HandleMail(cmd);
      break;
    case smtp::Verb::kRcpt:
      HandleRcpt(cmd);
      break;
    case smtp::Verb::kData:
      HandleData();
      break;
    case smtp::Verb::kRset:
      ResetTransaction();
      Reply(250, "2.0.0", "Ok");
      break;
    case smtp::Verb::kNoop:
      Reply(250, "2.0.0", "Ok");
      break;
    case smtp::Verb::kHelp:
      Reply(214, "2.0.0",
            "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY");
      break;
    case smtp::Verb::kVrfy:
      Reply(252, "2.5.2",
            "Cannot VRFY user, but will accept message and attempt delivery");
      break;
    case smtp::Verb::kExpn:
      Reply(502, "5.5.1", "Error: EXPN not supported");
      break;
    case smtp::Verb::kQuit:
      Reply(221, "2.0.0", "Bye");
      Close();
      return;
    case smtp::Verb::kBdat:
    case smtp::Verb::kStartTls:
    case smtp::Verb::kAuth:
      Reply(502, "5.5.1", "Error: command not implemented");
      CountError();
      break;
    case smtp::Verb::kUnknown:
      Reply(500, "5.5.2", "Error: command not recognized");
      CountError();
      break;
  }
  if (shutdown_ && state_ == State::kCommand && !have_mail_) {
    Reply(421, "4.3.2", hostname_ + " Service shutting down, closing connection");
    Close();
  }
}

void Session::HandleEhlo(const smtp::Command& cmd, bool extended) {
  if (cmd.argument.empty()) {
    Reply(501, "5.5.4", "Syntax: EHLO hostname");
    CountError();
    return;
  }
  ResetTransaction();
  helo_.assign(cmd.argument.data(), cmd.argument.size());
  extended_ = extended;
  if (!extended) {
    Reply(250, "", hostname_);
    return;
  }
  std::string& out = host_->Output();
  out += "250-";
  out += hostname_;
  out += "\r\n250-PIPELINING\r\n250-SIZE ";
  out += std::to_string(limits_->message_octets_max);
  out += "\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
  host_->OutputReady();
}

void Session::HandleMail(const smtp::Command& cmd) {
  if (helo_.empty()) {
    Reply(503, "5.5.1", "Error: send HELO/EHLO first");
    CountError();
    return;
  }
  if (have_mail_) {
    Reply(503, "5.5.1", "Error: nested MAIL command");
    CountError();
    return;
  }
  if (cmd.has_size && cmd.size > limits_->message_octets_max) {
    Reject(cmd.path, "", 552, "5.3.4", "Error: message size exceeds fixed limit");
    return;
  }
  if (cmd.smtputf8) {
    Reply(555, "5.5.4", "Error: SMTPUTF8 not supported");
    return;
  }
  if (absl::Status s = host_->SpoolAvailable(); !s.ok()) {
    Reject(cmd.path, "", 452, "4.3.1", "Insufficient system storage");
    return;
  }
  message_ = std::make_unique<IncomingMessage>();
  message_->sender.assign(cmd.path.data(), cmd.path.size());
  message_->eight_bit = cmd.body == smtp::BodyType::k8BitMime;
  have_mail_ = true;
  Reply(250, "2.1.0", "Ok");
}

void Session::HandleRcpt(const smtp::Command& cmd) {
  if (!have_mail_) {
    Reply(503, "5.5.1", "Error: need MAIL command");
    CountError();
    return;
  }
  if (message_->recipients.size() >= limits_->recipients_max) {
    Reject(message_->sender, cmd.path, 452, "4.5.3", "Error: too many recipients");
    return;
  }
  if (!client_.relay_allowed) {
    Reject(message_->sender, cmd.path, 554, "5.7.1", "Relay access denied");
    return;
  }
  if (smtp::DomainOf(cmd.path).empty()) {
    Reject(message_->sender, cmd.path, 550, "5.1.3",
           "Error: recipient address must have a domain");
    return;
  }
  message_->recipients.emplace_back(cmd.path.data(), cmd.path.size());
  Reply(250, "2.1.5", "Ok");
}

void Session::HandleData() {
  if (!have_mail_) {
    Reply(503, "5.5.1", "Error: need MAIL command");
    CountError();
    return;
  }
  if (message_->recipients.empty()) {
    Reply(554, "5.5.1", "Error: no valid recipients");
    return;
  }
  message_->id = host_->NewMessageId();
  message_->received_at_ms = host_->WallClockMs();
  AppendReceivedHeader();
  scanner_.Reset();
  state_ = State::kData;
  Reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

void Session::AppendReceivedHeader() {
  std::string& h = message_->content;
  h.reserve(512);
  h += "Received: from ";
  h += helo_;
  h += " ([";
  h += client_.address;
  h += "])\r\n\tby ";
  h += hostname_;
  h += " (ringpost) with ";
  h += extended_ ? "ESMTP" : "SMTP";
  h += " id ";
  h += FormatId(message_->id);
  h += ";\r\n\t";
  AppendRfc5322Date(message_->received_at_ms, &h);
  h += "\r\n";
}

void Session::FinishData() {
  const uint32_t errors = scanner_.errors();
  if (errors != 0) {
    smtp::Reply r = smtp::DataScanner::ReplyFor(errors);
    state_ = State::kCommand;
    Reject(message_->sender, "", r.code, r.enhanced, r.text);
    ResetTransaction();
    return;
  }
  if (scanner_.saw_8bit()) message_->eight_bit = true;
  state_ = State::kCommitting;
  have_mail_ = false;
  host_->Submit(std::move(message_));
}

void Session::OnSubmitted(absl::Status status, uint64_t id) {
  if (state_ != State::kCommitting) return;
  state_ = State::kCommand;
  if (status.ok()) {
    ++messages_accepted_;
    Reply(250, "2.0.0", "Ok: queued as " + FormatId(id));
  } else if (absl::IsResourceExhausted(status)) {
    Reject("", "", 452, "4.3.1", "Insufficient system storage");
  } else {
    Reject("", "", 451, "4.3.0", "Error: queue file write error");
  }
  ResetTransaction();
  if (shutdown_) {
    Reply(421, "4.3.2", hostname_ + " Service shutting down, closing connection");
    Close();
    return;
  }
  if (paused_) {
    paused_ = false;
    host_->ResumeInput();
  }
  if (!input_.empty()) ProcessBuffered();
}

void Session::OnTimeout() {
  if (state_ == State::kClosed || state_ == State::kCommitting) return;
  Reply(421, "4.4.2", hostname_ + " Error: timeout exceeded");
  Close();
}

void Session::Shutdown() {
  shutdown_ = true;
  if (state_ == State::kCommand && !have_mail_) {
    Reply(421, "4.3.2", hostname_ + " Service shutting down, closing connection");
    Close();
  }
}

std::string FormatMessageId(uint64_t id) { return FormatId(id); }

}  // namespace ringpost::server
