// stream.h — TCP byte streams, listeners and outbound connects on a Loop.
//
// Stream: one connected socket. Receives with a multishot recv on the loop's
// provided-buffer ring; ENOBUFS (no buffer free) is backpressure, not an
// error: the receive is re-armed once buffers come back. Output is appended
// to a buffer and sent once per turn, whatever the handler wrote during it;
// short sends continue where they stopped. One send is in flight at a time.
// An OutputFilter (TLS) may hold the handler's writes: the stream has it
// seal them onto the buffer before each send, so a turn's writes are
// transformed together.
//
// Lifetime: a Stream is heap-allocated and owned by its handler until the
// handler calls Release(); from then on it closes itself (if not closed) and
// frees itself once no operation is in flight. After OnStreamClosed the
// handler receives no further calls.
//
// State. A Stream's state is four independent parts, each a one-byte field
// compared in one instruction:
//
//   lifecycle  (Lifecycle)   where the connection is on its way to closed;
//   ownership  (released_)   whether the handler still owns the stream;
//   reading    (paused_)     whether the handler wants data;
//   receive op (RecvOp)      what the multishot receive is doing in the kernel;
// plus `send_in_flight_`, true while the one send is in the kernel.
//
// Lifecycle (only forward, never back; the enum is declared in this order):
//
//   Open     --Close() with output queued or in flight------------> Draining
//   Open     --Close() with nothing queued; Abort(e); Release();
//              peer FIN; receive or send error---------------------> Closing
//   Draining --last byte sent; Abort(e); peer FIN; receive or
//              send error; (Release() does not end draining)--------> Closing
//   Closing  --close completion: OnStreamClosed unless released----> Closed
//
//   call          Open           Draining        Closing / Closed
//   Write         queues         ignored         ignored
//   Close         see above      no-op           no-op
//   Abort(e)      -> Closing     -> Closing      no-op
//   Release       -> Closing     stays           stays (once, in any state)
//   Pause/Resume  legal in every state (see Reading)
//
//   Open      Write/Flush queue output; data goes to OnStreamData; a send
//             that empties the queue calls OnStreamDrained.
//   Draining  Close() was called with output still queued or in flight:
//             Write is ignored, queued output still leaves, data still goes
//             to OnStreamData. closed() is still false.
//   Closing   shutdown(SHUT_RDWR) + close are in the kernel (hard-linked:
//             the close runs even when shutdown fails), the receive has been
//             cancelled, queued output is not sent (Abort and send errors
//             also drop it). Write, Close, Abort are no-ops; no handler
//             calls. closed() is true from here on.
//   Closed    the close completed; OnStreamClosed(error) was called once
//             (unless released). Terminal.
//   The error passed to OnStreamClosed is fixed at the Open/Draining ->
//   Closing edge: 0 for Close(), Release() and the peer's FIN; Abort's
//   argument; the failing receive's or send's negative errno.
//
// Ownership: Owned -> Released on Release(), exactly once (a second Release
//   is a CHECK failure). Release() in Open starts Closing; in Draining the
//   output still leaves first; in Closing or Closed it only hands over.
//   Released implies lifecycle != Open. A released stream makes no handler
//   calls and deletes itself when it is Closed with no operation in the
//   kernel (receive, send, close) and no deferred work queued.
//
// Reading (orthogonal to the lifecycle: legal in every state):
//   PauseReading() / ResumeReading() toggle `paused_` and are idempotent.
//   Pausing cancels an armed receive; data the kernel delivered before the
//   cancellation lands still reaches OnStreamData. While paused no receive
//   is armed, so neither data nor the peer's FIN is noticed until
//   ResumeReading(); then both are delivered in order.
//
// Receive op (follows from the reading intent and the lifecycle):
//   Idle         --ArmRecv (Start, end of turn) in Open/Draining, not
//                  paused--> Armed
//   Armed        --PauseReading, or the edge to Closing: one cancel-->
//                  Cancelling
//   Armed|Cancelling --final completion (no IORING_CQE_F_MORE)--> Idle; then
//                  res 0 (peer FIN): Closing(0); res < 0 other than ENOBUFS
//                  and ECANCELED: Closing(res); otherwise, in Open/Draining
//                  and not paused: RearmQueued (ENOBUFS: once buffers return)
//   Idle         --ResumeReading in Open/Draining--> RearmQueued
//   RearmQueued  --end of turn--> Idle, then ArmRecv
//   RearmQueued  --the edge to Closing--> Idle
//   So: paused => not Armed; Closing/Closed => Idle or Cancelling.
//
// Listener: a SO_REUSEPORT socket per loop with a multishot accept.
// Connect(): socket + connect with a linked timeout, all through the ring.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "relay/runtime/loop.h"

namespace ringpost::runtime {

class StreamHandler {
 public:
  // `data` is valid only during the call. Consume or copy it.
  virtual void OnStreamData(std::string_view data) = 0;
  // The connection ended: error 0 = orderly close by the peer or by us,
  // otherwise a negative errno. Called once.
  virtual void OnStreamClosed(int error) = 0;
  // Everything queued with Write()/output() has been sent.
  virtual void OnStreamDrained() {}

 protected:
  ~StreamHandler() = default;
};

// A transformation of the handler's output applied once per send (TLS:
// plaintext in, records out), so what the handler writes during a turn is
// sealed together instead of write by write.
class OutputFilter {
 public:
  // Appends what the handler queued with the filter, transformed, to `out`.
  virtual void Seal(std::string* out) = 0;

