// credentials.cc — parsing and checking the auth_users file (see
// credentials.h for its format and the costs of scrypt).

#include "relay/auth/credentials.h"

#include <openssl/base64.h>
#include <openssl/digest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace ringpost::auth {
namespace {

using absl::StrCat;

// Debian's Abseil has its own absl::string_view, which std::string_view
// does not convert to: heterogeneous lookups and StrCat go through this.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// `text` cut at every `sep`: n separators give n + 1 fields.
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (size_t end; (end = text.find(sep, start)) != std::string_view::npos; start = end + 1) {
    fields.push_back(text.substr(start, end - start));
  }
  fields.push_back(text.substr(start));
  return fields;
}

// Space, tab, CR and the like at either end (a CRLF file's '\r' included).
std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

constexpr std::string_view kScheme = "$scrypt$";
constexpr size_t kMaxUserBytes = 255;
constexpr size_t kMinSaltBytes = 8;
constexpr size_t kMaxSaltBytes = 64;
constexpr uint32_t kMinLog2N = 10;
constexpr uint32_t kMaxLog2N = 20;
constexpr uint32_t kMaxR = 32;
constexpr uint32_t kMaxP = 16;
constexpr uint64_t kMaxScryptMemory = uint64_t{256} << 20;
constexpr uint64_t kMaxScryptWork = uint64_t{1} << 21;
// Far above any real list of submitters; a bound so a wrong path (a log, a
// device) fails fast instead of filling memory.
constexpr size_t kMaxFileBytes = 16 << 20;
constexpr size_t kMaxPasswordBytes = 1024;

