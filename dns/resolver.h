// dns/resolver.h — stub resolver protocol logic for one shard, with no I/O.
//
// One Resolver per shard, used only from that shard's thread. It sends
// recursive queries (RD=1) to the configured servers, but it never touches
// a socket, a timer or a clock itself: like relay/outbound/smtp_client, it
// is a state machine that gives bytes and takes bytes, errors and time. Its
// ResolverHost does the I/O; on a shard that is delivery::DnsClient
// (relay/delivery/dns_client.h), which drives it on the io_uring ring and
// is what the rest of the relay calls (it is the RecordSource MxResolver
// resolves through). Tests drive a Resolver with a scripted host and
// crafted reply bytes, without sockets.
//
// Usage (host side; see dns_client.cc for the real one)
//   class Host : public ResolverHost { ... };         // does the I/O
//   auto r = Resolver::Create(&host, options);        // StatusOr
//   (*r)->Resolve("example.com", RrType::kMx, now_ms, [](Answer a) { ... });
//   //   → host.StartExchange(id, server, tcp, bytes, deadline_ms)
//   r->OnDatagram(id, {from, from_len, bytes, cut}, now_ms);  // a UDP reply
//   r->OnTimeout(id, now_ms);                         // at deadline_ms
//   //   → host.EndExchange(id); host.StartExchange(id2, next server, ...)
//   //   → host.CallbacksPending()
//   r->RunPending();                                  // the host, later
//   r->Shutdown();                                    // on drain
//
// Exchanges
//   An attempt is one exchange with one server: the resolver calls
//   StartExchange(id, server, transport, bytes, deadline_ms) and the host
//   opens a fresh socket of that kind to options.servers[server] (UDP:
//   connected, so the kernel picks a random ephemeral source port — RFC
//   5452 — and drops datagrams from other addresses), sends `bytes` whole,
//   then reports everything that comes back, until EndExchange(id):
//     OnDatagram(id, datagram, now)   UDP: each datagram, with its source
//     OnStreamBytes(id, bytes, now)   TCP: each read; empty = peer closed
//     OnExchangeError(id, errno, op, now)  socket/connect/send/receive
//                                     failed (ICMP refused, reset, ...)
//     OnTimeout(id, now)              deadline_ms passed without an end
//   The resolver ends every exchange it started exactly once (EndExchange),
//   also after an error or a timeout; the host then stops the deadline,
//   cancels and closes the socket, and reports nothing more for that id.
//   Ids are never reused. The host may call back into the resolver only
//   from its own event handlers, never from inside a ResolverHost call.
//
// One query
//   The query carries a random ID (dns/random.h: kernel CSPRNG) and EDNS0
//   advertising `edns_udp_size` (default 1232, the DNS flag day 2020
//   size). A datagram that is not the reply (wrong source address or port,
//   wrong ID or question, larger than kMaxUdpReplyBytes, or garbage) is
//   counted and ignored; the host keeps receiving, at most
//   `max_stray_per_attempt` times, then the attempt fails. A reply with
//   TC=1 is retried over TCP with the same server (RFC 7766), framed with
//   the two-byte length of RFC 1035 4.2.2. SERVFAIL, REFUSED, NOTIMP, an
//   exchange error, or no reply by the deadline (`timeout_ms` after the
//   attempt started) moves on to the next server; FORMERR retries the same
//   server once without EDNS. After `attempts` passes over the server list
//   the query fails as temporary. A query starts with the server that gave
//   the last definite answer (initially the first), so a dead server costs
//   one timeout, not one per query. NOERROR and NXDOMAIN end the query.
//   CNAMEs are followed inside a reply and, when the chain leaves the
//   reply, by asking for the target, in all at most `max_cname_hops`.
//
// Bounds: servers <= 8, attempts per query <= attempts * servers, one
// deadline per attempt, queries in flight <= max_inflight (beyond: the
// callback gets kOverloaded), UDP reply <= kMaxUdpReplyBytes, TCP reply
// <= 65535 bytes, stray datagrams per attempt bounded.
//
// Callbacks never run inside any Resolver call but RunPending(): answers
// are queued, the host hears CallbacksPending() when the queue becomes
// non-empty and calls RunPending() once its current event is handled (the
// driver: at the end of the loop turn). A callback may call Resolve().
//
// Invariants
//   - A query has at most one live exchange (its current attempt), and
//     every live exchange belongs to exactly one pending query.
//   - live exchanges == StartExchange calls - EndExchange calls.
//   - Shutdown() and the destructor leave no live exchange behind.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "dns/answer.h"
#include "dns/message.h"
#include "dns/random.h"
#include "dns/resolv_conf.h"

