// loop.cc — see loop.h for the turn structure and the rules.
#include "relay/runtime/loop.h"

#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/check.h"
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "relay/runtime/compat.h"

namespace ringpost::runtime {
namespace {

// A heap-allocated one-shot completion for cold paths.
class CallbackCompletion final : public Completion {
 public:
  explicit CallbackCompletion(absl::AnyInvocable<void(int32_t)> done)
      : done_(std::move(done)) {}
  void OnCompletion(int32_t res, uint32_t flags) override {
    auto done = std::move(done_);
    delete this;
    done(res);
  }

 private:
  absl::AnyInvocable<void(int32_t)> done_;
};

std::string DisabledHint(int err) {
  std::string hint = absl::StrCat("io_uring_queue_init failed: ", strerror(-err), ".");
  if (err == -EPERM || err == -ENOSYS) {
    absl::StrAppend(
        &hint,
        " io_uring is disabled for this process. Check the sysctl "
        "kernel.io_uring_disabled (0 enables it for everyone: "
        "`sysctl -w kernel.io_uring_disabled=0`; 1 limits it to the group in "
        "kernel.io_uring_group), and any seccomp profile (containers: run with "
        "a profile that allows io_uring_setup, io_uring_enter and "
        "io_uring_register).");
  } else if (err == -ENOMEM) {
    absl::StrAppend(&hint,
                    " The ring could not lock memory: raise RLIMIT_MEMLOCK "
                    "(ulimit -l) or lower --sq_entries.");
  } else if (err == -EINVAL) {
    absl::StrAppend(&hint,
                    " This kernel lacks a required io_uring feature "
                    "(SINGLE_ISSUER and DEFER_TASKRUN need Linux 6.1 or newer).");
  }
  return hint;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Loop>> Loop::Create(const LoopOptions& options) {
  std::unique_ptr<Loop> loop(new Loop());
  if (absl::Status s = loop->Init(options); !s.ok()) return s;
  return loop;
}

absl::Status Loop::Init(const LoopOptions& options) {
  if (options.cpu >= 0) PinThreadToCpu(options.cpu);
  io_uring_params params = {};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE |
                 IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = options.sq_entries * 4;
  int rc = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
  if (rc < 0) return absl::FailedPreconditionError(DisabledHint(rc));
  ring_ready_ = true;

  if ((options.recv_buffers & (options.recv_buffers - 1)) != 0 ||
      options.recv_buffers == 0 || options.recv_buffers > 32768) {
    return absl::InvalidArgumentError(
        "recv_buffers must be a power of two between 1 and 32768");
  }
  buf_count_ = options.recv_buffers;
  buf_size_ = options.recv_buffer_bytes;
  buf_mask_ = io_uring_buf_ring_mask(buf_count_);
  int err = 0;
  buf_ring_ = compat::SetupBufRing(&ring_, buf_count_, kBufferGroup, &err);
  if (buf_ring_ == nullptr) {
    return absl::InternalError(absl::StrCat(
        "registering the provided-buffer ring failed: ", strerror(-err)));
  }
  void* mem = mmap(nullptr, static_cast<size_t>(buf_count_) * buf_size_,
                   PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    return absl::ResourceExhaustedError("cannot map receive buffers");
  }
  buf_base_ = static_cast<char*>(mem);
  for (unsigned i = 0; i < buf_count_; ++i) {
    io_uring_buf_ring_add(buf_ring_, buf_base_ + static_cast<size_t>(i) * buf_size_,
                          buf_size_, static_cast<unsigned short>(i), buf_mask_,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buf_count_));

  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) return absl::InternalError("eventfd failed");
  UpdateClock();
  ArmStopRead();
  return absl::OkStatus();
}

Loop::~Loop() {
  if (ring_ready_) {
    if (buf_ring_ != nullptr) {
      compat::FreeBufRing(&ring_, buf_ring_, buf_count_, kBufferGroup);
    }
    io_uring_queue_exit(&ring_);
  }
  if (buf_base_ != nullptr) {
    munmap(buf_base_, static_cast<size_t>(buf_count_) * buf_size_);
  }
  if (stop_fd_ >= 0) close(stop_fd_);
}

void Loop::ArmStopRead() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  CHECK(sqe != nullptr);
  io_uring_prep_read(sqe, stop_fd_, &stop_value_, sizeof(stop_value_), 0);
  io_uring_sqe_set_data64(sqe, kStopUserData);
}

int Loop::Submit() {
  int n = io_uring_submit(&ring_);
  ++stats_.enters;
  if (n > 0) stats_.submissions += static_cast<uint64_t>(n);
  return n;
}

io_uring_sqe* Loop::Sqe(Completion* c) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    ++stats_.sq_full;
    Submit();
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data(sqe, c);
  return sqe;
}

