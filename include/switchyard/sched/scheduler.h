#pragma once
// The worker's scheduling state: per-deployment rate limiters, health and latency, and the
// policy choice for one request. Thread-safe (one mutex): called from io threads.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/limit/circuit_breaker.h"
#include "switchyard/limit/concurrency_limit.h"
#include "switchyard/limit/deployment_limiter.h"
#include "switchyard/provider/outcome.h"
#include "switchyard/route/policy.h"
#include "switchyard/route/router.h"
#include "switchyard/sched/planner.h"

namespace switchyard {

// What one provider answer changed, for the caller to log and count.
struct ResponseEffects {
  bool breaker_opened = false;  // this failure opened (or re-opened) the circuit breaker
  std::int64_t open_ms = 0;     // for how long
  bool breaker_closed = false;  // a probe succeeded
  bool disabled = false;        // 401/403: the deployment gets no more traffic
};

struct ScheduleChoice {
  PolicyDecision decision;
  limit::Admission admission;       // granted when decision is dispatch/escalate
  limit::Admission team_admission;  // the team's rate-limit grant, when the team has limits
};

// A background request waiting to be served, as the planner sees it.
struct WaitingBackground {
  const RequestEvent* request = nullptr;
  const RouteDecision* route = nullptr;
};

// Shares of a deployment's rpm and tpm kept for interactive work (routing.interactive_reserve).
struct ReserveShare {
  double rpm = 0;
  double tpm = 0;
};
// Per deployment (parallel to config.deployments). Scope "deployment": interactive_reserve of
// each. Scope "tier": each tier keeps the same total (the sum of interactive_reserve x limit
// over its deployments), held by its dearest deployments first, each holding at most its whole
// limit; a tier with an unlimited deployment holds its reserve there (nothing elsewhere).
std::vector<ReserveShare> reserve_shares(const Config& config);

class Scheduler {
 public:
  explicit Scheduler(const Config& config, std::int64_t now_steady_ms);

  // Chooses among `route.candidates` now: interactive by latency, background by cost with
  // headroom (waits rather than paying more; escalates only for a deadline). On dispatch the
  // rate-limit admission is already taken.
  // Interactive work may also go to deployments of the route tier's fallback tiers
  // (Config::fallback_chain) when none of its own tier is ready. `team` (may be null) adds the
  // team's own rate limits and its allowed tiers/models for those fallback deployments.
  // `avoid`: deployments that already failed this request; left out while any other candidate
  // is ready now, used as before otherwise. Disabled deployments and open circuit breakers are
  // never chosen (a half-open breaker lets one probe through).
  ScheduleChoice choose(const RequestEvent& request, PriorityClass priority_class,
                        const RouteDecision& route, const TeamConfig* team,
                        std::span<const std::size_t> avoid, std::int64_t now_steady_ms,
                        std::int64_t now_wall_ms);

  // Feeds one provider answer back: limiter correction with actual tokens (the team's limiter
  // too), 429 cooldowns, the headroom the adapter read from the provider's rate-limit headers,
  // latency figures and consecutive-failure cooldowns.
  ResponseEffects on_response(std::size_t deployment_index, const ScheduleChoice& grant,
                              const TeamConfig* team, const ProviderOutcome& outcome,
                              std::int64_t latency_ms, std::int64_t now_steady_ms);

  // The deployment's concurrency limit (limit/concurrency_limit.h): takes a place for a call
  // when one is free. Every place taken is given back by on_response(). A deployment at its
  // limit still has rate-limit headroom: interactive choices prefer one with a free place, and
  // the call stage queues a call until a place frees.
  bool try_start(std::size_t deployment_index);
  int concurrency_limit(std::size_t deployment_index) const;
  int calls_in_flight(std::size_t deployment_index) const;

  // Plans the waiting background requests across the next `windows` minutes (sched/planner.h):
  // each deployment's capacity is this worker's background share of its rpm (what is left of it
  // now for window 0), deadlines less the expected service time. Until the next plan, choose()
  // sends a planned request only to its planned deployment and not before its window starts;
  // a request planned past the horizon waits for the next plan; a request the plan could not
  // place (or does not know) is chosen greedily as before. Call it from one thread, about once
  // a second and before the first choice of newly arrived work.
  // Deadlines are wall-clock (unix ms), windows and limits steady time, as in choose().
  PlanResult plan_background(std::span<const WaitingBackground> waiting, std::int64_t now_steady_ms,
                             std::int64_t now_wall_ms, int windows = 10);

