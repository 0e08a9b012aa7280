#include "switchyard/sched/scheduler.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace switchyard {

namespace {
constexpr double kLatencyAlpha = 0.2;
// Output tokens assumed for rate limiting when a request sets no max_tokens; corrected by the
// actual usage after the call.
constexpr std::int64_t kDefaultOutputEstimate = 256;
// Interactive work is expected to be served in about this long when escalating for deadlines.
constexpr std::int64_t kDefaultServiceMs = 2'000;
// A request the plan left past its horizon is looked at again after this long (or re-planned).
constexpr std::int64_t kPastHorizonRecheckMs = 5'000;
constexpr std::int64_t kPlanWindowMs = 60'000;
constexpr std::int64_t kPlanRecheckMs = 1'000;
// A request that must start within this long takes capacity free now, not capacity the sliding
// window releases later in the minute.
constexpr std::int64_t kReleaseWaitMs = 10'000;
// The interactive forecast is the mean rate per minute over the last five minutes (or since the
// worker started). The plan's
// future windows leave background work its deployment's rpm less the forecast plus this many
// Poisson standard deviations (sqrt of the mean), and the limiter keeps a safety stock of
// kSafetyStockSd standard deviations of every deployment's rpm free of background work, so
// interactive work arriving between two releases of the sliding window finds room. Tuned on the
// committed simulate traces (docs/BENCHMARKS.md): a larger stock leaves cheap capacity idle, a
// smaller one spills interactive work onto dearer deployments.
constexpr double kForecastMarginSd = 0.0;
constexpr double kSafetyStockSd = 1.0;
constexpr std::int64_t kPlanDefaultOutputTokens = 256;  // output estimate without max_tokens
constexpr std::int64_t kUnlimitedPlanCapacity = 1'000'000'000;
// A deployment is "over its latency target" once this many calls back the figure.
constexpr std::int64_t kLatencyTargetSamples = 5;
// A request held by its team's rate limit is looked at again at least this often.
constexpr std::int64_t kMaxTeamWaitMs = 60'000;
}  // namespace

std::vector<ReserveShare> reserve_shares(const Config& config) {
  const double r = config.routing.interactive_reserve;
  std::vector<ReserveShare> shares(config.deployments.size(), ReserveShare{r, r});
  if (config.routing.interactive_reserve_scope != "tier") return shares;
  std::map<std::string, std::vector<std::size_t>> by_tier;
  for (std::size_t i = 0; i < config.deployments.size(); ++i)
    by_tier[config.deployments[i].tier].push_back(i);
  for (auto& [tier, members] : by_tier) {
    // Dearest first (input + output price per token), then config order.
    std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
      const DeploymentConfig& x = config.deployments[a];
      const DeploymentConfig& y = config.deployments[b];
      return x.input_cost_per_token + x.output_cost_per_token >
             y.input_cost_per_token + y.output_cost_per_token;
    });
    auto place = [&](auto limit_of, double ReserveShare::*field) {
      std::int64_t total = 0;
      bool unlimited = false;
      for (std::size_t i : members) {
        const std::int64_t limit = limit_of(config.deployments[i]);
        unlimited = unlimited || limit == 0;
        total += static_cast<std::int64_t>(std::floor(static_cast<double>(limit) * r));
      }
      for (std::size_t i : members) {
        const std::int64_t limit = limit_of(config.deployments[i]);
        if (unlimited || limit == 0) {
          shares[i].*field = 0;  // an unlimited deployment holds any reserve without a share
          continue;
        }
        const std::int64_t hold = std::min(total, limit);
        total -= hold;
        // +0.5: the limiter rounds limit x share down, which must give back `hold`.
        shares[i].*field =
            std::min(1.0, (static_cast<double>(hold) + 0.5) / static_cast<double>(limit));
        if (hold == 0) shares[i].*field = 0;
      }
    };
    place([](const DeploymentConfig& d) { return d.rpm; }, &ReserveShare::rpm);
    place([](const DeploymentConfig& d) { return d.tpm; }, &ReserveShare::tpm);
  }
  return shares;
}

void Scheduler::RateCounter::move_to(std::int64_t now_ms) {
  const std::int64_t bucket = now_ms / 5'000;
  if (bucket_ < 0) bucket_ = bucket;
  for (std::int64_t b = bucket_ + 1; b <= bucket && b <= bucket_ + 60; ++b)
    buckets_[static_cast<std::size_t>(b % 60)] = 0;
  bucket_ = std::max(bucket_, bucket);
}

