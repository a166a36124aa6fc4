// relay/outbound/connection.h — one pooled SMTP connection to a destination
// address: a runtime::Stream (bytes on the ring) driving a
// client::SmtpClient (the SMTP client state machine).
//
// It knows no shard and no queue: it asks its owner (relay/outbound/pool)
// for the next job while the client has room for another transaction
// (outbound_pipeline_depth with PIPELINING and CHUNKING, else one), reports
// each transaction's per-recipient outcomes and, at the end, whether it ever
// got past EHLO and why it closed.
//
// One timer per connection follows what the client waits for
// (SmtpClient::waiting_for): each RFC 5321 4.5.3.2 reply timeout by phase,
// data_block while the content is still leaving (restarted whenever it
// makes progress), or connection_idle when nothing is outstanding.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "relay/config/config.h"
#include "relay/delivery/limiter.h"
#include "relay/delivery/message.h"
#include "relay/outbound/smtp_client.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"
#include "relay/tls/context.h"
#include "relay/tls/pipe.h"

namespace ringpost::outbound {

class Connection;
struct Site;

class ConnectionOwner {
 public:
  // A job for `conn` now, or nullptr (then `conn` is parked until one comes).
  virtual DeliveryJob* NextJob(Connection* conn) = 0;
  // `conn` got past EHLO for the first time.
  virtual void ConnectionReady(Connection* conn) = 0;
  // One transaction ended; `outcomes` has one entry per job->rcpts.
  virtual void TransactionDone(DeliveryJob* job, const std::string& peer,
                               std::vector<client::RecipientOutcome>& outcomes) = 0;
  // `conn` is gone (it frees itself right after). `ever_ready`: it got past
  // EHLO; otherwise the address could not be used, for `reason`.
  virtual void ConnectionClosed(Connection* conn, bool ever_ready,
                                const client::RecipientOutcome& reason) = 0;
  virtual bool draining() const = 0;

 protected:
  ~ConnectionOwner() = default;
};

// Hosts (by address) whose TLS handshake failed under `may`: mail to them
// goes in plaintext until the entry expires (tls_fallback_ttl). Bounded:
// when full, expired entries go first, then any.
class PlaintextHosts {
 public:
  bool Contains(const std::string& peer, uint64_t now_ms);
  void Add(const std::string& peer, uint64_t until_ms);

 private:
  static constexpr size_t kMaxEntries = 65536;
  absl::flat_hash_map<std::string, uint64_t> until_;
};

// What every outbound connection of one shard shares.
struct ConnectionContext {
  runtime::Loop* loop = nullptr;
  const Config* config = nullptr;
  // Outbound EHLO name; empty: each connection names its own address as a
  // literal (RFC 5321 4.1.4).
  std::string helo_name;
  tls::ClientContext* tls = nullptr;
  PlaintextHosts* plaintext_hosts = nullptr;
};

class Connection final : public runtime::StreamHandler, public client::ClientHost {
 public:
  // `tls_name`: the host name of `addr` (TLS verifies it, SNI names it).
  Connection(const ConnectionContext* context, ConnectionOwner* owner,
             const sockaddr_storage& addr, size_t addr_index, TlsLevel tls,
             std::string tls_name);
  ~Connection();

  void Connect();
  // Takes jobs from the owner while the client has room for more; quits the
  // connection at its message limit or when draining.
  void Fill();
  void Quit();
  // Final close at the end of a drain; a connect in flight closes on arrival.
  void Abort();

  bool busy() const { return in_flight_ > 0; }
  // Recipients of the transactions in flight (the site's queue depth).
  size_t in_flight_recipients() const { return in_flight_rcpts_; }
  // Closed because a `may` handshake failed: the host is to be tried again
  // in plaintext, not counted as a failed address.
  bool tls_fallback() const { return tls_fallback_; }
  bool connecting() const { return connecting_; }
  size_t addr_index() const { return addr_index_; }
  size_t capacity() const { return client_.capacity(); }
  bool parked = false;      // in its site's idle list
  Site* site = nullptr;     // the owner's destination this connection serves
  // The budget it counts against (the site's when it opened).
  delivery::Limiter* limiter = nullptr;
  // Its destination policy's limits (max_messages_per_connection,
  // max_recipients_per_transaction); the settings' until set.
  void SetLimits(size_t max_messages, size_t max_recipients) {
    max_messages_ = max_messages;
    client_.set_max_recipients_per_transaction(max_recipients);
  }

  // ClientHost. Inside TLS the client writes plaintext to the pipe, which
  // OutputReady encrypts into the stream.
  std::string& Output() override {
    if (stream_ == nullptr) return sink_;
    return tls_ != nullptr ? tls_->plain_out() : stream_->output();
  }
  void OutputReady() override;
  void StartTls() override;
  void OnIdle() override;
  void OnTransactionDone(void* cookie, std::vector<client::RecipientOutcome>& outcomes) override;
  void OnSessionEnd(const client::RecipientOutcome& reason) override;

  // StreamHandler
  void OnStreamData(std::string_view data) override;
  void OnStreamDrained() override;
  void OnStreamClosed(int error) override;

 private:
  void Deliver(DeliveryJob* job);
  void OnConnected(int fd);
  void ArmTimer();
  void OnTimer();
  void Finish();
  void OnTlsData(std::string_view data);
  void OnTlsFailure(std::string_view error);
  // Records a failed handshake: the 4.7.5 reason, and for `may` the host's
  // plaintext fallback.
  void NoteTlsFailure(std::string_view error);
  // Sets the session-end reason and closes: the connection is unusable.
  void Fail(int code, std::string_view enhanced, std::string why, int error);

  const ConnectionContext* context_;
  ConnectionOwner* owner_;
  client::SmtpClient client_;
  runtime::Stream* stream_ = nullptr;
  runtime::Timer timer_;
  uint64_t sent_mark_ = 0;       // bytes sent when the data_block wait began
  uint64_t armed_deadline_ = 0;  // of timer_, when armed
  size_t in_flight_ = 0;  // transactions handed to the client, not yet done
  size_t in_flight_rcpts_ = 0;  // their recipients
  size_t messages_ = 0;
  size_t max_messages_ = 0;  // transactions before QUIT (SetLimits)
  bool connecting_ = false;
  bool ever_ready_ = false;
  bool aborted_ = false;
  client::RecipientOutcome end_reason_;
  client::Transaction txn_;
  sockaddr_storage addr_ = {};
  size_t addr_index_ = 0;  // which of the site's addresses
  std::string peer_;       // the address connected to, for logs
  std::string sink_;
  TlsLevel tls_level_;                    // of this connection (after fallback)
  std::string tls_name_;
  std::unique_ptr<tls::Pipe> tls_;        // from the 220 to STARTTLS on
  tls::ChannelInfo tls_info_;             // once the handshake is done
  bool tls_fallback_ = false;
};

}  // namespace ringpost::outbound