  // Deployments that can take a call now or soon: not disabled (401/403). Open breakers count.
  bool usable(std::size_t deployment_index) const;
  int open_breakers(std::int64_t now_steady_ms) const;

  std::vector<bool> cooling_snapshot(std::int64_t now_steady_ms) const;

  std::int64_t estimated_tokens(const RequestEvent& request) const;

  // A fleet of `workers` shares every deployment's and team's limits: this worker, `ordinal` of
  // them, takes its slot of each (limit::DeploymentLimiter::set_fleet_slot). Limits shrink at
  // once and grow after `grow_after_ms`. `joining` (the first call) with other workers alive:
  // grant nothing limited for `grow_after_ms`, since the others' grants fill the current window.
  void set_fleet(int ordinal, int workers, bool joining, std::int64_t grow_after_ms,
                 std::int64_t now_steady_ms);

 private:
  // Events in 5-second buckets over the last five minutes, in a ring: no allocation, O(60) to
  // read. last_minute() counts the last 60 s; per_minute() is the mean rate over the history
  // kept: five minutes, or since `start_ms` (the scheduler's start) when that is less, but at
  // least 30 s.
  class RateCounter {
   public:
    explicit RateCounter(std::int64_t start_ms = 0) : start_ms_(start_ms) {}
    void add(std::int64_t now_ms);
    std::int64_t last_minute(std::int64_t now_ms);
    double per_minute(std::int64_t now_ms);

   private:
    void move_to(std::int64_t now_ms);
    std::array<std::int32_t, 60> buckets_{};
    std::int64_t bucket_ = -1;  // the 5-second slot the ring's newest bucket counts
    std::int64_t start_ms_ = 0;
  };
  struct DeploymentState {
    limit::DeploymentLimiter limiter;
    double latency_ewma_ms = 0;
    double latency_dev_ms = 0;  // exponentially weighted mean absolute deviation
    std::int64_t samples = 0;
    limit::CircuitBreaker breaker;
    bool disabled = false;  // answered 401/403: its key or entitlement is wrong
    limit::ConcurrencyLimit concurrency;
    RateCounter interactive;  // interactive calls started here
  };
  int rank_of(const std::string& tier) const;
  // Enough samples say deployment i is slower than its latency target (latency_target_ms, else
  // routing.interactive_latency_target_ms). Under mutex_.
  bool over_latency_target(std::size_t i) const;
  void add_view(const DeploymentConfig* d, PriorityClass cls, std::int64_t input,
                std::int64_t tokens, bool fallback_tier, std::int64_t now);
  limit::DeploymentLimiter* team_limiter(const TeamConfig* team);

  struct Advice {
    std::size_t deployment = 0;
    std::int64_t not_before_ms = 0;
    bool past_horizon = false;
  };
  static std::uint64_t plan_key(const RequestEvent& request);

  const Config& config_;
  std::vector<std::string> tier_order_;
  InteractiveParams interactive_params_;
  Planner planner_;                                 // used by plan_background only
  std::unordered_map<std::uint64_t, Advice> plan_;  // guarded by mutex_
  mutable std::mutex mutex_;
  std::vector<DeploymentState> states_;                  // parallel to config_.deployments
  std::vector<limit::DeploymentLimiter> team_limiters_;  // teams with rpm or tpm
  std::vector<int> team_limiter_of_;                     // parallel to config_.teams; -1 = none
  // Interactive calls started per route tier (by rank): the planner's forecast of what
  // interactive work will take of each tier's cheapest deployments (strategy "cheapest").
  std::vector<RateCounter> interactive_by_tier_;
  std::int64_t started_ms_ = 0;       // construction: the interactive forecast's cold start
  std::vector<CandidateView> views_;  // scratch, reused under the mutex
  std::vector<const DeploymentConfig*> escalation_;  // scratch: route candidates + higher tiers
};

}  // namespace switchyard
