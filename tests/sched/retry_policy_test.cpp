// The retry rules as plain values: which outcomes end a request, when its attempts are used up,
// and how long it waits before calling the same deployment again.
#include "switchyard/sched/retry_policy.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

HttpConfig http() {
  HttpConfig h;
  h.max_attempts = 3;
  h.max_rate_limited_attempts = 2;
  h.request_deadline_ms = 10'000;
  h.retry_base_ms = 100;
  h.retry_max_ms = 5'000;
  return h;
}

TEST(RetryPolicy, EachOutcomeClassIsTreatedAsItsRuleSays) {
  EXPECT_EQ(classify_failure(OutcomeKind::kFatal), FailureClass::kFinal);
  EXPECT_EQ(classify_failure(OutcomeKind::kContentFiltered), FailureClass::kFinal);
  EXPECT_EQ(classify_failure(OutcomeKind::kRateLimited), FailureClass::kRateLimited);
  EXPECT_EQ(classify_failure(OutcomeKind::kContextTooLong), FailureClass::kContextTooLong);
  EXPECT_EQ(classify_failure(OutcomeKind::kRetryable), FailureClass::kRetryable);
  EXPECT_EQ(classify_failure(OutcomeKind::kAuth), FailureClass::kRetryable)
      << "401/403 disable the deployment; the request moves on";
}

TEST(RetryPolicy, RateLimitedAnswersCountApartFromFailures) {
  const HttpConfig h = http();
  RetryPolicy policy(h);
  RetryState s;
  s.first_attempt_ms = 0;
  s.record(FailureClass::kRateLimited);
  s.record(FailureClass::kRateLimited);
  s.record(FailureClass::kRetryable);
  EXPECT_EQ(s.rate_limited, 2);
  EXPECT_EQ(s.failures, 1);
  EXPECT_EQ(policy.exhausted(s, 100), "");
  s.record(FailureClass::kRateLimited);
  EXPECT_EQ(policy.exhausted(s, 100), "3 rate-limited answers (http.max_rate_limited_attempts)");
  EXPECT_EQ(RetryPolicy::final_code(FailureClass::kRateLimited), ErrorCode::kRateLimited);
  EXPECT_EQ(RetryPolicy::final_code(FailureClass::kRetryable), ErrorCode::kProviderError);
}

TEST(RetryPolicy, ARequestEndsAtMaxAttemptsOrAtItsDeadline) {
  const HttpConfig h = http();
  RetryPolicy policy(h);
  RetryState s;
  s.first_attempt_ms = 1'000;
  s.record(FailureClass::kRetryable);
  EXPECT_EQ(policy.exhausted(s, 10'999), "");
  EXPECT_EQ(policy.exhausted(s, 11'000), "http.request_deadline_ms passed");
  s.record(FailureClass::kContextTooLong);
  s.record(FailureClass::kRetryable);
  EXPECT_EQ(policy.exhausted(s, 1'000), "3 failed attempts (http.max_attempts)");
}

TEST(RetryPolicy, BackoffGrowsExponentiallyWithFullJitterUpToItsCap) {
  const HttpConfig h = http();
  RetryPolicy policy(h);
  // The cap of attempt n is base << n: 100, 200, 400, ...; jitter is `random` mod (cap + 1).
  EXPECT_EQ(policy.backoff_ms(0, -1, 100), 100);
  EXPECT_EQ(policy.backoff_ms(0, -1, 101), 0);
  EXPECT_EQ(policy.backoff_ms(2, -1, 400), 400);
  EXPECT_EQ(policy.backoff_ms(2, -1, 401), 0);
  for (std::uint64_t r : {0ull, 7ull, 123456789ull, ~0ull}) {
    EXPECT_LE(policy.backoff_ms(30, -1, r), 5'000) << "capped at http.retry_max_ms";
    EXPECT_GE(policy.backoff_ms(30, -1, r), 0);
  }
}

TEST(RetryPolicy, TheProvidersRetryAfterIsHonouredButCapped) {
  const HttpConfig h = http();
  RetryPolicy policy(h);
  EXPECT_EQ(policy.backoff_ms(0, 3'000, 0), 3'000);
  EXPECT_EQ(policy.backoff_ms(0, 60'000, 0), 5'000);
}

}  // namespace
}  // namespace switchyard
