#include "switchyard/limit/deployment_limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "switchyard/common/enum_names.h"

namespace switchyard::limit {
namespace {

// value x fraction rounded down, where fraction is in [0, 1]. The relative nudge absorbs binary
// floating-point error (100 x 0.29 is 28.999999999999996 in double, and must give 29).
std::int64_t floor_fraction(std::int64_t value, double fraction) {
  const double product = static_cast<double>(value) * fraction;
  return std::min(value, static_cast<std::int64_t>(std::floor(product * (1.0 + 1e-12))));
}

}  // namespace

std::string validate(const DeploymentLimits& limits) {
  std::string problems;
  auto add = [&](const std::string& text) {
    if (!problems.empty()) problems += "; ";
    problems += text;
  };
  if (limits.rpm < 0 || limits.rpm > kMaxAmount)
    add("rpm must be between 0 (unlimited) and " + std::to_string(kMaxAmount));
  if (limits.tpm < 0 || limits.tpm > kMaxAmount)
    add("tpm must be between 0 (unlimited) and " + std::to_string(kMaxAmount));
  if (!(limits.interactive_reserve >= 0.0 && limits.interactive_reserve <= 1.0))
    add("interactive_reserve must be a share between 0 and 1 (e.g. 0.2)");
  if (!(limits.interactive_reserve_tpm <= 1.0) || std::isnan(limits.interactive_reserve_tpm))
    add("interactive_reserve_tpm must be a share between 0 and 1, or negative for the rpm one");
  if (limits.default_backoff_ms <= 0) add("default_backoff_ms must be positive");
  if (limits.max_backoff_ms < limits.default_backoff_ms)
    add("max_backoff_ms must be at least default_backoff_ms");
  return problems;
}

const char* to_string(LimitReason reason) {
  static constexpr std::array kNames{"", "rpm", "tpm", "cooldown", "fleet warm-up"};
  static_assert(kNames.size() == static_cast<std::size_t>(LimitReason::kWarmUp) + 1);
  return enum_name(reason, kNames);
}

DeploymentLimiter::DeploymentLimiter(const DeploymentLimits& limits, std::int64_t now_ms)
    : limits_(limits),
      requests_(limits.rpm, now_ms),
      tokens_(limits.tpm, now_ms),
      cooldown_until_ms_(now_ms) {
  if (std::string problems = validate(limits); !problems.empty())
    throw std::invalid_argument("deployment rate limits: " + problems);
  set_share(1.0);
}

std::int64_t DeploymentLimiter::scaled(std::int64_t value) const {
  return floor_fraction(value, share_);
}

void DeploymentLimiter::set_share(double share) {
  share_ = std::isnan(share) ? 0.0 : std::clamp(share, 0.0, 1.0);
  grow_at_ms_ = -1;
  apply_limits(scaled(limits_.rpm), scaled(limits_.tpm));
}

void DeploymentLimiter::apply_limits(std::int64_t rpm, std::int64_t tpm) {
  requests_.set_limit(rpm);
  tokens_.set_limit(tpm);
  rpm_reserve_ = floor_fraction(requests_.limit(), limits_.interactive_reserve);
  tpm_reserve_ = floor_fraction(tokens_.limit(), limits_.interactive_reserve_tpm < 0
                                                     ? limits_.interactive_reserve
                                                     : limits_.interactive_reserve_tpm);
}

void DeploymentLimiter::set_fleet_slot(int ordinal, int workers, std::int64_t now_ms,
                                       std::int64_t grow_after_ms) {
  workers = std::max(workers, 1);
  ordinal = std::clamp(ordinal, 0, workers - 1);
  share_ = 1.0 / workers;
  auto slot = [&](std::int64_t limit) {
    return limit / workers + (ordinal < limit % workers ? 1 : 0);
  };
  const std::int64_t rpm = slot(limits_.rpm);
  const std::int64_t tpm = slot(limits_.tpm);
  // Shrink now; grow later. A dimension that grows keeps its current limit until grow_at_ms_.
  const std::int64_t rpm_now = std::min(rpm, requests_.limit());
  const std::int64_t tpm_now = std::min(tpm, tokens_.limit());
  apply_limits(rpm_now, tpm_now);
  if (rpm > rpm_now || tpm > tpm_now) {
    pending_rpm_ = rpm;
    pending_tpm_ = tpm;
    grow_at_ms_ = now_ms + std::max<std::int64_t>(grow_after_ms, 0);
  } else {
    grow_at_ms_ = -1;
  }
}

void DeploymentLimiter::advance(std::int64_t now_ms) {
  if (grow_at_ms_ < 0 || now_ms < grow_at_ms_) return;
  grow_at_ms_ = -1;
  apply_limits(pending_rpm_, pending_tpm_);
}

Admission DeploymentLimiter::check(PriorityClass cls, std::int64_t estimated_tokens,
                                   std::int64_t now_ms) const {
  Admission a;
  a.estimated_tokens = std::max<std::int64_t>(estimated_tokens, 0);
  const bool background = cls == PriorityClass::kBackground;
  // Longest wait wins the reason; on a tie the earlier check (cooldown, rpm, tpm) names it.
  auto consider = [&a](std::int64_t wait_ms, LimitReason reason) {
    if (wait_ms > a.retry_after_ms) {
      a.retry_after_ms = wait_ms;
      a.reason = reason;
    }
  };
  consider(cooldown_until_ms_ - now_ms, LimitReason::kCooldown);
  if (rpm_limited() || tpm_limited()) consider(warm_up_until_ms_ - now_ms, LimitReason::kWarmUp);
  if (rpm_limited())
    consider(
        requests_.ms_until(1, now_ms, background ? std::max(rpm_reserve_, forecast_reserve_) : 0),
        LimitReason::kRpm);
  if (tpm_limited())
    consider(tokens_.ms_until(a.estimated_tokens, now_ms, background ? tpm_reserve_ : 0),
             LimitReason::kTpm);
  a.granted = a.retry_after_ms == 0;
  if (a.granted) a.granted_at_ms = now_ms;
  return a;
}

Admission DeploymentLimiter::try_acquire(PriorityClass cls, std::int64_t estimated_tokens,
                                         std::int64_t now_ms) {
  Admission a = check(cls, estimated_tokens, now_ms);
  if (!a.granted) return a;
  // check() saw both fit at now_ms, so recording both keeps the both-or-neither promise.
  if (rpm_limited()) requests_.record(1, now_ms);
  if (tpm_limited()) tokens_.record(a.estimated_tokens, now_ms);
  return a;
}

void DeploymentLimiter::settle(const Admission& grant, std::int64_t actual_tokens,
                               std::int64_t now_ms) {
  if (!grant.granted || !tpm_limited()) return;
  const std::int64_t actual = std::max<std::int64_t>(actual_tokens, 0);
  if (actual < grant.estimated_tokens) {
    tokens_.give_back(grant.estimated_tokens - actual, grant.granted_at_ms, now_ms);
  } else if (actual > grant.estimated_tokens) {
    tokens_.record(actual - grant.estimated_tokens, now_ms);
  }
}

void DeploymentLimiter::on_rate_limited(std::optional<std::int64_t> retry_after_ms,
                                        std::int64_t now_ms) {
  std::int64_t wait_ms = 0;
  if (retry_after_ms) {
    wait_ms = std::clamp<std::int64_t>(*retry_after_ms, 0, kMaxAmount);
  } else {
    wait_ms = limits_.default_backoff_ms;
    for (int i = 0; i < consecutive_rate_limits_ && wait_ms < limits_.max_backoff_ms; ++i)
      wait_ms *= 2;
    wait_ms = std::min(wait_ms, limits_.max_backoff_ms);
  }
  if (consecutive_rate_limits_ < std::numeric_limits<int>::max()) ++consecutive_rate_limits_;
  cooldown_until_ms_ = std::max(cooldown_until_ms_, now_ms + wait_ms);
}

void DeploymentLimiter::on_headers(std::optional<std::int64_t> remaining_requests,
                                   std::optional<std::int64_t> remaining_tokens,
                                   std::optional<std::int64_t> reset_ms, std::int64_t now_ms) {
  std::optional<std::int64_t> release_at_ms;
  if (reset_ms) release_at_ms = now_ms + std::clamp<std::int64_t>(*reset_ms, 0, kMinuteMs * 2);
  if (remaining_requests && rpm_limited())
    requests_.lower_available_to(scaled(std::max<std::int64_t>(*remaining_requests, 0)),
                                 release_at_ms, now_ms);
  if (remaining_tokens && tpm_limited())
    tokens_.lower_available_to(scaled(std::max<std::int64_t>(*remaining_tokens, 0)), release_at_ms,
                               now_ms);
}

bool DeploymentLimiter::has_headroom(PriorityClass cls, std::int64_t estimated_tokens,
                                     std::int64_t now_ms) const {
  return check(cls, estimated_tokens, now_ms).granted;
}

std::int64_t DeploymentLimiter::ms_until_headroom(PriorityClass cls, std::int64_t estimated_tokens,
                                                  std::int64_t now_ms) const {
  return check(cls, estimated_tokens, now_ms).retry_after_ms;
}

}  // namespace switchyard::limit
