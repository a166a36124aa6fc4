// dns/response_fuzzer.cc — libFuzzer target for everything a DNS reply
// reaches: DecodeResponse (header checks, ldns parse, question match,
// record extraction), FollowChain, and the MX rules built on the result.
//
// The first two bytes of the input are used as the expected query ID, so
// inputs get past the ID check and exercise the parser; the expected
// question is "example.test" with types MX, A and AAAA in turn (the seed
// corpus in dns/testdata/response_corpus/ answers those). Input must never
// crash, hang or leak; every outcome is a value.
//
// Build and run with clang (dns/fuzz.sh); under gcc, fuzz_driver.cc runs
// the corpus files through this function (//dns:response_fuzzer_regression_test).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/answer.h"
#include "dns/message.h"
#include "dns/mx.h"

namespace {

using namespace ringpost::dns;

void Exercise(std::string_view wire, RrType type) {
  const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(wire[0]) << 8) |
                                            static_cast<uint8_t>(wire[1]));
  const Question q{"example.test", type};
  auto reply = DecodeResponse(wire, q, id);
  if (!reply.ok()) return;
  if (reply->rcode != kRcodeNoError && reply->rcode != kRcodeNxDomain) return;
  Chain chain = FollowChain(*reply, q.name, type, 8);
  Answer answer;
  answer.name = chain.final_name;
  answer.ttl_s = chain.ttl_s;
  answer.records = chain.records;
  switch (chain.kind) {
    case Chain::kData:
      answer.status = AnswerStatus::kOk;
      break;
    case Chain::kNoData:
      answer.status = AnswerStatus::kNoData;
      break;
    case Chain::kNxDomain:
      answer.status = AnswerStatus::kNxDomain;
      break;
    case Chain::kLoop:
      answer.status = AnswerStatus::kCnameLoop;
      break;
    case Chain::kFollow:
      answer.status = AnswerStatus::kTimeout;
      break;
  }
  if (type != RrType::kMx) return;
  MxOptions options;
  options.ipv6 = (id & 1) != 0;
  auto local = std::make_shared<LocalAddresses>();
  local->Add(*IpAddress::Parse("127.0.0.9"), 0);
  options.local = local;
  MxPlan plan = PlanMxHosts("example.test", answer, options, id);
  // Every host resolves to the reply's own A/AAAA records (if any).
  Answer addresses;
  addresses.status = AnswerStatus::kOk;
  for (const Record& rec : reply->answers) {
    if (rec.type == RrType::kA || rec.type == RrType::kAaaa) addresses.records.push_back(rec);
  }
  if (addresses.records.empty()) addresses.status = AnswerStatus::kNxDomain;
  std::vector<Answer> a(plan.hosts.size(), addresses);
  std::vector<Answer> aaaa(options.ipv6 ? plan.hosts.size() : 0, addresses);
  MxResult result = BuildMxResult("example.test", plan, a, aaaa, options);
  if (result.status == MxStatus::kOk && result.hosts.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view wire(reinterpret_cast<const char*>(data), size);
  (void)NormalizeName(wire.substr(0, 300));
  (void)AddressLiteralResult(wire.substr(0, 64), MxOptions{});
  if (size < 2) return 0;
  Exercise(wire, RrType::kMx);
  Exercise(wire, RrType::kA);
  Exercise(wire, RrType::kAaaa);
  return 0;
}
