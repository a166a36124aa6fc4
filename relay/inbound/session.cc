// session.cc — see session.h.
#include "relay/inbound/session.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <utility>

#include "queue/message_id.h"

namespace ringpost::server {
namespace {

// Replies that are also reported to the host (delivery log).
struct FixedReply {
  int code;
  const char* enhanced;
  const char* text;
};
constexpr FixedReply kNoSpace{452, "4.3.1", "Insufficient system storage"};
constexpr FixedReply kWriteError{451, "4.3.0", "Error: queue file write error"};

// "<code> <enhanced> <text>\r\n" (no enhanced part when it is empty).
void AppendReply(int code, std::string_view enhanced, std::string_view text,
                 std::string* out) {
  char num[4] = {static_cast<char>('0' + code / 100),
                 static_cast<char>('0' + code / 10 % 10),
                 static_cast<char>('0' + code % 10), ' '};
  out->append(num, 4);
  if (!enhanced.empty()) {
    out->append(enhanced);
    out->push_back(' ');
  }
  out->append(text);
  out->append("\r\n");
}

void AppendReply(const FixedReply& r, std::string* out) {
  AppendReply(r.code, r.enhanced, r.text, out);
}

// RFC 5322 date-time in UTC. Formatted once per second per thread: every
// message of that second reuses it.
void AppendRfc5322Date(int64_t ms, std::string* out) {
  thread_local time_t cached_secs = -1;
  thread_local char cached[64];
  thread_local size_t cached_len = 0;
  const time_t secs = static_cast<time_t>(ms / 1000);
  if (secs != cached_secs) {
    struct tm tm;
    gmtime_r(&secs, &tm);
    cached_len = strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    cached_secs = secs;
  }
  out->append(cached, cached_len);
}

// Header lines of `content` (CRLF line ends only) that begin with
// "Received:" in any case, up to the first empty line; stops counting at
// `enough`. Only the header section is read, a line at a time.
size_t CountReceivedHeaders(std::string_view content, size_t enough) {
  size_t count = 0;
  const char* p = content.data();
  const char* const end = p + content.size();
  // Bounded: each iteration moves p past one line.
  while (p < end && count < enough && *p != '\r') {
    constexpr std::string_view kReceived = "Received:";
    if ((*p | 0x20) == 'r' && static_cast<size_t>(end - p) >= kReceived.size() &&
        smtp::AsciiEqualsIgnoreCase(std::string_view(p, kReceived.size()), kReceived)) {
      ++count;
    }
    const void* lf = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (lf == nullptr) break;
    p = static_cast<const char*>(lf) + 1;
  }
  return count;
}

// At most this much of a client's declared size (SIZE=, a BDAT chunk) is
// reserved ahead: the declaration is not yet the octets.
constexpr uint64_t kReserveAheadMax = 1 << 20;

// The longest command line read before it is refused, judged from its start
// (the whole line may not be here yet): RFC 4954's bound for AUTH, whose
// initial response can be long, else RFC 5321's grown for MAIL/RCPT
// parameters.
size_t CommandOctetsAllowed(std::string_view line_start) {
  constexpr std::string_view kAuth = "AUTH ";
  return line_start.size() >= kAuth.size() &&
                 smtp::AsciiEqualsIgnoreCase(line_start.substr(0, kAuth.size()), kAuth)
             ? smtp::kAuthLineOctetsMax
             : smtp::kMailRcptLineOctetsMax;
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

// An empty, ready slot at the back of held_ (its text keeps its capacity).
Session::Held& Session::PushHeld() {
  Held& h = held_.push_back();
  h.commit_id = 0;
  h.commit = CommitReply::kNone;
  h.text.clear();
  return h;
}

std::string& Session::Out() {
  if (held_.empty()) return host_->Output();
  if (!held_.back().ready()) PushHeld();
  return held_.back().text;
}

void Session::OutReady() {
  if (held_.empty()) host_->OutputReady();
}

// Moves every ready reply at the front of the held queue to the client.
void Session::FlushHeld() {
  bool any = false;
  while (!held_.empty() && held_.front().ready()) {
    Held& h = held_.front();
    std::string& out = host_->Output();
    switch (h.commit) {
      case CommitReply::kQueued:
        out.append("250 2.0.0 Ok: queued as ");
        queue::AppendMessageId(h.commit_id, &out);
        out.append("\r\n");
        break;
      case CommitReply::kNoSpace:
        AppendReply(kNoSpace, &out);
        break;
      case CommitReply::kWriteError:
        AppendReply(kWriteError, &out);
        break;
      case CommitReply::kNone:
      case CommitReply::kPending:
        break;
    }
    out.append(h.text);
    held_.pop_front();
    any = true;
  }
  if (any) host_->OutputReady();
  if (held_.empty() && close_when_flushed_) {
    close_when_flushed_ = false;
    host_->CloseAfterOutput();
  }
}

void Session::Reply(int code, std::string_view enhanced, std::string_view text) {
  AppendReply(code, enhanced, text, &Out());
  OutReady();
}

void Session::Reject(std::string_view sender, std::string_view recipient, int code,
                     std::string_view enhanced, std::string_view text) {
  Reply(code, enhanced, text);
  host_->OnRejected(sender, recipient, code, enhanced, text);
}

bool Session::CanProcess() const {
  return state_ != State::kClosed && state_ != State::kTlsHandshake && !starttls_waiting_ &&
         commits_in_flight_ < limits_->commits_in_flight_max;
}

void Session::Feed(std::string_view data) {
  // During the handshake the host feeds nothing; were it to, those bytes
  // could only be plaintext sent after STARTTLS: dropped.
  if (state_ == State::kClosed || state_ == State::kTlsHandshake) return;
  if (input_.empty() && CanProcess()) {
    // Common case: process straight from the receive buffer.
    input_view_ = data;
    Process();
    if (state_ != State::kClosed && !input_view_.empty()) {
      input_.assign(input_view_.data(), input_view_.size());
    }
    input_view_ = {};
  } else {
    input_.append(data);
    if (!CanProcess()) {
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
  while (!input_view_.empty() && CanProcess()) {
    if (state_ == State::kData) {
      smtp::DataScanner::Result r = scanner_.Scan(input_view_, &message_->content);
      input_view_.remove_prefix(r.consumed);
      if (r.status != smtp::DataScanner::Status::kDone) return;
      FinishData();
      continue;
    }
    if (state_ == State::kBdat) {
      ConsumeBdat();
      continue;
    }
    if (state_ == State::kAuth) {
      if (!ReadAuthLine()) return;
      continue;
    }

    const size_t lf = input_view_.find('\n');
    if (lf == std::string_view::npos) {
      if (input_view_.size() > CommandOctetsAllowed(input_view_)) {
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
    ++commands_read_;
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
  if (held_.empty()) {
    host_->CloseAfterOutput();
  } else {
    close_when_flushed_ = true;  // after the pending commits' replies
  }
}

void Session::ResetTransaction() {
  message_.reset();
  have_mail_ = false;
  bdat_started_ = false;
  bdat_remaining_ = 0;
  bdat_octets_ = 0;
  bdat_last_ = false;
  bdat_lines_.Reset();
  bdat_error_code_ = 0;
}

void Session::ProcessCommandLine(std::string_view line) {
  if (line.size() + 2 > limits_->command_line_octets_max &&
      line.size() + 2 > CommandOctetsAllowed(line)) {
    Reply(500, "5.5.2", "Error: line too long");
    CountError();
    return;
  }
  smtp::Command cmd;
  smtp::ParseResult pr = smtp::ParseCommand(line, &cmd);
  if (pr != smtp::ParseResult::kOk) {
    if (cmd.verb == smtp::Verb::kBdat) {
      RefuseUnframeableBdat();
      return;
    }
    smtp::Reply r = smtp::ReplyFor(pr, cmd);
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
      HandleBdat(cmd);
      break;
    case smtp::Verb::kStartTls:
      HandleStartTls();
      break;
    case smtp::Verb::kAuth:
      HandleAuth(cmd);
      break;
    case smtp::Verb::kUnknown:
      Reply(500, "5.5.2", "Error: command not recognized");
      CountError();
      break;
  }
  MaybeShutdown();
}

void Session::MaybeShutdown() {
  if (shutdown_ && state_ == State::kCommand && !have_mail_ && commits_in_flight_ == 0) {
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
  std::string& out = Out();
  out += "250-";
  out += hostname_;
  out += "\r\n250-PIPELINING\r\n250-SIZE ";
  out += std::to_string(limits_->message_octets_max);
  out += "\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n";
  if (client_.tls_available && !tls_active_) out += "250-STARTTLS\r\n";
  // Never in plaintext: the password would cross the network in clear.
  if (client_.auth_available && tls_active_) out += "250-AUTH PLAIN LOGIN\r\n";
  out += "250 ENHANCEDSTATUSCODES\r\n";
  OutReady();
}

void Session::HandleMail(const smtp::Command& cmd) {
  if (helo_.empty()) {
    Reply(503, "5.5.1", "Error: send HELO/EHLO first");
    CountError();
    return;
  }
  if (client_.require_tls && !tls_active_) {
    Reject(cmd.path, "", 530, "5.7.0", "Must issue a STARTTLS command first");
    return;
  }
  if (client_.require_auth && auth_user_.empty()) {
    Reject(cmd.path, "", 530, "5.7.0", "Authentication required");
    return;
  }
  if (have_mail_) {
    Reply(503, "5.5.1", "Error: nested MAIL command");
    CountError();
    return;
  }
  if (const uint8_t refused = RefusedMailParam(cmd); refused != smtp::kParamsMax) {
    RefuseParam(cmd, cmd.params[refused], "");
    return;
  }
  if (cmd.body == smtp::BodyType::kBinaryMime) {  // BINARYMIME is not offered
    Reject(cmd.path, "", 555, "5.5.4", "Error: BODY=BINARYMIME not supported");
    return;
  }
  if (cmd.path_utf8 && !cmd.smtputf8) {
    Reject(cmd.path, "", 553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8");
    return;
  }
  if (cmd.has_size && cmd.size > limits_->message_octets_max) {
    Reject(cmd.path, "", 552, "5.3.4", "Error: message size exceeds fixed limit");
    return;
  }
  if (absl::Status s = host_->SpoolAvailable(); !s.ok()) {
    // No space (or the queue memory limit): 452 4.3.1. A spool that cannot
    // make a segment for another reason (EIO, EROFS, EACCES): 451 4.3.0.
    const FixedReply& r = absl::IsResourceExhausted(s) ? kNoSpace : kWriteError;
    Reject(cmd.path, "", r.code, r.enhanced, r.text);
    return;
  }
  // A new transaction: nothing of an earlier BDAT without MAIL carries over.
  ResetTransaction();
  message_ = host_->NewIncomingMessage();
  message_->sender.assign(cmd.path.data(), cmd.path.size());
  size_hint_ = cmd.has_size ? cmd.size : 0;
  message_->eight_bit = cmd.body == smtp::BodyType::k8BitMime;
  message_->smtputf8 = cmd.smtputf8;
  StoreMailDsn(cmd);
  have_mail_ = true;
  Reply(250, "2.1.0", "Ok");
}

void Session::HandleRcpt(const smtp::Command& cmd) {
  if (!have_mail_) {
    Reply(503, "5.5.1", "Error: need MAIL command");
    CountError();
    return;
  }
  if (cmd.unknown_param != smtp::kParamsMax) {
    RefuseParam(cmd, cmd.params[cmd.unknown_param], cmd.path);
    return;
  }
  if (cmd.path_utf8 && !message_->smtputf8) {
    Reject(message_->sender, cmd.path, 553, "5.6.7",
           "Error: non-ASCII address requires SMTPUTF8");
    return;
  }
  if (message_->recipients.size() >= limits_->recipients_max) {
    Reject(message_->sender, cmd.path, 452, "4.5.3", "Error: too many recipients");
    return;
  }
  // RFC 5321 4.5.1: <Postmaster> (any case, no domain) is accepted from any
  // client and goes to the configured postmaster.
  if (smtp::DomainOf(cmd.path).empty() &&
      smtp::AsciiEqualsIgnoreCase(cmd.path, "postmaster")) {
    StoreRcptDsn(cmd);
    message_->recipients.push_back(limits_->postmaster);
    Reply(250, "2.1.5", "Ok");
    return;
  }
  // An authenticated client relays like one in relay_networks.
  if (!client_.relay_allowed && auth_user_.empty()) {
    Reject(message_->sender, cmd.path, 554, "5.7.1", "Relay access denied");
    return;
  }
  if (smtp::DomainOf(cmd.path).empty()) {
    Reject(message_->sender, cmd.path, 550, "5.1.3",
           "Error: recipient address must have a domain");
    return;
  }
  StoreRcptDsn(cmd);
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
  if (bdat_started_) {
    Reply(503, "5.5.1", "Error: DATA after BDAT in the same transaction");
    CountError();
    return;
  }
  StartContent(size_hint_);
  scanner_.Reset();
  state_ = State::kData;
  Reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

void Session::StartContent(uint64_t content_hint) {
  message_->id = host_->NewMessageId();
  message_->received_at_ms = host_->WallClockMs();
  message_->auth_user = auth_user_;
  message_->tls = tls_;
  AppendReceivedHeader(content_hint);
  content_start_ = message_->content.size();
}

void Session::RefuseParam(const smtp::Command& cmd, const smtp::Param& p,
                          std::string_view recipient) {
  std::string text = "Error: unsupported parameter ";
  text.append(p.keyword.substr(0, 64));  // letters, digits, '-' (parser)
  const std::string_view sender =
      cmd.verb == smtp::Verb::kMail ? cmd.path : std::string_view(message_->sender);
  Reject(sender, recipient, 555, "5.5.4", text);
}

bool Session::TooManyHops() const {
  // Ours counts too (Postfix counts its own): the client may bring
  // hops_max - 1 at most.
  const size_t allowed = limits_->hops_max == 0 ? 0 : limits_->hops_max - 1;
  std::string_view content = message_->content;
  content.remove_prefix(std::min(content_start_, content.size()));
  return CountReceivedHeaders(content, allowed + 1) > allowed;
}

// The size of a BDAT chunk is its framing: without it the octets that follow
// cannot be told from commands, so the session ends (Postfix: 521, close).
void Session::RefuseUnframeableBdat() {
  constexpr std::string_view kText =
      "Error: malformed BDAT command, expected BDAT size [LAST]; closing connection";
  if (have_mail_) {
    Reject(message_->sender, "", 521, "5.5.4", kText);
  } else {
    Reply(521, "5.5.4", kText);
  }
  ResetTransaction();
  Close();
}

// BDAT <size> [LAST] (RFC 3030). The chunk's octets follow the command line
// and are read whatever the outcome, so the session stays in sync with the
// client; errors are answered once the chunk is consumed.
// A chunk past the size limit is refused before anything is reserved or
// buffered: its octets are read and dropped (ConsumeBdat), then 552.
void Session::HandleBdat(const smtp::Command& cmd) {
  bdat_remaining_ = cmd.bdat_size;
  bdat_last_ = cmd.bdat_last;
  state_ = State::kBdat;
  if (bdat_error_code_ != 0) {
    // The transaction already failed: this chunk is dropped too.
  } else if (!have_mail_) {
    bdat_error_code_ = 503;
    bdat_error_enhanced_ = "5.5.1";
    bdat_error_text_ = "Error: need MAIL command";
  } else if (message_->recipients.empty()) {
    bdat_error_code_ = 554;
    bdat_error_enhanced_ = "5.5.1";
    bdat_error_text_ = "Error: no valid recipients";
  } else if (cmd.bdat_size > limits_->message_octets_max - bdat_octets_) {
    // bdat_octets_ <= the limit, so neither side can wrap.
    bdat_error_code_ = 552;
    bdat_error_enhanced_ = "5.3.4";
    bdat_error_text_ = "Error: message size exceeds fixed limit";
  } else {
    if (!bdat_started_) {
      bdat_started_ = true;
      StartContent(cmd.bdat_size);
    }
    bdat_octets_ += cmd.bdat_size;
    message_->content.reserve(message_->content.size() +
                              std::min(cmd.bdat_size, kReserveAheadMax));
  }
  if (bdat_remaining_ == 0) FinishChunk();
}

void Session::ConsumeBdat() {
  const size_t n = static_cast<size_t>(
      std::min<uint64_t>(bdat_remaining_, input_view_.size()));
  std::string_view chunk = input_view_.substr(0, n);
  input_view_.remove_prefix(n);
  bdat_remaining_ -= n;
  if (bdat_error_code_ == 0) {
    // A bare CR or LF rejects the message, as in DATA (see header).
    bdat_lines_.Feed(chunk.data(), chunk.data() + chunk.size());
    message_->content.append(chunk);
  }
  if (bdat_remaining_ == 0) FinishChunk();
}

void Session::FinishChunk() {
  state_ = State::kCommand;
  if (bdat_error_code_ != 0) {
    const int code = bdat_error_code_;
    const char* enhanced = bdat_error_enhanced_;
    const char* text = bdat_error_text_;
    const std::string sender = have_mail_ ? message_->sender : std::string();
    if (bdat_last_) ResetTransaction();
    if (code == 503) {
      Reply(code, enhanced, text);
      CountError();
    } else {
      Reject(sender, "", code, enhanced, text);
    }
    return;
  }
  if (!bdat_last_) {
    Reply(250, "2.0.0", std::to_string(message_->content.size()) + " octets received");
    return;
  }
  if (!bdat_lines_.ok()) {
    const std::string sender = message_->sender;
    ResetTransaction();
    Reject(sender, "", 550, "5.6.11",
           "Error: bare CR or LF in message content; lines must end with CRLF");
    return;
  }
  if (TooManyHops()) {
    const std::string sender = message_->sender;
    ResetTransaction();
    Reject(sender, "", 554, "5.4.0", "Too many hops");
    return;
  }
  if (bdat_lines_.eight_bit()) message_->eight_bit = true;
  SubmitMessage();
}

void Session::AppendReceivedHeader(uint64_t content_hint) {
  std::string& h = message_->content;
  // One allocation for the header and the content that follows it (the BDAT
  // chunk size, or SIZE= of MAIL FROM for DATA), within the size limit.
  // Capped: the hint comes from the client.
  h.reserve(512 + std::min({content_hint, limits_->message_octets_max, kReserveAheadMax}));
  h += "Received: from ";
  h += helo_;
  h += " ([";
  h += client_.address;
  h += "])\r\n\t";
  if (tls_active_) {
    h += "(using ";
    h += tls_;
    h += ")\r\n\t";
  }
  h += "by ";
  h += hostname_;
  h += " (ringpost) with ";
  // RFC 3848: S for TLS, A for AUTH, registered for ESMTP only (HELO over
  // TLS stays "SMTP"). AUTH needs EHLO, and an identity outlives a later
  // HELO (as in Postfix), so an authenticated session is ESMTP[S]A whatever
  // greeting came last. Who authenticated is not written: the header
  // travels with the message.
  if (extended_ || !auth_user_.empty()) {
    h += "ESMTP";
    if (tls_active_) h += 'S';
    if (!auth_user_.empty()) h += 'A';
  } else {
    h += "SMTP";
  }
  h += " id ";
  queue::AppendMessageId(message_->id, &h);
  h += ";\r\n\t";
  AppendRfc5322Date(message_->received_at_ms, &h);
  h += "\r\n";
}

void Session::FinishData() {
  state_ = State::kCommand;
  const uint32_t errors = scanner_.errors();
  if (errors != 0) {
    smtp::Reply r = smtp::DataScanner::ReplyFor(errors);
    Reject(message_->sender, "", r.code, r.enhanced, r.text);
    ResetTransaction();
    return;
  }
  if (TooManyHops()) {
    Reject(message_->sender, "", 554, "5.4.0", "Too many hops");
    ResetTransaction();
    return;
  }
  if (scanner_.saw_8bit()) message_->eight_bit = true;
  SubmitMessage();
}

// Hands the message to the spool. Its reply is held in order until
// OnSubmitted; later commands go on being processed.
void Session::SubmitMessage() {
  Held& h = PushHeld();
  h.commit_id = message_->id;
  h.commit = CommitReply::kPending;
  ++commits_in_flight_;
  std::unique_ptr<IncomingMessage> m = std::move(message_);
  ResetTransaction();
  host_->Submit(std::move(m));
}

void Session::OnSubmitted(absl::Status status, uint64_t id) {
  Held* slot = nullptr;
  for (size_t i = 0; i < held_.size(); ++i) {
    Held& h = held_[i];
    if (h.commit == CommitReply::kPending && h.commit_id == id) {
      slot = &h;
      break;
    }
  }
  if (slot == nullptr) return;  // not ours (cannot happen; tolerated)
  --commits_in_flight_;
  if (status.ok()) {
    ++messages_accepted_;
    slot->commit = CommitReply::kQueued;
  } else if (absl::IsResourceExhausted(status)) {
    slot->commit = CommitReply::kNoSpace;
    host_->OnRejected("", "", kNoSpace.code, kNoSpace.enhanced, kNoSpace.text);
  } else {
    slot->commit = CommitReply::kWriteError;
    host_->OnRejected("", "", kWriteError.code, kWriteError.enhanced, kWriteError.text);
  }
  FlushHeld();
  if (state_ == State::kClosed) return;
  MaybeShutdown();
  if (state_ == State::kClosed) return;
  if (starttls_waiting_) {
    // Every reply before the STARTTLS is out once the last commit is.
    if (commits_in_flight_ == 0) AcceptStartTls();
    return;
  }
  if (paused_ && CanProcess()) {
    paused_ = false;
    host_->ResumeInput();
  }
  if (!input_.empty() && CanProcess()) ProcessBuffered();
}

void Session::OnTimeout() {
  if (state_ == State::kClosed || commits_in_flight_ > 0) return;
  // Mid-handshake a reply could be neither plaintext nor encrypted: just close.
  if (state_ != State::kTlsHandshake) Reply(421, "4.4.2", hostname_ + " Error: timeout exceeded");
  Close();
}

void Session::Shutdown() {
  shutdown_ = true;
  MaybeShutdown();
}

}  // namespace ringpost::server
