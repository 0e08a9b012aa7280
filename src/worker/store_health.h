#pragma once
// Whether the last Postgres statement of any stage succeeded. A failure pauses intake (intake
// reads healthy()), is logged once per outage and counted every time; the next success says
// so once. Thread-safe (atomics): the lookup and writer threads report, intake and /readyz read.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "switchyard/common/metrics.h"

namespace switchyard {

class StoreHealth {
 public:
  StoreHealth(Counter& failures, int retry_backoff_ms)
      : failures_(failures), retry_backoff_ms_(retry_backoff_ms) {}
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void failed(const char* what, const std::string& error);
  void succeeded();

  // Runs `statement(error)` until it returns true. Each failure is counted and reported as
  // `what` (logged once per outage), then waits postgres.retry_backoff_ms: a Postgres outage is
  // transient and the caller keeps its data meanwhile. False when `stop` was set after a failure
  // (past the drain deadline: the caller gives up, its offsets stay uncommitted).
  template <typename Statement>
  bool retry(const char* what, const std::atomic<bool>& stop, Statement&& statement) {
    std::string error;
    while (!statement(error)) {
      failed(what, error);
      if (stop.load()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(retry_backoff_ms_));
      error.clear();
    }
    return true;
  }

 private:
  Counter& failures_;
  const int retry_backoff_ms_;
  std::atomic<bool> healthy_{true};
};

}  // namespace switchyard
