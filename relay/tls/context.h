// relay/tls/context.h — the TLS configuration channels are made from.
//
// ServerContext: the relay's certificate and private key, shared by every
// shard (BoringSSL's SSL_CTX is safe to share between threads). Reload()
// reads the files again and swaps in a new SSL_CTX for the handshakes that
// start afterwards; a channel already made keeps its own reference to the
// old one, so no session is dropped. A file that does not load leaves the
// old pair in place. Resumption is by session tickets only (no server-side
// cache to share between shards); BoringSSL rotates each context's ticket
// keys, so after a reload a client's next handshake is a full one. TLS 1.2
// and 1.3 only; for 1.2 the server picks from ECDHE with AES-GCM or
// ChaCha20-Poly1305 in its own order.
//
// ClientContext: one per shard (no locks). Verification against a CA bundle
// (tls_ca_file, the system store by default), and a bounded cache of TLS
// sessions per destination for resumption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct ssl_ctx_st;
struct ssl_session_st;

namespace ringpost::tls {

class ServerContext {
 public:
  static absl::StatusOr<std::unique_ptr<ServerContext>> Create(std::string cert_path,
                                                               std::string key_path);
  ~ServerContext();

  // Re-reads the certificate and key (the paths given last). On error the
  // current pair stays and the status says what failed. From one thread
  // at a time (main's signal handling).
  absl::Status Reload();
  // The same from new paths, kept for later reloads only if they load.
  absl::Status Reload(const std::string& cert_path, const std::string& key_path);

  // The SSL_CTX for a new handshake, with a reference the caller owns (pass
  // to Channel::NewServer, then SSL_CTX_free it: UniqueCtx does that).
  struct CtxDeleter {
    void operator()(ssl_ctx_st* ctx) const;
  };
  using UniqueCtx = std::unique_ptr<ssl_ctx_st, CtxDeleter>;
  UniqueCtx Current() const;

  // How many times a new pair was installed (1 after Create).
  uint64_t generation() const;

 private:
  ServerContext(std::string cert_path, std::string key_path)
      : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {}

  std::string cert_path_;  // touched only by Create and Reload
  std::string key_path_;
  mutable std::mutex mu_;
  ssl_ctx_st* ctx_ = nullptr;  // guarded by mu_
  uint64_t generation_ = 0;    // guarded by mu_
};

// An outbound SSL_CTX: TLS 1.2/1.3, sessions handed to their ClientContext,
// verification against `ca_file` ("" or unloadable: `*ca_error` says why,
// and `verify` handshakes fail as untrusted). Reads the file: build it off
// the shards (at start-up, or on main's thread for a SIGHUP).
std::shared_ptr<ssl_ctx_st> NewClientCtx(const std::string& ca_file, std::string* ca_error);

// Loads a certificate chain and key into a fresh server SSL_CTX (for the
// relay, and for the bench sink). Errors name the file.
absl::StatusOr<ServerContext::UniqueCtx> NewServerCtx(const std::string& cert_path,
                                                      const std::string& key_path);

class ClientContext {
 public:
  struct Options {
    std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
    size_t session_cache_entries = 10000;
  };
  // A CA file that does not load is not fatal: `verify` handshakes then fail
  // as untrusted, and ca_error() says why (logged at start-up).
  explicit ClientContext(const Options& options);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  const std::string& ca_error() const { return ca_error_; }
  // SIGHUP: handshakes from now on use `ctx` (from NewClientCtx, possibly
  // shared with other shards); channels already made keep the old one.
  // Cached sessions are dropped: they were verified against the old CAs.
  void Replace(std::shared_ptr<ssl_ctx_st> ctx, std::string ca_error);
  size_t cached_sessions() const { return sessions_.size(); }
  uint64_t resumed() const { return resumed_; }
  uint64_t handshakes() const { return handshakes_; }

 private:
  friend class Channel;
  ssl_ctx_st* ctx() const { return ctx_.get(); }
  // The cached session for `key`, or null (not up-referenced).
  ssl_session_st* Find(const std::string& key) const;
  // Takes ownership of `session`.
  void Store(const std::string& key, ssl_session_st* session);
  void CountHandshake(bool resumed) {
    handshakes_++;
    if (resumed) resumed_++;
  }

  void DropSessions();

  std::shared_ptr<ssl_ctx_st> ctx_;
  std::string ca_error_;
  size_t max_sessions_;
  absl::flat_hash_map<std::string, ssl_session_st*> sessions_;
  uint64_t handshakes_ = 0;
  uint64_t resumed_ = 0;
};

}  // namespace ringpost::tls
