// relay/smtp/sasl.cc — see sasl.h.
#include "relay/smtp/sasl.h"

#include <array>

namespace ringpost::smtp {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xFF;

// Octet -> 6-bit value, kInvalid outside the alphabet ('=' included: the
// decoder handles padding by position).
constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> t{};
  for (uint8_t& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

uint8_t Sextet(char c) { return kDecode[static_cast<unsigned char>(c)]; }

}  // namespace

bool Base64Decode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  // At most two '=', and only at the very end.
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') {
    pad = text[text.size() - 2] == '=' ? 2 : 1;  // size >= 4 here
  }
  out->reserve(text.size() / 4 * 3);
  const size_t data_end = text.size() - pad;
  // Bounded: each iteration consumes one 4-character group.
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      const size_t k = i + j;
      uint8_t v = 0;
      if (k < data_end) {
        v = Sextet(text[k]);
        if (v == kInvalid) return false;  // junk, or '=' before the end
      }
      group = group << 6 | v;
    }
    if (!last || pad == 0) {
      out->push_back(static_cast<char>(group >> 16));
      out->push_back(static_cast<char>(group >> 8 & 0xFF));
      out->push_back(static_cast<char>(group & 0xFF));
    } else if (pad == 1) {
      // "xyz=": two octets; the last character's low 2 bits are unused.
      if ((group & 0xFF) != 0) return false;
      out->push_back(static_cast<char>(group >> 16));
      out->push_back(static_cast<char>(group >> 8 & 0xFF));
    } else {
      // "xy==": one octet; the second character's low 4 bits are unused.
      if ((group & 0xFFFF) != 0) return false;
      out->push_back(static_cast<char>(group >> 16));
    }
  }
  return true;
}

void Base64Encode(std::string_view octets, std::string* out) {
  out->reserve(out->size() + (octets.size() + 2) / 3 * 4);
  size_t i = 0;
  // Bounded: each iteration consumes three octets.
  for (; i + 3 <= octets.size(); i += 3) {
    const uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(octets[i])) << 16 |
                           static_cast<uint32_t>(static_cast<unsigned char>(octets[i + 1])) << 8 |
                           static_cast<unsigned char>(octets[i + 2]);
    out->push_back(kAlphabet[group >> 18]);
    out->push_back(kAlphabet[group >> 12 & 63]);
    out->push_back(kAlphabet[group >> 6 & 63]);
    out->push_back(kAlphabet[group & 63]);
  }
  const size_t left = octets.size() - i;
  if (left == 0) return;
  uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(octets[i])) << 16;
  if (left == 2) group |= static_cast<uint32_t>(static_cast<unsigned char>(octets[i + 1])) << 8;
  out->push_back(kAlphabet[group >> 18]);
  out->push_back(kAlphabet[group >> 12 & 63]);
  out->push_back(left == 2 ? kAlphabet[group >> 6 & 63] : '=');
  out->push_back('=');
}

SaslPlainResult ParseSaslPlain(std::string_view message, SaslPlain* out) {
  const size_t first = message.find('\0');
  if (first == std::string_view::npos) return SaslPlainResult::kMalformed;
  const size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return SaslPlainResult::kMalformed;
  if (message.find('\0', second + 1) != std::string_view::npos) {
    return SaslPlainResult::kMalformed;
  }
  const std::string_view authzid = message.substr(0, first);
  const std::string_view user = message.substr(first + 1, second - first - 1);
  const std::string_view password = message.substr(second + 1);
  if (user.empty() || password.empty()) return SaslPlainResult::kMalformed;
  if (authzid.size() > kSaslFieldOctetsMax || user.size() > kSaslFieldOctetsMax ||
      password.size() > kSaslFieldOctetsMax) {
    return SaslPlainResult::kMalformed;
  }
  if (!authzid.empty() && authzid != user) return SaslPlainResult::kAuthzidNotUser;
  *out = SaslPlain{authzid, user, password};
  return SaslPlainResult::kOk;
}

bool ValidSaslLoginField(std::string_view field) {
  return !field.empty() && field.size() <= kSaslFieldOctetsMax &&
         field.find('\0') == std::string_view::npos;
}

}  // namespace ringpost::smtp