void Scheduler::RateCounter::add(std::int64_t now_ms) {
  move_to(now_ms);
  ++buckets_[static_cast<std::size_t>(bucket_ % 60)];
}

std::int64_t Scheduler::RateCounter::last_minute(std::int64_t now_ms) {
  move_to(now_ms);
  std::int64_t n = 0;
  for (std::int64_t b = bucket_; b > bucket_ - 12; --b)
    n += buckets_[static_cast<std::size_t>((b % 60 + 60) % 60)];
  return n;
}

double Scheduler::RateCounter::per_minute(std::int64_t now_ms) {
  move_to(now_ms);
  std::int64_t n = 0;
  for (std::int32_t c : buckets_) n += c;
  const double minutes = std::clamp(static_cast<double>(now_ms - start_ms_) / 60'000.0, 0.5, 5.0);
  return static_cast<double>(n) / minutes;
}

Scheduler::Scheduler(const Config& config, std::int64_t now_steady_ms)
    : config_(config), started_ms_(now_steady_ms) {
  interactive_params_.cheapest_on_target = config.routing.interactive_strategy == "cheapest";
  tier_order_ = config.tiers.empty() ? std::vector<std::string>{"economy", "workhorse", "frontier"}
                                     : config.tiers;
  states_.reserve(config.deployments.size());
  const std::vector<ReserveShare> reserves = reserve_shares(config);
  for (const auto& d : config.deployments) {
    limit::DeploymentLimits limits;
    limits.rpm = d.rpm;
    limits.tpm = d.tpm;
    const ReserveShare& reserve = reserves[states_.size()];
    limits.interactive_reserve = reserve.rpm;
    limits.interactive_reserve_tpm = reserve.tpm;
    limit::BreakerParams breaker;
    breaker.min_failures = config.circuit_breaker.min_failures;
    breaker.min_failure_rate = config.circuit_breaker.min_failure_rate;
    breaker.window_ms = config.circuit_breaker.window_ms;
    breaker.open_ms = config.circuit_breaker.open_ms;
    breaker.max_open_ms = config.circuit_breaker.max_open_ms;
    limit::ConcurrencyParams concurrency;
    concurrency.max = d.max_concurrency;
    concurrency.initial = std::min(concurrency.initial, d.max_concurrency);
    concurrency.adaptive = d.adaptive_concurrency;
    states_.push_back(DeploymentState{
        limit::DeploymentLimiter(limits, now_steady_ms), 0, 0, 0, limit::CircuitBreaker(breaker),
        false, limit::ConcurrencyLimit(concurrency), RateCounter(now_steady_ms)});
  }
  interactive_by_tier_.assign(tier_order_.size(), RateCounter(now_steady_ms));
  for (const auto& t : config.teams) {
    if (t.rpm == 0 && t.tpm == 0) {
      team_limiter_of_.push_back(-1);
      continue;
    }
    limit::DeploymentLimits limits;
    limits.rpm = t.rpm;
    limits.tpm = t.tpm;
    team_limiter_of_.push_back(static_cast<int>(team_limiters_.size()));
    team_limiters_.emplace_back(limits, now_steady_ms);
  }
}

int Scheduler::rank_of(const std::string& tier) const {
  auto it = std::find(tier_order_.begin(), tier_order_.end(), tier);
  return it == tier_order_.end() ? 0 : static_cast<int>(it - tier_order_.begin());
}

std::int64_t Scheduler::estimated_tokens(const RequestEvent& request) const {
  return estimate_input_tokens(request) + request.max_tokens.value_or(kDefaultOutputEstimate);
}

limit::DeploymentLimiter* Scheduler::team_limiter(const TeamConfig* team) {
  if (!team || config_.teams.empty()) return nullptr;
  const auto i = static_cast<std::size_t>(team - config_.teams.data());
  if (i >= team_limiter_of_.size() || team_limiter_of_[i] < 0) return nullptr;
  return &team_limiters_[static_cast<std::size_t>(team_limiter_of_[i])];
}

void Scheduler::set_fleet(int ordinal, int workers, bool joining, std::int64_t grow_after_ms,
                          std::int64_t now) {
  std::lock_guard lock(mutex_);
  auto apply = [&](limit::DeploymentLimiter& l) {
    l.set_fleet_slot(ordinal, workers, now, grow_after_ms);
    if (joining && workers > 1) l.warm_up(now + grow_after_ms);
  };
  for (auto& s : states_) apply(s.limiter);
  for (auto& l : team_limiters_) apply(l);
}

std::vector<bool> Scheduler::cooling_snapshot(std::int64_t now) const {
  std::lock_guard lock(mutex_);
  std::vector<bool> out(states_.size());
  for (std::size_t i = 0; i < states_.size(); ++i)
    out[i] = states_[i].disabled || !states_[i].breaker.allows(now);
  return out;
}

bool Scheduler::try_start(std::size_t i) {
  std::lock_guard lock(mutex_);
  limit::ConcurrencyLimit& c = states_[i].concurrency;
  if (!c.has_room()) return false;
  c.on_start();
  return true;
}

int Scheduler::concurrency_limit(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return states_[i].concurrency.limit();
}

int Scheduler::calls_in_flight(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return states_[i].concurrency.in_flight();
}

bool Scheduler::usable(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return !states_[i].disabled;
}

int Scheduler::open_breakers(std::int64_t now) const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& s : states_)
    n += s.breaker.state(now) != limit::CircuitBreaker::State::kClosed ? 1 : 0;
  return n;
}

