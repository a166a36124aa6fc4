// relay/inbound/submit_port.h — where an inbound connection hands the
// messages its session finished: the port the intake (relay/inbound/intake)
// implements. The connection learns of each commit through the
// CommitListener it passes along (relay/delivery/message.h).
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "relay/delivery/message.h"
#include "relay/inbound/session.h"

namespace ringpost::inbound {

class SubmitPort {
 public:
  // Whether a new transaction may start (spool space, queue memory, the
  // cross-shard backlog); the error's message is the reason given.
  virtual absl::Status CanAccept() = 0;
  virtual uint64_t NewMessageId() = 0;
  // An empty message shell to fill, recycled with its strings' storage.
  virtual std::unique_ptr<server::IncomingMessage> NewIncomingMessage() = 0;
  // Spools `message`; `listener->Committed` follows exactly once.
  virtual void Submit(CommitListener* listener,
                      std::unique_ptr<server::IncomingMessage> message) = 0;

 protected:
  ~SubmitPort() = default;
};

}  // namespace ringpost::inbound
