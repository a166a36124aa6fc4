// stream.cc — see stream.h.
#include "relay/runtime/stream.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace ringpost::runtime {

Stream::Stream(Loop* loop, int fd, StreamHandler* handler)
    : loop_(loop), fd_(fd), handler_(handler) {
  CHECK(fd >= 0);
  CHECK(handler != nullptr);
}

Stream::~Stream() {
  CHECK(lifecycle_ == Lifecycle::kClosed);
  CHECK(released_);
  CHECK(recv_ == RecvOp::kIdle);
  CHECK(!send_in_flight_);
  CHECK(!in_handler_);
  CHECK(!deferred_queued());
}

void Stream::Start() { ArmRecv(); }

// Receive op: Idle -> Armed, when reading is wanted on an open stream.
void Stream::ArmRecv() {
  if (recv_ != RecvOp::kIdle || paused_ || !open_or_draining()) return;
  io_uring_sqe* sqe = loop_->Sqe(&recv_done_);
  io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = loop_->buffer_group();
  recv_ = RecvOp::kArmed;
}

// Receive op: Armed -> Cancelling, one cancel per receive. A queued re-arm
// (RearmQueued) needs none: RunDeferred sees paused_ or Closing and stays
// Idle.
void Stream::CancelRecv() {
  if (recv_ != RecvOp::kArmed) return;
  io_uring_sqe* sqe = loop_->Sqe(static_cast<Completion*>(nullptr));
  io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(&recv_done_), 0);
  recv_ = RecvOp::kCancelling;
}

void Stream::OnRecv(int32_t res, uint32_t flags) {
  DCHECK(recv_in_kernel());
  if (res > 0) {
    bytes_in_ += static_cast<uint64_t>(res);
    std::string_view data = loop_->BufferData(res, flags);
    // No data once Closing, nor to a handler that let go (while Draining).
    if (open_or_draining() && !released_) {
      in_handler_ = true;
      handler_->OnStreamData(data);
      in_handler_ = false;
    }
  }
  loop_->ReturnBuffer(flags);
  if (!(flags & IORING_CQE_F_MORE)) OnRecvEnded(res);
  MaybeFree();
}

// The multishot receive's final completion: Armed/Cancelling -> Idle, then
// on to RearmQueued or Closing depending on why it ended.
void Stream::OnRecvEnded(int32_t res) {
  recv_ = RecvOp::kIdle;
  if (!open_or_draining()) return;  // cancelled by IssueClose
  if (res == 0) return IssueClose(0);  // orderly close by the peer
  // ENOBUFS: every buffer is in use (backpressure); ECANCELED: only
  // PauseReading cancels a receive of an open stream, and reading may have
  // resumed before the cancellation arrived.
  if (res < 0 && res != -ENOBUFS && res != -ECANCELED) return IssueClose(res);
  if (paused_) return;
  recv_ = RecvOp::kRearmQueued;
  if (res == -ENOBUFS) {
    loop_->DeferUntilBuffers(this);
  } else {
    loop_->Defer(this);
  }
}

void Stream::Write(std::string_view data) {
  if (lifecycle_ != Lifecycle::kOpen) return;
  out_.append(data);
  Flush();
}

void Stream::Flush() {
  // With a filter the bytes may wait in it: seal at the end of the turn.
  if ((!out_.empty() || filter_ != nullptr) && !send_in_flight_) loop_->Defer(this);
}

void Stream::RunDeferred() {
  if (recv_ == RecvOp::kRearmQueued) {
    recv_ = RecvOp::kIdle;
    ArmRecv();  // stays Idle when paused or closing by now
  }
  if (open_or_draining() && !send_in_flight_) Seal();
  if (open_or_draining() && !send_in_flight_ && !out_.empty()) IssueSend();
  if (lifecycle_ == Lifecycle::kDraining && !send_in_flight_ && out_.empty()) {
    IssueClose(0);
  }
  MaybeFree();
}

void Stream::IssueSend() {
  DCHECK(!send_in_flight_);
  DCHECK(open_or_draining());
  if (sent_ == sending_.size()) {
    sending_.clear();
    sent_ = 0;
    if (sending_.capacity() > retained_send_buffer_) std::string().swap(sending_);
    sending_.swap(out_);
  }
  if (sending_.empty()) return;
  io_uring_sqe* sqe = loop_->Sqe(&send_done_);
  io_uring_prep_send(sqe, fd_, sending_.data() + sent_, sending_.size() - sent_,
                     MSG_NOSIGNAL);
  send_in_flight_ = true;
}

