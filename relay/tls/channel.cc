#include "relay/tls/channel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "relay/tls/context.h"
#include "relay/tls/errors.h"

namespace ringpost::tls {

std::string LastErrorText() {
  uint32_t code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

namespace {

// Index of the Channel pointer in each SSL's ex_data.
int ChannelIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  CHECK(index >= 0);
  return index;
}

// SSL_read's destination: one per thread, so a channel holds no buffer of
// its own while idle. Plaintext is copied from here to the caller's string.
constexpr size_t kReadChunk = 16 * 1024;

// Why a verifying client refused the peer's certificate, in words.
std::string VerifyFailure(long result, std::string_view name) {
  switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate not yet valid";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return absl::StrCat("certificate name mismatch (expected ", std::string(name), ")");
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return absl::StrCat("untrusted certificate (", X509_verify_cert_error_string(result), ")");
    default:
      return absl::StrCat("certificate verification failed (",
                          X509_verify_cert_error_string(result), ")");
  }
}

}  // namespace

// The BIO both directions of a channel go through: reads take from the
// caller's input, writes append to the caller's output, for one call.
int Channel::BioRead(bio_st* bio, char* out, int len) {
  auto* channel = static_cast<Channel*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (channel->in_.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  size_t n = std::min(channel->in_.size(), static_cast<size_t>(len));
  std::memcpy(out, channel->in_.data(), n);
  channel->in_.remove_prefix(n);
  return static_cast<int>(n);
}

int Channel::BioWrite(bio_st* bio, const char* in, int len) {
  auto* channel = static_cast<Channel*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  CHECK(channel->wire_ != nullptr);
  channel->wire_->append(in, static_cast<size_t>(len));
  return len;
}

namespace {

long BioCtrl(::bio_st*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

const BIO_METHOD* ChannelBioMethod(int (*read)(::bio_st*, char*, int),
                                   int (*write)(::bio_st*, const char*, int)) {
  static BIO_METHOD* const method = [&] {
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "ringpost channel");
    CHECK(m != nullptr);
    CHECK(BIO_meth_set_read(m, read));
    CHECK(BIO_meth_set_write(m, write));
    CHECK(BIO_meth_set_ctrl(m, BioCtrl));
    return m;
  }();
  return method;
}

}  // namespace

Channel::Channel(ssl_st* ssl, bool client) : ssl_(ssl), client_(client) {
  CHECK(ssl_ != nullptr);
  CHECK(SSL_set_ex_data(ssl_, ChannelIndex(), this));
  BIO* bio = BIO_new(ChannelBioMethod(&Channel::BioRead, &Channel::BioWrite));
  CHECK(bio != nullptr);
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // one reference serves both directions
  if (client) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

Channel::~Channel() { SSL_free(ssl_); }

std::unique_ptr<Channel> Channel::NewServer(ssl_ctx_st* ctx) {
  return std::unique_ptr<Channel>(new Channel(SSL_new(ctx), /*client=*/false));
}

std::unique_ptr<Channel> Channel::NewClient(ClientContext* context, std::string_view server_name,
                                            bool verify, std::string session_key) {
  SSL* ssl = SSL_new(context->ctx());
  std::unique_ptr<Channel> channel(new Channel(ssl, /*client=*/true));
  channel->client_context_ = context;
  // A session made under `verify` is offered only to `verify` again:
  // resuming skips the certificate check.
  channel->session_key_ = absl::StrCat(verify ? "verify|" : "any|", session_key);
  channel->verify_ = verify;
  std::string name(server_name);
  // A route to an address literal: no SNI (RFC 6066 3 allows host names
  // only), and `verify` checks the certificate's IP address entries.
  in6_addr scratch;
  const bool literal = inet_pton(AF_INET, name.c_str(), &scratch) == 1 ||
                       inet_pton(AF_INET6, name.c_str(), &scratch) == 1;
  if (!name.empty() && !literal) CHECK(SSL_set_tlsext_host_name(ssl, name.c_str()));
  if (verify) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    if (literal) {
      CHECK(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()));
    } else {
      CHECK(SSL_set1_host(ssl, name.c_str()));
    }
    channel->verify_name_ = name;
  } else {
    // Opportunistic or encrypt-only: any certificate (RFC 7435).
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  if (ssl_session_st* cached = context->Find(channel->session_key_)) {
    SSL_set_session(ssl, cached);
  }
  return channel;
}

int Channel::OnNewSession(ssl_st* ssl, ssl_session_st* session) {
  auto* channel = static_cast<Channel*>(SSL_get_ex_data(ssl, ChannelIndex()));
  if (channel == nullptr || channel->client_context_ == nullptr ||
      channel->session_key_.empty()) {
    return 0;  // not kept: BoringSSL frees it
  }
  channel->client_context_->Store(channel->session_key_, session);
  return 1;  // ours now
}

void Channel::Start(std::string* wire) {
  CHECK(client_);
  in_ = {};
  wire_ = wire;
  std::string unused;
  Step(&unused);
  wire_ = nullptr;
}

Channel::Result Channel::Receive(std::string_view in, std::string* plain, std::string* wire) {
  if (failed_) return Result::kError;
  if (peer_closed_) return Result::kClosed;
  in_ = in;
  wire_ = wire;
  Step(plain);
  wire_ = nullptr;
  in_ = {};
  if (failed_) return Result::kError;
  return peer_closed_ ? Result::kClosed : Result::kOk;
}

void Channel::Step(std::string* plain) {
  if (!handshake_done_) {
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ) Fail(e);
      return;
    }
    handshake_done_ = true;
    if (client_context_ != nullptr) client_context_->CountHandshake(SSL_session_reused(ssl_));
  }
  static thread_local char chunk[kReadChunk];
  for (;;) {
    int n = SSL_read(ssl_, chunk, sizeof(chunk));
    if (n > 0) {
      plain->append(chunk, static_cast<size_t>(n));
      // BoringSSL reads no TLS record ahead: with the input used up and no
      // decrypted bytes left, another SSL_read could only say WANT_READ.
      if (in_.empty() && SSL_pending(ssl_) == 0) return;
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return;
    }
    Fail(e);
    return;
  }
}

