// relay/tls/channel.h — one TLS connection as bytes in, bytes out.
//
// A Channel does no I/O. The owner of a socket (an inbound or outbound
// connection, the bench's sink and load generator) hands it the peer's
// bytes as they arrive on the ring and sends whatever it appends to `wire`;
// the channel hands back plaintext. BoringSSL sees the bytes through a BIO
// whose read and write point at the caller's buffers for the length of one
// call (no memory BIO, no extra copy, no blocking call, no thread).
//
//   Receive(in, &plain, &wire)  peer bytes -> plaintext (+ handshake bytes,
//                               alerts, session tickets to send)
//   Send(plain, &wire)          plaintext -> records
//   Start(&wire)                client: the ClientHello
//   Close(&wire)                close_notify
//
// The handshake runs inside Receive; handshake_done() turns true in the call
// that completes it (the owner compares before and after). A failed
// handshake or a bad record makes Receive return kError, error() says why
// in words an operator can act on, and `wire` may hold an alert to send
// before closing.
//
// Memory: BoringSSL keeps no read or write buffer while a connection is
// idle (its SSL_MODE_RELEASE_BUFFERS is always on), so an idle channel is
// its SSL object and session (measured in docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;
struct bio_st;

namespace ringpost::tls {

class ClientContext;

// What the handshake settled, for logs and the Received header.
struct ChannelInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_128_GCM_SHA256"
  bool resumed = false;
  bool verified = false;  // client: the chain and name were checked and good
};

class Channel {
 public:
  enum class Result : uint8_t {
    kOk,      // all input consumed; more may come
    kClosed,  // the peer sent close_notify
    kError,   // handshake or record failure: error() says what; close
  };

  // A server channel on `ctx` (a ServerContext's current SSL_CTX).
  static std::unique_ptr<Channel> NewServer(ssl_ctx_st* ctx);

  // A client channel. `server_name` is sent as SNI when it is a host name;
  // with `verify`, the chain must lead to the context's CA store and the
  // certificate must name `server_name` (a DNS entry, or for an address
  // literal an IP entry). Sessions are resumed from and saved
  // to `context` under `session_key` (per destination).
  static std::unique_ptr<Channel> NewClient(ClientContext* context, std::string_view server_name,
                                            bool verify, std::string session_key);

  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Client: appends the ClientHello to `wire`.
  void Start(std::string* wire);
  Result Receive(std::string_view in, std::string* plain, std::string* wire);
  // Encrypts `plain` (after the handshake). kError only if the channel has
  // already failed.
  Result Send(std::string_view plain, std::string* wire);
  // Appends close_notify (once the handshake is done; otherwise nothing).
  void Close(std::string* wire);

  bool handshake_done() const { return handshake_done_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  ChannelInfo Info() const;
  // "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256" (empty before the handshake).
  std::string Description() const;

 private:
  friend class ClientContext;
  friend std::shared_ptr<ssl_ctx_st> NewClientCtx(const std::string& ca_file,
                                                  std::string* ca_error);
  Channel(ssl_st* ssl, bool client);
  Result Fail(int ssl_error);
  static int OnNewSession(ssl_st* ssl, ssl_session_st* session);
  void Step(std::string* plain);  // handshake, then reads, until input runs out
  static int BioRead(bio_st* bio, char* out, int len);
  static int BioWrite(bio_st* bio, const char* in, int len);

  ssl_st* ssl_;
  ClientContext* client_context_ = nullptr;
  std::string session_key_;
  std::string verify_name_;  // the name or address `verify` checks
  // The caller's buffers for the length of one call.
  std::string_view in_;
  std::string* wire_ = nullptr;
  std::string error_;
  bool client_;
  bool verify_ = false;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool peer_closed_ = false;
};

}  // namespace ringpost::tls
