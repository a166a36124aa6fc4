// connection.cc — see connection.h.
#include "relay/outbound/connection.h"

#include <arpa/inet.h>
#include <liburing.h>

#include <cerrno>
#include <cstring>

namespace ringpost::outbound {
namespace {

constexpr size_t kRetainedSendBuffer = 1 << 20;

uint64_t ToMs(absl::Duration d) {
  return static_cast<uint64_t>(absl::ToInt64Milliseconds(d));
}

// "[192.0.2.1]" or "[IPv6:2001:db8::1]": the socket's own address as an
// RFC 5321 4.1.3 address literal, for EHLO.
std::string LocalAddressLiteral(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  char buf[INET6_ADDRSTRLEN] = {};
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
      return std::string("[") + buf + "]";
    }
    if (ss.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
      return std::string("[IPv6:") + buf + "]";
    }
  }
  return "[127.0.0.1]";
}

std::string_view WaitName(client::Wait wait) {
  switch (wait) {
    case client::Wait::kGreeting: return "greeting";
    case client::Wait::kCommand: return "reply to EHLO/STARTTLS/RSET/QUIT";
    case client::Wait::kMail: return "reply to MAIL FROM";
    case client::Wait::kRcpt: return "reply to RCPT TO";
    case client::Wait::kDataInit: return "reply to DATA";
    case client::Wait::kDataTerm: return "reply to end of data";
    case client::Wait::kNone: break;
  }
  return "reply";
}

client::TlsWant WantFor(TlsLevel level) {
  switch (level) {
    case TlsLevel::kNone: return client::TlsWant::kNone;
    case TlsLevel::kMay: return client::TlsWant::kMay;
    case TlsLevel::kEncrypt:
    case TlsLevel::kVerify: return client::TlsWant::kRequire;
  }
  return client::TlsWant::kMay;
}

}  // namespace

bool PlaintextHosts::Contains(const std::string& peer, uint64_t now_ms) {
  auto it = until_.find(peer);
  if (it == until_.end()) return false;
  if (it->second > now_ms) return true;
  until_.erase(it);
  return false;
}

void PlaintextHosts::Add(const std::string& peer, uint64_t until_ms) {
  if (until_.size() >= kMaxEntries && !until_.contains(peer)) {
    // Rare (that many hosts failing TLS within the TTL): forgetting one
    // costs it one more failed handshake.
    until_.erase(until_.begin());
  }
  until_[peer] = until_ms;
}

Connection::Connection(const ConnectionContext* context, ConnectionOwner* owner,
                       const sockaddr_storage& addr, size_t addr_index, TlsLevel tls,
                       std::string tls_name)
    : context_(context),
      owner_(owner),
      client_(this, context->helo_name),
      addr_(addr),
      addr_index_(addr_index),
      tls_level_(context->tls != nullptr ? tls : TlsLevel::kNone),
      tls_name_(std::move(tls_name)) {
  client_.set_max_in_flight(context->config->outbound_pipeline_depth);
  client_.set_max_recipients_per_transaction(context->config->max_recipients_per_transaction);
  max_messages_ = context->config->max_messages_per_connection;
  timer_.context = this;
  timer_.callback = [](runtime::Timer* t) { static_cast<Connection*>(t->context)->OnTimer(); };
}

Connection::~Connection() { context_->loop->timers().Disarm(&timer_); }

void Connection::Connect() {
  connecting_ = true;
  peer_ = runtime::FormatAddress(addr_);
  runtime::Connect(context_->loop, addr_, ToMs(context_->config->connect_timeout),
                   [this](int fd) { OnConnected(fd); });
}

void Connection::Abort() {
  aborted_ = true;
  if (stream_ != nullptr) stream_->Abort(-ECANCELED);
}

void Connection::Deliver(DeliveryJob* job) {
  ++in_flight_;
  in_flight_rcpts_ += job->rcpts.size();
  ++messages_;
  // txn_ is reused: no allocation per message once warm.
  const Message* msg = job->message;
  txn_.sender = msg->sender;
  txn_.recipients.clear();
  for (uint32_t i : job->rcpts) txn_.recipients.push_back(msg->recipients[i]);
  txn_.content = msg->content;
  txn_.eight_bit = msg->eight_bit;
  txn_.smtputf8 = msg->smtputf8;
  // DSN: the message's per-recipient values, for this job's recipients.
  const queue::DsnFields& dsn = msg->dsn;
  txn_.dsn = dsn.empty() ? nullptr : &dsn;
  txn_.notify.clear();
  txn_.orcpt.clear();
  if (!dsn.notify.empty()) {
    for (uint32_t i : job->rcpts) txn_.notify.push_back(dsn.notify[i]);
  }
  if (!dsn.orcpt.empty()) {
    for (uint32_t i : job->rcpts) txn_.orcpt.push_back(dsn.orcpt[i]);
  }
  txn_.cookie = job;
  client_.Begin(txn_);
}

