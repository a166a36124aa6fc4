// queue/message_id.h — the printed form of a message ID, as the SMTP reply
// ("queued as ..."), the Received header and the delivery log show it:
// 16 uppercase hex digits, most significant first. The spool allocates the
// IDs (Spool::NewMessageId); this is how every other part prints them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ringpost::queue {

inline constexpr size_t kMessageIdChars = 16;
// Writes the 16 digits to out[0..15]; no allocation (hot path).
void WriteMessageId(uint64_t id, char* out);
void AppendMessageId(uint64_t id, std::string* out);
std::string FormatMessageId(uint64_t id);

}  // namespace ringpost::queue
