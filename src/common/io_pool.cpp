#include "switchyard/common/io_pool.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace switchyard {

struct IoPool::Guard {
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard;
};

IoPool::IoPool(int threads)
    : thread_count_(threads < 1 ? 1 : threads),
      context_(std::make_unique<boost::asio::io_context>(thread_count_)) {}

IoPool::~IoPool() {
  stop();
}

void IoPool::start() {
  if (!threads_.empty()) return;
  work_guard_ = std::make_unique<Guard>(Guard{boost::asio::make_work_guard(*context_)});
  for (int i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { context_->run(); });
}

void IoPool::stop() {
  work_guard_.reset();
  context_->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace switchyard