void Stream::OnSend(int32_t res, uint32_t) {
  DCHECK(send_in_flight_);
  send_in_flight_ = false;
  if (res < 0) {
    if (open_or_draining()) {
      out_.clear();
      IssueClose(res);
    }
    MaybeFree();
    return;
  }
  bytes_out_ += static_cast<uint64_t>(res);
  sent_ += static_cast<size_t>(res);
  if (open_or_draining()) {
    Seal();  // what the handler wrote while the send was in flight
    if (sent_ < sending_.size() || !out_.empty()) {
      IssueSend();  // short send: continue where it stopped
    } else if (lifecycle_ == Lifecycle::kDraining) {
      IssueClose(0);
    } else {
      DCHECK(!released_);  // Release() in Open starts Closing
      in_handler_ = true;
      handler_->OnStreamDrained();
      in_handler_ = false;
    }
  }
  MaybeFree();
}

void Stream::PauseReading() {
  if (paused_) return;
  paused_ = true;
  CancelRecv();  // a queued re-arm finds paused_ set and stays Idle
}

void Stream::ResumeReading() {
  if (!paused_) return;
  paused_ = false;
  // Idle: re-arm at the end of the turn. Cancelling: the final completion
  // re-arms. Armed cannot be (paused cancels it); RearmQueued already is.
  if (recv_ == RecvOp::kIdle && open_or_draining()) {
    recv_ = RecvOp::kRearmQueued;
    loop_->Defer(this);
  }
}

// Lifecycle: Open -> Draining (output queued or in flight) or Open -> Closing.
void Stream::Close() {
  if (lifecycle_ != Lifecycle::kOpen) return;
  Seal();
  if (!send_in_flight_ && out_.empty()) return IssueClose(0);
  lifecycle_ = Lifecycle::kDraining;
  loop_->Defer(this);
}

// Lifecycle: Open/Draining -> Closing, dropping queued output.
void Stream::Abort(int error) {
  if (!open_or_draining()) return;
  out_.clear();
  IssueClose(error);
}

// Lifecycle: Open/Draining -> Closing, the only way in.
void Stream::IssueClose(int error) {
  CHECK(open_or_draining());
  lifecycle_ = Lifecycle::kClosing;
  close_error_ = error;
  if (recv_ == RecvOp::kRearmQueued) recv_ = RecvOp::kIdle;
  CancelRecv();
  // shutdown() first so a send still in flight ends and the peer sees FIN.
  io_uring_sqe* sqe = loop_->Sqe(static_cast<Completion*>(nullptr));
  io_uring_prep_shutdown(sqe, fd_, SHUT_RDWR);
  sqe->flags |= IOSQE_IO_HARDLINK;  // close even when shutdown fails
  sqe = loop_->Sqe(&close_done_);
  io_uring_prep_close(sqe, fd_);
}

// Lifecycle: Closing -> Closed.
void Stream::OnClose(int32_t, uint32_t) {
  CHECK(lifecycle_ == Lifecycle::kClosing);
  lifecycle_ = Lifecycle::kClosed;
  if (!released_) {
    in_handler_ = true;
    handler_->OnStreamClosed(close_error_);
    in_handler_ = false;
  }
  MaybeFree();
}

// Ownership: Owned -> Released, once.
void Stream::Release() {
  CHECK(!released_);
  released_ = true;
  filter_ = nullptr;  // it belongs to the handler
  if (lifecycle_ == Lifecycle::kOpen) IssueClose(0);
  MaybeFree();
}

void Stream::MaybeFree() {
  if (released_ && lifecycle_ == Lifecycle::kClosed && recv_ == RecvOp::kIdle &&
      !send_in_flight_ && !in_handler_ && !deferred_queued()) {
    delete this;
  }
}

// ---------------------------------------------------------------------------

absl::StatusOr<sockaddr_storage> ParseHostPort(std::string_view text) {
  sockaddr_storage addr = {};
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError("bad address '" + std::string(text) +
                                        "': want [IPv6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError("bad address '" + std::string(text) +
                                        "': want HOST:PORT");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  uint32_t port_num = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_num);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      port_num > 65535) {
    return absl::InvalidArgumentError("bad port in '" + std::string(text) + "'");
  }
  std::string host_str(host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host_str.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port_num));
  } else if (inet_pton(AF_INET6, host_str.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port_num));
  } else {
    return absl::InvalidArgumentError("bad address '" + std::string(text) +
                                      "': host must be an IPv4 or [IPv6] literal");
  }
  return addr;
}

std::string FormatHost(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof(buf));
    return buf;
  }
  if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf,
              sizeof(buf));
    return buf;
  }
  return "unknown";
}

std::string FormatAddress(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    return absl::StrCat(FormatHost(addr), ":",
                        ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    return absl::StrCat("[", FormatHost(addr), "]:",
                        ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port));
  }
  return "unknown";
}

