#pragma once
// Whether the last Postgres statement of any stage succeeded. A failure pauses intake (intake
// reads healthy()), is logged once per outage and counted every time; the next success says
// so once. Thread-safe (atomics): the lookup and writer threads report, intake and /readyz read.
#include <atomic>
#include <string>

#include "switchyard/common/metrics.h"

namespace switchyard {

class StoreHealth {
 public:
  StoreHealth(Counter& failures, int retry_backoff_ms)
      : failures_(failures), retry_backoff_ms_(retry_backoff_ms) {}
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void failed(const char* what, const std::string& error);
  void succeeded();

 private:
  Counter& failures_;
  const int retry_backoff_ms_;
  std::atomic<bool> healthy_{true};
};

}  // namespace switchyard