bool Scheduler::over_latency_target(std::size_t i) const {
  const DeploymentConfig& d = config_.deployments[i];
  const DeploymentState& s = states_[i];
  const std::optional<int>& target =
      d.latency_target_ms ? d.latency_target_ms : config_.routing.interactive_latency_target_ms;
  return target && s.samples >= kLatencyTargetSamples && s.latency_ewma_ms > *target;
}

void Scheduler::add_view(const DeploymentConfig* d, PriorityClass cls, std::int64_t input,
                         std::int64_t tokens, bool fallback_tier, std::int64_t now) {
  std::size_t i = static_cast<std::size_t>(d - config_.deployments.data());
  DeploymentState& s = states_[i];
  if (s.disabled) return;
  for (const CandidateView& seen : views_) {
    if (seen.index == i) return;  // already a candidate (e.g. a fallback that is in the route)
  }
  s.limiter.advance(now);
  CandidateView v;
  v.index = i;
  v.deployment = d;
  // An open breaker (or a half-open one whose probe is out) takes nothing until it allows.
  const std::int64_t breaker_wait = s.breaker.ms_until_allowed(now);
  v.in_cooldown = breaker_wait > 0;
  v.healthy = true;
  v.latency_ewma_ms = s.latency_ewma_ms;
  v.latency_p95_ms = s.latency_ewma_ms + 2.0 * s.latency_dev_ms;
  v.samples = s.samples;
  v.has_headroom = !v.in_cooldown && s.limiter.has_headroom(cls, tokens, now);
  v.ms_until_headroom =
      v.has_headroom ? 0 : std::max(breaker_wait, s.limiter.ms_until_headroom(cls, tokens, now));
  v.estimated_cost = cost_of(*d, input, tokens - input);
  v.tier_rank = rank_of(d->tier);
  v.weight = d->weight;
  v.fallback_tier = fallback_tier;
  v.over_latency_target = over_latency_target(i);
  // A deployment with every concurrency place taken would queue the call: interactive work
  // treats it like one over its latency target (used when nothing better is ready).
  if (!s.concurrency.has_room()) v.over_latency_target = true;
  views_.push_back(v);
}

