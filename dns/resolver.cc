// dns/resolver.cc — see resolver.h for the protocol rules.
//
// Structure
//   Query   one Resolve() call: the current name (changes when a CNAME chain
//           leaves a reply), the attempt counter, the per-attempt timer and
//           the caller's callback. Owned by the Resolver's list until it
//           finishes; freed before its callback runs.
//   Attempt one exchange with one server on one socket (UDP, or TCP after
//           TC=1). Holds the socket and every buffer the kernel may still
//           write into. When its query moves on (reply, timeout, failure)
//           it is detached: it cancels what it has in the kernel and frees
//           itself once the last of its operations completed, then closes
//           its socket through the ring. So a late completion always finds
//           its Attempt alive, and a Query never waits for the kernel.
//
// Invariants
//   - A Query has at most one attached Attempt (q->current), and that
//     Attempt's query_ points back at it.
//   - An Attempt is freed only when detached, with no operation in flight,
//     and not inside one of its own completion handlers.
//   - The per-attempt timer is armed exactly while the query is pending.
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/check.h"

namespace ringpost::dns {
namespace {

constexpr size_t kUdpBufferBytes = 4096;
constexpr size_t kTcpMaxReply = 65535;

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

std::string ErrnoText(int32_t res) { return std::strerror(-res); }

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
  runtime::Timer timer;
  Attempt* current = nullptr;
  Resolver* resolver = nullptr;
  Query* prev = nullptr;
  Query* next = nullptr;
};

class Resolver::Attempt {
 public:
  Attempt(Resolver* r, Query* q, size_t server_index, bool tcp, Question question,
          uint16_t id, std::string wire)
      : r_(r), query_(q), server_index_(server_index),
        server_(r->options_.servers[server_index]), tcp_(tcp),
        question_(std::move(question)), id_(id) {
    if (tcp_) {
      // RFC 1035 4.2.2: two-byte length prefix.
      out_.push_back(static_cast<char>(wire.size() >> 8));
      out_.push_back(static_cast<char>(wire.size() & 0xff));
    }
    out_ += wire;
    buf_.resize(tcp_ ? 514 : kUdpBufferBytes);
    next_ = r_->attempts_;
    if (next_ != nullptr) next_->prev_ = this;
    r_->attempts_ = this;
    ++r_->live_attempts_;
  }

  ~Attempt() {
    if (prev_ != nullptr) {
      prev_->next_ = next_;
    } else {
      r_->attempts_ = next_;
    }
    if (next_ != nullptr) next_->prev_ = prev_;
    CHECK(r_->live_attempts_ > 0);
    --r_->live_attempts_;
  }

  Query* query() const { return query_; }
  bool tcp() const { return tcp_; }
  const sockaddr_storage& server() const { return server_; }
  size_t server_index() const { return server_index_; }

  void Start() {
    io_uring_sqe* sqe = r_->loop_->Sqe(&socket_done_);
    io_uring_prep_socket(sqe, server_.ss_family,
                         (tcp_ ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, 0);
    ++inflight_;
  }

  // The query no longer listens: cancel what is in the kernel, free when
  // the last operation completed.
  void Detach() {
    query_ = nullptr;
    if (fd_ >= 0 && inflight_ > 0 && !cancel_issued_) {
      cancel_issued_ = true;
      io_uring_sqe* sqe = r_->loop_->Sqe(static_cast<runtime::Completion*>(nullptr));
      io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
    }
    MaybeFree();
  }

  // Only from ~Resolver, when the loop will not run again.
  void Abandon() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    delete this;
  }

