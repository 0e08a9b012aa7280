#pragma once
// What a failed provider call means for its request: end it now, or try again (at once on
// another deployment, or on the same one after a backoff). Pure: counts, outcomes and time are
// passed in, randomness too, so every rule is tested with plain values.
//
// The rules (issue 4): a content filter, a malformed answer or another fatal 4xx ends the
// request; 429 moves to another deployment or waits out Retry-After (the limiter knows it);
// 5xx, 408 and timeouts retry, elsewhere first, the same deployment after exponential backoff
// with full jitter; 401/403 disable the deployment and move on; a prompt too long for a
// deployment moves to one with a larger context window. A request ends when its failed calls
// reach http.max_attempts, its 429s pass http.max_rate_limited_attempts, http.request_deadline_ms
// has passed since its first call. (A worker that is stopping gives up retryable work without
// ending it: the request is redelivered, see worker/call.cpp.)
#include <cstdint>
#include <string>

#include "switchyard/config/config.h"
#include "switchyard/event/result.h"
#include "switchyard/provider/outcome.h"

namespace switchyard {

// How an unsuccessful outcome is treated.
enum class FailureClass {
  kFinal,           // ends the request now: provider_error, not retried
  kRateLimited,     // 429: counts against max_rate_limited_attempts, not max_attempts
  kContextTooLong,  // a deployment with a larger context window may take it
  kRetryable,       // 5xx, timeouts, transport errors, 401/403 (elsewhere)
};
FailureClass classify_failure(OutcomeKind kind);

// A request's calls so far.
struct RetryState {
  int failures = 0;                    // failed calls that count against http.max_attempts
  int rate_limited = 0;                // 429 answers
  std::int64_t first_attempt_ms = -1;  // steady ms of the first call

  void record(FailureClass c) { ++(c == FailureClass::kRateLimited ? rate_limited : failures); }
};

class RetryPolicy {
 public:
  explicit RetryPolicy(const HttpConfig& http) : http_(http) {}

  // Why the request may not try again after recording its last failure; empty when it may.
  std::string exhausted(const RetryState& state, std::int64_t now_ms) const;

  // The error code a request ends with after a retryable failure: rate_limited after a 429,
  // provider_error otherwise.
  static ErrorCode final_code(FailureClass last) {
    return last == FailureClass::kRateLimited ? ErrorCode::kRateLimited : ErrorCode::kProviderError;
  }

  // The wait before calling the same deployment again: exponential in `attempt_number`
  // (http.retry_base_ms << n, capped at http.retry_max_ms), full jitter from `random` (any
  // uniformly distributed value), and never less than the provider's Retry-After (capped too).
  std::int64_t backoff_ms(int attempt_number, std::int64_t retry_after_ms,
                          std::uint64_t random) const;

 private:
  const HttpConfig& http_;
};

}  // namespace switchyard
