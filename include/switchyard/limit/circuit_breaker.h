#pragma once
// A circuit breaker per deployment: enough failures in a window open it (no traffic) for a
// cooldown; then it is half-open and lets exactly one probe through; the probe's success closes
// it, its failure opens it again for twice as long (up to max_open_ms).
//
// It works for a group with a single deployment too: while the breaker is open, the scheduler
// sends that group's requests along the fallback chain or makes them wait for the probe,
// instead of hammering a deployment that is down.
//
// What counts: failures are the provider's fault (5xx, timeouts, transport errors). 429s feed
// the rate limiter instead, and request-specific errors (context too long, content filter, a bad
// request) say nothing about the deployment's health: record_neutral().
//
// Pure and clock-free: every call takes `now_ms`. Not thread-safe; the scheduler serialises it.
// No allocation after construction.
#include <array>
#include <cstdint>

namespace switchyard::limit {

struct BreakerParams {
  int min_failures = 5;             // failures in the window before the breaker may open
  double min_failure_rate = 0.5;    // ... and at least this share of the window's calls failed
  std::int64_t window_ms = 10'000;  // sliding, in 10 buckets
  std::int64_t open_ms = 5'000;     // first cooldown; doubles after each failed probe
  std::int64_t max_open_ms = 60'000;
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  explicit CircuitBreaker(BreakerParams params = {}) : params_(params) {}

  // kOpen turns into kHalfOpen once the cooldown is over.
  State state(std::int64_t now_ms) const;
  // Whether a call may be sent now: closed, or half-open with no probe in flight.
  bool allows(std::int64_t now_ms) const;
  // Milliseconds until allows() may turn true: 0 when it is; the rest of the cooldown when open;
  // `probe_wait_ms` while a probe is in flight (its answer decides).
  std::int64_t ms_until_allowed(std::int64_t now_ms, std::int64_t probe_wait_ms = 200) const;

  // A call was sent (half-open: it is the probe).
  void on_dispatch(std::int64_t now_ms);
  void record_success(std::int64_t now_ms);
  void record_failure(std::int64_t now_ms);
  // The call ended in a way that says nothing about health; frees the probe slot.
  void record_neutral() { probe_in_flight_ = false; }

  int times_opened() const { return times_opened_; }
  std::int64_t open_until_ms() const { return open_until_ms_; }

 private:
  static constexpr int kBuckets = 10;
  struct Bucket {
    std::int64_t start_ms = -1;  // start of the bucket's slice; -1 = empty
    int calls = 0;
    int failures = 0;
  };
  Bucket& bucket_at(std::int64_t now_ms);
  void open(std::int64_t now_ms);

  BreakerParams params_;
  std::array<Bucket, kBuckets> buckets_{};
  bool open_ = false;  // open or half-open (the cooldown may have passed)
  bool probe_in_flight_ = false;
  std::int64_t open_until_ms_ = 0;
  std::int64_t current_open_ms_ = 0;
  int times_opened_ = 0;
};

const char* to_string(CircuitBreaker::State state);  // "closed", "open", "half_open"

}  // namespace switchyard::limit