absl::Status CheckUser(std::string_view user) {
  if (user.empty()) return absl::InvalidArgumentError("user name is empty");
  if (user.size() > kMaxUserBytes) {
    return absl::InvalidArgumentError(
        StrCat("user name is ", user.size(), " octets long (at most ", kMaxUserBytes, ")"));
  }
  for (const char c : user) {
    const auto u = static_cast<unsigned char>(c);
    if (u == ':' || u == ' ' || u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          "user name contains ':', a space or a control character");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckParams(uint32_t log2_n, uint32_t r, uint32_t p) {
  if (log2_n < kMinLog2N || log2_n > kMaxLog2N) {
    return absl::InvalidArgumentError(
        StrCat("ln=", log2_n, " is outside ", kMinLog2N, "..", kMaxLog2N));
  }
  if (r < 1 || r > kMaxR) {
    return absl::InvalidArgumentError(StrCat("r=", r, " is outside 1..", kMaxR));
  }
  if (p < 1 || p > kMaxP) {
    return absl::InvalidArgumentError(StrCat("p=", p, " is outside 1..", kMaxP));
  }
  // RFC 7914 section 2: N < 2^(128 * r / 8); it binds only r = 1 here.
  if (log2_n >= 16 * r) {
    return absl::InvalidArgumentError(
        StrCat("ln=", log2_n, " needs r >= ", log2_n / 16 + 1, " (N < 2^(16 r))"));
  }
  // Every verification runs on a shard's event loop: bound its memory
  // (128 r N bytes) and its work (N r p block mixes) to 16 times the
  // defaults' (16 MiB; 2^17), so a hand-edited line cannot stall a shard
  // for seconds or take gigabytes.
  const uint64_t memory = uint64_t{128} * r << log2_n;
  const uint64_t work = (uint64_t{r} * p) << log2_n;
  if (memory > kMaxScryptMemory || work > kMaxScryptWork) {
    return absl::InvalidArgumentError(
        StrCat("ln=", log2_n, ",r=", r, ",p=", p, " costs more than 16 times the default ",
               "(ln=14,r=8,p=1): at most ", kMaxScryptMemory >> 20, " MiB and N*r*p <= 2^21"));
  }
  return absl::OkStatus();
}

absl::Status CheckSalt(std::string_view salt) {
  if (salt.size() < kMinSaltBytes || salt.size() > kMaxSaltBytes) {
    return absl::InvalidArgumentError(StrCat("salt is ", salt.size(), " octets (want ",
                                             kMinSaltBytes, "..", kMaxSaltBytes, ")"));
  }
  return absl::OkStatus();
}

std::string Base64(std::string_view bytes) {
  size_t size = 0;
  CHECK(EVP_EncodedLength(&size, bytes.size()) == 1);
  std::string out(size, '\0');  // size counts the NUL EVP_EncodeBlock writes
  const size_t written = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                         reinterpret_cast<const uint8_t*>(bytes.data()),
                                         bytes.size());
  CHECK(written + 1 == size);
  out.resize(written);
  return out;
}

// Strict: padded, and only the one canonical spelling of the bytes (zero
// unused bits), checked by encoding the result again.
std::optional<std::string> DecodeBase64(std::string_view text) {
  size_t max_size = 0;
  if (EVP_DecodedLength(&max_size, text.size()) != 1) return std::nullopt;
  std::string out(max_size, '\0');
  size_t size = 0;
  if (EVP_DecodeBase64(reinterpret_cast<uint8_t*>(out.data()), &size, out.size(),
                       reinterpret_cast<const uint8_t*>(text.data()), text.size()) != 1) {
    return std::nullopt;
  }
  out.resize(size);
  if (Base64(out) != text) return std::nullopt;
  return out;
}

// scrypt's working set in BoringSSL: (p + 1 + N) blocks of 128 * r octets.
// Passed as the limit so the accepted parameters never fail for memory
// reasons of BoringSSL's own (its default limit is 32 MiB).
size_t ScryptMemory(uint32_t log2_n, uint32_t r, uint32_t p) {
  return size_t{128} * r * ((size_t{1} << log2_n) + p + 1);
}

bool Scrypt(std::string_view password, std::string_view salt, uint32_t log2_n, uint32_t r,
            uint32_t p, uint8_t (&out)[kHashBytes]) {
  // Empty views may carry a null data(); BoringSSL gets a real pointer.
  const char* pw = password.empty() ? "" : password.data();
  const auto* s = reinterpret_cast<const uint8_t*>(salt.empty() ? "" : salt.data());
  return EVP_PBE_scrypt(pw, password.size(), s, salt.size(), uint64_t{1} << log2_n, r, p,
                        ScryptMemory(log2_n, r, p), out, kHashBytes) == 1;
}

// "ln=14,r=8,p=1": each value 1..9 digits, then range-checked.
absl::Status ParseParams(std::string_view text, uint32_t* log2_n, uint32_t* r, uint32_t* p) {
  const std::vector<std::string_view> parts = Split(text, ',');
  constexpr std::string_view kNames[] = {"ln=", "r=", "p="};
  uint32_t* const values[] = {log2_n, r, p};
  if (parts.size() != 3) {
    return absl::InvalidArgumentError("parameters are not ln=LOG2N,r=R,p=P");
  }
  for (int i = 0; i < 3; ++i) {
    std::string_view part = parts[i];
    if (!part.starts_with(kNames[i])) {
      return absl::InvalidArgumentError("parameters are not ln=LOG2N,r=R,p=P");
    }
    part.remove_prefix(kNames[i].size());
    if (part.empty() || part.size() > 9 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return absl::InvalidArgumentError("parameters are not ln=LOG2N,r=R,p=P");
    }
    uint32_t value = 0;
    for (const char c : part) value = value * 10 + static_cast<uint32_t>(c - '0');
    *values[i] = value;
  }
  return CheckParams(*log2_n, *r, *p);
}

std::array<uint8_t, 32> RandomKey() {
  std::array<uint8_t, 32> key;
  CHECK(RAND_bytes(key.data(), key.size()) == 1);
  return key;
}

// The Verifier's HMAC key: random per process, so cached tags mean nothing
// outside it.
const std::array<uint8_t, 32>& ProcessKey() {
  static const std::array<uint8_t, 32> key = RandomKey();
  return key;
}

}  // namespace

