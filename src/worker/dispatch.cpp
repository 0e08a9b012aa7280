#include "worker/dispatch.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "switchyard/route/classifier_config.h"
#include "worker/call.h"

namespace switchyard {

Dispatch::Dispatch(const StageContext& ctx, Scheduler& scheduler, IoPool& io, Sink& sink)
    : ctx_(ctx),
      router_(ctx.config.deployments, classifier_config(ctx.config)),
      scheduler_(scheduler),
      io_(io),
      sink_(sink),
      waiting_(static_cast<std::size_t>(ctx.config.worker.max_in_flight) + 1),
      wake_timer_(io.context()),
      plan_timer_(io.context()) {
  for (const auto& t : ctx.config.teams) teams_by_name_.emplace(t.name, &t);
}

void Dispatch::start_planning() {
  if (!ctx_.config.routing.background_planner) return;
  plan_timer_.expires_after(std::chrono::milliseconds(kPlanEveryMs));
  plan_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) plan_tick();
  });
}

void Dispatch::plan_tick() {
  {
    // Held while planning: parked jobs (and the requests the plan reads) stay put meanwhile.
    std::lock_guard lock(waiting_mutex_);
    plan_input_.clear();
    waiting_.for_each([this](Job* j) {
      if (j->priority_class != PriorityClass::kBackground) return;
      j->planned = true;
      plan_input_.push_back({&j->decoded.request, &j->route});
    });
    if (!plan_input_.empty()) {
      const std::int64_t started = ctx_.clock.steady_us();
      const PlanResult plan =
          scheduler_.plan_background(plan_input_, ctx_.clock.steady_ms(), ctx_.clock.wall_ms());
      ctx_.stats.plans.inc();
      ctx_.stats.plan_duration.record_us(ctx_.clock.steady_us() - started);
      if (plan.unplannable > 0) ctx_.stats.plan_unplannable.inc(plan.unplannable);
    }
  }
  wake_parked();  // everything parked follows the new plan (or parks again)
  start_planning();
}

const TeamConfig* Dispatch::team_of(const Job* job) const {
  auto it = teams_by_name_.find(job->decoded.request.team);
  return it != teams_by_name_.end() ? it->second : nullptr;
}

bool Dispatch::route(Job* job) {
  job->route =
      router_.route(job->decoded.request, scheduler_.cooling_snapshot(ctx_.clock.steady_ms()));
  job->result.route.priority_class = to_string(job->priority_class);
  if (const TeamConfig* team = team_of(job); team && job->route.error.empty()) restrict(job, *team);
  job->result.route.reason = job->route.reason;
  if (job->route.error.empty()) return true;
  set_error(*job, ErrorCode::kNoDeployment, job->route.error);
  sink_.finish(job);
  return false;
}

void Dispatch::restrict(Job* job, const TeamConfig& team) {
  auto& cs = job->route.candidates;
  const std::size_t before = cs.size();
  std::erase_if(cs, [&team](const DeploymentConfig* d) { return !team_may_use(team, *d); });
  if (cs.size() == before) return;
  if (cs.empty()) {
    job->route.error = "team '" + team.name + "' may not use any of the " + std::to_string(before) +
                       " deployments of its route (" + job->route.reason +
                       "); see teams[].allowed_tiers / allowed_models";
  } else {
    job->route.reason += "; " + std::to_string(before - cs.size()) +
                         " deployment(s) not allowed for team " + team.name;
  }
}

bool Dispatch::downgrade(Job* job) {
  for (const std::string& tier : ctx_.config.tiers) {
    bool served = std::any_of(ctx_.config.deployments.begin(), ctx_.config.deployments.end(),
                              [&tier](const DeploymentConfig& d) { return d.tier == tier; });
    if (!served) continue;
    if (tier == job->route.tier) return false;
    RouteDecision cheaper = router_.route_to(
        job->decoded.request, tier, true,
        job->route.reason + "; budget: downgraded from " + job->route.tier + " to " + tier,
        scheduler_.cooling_snapshot(ctx_.clock.steady_ms()));
    if (!cheaper.error.empty()) return false;
    job->route = std::move(cheaper);
    job->result.route.reason = job->route.reason;
    job->downgraded = true;
    ctx_.stats.budget_downgrades.inc();
    return true;
  }
  return false;
}

bool Dispatch::past_deadline(const Job* job) const {
  const auto& d = job->decoded.request.deadline_unix_ms;
  return d && ctx_.clock.wall_ms() >= *d;
}

void Dispatch::post_schedule(Job* job) {
  boost::asio::post(io_.context(), [this, job] { schedule(job); });
}

void Dispatch::schedule(Job* job) {
  if (past_deadline(job)) {
    set_error(*job, ErrorCode::kDeadlineExceeded,
              "the request's deadline passed before it could be served");
    return sink_.finish(job);
  }
  if (ctx_.config.routing.background_planner && !job->planned &&
      job->priority_class == PriorityClass::kBackground) {
    // New background work waits for the next plan (at most kPlanEveryMs).
    return park(job, kPlanEveryMs);
  }
  ScheduleChoice choice =
      scheduler_.choose(job->decoded.request, job->priority_class, job->route, team_of(job),
                        job->avoid, ctx_.clock.steady_ms(), ctx_.clock.wall_ms());
  using Kind = PolicyDecision::Kind;
  switch (choice.decision.kind) {
    case Kind::kDispatch:
    case Kind::kEscalate:
      job->deployment_index = choice.decision.index;
      job->result.route.reason = job->route.reason + "; " + choice.decision.reason;
      if (!job->history.empty()) job->result.route.reason += "; after " + job->history;
      job->grant = std::move(choice);
      return call_->attempt(job);
    case Kind::kWait:
      return park(job, choice.decision.wait_ms);
    case Kind::kDeadlineExceeded:
      set_error(*job, ErrorCode::kDeadlineExceeded, choice.decision.reason);
      return sink_.finish(job);
    case Kind::kNoCandidate:
      set_error(*job, ErrorCode::kNoDeployment, choice.decision.reason);
      return sink_.finish(job);
    case Kind::kNeverFits:
      set_error(*job, ErrorCode::kRateLimited, choice.decision.reason);
      return sink_.finish(job);
  }
}

void Dispatch::park(Job* job, std::int64_t wait_ms) {
  ctx_.stats.waits.inc();
  queued_[class_index(job->priority_class)].fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = ctx_.clock.steady_ms();
  if (job->waiting_since_ms < 0) job->waiting_since_ms = now;
  std::lock_guard lock(waiting_mutex_);
  PriorityClass cls = job->priority_class;
  std::int64_t since = job->waiting_since_ms;
  waiting_.push(std::move(job), cls, since, 0);
  // Every wait is bounded: parked work is looked at again at least once a minute.
  constexpr std::int64_t kMaxParkMs = 60'000;
  std::int64_t due = now + std::clamp<std::int64_t>(wait_ms, 1, kMaxParkMs);
  if (wake_at_ms_ == 0 || due < wake_at_ms_) {
    wake_at_ms_ = due;
    wake_timer_.expires_after(std::chrono::milliseconds(due - now));
    wake_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) wake_parked();
    });
  }
}

void Dispatch::wake_parked() {
  std::vector<Job*> ready;
  {
    std::lock_guard lock(waiting_mutex_);
    wake_at_ms_ = 0;
    while (!waiting_.empty()) ready.push_back(waiting_.pop());
  }
  for (Job* j : ready) {
    queued_[class_index(j->priority_class)].fetch_sub(1, std::memory_order_relaxed);
    schedule(j);
  }
}

}  // namespace switchyard
