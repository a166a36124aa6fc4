// connection.cc — see connection.h.
#include "relay/inbound/connection.h"

#include <cerrno>
#include <utility>

#include "relay/smtp/command_parser.h"

namespace ringpost::inbound {

Connection::Connection(const ConnectionContext* context, ConnectionOwner* owner, int fd,
                       std::string ip, bool relay_allowed)
    : context_(context),
      owner_(owner),
      ip_(std::move(ip)),
      stream_(new runtime::Stream(context->loop, fd, this)),
      session_(this, context->limits, context->hostname,
               server::ClientInfo{ip_, relay_allowed}) {
  idle_timer_.context = this;
  idle_timer_.callback = [](runtime::Timer* t) {
    static_cast<Connection*>(t->context)->OnIdleTimeout();
  };
  session_deadline_ms_ = context->loop->now_ms() + context->session_timeout_ms;
}

void Connection::Start() {
  stream_->Start();
  session_.Start();
  ArmIdle();
}

void Connection::Refuse(std::string_view reply) {
  refused_ = true;
  stream_->Write(reply);
  stream_->Close();
}

void Connection::Abort() {
  if (stream_ != nullptr) stream_->Abort(-ECANCELED);
}

void Connection::OnStreamData(std::string_view data) {
  // RFC 5321 4.5.3.2: the 5-minute wait for a command restarts when a
  // command arrives, not on each byte; inside message content every read
  // counts (the data block timeout).
  const uint64_t commands = session_.commands_read();
  const bool content = session_.reading_content();
  session_.Feed(data);
  if (content || session_.reading_content() || session_.commands_read() != commands) {
    ArmIdle();
  }
}

void Connection::OnStreamClosed(int) {
  closed_ = true;
  context_->loop->timers().Disarm(&idle_timer_);
  stream_->Release();
  stream_ = nullptr;
  if (commits_pending_ == 0) Destroy();
}

void Connection::OutputReady() {
  if (stream_ == nullptr) {
    sink_.clear();
    return;
  }
  stream_->Flush();
  // A client that sends commands but never reads the replies must not make
  // us queue replies without bound: stop reading it until they left.
  if (!output_paused_ && stream_->queued_bytes() > kMaxQueuedReplyBytes) {
    output_paused_ = true;
    UpdateReading();
  }
}

void Connection::OnStreamDrained() {
  if (output_paused_) {
    output_paused_ = false;
    UpdateReading();
  }
}

void Connection::Submit(std::unique_ptr<server::IncomingMessage> message) {
  ++commits_pending_;
  context_->submit->Submit(this, std::move(message));
}

void Connection::CloseAfterOutput() {
  if (stream_ != nullptr) stream_->Close();
}

void Connection::PauseInput() {
  session_paused_ = true;
  UpdateReading();
}

void Connection::ResumeInput() {
  session_paused_ = false;
  UpdateReading();
}

void Connection::OnRejected(std::string_view sender, std::string_view recipient, int code,
                            std::string_view enhanced, std::string_view text) {
  LogRecord r;
  r.type = LogEvent::kRejection;
  r.sender = sender;
  r.recipient = recipient;
  r.domain = smtp::DomainOf(recipient);
  r.peer = ip_;
  r.code = code;
  r.enhanced = enhanced;
  r.response = text;
  r.event_at_ms = context_->loop->wall_ms();
  r.queued_at_ms = r.event_at_ms;
  context_->log->Add(r);
}

void Connection::Committed(absl::Status status, uint64_t id) {
  --commits_pending_;
  if (closed_) {
    if (commits_pending_ == 0) Destroy();
    return;
  }
  session_.OnSubmitted(std::move(status), id);
}

void Connection::UpdateReading() {
  if (stream_ == nullptr) return;
  if (session_paused_ || output_paused_) {
    stream_->PauseReading();
  } else {
    stream_->ResumeReading();
  }
}

void Connection::ArmIdle() {
  const uint64_t now = context_->loop->now_ms();
  uint64_t deadline = now + context_->idle_timeout_ms;
  if (deadline > session_deadline_ms_) deadline = session_deadline_ms_;
  context_->loop->timers().Arm(&idle_timer_, deadline);
}

void Connection::OnIdleTimeout() {
  if (session_.awaiting_commit()) return ArmIdle();
  session_.OnTimeout();
}

void Connection::Destroy() {
  owner_->ConnectionClosed(this);
  delete this;
}

}  // namespace ringpost::inbound
