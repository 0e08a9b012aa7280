#pragma once
// A lock-free latency histogram: log-linear buckets over microseconds (about 3% relative
// error), recordable from any thread, percentiles read at any time. Fixed memory, no allocation
// when recording.
#include <array>
#include <atomic>
#include <cstdint>

namespace switchyard {

class LatencyHistogram {
 public:
  void record_us(std::int64_t micros);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Upper bound of the bucket holding the q-quantile (0 < q <= 1), in microseconds; 0 if empty.
  std::int64_t percentile_us(double q) const;
  std::int64_t max_us() const { return max_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kSubBuckets = 32;  // per power of two
  static constexpr int kPowers = 40;      // up to about 2^45 us
  static constexpr int kBuckets = 2 * kSubBuckets + kPowers * kSubBuckets;
  static int bucket_of(std::uint64_t micros);
  static std::int64_t upper_bound_of(int bucket);

  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> max_{0};
};

}  // namespace switchyard
