#pragma once
// A mutex-guarded hand-off queue between two stages' threads; the consumer takes everything at
// once (natural batching). Bounded by worker.max_in_flight upstream: intake pauses past it.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace switchyard {

template <typename T>
class HandOff {
 public:
  void push(T item) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }
  // Waits up to `timeout` for items; moves all of them (at most `max`) into `out`.
  void take(std::vector<T>& out, std::size_t max, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [this] { return !items_.empty() || closed_; });
    std::size_t n = std::min(max, items_.size());
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace switchyard
