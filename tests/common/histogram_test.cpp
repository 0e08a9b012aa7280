#include "switchyard/common/histogram.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

TEST(LatencyHistogram, EmptyHistogramReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.percentile_us(0.99), 0);
}

TEST(LatencyHistogram, PercentilesAreWithinFourPercentOfTheTrueValue) {
  LatencyHistogram h;
  for (int i = 1; i <= 100000; ++i) h.record_us(i);
  EXPECT_EQ(h.count(), 100000u);
  auto p50 = h.percentile_us(0.5);
  auto p99 = h.percentile_us(0.99);
  EXPECT_GE(p50, 50000);
  EXPECT_LE(p50, 51600);
  EXPECT_GE(p99, 99000);
  EXPECT_LE(p99, 100000);
  EXPECT_EQ(h.max_us(), 100000);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int i = 0; i < 10; ++i) h.record_us(7);
  EXPECT_EQ(h.percentile_us(0.5), 7);
}

}  // namespace
}  // namespace switchyard
