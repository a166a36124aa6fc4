// relay/inbound/connection.h — one client's SMTP connection on a shard: a
// runtime::Stream (bytes on the ring) driving a server::Session (the SMTP
// state machine), with the connection's timers and flow control.
//
// It knows no shard. Finished messages go to a SubmitPort; the commit's
// answer comes back through CommitListener::Committed; refusals are written
// to the delivery log; when the connection is gone it tells its owner
// (relay/inbound/server), which counts and limits connections.
//
// Timers (RFC 5321 4.5.3.2): idle_timeout restarts when a command arrives
// (not on each byte: a client trickling one command a byte at a time is
// cut), and on every read inside message content; session_timeout caps the
// whole connection. While a message waits for the spool, the idle timer
// waits too.
//
// Flow control: a session holding too much pipelined input pauses reading
// (PauseInput); so does a client that does not read its replies (more than
// kMaxQueuedReplyBytes queued), until they have left.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "relay/delivery/delivery_log.h"
#include "relay/delivery/message.h"
#include "relay/inbound/session.h"
#include "relay/inbound/submit_port.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"
#include "relay/tls/context.h"
#include "relay/tls/pipe.h"

namespace ringpost::inbound {

class Authenticator;
class Connection;

// What a listener asks of its connections.
struct ListenerMode {
  bool implicit_tls = false;  // listen_tls: the handshake comes first (RFC 8314)
  bool proxy_header = false;  // the peer is in proxy_trusted: a PROXY header comes first
  bool require_tls = false;
  bool require_auth = false;
};

// What every inbound connection of one shard shares. SIGHUP changes the
// timeouts in place (a session sees them from its next wait on); a
// connection keeps the limits and the authenticator it started with.
struct ConnectionContext {
  runtime::Loop* loop = nullptr;
  std::shared_ptr<const server::SessionLimits> limits;
  std::string hostname;
  uint64_t idle_timeout_ms = 0;
  uint64_t session_timeout_ms = 0;
  SubmitPort* submit = nullptr;
  DeliveryLog* log = nullptr;
  tls::ServerContext* tls = nullptr;  // null: no STARTTLS, no listen_tls
  Authenticator* auth = nullptr;      // null: no AUTH
  uint64_t tls_handshake_timeout_ms = 0;
  uint64_t auth_failure_delay_ms = 0;
  uint64_t proxy_timeout_ms = 0;
};

class ConnectionOwner {
 public:
  // A PROXY header named the client behind the balancer (`client`; for a
  // LOCAL header the balancer itself). Counts it against the per-client
  // limit and says whether it may relay; false: over the limit (the
  // connection is refused).
  virtual bool ClientIdentified(Connection* conn, const sockaddr_storage& client,
                                bool* relay_allowed) = 0;
  // The connection is gone (closed, and no commit outstanding); it frees
  // itself right after this returns.
  virtual void ConnectionClosed(Connection* conn) = 0;

 protected:
  ~ConnectionOwner() = default;
};

class Connection final : public runtime::StreamHandler,
                         public server::SessionHost,
                         public CommitListener {
 public:
  Connection(const ConnectionContext* context, ConnectionOwner* owner, int fd, std::string ip,
             bool relay_allowed, ListenerMode mode);

  void Start();
  // Refuses a connection over a limit with `reply` (a 421) and closes.
  void Refuse(std::string_view reply);
  // Server shutdown: 421 at the next opportunity, then close.
  void Shutdown() { session_.Shutdown(); }
  // Final close at the end of a drain.
  void Abort();

  bool awaiting_commit() const { return commits_pending_ > 0; }
  const std::string& ip() const { return ip_; }
  // The address counted in the per-client limit ("" = none yet: a proxied
  // connection before its header).
  const std::string& counted_ip() const { return counted_ip_; }
  void set_counted_ip(std::string ip) { counted_ip_ = std::move(ip); }
  bool refused() const { return refused_; }

  // StreamHandler
  void OnStreamData(std::string_view data) override;
  void OnStreamClosed(int error) override;
  void OnStreamDrained() override;

  // SessionHost. Inside TLS the session writes plaintext to the pipe, which
  // OutputReady encrypts into the stream.
  std::string& Output() override {
    if (stream_ == nullptr) return sink_;
    return tls_ != nullptr ? tls_->plain_out() : stream_->output();
  }
  void OutputReady() override;
  void StartTls() override;
  server::AuthVerdict Authenticate(std::string_view user, std::string_view password) override;
  uint64_t NewMessageId() override { return context_->submit->NewMessageId(); }
  std::unique_ptr<server::IncomingMessage> NewIncomingMessage() override {
    return context_->submit->NewIncomingMessage();
  }
  absl::Status SpoolAvailable() override { return context_->submit->CanAccept(); }
  void Submit(std::unique_ptr<server::IncomingMessage> message) override;
  void CloseAfterOutput() override;
  void PauseInput() override;
  void ResumeInput() override;
  int64_t WallClockMs() override { return context_->loop->wall_ms(); }
  void OnRejected(std::string_view sender, std::string_view recipient, int code,
                  std::string_view enhanced, std::string_view text) override;

  // CommitListener: the spool answered for a message this connection submitted.
  void Committed(absl::Status status, uint64_t id) override;
  const std::string& peer() const override { return ip_; }

 private:
  static constexpr size_t kMaxQueuedReplyBytes = 256 * 1024;

  void UpdateReading();
  void OnProxyData(std::string_view data);
  // The session (or, on a listen_tls port, the handshake) begins; `early`:
  // client bytes that came with the PROXY header.
  void Begin(std::string_view early);
  void NewTlsChannel();
  void OnTlsData(std::string_view data);
  void FeedSession(std::string_view data);
  void ArmIdle();
  void OnIdleTimeout();
  void Destroy();

  const ConnectionContext* context_;
  // As they were when the connection came in (the context may change).
  std::shared_ptr<const server::SessionLimits> limits_;
  Authenticator* auth_;  // null: no AUTH
  ConnectionOwner* owner_;
  std::string ip_;
  runtime::Stream* stream_;
  server::Session session_;
  runtime::Timer idle_timer_;
  uint64_t session_deadline_ms_ = 0;
  std::string sink_;  // output after the stream is gone
  int commits_pending_ = 0;  // messages handed to the spool, not yet answered
  bool session_paused_ = false;  // the session holds too much pipelined input
  bool output_paused_ = false;   // the client does not read its replies
  bool closed_ = false;
  bool refused_ = false;
  ListenerMode mode_;
  std::string counted_ip_;
  bool awaiting_proxy_ = false;  // a PROXY header is still to come
  bool first_data_ = true;       // the client has sent nothing yet
  std::string proxy_in_;         // the header so far (bounded by proxy::kMaxV2Bytes)
  std::unique_ptr<tls::Pipe> tls_;  // from STARTTLS's 220 (or accept, listen_tls) on
  // Over auth_failures_max: the 421 is held for auth_failure_delay.
  bool tarpit_ = false;
  bool close_after_tarpit_ = false;
};

}  // namespace ringpost::inbound
