// dns/message.cc — see message.h. ldns is used for wire format only.
#include "dns/message.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace ringpost::dns {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

// A byte a name may hold: base/mailbox's DNS rules (letters, digits, '-',
// '_'), shared with the mail-domain and host-name checks.
bool NameChar(unsigned char c) { return base::IsLabelByte(c, base::kDnsName); }

char Lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A'))
                                : static_cast<char>(c);
}

// A DNAME rdf (uncompressed wire labels, as ldns stores it) in canonical
// form; nullopt if a label is not a host-name label. The root is "".
std::optional<std::string> DnameToName(const ldns_rdf* rdf) {
  if (rdf == nullptr || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME) {
    return std::nullopt;
  }
  const uint8_t* p = ldns_rdf_data(rdf);
  const size_t size = ldns_rdf_size(rdf);
  std::string out;
  size_t i = 0;
  // At most 128 labels fit in 255 bytes: the loop is bounded by `size`.
  while (i < size) {
    const size_t len = p[i];
    ++i;
    if (len == 0) {
      if (i != size) return std::nullopt;  // bytes after the root label
      if (out.size() > kMaxNameChars) return std::nullopt;
      return out;
    }
    if (len > kMaxLabelChars || i + len > size) return std::nullopt;
    if (!out.empty()) out.push_back('.');
    for (size_t k = 0; k < len; ++k) {
      if (!NameChar(p[i + k])) return std::nullopt;
      out.push_back(Lower(p[i + k]));
    }
    i += len;
  }
  return std::nullopt;  // no terminating root label
}

bool RdfIs(const ldns_rr* rr, size_t index, ldns_rdf_type type, size_t size) {
  if (ldns_rr_rd_count(rr) <= index) return false;
  const ldns_rdf* rdf = ldns_rr_rdf(rr, index);
  return rdf != nullptr && ldns_rdf_get_type(rdf) == type &&
         (size == 0 || ldns_rdf_size(rdf) == size);
}

// One answer record in our form; nullopt for types and shapes we skip.
std::optional<Record> ToRecord(const ldns_rr* rr) {
  if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) return std::nullopt;
  auto owner = DnameToName(ldns_rr_owner(rr));
  if (!owner || owner->empty()) return std::nullopt;
  Record rec;
  rec.owner = std::move(*owner);
  rec.ttl_s = ldns_rr_ttl(rr);
  switch (ldns_rr_get_type(rr)) {
    case LDNS_RR_TYPE_A: {
      if (!RdfIs(rr, 0, LDNS_RDF_TYPE_A, 4)) return std::nullopt;
      rec.type = RrType::kA;
      rec.address.family = AF_INET;
      std::memcpy(rec.address.bytes.data(), ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4);
      return rec;
    }
    case LDNS_RR_TYPE_AAAA: {
      if (!RdfIs(rr, 0, LDNS_RDF_TYPE_AAAA, 16)) return std::nullopt;
      rec.type = RrType::kAaaa;
      rec.address.family = AF_INET6;
      std::memcpy(rec.address.bytes.data(), ldns_rdf_data(ldns_rr_rdf(rr, 0)), 16);
      return rec;
    }
    case LDNS_RR_TYPE_MX: {
      if (!RdfIs(rr, 0, LDNS_RDF_TYPE_INT16, 2)) return std::nullopt;
      if (!RdfIs(rr, 1, LDNS_RDF_TYPE_DNAME, 0)) return std::nullopt;
      auto target = DnameToName(ldns_rr_rdf(rr, 1));
      if (!target) return std::nullopt;
      rec.type = RrType::kMx;
      rec.preference = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
      rec.target = std::move(*target);
      return rec;
    }
    case LDNS_RR_TYPE_CNAME: {
      if (!RdfIs(rr, 0, LDNS_RDF_TYPE_DNAME, 0)) return std::nullopt;
      auto target = DnameToName(ldns_rr_rdf(rr, 0));
      if (!target || target->empty()) return std::nullopt;
      rec.type = RrType::kCname;
      rec.target = std::move(*target);
      return rec;
    }
    default:
      return std::nullopt;
  }
}

uint16_t ReadU16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) |
                               static_cast<uint8_t>(p[1]));
}

