#pragma once
// One deployment's rate limits as seen by one worker: requests per minute and tokens per minute
// (each may be unlimited), an interactive reserve, and cooldown after the provider says 429.
//
// Guarantees, for the limits this worker holds (configured limit x share):
// - In any 60,000 ms window the granted requests are <= effective RPM and the granted estimated
//   tokens plus recorded corrections are <= effective TPM (SlidingWindowLimit), while a full
//   minute's limit may still be used in one burst.
// - A request is admitted atomically: one request and its estimated tokens are both taken, or
//   neither.
// - Interactive reserve: background work may never use the last `interactive_reserve` share of
//   either limit (it sees limit x (1 - reserve)); interactive work may use all of it. When
//   interactive work is idle, background may use the rest at the full rate; when interactive work
//   has eaten into the reserve, background waits until the window has released enough.
// - After a 429, nothing is granted until the provider's Retry-After has passed; without one, for
//   default_backoff_ms doubling on each further 429 up to max_backoff_ms, reset by on_success().
//
// Fleet sharing: set_fleet_slot(k, N, ...) gives worker k of N limit / N of each configured limit
// plus one of the remainder when k < limit % N, so the fleet's limits add up to exactly the
// configured one. A limit that shrinks does so at once; one that grows does so only after a full
// window, when the grants other workers made under their larger, older split have left the
// provider's window (a worker leaving, or joining a live fleet with warm_up(), would otherwise let
// the fleet over-grant for up to a minute). set_share(f) is the plain fraction, rounded down.
//
// Thread-safety: none. The owner serialises every call (e.g. one limiter per deployment owned by
// the dispatch strand). No allocation, no clock reads; try_acquire() is O(1).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "switchyard/common/priority.h"
#include "switchyard/limit/sliding_window.h"

namespace switchyard::limit {

struct DeploymentLimits {
  std::int64_t rpm = 0;                    // requests per minute; 0 = unlimited
  std::int64_t tpm = 0;                    // tokens per minute; 0 = unlimited
  double interactive_reserve = 0.0;        // share of both limits background may not use, 0..1
  double interactive_reserve_tpm = -1.0;   // share of tpm instead, 0..1; < 0 = the one above
  std::int64_t default_backoff_ms = 1000;  // first wait after a 429 without Retry-After
  std::int64_t max_backoff_ms = 60000;     // cap of the doubling
};

// Empty when valid; otherwise what is wrong and the accepted range, for start-up errors.
std::string validate(const DeploymentLimits& limits);

enum class LimitReason { kNone, kRpm, kTpm, kCooldown, kWarmUp };
const char* to_string(LimitReason reason);  // "", "rpm", "tpm", "cooldown", "fleet warm-up"

struct Admission {
  bool granted = false;
  // When the same request would be granted if nothing else is taken: 0 when granted; kNeverMs
  // when the estimate can never fit (more tokens than the limit this worker holds).
  std::int64_t retry_after_ms = 0;
  // What blocks it (the constraint with the longest wait); kNone when granted.
  LimitReason reason = LimitReason::kNone;
  // Kept for settle(): the grant's own time and estimate.
  std::int64_t granted_at_ms = 0;
  std::int64_t estimated_tokens = 0;

  const char* reason_text() const { return to_string(reason); }
};

class DeploymentLimiter {
 public:
  // Throws std::invalid_argument with validate()'s message when the limits are invalid
  // (a start-up failure). Share starts at 1.
  DeploymentLimiter(const DeploymentLimits& limits, std::int64_t now_ms);

  // Takes one request and `estimated_tokens` if both fit for this class now; otherwise nothing.
  Admission try_acquire(PriorityClass cls, std::int64_t estimated_tokens, std::int64_t now_ms);
  // The call behind `grant` finished with `actual_tokens` used: corrects the TPM window (gives
  // back an overestimate in the grant's own slot, records an underestimate now). A grant that
  // was not granted is ignored.
  void settle(const Admission& grant, std::int64_t actual_tokens, std::int64_t now_ms);

  // The provider answered 429. retry_after_ms: its Retry-After (nullopt when absent) -> default
  // backoff doubling on repeated 429s. Cooldowns only ever extend.
  void on_rate_limited(std::optional<std::int64_t> retry_after_ms, std::int64_t now_ms);
  // A call succeeded: the next 429 without Retry-After starts at default_backoff_ms again.
  void on_success() { consecutive_rate_limits_ = 0; }

