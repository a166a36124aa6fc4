// free_list.h — a bounded stack of objects kept for reuse.
//
// For objects made and freed once per message (messages, delivery jobs):
// a freed object is reset by the caller and kept, so the strings and
// vectors inside it keep their capacity, and a warm shard allocates none.
// At most `max` are kept; past that, Give() frees the object.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace ringpost::runtime {

template <typename T>
class FreeList {
 public:
  explicit FreeList(size_t max) : max_(max) {}

  // A kept object (as its reset left it), or a new one.
  std::unique_ptr<T> Take() {
    if (kept_.empty()) return std::make_unique<T>();
    std::unique_ptr<T> t = std::move(kept_.back());
    kept_.pop_back();
    return t;
  }

  // Keeps `t` after reset(*t), or frees it when `max` are kept already
  // (then reset is not called).
  template <typename Reset>
  void Give(std::unique_ptr<T> t, Reset reset) {
    if (kept_.size() >= max_) return;
    reset(*t);
    kept_.push_back(std::move(t));
  }

  size_t size() const { return kept_.size(); }

 private:
  size_t max_;
  std::vector<std::unique_ptr<T>> kept_;
};

}  // namespace ringpost::runtime
