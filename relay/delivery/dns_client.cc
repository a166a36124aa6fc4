// relay/delivery/dns_client.cc — see dns_client.h (the ring work) and
// dns/resolver.h (the protocol rules).
#include "relay/delivery/dns_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "base/check.h"

namespace ringpost::delivery {

// One exchange with one server on one socket (UDP, or TCP after TC=1).
// Holds the socket and every buffer the kernel may still write into.
class DnsClient::Socket {
 public:
  Socket(DnsClient* c, dns::ExchangeId id, const sockaddr_storage& server, bool tcp,
         std::string_view bytes)
      : c_(c), id_(id), server_(server), tcp_(tcp), out_(bytes) {
    buf_.resize(dns::kMaxUdpReplyBytes);
    timer_.callback = &Socket::OnTimer;
    timer_.context = this;
    next_ = c_->all_;
    if (next_ != nullptr) next_->prev_ = this;
    c_->all_ = this;
    ++c_->live_sockets_;
  }

  ~Socket() {
    CHECK(!timer_.armed());
    if (prev_ != nullptr) {
      prev_->next_ = next_;
    } else {
      c_->all_ = next_;
    }
    if (next_ != nullptr) next_->prev_ = prev_;
    CHECK(c_->live_sockets_ > 0);
    --c_->live_sockets_;
  }

