// relay/tls/errors.h — BoringSSL's error queue as text (internal to relay/tls).
#pragma once

#include <string>

namespace ringpost::tls {

// The oldest error on this thread's BoringSSL error queue, in words
// ("error:...:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER"), or
// "unknown error"; the queue is cleared.
std::string LastErrorText();

}  // namespace ringpost::tls
