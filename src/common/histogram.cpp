#include "switchyard/common/histogram.h"

#include <bit>

namespace switchyard {

// Values below 2*kSubBuckets get a bucket each; above, every power of two is split into
// kSubBuckets equal parts, so a bucket's width is at most 1/kSubBuckets of its values.
int LatencyHistogram::bucket_of(std::uint64_t v) {
  constexpr std::uint64_t kExact = 2 * kSubBuckets;
  if (v < kExact) return static_cast<int>(v);
  int power = std::bit_width(v) - std::bit_width(kExact - 1);  // >= 1; v >> power in [S, 2S)
  int sub = static_cast<int>(v >> power) - kSubBuckets;
  int bucket = static_cast<int>(kExact) + (power - 1) * kSubBuckets + sub;
  return bucket < kBuckets ? bucket : kBuckets - 1;
}

std::int64_t LatencyHistogram::upper_bound_of(int bucket) {
  constexpr int kExact = 2 * kSubBuckets;
  if (bucket < kExact) return bucket;
  int rel = bucket - kExact;
  int power = rel / kSubBuckets + 1;
  int sub = rel % kSubBuckets + kSubBuckets;
  return ((static_cast<std::int64_t>(sub) + 1) << power) - 1;
}

void LatencyHistogram::record_us(std::int64_t micros) {
  if (micros < 0) micros = 0;
  buckets_[static_cast<std::size_t>(bucket_of(static_cast<std::uint64_t>(micros)))].fetch_add(
      1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  std::int64_t seen = max_.load(std::memory_order_relaxed);
  while (micros > seen && !max_.compare_exchange_weak(seen, micros, std::memory_order_relaxed)) {
  }
}

std::int64_t LatencyHistogram::percentile_us(double q) const {
  std::uint64_t total = count();
  if (total == 0) return 0;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) {
      std::int64_t bound = upper_bound_of(static_cast<int>(i));
      return bound < max_us() ? bound : max_us();
    }
  }
  return max_us();
}

}  // namespace switchyard
