#pragma once
// A small pool of threads running one Asio io_context. All HTTP work (client and simulator)
// runs as coroutines on it: no thread per request.
//
// Lifecycle: construct, start(), ..., stop() (or destroy). stop() lets queued handlers finish
// only if the caller drained them first; it does not wait for outstanding coroutines.
#include <memory>
#include <thread>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace switchyard {

class IoPool {
 public:
  explicit IoPool(int threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  boost::asio::io_context& context() { return *context_; }
  void start();
  void stop();  // stops the context and joins the threads; idempotent

 private:
  int thread_count_;
  std::unique_ptr<boost::asio::io_context> context_;
  struct Guard;
  std::unique_ptr<Guard> work_guard_;  // keeps run() from returning while idle
  std::vector<std::thread> threads_;
};

}  // namespace switchyard
