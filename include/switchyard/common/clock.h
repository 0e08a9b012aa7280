#pragma once
// The time seam. Stages read time only through a Clock, so tests can hold it still or move it by
// hand (Envoy's TimeSource). Steady time orders events inside the process (waits, backoffs, rate
// windows); wall time is what Kafka timestamps, deadlines and result timings are written in.
#include <chrono>
#include <cstdint>

namespace switchyard {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t steady_us() const = 0;  // monotonic, any epoch
  virtual std::int64_t wall_ms() const = 0;    // Unix time
  std::int64_t steady_ms() const { return steady_us() / 1000; }
};

// The real clocks. Thread-safe; one shared instance is enough (system_clock()).
class SystemClock final : public Clock {
 public:
  std::int64_t steady_us() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t wall_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

const Clock& system_clock();

// A clock that moves only when told to. Not thread-safe: for single-threaded tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t steady_ms = 1'000'000, std::int64_t wall_ms = 1'800'000'000'000)
      : steady_us_(steady_ms * 1000), wall_ms_(wall_ms) {}
  std::int64_t steady_us() const override { return steady_us_; }
  std::int64_t wall_ms() const override { return wall_ms_; }
  void advance_ms(std::int64_t ms) {
    steady_us_ += ms * 1000;
    wall_ms_ += ms;
  }

 private:
  std::int64_t steady_us_;
  std::int64_t wall_ms_;
};

}  // namespace switchyard
