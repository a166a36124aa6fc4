// message_test.cc — names, query encoding, and reply decoding against
// crafted packets: valid ones, and ones wrong in exactly one way (ID,
// question, counts, truncation, compression loops, oversized names,
// garbage). Every bad packet must give a clean error, never a crash.
#include "dns/message.h"

#include <random>
#include <string>

#include "dns/testing/packets.h"
#include "gtest/gtest.h"

namespace ringpost::dns {
namespace {

using testing::kAdditional;
using testing::kAnswer;
using testing::kAuthority;
using testing::PacketBuilder;
using testing::WireName;

const Question kMxQ{"example.test", RrType::kMx};

TEST(NormalizeNameTest, CanonicalForm) {
  EXPECT_EQ(*NormalizeName("Example.TEST."), "example.test");
  EXPECT_EQ(*NormalizeName("a-b_c.d"), "a-b_c.d");
  EXPECT_TRUE(IsCanonicalName("example.test"));
  EXPECT_FALSE(IsCanonicalName("Example.test"));
  EXPECT_FALSE(IsCanonicalName("example.test."));
}

TEST(NormalizeNameTest, RejectsBadNames) {
  EXPECT_FALSE(NormalizeName("").ok());
  EXPECT_FALSE(NormalizeName(".").ok());
  EXPECT_FALSE(NormalizeName("a..b").ok());
  EXPECT_FALSE(NormalizeName(".a").ok());
  EXPECT_FALSE(NormalizeName("a b").ok());
  EXPECT_FALSE(NormalizeName("[192.0.2.1]").ok());
  EXPECT_FALSE(NormalizeName("b\xc3\xbcro.test").ok());
  EXPECT_FALSE(NormalizeName(std::string(64, 'a') + ".test").ok());
  EXPECT_TRUE(NormalizeName(std::string(63, 'a') + ".test").ok());
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  long_name.resize(254);
  EXPECT_FALSE(NormalizeName(long_name).ok());
}

// DNS names follow base/mailbox's kDnsName rules: more permissive than a
// mail domain ('_', '-' at a label's edge), never non-ASCII.
TEST(NormalizeNameTest, DnsRulesNotMailDomainRules) {
  EXPECT_EQ(*NormalizeName("_DMARC.Example.test"), "_dmarc.example.test");
  EXPECT_EQ(*NormalizeName("-edge-.example.test"), "-edge-.example.test");
  EXPECT_TRUE(IsCanonicalName("-edge-.example.test"));
  EXPECT_FALSE(IsCanonicalName("b\xc3\xbcro.test"));
  EXPECT_EQ(NormalizeName("b\xc3\xbcro.test").status().message(),
            "non-ASCII domain name (IDNA A-label conversion is not supported)");
  EXPECT_EQ(NormalizeName("a..b").status().message(), "empty label in domain name");
  EXPECT_EQ(NormalizeName("a b").status().message(), "invalid character in domain name");
  EXPECT_EQ(NormalizeName(std::string(64, 'a')).status().message(),
            "label longer than 63 characters");
  EXPECT_EQ(NormalizeName("").status().message(), "empty domain name");
  EXPECT_EQ(NormalizeName("..").status().message(), "empty label in domain name");
}

TEST(EncodeQueryTest, HeaderQuestionAndEdns) {
  auto wire = EncodeQuery(kMxQ, 0xBEEF, 1232);
  ASSERT_TRUE(wire.ok()) << wire.status();
  ASSERT_GE(wire->size(), 12u);
  EXPECT_EQ(static_cast<uint8_t>((*wire)[0]), 0xBE);
  EXPECT_EQ(static_cast<uint8_t>((*wire)[1]), 0xEF);
  EXPECT_EQ(static_cast<uint8_t>((*wire)[2]) & 0x81, 0x01);  // QR=0, RD=1
  EXPECT_EQ((*wire)[5], 1);                                 // QDCOUNT
  EXPECT_EQ((*wire)[11], 1);                                // ARCOUNT: OPT
  const std::string qname = WireName("example.test");
  EXPECT_EQ(wire->substr(12, qname.size()), qname);
  // OPT: root name, type 41, class = UDP size.
  const std::string opt_tail = wire->substr(wire->size() - 11);
  EXPECT_EQ(opt_tail[0], '\0');
  EXPECT_EQ(static_cast<uint8_t>(opt_tail[2]), 41);
  EXPECT_EQ((static_cast<uint8_t>(opt_tail[3]) << 8) | static_cast<uint8_t>(opt_tail[4]),
            1232);

  auto plain = EncodeQuery(kMxQ, 7, 0);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)[11], 0);  // no OPT
  EXPECT_FALSE(EncodeQuery(Question{"Not Canonical", RrType::kA}, 1, 0).ok());
}

