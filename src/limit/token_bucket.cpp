#include "switchyard/limit/token_bucket.h"

#include <algorithm>

namespace switchyard::limit {
namespace {

constexpr std::int64_t kMinLevelUnits = -kMaxAmount * TokenBucket::kUnitsPerToken;

std::int64_t clamp_amount(std::int64_t amount) {
  return std::clamp<std::int64_t>(amount, 0, kMaxAmount);
}

std::int64_t to_units(std::int64_t amount) {
  return clamp_amount(amount) * TokenBucket::kUnitsPerToken;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}  // a >= 0, b > 0

}  // namespace

TokenBucket::TokenBucket(std::int64_t per_minute, std::int64_t now_ms)
    : TokenBucket(per_minute, per_minute, now_ms) {}

TokenBucket::TokenBucket(std::int64_t per_minute, std::int64_t capacity, std::int64_t now_ms)
    : per_minute_(clamp_amount(per_minute)),
      capacity_units_(to_units(capacity)),
      level_units_(capacity_units_),
      last_refill_ms_(now_ms),
      blocked_until_ms_(now_ms) {}

std::int64_t TokenBucket::units_at(std::int64_t now_ms) const {
  if (now_ms <= last_refill_ms_ || per_minute_ == 0) return level_units_;
  const std::int64_t deficit = capacity_units_ - level_units_;
  if (deficit <= 0) return level_units_;
  // Compare elapsed time with the time to fill up before multiplying, so a long idle period
  // cannot overflow elapsed x rate.
  const std::int64_t elapsed = now_ms - last_refill_ms_;
  if (elapsed >= ceil_div(deficit, per_minute_)) return capacity_units_;
  return level_units_ + elapsed * per_minute_;
}

void TokenBucket::refill(std::int64_t now_ms) {
  if (now_ms <= last_refill_ms_) return;
  level_units_ = units_at(now_ms);
  last_refill_ms_ = now_ms;
}

bool TokenBucket::try_take(std::int64_t amount, std::int64_t now_ms) {
  if (now_ms < blocked_until_ms_) return false;
  refill(now_ms);
  const std::int64_t units = to_units(amount);
  if (level_units_ < units) return false;
  level_units_ -= units;
  return true;
}

std::int64_t TokenBucket::available(std::int64_t now_ms) const {
  if (now_ms < blocked_until_ms_) return 0;
  return std::max<std::int64_t>(units_at(now_ms), 0) / kUnitsPerToken;
}

std::int64_t TokenBucket::ms_until(std::int64_t amount, std::int64_t now_ms) const {
  const std::int64_t units = to_units(amount);
  if (units > capacity_units_) return kNeverMs;
  // The level is known as of last_refill_ms_, which a caller's earlier now_ms may precede.
  const std::int64_t start_ms = std::max({now_ms, blocked_until_ms_, last_refill_ms_});
  const std::int64_t level = units_at(start_ms);
  if (level >= units) return start_ms - now_ms;
  if (per_minute_ == 0) return kNeverMs;
  return start_ms - now_ms + ceil_div(units - level, per_minute_);
}

void TokenBucket::give_back(std::int64_t amount, std::int64_t now_ms) {
  refill(now_ms);
  level_units_ = std::min(capacity_units_, level_units_ + to_units(amount));
}

void TokenBucket::take_debt(std::int64_t amount, std::int64_t now_ms) {
  refill(now_ms);
  level_units_ = std::max(kMinLevelUnits, level_units_ - to_units(amount));
}

void TokenBucket::set_limit(std::int64_t per_minute, std::int64_t now_ms) {
  set_limit(per_minute, per_minute, now_ms);
}

void TokenBucket::set_limit(std::int64_t per_minute, std::int64_t capacity, std::int64_t now_ms) {
  refill(now_ms);
  per_minute_ = clamp_amount(per_minute);
  capacity_units_ = to_units(capacity);
  level_units_ = std::min(level_units_, capacity_units_);
}

void TokenBucket::drain_until(std::int64_t until_ms) {
  level_units_ = std::min<std::int64_t>(level_units_, 0);
  last_refill_ms_ = std::max(last_refill_ms_, until_ms);
  blocked_until_ms_ = std::max(blocked_until_ms_, until_ms);
}

}  // namespace switchyard::limit
