#include "bench/tls_session.h"


namespace ringpost::bench {

tls::Channel::Result TlsSession::Receive(std::string_view data, std::string* wire) {
  plain_in_.clear();
  return channel_->Receive(data, &plain_in_, wire);
}

void TlsSession::Seal(std::string* wire) {
  if (plain_out_.empty() || !channel_->handshake_done()) return;
  // Send fails only on a channel that already failed, and a failed channel
  // has closed its connection: nothing is lost that could have been sent.
  channel_->Send(plain_out_, wire);
  plain_out_.clear();
}

}  // namespace ringpost::bench