void Connection::Fill() {
  // Bounded by outbound_pipeline_depth (can_begin) and the owner's queue.
  while (client_.can_begin()) {
    if (owner_->draining() ||
        messages_ >= max_messages_) {
      if (!busy()) Quit();
      ArmTimer();
      return;
    }
    DeliveryJob* next = owner_->NextJob(this);
    if (next == nullptr) break;
    Deliver(next);
  }
  ArmTimer();
}

void Connection::Quit() {
  if (stream_ == nullptr) return;
  if (client_.idle()) {
    client_.Quit();
    ArmTimer();
  } else if (!busy()) {
    stream_->Close();
  }
}

void Connection::OutputReady() {
  if (stream_ == nullptr) {
    sink_.clear();
    return;
  }
  stream_->Flush();  // inside TLS the stream seals the turn's output once
}

void Connection::StartTls() {
  // The peer said 220 to STARTTLS: from here every byte is TLS.
  tls_ = std::make_unique<tls::Pipe>(tls::Channel::NewClient(
      context_->tls, tls_name_, tls_level_ == TlsLevel::kVerify, peer_ + "|" + tls_name_));
  tls_->set_retained_buffer(kRetainedSendBuffer);  // message bodies pass through
  stream_->set_output_filter(tls_.get());
  tls_->channel().Start(&stream_->output());
  stream_->Flush();
  ArmTimer();
}

void Connection::OnTlsData(std::string_view data) {
  const bool was_up = tls_->handshake_done();
  const tls::Channel::Result r = tls_->Receive(data, &stream_->output());
  if (!stream_->output().empty()) stream_->Flush();
  if (r == tls::Channel::Result::kError) return OnTlsFailure(tls_->channel().error());
  if (!was_up && tls_->handshake_done()) {
    tls_info_ = tls_->channel().Info();
    client_.TlsEstablished();  // EHLO again, inside TLS
  }
  if (!tls_->plain_in().empty()) client_.Feed(tls_->plain_in());
  if (r == tls::Channel::Result::kClosed && stream_ != nullptr) stream_->Close();
}

void Connection::OnTlsFailure(std::string_view error) {
  NoteTlsFailure(error);
  client_.Abort(end_reason_.text);
  stream_->Abort(-EPROTO);  // a failed TLS stream's queued bytes are worthless
}

void Connection::NoteTlsFailure(std::string_view error) {
  if (tls_level_ == TlsLevel::kMay) {
    // RFC 7435: opportunistic TLS that fails falls back to plaintext.
    context_->plaintext_hosts->Add(
        peer_, context_->loop->now_ms() + ToMs(context_->config->tls_fallback_ttl));
    tls_fallback_ = true;
  }
  end_reason_.code = 451;
  end_reason_.enhanced = "4.7.5";
  end_reason_.text = "TLS with " + peer_ + " failed: " + std::string(error);
}

void Connection::Fail(int code, std::string_view enhanced, std::string why, int error) {
  client_.Abort(why);
  end_reason_.code = code;
  end_reason_.enhanced = std::string(enhanced);
  end_reason_.text = std::move(why);
  stream_->Abort(error);  // unusable: whatever is queued is dropped
}

void Connection::OnIdle() {
  if (!ever_ready_) {
    ever_ready_ = true;
    owner_->ConnectionReady(this);
  }
  Fill();
}

void Connection::OnTransactionDone(void* cookie,
                                   std::vector<client::RecipientOutcome>& outcomes) {
  auto* job = static_cast<DeliveryJob*>(cookie);
  --in_flight_;
  if (job == nullptr) return;
  in_flight_rcpts_ -= job->rcpts.size();
  job->tls = tls_ != nullptr && tls_->handshake_done();
  if (job->tls) {
    job->tls_version = tls_info_.version;
    job->tls_cipher = tls_info_.cipher;
    job->tls_verified = tls_info_.verified;
  }
  owner_->TransactionDone(job, peer_, outcomes);
}

void Connection::OnSessionEnd(const client::RecipientOutcome& reason) {
  end_reason_ = reason;
  if (stream_ != nullptr) stream_->Close();
}

void Connection::OnStreamData(std::string_view data) {
  if (tls_ != nullptr) {
    OnTlsData(data);
  } else {
    client_.Feed(data);
  }
  // A reply arrived: the wait for the next one starts now.
  if (stream_ != nullptr && !stream_->closed()) ArmTimer();
}

void Connection::OnStreamDrained() {
  // The content has left: from here the data_term wait applies.
  if (client_.waiting_for() == client::Wait::kDataTerm) ArmTimer();
}

