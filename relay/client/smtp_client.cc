// smtp_client.cc — see smtp_client.h.
#include "relay/client/smtp_client.h"

#include <cassert>
#include <utility>

#include "relay/smtp/dot_stuffer.h"

namespace ringpost::client {

SmtpClient::SmtpClient(ClientHost* host, std::string helo_name)
    : host_(host), helo_name_(std::move(helo_name)) {}

void SmtpClient::Feed(std::string_view data) {
  // Each round consumes input or stops: bounded by data.size().
  while (!data.empty() && state_ != State::kEnded) {
    smtp::ReplyParser::Result r = parser_.Parse(data, &reply_);
    data.remove_prefix(r.consumed);
    if (r.status == smtp::ReplyParser::Status::kNeedMore) return;
    if (r.status == smtp::ReplyParser::Status::kError) {
      End(0, "4.5.0", "protocol error: malformed reply from server");
      return;
    }
    OnReply(reply_);
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
  const bool ok = reply.code >= 200 && reply.code < 300;
  switch (state_) {
    case State::kGreeting:
      if (reply.code != 220) return End(reply.code, reply.EnhancedText(), reply.text);
      SendLine("EHLO ", helo_name_);
      host_->OutputReady();
      state_ = State::kEhlo;
      return;
    case State::kEhlo:
      if (ok) {
        caps_ = smtp::ParseEhloCapabilities(reply);
        state_ = State::kIdle;
        host_->OnIdle();
      } else if (reply.code >= 500) {
        SendLine("HELO ", helo_name_);
        host_->OutputReady();
        state_ = State::kHelo;
      } else {
        End(reply.code, reply.EnhancedText(), reply.text);
      }
      return;
    case State::kHelo:
      if (!ok) return End(reply.code, reply.EnhancedText(), reply.text);
      caps_ = smtp::EhloCapabilities{};
      state_ = State::kIdle;
      host_->OnIdle();
      return;
    case State::kMail:
      if (!ok) DecideUndecided(reply);
      mail_failed_ = !ok;
      state_ = State::kRcpt;
      if (!pipelining()) {
        if (mail_failed_) return FinishTransaction(true);
        SendRcpt(txn_, 0);
        host_->OutputReady();
      }
      return;
    case State::kRcpt:
      if (ok && !mail_failed_) {
        ++rcpt_accepted_;
      } else {
        Decide(rcpt_replies_, reply);
      }
      ++rcpt_replies_;
      if (rcpt_replies_ < txn_.recipients.size()) {
        if (!pipelining()) {
          SendRcpt(txn_, rcpt_replies_);
          host_->OutputReady();
        }
        return;
      }
      // With CHUNKING the BDAT LAST reply is the transaction's final reply.
      state_ = chunking_ ? State::kDataEnd : State::kData;
      if (!pipelining()) {
        if (rcpt_accepted_ == 0) return FinishTransaction(true);
        if (chunking_) {
          SendBdat(txn_);
        } else {
          SendLine("DATA");
        }
        host_->OutputReady();
      }
      return;
    case State::kData:
      if (reply.code == 354) {
        state_ = State::kDataEnd;
        if (rcpt_accepted_ == 0) {
          // Pipelined DATA accepted although no recipient was: send an
          // empty message so the server ends the transaction.
          SendLine(".");
        } else {
          SendContent();
        }
        host_->OutputReady();
        return;
      }
      DecideUndecided(reply);
      return FinishTransaction(true);
    case State::kDataEnd:
      DecideUndecided(reply);
      return FinishTransaction(false);
    case State::kRset:
      if (!ok) return End(reply.code, reply.EnhancedText(), reply.text);
      state_ = State::kIdle;
      host_->OnIdle();
      return;
    case State::kQuit:
      return End(reply.code, reply.EnhancedText(), reply.text);
    case State::kStream:
      return OnStreamReply(reply);
    case State::kIdle:
      // Unsolicited (typically 421 before the server hangs up).
      return End(reply.code, reply.EnhancedText(), reply.text);
    case State::kEnded:
      return;
  }
}

bool SmtpClient::streaming() const {
  return max_in_flight_ > 1 && caps_.Has(smtp::kExtPipelining) &&
         caps_.Has(smtp::kExtChunking);
}

bool SmtpClient::can_begin() const {
  if (state_ == State::kIdle) return true;
  return state_ == State::kStream && inflight_.size() < max_in_flight_;
}

size_t SmtpClient::in_flight() const {
  if (state_ == State::kStream) return inflight_.size();
  return InTransaction() ? 1 : 0;
}

void SmtpClient::Begin(const Transaction& txn) {
  assert(can_begin());
  assert(!txn.recipients.empty());
  if (streaming()) {
    if (caps_.size_max != 0 && txn.content.size() > caps_.size_max) {
      std::vector<RecipientOutcome> outcomes(txn.recipients.size());
      for (RecipientOutcome& o : outcomes) {
        o.code = 552;
        o.enhanced = "5.3.4";
        o.text = "message size exceeds the destination's SIZE limit";
      }
      host_->OnTransactionDone(txn.cookie, outcomes);
      return;
    }
    // The slot keeps its vectors' and strings' capacity from earlier use.
    InFlight& f = inflight_.push_back();
    f.txn = txn;
    f.outcomes.resize(txn.recipients.size());
    for (RecipientOutcome& o : f.outcomes) {
      o.code = 0;
      o.enhanced.clear();
      o.text.clear();
    }
    f.rcpt_replies = 0;
    f.rcpt_accepted = 0;
    f.mail_failed = false;
    f.stage = InFlight::kMail;
    state_ = State::kStream;
    WriteTransaction(txn);
    host_->OutputReady();
    return;
  }
  txn_ = txn;
  outcomes_.assign(txn.recipients.size(), RecipientOutcome{});
  rcpt_replies_ = 0;
  rcpt_accepted_ = 0;
  mail_failed_ = false;
  if (caps_.size_max != 0 && txn.content.size() > caps_.size_max) {
    state_ = State::kDataEnd;
    DecideUndecidedLocal(552, "5.3.4",
                         "message size exceeds the destination's SIZE limit");
    return FinishTransaction(false);
  }
  state_ = State::kMail;
  chunking_ = caps_.Has(smtp::kExtChunking);
  SendMail(txn_);
  if (pipelining()) {
    for (size_t i = 0; i < txn_.recipients.size(); ++i) SendRcpt(txn_, i);
    if (chunking_) {
      SendBdat(txn_);  // the whole message in one chunk, no dot-stuffing
    } else {
      SendLine("DATA");
    }
  }
  host_->OutputReady();
}

void SmtpClient::SendMail(const Transaction& txn) {
  std::string& out = host_->Output();
  out.append("MAIL FROM:<");
  out.append(txn.sender);
  out.push_back('>');
  if (caps_.Has(smtp::kExtSize)) {
    out.append(" SIZE=");
    out.append(std::to_string(txn.content.size()));
  }
  if (txn.eight_bit && caps_.Has(smtp::kExt8BitMime)) out.append(" BODY=8BITMIME");
  out.append("\r\n");
}

void SmtpClient::SendRcpt(const Transaction& txn, size_t index) {
  SendLine("RCPT TO:<", txn.recipients[index], ">");
}

void SmtpClient::SendBdat(const Transaction& txn) {
  std::string& out = host_->Output();
  out.append("BDAT ");
  out.append(std::to_string(txn.content.size()));
  out.append(" LAST\r\n");
  out.append(txn.content);
}

void SmtpClient::WriteTransaction(const Transaction& txn) {
  SendMail(txn);
  for (size_t i = 0; i < txn.recipients.size(); ++i) SendRcpt(txn, i);
  SendBdat(txn);
}

void SmtpClient::SendContent() {
  smtp::AppendDotStuffed(txn_.content, &host_->Output());
}

namespace {

void DecideOne(RecipientOutcome& o, const smtp::ServerReply& reply) {
  if (o.code != 0) return;
  o.code = reply.code;
  std::string_view enhanced = reply.EnhancedText();
  o.enhanced.assign(enhanced.data(), enhanced.size());
  std::string_view text = reply.text;
  text.remove_prefix(enhanced.size());
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  o.text.assign(text.data(), text.size());
}

void DecideLocal(std::vector<RecipientOutcome>& outcomes, int code,
                 std::string_view enhanced, std::string_view text) {
  for (RecipientOutcome& o : outcomes) {
    if (o.code != 0) continue;
    o.code = code;
    o.enhanced.assign(enhanced.data(), enhanced.size());
    o.text.assign(text.data(), text.size());
  }
}

}  // namespace

void SmtpClient::Decide(size_t index, const smtp::ServerReply& reply) {
  DecideOne(outcomes_[index], reply);
}

void SmtpClient::DecideUndecided(const smtp::ServerReply& reply) {
  for (size_t i = 0; i < outcomes_.size(); ++i) Decide(i, reply);
}

void SmtpClient::DecideUndecidedLocal(int code, std::string_view enhanced,
                                      std::string_view text) {
  DecideLocal(outcomes_, code, enhanced, text);
}

void SmtpClient::OnStreamReply(const smtp::ServerReply& reply) {
  assert(!inflight_.empty());
  InFlight& f = inflight_.front();
  const bool ok = reply.code >= 200 && reply.code < 300;
  switch (f.stage) {
    case InFlight::kMail:
      if (!ok) {
        f.mail_failed = true;
        for (RecipientOutcome& o : f.outcomes) DecideOne(o, reply);
      }
      f.stage = InFlight::kRcpt;
      return;
    case InFlight::kRcpt:
      if (ok && !f.mail_failed) {
        ++f.rcpt_accepted;
      } else {
        DecideOne(f.outcomes[f.rcpt_replies], reply);
      }
      if (++f.rcpt_replies == f.txn.recipients.size()) f.stage = InFlight::kFinal;
      return;
    case InFlight::kFinal: {
      // The BDAT LAST reply decides every recipient its RCPT accepted.
      for (RecipientOutcome& o : f.outcomes) DecideOne(o, reply);
      DecideLocal(f.outcomes, 451, "4.4.0", "no outcome from server");
      ++transactions_;
      void* cookie = f.txn.cookie;
      // A swap, not a move: both vectors keep their storage.
      std::vector<RecipientOutcome>& outcomes = done_outcomes_;
      outcomes.swap(f.outcomes);
      inflight_.pop_front();
      if (inflight_.empty()) state_ = State::kIdle;
      host_->OnTransactionDone(cookie, outcomes);
      if (can_begin()) host_->OnIdle();
      return;
    }
  }
}

void SmtpClient::FailAllInFlight(int code, std::string_view enhanced,
                                 std::string_view text) {
  while (!inflight_.empty()) {
    InFlight f = std::move(inflight_.front());
    inflight_.pop_front();
    DecideLocal(f.outcomes, code, enhanced, text);
    host_->OnTransactionDone(f.txn.cookie, f.outcomes);
  }
}

bool SmtpClient::InTransaction() const {
  return state_ == State::kMail || state_ == State::kRcpt ||
         state_ == State::kData || state_ == State::kDataEnd;
}

void SmtpClient::FinishTransaction(bool reset) {
  DecideUndecidedLocal(451, "4.4.0", "no outcome from server");
  ++transactions_;
  if (reset) {
    SendLine("RSET");
    host_->OutputReady();
    state_ = State::kRset;
  } else {
    state_ = State::kIdle;
  }
  std::vector<RecipientOutcome> outcomes;
  outcomes.swap(outcomes_);
  host_->OnTransactionDone(txn_.cookie, outcomes);
  if (state_ == State::kIdle) host_->OnIdle();
}

Wait SmtpClient::waiting_for() const {
  switch (state_) {
    case State::kGreeting:
      return Wait::kGreeting;
    case State::kEhlo:
    case State::kHelo:
    case State::kRset:
    case State::kQuit:
      return Wait::kCommand;
    case State::kMail:
      return Wait::kMail;
    case State::kRcpt:
      return Wait::kRcpt;
    case State::kData:
      return Wait::kDataInit;
    case State::kDataEnd:
      return Wait::kDataTerm;
    case State::kStream:
      if (inflight_.empty()) return Wait::kNone;
      switch (inflight_.front().stage) {
        case InFlight::kMail:
          return Wait::kMail;
        case InFlight::kRcpt:
          return Wait::kRcpt;
        case InFlight::kFinal:
          return Wait::kDataTerm;
      }
      return Wait::kDataTerm;
    case State::kIdle:
    case State::kEnded:
      return Wait::kNone;
  }
  return Wait::kNone;
}

void SmtpClient::Quit() {
  if (state_ != State::kIdle) return;
  SendLine("QUIT");
  host_->OutputReady();
  state_ = State::kQuit;
}

void SmtpClient::Abort(std::string_view reason) {
  if (state_ == State::kEnded) return;
  const bool in_txn = InTransaction();
  const bool stream = state_ == State::kStream;
  state_ = State::kEnded;
  if (stream) FailAllInFlight(451, "4.4.2", reason);
  if (in_txn) {
    DecideUndecidedLocal(451, "4.4.2", reason);
    std::vector<RecipientOutcome> outcomes;
    outcomes.swap(outcomes_);
    host_->OnTransactionDone(txn_.cookie, outcomes);
  }
}

void SmtpClient::End(int code, std::string_view enhanced, std::string_view text) {
  const bool in_txn = InTransaction();
  const bool stream = state_ == State::kStream;
  state_ = State::kEnded;
  if (stream) {
    // Only a 4xx/5xx reply can decide; anything else is a local 451.
    if (code >= 400 && code < 600) {
      FailAllInFlight(code, enhanced, text);
    } else {
      FailAllInFlight(451, "4.4.2", text);
    }
  }
  RecipientOutcome reason;
  reason.code = code;
  reason.enhanced.assign(enhanced.data(), enhanced.size());
  reason.text.assign(text.data(), text.size());
  if (in_txn) {
    // Only a 4xx/5xx reply can decide; anything else is a local 451.
    if (code >= 400 && code < 600) {
      DecideUndecidedLocal(code, enhanced, text);
    } else {
      DecideUndecidedLocal(451, "4.4.2", text);
    }
    std::vector<RecipientOutcome> outcomes;
    outcomes.swap(outcomes_);
    host_->OnTransactionDone(txn_.cookie, outcomes);
  }
  host_->OnSessionEnd(reason);
}

}  // namespace ringpost::client
