#include "app/scheduler.h"

#include <algorithm>
#include <cmath>

namespace switchyard {

namespace {
constexpr int kFailuresBeforeCooldown = 5;
constexpr std::int64_t kCooldownMs = 10'000;
constexpr double kLatencyAlpha = 0.2;
// Output tokens assumed for rate limiting when a request sets no max_tokens; corrected by the
// actual usage after the call.
constexpr std::int64_t kDefaultOutputEstimate = 256;
// Interactive work is expected to be served in about this long when escalating for deadlines.
constexpr std::int64_t kDefaultServiceMs = 2'000;
}  // namespace

Scheduler::Scheduler(const Config& config, std::int64_t now_steady_ms) : config_(config) {
  tier_order_ = config.tiers.empty() ? std::vector<std::string>{"economy", "workhorse", "frontier"}
                                     : config.tiers;
  states_.reserve(config.deployments.size());
  for (const auto& d : config.deployments) {
    limit::DeploymentLimits limits;
    limits.rpm = d.rpm;
    limits.tpm = d.tpm;
    limits.interactive_reserve = config.routing.interactive_reserve;
    states_.push_back(DeploymentState{limit::DeploymentLimiter(limits, now_steady_ms)});
  }
}

int Scheduler::rank_of(const std::string& tier) const {
  auto it = std::find(tier_order_.begin(), tier_order_.end(), tier);
  return it == tier_order_.end() ? 0 : static_cast<int>(it - tier_order_.begin());
}

std::int64_t Scheduler::estimated_tokens(const RequestEvent& request) const {
  return estimate_input_tokens(request) + request.max_tokens.value_or(kDefaultOutputEstimate);
}

void Scheduler::set_fleet_size(int workers) {
  std::lock_guard lock(mutex_);
  double share = 1.0 / static_cast<double>(std::max(workers, 1));
  for (auto& s : states_) s.limiter.set_share(share);
}

std::vector<bool> Scheduler::cooling_snapshot(std::int64_t now) const {
  std::lock_guard lock(mutex_);
  std::vector<bool> out(states_.size());
  for (std::size_t i = 0; i < states_.size(); ++i) out[i] = states_[i].cooldown_until_ms > now;
  return out;
}

ScheduleChoice Scheduler::choose(const RequestEvent& request, PriorityClass cls,
                                 const RouteDecision& route, std::int64_t now,
                                 std::int64_t wall_now) {
  ScheduleChoice choice;
  const std::int64_t input = estimate_input_tokens(request);
  const std::int64_t tokens = estimated_tokens(request);
  const std::int64_t output = tokens - input;
  std::lock_guard lock(mutex_);
  views_.clear();
  // Background work with a deadline may escalate: deployments of higher tiers that pass the
  // same filters join as candidates the policy uses only when waiting would miss the deadline.
  escalation_.assign(route.candidates.begin(), route.candidates.end());
  if (cls == PriorityClass::kBackground && request.deadline_unix_ms && !route.tier.empty()) {
    const int floor = rank_of(route.tier);
    const std::int64_t needed = input + request.max_tokens.value_or(0);
    for (const DeploymentConfig& d : config_.deployments) {
      if (rank_of(d.tier) <= floor || d.context_window < needed) continue;
      if (!request.region.empty() && d.region != request.region) continue;
      escalation_.push_back(&d);
    }
  }
  for (const DeploymentConfig* d : escalation_) {
    std::size_t i = static_cast<std::size_t>(d - config_.deployments.data());
    const DeploymentState& s = states_[i];
    CandidateView v;
    v.index = i;
    v.deployment = d;
    v.in_cooldown = s.cooldown_until_ms > now;
    v.healthy = !v.in_cooldown;
    v.latency_ewma_ms = s.latency_ewma_ms;
    v.latency_p95_ms = s.latency_ewma_ms + 2.0 * s.latency_dev_ms;
    v.samples = s.samples;
    v.has_headroom = s.limiter.has_headroom(cls, tokens, now);
    v.ms_until_headroom = v.has_headroom ? 0 : s.limiter.ms_until_headroom(cls, tokens, now);
    v.estimated_cost = cost_of(*d, input, output);
    v.tier_rank = rank_of(d->tier);
    v.weight = d->weight;
    views_.push_back(v);
  }
  if (cls == PriorityClass::kInteractive) {
    choice.decision = choose_interactive(views_, request_hash(request.request_id));
  } else {
    BackgroundRequest br;
    br.now_ms = wall_now;
    br.deadline_ms = request.deadline_unix_ms;
    br.estimated_service_ms = kDefaultServiceMs;
    br.quality_floor = rank_of(route.tier);
    br.max_normal_rank = br.quality_floor;
    choice.decision = choose_background(views_, br);
  }
  using Kind = PolicyDecision::Kind;
  if (choice.decision.kind == Kind::kDispatch || choice.decision.kind == Kind::kEscalate) {
    choice.admission = states_[choice.decision.index].limiter.try_acquire(cls, tokens, now);
    if (!choice.admission.granted) {
      // The policy saw headroom a moment ago under the same lock, so this is a fallback choice
      // of a deployment without headroom: wait for it instead of exceeding its limit.
      choice.decision.kind = Kind::kWait;
      choice.decision.wait_ms = std::max<std::int64_t>(1, choice.admission.retry_after_ms);
      choice.decision.reason +=
          std::string("; waiting for ") + choice.admission.reason_text() + " headroom";
    }
  }
  return choice;
}

void Scheduler::on_response(std::size_t i, const limit::Admission& admission,
                            const ProviderOutcome& outcome, const HttpResponse& response,
                            std::int64_t latency_ms, std::int64_t now) {
  std::lock_guard lock(mutex_);
  DeploymentState& s = states_[i];
  std::int64_t actual = outcome.usage.input_tokens + outcome.usage.output_tokens;
  bool answered = outcome.kind == OutcomeKind::kOk || outcome.kind == OutcomeKind::kContentFiltered;
  s.limiter.settle(admission, answered ? actual : 0, now);
  auto header_int = [&response](std::string_view name) -> std::optional<std::int64_t> {
    const std::string* v = response.header(name);
    if (!v || v->empty()) return std::nullopt;
    char* end = nullptr;
    long long n = std::strtoll(v->c_str(), &end, 10);
    return end && *end == '\0' ? std::optional<std::int64_t>(n) : std::nullopt;
  };
  s.limiter.on_headers(header_int("x-ratelimit-remaining-requests"),
                       header_int("x-ratelimit-remaining-tokens"), std::nullopt, now);
  if (outcome.kind == OutcomeKind::kRateLimited) {
    s.limiter.on_rate_limited(outcome.retry_after_ms >= 0
                                  ? std::optional<std::int64_t>(outcome.retry_after_ms)
                                  : std::nullopt,
                              now);
  } else if (answered) {
    s.limiter.on_success();
  }
  if (answered) {
    s.consecutive_failures = 0;
    double x = static_cast<double>(latency_ms);
    if (s.samples == 0) {
      s.latency_ewma_ms = x;
    } else {
      s.latency_dev_ms += kLatencyAlpha * (std::fabs(x - s.latency_ewma_ms) - s.latency_dev_ms);
      s.latency_ewma_ms += kLatencyAlpha * (x - s.latency_ewma_ms);
    }
    ++s.samples;
  } else if (outcome.kind == OutcomeKind::kRetryable || outcome.kind == OutcomeKind::kAuth) {
    if (++s.consecutive_failures >= kFailuresBeforeCooldown)
      s.cooldown_until_ms = now + kCooldownMs;
  }
}

}  // namespace switchyard
