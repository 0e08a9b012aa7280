#pragma once
// How many calls one deployment may have in flight: a hard cap from the config, and under it an
// adaptive limit that finds what the server can take, in the spirit of Netflix's
// concurrency-limits (AIMD and gradient limiters) and Envoy's adaptive concurrency filter:
//
//   - It starts low (`initial`) instead of opening hundreds of connections to a server nobody has
//     measured: a small self-hosted server with a short accept queue survives the first burst.
//   - It grows by one for each call that completes while the limit is in use (at least half of it
//     in flight) and the recent latency holds (the short average at most `tolerance` times the
//     baseline): it doubles about once per round trip, like TCP's slow start.
//   - It shrinks by a quarter on an overload signal (a timeout, a connection error, a 5xx) and
//     when the recent latency passes `overload_ratio` times the baseline: at most once per
//     baseline latency (and 100 ms), so one burst of failures is one cut, not a collapse to 1.
//   - The baseline is the lowest short average seen, reset to the current one every
//     `baseline_reset_ms`, so a model that became slower for good becomes the new normal.
//
// LLM latency follows the answer's length, so latency alone only stops growth (a batch of long
// answers is not overload) unless it is far above the baseline; failures are the clear signal.
//
// Pure and clock-free: every call takes `now_ms`. Not thread-safe; the scheduler serialises it.
// No allocation.
#include <cstdint>

namespace switchyard::limit {

struct ConcurrencyParams {
  int max = 256;                // hard cap: never more in flight
  int initial = 16;             // where the adaptive limit starts (capped by max)
  int min = 1;                  // never below
  bool adaptive = true;         // false: the limit is `max`
  double tolerance = 2.0;       // grow only while short latency <= tolerance x baseline
  double overload_ratio = 4.0;  // shrink when short latency > overload_ratio x baseline
  std::int64_t baseline_reset_ms = 30'000;
};

class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(ConcurrencyParams params = {});

  int limit() const { return static_cast<int>(limit_); }
  int in_flight() const { return in_flight_; }
  bool has_room() const { return in_flight_ < limit(); }

  // A call starts (the caller checked has_room(); the scheduler's choice of a deployment does).
  void on_start() { ++in_flight_; }

  enum class Sample {
    kOk,        // an answer: latency says something about load
    kNeutral,   // a 4xx, a 429 (the rate limiter's business): no signal
    kOverload,  // a timeout, a connection error, a 5xx
  };
  // A call ended after `latency_ms`.
  void on_end(Sample sample, std::int64_t latency_ms, std::int64_t now_ms);

  double short_latency_ms() const { return short_ms_; }
  double baseline_ms() const { return baseline_ms_; }

 private:
  void cut(std::int64_t now_ms);

  ConcurrencyParams params_;
  double limit_;
  int in_flight_ = 0;
  double short_ms_ = 0;  // EWMA of recent latencies; 0 = no sample yet
  double baseline_ms_ = 0;
  std::int64_t baseline_since_ms_ = -1;
  std::int64_t last_cut_ms_ = -1;
};

}  // namespace switchyard::limit
