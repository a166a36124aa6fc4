#include "relay/tls/test_certs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace ringpost::tls::testing {
namespace {

bssl::UniquePtr<EVP_PKEY> NewKey(KeyType type) {
  bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
  if (type == KeyType::kEcdsaP256) {
    EC_KEY* ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    CHECK(ec != nullptr && EC_KEY_generate_key(ec));
    CHECK(EVP_PKEY_assign_EC_KEY(pkey.get(), ec));
  } else {
    RSA* rsa = RSA_new();
    bssl::UniquePtr<BIGNUM> e(BN_new());
    CHECK(BN_set_word(e.get(), RSA_F4));
    CHECK(RSA_generate_key_ex(rsa, 2048, e.get(), nullptr));
    CHECK(EVP_PKEY_assign_RSA(pkey.get(), rsa));
  }
  return pkey;
}

std::string ToPem(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  CHECK(PEM_write_bio_X509(bio.get(), cert));
  const uint8_t* data;
  size_t len;
  CHECK(BIO_mem_contents(bio.get(), &data, &len));
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string ToPem(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  CHECK(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr));
  const uint8_t* data;
  size_t len;
  CHECK(BIO_mem_contents(bio.get(), &data, &len));
  return std::string(reinterpret_cast<const char*>(data), len);
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  CHECK(ext != nullptr);
  CHECK(X509_add_ext(cert, ext.get(), -1));
}

// Makes a certificate for `spec` with `key`, signed by `issuer_key` under
// `issuer` (null: self-signed).
KeyPair Make(const CertSpec& spec, bool ca, X509* issuer, EVP_PKEY* issuer_key) {
  static uint64_t serial = 1;
  bssl::UniquePtr<EVP_PKEY> key = NewKey(spec.key);
  bssl::UniquePtr<X509> cert(X509_new());
  CHECK(X509_set_version(cert.get(), X509_VERSION_3));
  CHECK(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial++));
  CHECK(X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_s));
  CHECK(X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_s));
  X509_NAME* name = X509_get_subject_name(cert.get());
  CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const uint8_t*>(spec.name.c_str()), -1, -1,
                                   0));
  CHECK(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name));
  CHECK(X509_set_pubkey(cert.get(), key.get()));
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (ca) {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    in6_addr scratch;
    const bool ip = inet_pton(AF_INET, spec.name.c_str(), &scratch) == 1 ||
                    inet_pton(AF_INET6, spec.name.c_str(), &scratch) == 1;
    AddExtension(cert.get(), signer, NID_subject_alt_name,
                 absl::StrCat(ip ? "IP:" : "DNS:", spec.name).c_str());
    AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  CHECK(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key.get(), EVP_sha256()));
  return KeyPair{ToPem(cert.get()), ToPem(key.get())};
}

bssl::UniquePtr<X509> ParseCert(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  CHECK(cert != nullptr);
  return bssl::UniquePtr<X509>(cert);
}

bssl::UniquePtr<EVP_PKEY> ParseKey(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  CHECK(key != nullptr);
  return bssl::UniquePtr<EVP_PKEY>(key);
}

}  // namespace

TestCa::TestCa() {
  CertSpec spec;
  spec.name = "ringpost test CA";
  spec.not_after_s = 10 * 365 * 86400;
  ca_ = Make(spec, /*ca=*/true, nullptr, nullptr);
}

KeyPair TestCa::Issue(const CertSpec& spec) const {
  bssl::UniquePtr<X509> ca = ParseCert(ca_.cert_pem);
  bssl::UniquePtr<EVP_PKEY> key = ParseKey(ca_.key_pem);
  return Make(spec, /*ca=*/false, ca.get(), key.get());
}

KeyPair SelfSigned(const CertSpec& spec) { return Make(spec, /*ca=*/false, nullptr, nullptr); }

std::string WriteTempFile(std::string_view name, std::string_view text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", std::string(name));
  FILE* f = std::fopen(path.c_str(), "w");
  CHECK(f != nullptr);
  CHECK(std::fwrite(text.data(), 1, text.size(), f) == text.size());
  CHECK(std::fclose(f) == 0);
  return path;
}

}  // namespace ringpost::tls::testing
