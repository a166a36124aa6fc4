// relay/inbound/authenticator.h — SMTP AUTH decisions for one shard's
// inbound connections: credentials (auth_users) checked through a per-shard
// scrypt cache, and failures counted per client address.
//
// CredentialSource is shared by every shard: main loads the file at start
// and on SIGHUP (a file that does not load keeps the old credentials).
// Authenticator is per shard (no locks but the source's, taken once per
// AUTH): a client address with auth_failures_max failures within
// auth_failure_window gets kBlocked (the session answers 421) until the
// window has passed. IPv6 clients are counted per /64: one host holds a
// whole /64 and could otherwise take a fresh address per guess.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "relay/auth/credentials.h"
#include "relay/auth/failure_limiter.h"
#include "relay/config/config.h"
#include "relay/inbound/session.h"

namespace ringpost::inbound {

class CredentialSource {
 public:
  std::shared_ptr<const auth::Credentials> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return credentials_;
  }
  void Set(std::shared_ptr<const auth::Credentials> credentials) {
    std::lock_guard<std::mutex> lock(mu_);
    credentials_ = std::move(credentials);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const auth::Credentials> credentials_;
};

class Authenticator {
 public:
  Authenticator(const Config& config, const CredentialSource* source);

  server::AuthVerdict Check(std::string_view client_ip, std::string_view user,
                            std::string_view password, uint64_t now_ms);
  uint64_t scrypt_runs() const { return verifier_.scrypt_runs(); }
  // SIGHUP: auth_failures_max and auth_failure_window from `config`.
  void Reconfigure(const Config& config);

 private:
  const CredentialSource* source_;
  auth::Verifier verifier_;
  auth::FailureLimiter limiter_;
};

// The key failures are counted under: the address, or an IPv6 address's /64.
std::string FailureKey(std::string_view client_ip);

}  // namespace ringpost::inbound