TEST(DecodeResponseTest, MxAnswer) {
  std::string wire = PacketBuilder(42)
                         .Question("example.test", RrType::kMx)
                         .Mx(kAnswer, "example.test", 300, 20, "mx2.example.test")
                         .Mx(kAnswer, "example.test", 200, 10, "MX1.Example.Test")
                         .A(kAdditional, "mx1.example.test", 300, "192.0.2.1")
                         .Opt(1232)
                         .Build();
  auto r = DecodeResponse(wire, kMxQ, 42);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rcode, kRcodeNoError);
  EXPECT_FALSE(r->truncated);
  ASSERT_EQ(r->answers.size(), 2u);
  EXPECT_EQ(r->answers[1].type, RrType::kMx);
  EXPECT_EQ(r->answers[1].preference, 10);
  EXPECT_EQ(r->answers[1].target, "mx1.example.test");  // lowercased
  EXPECT_EQ(r->answers[1].ttl_s, 200u);
}

TEST(DecodeResponseTest, AddressesAndNegativeTtl) {
  const Question q{"host.test", RrType::kAaaa};
  std::string wire = PacketBuilder(1)
                         .Question("host.test", RrType::kAaaa)
                         .Aaaa(kAnswer, "host.test", 60, "2001:db8::1")
                         .Build();
  auto r = DecodeResponse(wire, q, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].address.ToString(), "2001:db8::1");

  std::string nx = PacketBuilder(2)
                       .Rcode(kRcodeNxDomain)
                       .Question("host.test", RrType::kAaaa)
                       .Soa(kAuthority, "test", 900, 120)
                       .Build();
  auto n = DecodeResponse(nx, q, 2);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->rcode, kRcodeNxDomain);
  ASSERT_TRUE(n->negative_ttl_s.has_value());
  EXPECT_EQ(*n->negative_ttl_s, 120u);  // min(SOA TTL, MINIMUM)
}

TEST(DecodeResponseTest, QuestionMatchIsCaseInsensitive) {
  std::string wire = PacketBuilder(5).Question("EXAMPLE.Test", RrType::kMx).Build();
  EXPECT_TRUE(DecodeResponse(wire, kMxQ, 5).ok());
}

TEST(DecodeResponseTest, RejectsRepliesThatAreNotOurs) {
  auto base = [] { return PacketBuilder(9).Question("example.test", RrType::kMx); };
  EXPECT_FALSE(DecodeResponse(base().Build(), kMxQ, 10).ok()) << "wrong ID";
  EXPECT_FALSE(DecodeResponse(base().NotResponse().Build(), kMxQ, 9).ok()) << "QR=0";
  EXPECT_FALSE(DecodeResponse(base().Opcode(2).Build(), kMxQ, 9).ok()) << "opcode";
  EXPECT_FALSE(DecodeResponse(PacketBuilder(9).Question("other.test", RrType::kMx).Build(),
                              kMxQ, 9)
                   .ok())
      << "name";
  EXPECT_FALSE(DecodeResponse(PacketBuilder(9).Question("example.test", RrType::kA).Build(),
                              kMxQ, 9)
                   .ok())
      << "type";
  EXPECT_FALSE(
      DecodeResponse(PacketBuilder(9).Question("example.test", RrType::kMx, 3).Build(), kMxQ, 9)
          .ok())
      << "class";
  EXPECT_FALSE(DecodeResponse(PacketBuilder(9).Build(), kMxQ, 9).ok()) << "no question";
  EXPECT_FALSE(DecodeResponse(base().Question("example.test", RrType::kMx).Build(), kMxQ, 9)
                   .ok())
      << "two questions";
  EXPECT_FALSE(DecodeResponse("", kMxQ, 0).ok());
  EXPECT_FALSE(DecodeResponse(std::string(11, '\0'), kMxQ, 0).ok());
}

