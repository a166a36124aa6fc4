// reuse_queue.h — a FIFO whose slots keep their contents' storage.
//
// For per-message bookkeeping on the hot path (held replies, pipelined
// transactions): a popped slot is not destroyed, so the strings and vectors
// inside it keep their capacity for the next message that lands there, and
// a warm queue allocates nothing. push_back() returns the slot as it was
// left; the caller resets the fields it uses. Grows by doubling; never
// shrinks. References stay valid until the next push_back().
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace ringpost::runtime {

template <typename T>
class ReuseQueue {
 public:
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  T& front() { return slots_[head_]; }
  const T& front() const { return slots_[head_]; }
  T& back() { return (*this)[count_ - 1]; }
  T& operator[](size_t i) { return slots_[(head_ + i) & (slots_.size() - 1)]; }

  // A slot at the back, holding whatever it held before (see above).
  T& push_back() {
    if (count_ == slots_.size()) Grow();
    return (*this)[count_++];
  }
  void pop_front() {
    head_ = (head_ + 1) & (slots_.size() - 1);
    --count_;
  }

 private:
  void Grow() {
    std::vector<T> grown(slots_.empty() ? 8 : 2 * slots_.size());
    for (size_t i = 0; i < count_; ++i) grown[i] = std::move((*this)[i]);
    slots_ = std::move(grown);
    head_ = 0;
  }

  std::vector<T> slots_;  // size 0 or a power of two
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace ringpost::runtime
