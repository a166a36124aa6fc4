// dns/answer.h — the result of one name/type resolution, and the seam
// between MX logic and the resolver.
//
// Answer is what Resolver delivers for Resolve(name, type): a status, the
// canonical name reached through CNAMEs, the records of the asked type and
// a TTL. RecordSource is the interface MxResolver resolves through: the
// io_uring Resolver implements it on a shard; tests implement it with
// scripted answers, so the MX rules are tested without sockets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "dns/message.h"

namespace ringpost::dns {

enum class AnswerStatus : uint8_t {
  kOk,          // records of the asked type (after CNAMEs)
  kNoData,      // the name exists, no records of that type
  kNxDomain,    // the name does not exist
  kServFail,    // every server answered SERVFAIL/REFUSED/NOTIMP/FORMERR
  kTimeout,     // no usable reply from any server in time
  kCnameLoop,   // CNAME loop or chain longer than max_cname_hops
  kBadName,     // the name is not a valid domain name
  kOverloaded,  // too many queries in flight on this shard
  kCancelled,   // Resolver::Shutdown()
};
std::string_view AnswerStatusName(AnswerStatus s);
// Worth retrying later (as opposed to a definite answer or a bad name).
bool IsTemporary(AnswerStatus s);

struct Answer {
  AnswerStatus status = AnswerStatus::kTimeout;
  std::string name;             // canonical name after CNAMEs (or the query name)
  std::vector<Record> records;  // kOk: records of the asked type, owned by `name`
  // kOk: min TTL over the records and the CNAMEs followed. kNoData and
  // kNxDomain: the RFC 2308 negative TTL (0 when the reply had no SOA).
  uint32_t ttl_s = 0;
  std::string detail;  // for logs: what failed, and at which server
};

using AnswerCallback = absl::AnyInvocable<void(Answer)>;

// `done` is called exactly once, never inside Resolve().
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  virtual void Resolve(std::string_view name, RrType type, AnswerCallback done) = 0;
};

}  // namespace ringpost::dns