// TC=1, opcode QUERY, one question equal to `q` (name compared
// case-insensitively, no compression: the question is the first name).
bool TruncatedButOurs(std::string_view wire, const Question& q) {
  if ((static_cast<uint8_t>(wire[2]) & 0x02) == 0) return false;  // TC
  if ((static_cast<uint8_t>(wire[2]) & 0x78) != 0) return false;  // opcode
  if (ReadU16(wire.data() + 4) != 1) return false;                // QDCOUNT
  size_t i = kHeaderBytes;
  std::string_view name = q.name;
  // Bounded: each pass consumes one label of `name`.
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
    if (i >= wire.size() || static_cast<uint8_t>(wire[i]) != label.size()) return false;
    ++i;
    if (i + label.size() > wire.size()) return false;
    for (size_t k = 0; k < label.size(); ++k) {
      if (Lower(static_cast<unsigned char>(wire[i + k])) != label[k]) return false;
    }
    i += label.size();
  }
  if (i + 5 > wire.size() || wire[i] != 0) return false;
  return ReadU16(wire.data() + i + 1) == static_cast<uint16_t>(q.type) &&
         ReadU16(wire.data() + i + 3) == LDNS_RR_CLASS_IN;
}

}  // namespace

std::string_view RrTypeName(RrType type) {
  switch (type) {
    case RrType::kA:
      return "A";
    case RrType::kCname:
      return "CNAME";
    case RrType::kSoa:
      return "SOA";
    case RrType::kMx:
      return "MX";
    case RrType::kTxt:
      return "TXT";
    case RrType::kAaaa:
      return "AAAA";
  }
  return "?";
}

bool IsCanonicalName(std::string_view name) {
  if (base::CheckName(name, base::kDnsName) != base::NameError::kOk) return false;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

absl::StatusOr<std::string> NormalizeName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  switch (base::CheckName(name, base::kDnsName)) {
    case base::NameError::kOk:
      break;
    case base::NameError::kEmpty:
      return absl::InvalidArgumentError("empty domain name");
    case base::NameError::kTooLong:
      return absl::InvalidArgumentError("domain name longer than 253 characters");
    case base::NameError::kEmptyLabel:
      return absl::InvalidArgumentError("empty label in domain name");
    case base::NameError::kLabelTooLong:
      return absl::InvalidArgumentError("label longer than 63 characters");
    case base::NameError::kNonAscii:
    case base::NameError::kBadUtf8:
      return absl::InvalidArgumentError(
          "non-ASCII domain name (IDNA A-label conversion is not supported)");
    case base::NameError::kEdgeHyphen:  // kDnsName allows it
    case base::NameError::kBadChar:
      return absl::InvalidArgumentError("invalid character in domain name");
  }
  std::string out(name);
  for (char& c : out) c = Lower(static_cast<unsigned char>(c));
  return out;
}

absl::StatusOr<std::string> EncodeQuery(const Question& q, uint16_t id,
                                        uint16_t edns_udp_size) {
  if (!IsCanonicalName(q.name)) {
    return absl::InvalidArgumentError("query name is not canonical: " + q.name);
  }
  ldns_rdf* dname = ldns_dname_new_frm_str(q.name.c_str());
  if (dname == nullptr) return absl::InvalidArgumentError("bad name: " + q.name);
  // ldns_pkt_query_new takes ownership of `dname`, also on failure.
  PktPtr pkt(ldns_pkt_query_new(dname, static_cast<ldns_rr_type>(q.type),
                                LDNS_RR_CLASS_IN, LDNS_RD));
  if (pkt == nullptr) return absl::ResourceExhaustedError("ldns_pkt_query_new");
  ldns_pkt_set_id(pkt.get(), id);
  if (edns_udp_size > 0) ldns_pkt_set_edns_udp_size(pkt.get(), edns_udp_size);
  uint8_t* wire = nullptr;
  size_t size = 0;
  const ldns_status st = ldns_pkt2wire(&wire, pkt.get(), &size);
  if (st != LDNS_STATUS_OK || wire == nullptr) {
    std::free(wire);
    return absl::InternalError(std::string("ldns_pkt2wire: ") +
                               ldns_get_errorstr_by_id(st));
  }
  std::string out(reinterpret_cast<const char*>(wire), size);
  std::free(wire);
  return out;
}

