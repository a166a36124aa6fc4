// loop.h — one io_uring event loop, owned by one thread (a shard).
//
// A Loop is the whole runtime of a shard: its ring (SINGLE_ISSUER |
// DEFER_TASKRUN), its provided-buffer ring for multishot receives, its timer
// wheel, and the per-turn hooks that batch work (group commit, log flush,
// cross-shard inboxes). Nothing in it is shared with other threads except the
// `sleeping` flag and the stop eventfd used to wake it.
//
// A turn of the loop:
//   1. reap every ready completion and run its handler (handlers may prepare
//      new submissions; they are not submitted until step 4);
//   2. fire expired timers;
//   3. run deferred items (stream flushes, receive re-arms) and turn hooks;
//   4. submit everything prepared and, if nothing is ready, sleep in the
//      kernel until a completion, a timer deadline or a wake-up.
// So every reply produced in one turn leaves in one send per connection, and
// every message completed in one turn shares one spool write and one sync.
//
// Each submission carries a `Completion*` as user_data. user_data 0 marks a
// completion nobody waits for (link timeouts, cancellations, MSG_RING).
//
// Usage:
//   auto loop = Loop::Create(options);   // on the thread that will run it
//   ... create listeners, streams ...
//   (*loop)->Run();                      // returns after Stop()
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "relay/runtime/timer_wheel.h"

namespace ringpost::runtime {

// CLOCK_MONOTONIC in milliseconds and in nanoseconds (vDSO: no system call).
uint64_t MonotonicMs();
uint64_t MonotonicNs();

// Receives the result of one submission (or of each shot of a multishot one).
class Completion {
 public:
  virtual void OnCompletion(int32_t res, uint32_t flags) = 0;

 protected:
  ~Completion() = default;
};

// Adapts a member function to a Completion, so one object can own several
// kinds of in-flight operation.
template <typename T, void (T::*Method)(int32_t, uint32_t)>
class MemberCompletion final : public Completion {
 public:
  explicit MemberCompletion(T* self) : self_(self) {}
  void OnCompletion(int32_t res, uint32_t flags) override {
    (self_->*Method)(res, flags);
  }

 private:
  T* self_;
};

// Work to run once at the end of the current turn (before submission).
class Deferred {
 public:
  virtual void RunDeferred() = 0;

 protected:
  ~Deferred() = default;
  bool deferred_queued() const { return deferred_queued_; }

 private:
  friend class Loop;
  bool deferred_queued_ = false;
};

struct LoopOptions {
  unsigned sq_entries = 4096;
  unsigned recv_buffers = 1024;        // power of two
  unsigned recv_buffer_bytes = 16384;  // per buffer
  int cpu = -1;                        // pin the calling thread when >= 0
};

struct LoopStats {
  uint64_t turns = 0;
  uint64_t enters = 0;       // io_uring_enter calls (submit or wait)
  uint64_t submissions = 0;  // SQEs submitted
  uint64_t completions = 0;  // CQEs reaped
  uint64_t sleeps = 0;       // waits that blocked
  uint64_t wakes_sent = 0;   // MSG_RING wake-ups sent to other loops
  // io_uring health (/metrics). CQEs the kernel dropped or held back
  // because the completion queue was full (its own counter, copied once per
  // turn); multishot receives that found no provided buffer (ENOBUFS); and
  // Sqe() calls that found the submission queue full and had to submit
  // early to make room.
  uint64_t cq_overflow = 0;
  uint64_t recv_buffer_shortages = 0;
  uint64_t sq_full = 0;
};

class Loop {
 public:
  // Creates the ring. Call on the thread that will run the loop: the ring is
  // SINGLE_ISSUER. Fails with a message naming the cause and the fix when
  // io_uring is disabled (sysctl kernel.io_uring_disabled, seccomp).
  static absl::StatusOr<std::unique_ptr<Loop>> Create(const LoopOptions& options);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // A submission queue entry whose completion goes to `c` (nullptr: ignored).
  // Never returns nullptr: submits to make room when the queue is full.
  io_uring_sqe* Sqe(Completion* c);
  // For cold paths (files, connects, closes): `done` runs once with the
  // result. Allocates; do not use per message.
  io_uring_sqe* Sqe(absl::AnyInvocable<void(int32_t)> done);

