#pragma once
// The metric series the worker's hot path touches, resolved once at start: afterwards a result,
// a call or a DLQ record costs a few relaxed atomic adds (see common/metrics.h). Read-only after
// construction, so any thread may use it.
#include <cstddef>
#include <vector>

#include "switchyard/common/metrics.h"
#include "switchyard/config/config.h"
#include "switchyard/event/result.h"

namespace switchyard {

class WorkerSeries {
 public:
  WorkerSeries(MetricsRegistry& registry, const Config& config);

  struct Deployment {
    Histogram* duration_ok = nullptr;
    Histogram* duration_failed = nullptr;
    Histogram* tokens_in = nullptr;
    Histogram* tokens_out = nullptr;
    Counter* cost = nullptr;
  };
  // switchyard_requests_total for a terminal result; `deployment` = config.deployments.size()
  // when no deployment was called.
  Counter& requests(std::size_t class_index, std::size_t deployment, ErrorCode code) const;
  const Deployment& deployment(std::size_t index) const { return deployments_[index]; }
  Histogram& request_duration(std::size_t class_index) const {
    return *request_duration_[class_index];
  }
  Counter& dlq_unreadable() const { return *dlq_unreadable_; }
  Counter& dlq_invalid() const { return *dlq_invalid_; }

 private:
  static constexpr std::size_t kErrorCodes = static_cast<std::size_t>(ErrorCode::kShutdown) + 1;
  std::size_t deployment_count_;
  std::vector<Counter*> requests_;  // [class][deployment or none][error code]
  std::vector<Deployment> deployments_;
  Histogram* request_duration_[2] = {nullptr, nullptr};
  Counter* dlq_unreadable_ = nullptr;
  Counter* dlq_invalid_ = nullptr;
};

const char* provider_label(ProviderKind kind);  // gen_ai_provider_name

}  // namespace switchyard