TEST(DecodeResponseTest, EveryTruncationIsACleanError) {
  std::string wire = PacketBuilder(77)
                         .Question("example.test", RrType::kMx)
                         .Mx(kAnswer, "example.test", 300, 10, "mx1.example.test")
                         .Cname(kAnswer, "x.example.test", 300, "example.test")
                         .Soa(kAuthority, "example.test", 300, 60)
                         .Opt(1232)
                         .Build();
  ASSERT_TRUE(DecodeResponse(wire, kMxQ, 77).ok());
  for (size_t n = 0; n < wire.size(); ++n) {
    EXPECT_FALSE(DecodeResponse(std::string_view(wire.data(), n), kMxQ, 77).ok())
        << "prefix of " << n << " bytes";
  }
}

TEST(DecodeResponseTest, TruncatedMidRecordStillMeansTcp) {
  std::string full = PacketBuilder(21)
                         .Truncated()
                         .Question("Example.test", RrType::kMx)
                         .Mx(kAnswer, "example.test", 300, 10, "mx1.example.test")
                         .Build();
  const std::string cut = full.substr(0, full.size() - 5);
  auto r = DecodeResponse(cut, kMxQ, 21);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->truncated);
  EXPECT_TRUE(r->partial);
  EXPECT_TRUE(r->answers.empty());
  // Without TC, or for another question, the same bytes are rejected.
  std::string no_tc = PacketBuilder(21)
                          .Question("example.test", RrType::kMx)
                          .Mx(kAnswer, "example.test", 300, 10, "mx1.example.test")
                          .Build();
  EXPECT_FALSE(DecodeResponse(no_tc.substr(0, no_tc.size() - 5), kMxQ, 21).ok());
  EXPECT_FALSE(DecodeResponse(cut, Question{"example.test", RrType::kA}, 21).ok());
  EXPECT_FALSE(DecodeResponse(cut, Question{"example.tes", RrType::kMx}, 21).ok());
  // A well-formed TC reply parses normally.
  auto whole = DecodeResponse(full, kMxQ, 21);
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->truncated);
  EXPECT_FALSE(whole->partial);
}

TEST(DecodeResponseTest, CountsThatLie) {
  std::string wire = PacketBuilder(3)
                         .Question("example.test", RrType::kMx)
                         .Mx(kAnswer, "example.test", 300, 10, "mx1.example.test")
                         .LieCounts(1, 200, 0, 0)
                         .Build();
  EXPECT_FALSE(DecodeResponse(wire, kMxQ, 3).ok());
  std::string many_q = PacketBuilder(3)
                           .Question("example.test", RrType::kMx)
                           .LieCounts(65535, 65535, 65535, 65535)
                           .Build();
  EXPECT_FALSE(DecodeResponse(many_q, kMxQ, 3).ok());
}