socklen_t AddressLength(const sockaddr_storage& addr) {
  return addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Listener>> Listener::Create(
    Loop* loop, const sockaddr_storage& addr, int backlog, AcceptFn on_accept) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (addr.ss_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), AddressLength(addr)) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", FormatAddress(addr), ": ", strerror(err)));
  }
  if (listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("listen: ", strerror(err)));
  }
  std::unique_ptr<Listener> l(new Listener(loop, fd, std::move(on_accept)));
  sockaddr_storage bound = {};
  socklen_t len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    l->port_ = ntohs(bound.ss_family == AF_INET6
                         ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  l->Arm();
  return l;
}

Listener::Listener(Loop* loop, int fd, AcceptFn on_accept)
    : loop_(loop), fd_(fd), on_accept_(std::move(on_accept)) {
  retry_timer_.context = this;
  retry_timer_.callback = [](Timer* t) {
    static_cast<Listener*>(t->context)->OnRetry();
  };
}

Listener::~Listener() {
  loop_->timers().Disarm(&retry_timer_);
  if (!closed_ && fd_ >= 0) close(fd_);
}

void Listener::Arm() {
  if (closed_ || armed_) return;
  io_uring_sqe* sqe = loop_->Sqe(&accept_done_);
  io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  armed_ = true;
}

void Listener::OnAccept(int32_t res, uint32_t flags) {
  if (res >= 0) {
    if (closed_) {
      close(res);
    } else {
      int one = 1;
      setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      on_accept_(res);
    }
  }
  if (!(flags & IORING_CQE_F_MORE)) {
    armed_ = false;
    if (closed_) return;
    if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
      // Out of descriptors or memory: back off instead of spinning.
      loop_->timers().Arm(&retry_timer_, loop_->now_ms() + 100);
    } else {
      Arm();
    }
  }
}

void Listener::OnRetry() { Arm(); }

void Listener::Close() {
  if (closed_) return;
  closed_ = true;
  loop_->timers().Disarm(&retry_timer_);
  if (armed_) {
    io_uring_sqe* sqe = loop_->Sqe(static_cast<Completion*>(nullptr));
    io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(&accept_done_), 0);
  }
  io_uring_sqe* sqe = loop_->Sqe(static_cast<Completion*>(nullptr));
  io_uring_prep_close(sqe, fd_);
  fd_ = -1;
}

// ---------------------------------------------------------------------------

namespace {

class ConnectOp {
 public:
  ConnectOp(Loop* loop, const sockaddr_storage& dest, uint64_t timeout_ms,
            absl::AnyInvocable<void(int)> done)
      : loop_(loop), dest_(dest), done_(std::move(done)) {
    timeout_.tv_sec = static_cast<int64_t>(timeout_ms / 1000);
    timeout_.tv_nsec = static_cast<int64_t>((timeout_ms % 1000) * 1000000);
  }

  void Start() {
    io_uring_sqe* sqe = loop_->Sqe(&socket_done_);
    io_uring_prep_socket(sqe, dest_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0, 0);
  }

 private:
  void OnSocket(int32_t res, uint32_t) {
    if (res < 0) return Finish(res);
    fd_ = res;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    io_uring_sqe* sqe = loop_->Sqe(&connect_done_);
    io_uring_prep_connect(sqe, fd_, reinterpret_cast<const sockaddr*>(&dest_),
                          AddressLength(dest_));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = loop_->Sqe(static_cast<Completion*>(nullptr));
    io_uring_prep_link_timeout(sqe, &timeout_, 0);
  }

  void OnConnect(int32_t res, uint32_t) {
    if (res == 0) {
      int fd = fd_;
      fd_ = -1;
      return Finish(fd);
    }
    if (res == -ECANCELED) res = -ETIMEDOUT;  // the linked timeout fired
    io_uring_sqe* sqe = loop_->Sqe(static_cast<Completion*>(nullptr));
    io_uring_prep_close(sqe, fd_);
    fd_ = -1;
    Finish(res);
  }

  void Finish(int result) {
    auto done = std::move(done_);
    delete this;
    done(result);
  }

  Loop* loop_;
  sockaddr_storage dest_;
  absl::AnyInvocable<void(int)> done_;
  __kernel_timespec timeout_ = {};
  int fd_ = -1;
  MemberCompletion<ConnectOp, &ConnectOp::OnSocket> socket_done_{this};
  MemberCompletion<ConnectOp, &ConnectOp::OnConnect> connect_done_{this};
};

}  // namespace

void Connect(Loop* loop, const sockaddr_storage& dest, uint64_t timeout_ms,
             absl::AnyInvocable<void(int fd_or_error)> done) {
  (new ConnectOp(loop, dest, timeout_ms, std::move(done)))->Start();
}

}  // namespace ringpost::runtime
