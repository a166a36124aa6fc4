// relay/delivery/dns_client.h — one shard's DNS client: the dns::Resolver
// protocol logic driven on the shard's io_uring loop.
//
// dns::Resolver (dns/resolver.h) decides everything a stub resolver decides
// — query bytes, IDs, which server, when to retry, TCP fallback, which
// datagram is the reply, CNAMEs — and does no I/O. DnsClient is its host:
// for each exchange the resolver starts it opens a socket through the ring
// and reports what comes back; it arms the exchange's deadline on the
// loop's timer wheel; it runs the resolver's queued callbacks at the end of
// the turn. It is the dns::RecordSource the shard's dns::MxResolver
// resolves through. There is no resolver thread and no blocking call.
//
// Usage (on the shard thread)
//   auto dns = DnsClient::Create(loop, options);      // StatusOr
//   auto mx = std::make_unique<dns::MxResolver>(dns->get(), mx_options);
//   (*dns)->Resolve("example.com", dns::RrType::kMx, [](dns::Answer a) { ... });
//   ...
//   dns->Shutdown();     // on drain: pending callbacks get kCancelled
//   ... keep running the loop until dns->idle() ...
//
// One exchange (a Socket)
//   UDP: SOCKET, then CONNECT → SEND → RECVMSG linked. connect() on a UDP
//   socket binds it to a random ephemeral port chosen by the kernel (source
//   port randomisation, RFC 5452) and makes the kernel drop datagrams from
//   any other address; the resolver checks the source again. RECVMSG is
//   re-armed after every datagram the resolver ignored. TCP: SOCKET, then
//   CONNECT → SEND linked, SEND again after a short write, then RECV until
//   the resolver has its reply. An ICMP error (refused, unreachable) ends
//   the receive with an errno, which goes to the resolver.
//   When the resolver ends an exchange, its Socket is detached: its timer
//   is disarmed, what it has in the kernel is cancelled (ASYNC_CANCEL on
//   the fd), and it frees itself once the last operation completed,
//   closing its fd through the ring. So a late completion always finds its
//   Socket alive, and the resolver never waits for the kernel.
//
// Invariants
//   - An attached Socket (id != 0) is in sockets_ under its id; a detached
//     one is not, and reports nothing to the resolver.
//   - A Socket is freed only when detached, with no operation in flight,
//     and not inside one of its own handlers.
//   - Callbacks run only from RunDeferred() (end of turn), never inside
//     Resolve() or Shutdown().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "dns/answer.h"
#include "dns/resolver.h"
#include "relay/runtime/loop.h"

namespace ringpost::delivery {

class DnsClient final : public dns::RecordSource,
                        private dns::ResolverHost,
                        private runtime::Deferred {
 public:
  // Validates the options as dns::Resolver::Create does.
  static absl::StatusOr<std::unique_ptr<DnsClient>> Create(runtime::Loop* loop,
                                                           dns::ResolverOptions options);
  // After Shutdown() and idle(), or after the loop stopped running for good
  // (then sockets still open are closed with plain close()).
  ~DnsClient();
  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  void Resolve(std::string_view name, dns::RrType type, dns::AnswerCallback done) override;

  // Ends every query (callbacks get kCancelled, this turn) and refuses new
  // ones. Sockets still in the kernel are cancelled and closed through the
  // ring; keep the loop running until idle().
  void Shutdown();
  // No query pending, no callback queued and no socket operation in flight.
  bool idle() const;

  const dns::ResolverStats& stats() const { return resolver_->stats(); }
  const dns::ResolverOptions& options() const { return resolver_->options(); }
  // Sockets open or closing (attached and detached).
  size_t live_sockets() const { return live_sockets_; }

 private:
  class Socket;

  explicit DnsClient(runtime::Loop* loop);

  // dns::ResolverHost
  void StartExchange(dns::ExchangeId id, size_t server, bool tcp, std::string_view bytes,
                     uint64_t deadline_ms) override;
  void EndExchange(dns::ExchangeId id) override;
  void CallbacksPending() override;
  // runtime::Deferred
  void RunDeferred() override;

  runtime::Loop* loop_;
  std::unique_ptr<dns::Resolver> resolver_;
  absl::flat_hash_map<dns::ExchangeId, Socket*> sockets_;  // attached sockets
  Socket* all_ = nullptr;  // intrusive list of every live Socket
  size_t live_sockets_ = 0;
};

}  // namespace ringpost::delivery
