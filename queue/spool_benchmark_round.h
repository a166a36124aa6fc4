// queue/spool_benchmark_round.h — a benchmark message and one round of a
// spool commit benchmark, shared by queue/spool_benchmark.cc
// (BlockingSpoolIo) and relay/spool/uring_spool_io_benchmark.cc (io_uring).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "queue/record.h"
#include "queue/spool.h"

namespace ringpost::queue {

// A newsletter-like message whose body is exactly `body_bytes` octets.
inline MessageRecord BenchmarkMessage(size_t body_bytes) {
  MessageRecord m;
  m.id = 1;
  m.queued_at_ms = 1700000000000;
  m.sender = "news@shop.example";
  m.recipients = {"someone@example.com"};
  m.body = "From: news@shop.example\r\nSubject: hello\r\n\r\n";
  while (m.body.size() < body_bytes) m.body += "Lorem ipsum dolor sit amet.\r\n";
  m.body.resize(body_bytes);
  return m;
}

// Appends `batch` copies of *m under fresh ids, commits them (`run_io`
// drives the SpoolIo until the commit has reported; a failed commit counts
// in *failures), then marks each delivered so the spool retires its
// segments as it would in service. `locs` is scratch space.
template <typename RunIo>
void AppendCommitRetire(Spool& spool, MessageRecord* m, int batch,
                        std::vector<MessageLocator>* locs, int64_t* failures,
                        RunIo run_io) {
  locs->clear();
  for (int i = 0; i < batch; ++i) {
    m->id = spool.NewMessageId();
    auto loc = spool.AppendMessage(*m, [failures](absl::Status s) {
      if (!s.ok()) ++*failures;
    });
    if (loc.ok()) locs->push_back(*loc);
  }
  spool.Flush();
  run_io();
  for (const MessageLocator& loc : *locs) {
    spool.MarkDone(loc, 0, kOutcomeDelivered);
  }
}

}  // namespace ringpost::queue
