#include "switchyard/limit/token_bucket.h"

#include <gtest/gtest.h>

namespace switchyard::limit {
namespace {

TEST(TokenBucket, StartsFullAndBurstsUpToCapacity) {
  TokenBucket b(60, 0);
  EXPECT_EQ(b.available(0), 60);
  for (int i = 0; i < 60; ++i) EXPECT_TRUE(b.try_take(1, 0)) << i;
  EXPECT_FALSE(b.try_take(1, 0));
  EXPECT_EQ(b.available(0), 0);
}

TEST(TokenBucket, RefillsExactlyNPerMinuteWithoutDrift) {
  TokenBucket b(60, 0);
  ASSERT_TRUE(b.try_take(60, 0));
  EXPECT_EQ(b.available(999), 0);
  EXPECT_EQ(b.available(1000), 1);
  EXPECT_EQ(b.level_units(1), 60);  // one millisecond adds exactly per_minute units
  // 7 per minute does not divide 60,000 ms, yet a minute adds exactly 7 after many small steps.
  TokenBucket odd(7, 0);
  ASSERT_TRUE(odd.try_take(7, 0));
  for (std::int64_t t = 1; t <= 60'000; t += 13) EXPECT_FALSE(odd.try_take(8, t));
  EXPECT_EQ(odd.available(60'000), 7);
  EXPECT_EQ(odd.available(59'999), 6);
}

TEST(TokenBucket, NeverRefillsAboveCapacityAfterLongIdle) {
  TokenBucket b(1'000'000, 0);
  ASSERT_TRUE(b.try_take(1, 0));
  EXPECT_EQ(b.available(1'000'000'000'000), 1'000'000);
}

TEST(TokenBucket, SeparateCapacityLimitsTheBurstNotTheRate) {
  TokenBucket b(600, 10, 0);  // 10 per second sustained, burst 10
  EXPECT_TRUE(b.try_take(10, 0));
  EXPECT_FALSE(b.try_take(1, 0));
  EXPECT_EQ(b.available(100), 1);
  EXPECT_EQ(b.available(10'000), 10);
}

TEST(TokenBucket, MsUntilReportsTheExactWaitAndNeverForMoreThanCapacity) {
  TokenBucket b(60, 0);
  ASSERT_TRUE(b.try_take(60, 0));
  EXPECT_EQ(b.ms_until(1, 0), 1000);
  EXPECT_EQ(b.ms_until(3, 500), 2500);
  EXPECT_EQ(b.ms_until(0, 0), 0);
  EXPECT_EQ(b.ms_until(61, 0), kNeverMs);
  TokenBucket zero_rate(0, 5, 0);
  ASSERT_TRUE(zero_rate.try_take(5, 0));
  EXPECT_EQ(zero_rate.ms_until(1, 0), kNeverMs);
}

TEST(TokenBucket, GiveBackReturnsTokensButNeverAboveCapacity) {
  TokenBucket b(100, 0);
  ASSERT_TRUE(b.try_take(40, 0));
  b.give_back(15, 0);
  EXPECT_EQ(b.available(0), 75);
  b.give_back(1000, 0);
  EXPECT_EQ(b.available(0), 100);
}

TEST(TokenBucket, DebtGoesNegativeAndBlocksUntilRepaid) {
  TokenBucket b(60, 0);
  ASSERT_TRUE(b.try_take(60, 0));
  b.take_debt(2, 0);  // used 62 where 60 was estimated
  EXPECT_EQ(b.available(0), 0);
  EXPECT_FALSE(b.try_take(1, 2'000));  // at 2 s the debt is just repaid: level 0
  EXPECT_EQ(b.ms_until(1, 0), 3000);
  EXPECT_TRUE(b.try_take(1, 3'000));
}

TEST(TokenBucket, DebtIsChargedAfterCreditingElapsedTime) {
  TokenBucket b(60, 0);
  ASSERT_TRUE(b.try_take(60, 0));
  b.take_debt(10, 120'000);  // the bucket had refilled to 60 by then
  EXPECT_EQ(b.available(120'000), 50);
}

TEST(TokenBucket, SetLimitCreditsTheOldRateThenAppliesTheNewOne) {
  TokenBucket b(60, 0);
  ASSERT_TRUE(b.try_take(60, 0));
  b.set_limit(120, 1'000);  // 1 token earned at the old rate
  EXPECT_EQ(b.available(1'000), 1);
  EXPECT_EQ(b.available(1'500), 2);  // now 2 per second
  EXPECT_EQ(b.capacity(), 120);
  b.set_limit(1, 1'500);  // a lower capacity cuts the level
  EXPECT_EQ(b.available(1'500), 1);
}

TEST(TokenBucket, DrainUntilBlocksThenRefillsGraduallyFromEmpty) {
  TokenBucket b(60, 0);
  b.drain_until(5'000);
  EXPECT_EQ(b.available(0), 0);
  EXPECT_FALSE(b.try_take(1, 4'999));
  EXPECT_EQ(b.ms_until(1, 0), 6'000);
  EXPECT_EQ(b.available(5'000), 0);
  EXPECT_EQ(b.available(6'000), 1);
  b.give_back(10, 1'000);  // returned during the block: usable only after it
  EXPECT_EQ(b.available(4'000), 0);
  EXPECT_EQ(b.available(5'000), 10);
}

TEST(TokenBucket, TimeGoingBackwardsRefillsNothing) {
  TokenBucket b(60, 10'000);
  ASSERT_TRUE(b.try_take(60, 10'000));
  EXPECT_FALSE(b.try_take(1, 5'000));
  EXPECT_EQ(b.available(11'000), 1);
}

TEST(TokenBucket, NegativeAndHugeInputsAreClamped) {
  TokenBucket b(-5, 0);
  EXPECT_EQ(b.per_minute(), 0);
  TokenBucket big(kMaxAmount * 10, 0);
  EXPECT_EQ(big.capacity(), kMaxAmount);
  EXPECT_TRUE(big.try_take(kMaxAmount, 0));
  EXPECT_EQ(big.available(kMinuteMs), kMaxAmount);
}

// The bound a token bucket gives: capacity + refill within the window. This is why the
// deployment limiter uses SlidingWindowLimit for its per-minute promise.
TEST(TokenBucket, FullBucketCanGrantAlmostTwiceItsLimitInOneMinute) {
  TokenBucket b(100, 0);
  int granted = 0;
  for (std::int64_t t = 0; t < kMinuteMs; ++t)
    while (b.try_take(1, t)) ++granted;
  EXPECT_EQ(granted, 199);
}

}  // namespace
}  // namespace switchyard::limit
