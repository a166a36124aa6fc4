// dns/testing/packets.cc — see packets.h.
#include "dns/testing/packets.h"

#include <arpa/inet.h>

namespace ringpost::dns::testing {
namespace {

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

void Put32(std::string* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v & 0xffff));
}

}  // namespace

std::string WireName(std::string_view dotted) {
  std::string out;
  while (!dotted.empty()) {
    const size_t dot = dotted.find('.');
    std::string_view label = dotted.substr(0, dot);
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  out.push_back('\0');
  return out;
}

uint16_t QueryId(std::string_view wire_query) {
  if (wire_query.size() < 2) return 0;
  return static_cast<uint16_t>((static_cast<uint8_t>(wire_query[0]) << 8) |
                               static_cast<uint8_t>(wire_query[1]));
}

PacketBuilder::PacketBuilder(uint16_t id) : id_(id), flags_(0x8180) {}

PacketBuilder& PacketBuilder::Rcode(int rcode) {
  flags_ = static_cast<uint16_t>((flags_ & ~0x000f) | (rcode & 0x0f));
  return *this;
}

PacketBuilder& PacketBuilder::Truncated() {
  flags_ |= 0x0200;
  return *this;
}

PacketBuilder& PacketBuilder::NotResponse() {
  flags_ &= static_cast<uint16_t>(~0x8000);
  return *this;
}

PacketBuilder& PacketBuilder::Opcode(int opcode) {
  flags_ = static_cast<uint16_t>((flags_ & ~0x7800) | ((opcode & 0xf) << 11));
  return *this;
}

PacketBuilder& PacketBuilder::Question(std::string_view name, RrType type, uint16_t qclass) {
  question_ += WireName(name);
  Put16(&question_, static_cast<uint16_t>(type));
  Put16(&question_, qclass);
  ++qd_;
  return *this;
}

PacketBuilder& PacketBuilder::RawQuestion(std::string_view bytes) {
  question_.append(bytes);
  ++qd_;
  return *this;
}

PacketBuilder& PacketBuilder::Raw(Section s, std::string_view owner_wire, uint16_t type,
                                  uint16_t rclass, uint32_t ttl, std::string_view rdata) {
  std::string& out = sections_[s];
  out.append(owner_wire);
  Put16(&out, type);
  Put16(&out, rclass);
  Put32(&out, ttl);
  Put16(&out, static_cast<uint16_t>(rdata.size()));
  out.append(rdata);
  ++counts_[s];
  return *this;
}

PacketBuilder& PacketBuilder::A(Section s, std::string_view owner, uint32_t ttl,
                                std::string_view ip) {
  char buf[4] = {};
  std::string text(ip);
  inet_pton(AF_INET, text.c_str(), buf);
  return Raw(s, WireName(owner), 1, 1, ttl, std::string_view(buf, 4));
}

PacketBuilder& PacketBuilder::Aaaa(Section s, std::string_view owner, uint32_t ttl,
                                   std::string_view ip) {
  char buf[16] = {};
  std::string text(ip);
  inet_pton(AF_INET6, text.c_str(), buf);
  return Raw(s, WireName(owner), 28, 1, ttl, std::string_view(buf, 16));
}

PacketBuilder& PacketBuilder::Mx(Section s, std::string_view owner, uint32_t ttl,
                                 uint16_t pref, std::string_view target) {
  std::string rdata;
  Put16(&rdata, pref);
  rdata += WireName(target);
  return Raw(s, WireName(owner), 15, 1, ttl, rdata);
}

PacketBuilder& PacketBuilder::Cname(Section s, std::string_view owner, uint32_t ttl,
                                    std::string_view target) {
  return Raw(s, WireName(owner), 5, 1, ttl, WireName(target));
}

PacketBuilder& PacketBuilder::Soa(Section s, std::string_view owner, uint32_t ttl,
                                  uint32_t minimum) {
  std::string rdata = WireName(std::string("ns.") + std::string(owner)) +
                      WireName(std::string("host.") + std::string(owner));
  Put32(&rdata, 1);     // serial
  Put32(&rdata, 3600);  // refresh
  Put32(&rdata, 600);   // retry
  Put32(&rdata, 86400); // expire
  Put32(&rdata, minimum);
  return Raw(s, WireName(owner), 6, 1, ttl, rdata);
}

PacketBuilder& PacketBuilder::Txt(Section s, std::string_view owner, uint32_t ttl,
                                  std::string_view text) {
  std::string rdata;
  rdata.push_back(static_cast<char>(text.size()));
  rdata.append(text.substr(0, 255));
  return Raw(s, WireName(owner), 16, 1, ttl, rdata);
}

PacketBuilder& PacketBuilder::Opt(uint16_t udp_size) {
  return Raw(kAdditional, std::string(1, '\0'), 41, udp_size, 0, "");
}

PacketBuilder& PacketBuilder::LieCounts(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  lie_[0] = qd;
  lie_[1] = an;
  lie_[2] = ns;
  lie_[3] = ar;
  return *this;
}

std::string PacketBuilder::Build() const {
  std::string out;
  Put16(&out, id_);
  Put16(&out, flags_);
  Put16(&out, lie_[0].value_or(qd_));
  Put16(&out, lie_[1].value_or(counts_[0]));
  Put16(&out, lie_[2].value_or(counts_[1]));
  Put16(&out, lie_[3].value_or(counts_[2]));
  out += question_;
  for (const std::string& s : sections_) out += s;
  return out;
}

}  // namespace ringpost::dns::testing
