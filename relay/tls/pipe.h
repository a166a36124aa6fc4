// relay/tls/pipe.h — a tls::Channel between an SMTP state machine and its
// Stream, once STARTTLS has succeeded (or from the start, on an implicit-TLS
// port): the relay's inbound and outbound connections, the bench's sink and
// load generator.
//
// The session keeps writing replies or commands as text, into plain_out()
// instead of the stream's output; Seal() turns them into records on the
// stream's output before it is flushed. Peer bytes go through Receive(),
// which leaves the plaintext in plain_in() and appends handshake records,
// alerts and tickets straight to the stream's output.
#ifndef RINGPOST_RELAY_TLS_PIPE_H_
#define RINGPOST_RELAY_TLS_PIPE_H_

#include <memory>
#include <string>
#include <string_view>

#include "relay/runtime/stream.h"
#include "relay/tls/channel.h"

namespace ringpost::tls {

// Installed as its Stream's output filter (runtime::OutputFilter), it seals
// once per send whatever the state machine wrote during the turn: a
// pipelined burst of replies or transactions becomes a few full records
// instead of one record per write.
class Pipe final : public runtime::OutputFilter {
 public:
  explicit Pipe(std::unique_ptr<Channel> channel) : channel_(std::move(channel)) {}

  Channel& channel() { return *channel_; }
  bool handshake_done() const { return channel_->handshake_done(); }

  // Text for the peer; it leaves encrypted at the next Seal().
  std::string& plain_out() { return plain_out_; }
  // The plaintext of the last Receive().
  const std::string& plain_in() const { return plain_in_; }

  // Peer bytes in. kError: channel().error() says why; `wire` may hold an
  // alert.
  Channel::Result Receive(std::string_view data, std::string* wire);

  // Encrypts plain_out() onto `wire`. Before the handshake is done the text
  // waits (nothing is written then in a well-behaved session: both sides
  // speak only after the handshake).
  void Seal(std::string* wire) override;

  // A plaintext buffer up to this capacity is kept for the next output
  // (connections that carry message bodies set more, like their streams).
  void set_retained_buffer(size_t bytes) { retained_buffer_ = bytes; }

 private:
  std::unique_ptr<Channel> channel_;
  size_t retained_buffer_ = 64 * 1024;
  std::string plain_out_;
  std::string plain_in_;
};

}  // namespace ringpost::tls

#endif  // RINGPOST_RELAY_TLS_PIPE_H_
