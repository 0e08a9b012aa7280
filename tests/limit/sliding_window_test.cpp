#include "switchyard/limit/sliding_window.h"

#include <gtest/gtest.h>

#include <deque>

namespace switchyard::limit {
namespace {

TEST(SlidingWindowLimit, FullLimitCanBeUsedInOneBurst) {
  SlidingWindowLimit w(100, 0);
  EXPECT_TRUE(w.try_take(100, 0));
  EXPECT_FALSE(w.try_take(1, 0));
  EXPECT_EQ(w.available(0), 0);
}

TEST(SlidingWindowLimit, UsageLeavesTheWindowBetween60And60Point25SecondsLater) {
  SlidingWindowLimit w(10, 0);
  ASSERT_TRUE(w.try_take(10, 100));  // slot [0, 250)
  EXPECT_EQ(w.available(60'099), 0);
  EXPECT_EQ(w.available(60'249), 0);
  EXPECT_EQ(w.available(60'250), 10);
  EXPECT_EQ(w.ms_until(1, 100), 60'150);
}

TEST(SlidingWindowLimit, MsUntilFindsTheFirstSlotWhoseReleaseIsEnough) {
  SlidingWindowLimit w(10, 0);
  ASSERT_TRUE(w.try_take(4, 0));
  ASSERT_TRUE(w.try_take(6, 10'000));
  EXPECT_EQ(w.ms_until(4, 20'000), 60'250 - 20'000);
  EXPECT_EQ(w.ms_until(5, 20'000), 70'250 - 20'000);
  EXPECT_EQ(w.ms_until(11, 20'000), kNeverMs);
  EXPECT_EQ(w.ms_until(0, 20'000), 0);
}

// The product's promise, checked directly: at 1 ms steps for five minutes, greedy takers never
// get more than the limit into any 60,000 ms window.
TEST(SlidingWindowLimit, NoSixtySecondWindowEverHoldsMoreThanTheLimit) {
  constexpr std::int64_t kLimit = 50;
  SlidingWindowLimit w(kLimit, 0);
  std::deque<std::int64_t> grants;  // times of grants inside the trailing window
  std::int64_t total = 0;
  for (std::int64_t t = 0; t < 5 * kMinuteMs; ++t) {
    while (grants.size() > 0 && grants.front() <= t - kMinuteMs) grants.pop_front();
    while (w.try_take(1, t)) {
      grants.push_back(t);
      ++total;
    }
    ASSERT_LE(static_cast<std::int64_t>(grants.size()), kLimit) << "window ending at " << t;
  }
  // And the limit is not wasted: close to 5 x 50 grants (one burst per 60.25 s).
  EXPECT_GE(total, 5 * kLimit - kLimit);
}

TEST(SlidingWindowLimit, ReserveKeepsTheLastPartForWhoeverMayUseIt) {
  SlidingWindowLimit w(10, 0);
  EXPECT_TRUE(w.try_take(8, 0, 2));
  EXPECT_FALSE(w.try_take(1, 0, 2));
  EXPECT_TRUE(w.try_take(2, 0));
}

TEST(SlidingWindowLimit, GiveBackCreditsTheSlotOfTheOriginalTake) {
  SlidingWindowLimit w(100, 0);
  ASSERT_TRUE(w.try_take(60, 0));
  ASSERT_TRUE(w.try_take(40, 30'000));
  w.give_back(50, 0, 40'000);  // the take at 0 used 10, not 60
  EXPECT_EQ(w.available(40'000), 50);
  // The remaining 10 of the first take still leaves at 60.25 s, the 40 at 90.25 s.
  EXPECT_EQ(w.available(60'250), 60);
  EXPECT_EQ(w.available(90'250), 100);
}

TEST(SlidingWindowLimit, GiveBackAfterTheTakeLeftTheWindowIsIgnored) {
  SlidingWindowLimit w(100, 0);
  ASSERT_TRUE(w.try_take(60, 0));
  ASSERT_TRUE(w.try_take(100, 70'000));
  w.give_back(50, 0, 80'000);
  EXPECT_EQ(w.available(80'000), 0);
}

TEST(SlidingWindowLimit, RecordedDebtCanExceedTheLimitAndBlocksUntilReleased) {
  SlidingWindowLimit w(10, 0);
  ASSERT_TRUE(w.try_take(10, 0));
  w.record(5, 1'000);
  EXPECT_EQ(w.used(1'000), 15);
  EXPECT_EQ(w.available(60'249), 0);
  EXPECT_EQ(w.available(60'250), 5);  // the 5 recorded at 1 s are still in the window
  EXPECT_EQ(w.available(61'250), 10);
}

TEST(SlidingWindowLimit, LowerAvailableNeverRaisesAndReleasesAtTheGivenTime) {
  SlidingWindowLimit w(100, 0);
  ASSERT_TRUE(w.try_take(10, 0));
  w.lower_available_to(500, std::nullopt, 0);  // the provider has more than we think: no change
  EXPECT_EQ(w.available(0), 90);
  w.lower_available_to(30, 5'000, 0);
  EXPECT_EQ(w.available(0), 30);
  EXPECT_EQ(w.available(4'999), 30);
  EXPECT_EQ(w.available(5'000), 90);
  w.lower_available_to(0, std::nullopt, 6'000);  // no reset time: held a full window
  EXPECT_EQ(w.available(60'000), 0);
  EXPECT_EQ(w.available(60'250), 10);  // the take at 0 left; the lowering at 6 s has not
  EXPECT_EQ(w.available(66'250), 100);
}

TEST(SlidingWindowLimit, LowerLimitKeepsRecordedUsage) {
  SlidingWindowLimit w(100, 0);
  ASSERT_TRUE(w.try_take(50, 0));
  w.set_limit(25);
  EXPECT_EQ(w.available(0), 0);
  EXPECT_EQ(w.available(60'250), 25);
}

TEST(SlidingWindowLimit, TimeGoingBackwardsHoldsUsageInTheNewestSlot) {
  SlidingWindowLimit w(10, 0);
  ASSERT_TRUE(w.try_take(5, 10'000));
  ASSERT_TRUE(w.try_take(5, 1'000));  // earlier than already seen: recorded at 10 s
  EXPECT_EQ(w.available(61'000), 0);
  EXPECT_EQ(w.available(70'250), 10);
}

TEST(SlidingWindowLimit, LongIdleClearsEverything) {
  SlidingWindowLimit w(10, 0);
  ASSERT_TRUE(w.try_take(10, 0));
  EXPECT_TRUE(w.try_take(10, 10 * kMinuteMs));
  EXPECT_EQ(w.used(10 * kMinuteMs), 10);
}

}  // namespace
}  // namespace switchyard::limit
