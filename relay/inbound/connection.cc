// connection.cc — see connection.h.
#include "relay/inbound/connection.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "relay/inbound/authenticator.h"
#include "relay/proxy/proxy_header.h"
#include "relay/smtp/command_parser.h"

namespace ringpost::inbound {

Connection::Connection(const ConnectionContext* context, ConnectionOwner* owner, int fd,
                       std::string ip, bool relay_allowed, ListenerMode mode)
    : context_(context),
      limits_(context->limits),
      auth_(context->auth),
      owner_(owner),
      ip_(std::move(ip)),
      stream_(new runtime::Stream(context->loop, fd, this)),
      session_(this, limits_.get(), context->hostname,
               server::ClientInfo{.address = ip_,
                                  .relay_allowed = relay_allowed,
                                  .tls_available = context->tls != nullptr,
                                  .auth_available = auth_ != nullptr,
                                  .require_tls = mode.require_tls,
                                  .require_auth = mode.require_auth}),
      mode_(mode),
      awaiting_proxy_(mode.proxy_header) {
  idle_timer_.context = this;
  idle_timer_.callback = [](runtime::Timer* t) {
    static_cast<Connection*>(t->context)->OnIdleTimeout();
  };
  session_deadline_ms_ = context->loop->now_ms() + context->session_timeout_ms;
}

void Connection::Start() {
  stream_->Start();
  if (awaiting_proxy_) {
    // The balancer speaks first: nothing is sent before its header.
    context_->loop->timers().Arm(&idle_timer_,
                                 context_->loop->now_ms() + context_->proxy_timeout_ms);
    return;
  }
  Begin({});
}

void Connection::Begin(std::string_view early) {
  if (mode_.implicit_tls) {
    // RFC 8314: the banner comes once the handshake is done.
    NewTlsChannel();
    if (!early.empty()) OnTlsData(early);
    return;
  }
  session_.Start();
  ArmIdle();
  if (!early.empty()) FeedSession(early);
}

void Connection::OnProxyData(std::string_view data) {
  proxy_in_.append(data);
  const proxy::Result r = proxy::Parse(proxy_in_);
  if (r.status == proxy::Status::kNeedMore) return;
  if (r.status == proxy::Status::kError) {
    // Postfix's smtpd_upstream_proxy_protocol: a bad header ends the
    // connection, with a line naming the peer; nothing is said to it.
    fprintf(stderr, "ringpost: PROXY header from %s refused: %s\n", ip_.c_str(),
            r.error.c_str());
    stream_->Close();
    return;
  }
  awaiting_proxy_ = false;
  context_->loop->timers().Disarm(&idle_timer_);
  bool relay_allowed = false;
  sockaddr_storage client = r.header.source;
  if (r.header.local) {
    // A health check of the balancer's own: a session from the balancer.
    socklen_t len = sizeof(client);
    if (getpeername(stream_->fd(), reinterpret_cast<sockaddr*>(&client), &len) != 0) {
      stream_->Close();
      return;
    }
  }
  ip_ = runtime::FormatHost(client);
  if (!owner_->ClientIdentified(this, client, &relay_allowed)) {
    // Over max_connections_per_client. Not Refuse(): this connection was
    // counted in max_connections when it was accepted.
    if (!mode_.implicit_tls) {
      stream_->Write("421 4.7.0 " + context_->hostname +
                     " Error: too many connections from your address\r\n");
    }
    stream_->Close();
    return;
  }
  session_.SetClient(ip_, relay_allowed);
  std::string early = proxy_in_.substr(r.consumed);
  proxy_in_ = std::string();
  Begin(early);
}

void Connection::Refuse(std::string_view reply) {
  refused_ = true;
  // A client of a listen_tls port expects a ServerHello, not text.
  if (!mode_.implicit_tls) stream_->Write(reply);
  stream_->Close();
}

void Connection::NewTlsChannel() {
  tls::ServerContext::UniqueCtx ctx = context_->tls->Current();
  tls_ = std::make_unique<tls::Pipe>(tls::Channel::NewServer(ctx.get()));
  stream_->set_output_filter(tls_.get());  // replies are sealed once per send
  ArmIdle();  // the handshake timeout
}

void Connection::StartTls() {
  // The 220 is queued as plaintext; every byte after it is TLS.
  NewTlsChannel();
}

server::AuthVerdict Connection::Authenticate(std::string_view user, std::string_view password) {
  const server::AuthVerdict verdict =
      auth_->Check(ip_, user, password, context_->loop->now_ms());
  if (verdict == server::AuthVerdict::kBlocked && context_->auth_failure_delay_ms > 0) {
    // The 421 leaves after auth_failure_delay: a guesser waits, the shard
    // does not. Nothing more is read meanwhile.
    tarpit_ = true;
    UpdateReading();
    context_->loop->timers().Arm(&idle_timer_,
                                 context_->loop->now_ms() + context_->auth_failure_delay_ms);
  }
  return verdict;
}

void Connection::Abort() {
  if (stream_ != nullptr) stream_->Abort(-ECANCELED);
}

void Connection::OnStreamData(std::string_view data) {
  if (awaiting_proxy_) return OnProxyData(data);
  if (first_data_) {
    first_data_ = false;
    // A PROXY header from a peer outside proxy_trusted (someone claiming to
    // speak for another address), or a second one behind the balancer's
    // (a chain of balancers: only the first, from a trusted peer, counts).
    // Refused like a bad header.
    if (tls_ == nullptr && !mode_.implicit_tls && proxy::LooksLikeHeader(data)) {
      fprintf(stderr, "ringpost: PROXY header from %s refused: %s\n", ip_.c_str(),
              mode_.proxy_header ? "a second header (the balancer's first one named this client)"
                                 : "not in proxy_trusted");
      stream_->Close();
      return;
    }
  }
  if (tls_ != nullptr) return OnTlsData(data);
  FeedSession(data);
}

void Connection::OnTlsData(std::string_view data) {
  const bool was_up = tls_->handshake_done();
  const tls::Channel::Result r = tls_->Receive(data, &stream_->output());
  if (r == tls::Channel::Result::kError) {
    // Nothing to tell the client in SMTP: the alert (if any) is queued.
    stream_->Close();
    return;
  }
  if (!was_up && tls_->handshake_done()) {
    session_.TlsEstablished(tls_->channel().Description());
    if (mode_.implicit_tls) session_.Start();
    ArmIdle();
  }
  if (!stream_->output().empty() || !tls_->plain_out().empty()) OutputReady();
  if (!tls_->plain_in().empty()) FeedSession(tls_->plain_in());
  if (r == tls::Channel::Result::kClosed && stream_ != nullptr) stream_->Close();
}

void Connection::FeedSession(std::string_view data) {
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
  if (tarpit_) return;  // held until the delay passes
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
  if (tarpit_) {
    close_after_tarpit_ = true;
    return;
  }
  if (stream_ == nullptr) return;
  if (tls_ != nullptr && tls_->handshake_done()) {
    tls_->Seal(&stream_->output());             // the last replies,
    tls_->channel().Close(&stream_->output());  // then close_notify
  }
  stream_->Close();
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
  if (session_paused_ || output_paused_ || tarpit_) {
    stream_->PauseReading();
  } else {
    stream_->ResumeReading();
  }
}

void Connection::ArmIdle() {
  if (tarpit_) return;
  const uint64_t now = context_->loop->now_ms();
  const bool handshaking = tls_ != nullptr && !tls_->handshake_done();
  uint64_t deadline =
      now + (handshaking ? context_->tls_handshake_timeout_ms : context_->idle_timeout_ms);
  if (deadline > session_deadline_ms_) deadline = session_deadline_ms_;
  context_->loop->timers().Arm(&idle_timer_, deadline);
}

void Connection::OnIdleTimeout() {
  if (awaiting_proxy_) {
    fprintf(stderr, "ringpost: no PROXY header from %s within proxy_timeout\n", ip_.c_str());
    if (stream_ != nullptr) stream_->Close();
    return;
  }
  if (tarpit_) {
    tarpit_ = false;
    OutputReady();
    if (close_after_tarpit_) CloseAfterOutput();
    UpdateReading();
    return ArmIdle();
  }
  if (tls_ != nullptr && !tls_->handshake_done()) {
    if (stream_ != nullptr) stream_->Abort(-ETIMEDOUT);  // no SMTP to speak yet
    return;
  }
  if (session_.awaiting_commit()) return ArmIdle();
  session_.OnTimeout();
}

void Connection::Destroy() {
  owner_->ConnectionClosed(this);
  delete this;
}

}  // namespace ringpost::inbound
