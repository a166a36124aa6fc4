// relay/tls/test_certs.h — certificates made in memory for tests and
// benchmarks: a CA, leaves it issues, self-signed ones, with chosen names,
// key types and validity (an expired one is just a past window).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::tls::testing {

enum class KeyType : uint8_t { kEcdsaP256, kRsa2048 };

struct CertSpec {
  std::string name = "localhost";  // CN and the one subjectAltName (DNS, or IP for an address)
  KeyType key = KeyType::kEcdsaP256;
  int64_t not_before_s = -3600;          // relative to now
  int64_t not_after_s = 365 * 86400;     // relative to now
};

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

class TestCa {
 public:
  TestCa();  // an ECDSA P-256 CA named "ringpost test CA"
  const std::string& cert_pem() const { return ca_.cert_pem; }
  KeyPair Issue(const CertSpec& spec) const;

 private:
  KeyPair ca_;
};

KeyPair SelfSigned(const CertSpec& spec);

// Writes `text` to `name` under $TEST_TMPDIR (or /tmp) and returns the path.
std::string WriteTempFile(std::string_view name, std::string_view text);

}  // namespace ringpost::tls::testing