  void Start(uint64_t deadline_ms) {
    c_->loop_->timers().Arm(&timer_, deadline_ms);
    io_uring_sqe* sqe = c_->loop_->Sqe(&socket_done_);
    io_uring_prep_socket(sqe, server_.ss_family,
                         (tcp_ ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, 0);
    ++inflight_;
  }

  // The resolver no longer listens: cancel what is in the kernel, free when
  // the last operation completed.
  void Detach() {
    id_ = 0;
    c_->loop_->timers().Disarm(&timer_);
    if (fd_ >= 0 && inflight_ > 0 && !cancel_issued_) {
      cancel_issued_ = true;
      io_uring_sqe* sqe = c_->loop_->Sqe(static_cast<runtime::Completion*>(nullptr));
      io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
    }
    MaybeFree();
  }

  // Only from ~DnsClient, when the loop will not run again.
  void Abandon() {
    c_->loop_->timers().Disarm(&timer_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    delete this;
  }

 private:
  void OnSocket(int32_t res, uint32_t) {
    Enter();
    if (res >= 0) fd_ = res;
    if (id_ != 0) {
      if (res < 0) {
        Error(-res, "socket()");
      } else {
        io_uring_sqe* sqe = c_->loop_->Sqe(&connect_done_);
        io_uring_prep_connect(sqe, fd_, reinterpret_cast<const sockaddr*>(&server_),
                              static_cast<socklen_t>(server_.ss_family == AF_INET6
                                                         ? sizeof(sockaddr_in6)
                                                         : sizeof(sockaddr_in)));
        sqe->flags |= IOSQE_IO_LINK;
        sqe = c_->loop_->Sqe(&send_done_);
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
    if (res < 0 && res != -ECANCELED) Error(-res, "connect");
    Leave();
  }

  void OnSend(int32_t res, uint32_t) {
    Enter();
    if (res < 0) {
      if (res != -ECANCELED) Error(-res, "send");
    } else if (id_ != 0) {
      sent_ += static_cast<size_t>(res);
      if (sent_ < out_.size()) {
        if (!tcp_) {
          Error(0, "short UDP send");
        } else {
          io_uring_sqe* sqe = c_->loop_->Sqe(&send_done_);
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
    io_uring_sqe* sqe = c_->loop_->Sqe(&recv_done_);
    if (tcp_) {
      io_uring_prep_recv(sqe, fd_, buf_.data(), buf_.size(), 0);
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
    const dns::ExchangeId id = id_;
    if (id != 0) {
      const uint64_t now = c_->loop_->now_ms();
      if (res < 0) {
        if (res != -ECANCELED) Error(-res, "receive");
      } else if (tcp_) {
        c_->resolver_->OnStreamBytes(id, std::string_view(buf_.data(), static_cast<size_t>(res)),
                                     now);
      } else {
        dns::Datagram d;
        d.from = &from_;
        d.from_len = msg_.msg_namelen;
        d.bytes = std::string_view(buf_.data(), static_cast<size_t>(res));
        d.cut = (msg_.msg_flags & MSG_TRUNC) != 0;
        c_->resolver_->OnDatagram(id, d, now);
      }
      // Still attached: the resolver wants more (it ignored a datagram, or
      // has part of a TCP reply). A TCP end of stream (0) is never that.
      if (id_ != 0 && res >= 0 && (res > 0 || !tcp_)) PrepRecv();
    }
    Leave();
  }

  static void OnTimer(runtime::Timer* t) {
    auto* self = static_cast<Socket*>(t->context);
    CHECK(self->id_ != 0);  // disarmed on Detach()
    CHECK(!self->in_handler_);
    self->in_handler_ = true;
    self->c_->resolver_->OnTimeout(self->id_, self->c_->loop_->now_ms());
    self->Leave();
  }

  void Error(int error, std::string_view op) {
    if (id_ == 0) return;
    c_->resolver_->OnExchangeError(id_, error, op, c_->loop_->now_ms());
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
    if (id_ != 0 || inflight_ > 0 || in_handler_) return;
    if (fd_ >= 0) {
      io_uring_sqe* sqe = c_->loop_->Sqe(static_cast<runtime::Completion*>(nullptr));
      io_uring_prep_close(sqe, fd_);
      fd_ = -1;
    }
    delete this;
  }

  DnsClient* c_;
  dns::ExchangeId id_;  // 0 once detached
  sockaddr_storage server_;
  bool tcp_;
  std::string out_;
  size_t sent_ = 0;
  std::vector<char> buf_;
  iovec iov_ = {};
  msghdr msg_ = {};
  sockaddr_storage from_ = {};
  int fd_ = -1;
  int inflight_ = 0;
  bool in_handler_ = false;
  bool cancel_issued_ = false;
  runtime::Timer timer_;
  Socket* prev_ = nullptr;
  Socket* next_ = nullptr;
  runtime::MemberCompletion<Socket, &Socket::OnSocket> socket_done_{this};
  runtime::MemberCompletion<Socket, &Socket::OnConnect> connect_done_{this};
  runtime::MemberCompletion<Socket, &Socket::OnSend> send_done_{this};
  runtime::MemberCompletion<Socket, &Socket::OnRecv> recv_done_{this};
};

absl::StatusOr<std::unique_ptr<DnsClient>> DnsClient::Create(runtime::Loop* loop,
                                                             dns::ResolverOptions options) {
  if (loop == nullptr) return absl::InvalidArgumentError("no loop");
  std::unique_ptr<DnsClient> c(new DnsClient(loop));
  auto r = dns::Resolver::Create(c.get(), std::move(options));
  if (!r.ok()) return r.status();
  c->resolver_ = std::move(*r);
  return c;
}

DnsClient::DnsClient(runtime::Loop* loop) : loop_(loop) {}

DnsClient::~DnsClient() {
  // The resolver's destructor calls no host method; the sockets are ours.
  resolver_.reset();
  sockets_.clear();
  // Bounded: each round frees one socket.
  while (all_ != nullptr) all_->Abandon();
  CHECK(live_sockets_ == 0);
}

bool DnsClient::idle() const { return resolver_->idle() && live_sockets_ == 0; }

void DnsClient::Resolve(std::string_view name, dns::RrType type, dns::AnswerCallback done) {
  resolver_->Resolve(name, type, loop_->now_ms(), std::move(done));
}

void DnsClient::Shutdown() { resolver_->Shutdown(); }

void DnsClient::StartExchange(dns::ExchangeId id, size_t server, bool tcp,
                              std::string_view bytes, uint64_t deadline_ms) {
  CHECK(id != 0);
  auto* s = new Socket(this, id, resolver_->options().servers[server], tcp, bytes);
  const bool inserted = sockets_.emplace(id, s).second;
  CHECK(inserted);
  s->Start(deadline_ms);
}

void DnsClient::EndExchange(dns::ExchangeId id) {
  auto it = sockets_.find(id);
  CHECK(it != sockets_.end());
  Socket* s = it->second;
  sockets_.erase(it);
  s->Detach();
}

void DnsClient::CallbacksPending() { loop_->Defer(this); }

void DnsClient::RunDeferred() { resolver_->RunPending(); }

}  // namespace ringpost::delivery
