// tests/fuzz/bounce_rules_fuzz.cc — libFuzzer target: bounce rules files
// and the replies they classify (relay/delivery/bounce_class.h).
//
// Input: u8 flags, u8 code selector, then a rules file's text, a NUL, and a
// reply's text (without a NUL the rest is both: the file is also the
// reply). Rules files come from operators and replies from any server on
// the Internet; this target checks that
//   - Parse terminates without crashing; an error is InvalidArgument and
//     names "fuzz.conf:LINE:" with LINE within the text;
//   - every parsed rule has a line within the text, a known category, a
//     class of 0, 4 or 5 and a non-empty pattern;
//   - Match's deciding rule passes its class filter and gives the
//     category; without one the category is ClassifyStatus's; Classify
//     agrees with Match, and twice the same;
//   - BounceMatchText is at most kMatchTextMax octets, has no CR or LF, no
//     leading, trailing or double blank;
//   - the shipped rules (Defaults) classify the same reply without harm.
// Seeds: tests/fuzz/corpus/bounce_rules/.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "relay/delivery/bounce_class.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::delivery::BounceCategory;
using ringpost::delivery::BounceMatch;
using ringpost::delivery::BounceMatchText;
using ringpost::delivery::BounceRules;
using ringpost::delivery::ClassifyStatus;
using ringpost::delivery::kBounceCategories;
using ringpost::delivery::kMatchTextMax;
using ringpost::fuzz::FuzzInput;

constexpr const char* kEnhanced[] = {"",      "5.1.1",  "4.2.2", "5.7.26", "4.4.1",
                                     "5.4.4", "5.7.708", "2.0.0", "5.1",    "9.9.9"};
constexpr int kCodes[] = {0, 250, 421, 450, 451, 452, 550, 552, 553, 554, 530, 199, 600, -1};

size_t Lines(std::string_view text) {
  size_t n = 1;
  for (char c : text) n += c == '\n';
  return n;
}

bool ValidCategory(BounceCategory c) { return static_cast<size_t>(c) < kBounceCategories; }

void CheckMatch(const BounceRules& rules, int code, std::string_view enhanced,
                std::string_view reply) {
  const BounceMatch m = rules.Match(code, enhanced, reply);
  FUZZ_CHECK(ValidCategory(m.category));
  if (m.rule) {
    FUZZ_CHECK(*m.rule < rules.size());
    FUZZ_CHECK(rules.rule(*m.rule).category == m.category);
    const int cls = rules.rule(*m.rule).reply_class;
    if (cls != 0 && code >= 200 && code <= 599) FUZZ_CHECK(cls == code / 100);
  } else if (!enhanced.empty()) {
    FUZZ_CHECK(m.category == ClassifyStatus(code, enhanced));
  }
  FUZZ_CHECK(rules.Classify(code, enhanced, reply) == m.category);
  const BounceMatch again = rules.Match(code, enhanced, reply);
  FUZZ_CHECK(again.category == m.category);
  FUZZ_CHECK(again.rule == m.rule);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  FuzzInput in(data, size);
  const uint8_t flags = in.U8();
  const uint8_t selector = in.U8();
  const std::string_view rest = in.Rest();
  const size_t nul = rest.find('\0');
  const std::string_view text = rest.substr(0, nul);
  const std::string_view reply = nul == std::string_view::npos ? rest : rest.substr(nul + 1);
  const int code = kCodes[selector % std::size(kCodes)];
  const std::string_view enhanced =
      (flags & 1) ? std::string_view() : kEnhanced[(selector / 16) % std::size(kEnhanced)];

  const std::string subject = BounceMatchText(reply);
  FUZZ_CHECK(subject.size() <= kMatchTextMax);
  FUZZ_CHECK(subject.find_first_of("\r\n") == std::string::npos);
  FUZZ_CHECK(subject.empty() || subject.front() != ' ');
  FUZZ_CHECK(subject.find("  ") == std::string::npos);
  if (subject.size() < kMatchTextMax) FUZZ_CHECK(subject.empty() || subject.back() != ' ');

  auto parsed = BounceRules::Parse(text, "fuzz.conf");
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    // (Debian's Abseil has its own string_view.)
    const std::string msg(parsed.status().message());
    FUZZ_CHECK(msg.substr(0, 10) == "fuzz.conf:");
    const size_t colon = msg.find(':', 10);
    FUZZ_CHECK(colon != std::string::npos);
    const std::string digits = msg.substr(10, colon - 10);
    FUZZ_CHECK(!digits.empty());
    FUZZ_CHECK(digits.size() <= 9);
    FUZZ_CHECK(digits.find_first_not_of("0123456789") == std::string::npos);
    const size_t line = std::stoul(digits);
    FUZZ_CHECK(line >= 1);
    FUZZ_CHECK(line <= Lines(text));
  } else {
    const BounceRules& rules = **parsed;
    int last_line = 0;
    for (size_t i = 0; i < rules.size(); ++i) {
      const auto& r = rules.rule(i);
      FUZZ_CHECK(ValidCategory(r.category));
      FUZZ_CHECK(r.reply_class == 0 || r.reply_class == 4 || r.reply_class == 5);
      FUZZ_CHECK(!r.pattern.empty());
      FUZZ_CHECK(r.line > last_line);  // file order, one rule per line
      FUZZ_CHECK(static_cast<size_t>(r.line) <= Lines(text));
      last_line = r.line;
    }
    CheckMatch(rules, code, enhanced, reply);
  }
  if (flags & 2) CheckMatch(*BounceRules::Defaults(), code, enhanced, reply);
  return 0;
}
