// dns/message.h — DNS messages: domain names, queries out, replies in.
//
// Pure functions, no I/O: everything the resolver knows about bytes on the
// wire lives here, so every malformed-input case is unit-tested and fuzzed
// (dns/response_fuzzer.cc) without sockets. ldns does the wire encoding and
// decoding (ldns_pkt_query_new/ldns_pkt2wire, ldns_wire2pkt); this file adds
// the checks a stub resolver needs on top of a syntactically valid packet.
//
// What a reply must satisfy to be accepted (DecodeResponse):
//   - it parses (ldns) and is a response (QR=1, opcode QUERY);
//   - its ID is the one we sent (random per attempt);
//   - it echoes our question exactly: one question, same name (case-
//     insensitive), type and class IN.
// Anything else is "not our reply": the resolver ignores it and keeps
// waiting, so a spoofed or stray datagram cannot end a query early.
//
// Names are handled in one canonical form everywhere: lowercase ASCII,
// dot-separated labels of letters, digits, '-' and '_', no trailing dot,
// 1..253 characters: base/mailbox.h's kDnsName rules, which share their
// label scanner with mail domains and host names and say why DNS names are
// the most permissive of the three. A record whose owner or target is not
// such a name (binary labels, embedded dots) is dropped, never escaped.
//
// FollowChain() walks CNAMEs inside one reply from the question name to the
// records of the asked type (bounded hops, loop detection), which is how a
// recursive server returns "www.x → x → A".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mailbox.h"
#include "dns/address.h"

namespace ringpost::dns {

enum class RrType : uint16_t {
  kA = 1,
  kCname = 5,
  kSoa = 6,
  kMx = 15,
  kTxt = 16,
  kAaaa = 28,
};
std::string_view RrTypeName(RrType type);

// Response codes we act on (RFC 1035 4.1.1).
inline constexpr int kRcodeNoError = 0;
inline constexpr int kRcodeFormErr = 1;
inline constexpr int kRcodeServFail = 2;
inline constexpr int kRcodeNxDomain = 3;
inline constexpr int kRcodeNotImp = 4;
inline constexpr int kRcodeRefused = 5;

inline constexpr size_t kMaxNameChars = base::kHostNameCharsMax;  // 253, no trailing dot
inline constexpr size_t kMaxLabelChars = base::kLabelOctetsMax;    // 63
inline constexpr size_t kHeaderBytes = 12;
// Records looked at per reply; a reply with more is still used, the rest
// are ignored (bounds the work one packet can cause).
inline constexpr size_t kMaxRecordsPerReply = 512;

// Canonical form of a domain or host name (see above): lowercased, one
// trailing dot removed. Errors name what is wrong.
absl::StatusOr<std::string> NormalizeName(std::string_view name);
// True if `name` is already canonical (what NormalizeName would return).
bool IsCanonicalName(std::string_view name);

struct Question {
  std::string name;  // canonical
  RrType type = RrType::kA;
};

// A query with RD=1, class IN, the given ID and, when edns_udp_size > 0, an
// OPT record advertising that UDP payload size (RFC 6891).
absl::StatusOr<std::string> EncodeQuery(const Question& q, uint16_t id,
                                        uint16_t edns_udp_size);

struct Record {
  std::string owner;  // canonical
  RrType type = RrType::kA;
  uint32_t ttl_s = 0;
  uint16_t preference = 0;  // MX
  std::string target;       // MX exchange, CNAME target; "" = the root (".")
  IpAddress address;        // A, AAAA
};

struct Response {
  uint16_t id = 0;
  int rcode = 0;
  bool truncated = false;
  // TC=1 and ldns could not parse the rest (a record cut at the size
  // limit): only the header and the question were checked; no records.
  bool partial = false;
  bool authoritative = false;
  std::vector<Record> answers;  // A, AAAA, MX, CNAME of class IN only
  // RFC 2308 section 5: min(SOA TTL, SOA MINIMUM) from the authority
  // section, when a SOA is there.
  std::optional<uint32_t> negative_ttl_s;
};

// Decodes a reply and checks it against what we asked (see above). An error
// means "ignore this packet"; its message says why (for counters and logs).
absl::StatusOr<Response> DecodeResponse(std::string_view wire, const Question& q,
                                        uint16_t id);

struct Chain {
  enum Kind {
    kData,    // records of the asked type for final_name
    kNoData,  // the name exists, no records of that type (NOERROR, empty)
    kNxDomain,
    kFollow,  // the chain leaves this reply: ask again for final_name
    kLoop,    // a CNAME loop, or more than max_hops CNAMEs
  };
  Kind kind = kNoData;
  std::string final_name;       // after the CNAMEs
  std::vector<Record> records;  // kData: of the asked type, owned by final_name
  uint32_t ttl_s = 0;           // min TTL over the CNAMEs and records used
  uint32_t hops = 0;            // CNAMEs followed in this reply
};

// Follows CNAMEs from `qname` through `r`'s answers, at most `max_hops`.
// r.rcode must be NOERROR or NXDOMAIN (other codes are server failures).
Chain FollowChain(const Response& r, std::string_view qname, RrType qtype,
                  uint32_t max_hops);

}  // namespace ringpost::dns
