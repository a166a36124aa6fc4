// dns/testing/packets.h — hand-built DNS packets for tests, written byte by
// byte (not with ldns) so tests can also build packets that are wrong in
// exactly one way: bad counts, compression loops, oversized labels,
// truncated records.
//
// Usage
//   std::string wire = PacketBuilder(id)
//       .Question("example.test", RrType::kMx)
//       .Mx(kAnswer, "example.test", 300, 10, "mx1.example.test")
//       .Build();
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dns/message.h"

namespace ringpost::dns::testing {

enum Section { kAnswer = 0, kAuthority = 1, kAdditional = 2 };

// "a.b" → \1a\1b\0; "" → \0 (the root).
std::string WireName(std::string_view dotted);

class PacketBuilder {
 public:
  // A response (QR=1, RD=1, RA=1), rcode 0.
  explicit PacketBuilder(uint16_t id);

  PacketBuilder& Rcode(int rcode);
  PacketBuilder& Truncated();
  PacketBuilder& NotResponse();  // QR=0
  PacketBuilder& Opcode(int opcode);
  PacketBuilder& Question(std::string_view name, RrType type, uint16_t qclass = 1);
  PacketBuilder& RawQuestion(std::string_view bytes);  // counted as one question

  PacketBuilder& A(Section s, std::string_view owner, uint32_t ttl, std::string_view ip);
  PacketBuilder& Aaaa(Section s, std::string_view owner, uint32_t ttl, std::string_view ip);
  PacketBuilder& Mx(Section s, std::string_view owner, uint32_t ttl, uint16_t pref,
                    std::string_view target);
  PacketBuilder& Cname(Section s, std::string_view owner, uint32_t ttl,
                       std::string_view target);
  PacketBuilder& Soa(Section s, std::string_view owner, uint32_t ttl, uint32_t minimum);
  PacketBuilder& Txt(Section s, std::string_view owner, uint32_t ttl, std::string_view text);
  // A record with arbitrary owner bytes (already wire-encoded) and rdata.
  PacketBuilder& Raw(Section s, std::string_view owner_wire, uint16_t type,
                     uint16_t rclass, uint32_t ttl, std::string_view rdata);
  PacketBuilder& Opt(uint16_t udp_size);

  // Header counts as written, overriding the real ones.
  PacketBuilder& LieCounts(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar);

  std::string Build() const;

 private:
  uint16_t id_;
  uint16_t flags_;
  std::string question_;
  uint16_t qd_ = 0;
  std::string sections_[3];
  uint16_t counts_[3] = {0, 0, 0};
  std::optional<uint16_t> lie_[4];
};

// The ID of a query (or reply) packet; 0 if too short.
uint16_t QueryId(std::string_view wire_query);

}  // namespace ringpost::dns::testing
