// tests/fuzz/sasl_fuzz.cc — libFuzzer target: strict base64 and SASL PLAIN
// splitting (relay/smtp/sasl.h), what the session runs on every AUTH line.
//
// Input: u8 mode (bit 0: the payload is octets, else base64 text), then the
// payload. Checks:
//   - text that decodes is the one canonical encoding of its octets:
//     encoding them again gives the text back, and the sizes agree;
//   - octets always survive encode then decode;
//   - ParseSaslPlain (on the decoded octets, or on the octets) agrees with
//     a plain reading of the rules: kOk exactly when there are two NULs,
//     non-empty user and password, fields of at most 255 octets and an
//     authzid empty or equal to the user; the fields it returns rebuild the
//     message;
//   - ValidSaslLoginField agrees with its rule.
// Seeds: tests/fuzz/corpus/sasl/.

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/smtp/sasl.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::smtp::SaslPlainResult;

void CheckPlain(std::string_view message) {
  ringpost::smtp::SaslPlain plain;
  const SaslPlainResult r = ringpost::smtp::ParseSaslPlain(message, &plain);
  // The rules, read independently.
  size_t nuls = 0;
  for (const char c : message) nuls += c == '\0' ? 1 : 0;
  const size_t first = message.find('\0');
  const size_t second = nuls >= 2 ? message.find('\0', first + 1) : std::string_view::npos;
  bool well_formed = nuls == 2;
  bool same_identity = false;
  if (well_formed) {
    const std::string_view authzid = message.substr(0, first);
    const std::string_view user = message.substr(first + 1, second - first - 1);
    const std::string_view password = message.substr(second + 1);
    well_formed = !user.empty() && !password.empty() && authzid.size() <= 255 &&
                  user.size() <= 255 && password.size() <= 255;
    same_identity = authzid.empty() || authzid == user;
  }
  if (!well_formed) {
    FUZZ_CHECK(r == SaslPlainResult::kMalformed);
    return;
  }
  if (!same_identity) {
    FUZZ_CHECK(r == SaslPlainResult::kAuthzidNotUser);
    return;
  }
  FUZZ_CHECK(r == SaslPlainResult::kOk);
  std::string rebuilt(plain.authzid);
  rebuilt.push_back('\0');
  rebuilt.append(plain.user);
  rebuilt.push_back('\0');
  rebuilt.append(plain.password);
  FUZZ_CHECK(rebuilt == message);
  FUZZ_CHECK(ringpost::smtp::ValidSaslLoginField(plain.user));
  FUZZ_CHECK(ringpost::smtp::ValidSaslLoginField(plain.password));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return 0;
  ringpost::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.U8();
  const std::string_view payload = in.Rest();

  std::string octets;
  if ((mode & 1) != 0) {
    std::string text;
    ringpost::smtp::Base64Encode(payload, &text);
    FUZZ_CHECK(text.size() == (payload.size() + 2) / 3 * 4);
    FUZZ_CHECK(ringpost::smtp::Base64Decode(text, &octets));
    FUZZ_CHECK(octets == payload);
  } else if (ringpost::smtp::Base64Decode(payload, &octets)) {
    FUZZ_CHECK(payload.size() % 4 == 0);
    FUZZ_CHECK(octets.size() <= payload.size() / 4 * 3);
    FUZZ_CHECK(octets.size() + 2 >= payload.size() / 4 * 3);
    std::string again;
    ringpost::smtp::Base64Encode(octets, &again);
    FUZZ_CHECK(again == payload);
  } else {
    octets.assign(payload);  // not base64: split the raw octets instead
  }
  CheckPlain(octets);
  const bool login_ok = !octets.empty() && octets.size() <= 255 &&
                        octets.find('\0') == std::string::npos;
  FUZZ_CHECK(ringpost::smtp::ValidSaslLoginField(octets) == login_ok);
  return 0;
}
