#pragma once
// The worker's scheduling state: per-deployment rate limiters, health and latency, and the
// policy choice for one request. Thread-safe (one mutex): called from io threads.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/limit/deployment_limiter.h"
#include "switchyard/provider/openai.h"
#include "switchyard/route/policy.h"
#include "switchyard/route/router.h"

namespace switchyard {

struct ScheduleChoice {
  PolicyDecision decision;
  limit::Admission admission;  // granted when decision is dispatch/escalate
};

class Scheduler {
 public:
  explicit Scheduler(const Config& config, std::int64_t now_steady_ms);

  // Chooses among `route.candidates` now: interactive by latency, background by cost with
  // headroom (waits rather than paying more; escalates only for a deadline). On dispatch the
  // rate-limit admission is already taken.
  ScheduleChoice choose(const RequestEvent& request, PriorityClass priority_class,
                        const RouteDecision& route, std::int64_t now_steady_ms,
                        std::int64_t now_wall_ms);

  // Feeds one provider answer back: limiter correction with actual tokens, 429 cooldowns,
  // rate-limit headers, latency figures and consecutive-failure cooldowns.
  void on_response(std::size_t deployment_index, const limit::Admission& admission,
                   const ProviderOutcome& outcome, const HttpResponse& response,
                   std::int64_t latency_ms, std::int64_t now_steady_ms);

  std::vector<bool> cooling_snapshot(std::int64_t now_steady_ms) const;

  std::int64_t estimated_tokens(const RequestEvent& request) const;

  // A fleet of `workers` shares every deployment's limits: this worker takes 1/workers of each
  // (rounded down, see limit::DeploymentLimiter::set_share).
  void set_fleet_size(int workers);

 private:
  struct DeploymentState {
    limit::DeploymentLimiter limiter;
    double latency_ewma_ms = 0;
    double latency_dev_ms = 0;  // exponentially weighted mean absolute deviation
    std::int64_t samples = 0;
    int consecutive_failures = 0;
    std::int64_t cooldown_until_ms = 0;
  };
  int rank_of(const std::string& tier) const;

  const Config& config_;
  std::vector<std::string> tier_order_;
  mutable std::mutex mutex_;
  std::vector<DeploymentState> states_;              // parallel to config_.deployments
  std::vector<CandidateView> views_;                 // scratch, reused under the mutex
  std::vector<const DeploymentConfig*> escalation_;  // scratch: route candidates + higher tiers
};

}  // namespace switchyard