ScheduleChoice Scheduler::choose(const RequestEvent& request, PriorityClass cls,
                                 const RouteDecision& route, const TeamConfig* team,
                                 std::span<const std::size_t> avoid, std::int64_t now,
                                 std::int64_t wall_now) {
  ScheduleChoice choice;
  using Kind = PolicyDecision::Kind;
  const std::int64_t input = estimate_input_tokens(request);
  const std::int64_t tokens = estimated_tokens(request);
  std::lock_guard lock(mutex_);
  // The team's own limits come first: no deployment choice helps a team over its rate.
  limit::DeploymentLimiter* team_limits = team_limiter(team);
  if (team_limits) {
    team_limits->advance(now);
    if (!team_limits->has_headroom(cls, tokens, now)) {
      const std::int64_t wait = team_limits->ms_until_headroom(cls, tokens, now);
      if (wait == limit::kNeverMs) {
        // More tokens than the team's whole per-minute share: waiting would never end.
        choice.decision.kind = Kind::kNeverFits;
        choice.decision.reason = "the request's estimated " + std::to_string(tokens) +
                                 " tokens can never fit team " + team->name +
                                 "'s rate limit (this worker's share of it)";
        return choice;
      }
      choice.decision.kind = Kind::kWait;
      choice.decision.wait_ms = std::clamp<std::int64_t>(wait, 1, kMaxTeamWaitMs);
      // Not granted (no headroom), so this takes nothing; it names the limit in the way.
      const limit::Admission denied = team_limits->try_acquire(cls, tokens, now);
      choice.decision.reason =
          "team " + team->name + " is at its " + denied.reason_text() + " limit; waiting";
      return choice;
    }
  }
  views_.clear();
  // Background work with a deadline may escalate: deployments of higher tiers that pass the
  // same filters join as candidates the policy uses only when waiting would miss the deadline.
  // Interactive work may fall back along the tier chain when nothing of its own tier is ready.
  const std::int64_t needed = input + request.max_tokens.value_or(0);
  auto fits = [&](const DeploymentConfig& d) {
    return d.context_window >= needed && (request.region.empty() || d.region == request.region) &&
           (!team || team_may_use(*team, d));
  };
  for (const DeploymentConfig* d : route.candidates) add_view(d, cls, input, tokens, false, now);
  if (cls == PriorityClass::kBackground && request.deadline_unix_ms && !route.tier.empty()) {
    const int floor = rank_of(route.tier);
    for (const DeploymentConfig& d : config_.deployments) {
      if (rank_of(d.tier) > floor && fits(d)) add_view(&d, cls, input, tokens, false, now);
    }
  } else if (cls == PriorityClass::kInteractive && !route.tier.empty()) {
    for (const std::string& tier : config_.fallback_chain(route.tier)) {
      for (const DeploymentConfig& d : config_.deployments) {
        if (d.tier == tier && fits(d)) add_view(&d, cls, input, tokens, true, now);
      }
    }
  }
  if (!avoid.empty()) {
    // Deployments that failed this request step aside while anything else is ready now.
    auto avoided = [&avoid](const CandidateView& v) {
      return std::find(avoid.begin(), avoid.end(), v.index) != avoid.end();
    };
    const bool other_ready = std::any_of(views_.begin(), views_.end(), [&](const CandidateView& v) {
      return !avoided(v) && v.has_headroom && !v.in_cooldown;
    });
    if (other_ready)
      views_.erase(std::remove_if(views_.begin(), views_.end(), avoided), views_.end());
  }
  if (views_.empty()) {
    choice.decision.kind = Kind::kNoCandidate;
    choice.decision.reason = "no usable deployment left (disabled after 401/403)";
    return choice;
  }
  if (std::all_of(views_.begin(), views_.end(), [](const CandidateView& v) {
        return !v.has_headroom && v.ms_until_headroom == limit::kNeverMs;
      })) {
    // More tokens than any candidate's per-minute share (or a share of 0 requests, in a fleet
    // larger than a deployment's rpm): no wait ends this, so the request ends now.
    choice.decision.kind = Kind::kNeverFits;
    choice.decision.reason = "the request's estimated " + std::to_string(tokens) +
                             " tokens can never fit the rate limit of any of its " +
                             std::to_string(views_.size()) +
                             " deployment(s) (this worker's share of rpm/tpm)";
    return choice;
  }
  const std::uint64_t hash = request_hash(request.request_id);
  if (cls == PriorityClass::kInteractive) {
    choice.decision = choose_interactive(views_, hash, interactive_params_);
  } else {
    if (!plan_.empty()) {
      if (auto it = plan_.find(plan_key(request)); it != plan_.end()) {
        const Advice& advice = it->second;
        if (advice.past_horizon || now < advice.not_before_ms) {
          choice.decision.kind = Kind::kWait;
          // Looked at again after the next plan at the latest: a later plan may move it sooner.
          choice.decision.wait_ms =
              advice.past_horizon
                  ? kPastHorizonRecheckMs
                  : std::clamp<std::int64_t>(advice.not_before_ms - now, 1, kPlanRecheckMs);
          choice.decision.reason = advice.past_horizon
                                       ? "planned: cheaper capacity after the planning horizon"
                                       : "planned: " + config_.deployments[advice.deployment].name +
                                             " in a later window";
          return choice;
        }
        auto planned = std::find_if(views_.begin(), views_.end(), [&](const CandidateView& v) {
          return v.index == advice.deployment;
        });
        if (planned != views_.end() && planned->has_headroom && !planned->in_cooldown &&
            planned->healthy) {
          choice.decision.kind =
              planned->tier_rank > rank_of(route.tier) ? Kind::kEscalate : Kind::kDispatch;
          choice.decision.index = planned->index;
          choice.decision.reason = "planned: " + planned->deployment->name + " now";
          choice.admission = states_[planned->index].limiter.try_acquire(cls, tokens, now);
          if (choice.admission.granted) {
            states_[planned->index].breaker.on_dispatch(now);
            if (team_limits) choice.team_admission = team_limits->try_acquire(cls, tokens, now);
            return choice;
          }
        }
        if (planned != views_.end() && planned->healthy && !planned->in_cooldown) {
          // Planned for now, but its limiter disagrees (the plan's minute slices against the
          // sliding window): wait for headroom or the next plan rather than spill onto a
          // dearer deployment the plan did not choose.
          choice = ScheduleChoice{};
          choice.decision.kind = Kind::kWait;
          choice.decision.wait_ms =
              std::clamp<std::int64_t>(planned->ms_until_headroom, 1, kPlanRecheckMs);
          choice.decision.reason =
              "planned: " + planned->deployment->name + " now, waiting for its headroom";
          return choice;
        }
        // The planned deployment is gone (disabled, breaker open, filtered): the greedy choice.
      }
    }
    BackgroundRequest br;
    br.now_ms = wall_now;
    br.deadline_ms = request.deadline_unix_ms;
    br.estimated_service_ms = kDefaultServiceMs;
    br.request_hash = hash;
    br.quality_floor = rank_of(route.tier);
    br.max_normal_rank = br.quality_floor;
    choice.decision = choose_background(views_, br);
  }
  if (choice.decision.kind == Kind::kDispatch || choice.decision.kind == Kind::kEscalate) {
    choice.admission = states_[choice.decision.index].limiter.try_acquire(cls, tokens, now);
    if (!choice.admission.granted) {
      // The policy saw headroom a moment ago under the same lock, so this is a fallback choice
      // of a deployment without headroom: wait for it instead of exceeding its limit.
      choice.decision.kind = Kind::kWait;
      choice.decision.wait_ms = std::max<std::int64_t>(1, choice.admission.retry_after_ms);
      choice.decision.reason +=
          std::string("; waiting for ") + choice.admission.reason_text() + " headroom";
    } else {
      states_[choice.decision.index].breaker.on_dispatch(now);
      if (cls == PriorityClass::kInteractive) {
        states_[choice.decision.index].interactive.add(now);
        const auto tier = static_cast<std::size_t>(rank_of(route.tier));
        if (tier < interactive_by_tier_.size()) interactive_by_tier_[tier].add(now);
      }
      // Checked above under the same lock: this grant cannot fail.
      if (team_limits) choice.team_admission = team_limits->try_acquire(cls, tokens, now);
    }
  }
  return choice;
}

