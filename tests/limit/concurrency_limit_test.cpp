#include "switchyard/limit/concurrency_limit.h"

#include <gtest/gtest.h>

namespace switchyard::limit {
namespace {

using Sample = ConcurrencyLimit::Sample;

// Keeps the limit busy: starts calls until it is full.
void fill(ConcurrencyLimit& c) {
  while (c.has_room()) c.on_start();
}

TEST(ConcurrencyLimit, StartsLowAndStopsAtTheLimitUntilACallEnds) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 256, .initial = 16});
  EXPECT_EQ(c.limit(), 16);
  fill(c);
  EXPECT_EQ(c.in_flight(), 16);
  EXPECT_FALSE(c.has_room());
  c.on_end(Sample::kNeutral, 0, 0);
  EXPECT_TRUE(c.has_room());
  EXPECT_EQ(c.limit(), 16);  // a neutral end says nothing
}

TEST(ConcurrencyLimit, GrowsWhileBusyAndLatencyHoldsUpToTheCap) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 40, .initial = 4});
  std::int64_t now = 0;
  for (int i = 0; i < 200; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 20, now += 5);
  }
  EXPECT_EQ(c.limit(), 40);
}

TEST(ConcurrencyLimit, DoesNotGrowWhenLittleOfTheLimitIsUsed) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 256, .initial = 16});
  for (int i = 0; i < 100; ++i) {
    c.on_start();  // one call at a time: no evidence that more would be served as well
    c.on_end(Sample::kOk, 20, i * 20);
  }
  EXPECT_EQ(c.limit(), 16);
}

TEST(ConcurrencyLimit, StopsGrowingWhenLatencyDoublesAndShrinksWhenItExplodes) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 256, .initial = 16});
  std::int64_t now = 0;
  for (int i = 0; i < 10; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 20, now += 5);
  }
  const int grown = c.limit();
  EXPECT_GT(grown, 16);
  // Queueing at the server: latency climbs to 3x, growth stops.
  for (int i = 0; i < 10; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 60, now += 5);
  }
  const int held = c.limit();
  EXPECT_LT(held, grown + 10);
  // Far past the baseline (the server's accept queue overflows): it shrinks.
  for (int i = 0; i < 40; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 2000, now += 200);
  }
  EXPECT_LT(c.limit(), held / 2);
}

TEST(ConcurrencyLimit, AnOverloadBurstIsOneCutAndRepeatedOverloadReachesTheFloor) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 256, .initial = 100, .min = 2});
  fill(c);
  for (int i = 0; i < 20; ++i) c.on_end(Sample::kOverload, 5000, 1000);  // same instant
  EXPECT_EQ(c.limit(), 75);
  for (int i = 0; i < 100; ++i) {
    c.on_start();
    c.on_end(Sample::kOverload, 5000, 2000 + i * 1000);
  }
  EXPECT_EQ(c.limit(), 2);
}

TEST(ConcurrencyLimit, NotAdaptiveMeansTheCap) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 8, .initial = 2, .adaptive = false});
  EXPECT_EQ(c.limit(), 8);
  fill(c);
  c.on_end(Sample::kOverload, 0, 0);
  EXPECT_EQ(c.limit(), 8);
  EXPECT_EQ(c.in_flight(), 7);
}

TEST(ConcurrencyLimit, TheBaselineFollowsAModelThatBecameSlowerForGood) {
  ConcurrencyLimit c(ConcurrencyParams{.max = 256, .initial = 16, .baseline_reset_ms = 1000});
  std::int64_t now = 0;
  for (int i = 0; i < 20; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 10, now += 10);
  }
  // Now every answer takes 30x longer; after a reset the new latency is the baseline and the
  // limit grows again.
  for (int i = 0; i < 40; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 300, now += 100);
  }
  const int after_change = c.limit();
  for (int i = 0; i < 20; ++i) {
    fill(c);
    c.on_end(Sample::kOk, 300, now += 10);
  }
  EXPECT_GT(c.limit(), after_change);
  EXPECT_NEAR(c.baseline_ms(), 300, 1);
}

}  // namespace
}  // namespace switchyard::limit
