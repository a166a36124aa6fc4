#include "relay/tls/context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "relay/tls/channel.h"
#include "relay/tls/errors.h"

namespace ringpost::tls {
namespace {

// TLS 1.2 suites for the server, in its order of preference: forward
// secrecy and AEAD only. TLS 1.3 suites are all AEAD and fixed by BoringSSL.
constexpr char kServerCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

}  // namespace

void ServerContext::CtxDeleter::operator()(ssl_ctx_st* ctx) const { SSL_CTX_free(ctx); }

absl::StatusOr<ServerContext::UniqueCtx> NewServerCtx(const std::string& cert_path,
                                                      const std::string& key_path) {
  ServerContext::UniqueCtx ctx(SSL_CTX_new(TLS_method()));
  CHECK(ctx != nullptr);
  CHECK(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION));
  CHECK(SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION));
  CHECK(SSL_CTX_set_strict_cipher_list(ctx.get(), kServerCiphers));
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Resumption by tickets only: a server-side cache would be shared by
  // every shard behind a lock, and would hold memory per client.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  ERR_clear_error();
  if (!SSL_CTX_use_certificate_chain_file(ctx.get(), cert_path.c_str())) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_cert ", cert_path, ": ", LastErrorText()));
  }
  if (!SSL_CTX_use_PrivateKey_file(ctx.get(), key_path.c_str(), SSL_FILETYPE_PEM)) {
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("tls_key ", key_path,
                                                     " does not match the certificate in ",
                                                     cert_path));
    }
    return absl::InvalidArgumentError(absl::StrCat("tls_key ", key_path, ": ", LastErrorText()));
  }
  if (!SSL_CTX_check_private_key(ctx.get())) {
    return absl::InvalidArgumentError(absl::StrCat("tls_key ", key_path,
                                                   " does not match the certificate in ",
                                                   cert_path, ": ", LastErrorText()));
  }
  return ctx;
}

absl::StatusOr<std::unique_ptr<ServerContext>> ServerContext::Create(std::string cert_path,
                                                                     std::string key_path) {
  std::unique_ptr<ServerContext> context(
      new ServerContext(std::move(cert_path), std::move(key_path)));
  absl::Status status = context->Reload();
  if (!status.ok()) return status;
  return context;
}

ServerContext::~ServerContext() { SSL_CTX_free(ctx_); }

absl::Status ServerContext::Reload() { return Reload(cert_path_, key_path_); }

absl::Status ServerContext::Reload(const std::string& cert_path, const std::string& key_path) {
  absl::StatusOr<UniqueCtx> fresh = NewServerCtx(cert_path, key_path);
  if (!fresh.ok()) return fresh.status();
  cert_path_ = cert_path;
  key_path_ = key_path;
  ssl_ctx_st* old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = ctx_;
    ctx_ = fresh->release();
    generation_++;
  }
  // Channels made from the old context hold their own references.
  SSL_CTX_free(old);
  return absl::OkStatus();
}

ServerContext::UniqueCtx ServerContext::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  SSL_CTX_up_ref(ctx_);
  return UniqueCtx(ctx_);
}

uint64_t ServerContext::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

std::shared_ptr<ssl_ctx_st> NewClientCtx(const std::string& ca_file, std::string* ca_error) {
  std::shared_ptr<ssl_ctx_st> ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  CHECK(ctx != nullptr);
  CHECK(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION));
  CHECK(SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION));
  // Sessions are kept by the ClientContext, per destination, not in
  // BoringSSL's cache (which is keyed by session ID, useless to a client).
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx.get(), &Channel::OnNewSession);
  ERR_clear_error();
  ca_error->clear();
  if (ca_file.empty()) {
    *ca_error = "tls_ca_file is empty";
  } else if (!SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr)) {
    *ca_error = absl::StrCat("tls_ca_file ", ca_file, ": ", LastErrorText());
  }
  return ctx;
}

ClientContext::ClientContext(const Options& options)
    : max_sessions_(options.session_cache_entries) {
  ctx_ = NewClientCtx(options.ca_file, &ca_error_);
}

ClientContext::~ClientContext() { DropSessions(); }

void ClientContext::Replace(std::shared_ptr<ssl_ctx_st> ctx, std::string ca_error) {
  CHECK(ctx != nullptr);
  ctx_ = std::move(ctx);
  ca_error_ = std::move(ca_error);
  DropSessions();
}

void ClientContext::DropSessions() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  sessions_.clear();
}

ssl_session_st* ClientContext::Find(const std::string& key) const {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : it->second;
}

void ClientContext::Store(const std::string& key, ssl_session_st* session) {
  auto [it, inserted] = sessions_.try_emplace(key, session);
  if (!inserted) {
    SSL_SESSION_free(it->second);
    it->second = session;
    return;
  }
  if (sessions_.size() > max_sessions_) {
    // Any other entry: the cache is an optimisation, a miss costs one full
    // handshake.
    auto victim = sessions_.begin();
    if (victim == it) ++victim;
    SSL_SESSION_free(victim->second);
    sessions_.erase(victim);
  }
}

}  // namespace ringpost::tls
