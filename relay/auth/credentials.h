// credentials.h — the submitters' passwords for SMTP AUTH: the `auth_users`
// file, its scrypt hashes, and a per-shard cache of verified passwords.
//
// The file
//   One user per line, blank lines and `#` comments allowed, surrounding
//   whitespace and a CRLF line end ignored:
//
//     # submitters of example.org
//     alice:$scrypt$ln=14,r=8,p=1$SALT$HASH
//
//   USER is 1..255 octets without ':', whitespace (space, tab) or control
//   characters (< 0x20, 0x7f); other octets, UTF-8 included, are compared
//   exactly. SALT (8..64 octets) and HASH (32 octets) are standard base64
//   (RFC 4648 section 4, `+/` alphabet) WITH `=` padding and zero unused
//   bits: exactly what FormatLine() writes, so one line has one spelling.
//   HASH = scrypt(password, SALT, N = 2^ln, r, p) truncated to 32 octets
//   (RFC 7914; BoringSSL's EVP_PBE_scrypt). Accepted parameters are
//   ln 10..20, r 1..32, p 1..16, and ln < 16 r as scrypt requires (so r = 1
//   allows ln 10..15 only); new lines get ln=14, r=8, p=1 (16 MiB and
//   tens of ms per check) and a 16-octet random salt. Any line that breaks
//   these rules, and a user named twice, fails the whole load with an error
//   naming the file and line: a half-read password file would lock out the
//   users it lost without a word.
//
// Costs
//   One scrypt per Credentials::Verify, on the calling thread: tens of ms
//   at the defaults, but up to 128 * r * (2^ln + p + 1) bytes and
//   proportionally more time at the top of the accepted ranges (4 GiB for
//   ln=20, r=32). The shard calls it on its event loop, so it goes through
//   a Verifier, which runs scrypt once per (user, password) and remembers
//   the success.
//
// Usage
//   absl::StatusOr<std::shared_ptr<const auth::Credentials>> creds =
//       auth::Credentials::Load(path);            // at start-up / reload
//   auth::Verifier verifier;                      // one per shard
//   if (verifier.Verify(*creds, user, password)) { ... 235 ... }
//
// Invariants
//   - A Credentials is immutable after Parse(); Verify() is const and
//     thread-safe, so all shards may share one.
//   - Every entry's parameters are within the accepted ranges, its salt
//     8..64 octets and its hash 32 octets.
//   - Each Credentials has a process-unique id(), so a Verifier tells a
//     reloaded file from the one it cached even at a reused address.

#ifndef RINGPOST_RELAY_AUTH_CREDENTIALS_H_
#define RINGPOST_RELAY_AUTH_CREDENTIALS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ringpost::auth {

inline constexpr uint32_t kDefaultLog2N = 14;
inline constexpr uint32_t kDefaultR = 8;
inline constexpr uint32_t kDefaultP = 1;
inline constexpr size_t kDefaultSaltBytes = 16;
inline constexpr size_t kHashBytes = 32;

class Credentials {
 public:
  // Reads and parses the file at `path` (at most 16 MiB); errors name it.
  static absl::StatusOr<std::shared_ptr<const Credentials>> Load(const std::string& path);
  // Parses file contents; `origin` names them in errors ("origin:LINE: ...").
  static absl::StatusOr<std::shared_ptr<const Credentials>> Parse(std::string_view text,
                                                                  std::string_view origin);

  // True iff `user` is listed and scrypt of `password` matches its hash
  // (compared in constant time). An unknown user still costs one scrypt, on
  // a dummy entry with the first entry's parameters, so timing does not tell
  // which users exist.
  bool Verify(std::string_view user, std::string_view password) const;

  size_t size() const { return entries_.size(); }
  uint64_t id() const { return id_; }

 private:
  friend class Verifier;

  struct Entry {
    uint32_t log2_n = kDefaultLog2N;
    uint32_t r = kDefaultR;
    uint32_t p = kDefaultP;
    std::string salt;
    std::array<uint8_t, kHashBytes> hash{};
  };

  Credentials();
  // One non-blank, non-comment line, stripped of surrounding whitespace.
  static absl::Status ParseLine(std::string_view line, std::string* user, Entry* entry);
  const Entry* Find(std::string_view user) const;
  // Verify() against one entry: scrypt plus constant-time comparison.
  static bool Matches(const Entry& entry, std::string_view password);

  uint64_t id_;
  absl::flat_hash_map<std::string, Entry> entries_;
  Entry dummy_;  // scrypt work for unknown users; the comparison is ignored
};

// The file's line for `user` (no line end) with the given salt and
// parameters. Fails on a user, salt or parameter the file would reject, so
// every line it returns parses.
absl::StatusOr<std::string> FormatLine(std::string_view user, std::string_view salt,
                                       uint32_t log2_n, uint32_t r, uint32_t p,
                                       std::string_view password);

// FormatLine() with a fresh random salt and the default parameters. An empty
// password is an error.
absl::StatusOr<std::string> MakeUserLine(std::string_view user, std::string_view password);

// `ringpost passwd USER`: reads the password from the first line of `in`
// (without its "\n" or "\r\n"; at most 1024 octets), writes MakeUserLine()
// and "\n" to `out`, and reports problems on `err`. Returns the process exit
// code: 0 written, 2 bad user or password, 1 could not write.
int PasswdMain(std::string_view user, FILE* in, FILE* out, FILE* err);

// Not thread-safe: one per shard. Remembers successful verifications so a
// submitter that authenticates on every connection pays scrypt once. Key =
// user; value = HMAC-SHA256(per-process random key, salt || password) of the
// last password that verified, so the cache holds nothing that opens an
// account without the process's key. At most max_entries users (the oldest
// cached is dropped first; 0 disables the cache). A different Credentials
// (a reload) clears it: a removed user or changed password must not linger.
class Verifier {
 public:
  explicit Verifier(size_t max_entries = 4096);

  bool Verify(const std::shared_ptr<const Credentials>& creds, std::string_view user,
              std::string_view password);

  uint64_t scrypt_runs() const { return scrypt_runs_; }
  size_t cached() const { return tags_.size(); }

 private:
  using Tag = std::array<uint8_t, 32>;

  size_t max_entries_;
  uint64_t creds_id_ = 0;  // Credentials::id() the cache belongs to; 0 = none
  uint64_t scrypt_runs_ = 0;
  absl::flat_hash_map<std::string, Tag> tags_;
  std::deque<std::string> order_;  // users in tags_, oldest insertion first
};

}  // namespace ringpost::auth

#endif  // RINGPOST_RELAY_AUTH_CREDENTIALS_H_