std::uint64_t Scheduler::plan_key(const RequestEvent& request) {
  // Request ids are per team: the key mixes both.
  return request_hash(request.request_id) * 0x9e3779b97f4a7c15ULL ^ request_hash(request.team);
}

PlanResult Scheduler::plan_background(std::span<const WaitingBackground> waiting, std::int64_t now,
                                      std::int64_t wall_now, int windows) {
  std::vector<PlanDeployment> deps;
  std::vector<PlanRequest> work;
  work.reserve(waiting.size());
  for (const WaitingBackground& w : waiting) {
    const RequestEvent& req = *w.request;
    PlanRequest r;
    r.input_tokens = estimate_input_tokens(req);
    r.output_tokens = req.max_tokens.value_or(kPlanDefaultOutputTokens);
    r.floor = w.route->tier.empty() ? 0 : rank_of(w.route->tier);
    if (req.deadline_unix_ms) {
      r.max_rank = static_cast<int>(config_.tiers.size());
      // Planner windows: 0 = now, 1 = the rest of this minute (capacity the sliding window
      // releases meanwhile), k + 1 = minute k from now. A start due within the minute must
      // take capacity free now.
      const std::int64_t start_by = *req.deadline_unix_ms - kDefaultServiceMs - wall_now;
      const int minute = static_cast<int>(start_by / kPlanWindowMs);
      r.last_window = start_by < 0 ? -2 : start_by < kReleaseWaitMs ? 0 : minute + 1;
    } else {
      r.max_rank = r.floor;
    }
    work.push_back(r);
  }
  std::int64_t mean_tokens = 0;
  for (const PlanRequest& r : work) mean_tokens += r.input_tokens + r.output_tokens;
  if (!work.empty()) mean_tokens /= static_cast<std::int64_t>(work.size());
  std::lock_guard lock(mutex_);
  // What interactive work is forecast to start on each deployment per minute: its mean rate
  // (RateCounter::per_minute; the plan adds kForecastMarginSd, the limiter keeps
  // kSafetyStockSd). Strategy "cheapest":
  // the tier's interactive demand fills its cheapest deployments meeting their latency target
  // first; otherwise each deployment's own interactive rate.
  std::vector<double> forecast(config_.deployments.size(), 0.0);  // interactive starts a minute
  if (interactive_params_.cheapest_on_target) {
    for (std::size_t tier = 0; tier < interactive_by_tier_.size(); ++tier) {
      double demand = interactive_by_tier_[tier].per_minute(now);
      if (demand <= 0) continue;
      std::vector<std::size_t> members;
      for (std::size_t i = 0; i < config_.deployments.size(); ++i) {
        // Interactive work goes only where the latency target is met (while any meets it).
        if (static_cast<std::size_t>(rank_of(config_.deployments[i].tier)) == tier &&
            !states_[i].disabled && !over_latency_target(i))
          members.push_back(i);
      }
      std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
        const DeploymentConfig& x = config_.deployments[a];
        const DeploymentConfig& y = config_.deployments[b];
        return x.input_cost_per_token + x.output_cost_per_token <
               y.input_cost_per_token + y.output_cost_per_token;
      });
      for (std::size_t i : members) {
        const limit::DeploymentLimiter& l = states_[i].limiter;
        const double take =
            l.rpm_limited() ? std::min(demand, static_cast<double>(l.effective_rpm())) : demand;
        forecast[i] = take;
        demand -= take;
        if (demand <= 0) break;
      }
    }
  } else {
    for (std::size_t i = 0; i < config_.deployments.size(); ++i)
      forecast[i] = states_[i].interactive.per_minute(now);
  }
  for (std::size_t i = 0; i < config_.deployments.size(); ++i) {
    const DeploymentConfig& d = config_.deployments[i];
    DeploymentState& s = states_[i];
    s.limiter.advance(now);
    PlanDeployment p;
    p.rank = rank_of(d.tier);
    p.input_per_token = d.input_cost_per_token;
    p.output_per_token = d.output_cost_per_token;
    std::int64_t per_window = kUnlimitedPlanCapacity;
    std::int64_t now_left = kUnlimitedPlanCapacity;
    if (s.limiter.rpm_limited()) {
      // Background may not use the interactive reserve, nor what interactive work is forecast
      // to take in a minute (the plan's future windows). The limiter keeps a safety stock of
      // the forecast's Poisson spread free of background work (greedy choices included), so
      // interactive work arriving between two releases of the sliding window finds room.
      const std::int64_t rpm = s.limiter.effective_rpm();
      const double mean = forecast[i];
      const double sd = std::sqrt(mean);
      s.limiter.set_forecast_reserve(static_cast<std::int64_t>(std::ceil(kSafetyStockSd * sd)));
      const std::int64_t background = s.limiter.background_rpm();
      const auto expected = static_cast<std::int64_t>(std::ceil(mean + kForecastMarginSd * sd));
      per_window = std::max<std::int64_t>(
          0, std::min(s.limiter.configured_background_rpm(), rpm - expected));
      now_left = std::max<std::int64_t>(0, background - s.limiter.requests().used(now));
    }
    if (s.limiter.tpm_limited() && mean_tokens > 0) {
      // Tokens per minute as requests of the waiting work's mean size: the tighter limit wins.
      const std::int64_t tokens = s.limiter.background_tpm();
      per_window = std::min(per_window, std::max<std::int64_t>(0, tokens / mean_tokens));
      now_left = std::min(now_left, std::max<std::int64_t>(
                                        0, (tokens - s.limiter.tokens().used(now)) / mean_tokens));
    }

    const bool usable_now = !s.disabled &&
                            s.breaker.state(now) != limit::CircuitBreaker::State::kOpen &&
                            s.limiter.cooldown_until_ms() <= now;
    p.capacity.assign(static_cast<std::size_t>(windows) + 1, s.disabled ? 0 : per_window);
    // This minute: what is free now, then what the sliding window releases meanwhile.
    p.capacity[0] = usable_now ? std::min(now_left, per_window) : 0;
    p.capacity[1] = usable_now ? per_window - p.capacity[0] : 0;
    deps.push_back(std::move(p));
  }
  // Deadlines already too close for any window: leave them to the greedy choice (it escalates).
  for (auto& r : work) {
    if (r.last_window == -2) r.last_window = 0;
  }
  PlanResult result = planner_.plan(deps, work);
  plan_.clear();
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    const PlannedSlot& slot = result.slots[i];
    if (slot.deployment < 0) continue;
    Advice a;
    a.deployment = static_cast<std::size_t>(slot.deployment);
    a.past_horizon = slot.past_horizon();
    // Window 1 (later this minute): looked at again with the next plan.
    a.not_before_ms = slot.window <= 0   ? 0
                      : slot.window == 1 ? now + kPlanRecheckMs
                                         : now + (slot.window - 1) * kPlanWindowMs;
    plan_.emplace(plan_key(*waiting[i].request), a);
  }
  return result;
}