absl::Status Credentials::ParseLine(std::string_view line, std::string* user, Entry* entry) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError("missing ':' between user and hash");
  }
  *user = std::string(line.substr(0, colon));
  if (absl::Status st = CheckUser(*user); !st.ok()) return st;
  std::string_view rest = line.substr(colon + 1);
  if (!rest.starts_with(kScheme)) {
    return absl::InvalidArgumentError("hash does not start with $scrypt$");
  }
  rest.remove_prefix(kScheme.size());
  const std::vector<std::string_view> fields = Split(rest, '$');
  if (fields.size() != 3) {
    return absl::InvalidArgumentError("hash is not $scrypt$PARAMS$SALT$HASH");
  }
  if (absl::Status st = ParseParams(fields[0], &entry->log2_n, &entry->r, &entry->p);
      !st.ok()) {
    return st;
  }
  std::optional<std::string> salt = DecodeBase64(fields[1]);
  if (!salt.has_value()) {
    return absl::InvalidArgumentError("salt is not padded standard base64");
  }
  if (absl::Status st = CheckSalt(*salt); !st.ok()) return st;
  entry->salt = std::move(*salt);
  const std::optional<std::string> hash = DecodeBase64(fields[2]);
  if (!hash.has_value()) {
    return absl::InvalidArgumentError("hash is not padded standard base64");
  }
  if (hash->size() != kHashBytes) {
    return absl::InvalidArgumentError(
        StrCat("hash is ", hash->size(), " octets (want ", kHashBytes, ")"));
  }
  std::memcpy(entry->hash.data(), hash->data(), kHashBytes);
  return absl::OkStatus();
}

Credentials::Credentials() {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1, std::memory_order_relaxed);
}

absl::StatusOr<std::shared_ptr<const Credentials>> Credentials::Parse(std::string_view text,
                                                                      std::string_view origin) {
  std::shared_ptr<Credentials> creds(new Credentials());
  absl::flat_hash_map<std::string, size_t> first_line;  // user -> line number
  size_t line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    std::string user;
    Entry entry;
    if (absl::Status st = ParseLine(line, &user, &entry); !st.ok()) {
      return absl::InvalidArgumentError(StrCat(Av(origin), ":", line_no, ": ", st.message()));
    }
    const auto [it, inserted] = first_line.emplace(user, line_no);
    if (!inserted) {
      return absl::InvalidArgumentError(StrCat(Av(origin), ":", line_no, ": user \"", user,
                                               "\" already on line ", it->second));
    }
    if (creds->entries_.empty()) {
      creds->dummy_.log2_n = entry.log2_n;
      creds->dummy_.r = entry.r;
      creds->dummy_.p = entry.p;
    }
    creds->entries_.emplace(std::move(user), std::move(entry));
  }
  creds->dummy_.salt.resize(kDefaultSaltBytes);
  CHECK(RAND_bytes(reinterpret_cast<uint8_t*>(creds->dummy_.salt.data()),
                   creds->dummy_.salt.size()) == 1);
  return creds;
}

absl::StatusOr<std::shared_ptr<const Credentials>> Credentials::Load(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int error = errno;
    const std::string message = StrCat("cannot open auth users file ", path, ": ",
                                       strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  std::string text;
  char buf[16384];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && text.size() <= kMaxFileBytes) {
    text.append(buf, n);
  }
  const bool failed = ferror(f) != 0;
  const int error = errno;
  fclose(f);
  if (failed) {
    return absl::InternalError(
        StrCat("cannot read auth users file ", path, ": ", strerror(error)));
  }
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        StrCat(path, ": larger than ", kMaxFileBytes >> 20, " MiB"));
  }
  return Parse(text, path);
}

const Credentials::Entry* Credentials::Find(std::string_view user) const {
  const auto it = entries_.find(Av(user));
  return it == entries_.end() ? nullptr : &it->second;
}

bool Credentials::Matches(const Entry& entry, std::string_view password) {
  uint8_t derived[kHashBytes];
  if (!Scrypt(password, entry.salt, entry.log2_n, entry.r, entry.p, derived)) return false;
  const bool equal = CRYPTO_memcmp(derived, entry.hash.data(), kHashBytes) == 0;
  OPENSSL_cleanse(derived, sizeof(derived));
  return equal;
}

bool Credentials::Verify(std::string_view user, std::string_view password) const {
  const Entry* entry = Find(user);
  if (entry == nullptr) {
    // Same work as for a listed user; the result does not matter.
    Matches(dummy_, password);
    return false;
  }
  return Matches(*entry, password);
}

