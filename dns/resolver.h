// dns/resolver.h — asynchronous stub resolver on one shard's io_uring loop.
//
// One Resolver per shard, used only from that shard's thread. It sends
// recursive queries (RD=1) to the configured servers and never blocks:
// sockets are created, connected, written, read, cancelled and closed
// through the ring (IORING_OP_SOCKET/CONNECT/SEND/RECVMSG/RECV/CLOSE);
// there is no resolver thread.
//
// Usage
//   ResolverOptions o;
//   o.servers = LoadServerConfig(config.dns)->servers;
//   auto resolver = Resolver::Create(loop, o);
//   (*resolver)->Resolve("example.com", RrType::kMx, [](Answer a) { ... });
//   ...
//   resolver->Shutdown();            // on drain: pending callbacks get kCancelled
//   ... keep running the loop until resolver->idle() ...
//
// One query
//   An attempt is one exchange with one server over a fresh UDP socket:
//   SOCKET, then CONNECT → SEND → RECVMSG linked. connect() on a UDP socket
//   binds it to a random ephemeral port chosen by the kernel (source port
//   randomisation, RFC 5452) and makes the kernel drop datagrams from any
//   other address; we check the reply's source address and port anyway.
//   The query carries a random ID (kernel CSPRNG) and EDNS0 advertising
//   `edns_udp_size` (default 1232, the DNS flag day 2020 size).
//   A datagram that is not the reply (wrong source, ID, question, or
//   garbage) is counted and ignored; the receive is re-armed, at most
//   `max_stray_per_attempt` times. A reply with TC=1 is retried over TCP
//   with the same server (RFC 7766). SERVFAIL, REFUSED, NOTIMP, an ICMP
//   error, or no reply within `timeout_ms` moves on to the next server;
//   FORMERR retries the same server once without EDNS. After `attempts`
//   passes over the server list the query fails as temporary. A query
//   starts with the server that gave the last definite answer (initially
//   the first), so a dead server costs one timeout, not one per query.
//   NOERROR and NXDOMAIN end the query. CNAMEs are followed inside a reply
//   and, when the chain leaves the reply, by asking for the target, in all
//   at most `max_cname_hops` CNAMEs.
//
// Bounds: servers <= 8, attempts per query <= attempts * servers, one
// timeout per attempt, queries in flight <= max_inflight (beyond: the
// callback gets kOverloaded at the end of the turn), UDP reply buffer 4 KiB,
// TCP reply <= 65535 bytes, stray datagrams per attempt bounded.
//
// Callbacks never run inside Resolve() or Shutdown(): they run from
// completion handlers, timers, or the end of the current turn.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dns/answer.h"
#include "dns/message.h"
#include "dns/random.h"
#include "dns/resolv_conf.h"
#include "relay/runtime/loop.h"

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

class Resolver final : public RecordSource, private runtime::Deferred {
 public:
  static absl::StatusOr<std::unique_ptr<Resolver>> Create(runtime::Loop* loop,
                                                          ResolverOptions options);
  // After Shutdown() and idle(), or after the loop stopped running for good
  // (then sockets still open are closed with plain close()).
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void Resolve(std::string_view name, RrType type, AnswerCallback done) override;

  // Ends every query (callbacks get kCancelled, this turn) and refuses new
  // ones. Sockets still in the kernel are cancelled and closed through the
  // ring; keep the loop running until idle().
  void Shutdown();
  // No query pending and no socket operation in flight.
  bool idle() const;

  const ResolverStats& stats() const { return stats_; }
  const ResolverOptions& options() const { return options_; }

 private:
  class Attempt;
  struct Query;

  Resolver(runtime::Loop* loop, ResolverOptions options);
  void RunDeferred() override;
  void FailSoon(AnswerCallback done, Answer answer);
  void StartAttempt(Query* q, size_t server, bool tcp, bool edns);
  void NextAttempt(Query* q, AnswerStatus why, std::string detail);
  void OnReply(Attempt* a, Response reply);
  void OnAttemptFailed(Attempt* a, AnswerStatus why, std::string detail);
  void Finish(Query* q, Answer answer);
  static void OnTimer(runtime::Timer* t);

  runtime::Loop* loop_;
  ResolverOptions options_;
  RandomPool random_;
  ResolverStats stats_;
  bool shut_down_ = false;
  // The server that gave the last definite answer: new queries start there,
  // so a dead first server costs one timeout, not one per query.
  size_t preferred_ = 0;
  size_t live_queries_ = 0;
  size_t live_attempts_ = 0;  // including detached ones still in the kernel
  Query* queries_ = nullptr;  // intrusive list of pending queries
  Attempt* attempts_ = nullptr;  // intrusive list of every live attempt
  std::vector<std::pair<AnswerCallback, Answer>> ready_;  // end-of-turn callbacks
};

}  // namespace ringpost::dns
