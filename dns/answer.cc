// dns/answer.cc — see answer.h.
#include "dns/answer.h"

namespace ringpost::dns {

std::string_view AnswerStatusName(AnswerStatus s) {
  switch (s) {
    case AnswerStatus::kOk:
      return "ok";
    case AnswerStatus::kNoData:
      return "nodata";
    case AnswerStatus::kNxDomain:
      return "nxdomain";
    case AnswerStatus::kServFail:
      return "servfail";
    case AnswerStatus::kTimeout:
      return "timeout";
    case AnswerStatus::kCnameLoop:
      return "cname-loop";
    case AnswerStatus::kBadName:
      return "bad-name";
    case AnswerStatus::kOverloaded:
      return "overloaded";
    case AnswerStatus::kCancelled:
      return "cancelled";
  }
  return "?";
}

bool IsTemporary(AnswerStatus s) {
  switch (s) {
    case AnswerStatus::kOk:
    case AnswerStatus::kNoData:
    case AnswerStatus::kNxDomain:
    case AnswerStatus::kBadName:
      return false;
    default:
      return true;
  }
}

}  // namespace ringpost::dns
