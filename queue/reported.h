// queue/reported.h — after a restart, the recipients that a spooled notice
// (a bounce, a success report: MessageRecord::reports_on_*) reports on.
//
// The origin shard retires a recipient it sends a notice about only once
// the notice's record is durable, and the record names those recipients.
// A crash between the notice's commit and the journaling of the
// retirements would otherwise recover the recipients as undone: delivered
// (or bounced) again, a second notice. So recovery treats every recipient a
// recovered notice names as done.
#pragma once

#include <cstdint>
#include <vector>

#include "queue/spool.h"

namespace ringpost::queue {

struct ReportedRecipient {
  MessageLocator locator;  // the original message
  uint32_t recipient = 0;
};

// Marks done (in `recovered`) every recipient a recovered notice reports
// on that was not done yet, and returns them, for the caller to journal
// (Spool::MarkDone). Names of messages that were not recovered (retired
// already) or indices out of range are ignored: the record may be older
// than the original's retirement.
std::vector<ReportedRecipient> MarkReportedDone(std::vector<RecoveredMessage>& recovered);

}  // namespace ringpost::queue
