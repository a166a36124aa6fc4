// authenticator.cc — see authenticator.h.
#include "relay/inbound/authenticator.h"

#include <arpa/inet.h>

#include <cstring>

#include "base/check.h"

namespace ringpost::inbound {

std::string FailureKey(std::string_view client_ip) {
  in6_addr a;
  std::string ip(client_ip);
  if (ip.find(':') == std::string::npos || inet_pton(AF_INET6, ip.c_str(), &a) != 1) return ip;
  std::memset(&a.s6_addr[8], 0, 8);
  char text[INET6_ADDRSTRLEN];
  CHECK(inet_ntop(AF_INET6, &a, text, sizeof(text)) != nullptr);
  return std::string(text) + "/64";
}

Authenticator::Authenticator(const Config& config, const CredentialSource* source)
    : source_(source),
      limiter_(static_cast<uint32_t>(config.auth_failures_max),
               static_cast<uint64_t>(absl::ToInt64Milliseconds(config.auth_failure_window))) {}

void Authenticator::Reconfigure(const Config& config) {
  limiter_.SetPolicy(static_cast<uint32_t>(config.auth_failures_max),
                     static_cast<uint64_t>(absl::ToInt64Milliseconds(config.auth_failure_window)));
}

server::AuthVerdict Authenticator::Check(std::string_view client_ip, std::string_view user,
                                         std::string_view password, uint64_t now_ms) {
  const std::string key = FailureKey(client_ip);
  if (limiter_.Blocked(key, now_ms)) return server::AuthVerdict::kBlocked;
  std::shared_ptr<const auth::Credentials> credentials = source_->Get();
  if (credentials != nullptr && verifier_.Verify(credentials, user, password)) {
    return server::AuthVerdict::kOk;
  }
  limiter_.RecordFailure(key, now_ms);
  return server::AuthVerdict::kBad;
}

}  // namespace ringpost::inbound
