#include "switchyard/limit/circuit_breaker.h"

#include <algorithm>

#include "switchyard/common/enum_names.h"

namespace switchyard::limit {

const char* to_string(CircuitBreaker::State state) {
  static constexpr std::array kNames{"closed", "open", "half_open"};
  static_assert(kNames.size() == static_cast<std::size_t>(CircuitBreaker::State::kHalfOpen) + 1);
  return enum_name(state, kNames, "closed");
}

CircuitBreaker::State CircuitBreaker::state(std::int64_t now_ms) const {
  if (!open_) return State::kClosed;
  return now_ms < open_until_ms_ ? State::kOpen : State::kHalfOpen;
}

bool CircuitBreaker::allows(std::int64_t now_ms) const {
  switch (state(now_ms)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      return !probe_in_flight_;
  }
  return true;
}

std::int64_t CircuitBreaker::ms_until_allowed(std::int64_t now_ms,
                                              std::int64_t probe_wait_ms) const {
  switch (state(now_ms)) {
    case State::kClosed:
      return 0;
    case State::kOpen:
      return open_until_ms_ - now_ms;
    case State::kHalfOpen:
      return probe_in_flight_ ? std::max<std::int64_t>(probe_wait_ms, 1) : 0;
  }
  return 0;
}

void CircuitBreaker::on_dispatch(std::int64_t now_ms) {
  if (state(now_ms) == State::kHalfOpen) probe_in_flight_ = true;
}

CircuitBreaker::Bucket& CircuitBreaker::bucket_at(std::int64_t now_ms) {
  const std::int64_t width = std::max<std::int64_t>(params_.window_ms / kBuckets, 1);
  const std::int64_t start = now_ms - ((now_ms % width) + width) % width;
  Bucket& b = buckets_[static_cast<std::size_t>((start / width) % kBuckets + kBuckets) % kBuckets];
  if (b.start_ms != start) b = Bucket{start, 0, 0};
  return b;
}

void CircuitBreaker::record_success(std::int64_t now_ms) {
  if (open_) {
    if (state(now_ms) != State::kHalfOpen && !probe_in_flight_) return;  // a late straggler
    // The probe came back: close and forget the failures that opened the breaker.
    open_ = false;
    probe_in_flight_ = false;
    current_open_ms_ = 0;
    buckets_.fill(Bucket{});
  }
  ++bucket_at(now_ms).calls;
}

void CircuitBreaker::record_failure(std::int64_t now_ms) {
  if (open_) {
    // A failed probe (or a straggler sent before the breaker opened): open again, longer.
    if (probe_in_flight_ || state(now_ms) == State::kHalfOpen) open(now_ms);
    return;
  }
  Bucket& b = bucket_at(now_ms);
  ++b.calls;
  ++b.failures;
  int calls = 0;
  int failures = 0;
  for (const Bucket& x : buckets_) {
    if (x.start_ms >= 0 && x.start_ms > now_ms - params_.window_ms) {
      calls += x.calls;
      failures += x.failures;
    }
  }
  if (failures >= params_.min_failures &&
      failures >= params_.min_failure_rate * static_cast<double>(calls)) {
    open(now_ms);
  }
}

void CircuitBreaker::open(std::int64_t now_ms) {
  current_open_ms_ =
      current_open_ms_ == 0 ? params_.open_ms : std::min(current_open_ms_ * 2, params_.max_open_ms);
  open_ = true;
  probe_in_flight_ = false;
  open_until_ms_ = now_ms + current_open_ms_;
  ++times_opened_;
}

}  // namespace switchyard::limit
