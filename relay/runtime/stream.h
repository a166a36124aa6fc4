// stream.h — TCP byte streams, listeners and outbound connects on a Loop.
//
// Stream: one connected socket. Receives with a multishot recv on the loop's
// provided-buffer ring; ENOBUFS (no buffer free) is backpressure, not an
// error: the receive is re-armed once buffers come back. Output is appended
// to a buffer and sent once per turn, whatever the handler wrote during it;
// short sends continue where they stopped. One send is in flight at a time.
//
// Lifetime: a Stream is heap-allocated and owned by its handler until the
// handler calls Release(); from then on it closes itself (if not closed) and
// frees itself once no operation is in flight. After OnStreamClosed the
// handler receives no further calls.
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

  // A sent buffer up to this capacity is kept for the next output (64 KiB:
  // idle connections hold little). Streams that carry message bodies set
  // more, so appending them does not regrow a fresh string every send.
  void set_retained_send_buffer(size_t bytes) { retained_send_buffer_ = bytes; }

  int fd() const { return fd_; }
  bool closed() const { return closing_; }
  size_t queued_bytes() const { return out_.size() + (sending_.size() - sent_); }
  uint64_t bytes_received() const { return bytes_in_; }
  uint64_t bytes_sent() const { return bytes_out_; }

 private:
  ~Stream();
  void RunDeferred() override;
  void ArmRecv();
  void IssueSend();
  void IssueClose();
  void OnRecv(int32_t res, uint32_t flags);
  void OnSend(int32_t res, uint32_t flags);
  void OnClose(int32_t res, uint32_t flags);
  void Closed(int error);
  void MaybeFree();

  Loop* loop_;
  int fd_;
  StreamHandler* handler_;
  MemberCompletion<Stream, &Stream::OnRecv> recv_done_{this};
  MemberCompletion<Stream, &Stream::OnSend> send_done_{this};
  MemberCompletion<Stream, &Stream::OnClose> close_done_{this};
  std::string out_;      // appended by the handler
  std::string sending_;  // in flight
  size_t sent_ = 0;      // bytes of sending_ already sent
  size_t retained_send_buffer_ = 64 * 1024;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  int inflight_ = 0;
  bool recv_armed_ = false;
  bool send_inflight_ = false;
  bool paused_ = false;
  bool want_rearm_ = false;
  bool close_after_send_ = false;
  bool closing_ = false;  // fd close issued or closed
  bool close_issued_ = false;
  bool notified_ = false;
  bool fd_closed_ = false;
  bool waiting_buffers_ = false;
  bool released_ = false;
  int close_error_ = 0;
};

// Parses "1.2.3.4:25", "[::1]:25". Port 0 allowed.
absl::StatusOr<sockaddr_storage> ParseHostPort(std::string_view text);
std::string FormatAddress(const sockaddr_storage& addr);
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