TEST(DecodeResponseTest, CompressionLoops) {
  // Question name at offset 12 is a pointer to itself.
  std::string self = PacketBuilder(4)
                         .RawQuestion(std::string("\xC0\x0C\x00\x0F\x00\x01", 6))
                         .Build();
  EXPECT_FALSE(DecodeResponse(self, kMxQ, 4).ok());
  // Two pointers pointing at each other, in an answer owner.
  std::string base = PacketBuilder(4).Question("example.test", RrType::kMx).Build();
  const uint16_t at = static_cast<uint16_t>(base.size());
  std::string owner;
  owner.push_back(static_cast<char>(0xC0 | ((at + 2) >> 8)));
  owner.push_back(static_cast<char>((at + 2) & 0xff));
  owner.push_back(static_cast<char>(0xC0 | (at >> 8)));
  owner.push_back(static_cast<char>(at & 0xff));
  std::string loop = PacketBuilder(4)
                         .Question("example.test", RrType::kMx)
                         .Raw(kAnswer, owner, 15, 1, 300, std::string("\x00\x0a\x00", 3))
                         .Build();
  EXPECT_FALSE(DecodeResponse(loop, kMxQ, 4).ok());
  // A forward pointer past the end of the packet.
  std::string past = PacketBuilder(4)
                         .Question("example.test", RrType::kMx)
                         .Raw(kAnswer, std::string("\xC3\xFF", 2), 15, 1, 300,
                              std::string("\x00\x0a\x00", 3))
                         .Build();
  EXPECT_FALSE(DecodeResponse(past, kMxQ, 4).ok());
}

TEST(DecodeResponseTest, OversizedNames) {
  // A 64-byte label (the length byte's top bits are clear, but 64 > 63).
  std::string label64 = std::string(1, '\x40') + std::string(64, 'a') + std::string(1, '\0');
  std::string bad_label = PacketBuilder(6)
                              .Question("example.test", RrType::kMx)
                              .Raw(kAnswer, label64, 15, 1, 300, std::string("\x00\x0a\x00", 3))
                              .Build();
  auto r = DecodeResponse(bad_label, kMxQ, 6);
  EXPECT_TRUE(!r.ok() || r->answers.empty());
  // A name longer than 255 bytes: 5 labels of 63.
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(1, '\x3f') + std::string(63, 'b');
  long_name.push_back('\0');
  std::string too_long = PacketBuilder(6)
                             .Question("example.test", RrType::kMx)
                             .Raw(kAnswer, long_name, 15, 1, 300, std::string("\x00\x0a\x00", 3))
                             .Build();
  auto t = DecodeResponse(too_long, kMxQ, 6);
  EXPECT_TRUE(!t.ok() || t->answers.empty());
}

TEST(DecodeResponseTest, RecordsWithUnusableNamesAreDropped) {
  std::string binary_owner = std::string("\x03\x01\x02\x03\x04test\x00", 10);
  std::string wire = PacketBuilder(8)
                         .Question("example.test", RrType::kMx)
                         .Raw(kAnswer, binary_owner, 15, 1, 300,
                              std::string("\x00\x0a", 2) + WireName("mx.test"))
                         .Mx(kAnswer, "example.test", 300, 10, "mx\\.bad.test")
                         .Mx(kAnswer, "example.test", 300, 20, "good.test")
                         .Build();
  auto r = DecodeResponse(wire, kMxQ, 8);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].target, "good.test");
}

TEST(DecodeResponseTest, WrongRdataSizesAreDroppedOrRejected) {
  std::string wire = PacketBuilder(8)
                         .Question("example.test", RrType::kA)
                         .Raw(kAnswer, WireName("example.test"), 1, 1, 300, "abc")
                         .Build();
  auto r = DecodeResponse(wire, Question{"example.test", RrType::kA}, 8);
  EXPECT_TRUE(!r.ok() || r->answers.empty());
}

TEST(DecodeResponseTest, RandomGarbageNeverCrashes) {
  std::mt19937 rng(12345);
  const std::string valid = PacketBuilder(11)
                                .Question("example.test", RrType::kMx)
                                .Mx(kAnswer, "example.test", 300, 10, "mx1.example.test")
                                .Build();
  for (int i = 0; i < 20000; ++i) {
    std::string wire;
    if (i % 2 == 0) {
      wire.resize(rng() % 600);
      for (char& c : wire) c = static_cast<char>(rng());
      if (wire.size() >= 2) {
        wire[0] = 0;
        wire[1] = 11;
      }
    } else {
      wire = valid;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) wire[12 + rng() % (wire.size() - 12)] = static_cast<char>(rng());
    }
    auto r = DecodeResponse(wire, kMxQ, 11);
    if (r.ok()) {
      (void)FollowChain(*r, kMxQ.name, kMxQ.type, 8);
    }
  }
}