ResponseEffects Scheduler::on_response(std::size_t i, const ScheduleChoice& grant,
                                       const TeamConfig* team, const ProviderOutcome& outcome,
                                       std::int64_t latency_ms, std::int64_t now) {
  ResponseEffects effects;
  std::lock_guard lock(mutex_);
  DeploymentState& s = states_[i];
  std::int64_t actual = outcome.usage.input_tokens + outcome.usage.output_tokens;
  bool answered = outcome.kind == OutcomeKind::kOk || outcome.kind == OutcomeKind::kContentFiltered;
  s.limiter.settle(grant.admission, answered ? actual : 0, now);
  if (limit::DeploymentLimiter* t = team_limiter(team))
    t->settle(grant.team_admission, answered ? actual : 0, now);
  s.limiter.on_headers(outcome.remaining_requests, outcome.remaining_tokens, std::nullopt, now);
  using Sample = limit::ConcurrencyLimit::Sample;
  s.concurrency.on_end(answered                                  ? Sample::kOk
                       : outcome.kind == OutcomeKind::kRetryable ? Sample::kOverload
                                                                 : Sample::kNeutral,
                       latency_ms, now);
  if (outcome.kind == OutcomeKind::kRateLimited) {
    s.limiter.on_rate_limited(outcome.retry_after_ms >= 0
                                  ? std::optional<std::int64_t>(outcome.retry_after_ms)
                                  : std::nullopt,
                              now);
  } else if (answered) {
    s.limiter.on_success();
  }
  if (answered) {
    const bool was_open = s.breaker.state(now) != limit::CircuitBreaker::State::kClosed;
    s.breaker.record_success(now);
    effects.breaker_closed =
        was_open && s.breaker.state(now) == limit::CircuitBreaker::State::kClosed;
    double x = static_cast<double>(latency_ms);
    if (s.samples == 0) {
      s.latency_ewma_ms = x;
    } else {
      s.latency_dev_ms += kLatencyAlpha * (std::fabs(x - s.latency_ewma_ms) - s.latency_dev_ms);
      s.latency_ewma_ms += kLatencyAlpha * (x - s.latency_ewma_ms);
    }
    ++s.samples;
  } else if (outcome.kind == OutcomeKind::kRetryable) {
    const int opened = s.breaker.times_opened();
    s.breaker.record_failure(now);
    effects.breaker_opened = s.breaker.times_opened() != opened;
    effects.open_ms = s.breaker.open_until_ms() - now;
  } else if (outcome.kind == OutcomeKind::kAuth) {
    effects.disabled = !s.disabled;
    s.disabled = true;
  } else {
    s.breaker.record_neutral();
  }
  return effects;
}

}  // namespace switchyard