  // Runs turns until Quit() (each call runs until the next Quit()).
  void Run();
  // Ends Run() after the current turn. Loop thread only.
  void Quit() { quit_ = true; }
  // Thread-safe: asks the loop to stop. On the loop thread the stop handler
  // runs once (it starts a graceful drain and calls Quit() when done); with
  // no handler the loop quits at once.
  void RequestStop();
  void SetStopHandler(absl::AnyInvocable<void()> handler);
  bool stop_requested() const { return stop_requested_; }

  uint64_t now_ms() const { return now_ms_; }
  // The same reading in nanoseconds (CLOCK_MONOTONIC at the start of the
  // turn): for intervals shorter than a millisecond at no cost per event;
  // its resolution is the length of a turn.
  uint64_t now_ns() const { return now_ns_; }
  // Wall clock (ms since the epoch), read with now_ms() once per turn: for
  // timestamps in logs and headers, not for measuring intervals.
  int64_t wall_ms() const { return wall_ms_; }
  TimerWheel& timers() { return timers_; }

  // Provided buffers for multishot receives.
  uint16_t buffer_group() const { return kBufferGroup; }
  // The data a receive completion delivered (flags carry the buffer id).
  std::string_view BufferData(int32_t res, uint32_t flags) const;
  // Gives a buffer back to the kernel once its data has been consumed.
  void ReturnBuffer(uint32_t flags);
  // Called after ENOBUFS: `d` runs in a later turn, once buffers came back.
  void DeferUntilBuffers(Deferred* d);

  void Defer(Deferred* d);
  // Runs at the end of every turn, in order of registration.
  void AddTurnHook(absl::AnyInvocable<void()> hook);
  // Asked just before sleeping: true when work arrived from another thread
  // (cross-shard inbox) so the loop must not sleep.
  void SetPendingWorkCheck(absl::AnyInvocable<bool()> check);

  // Wakes `target` (another loop) if it sleeps, by MSG_RING through this ring.
  // Call from this loop's thread only.
  void Wake(Loop* target);

  const LoopStats& stats() const { return stats_; }
  int ring_fd() const { return ring_.ring_fd; }

 private:
  static constexpr uint16_t kBufferGroup = 0;
  static constexpr uint64_t kWakeUserData = 1;
  static constexpr uint64_t kStopUserData = 2;

  Loop() = default;
  absl::Status Init(const LoopOptions& options);
  void UpdateClock();
  void Reap();
  void RunDeferredWork();
  void RunDeferredRounds();
  void SubmitAndWait();
  void ArmStopRead();
  int Submit();

  io_uring ring_ = {};
  bool ring_ready_ = false;
  bool quit_ = false;
  bool stop_requested_ = false;
  absl::AnyInvocable<void()> stop_handler_;
  uint64_t now_ms_ = 0;
  uint64_t now_ns_ = 0;
  int64_t wall_ms_ = 0;
  TimerWheel timers_{MonotonicMs()};
  std::vector<Deferred*> deferred_;
  std::vector<Deferred*> deferred_running_;
  std::vector<absl::AnyInvocable<void()>> turn_hooks_;
  absl::AnyInvocable<bool()> pending_work_;
  std::atomic<bool> sleeping_{false};
  int stop_fd_ = -1;
  uint64_t stop_value_ = 0;

  io_uring_buf_ring* buf_ring_ = nullptr;
  unsigned buf_count_ = 0;
  unsigned buf_size_ = 0;
  unsigned buf_mask_ = 0;
  char* buf_base_ = nullptr;

  LoopStats stats_;
};

// Pins the calling thread to `cpu`. Returns false (and leaves it unpinned)
// when the CPU is not available to this process.
bool PinThreadToCpu(int cpu);
// Number of CPUs this process may run on.
int AvailableCpus();

}  // namespace ringpost::runtime