namespace ringpost::dns {

struct ResolverOptions {
  std::vector<sockaddr_storage> servers;  // 1..kMaxServers, in order (see above)
  uint64_t timeout_ms = 2000;             // per attempt; 50..60000
  uint32_t attempts = 2;                  // passes over the servers; 1..5
  uint16_t edns_udp_size = 1232;          // 0 disables EDNS0; else 512..4096
  uint32_t max_cname_hops = 8;            // 0..16
  uint32_t max_inflight = 1024;           // queries at once; 1..65536
  uint32_t max_stray_per_attempt = 32;    // ignored datagrams before giving up
};

struct ResolverStats {
  uint64_t queries = 0;       // Resolve() calls
  uint64_t attempts = 0;      // exchanges started (UDP and TCP)
  uint64_t tcp_fallbacks = 0; // truncated UDP replies retried over TCP
  uint64_t timeouts = 0;      // attempts that got no reply in time
  uint64_t stray = 0;         // datagrams ignored (not our reply)
  uint64_t server_errors = 0; // SERVFAIL/REFUSED/NOTIMP/FORMERR replies
  uint64_t attempt_errors = 0; // ended without a reply: ICMP refused or unreachable,
                              // socket error, TCP closed early, too many strays
  uint64_t ok = 0;            // queries that ended kOk/kNoData/kNxDomain
  uint64_t failed = 0;        // queries that ended with a temporary status
};

// The largest UDP reply accepted; the host's receive buffer must be at
// least this big (a bigger datagram is reported with `cut`).
inline constexpr size_t kMaxUdpReplyBytes = 4096;
// The largest TCP reply (its two-byte length prefix).
inline constexpr size_t kMaxTcpReplyBytes = 65535;

using ExchangeId = uint64_t;

// One UDP datagram as received on an exchange's socket.
struct Datagram {
  const sockaddr_storage* from = nullptr;  // source address (recvmsg msg_name)
  socklen_t from_len = 0;
  std::string_view bytes;  // at most kMaxUdpReplyBytes
  bool cut = false;        // longer than the receive buffer (MSG_TRUNC)
};

// What the resolver asks of the world. Calls come only from inside
// Resolver calls; none of them may call back into the Resolver.
class ResolverHost {
 public:
  // Open a socket to servers[server] (UDP, or TCP when `tcp`), send
  // `bytes` (TCP: already length-framed), and report what follows until
  // EndExchange(id). At deadline_ms, call OnTimeout(id). `bytes` is only
  // valid during the call: copy it.
  virtual void StartExchange(ExchangeId id, size_t server, bool tcp,
                             std::string_view bytes, uint64_t deadline_ms) = 0;
  // The resolver no longer listens to `id`: disarm its deadline, cancel
  // and close its socket. Nothing more is reported for it.
  virtual void EndExchange(ExchangeId id) = 0;
  // Answers wait: call RunPending() after the current event (not inside
  // this call). Called when the queue goes from empty to non-empty.
  virtual void CallbacksPending() = 0;

 protected:
  ~ResolverHost() = default;
};

class Resolver final {
 public:
  // Validates the options (servers, ranges above).
  static absl::StatusOr<std::unique_ptr<Resolver>> Create(ResolverHost* host,
                                                          ResolverOptions options);
  // Drops pending queries and queued callbacks without running them and
  // without calling the host: the host closes its own sockets.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // `done` runs exactly once, from RunPending().
  void Resolve(std::string_view name, RrType type, uint64_t now_ms,
               AnswerCallback done);

  // Events of exchange `id` (see the essay). An id the resolver already
  // ended is a host bug (CHECK).
  void OnDatagram(ExchangeId id, const Datagram& d, uint64_t now_ms);
  void OnStreamBytes(ExchangeId id, std::string_view bytes, uint64_t now_ms);
  void OnExchangeError(ExchangeId id, int error, std::string_view op,
                       uint64_t now_ms);
  void OnTimeout(ExchangeId id, uint64_t now_ms);

  // Runs the queued callbacks (those queued while it runs wait for the
  // next call; CallbacksPending() tells of them).
  void RunPending();

  // Ends every query (callbacks get kCancelled, from RunPending()), ends
  // every exchange, and refuses new queries.
  void Shutdown();
  // No query pending and no callback queued.
  bool idle() const { return queries_.empty() && ready_.empty(); }
  size_t live_exchanges() const { return queries_.size(); }

  const ResolverStats& stats() const { return stats_; }
  const ResolverOptions& options() const { return options_; }

 private:
  struct Query;

  Resolver(ResolverHost* host, ResolverOptions options);
  Query* Find(ExchangeId id);
  void Queue(AnswerCallback done, Answer answer);
  void StartAttempt(Query* q, size_t server, bool tcp, bool edns, uint64_t now_ms);
  void EndCurrent(Query* q);
  void NextAttempt(Query* q, AnswerStatus why, std::string detail, uint64_t now_ms);
  void AttemptFailed(Query* q, AnswerStatus why, std::string detail, uint64_t now_ms);
  void OnReply(Query* q, Response reply, uint64_t now_ms);
  void Finish(Query* q, Answer answer);

  ResolverHost* host_;
  ResolverOptions options_;
  RandomPool random_;
  ResolverStats stats_;
  bool shut_down_ = false;
  ExchangeId next_id_ = 1;
  // The server that gave the last definite answer: new queries start there,
  // so a dead first server costs one timeout, not one per query.
  size_t preferred_ = 0;
  // Pending queries by the id of their live exchange (re-keyed per attempt).
  absl::flat_hash_map<ExchangeId, std::unique_ptr<Query>> queries_;
  std::vector<std::pair<AnswerCallback, Answer>> ready_;  // for RunPending()
};

}  // namespace ringpost::dns