Channel::Result Channel::Fail(int ssl_error) {
  failed_ = true;
  long verify = client_ && verify_ ? SSL_get_verify_result(ssl_) : X509_V_OK;
  if (verify != X509_V_OK) {
    ERR_clear_error();
    error_ = VerifyFailure(verify, verify_name_);
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    error_ = "unexpected end of the TLS stream";
  } else {
    error_ = LastErrorText();
  }
  if (!handshake_done_) error_ = absl::StrCat("TLS handshake failed: ", error_);
  return Result::kError;
}

Channel::Result Channel::Send(std::string_view plain, std::string* wire) {
  if (failed_) return Result::kError;
  CHECK(handshake_done_);
  if (plain.empty()) return Result::kOk;
  wire_ = wire;
  int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
  wire_ = nullptr;
  if (n != static_cast<int>(plain.size())) return Fail(SSL_get_error(ssl_, n));
  return Result::kOk;
}

void Channel::Close(std::string* wire) {
  if (!handshake_done_ || failed_) return;
  wire_ = wire;
  SSL_shutdown(ssl_);
  wire_ = nullptr;
}

ChannelInfo Channel::Info() const {
  ChannelInfo info;
  if (!handshake_done_) return info;
  info.version = SSL_get_version(ssl_);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_)) {
    info.cipher = SSL_CIPHER_standard_name(cipher);
  }
  info.resumed = SSL_session_reused(ssl_) != 0;
  info.verified = client_ && verify_;
  return info;
}

std::string Channel::Description() const {
  if (!handshake_done_) return "";
  ChannelInfo info = Info();
  return absl::StrCat(info.version, " with cipher ", info.cipher);
}

}  // namespace ringpost::tls