  // Provider rate-limit headers (remaining requests / tokens, time until the provider's limit
  // resets). When the provider has fewer left than we think we have, ours is lowered to match
  // (scaled by our share: every worker of the fleet sees the same headers); never raised. The
  // lowered part is released at now + reset_ms (at most a full window later), or after a full
  // window when reset_ms is absent. Unlimited dimensions ignore headers.
  void on_headers(std::optional<std::int64_t> remaining_requests,
                  std::optional<std::int64_t> remaining_tokens,
                  std::optional<std::int64_t> reset_ms, std::int64_t now_ms);

  // Whether try_acquire() would grant now. No side effects.
  bool has_headroom(PriorityClass cls, std::int64_t estimated_tokens, std::int64_t now_ms) const;
  // Milliseconds until try_acquire() would grant if nothing else is taken: 0 = now; kNeverMs =
  // never (the estimate is larger than this worker's TPM, or its share is 0).
  std::int64_t ms_until_headroom(PriorityClass cls, std::int64_t estimated_tokens,
                                 std::int64_t now_ms) const;

  // This worker's share of the configured limits, 0..1 (clamped; NaN counts as 0). Usage already
  // recorded is kept: a lower share may leave no headroom until the window releases it.
  void set_share(double share);

  // Worker `ordinal` (0-based) of `workers`: see the header comment. Shrinking limits apply now,
  // growing ones at now_ms + grow_after_ms (pass the window plus the membership refresh delay).
  void set_fleet_slot(int ordinal, int workers, std::int64_t now_ms, std::int64_t grow_after_ms);
  // Applies a grown limit whose time has come. Call before has_headroom()/try_acquire().
  void advance(std::int64_t now_ms);
  // Grants nothing on a limited dimension until `until_ms`: a worker joining a live fleet cannot
  // know what the others granted in the current window, so it waits until that window is over.
  void warm_up(std::int64_t until_ms) { warm_up_until_ms_ = std::max(warm_up_until_ms_, until_ms); }

  double share() const { return share_; }
  // Limits this worker holds now: configured x share, rounded down; 0 when unlimited.
  std::int64_t effective_rpm() const { return requests_.limit(); }
  std::int64_t effective_tpm() const { return tokens_.limit(); }
  // Requests per minute background work may take: effective_rpm() less the interactive reserve
  // (the configured share, or the forecast reserve when that is larger).
  std::int64_t background_rpm() const {
    return requests_.limit() - std::max(rpm_reserve_, forecast_reserve_);
  }
  std::int64_t configured_background_rpm() const { return requests_.limit() - rpm_reserve_; }
  // Tokens per minute background work may take: effective_tpm() less the interactive reserve.
  std::int64_t background_tpm() const { return tokens_.limit() - tpm_reserve_; }
  // Keeps at least `requests` of the rpm limit for interactive work (what it is forecast to
  // take), on top of nothing: the larger of this and the configured reserve applies. 0 = only
  // the configured one. Set by the background planner on every tick.
  void set_forecast_reserve(std::int64_t requests) {
    forecast_reserve_ = std::clamp<std::int64_t>(requests, 0, requests_.limit());
  }
  bool rpm_limited() const { return limits_.rpm > 0; }
  bool tpm_limited() const { return limits_.tpm > 0; }
  std::int64_t cooldown_until_ms() const { return cooldown_until_ms_; }
  int consecutive_rate_limits() const { return consecutive_rate_limits_; }
  const SlidingWindowLimit& requests() const { return requests_; }
  const SlidingWindowLimit& tokens() const { return tokens_; }

 private:
  // The admission decision without taking anything; try_acquire() commits it.
  Admission check(PriorityClass cls, std::int64_t estimated_tokens, std::int64_t now_ms) const;
  std::int64_t scaled(std::int64_t value) const;  // value x share_, rounded down

  DeploymentLimits limits_;
  double share_ = 1.0;
  SlidingWindowLimit requests_;        // used only when rpm_limited()
  SlidingWindowLimit tokens_;          // used only when tpm_limited()
  std::int64_t rpm_reserve_ = 0;       // requests background may not use
  std::int64_t forecast_reserve_ = 0;  // set_forecast_reserve()
  std::int64_t tpm_reserve_ = 0;       // tokens background may not use
  std::int64_t cooldown_until_ms_;
  int consecutive_rate_limits_ = 0;
  std::int64_t warm_up_until_ms_ = 0;
  std::int64_t grow_at_ms_ = -1;  // when pending_rpm_/pending_tpm_ apply; -1 = nothing pending
  std::int64_t pending_rpm_ = 0;
  std::int64_t pending_tpm_ = 0;
  void apply_limits(std::int64_t rpm, std::int64_t tpm);
};

}  // namespace switchyard::limit
