#pragma once
// A token bucket with continuous refill: "N per minute" refills N tokens per 60,000 ms, spread
// evenly over the minute, up to a capacity (N by default).
//
// Exact integer math: the level is kept in units of 1/60,000 token, so a limit of N per minute
// adds exactly N units per millisecond whatever N is. There is no rounding and no drift, and
// tests can state exact values (a 60-per-minute bucket holds exactly one more token after
// 1,000 ms). Public amounts are whole tokens; available() rounds down.
//
// What it does NOT promise: at most N per sliding minute. A full bucket of capacity N can grant
// N at once and refill almost N more within the same minute (up to 2N-1 in one 60 s window).
// DeploymentLimiter keeps the sliding-window promise with SlidingWindowLimit instead; this
// bucket is the building block for smooth rates and for chunked leases from a shared store
// (rate 0, capacity = largest lease, filled with give_back()).
//
// Invariants: -kMaxAmount*60,000 <= level <= capacity (in units); last_refill_ms only moves
// forward (a `now_ms` earlier than one already seen refills nothing); nothing is available
// before blocked_until_ms.
// Thread-safety: none. The owner serialises every call (one shard/thread per bucket).
#include <cstdint>

#include "switchyard/limit/limit_units.h"

namespace switchyard::limit {

class TokenBucket {
 public:
  static constexpr std::int64_t kUnitsPerToken = kMinuteMs;

  // Starts full. Negative inputs count as 0, inputs above kMaxAmount as kMaxAmount.
  TokenBucket(std::int64_t per_minute, std::int64_t now_ms);
  TokenBucket(std::int64_t per_minute, std::int64_t capacity, std::int64_t now_ms);

  // Takes `amount` tokens if that many are available now; otherwise takes nothing.
  bool try_take(std::int64_t amount, std::int64_t now_ms);
  // Whole tokens available now: 0 while blocked or in debt.
  std::int64_t available(std::int64_t now_ms) const;
  // Milliseconds until `amount` tokens are available (0 = now), assuming nothing else is taken.
  // kNeverMs when amount > capacity, or when the bucket does not refill (rate 0) and holds less.
  std::int64_t ms_until(std::int64_t amount, std::int64_t now_ms) const;

  // Returns tokens (actual usage below the estimate). The level never exceeds capacity.
  void give_back(std::int64_t amount, std::int64_t now_ms);
  // Charges tokens beyond what was taken (actual usage above the estimate): may go negative,
  // and then nothing is available until the refill has paid the debt off.
  void take_debt(std::int64_t amount, std::int64_t now_ms);

  // Changes the rate; capacity becomes per_minute (or the given capacity). Time up to now_ms is
  // credited at the old rate first. The level is kept, cut down to a lower capacity.
  void set_limit(std::int64_t per_minute, std::int64_t now_ms);
  void set_limit(std::int64_t per_minute, std::int64_t capacity, std::int64_t now_ms);

  // Nothing is available before until_ms (a 429 with Retry-After); the bucket is emptied (debt
  // is kept) and refills from until_ms on, so the restart after the block is gradual.
  void drain_until(std::int64_t until_ms);

  std::int64_t per_minute() const { return per_minute_; }
  std::int64_t capacity() const { return capacity_units_ / kUnitsPerToken; }
  // Level in 1/60,000-token units at now_ms (negative in debt; ignores the block). For tests
  // and metrics.
  std::int64_t level_units(std::int64_t now_ms) const { return units_at(now_ms); }
  std::int64_t blocked_until_ms() const { return blocked_until_ms_; }

 private:
  std::int64_t units_at(std::int64_t now_ms) const;
  void refill(std::int64_t now_ms);

  std::int64_t per_minute_;      // tokens per minute == units added per millisecond
  std::int64_t capacity_units_;  // tokens x kUnitsPerToken
  std::int64_t level_units_;     // level as of last_refill_ms_
  std::int64_t last_refill_ms_;
  std::int64_t blocked_until_ms_;
};

}  // namespace switchyard::limit
