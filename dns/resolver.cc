// dns/resolver.cc — see resolver.h for the protocol rules and the host
// contract.
//
// Structure
//   Query   one Resolve() call: the current name (changes when a CNAME chain
//           leaves a reply), the attempt counter, and the current attempt:
//           its exchange id, server, transport, question and query ID, the
//           strays it ignored and (TCP) the reply bytes gathered so far.
//           Owned by queries_, keyed by the id of its live exchange; each
//           new attempt ends the old exchange and re-keys the query.
//           Freed before its callback is queued.
//
// Invariants
//   - Every pending query has exactly one live exchange, between calls.
//   - An exchange is ended (EndExchange) exactly once, before its query is
//     re-keyed or freed.
//   - No callback runs outside RunPending().
#include "dns/resolver.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "dns/address.h"

namespace ringpost::dns {
namespace {

bool SameEndpoint(const sockaddr_storage& a, socklen_t a_len,
                  const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    if (a_len < sizeof(sockaddr_in)) return false;
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    if (a_len < sizeof(sockaddr_in6)) return false;
    const auto* x = reinterpret_cast<const sockaddr_in6*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(&b);
    return x->sin6_port == y->sin6_port &&
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

std::string RcodeText(int rcode) {
  switch (rcode) {
    case kRcodeFormErr:
      return "FORMERR";
    case kRcodeServFail:
      return "SERVFAIL";
    case kRcodeNotImp:
      return "NOTIMP";
    case kRcodeRefused:
      return "REFUSED";
    default:
      return "RCODE " + std::to_string(rcode);
  }
}

}  // namespace

struct Resolver::Query {
  std::string name;  // current (canonical) name
  RrType type = RrType::kA;
  AnswerCallback done;
  uint32_t attempt_index = 0;  // attempts used for the current name
  size_t first_server = 0;     // index of the server this name started with
  uint32_t hops = 0;           // CNAMEs followed so far
  uint32_t ttl_s = UINT32_MAX; // min TTL of those CNAMEs
  bool edns = true;
  bool formerr_retried = false;
  bool saw_server_error = false;
  std::string last_detail;
  // The current attempt (live exchange).
  ExchangeId id = 0;
  size_t server = 0;
  bool tcp = false;
  Question question;
  uint16_t query_id = 0;
  uint32_t strays = 0;
  std::string stream;  // TCP: reply bytes so far, with the length prefix
};

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(ResolverHost* host,
                                                           ResolverOptions options) {
  if (host == nullptr) return absl::InvalidArgumentError("no resolver host");
  if (options.servers.empty()) return absl::InvalidArgumentError("no DNS servers");
  if (options.servers.size() > kMaxServers) {
    return absl::InvalidArgumentError("more than 8 DNS servers");
  }
  for (const sockaddr_storage& s : options.servers) {
    if (s.ss_family != AF_INET && s.ss_family != AF_INET6) {
      return absl::InvalidArgumentError("DNS server is not an IPv4/IPv6 address");
    }
  }
  if (options.timeout_ms < 50 || options.timeout_ms > 60000) {
    return absl::InvalidArgumentError("DNS timeout must be 50 ms to 60 s");
  }
  if (options.attempts < 1 || options.attempts > 5) {
    return absl::InvalidArgumentError("DNS attempts must be 1 to 5");
  }
  if (options.edns_udp_size != 0 &&
      (options.edns_udp_size < 512 || options.edns_udp_size > kMaxUdpReplyBytes)) {
    return absl::InvalidArgumentError("EDNS UDP size must be 0 or 512 to 4096");
  }
  if (options.max_cname_hops > 16) {
    return absl::InvalidArgumentError("at most 16 CNAME hops");
  }
  if (options.max_inflight < 1 || options.max_inflight > 65536) {
    return absl::InvalidArgumentError("max_inflight must be 1 to 65536");
  }
  return std::unique_ptr<Resolver>(new Resolver(host, std::move(options)));
}

Resolver::Resolver(ResolverHost* host, ResolverOptions options)
    : host_(host), options_(std::move(options)) {}

Resolver::~Resolver() = default;

Resolver::Query* Resolver::Find(ExchangeId id) {
  auto it = queries_.find(id);
  // The host reports only exchanges the resolver has not ended.
  CHECK(it != queries_.end());
  CHECK(it->second->id == id);
  return it->second.get();
}

void Resolver::Queue(AnswerCallback done, Answer answer) {
  const bool was_empty = ready_.empty();
  ready_.emplace_back(std::move(done), std::move(answer));
  if (was_empty) host_->CallbacksPending();
}

void Resolver::RunPending() {
  std::vector<std::pair<AnswerCallback, Answer>> ready;
  ready.swap(ready_);
  for (auto& [done, answer] : ready) done(std::move(answer));
}

void Resolver::Resolve(std::string_view name, RrType type, uint64_t now_ms,
                       AnswerCallback done) {
  ++stats_.queries;
  Answer fail;
  fail.name = std::string(name);
  if (shut_down_) {
    fail.status = AnswerStatus::kCancelled;
    fail.detail = "resolver shut down";
  } else if (auto canonical = NormalizeName(name); !canonical.ok()) {
    fail.status = AnswerStatus::kBadName;
    fail.detail = std::string(canonical.status().message());
  } else if (queries_.size() >= options_.max_inflight) {
    fail.status = AnswerStatus::kOverloaded;
    fail.detail = "more than " + std::to_string(options_.max_inflight) +
                  " DNS queries in flight on this shard";
  } else {
    auto q = std::make_unique<Query>();
    q->name = std::move(*canonical);
    q->type = type;
    q->done = std::move(done);
    q->edns = options_.edns_udp_size > 0;
    q->first_server = preferred_;
    Query* raw = q.release();
    StartAttempt(raw, raw->first_server, /*tcp=*/false, raw->edns, now_ms);
    return;
  }
  ++stats_.failed;
  Queue(std::move(done), std::move(fail));
}

void Resolver::EndCurrent(Query* q) {
  CHECK(q->id != 0);
  host_->EndExchange(q->id);
  q->id = 0;
  q->stream.clear();
  q->strays = 0;
}

// Takes a query that is either new (not in queries_, id 0) or pending under
// its current exchange id; ends that exchange and starts the next one.
void Resolver::StartAttempt(Query* raw, size_t server, bool tcp, bool edns,
                            uint64_t now_ms) {
  CHECK(server < options_.servers.size());
  std::unique_ptr<Query> q;
  if (raw->id != 0) {
    auto node = queries_.extract(raw->id);
    CHECK(!node.empty());
    q = std::move(node.mapped());
    EndCurrent(raw);
  } else {
    q.reset(raw);
  }
  const uint16_t query_id = random_.Next16();
  Question question{q->name, q->type};
  auto wire = EncodeQuery(question, query_id, edns ? options_.edns_udp_size : 0);
  if (!wire.ok()) {
    Answer a;
    a.status = AnswerStatus::kBadName;
    a.name = q->name;
    a.detail = std::string(wire.status().message());
    ++stats_.ok;  // a definite answer (not temporary), as ever
    Queue(std::move(q->done), std::move(a));
    return;
  }
  ++stats_.attempts;
  q->id = next_id_++;
  q->server = server;
  q->tcp = tcp;
  q->question = std::move(question);
  q->query_id = query_id;
  q->strays = 0;
  q->stream.clear();
  std::string framed;
  if (tcp) {
    // RFC 1035 4.2.2: two-byte length prefix.
    framed.reserve(wire->size() + 2);
    framed.push_back(static_cast<char>(wire->size() >> 8));
    framed.push_back(static_cast<char>(wire->size() & 0xff));
    framed += *wire;
  }
  const ExchangeId id = q->id;
  Query* kept = q.get();
  queries_.emplace(id, std::move(q));
  host_->StartExchange(id, server, tcp, tcp ? std::string_view(framed) : *wire,
                       now_ms + options_.timeout_ms);
  CHECK(kept->id == id);
}

void Resolver::NextAttempt(Query* q, AnswerStatus why, std::string detail,
                           uint64_t now_ms) {
  if (why == AnswerStatus::kServFail) q->saw_server_error = true;
  q->last_detail = std::move(detail);
  ++q->attempt_index;
  const uint32_t total =
      options_.attempts * static_cast<uint32_t>(options_.servers.size());
  if (q->attempt_index >= total) {
    Answer a;
    a.status = q->saw_server_error ? AnswerStatus::kServFail : AnswerStatus::kTimeout;
    a.name = q->name;
    a.detail = q->last_detail;
    Finish(q, std::move(a));
    return;
  }
  const size_t next = (q->first_server + q->attempt_index) % options_.servers.size();
  StartAttempt(q, next, /*tcp=*/false, q->edns, now_ms);
}

void Resolver::AttemptFailed(Query* q, AnswerStatus why, std::string detail,
                             uint64_t now_ms) {
  ++stats_.attempt_errors;
  NextAttempt(q, why, FormatSockaddr(options_.servers[q->server]) + ": " + detail,
              now_ms);
}

void Resolver::OnTimeout(ExchangeId id, uint64_t now_ms) {
  Query* q = Find(id);
  ++stats_.timeouts;
  NextAttempt(q, AnswerStatus::kTimeout,
              "no reply from " + FormatSockaddr(options_.servers[q->server]) +
                  " within " + std::to_string(options_.timeout_ms) + " ms",
              now_ms);
}

void Resolver::OnExchangeError(ExchangeId id, int error, std::string_view op,
                               uint64_t now_ms) {
  Query* q = Find(id);
  std::string detail(op);
  if (error != 0) detail += ": " + std::string(std::strerror(error));
  AttemptFailed(q, AnswerStatus::kTimeout, std::move(detail), now_ms);
}

void Resolver::OnDatagram(ExchangeId id, const Datagram& d, uint64_t now_ms) {
  Query* q = Find(id);
  CHECK(!q->tcp);
  CHECK(d.from != nullptr);
  std::string why;
  if (d.cut || d.bytes.size() > kMaxUdpReplyBytes) {
    why = "datagram larger than 4 KiB";
  } else if (!SameEndpoint(*d.from, d.from_len, options_.servers[q->server])) {
    why = "datagram from another address";
  } else {
    auto reply = DecodeResponse(d.bytes, q->question, q->query_id);
    if (reply.ok()) {
      OnReply(q, std::move(*reply), now_ms);
      return;
    }
    why = std::string(reply.status().message());
  }
  ++stats_.stray;
  if (++q->strays > options_.max_stray_per_attempt) {
    AttemptFailed(q, AnswerStatus::kTimeout,
                  "too many stray datagrams (last: " + why + ")", now_ms);
  }
}

void Resolver::OnStreamBytes(ExchangeId id, std::string_view bytes, uint64_t now_ms) {
  Query* q = Find(id);
  CHECK(q->tcp);
  if (bytes.empty()) {
    AttemptFailed(q, AnswerStatus::kTimeout, "TCP connection closed before the reply",
                  now_ms);
    return;
  }
  // Bounded: never more than the prefix and the longest reply it allows.
  const size_t room = 2 + kMaxTcpReplyBytes - q->stream.size();
  q->stream.append(bytes.substr(0, std::min(room, bytes.size())));
  if (q->stream.size() < 2) return;
  const size_t len = (static_cast<uint8_t>(q->stream[0]) << 8) |
                     static_cast<uint8_t>(q->stream[1]);
  if (len < kHeaderBytes) {
    AttemptFailed(q, AnswerStatus::kServFail, "bad TCP reply length " + std::to_string(len),
                  now_ms);
    return;
  }
  if (q->stream.size() < len + 2) return;
  auto reply = DecodeResponse(std::string_view(q->stream).substr(2, len), q->question,
                              q->query_id);
  if (!reply.ok()) {
    ++stats_.stray;
    AttemptFailed(q, AnswerStatus::kServFail,
                  "bad TCP reply: " + std::string(reply.status().message()), now_ms);
    return;
  }
  OnReply(q, std::move(*reply), now_ms);
}

void Resolver::OnReply(Query* q, Response reply, uint64_t now_ms) {
  if (reply.partial && q->tcp) {
    // Truncated and unparseable over TCP: a broken server.
    ++stats_.server_errors;
    NextAttempt(q, AnswerStatus::kServFail,
                FormatSockaddr(options_.servers[q->server]) +
                    " sent a truncated reply over TCP",
                now_ms);
    return;
  }
  if (reply.rcode == kRcodeNoError || reply.rcode == kRcodeNxDomain) {
    if (reply.truncated && !q->tcp) {
      ++stats_.tcp_fallbacks;
      StartAttempt(q, q->server, /*tcp=*/true, q->edns, now_ms);
      return;
    }
    preferred_ = q->server;
    const uint32_t budget = options_.max_cname_hops - q->hops;
    Chain chain = FollowChain(reply, q->name, q->type, budget);
    Answer ans;
    ans.name = chain.final_name;
    ans.ttl_s = std::min(q->ttl_s, chain.ttl_s);
    switch (chain.kind) {
      case Chain::kData:
        ans.status = AnswerStatus::kOk;
        ans.records = std::move(chain.records);
        break;
      case Chain::kNoData:
        ans.status = AnswerStatus::kNoData;
        break;
      case Chain::kNxDomain:
        ans.status = AnswerStatus::kNxDomain;
        break;
      case Chain::kLoop:
        ans.status = AnswerStatus::kCnameLoop;
        ans.ttl_s = 0;
        ans.detail = "CNAME loop or more than " +
                     std::to_string(options_.max_cname_hops) + " CNAMEs at " +
                     chain.final_name;
        break;
      case Chain::kFollow:
        q->hops += chain.hops;
        q->ttl_s = std::min(q->ttl_s, chain.ttl_s);
        if (q->hops >= options_.max_cname_hops) {
          ans.status = AnswerStatus::kCnameLoop;
          ans.ttl_s = 0;
          ans.detail = "more than " + std::to_string(options_.max_cname_hops) +
                       " CNAMEs at " + chain.final_name;
          break;
        }
        q->name = chain.final_name;
        q->attempt_index = 0;
        q->saw_server_error = false;
        q->first_server = preferred_;
        StartAttempt(q, q->first_server, /*tcp=*/false, q->edns, now_ms);
        return;
    }
    Finish(q, std::move(ans));
    return;
  }
  ++stats_.server_errors;
  if (reply.rcode == kRcodeFormErr && q->edns && !q->formerr_retried) {
    // Some old servers reject EDNS0 with FORMERR: ask them again without it.
    q->formerr_retried = true;
    q->edns = false;
    StartAttempt(q, q->server, q->tcp, false, now_ms);
    return;
  }
  NextAttempt(q, AnswerStatus::kServFail,
              FormatSockaddr(options_.servers[q->server]) + " answered " +
                  RcodeText(reply.rcode),
              now_ms);
}

void Resolver::Finish(Query* raw, Answer answer) {
  auto node = queries_.extract(raw->id);
  CHECK(!node.empty());
  std::unique_ptr<Query> q = std::move(node.mapped());
  EndCurrent(q.get());
  if (IsTemporary(answer.status)) {
    ++stats_.failed;
  } else {
    ++stats_.ok;
  }
  Queue(std::move(q->done), std::move(answer));
}

void Resolver::Shutdown() {
  shut_down_ = true;
  // Bounded: each round removes one query; none is added (shut_down_).
  while (!queries_.empty()) {
    auto node = queries_.extract(queries_.begin());
    std::unique_ptr<Query> q = std::move(node.mapped());
    EndCurrent(q.get());
    Answer a;
    a.status = AnswerStatus::kCancelled;
    a.name = q->name;
    a.detail = "resolver shut down";
    ++stats_.failed;
    Queue(std::move(q->done), std::move(a));
  }
}

}  // namespace ringpost::dns