 protected:
  ~OutputFilter() = default;
};

class Stream final : private Deferred {
 public:
  Stream(Loop* loop, int fd, StreamHandler* handler);
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void Start();  // begin receiving

  // Queues bytes; they leave at the end of this turn.
  void Write(std::string_view data);
  // Direct access to the output buffer; call Flush() after appending.
  std::string& output() { return out_; }
  void Flush();

  // Stops delivering data (cancels the receive) until ResumeReading().
  void PauseReading();
  void ResumeReading();

  // Sends what is queued, then closes. OnStreamClosed(0) follows.
  void Close();
  // Closes now, dropping queued output. OnStreamClosed(error) follows.
  void Abort(int error);
  // The handler lets go; the stream frees itself when idle. No more calls.
  void Release();

  // From now on the filter's output is appended to the stream's before each
  // send, on Close() and when a send completes. Bytes written straight to
  // output() are not filtered (they go out in the order they were
  // appended). Null: none. Release() drops it.
  void set_output_filter(OutputFilter* filter) { filter_ = filter; }

  // A sent buffer up to this capacity is kept for the next output (64 KiB:
  // idle connections hold little). Streams that carry message bodies set
  // more, so appending them does not regrow a fresh string every send.
  void set_retained_send_buffer(size_t bytes) { retained_send_buffer_ = bytes; }

  int fd() const { return fd_; }
  // True from Closing on (not while Draining: see the state essay above).
  bool closed() const { return lifecycle_ >= Lifecycle::kClosing; }
  size_t queued_bytes() const { return out_.size() + (sending_.size() - sent_); }
  uint64_t bytes_received() const { return bytes_in_; }
  uint64_t bytes_sent() const { return bytes_out_; }

 private:
  // Declaration order is the order of the edges: a later state never goes
  // back to an earlier one.
  enum class Lifecycle : uint8_t { kOpen, kDraining, kClosing, kClosed };
  enum class RecvOp : uint8_t { kIdle, kArmed, kCancelling, kRearmQueued };

  ~Stream();
  void RunDeferred() override;
  void ArmRecv();
  void CancelRecv();
  void IssueSend();
  void IssueClose(int error);
  void OnRecv(int32_t res, uint32_t flags);
  void OnRecvEnded(int32_t res);
  void OnSend(int32_t res, uint32_t flags);
  void OnClose(int32_t res, uint32_t flags);
  void MaybeFree();
  void Seal() {
    if (filter_ != nullptr) filter_->Seal(&out_);
  }
  bool open_or_draining() const { return lifecycle_ <= Lifecycle::kDraining; }
  bool recv_in_kernel() const {
    return recv_ == RecvOp::kArmed || recv_ == RecvOp::kCancelling;
  }

  Loop* loop_;
  int fd_;
  StreamHandler* handler_;
  OutputFilter* filter_ = nullptr;
  MemberCompletion<Stream, &Stream::OnRecv> recv_done_{this};
  MemberCompletion<Stream, &Stream::OnSend> send_done_{this};
  MemberCompletion<Stream, &Stream::OnClose> close_done_{this};
  std::string out_;      // appended by the handler
  std::string sending_;  // in flight
  size_t sent_ = 0;      // bytes of sending_ already sent
  size_t retained_send_buffer_ = 64 * 1024;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  int close_error_ = 0;  // for OnStreamClosed; set on the edge to Closing
  Lifecycle lifecycle_ = Lifecycle::kOpen;
  RecvOp recv_ = RecvOp::kIdle;
  bool send_in_flight_ = false;
  bool paused_ = false;       // reading: the handler wants no data now
  bool released_ = false;     // ownership: the handler let go
  bool in_handler_ = false;   // a handler call is on the stack: do not free
};

// Parses "1.2.3.4:25", "[::1]:25". Port 0 allowed.
absl::StatusOr<sockaddr_storage> ParseHostPort(std::string_view text);
std::string FormatAddress(const sockaddr_storage& addr);
// The address alone, without port or brackets ("192.0.2.1", "2001:db8::1");
// "unknown" for other families.
std::string FormatHost(const sockaddr_storage& addr);
socklen_t AddressLength(const sockaddr_storage& addr);

class Listener final {
 public:
  using AcceptFn = absl::AnyInvocable<void(int fd)>;
  // Binds with SO_REUSEPORT (start-up time: plain syscalls) and starts a
  // multishot accept. Each loop binds its own socket to the same address.
  static absl::StatusOr<std::unique_ptr<Listener>> Create(
      Loop* loop, const sockaddr_storage& addr, int backlog, AcceptFn on_accept);
  ~Listener();
  // Stops accepting and closes the socket (through the ring).
  void Close();
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

 private:
  Listener(Loop* loop, int fd, AcceptFn on_accept);
  void Arm();
  void OnAccept(int32_t res, uint32_t flags);
  void OnRetry();

  Loop* loop_;
  int fd_;
  uint16_t port_ = 0;
  AcceptFn on_accept_;
  MemberCompletion<Listener, &Listener::OnAccept> accept_done_{this};
  Timer retry_timer_;
  bool closed_ = false;
  bool armed_ = false;
};

// Opens a TCP connection through the ring: IORING_OP_SOCKET, then CONNECT
// linked to a LINK_TIMEOUT. `done` gets the connected fd or a negative errno
// (-ETIMEDOUT when the timeout fired). `source` may be null (any).
void Connect(Loop* loop, const sockaddr_storage& dest, uint64_t timeout_ms,
             absl::AnyInvocable<void(int fd_or_error)> done);

}  // namespace ringpost::runtime
