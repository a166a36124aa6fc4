// reported.cc — see reported.h.
#include "queue/reported.h"

#include "absl/container/flat_hash_map.h"

namespace ringpost::queue {

std::vector<ReportedRecipient> MarkReportedDone(std::vector<RecoveredMessage>& recovered) {
  std::vector<ReportedRecipient> out;
  absl::flat_hash_map<uint64_t, size_t> by_id;  // built only when a notice was recovered
  for (const RecoveredMessage& r : recovered) {
    if (r.record.reports_on_id == 0 || r.record.reports_on_rcpts.empty()) continue;
    if (by_id.empty()) {
      by_id.reserve(recovered.size());
      for (size_t i = 0; i < recovered.size(); ++i) by_id.emplace(recovered[i].record.id, i);
    }
    auto it = by_id.find(r.record.reports_on_id);
    if (it == by_id.end()) continue;
    RecoveredMessage& original = recovered[it->second];
    const size_t n = original.record.recipients.size();
    if (original.done.size() < n) original.done.resize(n, false);
    for (uint32_t rcpt : r.record.reports_on_rcpts) {
      if (rcpt >= n || original.done[rcpt]) continue;
      original.done[rcpt] = true;
      out.push_back(ReportedRecipient{original.locator, rcpt});
    }
  }
  return out;
}

}  // namespace ringpost::queue
