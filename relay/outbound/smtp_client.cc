// smtp_client.cc — see smtp_client.h.
//
// Every transaction, in every mode, is a Message (one Begin) sent as one or
// more Parts (SMTP transactions) queued in parts_ in wire order; a reply
// always belongs to the front Part. Lock-step and pipelined modes have one
// Part on the wire at a time; streaming mode writes Parts back to back.
#include "relay/outbound/smtp_client.h"

#include "base/check.h"
#include <utility>

#include "relay/smtp/dot_stuffer.h"
#include "relay/smtp/mime_downgrade.h"
#include "relay/smtp/xtext.h"

namespace ringpost::client {
namespace {

bool Positive(int code) { return code >= 200 && code < 300; }
bool Negative(int code) { return code >= 400 && code < 600; }

// The reply's enhanced code and its text after that code.
std::string_view ReplyText(const smtp::ServerReply& reply) {
  std::string_view text = reply.text;
  text.remove_prefix(reply.EnhancedText().size());
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

void Set(RecipientOutcome& o, int code, std::string_view enhanced,
         std::string_view text) {
  o.code = code;
  o.enhanced.assign(enhanced.data(), enhanced.size());
  o.text.assign(text.data(), text.size());
  o.next_hop_dsn = false;  // the final 2xx sets it (OnPartReply)
}

// " NOTIFY=..." for queue::kNotify* bits (0: nothing), in RFC 3461's order.
void AppendNotify(uint8_t bits, std::string* out) {
  bits &= queue::kNotifySuccess | queue::kNotifyFailure | queue::kNotifyDelay |
          queue::kNotifyNever;
  if (bits == 0) return;
  out->append(" NOTIFY=");
  if ((bits & queue::kNotifyNever) != 0) {
    out->append("NEVER");
    return;
  }
  std::string_view sep;
  if ((bits & queue::kNotifySuccess) != 0) {
    out->append("SUCCESS");
    sep = ",";
  }
  if ((bits & queue::kNotifyFailure) != 0) {
    out->append(sep);
    out->append("FAILURE");
    sep = ",";
  }
  if ((bits & queue::kNotifyDelay) != 0) {
    out->append(sep);
    out->append("DELAY");
  }
}

// " ORCPT=addr-type;xtext" for a decoded "addr-type;address". A value that
// is not of that shape, or whose addr-type could not stand in an ESMTP
// parameter (the session never stores one), is not sent.
void AppendOrcpt(std::string_view orcpt, std::string* out) {
  const size_t semi = orcpt.find(';');
  if (semi == 0 || semi == std::string_view::npos) return;
  const std::string_view type = orcpt.substr(0, semi);
  for (char c : type) {
    if (c < 33 || c > 126 || c == '=') return;
  }
  out->append(" ORCPT=");
  out->append(type);
  out->push_back(';');
  smtp::XtextEncode(orcpt.substr(semi + 1), out);
}

void DecideOne(RecipientOutcome& o, const smtp::ServerReply& reply) {
  if (o.code != 0) return;
  if (reply.code == 503) {
    // "Bad sequence of commands" says the dialogue went wrong (e.g. a peer
    // still in the last transaction when the next pipelined MAIL came), not
    // that the recipient is refused: never a bounce.
    std::string text = "bad sequence of commands at the destination: ";
    text.append(ReplyText(reply));
    Set(o, 451, "4.5.1", text);
    return;
  }
  Set(o, reply.code, reply.EnhancedText(), ReplyText(reply));
}

void DecideLocal(std::vector<RecipientOutcome>& outcomes, int code,
                 std::string_view enhanced, std::string_view text) {
  for (RecipientOutcome& o : outcomes) {
    if (o.code == 0) Set(o, code, enhanced, text);
  }
}

// RFC 5321 4.5.3.1.10: "452 too many recipients" (enhanced 4.5.3, RFC 3463).
bool TooManyRecipients(const smtp::ServerReply& reply) {
  if (reply.has_enhanced && reply.enhanced.klass == 4 &&
      reply.enhanced.subject == 5 && reply.enhanced.detail == 3) {
    return true;
  }
  return reply.code == 452;
}

std::string Unexpected(std::string_view step, const smtp::ServerReply& reply) {
  std::string s = "protocol error: unexpected reply to ";
  s.append(step);
  s.append(": ");
  s.append(std::to_string(reply.code));
  s.push_back(' ');
  s.append(reply.text);
  return s;
}

}  // namespace

SmtpClient::SmtpClient(ClientHost* host, std::string helo_name)
    : host_(host), helo_name_(std::move(helo_name)) {}

void SmtpClient::Feed(std::string_view data) {
  // Each round consumes input or stops: bounded by data.size(). Nothing
  // fed during the handshake is a reply: it was sent in plaintext after the
  // 220 to STARTTLS, where an attacker may have injected it.
  while (!data.empty() && state_ != State::kEnded &&
         state_ != State::kTlsHandshake) {
    smtp::ReplyParser::Result r = parser_.Parse(data, &reply_);
    data.remove_prefix(r.consumed);
    if (r.status == smtp::ReplyParser::Status::kNeedMore) return;
    if (r.status == smtp::ReplyParser::Status::kError) {
      End(451, "4.5.0", "protocol error: malformed reply from server");
      return;
    }
    // The rest of this read stays unread even when the host finishes the
    // handshake within StartTls(), before OnReply returns.
    const bool last_plaintext = state_ == State::kStartTls && reply_.code == 220;
    OnReply(reply_);
    if (last_plaintext) return;
  }
}

void SmtpClient::SendLine(std::string_view a, std::string_view b,
                          std::string_view c) {
  std::string& out = host_->Output();
  out.append(a);
  out.append(b);
  out.append(c);
  out.append("\r\n");
}

void SmtpClient::OnReply(const smtp::ServerReply& reply) {
  const bool ok = Positive(reply.code);
  const bool failed = Negative(reply.code);
  switch (state_) {
    case State::kGreeting:
      if (reply.code == 220) {
        SendLine("EHLO ", helo_name_);
        host_->OutputReady();
        state_ = State::kEhlo;
        return;
      }
      if (failed) return EndWithReply(reply);
      return End(451, "4.5.0", Unexpected("the greeting", reply));
    case State::kEhlo:
      if (ok) {
        caps_ = smtp::ParseEhloCapabilities(reply);
        return AfterHello();
      }
      if (reply.code >= 500) {
        SendLine("HELO ", helo_name_);
        host_->OutputReady();
        state_ = State::kHelo;
        return;
      }
      if (failed) return EndWithReply(reply);
      return End(451, "4.5.0", Unexpected("EHLO", reply));
    case State::kHelo:
      if (ok) {
        caps_ = smtp::EhloCapabilities{};
        return AfterHello();
      }
      if (failed) return EndWithReply(reply);
      return End(451, "4.5.0", Unexpected("HELO", reply));
    case State::kStartTls:
      return OnStartTlsReply(reply);
    case State::kBusy:
      return OnPartReply(reply);
    case State::kRset:
      if (ok) {
        if (resume_ != nullptr) {
          Message* msg = resume_;
          resume_ = nullptr;
          StartPart(msg);
          host_->OutputReady();
          return;
        }
        state_ = State::kIdle;
        return NotifyIdle();
      }
      if (failed) return EndWithReply(reply);
      return End(451, "4.5.0", Unexpected("RSET", reply));
    case State::kQuit:
      return End(reply.code, reply.EnhancedText(), ReplyText(reply));
    case State::kIdle:
      // Unsolicited (typically 421 before the server hangs up).
      if (failed) return EndWithReply(reply);
      return End(451, "4.5.0", Unexpected("nothing", reply));
    case State::kTlsHandshake:  // Feed() reads nothing during the handshake
    case State::kEnded:
      return;
  }
}

void SmtpClient::set_tls(TlsWant want) {
  CHECK(state_ == State::kGreeting);
  tls_want_ = want;
}

void SmtpClient::AfterHello() {
  // Inside TLS a STARTTLS offered again is ignored (RFC 3207 4: no second
  // TLS session while one is active).
  if (!tls_active_ && tls_want_ != TlsWant::kNone) {
    if (caps_.Has(smtp::kExtStartTls)) {
      SendLine("STARTTLS");
      host_->OutputReady();
      state_ = State::kStartTls;
      return;
    }
    if (tls_want_ == TlsWant::kRequire) {
      return EndWithoutTls("TLS is required, but the server does not offer STARTTLS");
    }
  }
  state_ = State::kIdle;
  NotifyIdle();
}

void SmtpClient::OnStartTlsReply(const smtp::ServerReply& reply) {
  if (reply.code == 220) {
    // Before the call: the host may finish the handshake inside it.
    state_ = State::kTlsHandshake;
    host_->StartTls();
    return;
  }
  if (tls_want_ == TlsWant::kRequire) {
    std::string text = "TLS is required, but the server refused STARTTLS: ";
    text.append(std::to_string(reply.code));
    text.push_back(' ');
    text.append(reply.text);
    return EndWithoutTls(text);
  }
  // 421 ends the session at any step.
  if (reply.code == 421) return EndWithReply(reply);
  if (Negative(reply.code)) {
    // kMay: RFC 3207 4 lets the client go on in plaintext, and nothing
    // there voids what the first EHLO offered.
    state_ = State::kIdle;
    return NotifyIdle();
  }
  End(451, "4.5.0", Unexpected("STARTTLS", reply));
}

void SmtpClient::TlsEstablished() {
  if (state_ == State::kEnded) return;
  CHECK(state_ == State::kTlsHandshake);
  tls_active_ = true;
  // RFC 3207 4.2: what the server said in plaintext is void; only the
  // answer to the EHLO inside TLS counts.
  caps_ = smtp::EhloCapabilities{};
  SendLine("EHLO ", helo_name_);
  host_->OutputReady();
  state_ = State::kEhlo;
}

void SmtpClient::EndWithoutTls(std::string_view text) {
  // QUIT without waiting for its reply (as Postfix does by default): a host
  // that closes gracefully lets the queued QUIT leave first. 451 like the
  // client's other local reasons to end; 4.7.5 (RFC 3463: cryptographic
  // failure) says why.
  SendLine("QUIT");
  host_->OutputReady();
  End(451, "4.7.5", text);
}

void SmtpClient::OnPartReply(const smtp::ServerReply& reply) {
  CHECK(!parts_.empty());
  // 421 answers any command when the server is about to close: everything
  // in flight ends here, with that reply.
  if (reply.code == 421) return EndWithReply(reply);
  const bool ok = Positive(reply.code);
  const bool failed = Negative(reply.code);
  Part& p = parts_.front();
  Message* msg = p.msg;
  switch (p.stage) {
    case Part::kMail:
      if (!ok && !failed) return End(451, "4.5.0", Unexpected("MAIL", reply));
      if (failed) {
        p.mail_failed = true;
        for (uint32_t i : p.rcpts) DecideOne(msg->outcomes[i], reply);
      }
      p.stage = Part::kRcpt;
      if (!pipelining()) {
        if (p.mail_failed) return EndPart(true);
        SendRcpt(p, 0);
        host_->OutputReady();
      }
      return;
    case Part::kRcpt: {
      if (!ok && !failed) return End(451, "4.5.0", Unexpected("RCPT", reply));
      const uint32_t index = p.rcpts[p.rcpt_replies];
      if (p.mail_failed) {
        // Decided by the MAIL reply.
      } else if (ok) {
        ++p.rcpt_accepted;
      } else {
        DecideOne(msg->outcomes[index], reply);
        if (TooManyRecipients(reply)) p.too_many.push_back(index);
      }
      if (++p.rcpt_replies < p.rcpts.size()) {
        if (!pipelining()) {
          SendRcpt(p, p.rcpt_replies);
          host_->OutputReady();
        }
        return;
      }
      // With CHUNKING the BDAT LAST reply is the transaction's final reply.
      p.stage = p.bdat ? Part::kFinal : Part::kData;
      if (!pipelining()) {
        if (p.rcpt_accepted == 0) return EndPart(true);
        if (p.bdat) {
          SendBdat(p);
        } else {
          SendLine("DATA");
        }
        host_->OutputReady();
      }
      return;
    }
    case Part::kData:
      if (reply.code == 354) {
        p.stage = Part::kFinal;
        if (!SendContent(p)) {
          // Nothing of the content left; only closing the connection
          // abandons the DATA now (a "." would deliver what was sent).
          DecideLocal(msg->outcomes, 554, "5.6.0",
                      "message has lines longer than 1000 octets and the "
                      "destination does not offer CHUNKING");
          msg->pending.clear();
          return End(451, "4.4.2", "data transfer abandoned: lines too long");
        }
        host_->OutputReady();
        return;
      }
      if (failed) {
        for (uint32_t i : p.rcpts) DecideOne(msg->outcomes[i], reply);
        return EndPart(true);
      }
      // Above all never a 2xx: no content was sent, nothing is delivered.
      return End(451, "4.5.0", Unexpected("DATA", reply));
    case Part::kFinal:
      if (ok || failed) {
        // Decides every recipient its RCPT accepted.
        const bool next_hop_dsn = ok && caps_.Has(smtp::kExtDsn);
        for (uint32_t i : p.rcpts) {
          RecipientOutcome& o = msg->outcomes[i];
          if (o.code != 0) continue;
          DecideOne(o, reply);
          o.next_hop_dsn = next_hop_dsn;
        }
        return EndPart(false);
      }
      return End(451, "4.5.0",
                 Unexpected(p.bdat ? "BDAT LAST" : "the end of data", reply));
  }
}

bool SmtpClient::streaming() const {
  return max_in_flight_ > 1 && caps_.Has(smtp::kExtPipelining) &&
         caps_.Has(smtp::kExtChunking);
}

bool SmtpClient::can_begin() const {
  if (state_ == State::kIdle) return true;
  return state_ == State::kBusy && streaming() &&
         parts_.size() < max_in_flight_;
}

Wait SmtpClient::waiting_for() const {
  switch (state_) {
    case State::kGreeting:
      return Wait::kGreeting;
    case State::kEhlo:
    case State::kHelo:
    case State::kStartTls:
    case State::kTlsHandshake:  // the host's handshake, under the same timeout
    case State::kRset:
    case State::kQuit:
      return Wait::kCommand;
    case State::kBusy:
      switch (parts_.front().stage) {
        case Part::kMail:
          return Wait::kMail;
        case Part::kRcpt:
          return Wait::kRcpt;
        case Part::kData:
          return Wait::kDataInit;
        case Part::kFinal:
          return Wait::kDataTerm;
      }
      return Wait::kNone;
    case State::kIdle:
    case State::kEnded:
      return Wait::kNone;
  }
  return Wait::kNone;
}

SmtpClient::Message* SmtpClient::NewMessage() {
  if (free_.empty()) {
    messages_.push_back(std::make_unique<Message>());
    return messages_.back().get();
  }
  Message* msg = free_.back();
  free_.pop_back();
  return msg;
}

void SmtpClient::ReleaseMessage(Message* msg) {
  // A downgraded copy is rare and may be large: not kept.
  if (!msg->converted.empty()) std::string().swap(msg->converted);
  free_.push_back(msg);
}

bool SmtpClient::CheckLocally(const Transaction& txn, Message* msg) {
  if (txn.smtputf8 && !caps_.Has(smtp::kExtSmtpUtf8)) {
    DecideLocal(msg->outcomes, 553, "5.6.7",
                "destination does not support SMTPUTF8");
    return false;
  }
  // 8-bit octets, declared (BODY=8BITMIME) or not, never go to a peer
  // without 8BITMIME: they are converted to quoted-printable (RFC 6152
  // section 3). The scan runs only for such peers.
  if (!caps_.Has(smtp::kExt8BitMime) && smtp::HasEightBit(txn.content)) {
    std::string_view why;
    if (!smtp::DowngradeTo7Bit(txn.content, &msg->converted, &why)) {
      std::string text =
          "conversion required and prohibited: the destination does not "
          "offer 8BITMIME and ";
      text.append(why);
      DecideLocal(msg->outcomes, 554, "5.6.3", text);
      return false;
    }
    msg->txn.content = msg->converted;
    msg->txn.eight_bit = false;
  }
  if (caps_.size_max != 0 && msg->txn.content.size() > caps_.size_max) {
    DecideLocal(msg->outcomes, 552, "5.3.4",
                "message size exceeds the destination's SIZE limit");
    return false;
  }
  return true;
}

void SmtpClient::Begin(const Transaction& txn) {
  CHECK(can_begin());
  CHECK(!txn.recipients.empty());
  CHECK(txn.notify.empty() || txn.notify.size() == txn.recipients.size());
  CHECK(txn.orcpt.empty() || txn.orcpt.size() == txn.recipients.size());
  // A pooled Message keeps its vectors' and strings' capacity.
  Message* msg = NewMessage();
  msg->txn = txn;
  msg->outcomes.resize(txn.recipients.size());
  for (RecipientOutcome& o : msg->outcomes) {
    o.code = 0;
    o.enhanced.clear();
    o.text.clear();
    o.next_hop_dsn = false;
  }
  msg->parts = 0;
  if (!CheckLocally(txn, msg)) {
    // Nothing sent, the state unchanged; no OnIdle (the host's fill loop
    // goes on), so many local failures in a row never nest.
    host_->OnTransactionDone(txn.cookie, msg->outcomes);
    ReleaseMessage(msg);
    return;
  }
  msg->pending.resize(txn.recipients.size());
  for (uint32_t i = 0; i < msg->pending.size(); ++i) msg->pending[i] = i;
  msg->next = nullptr;
  msg->prev = active_tail_;
  (active_tail_ != nullptr ? active_tail_->next : active_head_) = msg;
  active_tail_ = msg;
  ++active_count_;
  if (streaming()) {
    while (!msg->pending.empty()) StartPart(msg);
  } else {
    StartPart(msg);
  }
  host_->OutputReady();
}

void SmtpClient::StartPart(Message* msg) {
  Part& p = parts_.push_back();
  p.msg = msg;
  if (max_rcpts_ == 0 || msg->pending.size() <= max_rcpts_) {
    p.rcpts.swap(msg->pending);  // all of them: no copy, both keep storage
    msg->pending.clear();
  } else {
    const auto cut = msg->pending.begin() + static_cast<ptrdiff_t>(max_rcpts_);
    p.rcpts.assign(msg->pending.begin(), cut);
    msg->pending.erase(msg->pending.begin(), cut);
  }
  p.too_many.clear();
  p.rcpt_replies = 0;
  p.rcpt_accepted = 0;
  p.mail_failed = false;
  p.bdat = caps_.Has(smtp::kExtChunking);
  p.stage = Part::kMail;
  ++msg->parts;
  state_ = State::kBusy;
  SendMail(p);
  if (pipelining()) {
    for (size_t i = 0; i < p.rcpts.size(); ++i) SendRcpt(p, i);
    if (p.bdat) {
      SendBdat(p);  // the whole message in one chunk, no dot-stuffing
    } else {
      SendLine("DATA");
    }
  }
}

void SmtpClient::SendMail(const Part& part) {
  const Transaction& txn = part.msg->txn;
  std::string& out = host_->Output();
  out.append("MAIL FROM:<");
  out.append(txn.sender);
  out.push_back('>');
  if (caps_.Has(smtp::kExtSize)) {
    out.append(" SIZE=");
    out.append(std::to_string(txn.content.size()));
  }
  if (txn.eight_bit && caps_.Has(smtp::kExt8BitMime)) out.append(" BODY=8BITMIME");
  if (txn.smtputf8) out.append(" SMTPUTF8");  // offered: CheckLocally
  if (txn.dsn != nullptr && caps_.Has(smtp::kExtDsn)) {
    if (txn.dsn->ret == queue::DsnRet::kFull) out.append(" RET=FULL");
    if (txn.dsn->ret == queue::DsnRet::kHeaders) out.append(" RET=HDRS");
    if (!txn.dsn->envid.empty()) {
      out.append(" ENVID=");
      smtp::XtextEncode(txn.dsn->envid, &out);
    }
  }
  out.append("\r\n");
}

void SmtpClient::SendRcpt(const Part& part, size_t index) {
  const Transaction& txn = part.msg->txn;
  const uint32_t r = part.rcpts[index];
  std::string& out = host_->Output();
  out.append("RCPT TO:<");
  out.append(txn.recipients[r]);
  out.push_back('>');
  if (caps_.Has(smtp::kExtDsn)) {
    if (!txn.notify.empty()) AppendNotify(txn.notify[r], &out);
    if (!txn.orcpt.empty()) AppendOrcpt(txn.orcpt[r], &out);
  }
  out.append("\r\n");
}

void SmtpClient::SendBdat(const Part& part) {
  const std::string_view content = part.msg->txn.content;
  std::string& out = host_->Output();
  out.append("BDAT ");
  out.append(std::to_string(content.size()));
  out.append(" LAST\r\n");
  out.append(content);
}

bool SmtpClient::SendContent(Part& part) {
  std::string& out = host_->Output();
  if (part.rcpt_accepted == 0) {
    // Pipelined DATA accepted although no recipient was: send an empty
    // message so the server ends the transaction.
    out.append(".\r\n");
    return true;
  }
  // The line lengths come from the stuffing scan itself: no second pass.
  const size_t before = out.size();
  if (smtp::AppendDotStuffed(part.msg->txn.content, &out) > kDataLineOctetsMax) {
    out.resize(before);
    return false;
  }
  return true;
}

void SmtpClient::EndPart(bool reset) {
  Part& p = parts_.front();
  Message* msg = p.msg;
  // Recipients refused as "too many" go at once in the next transaction,
  // unless this one took none (then the 452 stands: no endless loop). Each
  // transaction that goes again decided at least one recipient.
  if (!p.too_many.empty() && p.rcpt_accepted > 0) {
    for (uint32_t i : p.too_many) {
      RecipientOutcome& o = msg->outcomes[i];
      o.code = 0;
      o.enhanced.clear();
      o.text.clear();
    }
    msg->pending.insert(msg->pending.begin(), p.too_many.begin(), p.too_many.end());
  }
  parts_.pop_front();
  --msg->parts;
  ++transactions_;

  if (streaming()) {
    // No RSET: a failed transaction is over once its BDAT LAST is answered.
    Message* done = nullptr;
    if (!msg->pending.empty()) {
      while (!msg->pending.empty()) StartPart(msg);
      host_->OutputReady();
    } else if (msg->parts == 0) {
      done = msg;
    }
    if (parts_.empty()) state_ = State::kIdle;
    if (done != nullptr) FinishMessage(done);
    return NotifyIdle();
  }
  if (reset) {
    SendLine("RSET");
    host_->OutputReady();
    state_ = State::kRset;
    if (msg->pending.empty()) {
      FinishMessage(msg);
    } else {
      resume_ = msg;  // the next part after the RSET reply
    }
    return;
  }
  if (!msg->pending.empty()) {
    StartPart(msg);
    host_->OutputReady();
    return;
  }
  state_ = State::kIdle;
  FinishMessage(msg);
  NotifyIdle();
}

void SmtpClient::FinishMessage(Message* msg) {
  DecideLocal(msg->outcomes, 451, "4.4.0", "no outcome from server");
  Unlink(msg);
  host_->OnTransactionDone(msg->txn.cookie, msg->outcomes);
  ReleaseMessage(msg);
}

void SmtpClient::NotifyIdle() {
  if (can_begin()) host_->OnIdle();
}

void SmtpClient::Quit() {
  if (state_ != State::kIdle) return;
  SendLine("QUIT");
  host_->OutputReady();
  state_ = State::kQuit;
}

void SmtpClient::Unlink(Message* msg) {
  (msg->prev != nullptr ? msg->prev->next : active_head_) = msg->next;
  (msg->next != nullptr ? msg->next->prev : active_tail_) = msg->prev;
  msg->prev = msg->next = nullptr;
  --active_count_;
}

void SmtpClient::FailActive(int code, std::string_view enhanced,
                            std::string_view text) {
  // The state is kEnded first: a host callback cannot begin anything.
  while (!parts_.empty()) parts_.pop_front();
  resume_ = nullptr;
  while (active_head_ != nullptr) {
    Message* msg = active_head_;
    Unlink(msg);
    msg->pending.clear();
    DecideLocal(msg->outcomes, code, enhanced, text);
    host_->OnTransactionDone(msg->txn.cookie, msg->outcomes);
    ReleaseMessage(msg);
  }
}

void SmtpClient::Abort(std::string_view reason) {
  if (state_ == State::kEnded) return;
  state_ = State::kEnded;
  FailActive(451, "4.4.2", reason);
}

void SmtpClient::EndWithReply(const smtp::ServerReply& reply) {
  End(reply.code, reply.EnhancedText(), ReplyText(reply));
}

void SmtpClient::End(int code, std::string_view enhanced, std::string_view text) {
  RecipientOutcome reason;
  Set(reason, code, enhanced, text);
  state_ = State::kEnded;
  // Only a 4xx/5xx reply decides; anything else is a local 451.
  if (Negative(code)) {
    FailActive(code, enhanced, text);
  } else {
    FailActive(451, "4.4.2", text);
  }
  // Last: the host may close (and free) the connection.
  host_->OnSessionEnd(reason);
}

}  // namespace ringpost::client