io_uring_sqe* Loop::Sqe(absl::AnyInvocable<void(int32_t)> done) {
  return Sqe(new CallbackCompletion(std::move(done)));
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t MonotonicMs() { return MonotonicNs() / 1000000; }

void Loop::UpdateClock() {
  now_ns_ = MonotonicNs();
  now_ms_ = now_ns_ / 1000000;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  wall_ms_ = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string_view Loop::BufferData(int32_t res, uint32_t flags) const {
  CHECK(flags & IORING_CQE_F_BUFFER);
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  CHECK(bid < buf_count_);
  CHECK(res >= 0 && static_cast<unsigned>(res) <= buf_size_);
  return std::string_view(buf_base_ + static_cast<size_t>(bid) * buf_size_,
                          static_cast<size_t>(res));
}

void Loop::ReturnBuffer(uint32_t flags) {
  if (!(flags & IORING_CQE_F_BUFFER)) return;
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  CHECK(bid < buf_count_);
  io_uring_buf_ring_add(buf_ring_, buf_base_ + static_cast<size_t>(bid) * buf_size_,
                        buf_size_, static_cast<unsigned short>(bid), buf_mask_, 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void Loop::DeferUntilBuffers(Deferred* d) {
  ++stats_.recv_buffer_shortages;
  // Receive handlers give buffers back before returning, so by the end of
  // this turn's reaping every buffer is free again: re-arm then.
  Defer(d);
}

void Loop::Defer(Deferred* d) {
  if (d->deferred_queued_) return;
  d->deferred_queued_ = true;
  deferred_.push_back(d);
}

void Loop::AddTurnHook(absl::AnyInvocable<void()> hook) {
  turn_hooks_.push_back(std::move(hook));
}

void Loop::SetPendingWorkCheck(absl::AnyInvocable<bool()> check) {
  pending_work_ = std::move(check);
}

void Loop::Wake(Loop* target) {
  CHECK(target != this);
  // Pairs with the seq_cst store in SubmitAndWait: either the target sees
  // our inbox push before it sleeps, or we see it sleeping and wake it.
  if (!target->sleeping_.load(std::memory_order_seq_cst)) return;
  if (!target->sleeping_.exchange(false, std::memory_order_seq_cst)) return;
  io_uring_sqe* sqe = Sqe(static_cast<Completion*>(nullptr));
  io_uring_prep_msg_ring(sqe, target->ring_fd(), 0, kWakeUserData, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  ++stats_.wakes_sent;
  // Submit now: the target sleeps until this lands.
  Submit();
}

void Loop::SetStopHandler(absl::AnyInvocable<void()> handler) {
  stop_handler_ = std::move(handler);
}

void Loop::RequestStop() {
  uint64_t one = 1;
  ssize_t n = write(stop_fd_, &one, sizeof(one));
  (void)n;
}

void Loop::Reap() {
  io_uring_cqe* cqe;
  unsigned head;
  unsigned count = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++count;
    const uint64_t data = io_uring_cqe_get_data64(cqe);
    const int32_t res = cqe->res;
    const uint32_t flags = cqe->flags;
    if (data == 0 || data == kWakeUserData) continue;
    if (data == kStopUserData) {
      if (!stop_requested_) {
        stop_requested_ = true;
        if (stop_handler_) {
          stop_handler_();
        } else {
          quit_ = true;
        }
      }
      continue;
    }
    // Handlers may prepare submissions; none reap, so iteration stays valid.
    reinterpret_cast<Completion*>(data)->OnCompletion(res, flags);
  }
  io_uring_cq_advance(&ring_, count);
  stats_.completions += count;
}

void Loop::RunDeferredRounds() {
  // Deferred items may defer again (or defer others); bound the rounds.
  for (int round = 0; round < 8 && !deferred_.empty(); ++round) {
    deferred_running_.swap(deferred_);
    for (Deferred* d : deferred_running_) {
      d->deferred_queued_ = false;
      d->RunDeferred();
    }
    deferred_running_.clear();
  }
}

void Loop::RunDeferredWork() {
  RunDeferredRounds();
  for (auto& hook : turn_hooks_) hook();
  // Hooks may produce output to flush in this same turn.
  RunDeferredRounds();
}

void Loop::SubmitAndWait() {
  const bool busy = io_uring_cq_ready(&ring_) > 0 || !deferred_.empty();
  if (!busy) {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (pending_work_ && pending_work_()) {
      sleeping_.store(false, std::memory_order_relaxed);
    } else {
      uint64_t wait_ms = 1000;
      if (auto next = timers_.NextDeadlineMs()) {
        wait_ms = *next > now_ms_ ? std::min<uint64_t>(*next - now_ms_, 1000) : 0;
      }
      __kernel_timespec ts = {};
      ts.tv_sec = static_cast<int64_t>(wait_ms / 1000);
      ts.tv_nsec = static_cast<int64_t>((wait_ms % 1000) * 1000000);
      io_uring_cqe* cqe = nullptr;
      const unsigned pending = io_uring_sq_ready(&ring_);
      int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      ++stats_.enters;
      ++stats_.sleeps;
      if (rc >= 0) stats_.submissions += pending;
      sleeping_.store(false, std::memory_order_seq_cst);
      return;
    }
  }
  const unsigned pending = io_uring_sq_ready(&ring_);
  io_uring_submit_and_get_events(&ring_);
  ++stats_.enters;
  stats_.submissions += pending;
}

void Loop::Run() {
  quit_ = false;
  while (true) {
    ++stats_.turns;
    // The clock first: handlers arm timers from now_ms(), and the loop may
    // have slept up to a second since the last reading.
    UpdateClock();
    // The kernel's overflow count lives in the shared ring memory.
    stats_.cq_overflow = IO_URING_READ_ONCE(*ring_.cq.koverflow);
    Reap();
    timers_.Advance(now_ms_);
    RunDeferredWork();
    if (quit_) break;
    SubmitAndWait();
  }
  // Whatever the owners prepared on the way out still goes to the kernel.
  Submit();
}

bool PinThreadToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return CPU_COUNT(&set);
}

}  // namespace ringpost::runtime