void Connection::OnStreamClosed(int error) {
  if (!client_.ended() && tls_ != nullptr && !tls_->handshake_done()) {
    // Lost in the middle of the handshake: a failed handshake, for `may`'s
    // fallback and for the reason logged.
    std::string why = error == 0 ? "connection closed by peer"
                                 : std::string("connection lost: ") + strerror(-error);
    NoteTlsFailure(why);
    client_.Abort(end_reason_.text);
  }
  if (!client_.ended()) {
    std::string why = error == 0 ? "connection closed by " + peer_
                                 : "connection to " + peer_ + " lost: " + strerror(-error);
    client_.Abort(why);
    if (end_reason_.code == 0) {
      end_reason_.code = 451;
      end_reason_.enhanced = "4.4.2";
      end_reason_.text = why;
    }
  }
  stream_->Release();
  stream_ = nullptr;
  Finish();
}

void Connection::OnConnected(int fd) {
  connecting_ = false;
  if (fd >= 0 && aborted_) {
    io_uring_prep_close(context_->loop->Sqe(static_cast<runtime::Completion*>(nullptr)), fd);
    fd = -ECANCELED;
  }
  if (fd < 0) {
    end_reason_.code = 451;
    end_reason_.enhanced = "4.4.1";
    end_reason_.text = "connect to " + peer_ + " failed: " + strerror(-fd);
    return Finish();
  }
  // Without a fully qualified hostname, EHLO names the connection's own
  // address as a literal (RFC 5321 4.1.4), which receivers accept.
  if (context_->helo_name.empty()) client_.set_helo_name(LocalAddressLiteral(fd));
  if (tls_level_ == TlsLevel::kMay &&
      context_->plaintext_hosts->Contains(peer_, context_->loop->now_ms())) {
    tls_level_ = TlsLevel::kNone;
  }
  client_.set_tls(WantFor(tls_level_));
  stream_ = new runtime::Stream(context_->loop, fd, this);
  // Message bodies leave through here, many per send: keep the buffers
  // (two per connection at most) instead of regrowing them.
  stream_->set_retained_send_buffer(kRetainedSendBuffer);
  stream_->Start();
  ArmTimer();
}

void Connection::ArmTimer() {
  const Config& c = *context_->config;
  absl::Duration d;
  const bool handshaking = tls_ != nullptr && !tls_->handshake_done();
  switch (handshaking ? client::Wait::kGreeting : client_.waiting_for()) {
    case client::Wait::kNone:
      if (busy() || stream_ == nullptr) {
        context_->loop->timers().Disarm(&timer_);
        return;
      }
      d = c.connection_idle;
      break;
    case client::Wait::kGreeting:
      d = handshaking ? c.tls_handshake_timeout : c.greeting_timeout;
      break;
    case client::Wait::kCommand:
      d = c.command_timeout;
      break;
    case client::Wait::kMail:
      d = c.mail_timeout;
      break;
    case client::Wait::kRcpt:
      d = c.rcpt_timeout;
      break;
    case client::Wait::kDataInit:
      d = c.data_init_timeout;
      break;
    case client::Wait::kDataTerm:
      sent_mark_ = stream_ != nullptr ? stream_->bytes_sent() : 0;
      d = stream_ != nullptr && stream_->queued_bytes() > 0 ? c.data_block_timeout
                                                             : c.data_term_timeout;
      break;
  }
  const uint64_t deadline = context_->loop->now_ms() + ToMs(d);
  // Many events of one loop turn (each reply, each job begun) would set the
  // same deadline: the timer wheel is touched once.
  if (deadline == armed_deadline_ && timer_.armed()) return;
  armed_deadline_ = deadline;
  context_->loop->timers().Arm(&timer_, deadline);
}

void Connection::OnTimer() {
  if (stream_ == nullptr) return;
  const client::Wait wait = client_.waiting_for();
  if (wait == client::Wait::kNone) {
    if (!busy()) Quit();  // pooled too long
    return;
  }
  if (wait == client::Wait::kDataTerm && stream_->queued_bytes() > 0 &&
      stream_->bytes_sent() != sent_mark_) {
    return ArmTimer();  // the content is still moving: data_block restarts
  }
  if (tls_ != nullptr && !tls_->handshake_done()) return OnTlsFailure("handshake timed out");
  Fail(451, "4.4.2", "timeout waiting for " + std::string(WaitName(wait)) + " from " + peer_,
       -ETIMEDOUT);
}

void Connection::Finish() {
  context_->loop->timers().Disarm(&timer_);
  owner_->ConnectionClosed(this, ever_ready_, end_reason_);
  delete this;
}

}  // namespace ringpost::outbound