absl::StatusOr<std::string> FormatLine(std::string_view user, std::string_view salt,
                                       uint32_t log2_n, uint32_t r, uint32_t p,
                                       std::string_view password) {
  if (absl::Status st = CheckUser(user); !st.ok()) return st;
  if (absl::Status st = CheckSalt(salt); !st.ok()) return st;
  if (absl::Status st = CheckParams(log2_n, r, p); !st.ok()) return st;
  uint8_t hash[kHashBytes];
  if (!Scrypt(password, salt, log2_n, r, p, hash)) {
    return absl::ResourceExhaustedError(
        StrCat("scrypt failed (", ScryptMemory(log2_n, r, p) >> 20, " MiB needed)"));
  }
  std::string line = StrCat(Av(user), ":", Av(kScheme), "ln=", log2_n, ",r=", r, ",p=", p, "$",
                            Base64(salt), "$",
                            Base64(std::string_view(reinterpret_cast<char*>(hash),
                                                    sizeof(hash))));
  OPENSSL_cleanse(hash, sizeof(hash));
  return line;
}

absl::StatusOr<std::string> MakeUserLine(std::string_view user, std::string_view password) {
  if (password.empty()) return absl::InvalidArgumentError("empty password");
  std::string salt(kDefaultSaltBytes, '\0');
  CHECK(RAND_bytes(reinterpret_cast<uint8_t*>(salt.data()), salt.size()) == 1);
  return FormatLine(user, salt, kDefaultLog2N, kDefaultR, kDefaultP, password);
}

int PasswdMain(std::string_view user, FILE* in, FILE* out, FILE* err) {
  // One octet more than allowed, plus the '\r' of a CRLF line, tells a
  // too-long password from one at the limit.
  std::string password;
  int c = 0;
  while ((c = fgetc(in)) != EOF && c != '\n' && password.size() <= kMaxPasswordBytes + 1) {
    password.push_back(static_cast<char>(c));
  }
  if (ferror(in)) {
    fprintf(err, "ringpost passwd: cannot read the password: %s\n", strerror(errno));
    return 2;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.size() > kMaxPasswordBytes) {
    fprintf(err, "ringpost passwd: password longer than %zu octets\n", kMaxPasswordBytes);
    return 2;
  }
  const absl::StatusOr<std::string> line = MakeUserLine(user, password);
  OPENSSL_cleanse(password.data(), password.size());
  if (!line.ok()) {
    fprintf(err, "ringpost passwd: %s\n", std::string(line.status().message()).c_str());
    return absl::IsInvalidArgument(line.status()) ? 2 : 1;
  }
  if (fprintf(out, "%s\n", line->c_str()) < 0 || fflush(out) != 0) {
    fprintf(err, "ringpost passwd: cannot write the line: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}

Verifier::Verifier(size_t max_entries) : max_entries_(max_entries) {}

bool Verifier::Verify(const std::shared_ptr<const Credentials>& creds, std::string_view user,
                      std::string_view password) {
  CHECK(creds != nullptr);
  if (creds->id() != creds_id_) {
    tags_.clear();
    order_.clear();
    creds_id_ = creds->id();
  }
  const Credentials::Entry* entry = creds->Find(user);
  if (entry == nullptr || max_entries_ == 0) {
    ++scrypt_runs_;
    return creds->Verify(user, password);
  }

  Tag tag;
  unsigned tag_size = 0;
  const std::array<uint8_t, 32>& key = ProcessKey();
  HMAC_CTX ctx;
  HMAC_CTX_init(&ctx);
  CHECK(HMAC_Init_ex(&ctx, key.data(), key.size(), EVP_sha256(), nullptr) == 1);
  CHECK(HMAC_Update(&ctx, reinterpret_cast<const uint8_t*>(entry->salt.data()),
                    entry->salt.size()) == 1);
  CHECK(HMAC_Update(&ctx, reinterpret_cast<const uint8_t*>(password.data()),
                    password.size()) == 1);
  CHECK(HMAC_Final(&ctx, tag.data(), &tag_size) == 1);
  HMAC_CTX_cleanup(&ctx);
  CHECK(tag_size == tag.size());

  const auto it = tags_.find(Av(user));
  if (it != tags_.end() && CRYPTO_memcmp(it->second.data(), tag.data(), tag.size()) == 0) {
    return true;
  }
  ++scrypt_runs_;
  if (!Credentials::Matches(*entry, password)) return false;
  // A user already cached with another tag could only pass here through an
  // scrypt collision; the first tag stays.
  if (it == tags_.end()) {
    if (tags_.size() == max_entries_) {
      tags_.erase(order_.front());
      order_.pop_front();
    }
    tags_.emplace(std::string(user), tag);
    order_.emplace_back(user);
  }
  CHECK(order_.size() == tags_.size());
  return true;
}

}  // namespace ringpost::auth
