#include "switchyard/sched/retry_policy.h"

#include <algorithm>

namespace switchyard {

FailureClass classify_failure(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kRateLimited:
      return FailureClass::kRateLimited;
    case OutcomeKind::kContextTooLong:
      return FailureClass::kContextTooLong;
    case OutcomeKind::kRetryable:
    case OutcomeKind::kAuth:
      return FailureClass::kRetryable;
    default:
      return FailureClass::kFinal;
  }
}

std::string RetryPolicy::exhausted(const RetryState& state, std::int64_t now_ms) const {
  if (state.failures >= http_.max_attempts)
    return std::to_string(state.failures) + " failed attempts (http.max_attempts)";
  if (state.rate_limited > http_.max_rate_limited_attempts)
    return std::to_string(state.rate_limited) +
           " rate-limited answers (http.max_rate_limited_attempts)";
  if (state.first_attempt_ms >= 0 && now_ms - state.first_attempt_ms >= http_.request_deadline_ms)
    return "http.request_deadline_ms passed";
  return {};
}

std::int64_t RetryPolicy::backoff_ms(int attempt_number, std::int64_t retry_after_ms,
                                     std::uint64_t random) const {
  const std::int64_t cap =
      std::min<std::int64_t>(http_.retry_max_ms, static_cast<std::int64_t>(http_.retry_base_ms)
                                                     << std::clamp(attempt_number, 0, 20));
  const std::int64_t jittered =
      cap > 0 ? static_cast<std::int64_t>(random % static_cast<std::uint64_t>(cap + 1)) : 0;
  return std::max(jittered, std::min<std::int64_t>(retry_after_ms, http_.retry_max_ms));
}

}  // namespace switchyard