 private:
  void OnSocket(int32_t res, uint32_t) {
    Enter();
    if (res >= 0) fd_ = res;
    if (query_ != nullptr) {
      if (res < 0) {
        Fail(AnswerStatus::kTimeout, "socket(): " + ErrnoText(res));
      } else {
        io_uring_sqe* sqe = r_->loop_->Sqe(&connect_done_);
        io_uring_prep_connect(sqe, fd_, reinterpret_cast<const sockaddr*>(&server_),
                              static_cast<socklen_t>(server_.ss_family == AF_INET6 ? sizeof(sockaddr_in6)
                                                                          : sizeof(sockaddr_in)));
        sqe->flags |= IOSQE_IO_LINK;
        sqe = r_->loop_->Sqe(&send_done_);
        io_uring_prep_send(sqe, fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
        inflight_ += 2;
        if (!tcp_) {
          // UDP: the receive follows the send in the same chain.
          sqe->flags |= IOSQE_IO_LINK;
          PrepRecv();
        }
      }
    }
    Leave();
  }

  void OnConnect(int32_t res, uint32_t) {
    Enter();
    if (res < 0 && res != -ECANCELED) {
      Fail(AnswerStatus::kTimeout, "connect: " + ErrnoText(res));
    }
    Leave();
  }

  void OnSend(int32_t res, uint32_t) {
    Enter();
    if (res < 0) {
      if (res != -ECANCELED) Fail(AnswerStatus::kTimeout, "send: " + ErrnoText(res));
    } else if (query_ != nullptr) {
      sent_ += static_cast<size_t>(res);
      if (sent_ < out_.size()) {
        if (!tcp_) {
          Fail(AnswerStatus::kTimeout, "short UDP send");
        } else {
          io_uring_sqe* sqe = r_->loop_->Sqe(&send_done_);
          io_uring_prep_send(sqe, fd_, out_.data() + sent_, out_.size() - sent_,
                             MSG_NOSIGNAL);
          ++inflight_;
        }
      } else if (tcp_) {
        PrepRecv();
      }
    }
    Leave();
  }

  void PrepRecv() {
    io_uring_sqe* sqe = r_->loop_->Sqe(&recv_done_);
    if (tcp_) {
      io_uring_prep_recv(sqe, fd_, buf_.data() + got_, buf_.size() - got_, 0);
    } else {
      iov_.iov_base = buf_.data();
      iov_.iov_len = buf_.size();
      msg_ = {};
      from_ = {};
      msg_.msg_name = &from_;
      msg_.msg_namelen = sizeof(from_);
      msg_.msg_iov = &iov_;
      msg_.msg_iovlen = 1;
      io_uring_prep_recvmsg(sqe, fd_, &msg_, 0);
    }
    ++inflight_;
  }

  void OnRecv(int32_t res, uint32_t) {
    Enter();
    if (query_ != nullptr) {
      if (res < 0) {
        if (res != -ECANCELED) Fail(AnswerStatus::kTimeout, "receive: " + ErrnoText(res));
      } else if (tcp_) {
        OnTcpData(static_cast<size_t>(res));
      } else {
        OnDatagram(static_cast<size_t>(res));
      }
    }
    Leave();
  }

  void OnDatagram(size_t n) {
    std::string why;
    if ((msg_.msg_flags & MSG_TRUNC) != 0) {
      why = "datagram larger than 4 KiB";
    } else if (!SameEndpoint(from_, msg_.msg_namelen, server_)) {
      why = "datagram from another address";
    } else {
      auto reply = DecodeResponse(std::string_view(buf_.data(), n), question_, id_);
      if (reply.ok()) {
        r_->OnReply(this, std::move(*reply));
        return;
      }
      why = std::string(reply.status().message());
    }
    ++r_->stats_.stray;
    if (++strays_ > r_->options_.max_stray_per_attempt) {
      Fail(AnswerStatus::kTimeout, "too many stray datagrams (last: " + why + ")");
      return;
    }
    PrepRecv();
  }

  void OnTcpData(size_t n) {
    if (n == 0) {
      Fail(AnswerStatus::kTimeout, "TCP connection closed before the reply");
      return;
    }
    got_ += n;
    CHECK(got_ <= buf_.size());
    if (got_ >= 2) {
      const size_t len = (static_cast<uint8_t>(buf_[0]) << 8) | static_cast<uint8_t>(buf_[1]);
      if (len < kHeaderBytes || len > kTcpMaxReply) {
        Fail(AnswerStatus::kServFail, "bad TCP reply length " + std::to_string(len));
        return;
      }
      if (buf_.size() < len + 2) buf_.resize(len + 2);
      if (got_ >= len + 2) {
        auto reply = DecodeResponse(std::string_view(buf_.data() + 2, len), question_, id_);
        if (!reply.ok()) {
          ++r_->stats_.stray;
          Fail(AnswerStatus::kServFail,
               "bad TCP reply: " + std::string(reply.status().message()));
          return;
        }
        r_->OnReply(this, std::move(*reply));
        return;
      }
    }
    PrepRecv();
  }

  void Fail(AnswerStatus why, std::string detail) {
    if (query_ == nullptr) return;
    r_->OnAttemptFailed(this, why, std::move(detail));
  }

  void Enter() {
    CHECK(inflight_ > 0);
    --inflight_;
    CHECK(!in_handler_);
    in_handler_ = true;
  }

  void Leave() {
    in_handler_ = false;
    MaybeFree();
  }

  void MaybeFree() {
    if (query_ != nullptr || inflight_ > 0 || in_handler_) return;
    if (fd_ >= 0) {
      io_uring_sqe* sqe = r_->loop_->Sqe(static_cast<runtime::Completion*>(nullptr));
      io_uring_prep_close(sqe, fd_);
      fd_ = -1;
    }
    delete this;
  }

  Resolver* r_;
  Query* query_;
  size_t server_index_;
  sockaddr_storage server_;
  bool tcp_;
  Question question_;
  uint16_t id_;
  std::string out_;
  size_t sent_ = 0;
  std::vector<char> buf_;
  size_t got_ = 0;  // TCP: bytes received so far
  iovec iov_ = {};
  msghdr msg_ = {};
  sockaddr_storage from_ = {};
  int fd_ = -1;
  int inflight_ = 0;
  uint32_t strays_ = 0;
  bool in_handler_ = false;
  bool cancel_issued_ = false;
  Attempt* prev_ = nullptr;
  Attempt* next_ = nullptr;
  runtime::MemberCompletion<Attempt, &Attempt::OnSocket> socket_done_{this};
  runtime::MemberCompletion<Attempt, &Attempt::OnConnect> connect_done_{this};
  runtime::MemberCompletion<Attempt, &Attempt::OnSend> send_done_{this};
  runtime::MemberCompletion<Attempt, &Attempt::OnRecv> recv_done_{this};
};

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(runtime::Loop* loop,
                                                           ResolverOptions options) {
  if (loop == nullptr) return absl::InvalidArgumentError("no loop");
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
      (options.edns_udp_size < 512 || options.edns_udp_size > kUdpBufferBytes)) {
    return absl::InvalidArgumentError("EDNS UDP size must be 0 or 512 to 4096");
  }
  if (options.max_cname_hops > 16) {
    return absl::InvalidArgumentError("at most 16 CNAME hops");
  }
  if (options.max_inflight < 1 || options.max_inflight > 65536) {
    return absl::InvalidArgumentError("max_inflight must be 1 to 65536");
  }
  return std::unique_ptr<Resolver>(new Resolver(loop, std::move(options)));
}

Resolver::Resolver(runtime::Loop* loop, ResolverOptions options)
    : loop_(loop), options_(std::move(options)) {}

Resolver::~Resolver() {
  while (queries_ != nullptr) {
    Query* q = queries_;
    loop_->timers().Disarm(&q->timer);
    if (q->current != nullptr) q->current->Abandon();
    queries_ = q->next;
    delete q;
  }
  while (attempts_ != nullptr) attempts_->Abandon();
  CHECK(live_attempts_ == 0);
}

bool Resolver::idle() const {
  return live_queries_ == 0 && live_attempts_ == 0 && ready_.empty();
}

void Resolver::FailSoon(AnswerCallback done, Answer answer) {
  ++stats_.failed;
  ready_.emplace_back(std::move(done), std::move(answer));
  loop_->Defer(this);
}

void Resolver::RunDeferred() {
  std::vector<std::pair<AnswerCallback, Answer>> ready;
  ready.swap(ready_);
  for (auto& [done, answer] : ready) done(std::move(answer));
}

void Resolver::Resolve(std::string_view name, RrType type, AnswerCallback done) {
  ++stats_.queries;
  Answer fail;
  fail.name = std::string(name);
  if (shut_down_) {
    fail.status = AnswerStatus::kCancelled;
    fail.detail = "resolver shut down";
    FailSoon(std::move(done), std::move(fail));
    return;
  }
  auto canonical = NormalizeName(name);
  if (!canonical.ok()) {
    fail.status = AnswerStatus::kBadName;
    fail.detail = std::string(canonical.status().message());
    FailSoon(std::move(done), std::move(fail));
    return;
  }
  if (live_queries_ >= options_.max_inflight) {
    fail.status = AnswerStatus::kOverloaded;
    fail.detail = "more than " + std::to_string(options_.max_inflight) +
                  " DNS queries in flight on this shard";
    FailSoon(std::move(done), std::move(fail));
    return;
  }
  auto* q = new Query();
  q->resolver = this;
  q->name = std::move(*canonical);
  q->type = type;
  q->done = std::move(done);
  q->edns = options_.edns_udp_size > 0;
  q->timer.callback = &Resolver::OnTimer;
  q->timer.context = q;
  q->next = queries_;
  if (queries_ != nullptr) queries_->prev = q;
  queries_ = q;
  ++live_queries_;
  q->first_server = preferred_;
  StartAttempt(q, q->first_server, /*tcp=*/false, q->edns);
}

void Resolver::StartAttempt(Query* q, size_t server, bool tcp, bool edns) {
  CHECK(server < options_.servers.size());
  if (q->current != nullptr) {
    Attempt* old = q->current;
    q->current = nullptr;
    old->Detach();
  }
  const uint16_t id = random_.Next16();
  Question question{q->name, q->type};
  auto wire = EncodeQuery(question, id, edns ? options_.edns_udp_size : 0);
  if (!wire.ok()) {
    Answer a;
    a.status = AnswerStatus::kBadName;
    a.name = q->name;
    a.detail = std::string(wire.status().message());
    Finish(q, std::move(a));
    return;
  }
  ++stats_.attempts;
  auto* a = new Attempt(this, q, server, tcp, std::move(question), id, std::move(*wire));
  q->current = a;
  loop_->timers().Arm(&q->timer, loop_->now_ms() + options_.timeout_ms);
  a->Start();
}

void Resolver::NextAttempt(Query* q, AnswerStatus why, std::string detail) {
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
  StartAttempt(q, next, /*tcp=*/false, q->edns);
}

void Resolver::OnTimer(runtime::Timer* t) {
  auto* q = static_cast<Query*>(t->context);
  Resolver* r = q->resolver;
  ++r->stats_.timeouts;
  std::string where = q->current != nullptr
                          ? FormatSockaddr(q->current->server())
                          : std::string("server");
  r->NextAttempt(q, AnswerStatus::kTimeout,
                 "no reply from " + where + " within " +
                     std::to_string(r->options_.timeout_ms) + " ms");
}

void Resolver::OnAttemptFailed(Attempt* a, AnswerStatus why, std::string detail) {
  Query* q = a->query();
  CHECK(q != nullptr);
  CHECK(q->current == a);
  ++stats_.attempt_errors;
  NextAttempt(q, why, FormatSockaddr(a->server()) + ": " + detail);
}

void Resolver::OnReply(Attempt* a, Response reply) {
  Query* q = a->query();
  CHECK(q != nullptr);
  CHECK(q->current == a);
  if (reply.partial && a->tcp()) {
    // Truncated and unparseable over TCP: a broken server.
    ++stats_.server_errors;
    NextAttempt(q, AnswerStatus::kServFail,
                FormatSockaddr(a->server()) + " sent a truncated reply over TCP");
    return;
  }
  if (reply.rcode == kRcodeNoError || reply.rcode == kRcodeNxDomain) {
    if (reply.truncated && !a->tcp()) {
      ++stats_.tcp_fallbacks;
      StartAttempt(q, a->server_index(), /*tcp=*/true, q->edns);
      return;
    }
    preferred_ = a->server_index();
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
        StartAttempt(q, q->first_server, /*tcp=*/false, q->edns);
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
    StartAttempt(q, a->server_index(), a->tcp(), false);
    return;
  }
  NextAttempt(q, AnswerStatus::kServFail,
              FormatSockaddr(a->server()) + " answered " +
                  RcodeText(reply.rcode));
}

void Resolver::Finish(Query* q, Answer answer) {
  loop_->timers().Disarm(&q->timer);
  if (q->current != nullptr) {
    Attempt* a = q->current;
    q->current = nullptr;
    a->Detach();
  }
  if (q->prev != nullptr) {
    q->prev->next = q->next;
  } else {
    queries_ = q->next;
  }
  if (q->next != nullptr) q->next->prev = q->prev;
  CHECK(live_queries_ > 0);
  --live_queries_;
  if (IsTemporary(answer.status)) {
    ++stats_.failed;
  } else {
    ++stats_.ok;
  }
  AnswerCallback done = std::move(q->done);
  delete q;
  done(std::move(answer));
}

void Resolver::Shutdown() {
  shut_down_ = true;
  while (queries_ != nullptr) {
    Query* q = queries_;
    Answer a;
    a.status = AnswerStatus::kCancelled;
    a.name = q->name;
    a.detail = "resolver shut down";
    loop_->timers().Disarm(&q->timer);
    if (q->current != nullptr) {
      Attempt* at = q->current;
      q->current = nullptr;
      at->Detach();
    }
    queries_ = q->next;
    if (queries_ != nullptr) queries_->prev = nullptr;
    --live_queries_;
    ready_.emplace_back(std::move(q->done), std::move(a));
    ++stats_.failed;
    delete q;
  }
  if (!ready_.empty()) loop_->Defer(this);
}

}  // namespace ringpost::dns
