#pragma once
// Dispatch stage: routes a request to its candidate deployments (dedupe calls route()), and
// schedules it: picks a deployment now (policy + rate limits, scheduler) and hands it to the call
// stage, or parks it until a deployment has headroom. Parked work is re-examined in priority
// order (interactive first, background by age) when the earliest wait ends, so an old background
// request is never overtaken forever.
//
// Threading: route() and downgrade() on the lookup thread; schedule() and the wake timer on io
// threads (the scheduler and the parking queue are locked inside). Ownership: a Job handed to
// schedule() belongs to dispatch until it is handed to the call stage or the sink; while parked
// it sits in `waiting_`.
//
// Failures (all deterministic, the request ends now): no deployment fits the request or the team
// (no_deployment), the deadline passed before it could be served (deadline_exceeded).
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "switchyard/common/clock.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/route/policy.h"
#include "switchyard/route/router.h"
#include "switchyard/sched/scheduler.h"
#include "worker/job.h"
#include "worker/sink.h"
#include "worker/stage_context.h"

namespace switchyard {

class ProviderCall;

class Dispatch {
 public:
  static constexpr std::int64_t kPlanEveryMs = 1'000;
  Dispatch(const StageContext& ctx, Scheduler& scheduler, IoPool& io, Sink& sink);
  // Starts the planning timer (routing.background_planner); call once the stage is wired.
  void start_planning();
  // routing.background_planner: plans the parked background work, then wakes everything parked
  // so it follows the new plan; re-arms the timer. (The timer calls it; tests may too.)
  void plan_tick();
  void set_call(ProviderCall* call) { call_ = call; }

  // Routes a job that will be served; a job no deployment fits goes to the sink as an error
  // (false). Drops the candidates its team may not use (teams[].allowed_tiers/allowed_models).
  bool route(Job* job);
  // Re-routes an over-budget request to the cheapest tier that has a deployment; false when it
  // is already there (nothing cheaper to try).
  bool downgrade(Job* job);
  // The team of the request, when the config names it (nullptr otherwise).
  const TeamConfig* team_of(const Job* job) const;

  // Picks a deployment now or parks the job until one has headroom (io threads, or post here).
  void schedule(Job* job);
  void post_schedule(Job* job);
  std::int64_t queued(std::size_t class_index) const { return queued_[class_index].load(); }

 private:
  void park(Job* job, std::int64_t wait_ms);
  void wake_parked();

  void restrict(Job* job, const TeamConfig& team);
  bool past_deadline(const Job* job) const;

  const StageContext& ctx_;
  Router router_;
  Scheduler& scheduler_;
  IoPool& io_;
  Sink& sink_;
  ProviderCall* call_ = nullptr;
  std::unordered_map<std::string, const TeamConfig*> teams_by_name_;
  std::atomic<std::int64_t> queued_[2] = {0, 0};  // parked for headroom, by class

  std::mutex waiting_mutex_;
  AgingQueue<Job*> waiting_;                   // guarded by waiting_mutex_
  boost::asio::steady_timer wake_timer_;       // guarded by waiting_mutex_
  std::int64_t wake_at_ms_ = 0;                // 0 = not armed; guarded by waiting_mutex_
  boost::asio::steady_timer plan_timer_;       // routing.background_planner only
  std::vector<WaitingBackground> plan_input_;  // scratch, guarded by waiting_mutex_
};

}  // namespace switchyard