absl::StatusOr<Response> DecodeResponse(std::string_view wire, const Question& q,
                                        uint16_t id) {
  // Cheap header checks first: most strays fail here without a parse.
  if (wire.size() < kHeaderBytes) return absl::InvalidArgumentError("short reply");
  if (wire.size() > LDNS_MAX_PACKETLEN) return absl::InvalidArgumentError("oversized reply");
  if (ReadU16(wire.data()) != id) return absl::InvalidArgumentError("wrong ID");
  if ((static_cast<uint8_t>(wire[2]) & 0x80) == 0) {
    return absl::InvalidArgumentError("not a response (QR=0)");
  }
  ldns_pkt* raw = nullptr;
  const ldns_status st = ldns_wire2pkt(
      &raw, reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  PktPtr pkt(raw);
  if (st != LDNS_STATUS_OK || pkt == nullptr) {
    // Some servers truncate a reply at the byte limit (cutting a record in
    // half) and set TC. It still means "ask over TCP" when the header and
    // the question are ours.
    if (TruncatedButOurs(wire, q)) {
      Response r;
      r.id = id;
      r.rcode = static_cast<uint8_t>(wire[3]) & 0x0f;
      r.truncated = true;
      r.partial = true;
      return r;
    }
    return absl::InvalidArgumentError(std::string("malformed reply: ") +
                                      ldns_get_errorstr_by_id(st));
  }
  if (ldns_pkt_get_opcode(pkt.get()) != LDNS_PACKET_QUERY) {
    return absl::InvalidArgumentError("opcode is not QUERY");
  }
  const ldns_rr_list* question = ldns_pkt_question(pkt.get());
  if (ldns_pkt_qdcount(pkt.get()) != 1 || question == nullptr ||
      ldns_rr_list_rr_count(question) != 1) {
    return absl::InvalidArgumentError("reply does not carry exactly one question");
  }
  const ldns_rr* qrr = ldns_rr_list_rr(question, 0);
  auto qname = DnameToName(ldns_rr_owner(qrr));
  if (!qname || *qname != q.name) {
    return absl::InvalidArgumentError("reply is for another name");
  }
  if (ldns_rr_get_type(qrr) != static_cast<ldns_rr_type>(q.type)) {
    return absl::InvalidArgumentError("reply is for another type");
  }
  if (ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN) {
    return absl::InvalidArgumentError("reply is for another class");
  }

  Response r;
  r.id = id;
  r.rcode = ldns_pkt_get_rcode(pkt.get());
  r.truncated = ldns_pkt_tc(pkt.get());
  r.authoritative = ldns_pkt_aa(pkt.get());
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  const size_t an = answer == nullptr ? 0 : ldns_rr_list_rr_count(answer);
  for (size_t i = 0; i < an && i < kMaxRecordsPerReply; ++i) {
    if (auto rec = ToRecord(ldns_rr_list_rr(answer, i))) {
      r.answers.push_back(std::move(*rec));
    }
  }
  const ldns_rr_list* authority = ldns_pkt_authority(pkt.get());
  const size_t ns = authority == nullptr ? 0 : ldns_rr_list_rr_count(authority);
  for (size_t i = 0; i < ns && i < kMaxRecordsPerReply; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA) continue;
    if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) continue;
    if (!RdfIs(rr, 6, LDNS_RDF_TYPE_INT32, 4) &&
        !RdfIs(rr, 6, LDNS_RDF_TYPE_PERIOD, 4)) {
      continue;
    }
    const uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
    r.negative_ttl_s = std::min(ldns_rr_ttl(rr), minimum);
    break;
  }
  return r;
}

Chain FollowChain(const Response& r, std::string_view qname, RrType qtype,
                  uint32_t max_hops) {
  Chain c;
  c.final_name = std::string(qname);
  uint32_t ttl = UINT32_MAX;
  std::vector<std::string_view> seen = {qname};
  // Each pass either follows one CNAME (bounded by max_hops) or ends.
  while (true) {
    for (const Record& rec : r.answers) {
      if (rec.type == qtype && rec.owner == c.final_name) {
        c.records.push_back(rec);
        ttl = std::min(ttl, rec.ttl_s);
      }
    }
    if (!c.records.empty()) {
      c.kind = Chain::kData;
      c.ttl_s = ttl;
      return c;
    }
    const Record* cname = nullptr;
    for (const Record& rec : r.answers) {
      if (rec.type == RrType::kCname && rec.owner == c.final_name) {
        cname = &rec;
        break;
      }
    }
    if (cname == nullptr) break;
    ++c.hops;
    if (c.hops > max_hops ||
        std::find(seen.begin(), seen.end(), cname->target) != seen.end()) {
      c.kind = Chain::kLoop;
      c.final_name = cname->target;
      c.ttl_s = 0;
      return c;
    }
    seen.push_back(cname->target);
    ttl = std::min(ttl, cname->ttl_s);
    c.final_name = cname->target;
  }
  const uint32_t negative = r.negative_ttl_s.value_or(0);
  c.ttl_s = std::min(ttl, negative);
  if (r.rcode == kRcodeNxDomain) {
    c.kind = Chain::kNxDomain;
  } else if (c.hops > 0 && !r.negative_ttl_s) {
    // The server gave us a CNAME but neither the target's data nor a SOA
    // saying the target has none: ask for the target ourselves.
    c.kind = Chain::kFollow;
    c.ttl_s = ttl;
  } else {
    c.kind = Chain::kNoData;
  }
  return c;
}

}  // namespace ringpost::dns
