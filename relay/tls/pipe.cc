// pipe.cc — see pipe.h.
#include "relay/tls/pipe.h"

namespace ringpost::tls {

Channel::Result Pipe::Receive(std::string_view data, std::string* wire) {
  plain_in_.clear();
  return channel_->Receive(data, &plain_in_, wire);
}

void Pipe::Seal(std::string* wire) {
  if (plain_out_.empty() || !channel_->handshake_done()) return;
  // Send fails only on a channel that already failed, and a failed channel
  // has closed its connection: nothing is lost that could have been sent.
  channel_->Send(plain_out_, wire);
  plain_out_.clear();
  if (plain_out_.capacity() > retained_buffer_) std::string().swap(plain_out_);
}

}  // namespace ringpost::tls