Response Reply(int rcode, std::vector<Record> answers,
               std::optional<uint32_t> negative = std::nullopt) {
  Response r;
  r.rcode = rcode;
  r.answers = std::move(answers);
  r.negative_ttl_s = negative;
  return r;
}

Record Cname(std::string owner, std::string target, uint32_t ttl = 300) {
  Record r;
  r.owner = std::move(owner);
  r.type = RrType::kCname;
  r.target = std::move(target);
  r.ttl_s = ttl;
  return r;
}

Record A(std::string owner, std::string ip, uint32_t ttl = 300) {
  Record r;
  r.owner = std::move(owner);
  r.type = RrType::kA;
  r.address = *IpAddress::Parse(ip);
  r.ttl_s = ttl;
  return r;
}

TEST(FollowChainTest, ChainInsideOneReply) {
  auto r = Reply(kRcodeNoError, {Cname("a.test", "b.test", 100), Cname("b.test", "c.test", 50),
                                 A("c.test", "192.0.2.1", 200)});
  Chain c = FollowChain(r, "a.test", RrType::kA, 8);
  EXPECT_EQ(c.kind, Chain::kData);
  EXPECT_EQ(c.final_name, "c.test");
  EXPECT_EQ(c.hops, 2u);
  EXPECT_EQ(c.ttl_s, 50u);
  ASSERT_EQ(c.records.size(), 1u);
}

TEST(FollowChainTest, LoopAndBound) {
  auto loop = Reply(kRcodeNoError, {Cname("a.test", "b.test"), Cname("b.test", "a.test")});
  EXPECT_EQ(FollowChain(loop, "a.test", RrType::kA, 8).kind, Chain::kLoop);
  auto long_chain = Reply(kRcodeNoError, {Cname("a.test", "b.test"), Cname("b.test", "c.test"),
                                          Cname("c.test", "d.test"), A("d.test", "192.0.2.1")});
  EXPECT_EQ(FollowChain(long_chain, "a.test", RrType::kA, 2).kind, Chain::kLoop);
  EXPECT_EQ(FollowChain(long_chain, "a.test", RrType::kA, 3).kind, Chain::kData);
}

TEST(FollowChainTest, FollowNoDataAndNxDomain) {
  auto dangling = Reply(kRcodeNoError, {Cname("a.test", "elsewhere.test")});
  Chain f = FollowChain(dangling, "a.test", RrType::kA, 8);
  EXPECT_EQ(f.kind, Chain::kFollow);
  EXPECT_EQ(f.final_name, "elsewhere.test");

  auto nodata = Reply(kRcodeNoError, {Cname("a.test", "b.test", 300)}, 60);
  Chain n = FollowChain(nodata, "a.test", RrType::kA, 8);
  EXPECT_EQ(n.kind, Chain::kNoData);
  EXPECT_EQ(n.ttl_s, 60u);

  auto nx = Reply(kRcodeNxDomain, {Cname("a.test", "gone.test")}, 30);
  Chain x = FollowChain(nx, "a.test", RrType::kA, 8);
  EXPECT_EQ(x.kind, Chain::kNxDomain);
  EXPECT_EQ(x.final_name, "gone.test");

  auto empty = Reply(kRcodeNoError, {});
  EXPECT_EQ(FollowChain(empty, "a.test", RrType::kA, 8).kind, Chain::kNoData);
  // Records for other names do not count.
  auto other = Reply(kRcodeNoError, {A("z.test", "192.0.2.9")});
  EXPECT_EQ(FollowChain(other, "a.test", RrType::kA, 8).kind, Chain::kNoData);
}

}  // namespace
}  // namespace ringpost::dns
