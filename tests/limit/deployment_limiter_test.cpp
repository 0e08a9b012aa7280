#include "switchyard/limit/deployment_limiter.h"

#include <gtest/gtest.h>

#include <deque>
#include <limits>
#include <stdexcept>
#include <string>

namespace switchyard::limit {
namespace {

constexpr auto kInteractive = PriorityClass::kInteractive;
constexpr auto kBackground = PriorityClass::kBackground;

DeploymentLimits limits(std::int64_t rpm, std::int64_t tpm, double reserve = 0.0) {
  DeploymentLimits l;
  l.rpm = rpm;
  l.tpm = tpm;
  l.interactive_reserve = reserve;
  return l;
}

TEST(DeploymentLimiter, GrantsBothRequestAndTokensAndReportsNoReason) {
  DeploymentLimiter d(limits(10, 1000), 0);
  Admission a = d.try_acquire(kInteractive, 300, 0);
  EXPECT_TRUE(a.granted);
  EXPECT_EQ(a.retry_after_ms, 0);
  EXPECT_STREQ(a.reason_text(), "");
  EXPECT_EQ(d.requests().used(0), 1);
  EXPECT_EQ(d.tokens().used(0), 300);
}

TEST(DeploymentLimiter, RequestsPerMinuteBlockWithReasonRpmAndTheWait) {
  DeploymentLimiter d(limits(3, 0), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(d.try_acquire(kInteractive, 10, 1'000).granted);
  Admission a = d.try_acquire(kInteractive, 10, 2'000);
  EXPECT_FALSE(a.granted);
  EXPECT_STREQ(a.reason_text(), "rpm");
  EXPECT_EQ(a.retry_after_ms, 61'250 - 2'000);
  EXPECT_TRUE(d.try_acquire(kInteractive, 10, 2'000 + a.retry_after_ms).granted);
}

TEST(DeploymentLimiter, AcquiresBothOrNeither) {
  DeploymentLimiter d(limits(10, 1000), 0);
  ASSERT_TRUE(d.try_acquire(kInteractive, 900, 0).granted);
  Admission a = d.try_acquire(kInteractive, 200, 0);  // a request is left, tokens are not
  EXPECT_FALSE(a.granted);
  EXPECT_STREQ(a.reason_text(), "tpm");
  EXPECT_EQ(d.requests().used(0), 1);  // the request was not taken either
  EXPECT_EQ(d.tokens().used(0), 900);
  EXPECT_TRUE(d.try_acquire(kInteractive, 100, 0).granted);
}

TEST(DeploymentLimiter, EstimateLargerThanTheTokenLimitCanNeverBeGranted) {
  DeploymentLimiter d(limits(10, 1000), 0);
  Admission a = d.try_acquire(kInteractive, 1001, 0);
  EXPECT_FALSE(a.granted);
  EXPECT_EQ(a.retry_after_ms, kNeverMs);
  EXPECT_STREQ(a.reason_text(), "tpm");
  EXPECT_EQ(d.ms_until_headroom(kInteractive, 1001, 0), kNeverMs);
}

TEST(DeploymentLimiter, UnlimitedLimitsAlwaysGrantOutsideCooldown) {
  DeploymentLimiter d(limits(0, 0), 0);
  for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(d.try_acquire(kBackground, 1'000'000, 0).granted);
  DeploymentLimiter rpm_only(limits(2, 0), 0);
  EXPECT_TRUE(rpm_only.try_acquire(kInteractive, 1'000'000'000, 0).granted);
  EXPECT_TRUE(rpm_only.try_acquire(kInteractive, 1'000'000'000, 0).granted);
  EXPECT_FALSE(rpm_only.try_acquire(kInteractive, 0, 0).granted);
  DeploymentLimiter tpm_only(limits(0, 100), 0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(tpm_only.try_acquire(kInteractive, 0, 0).granted);
  EXPECT_FALSE(tpm_only.try_acquire(kInteractive, 101, 0).granted);
}

// The promise in DESIGN.md: a stream of attempts every millisecond for several minutes, mixing
// classes and token sizes with corrections, never puts more than the RPM into any 60 s window.
TEST(DeploymentLimiter, NeverGrantsMoreThanRpmInAnySixtySecondWindow) {
  constexpr std::int64_t kRpm = 120;
  DeploymentLimiter d(limits(kRpm, 50'000, 0.2), 0);
  std::deque<std::int64_t> grants;
  std::int64_t total = 0;
  for (std::int64_t t = 0; t < 4 * kMinuteMs; ++t) {
    while (!grants.empty() && grants.front() <= t - kMinuteMs) grants.pop_front();
    const auto cls = t % 3 == 0 ? kInteractive : kBackground;
    Admission a = d.try_acquire(cls, 100 + t % 300, t);
    if (a.granted) {
      grants.push_back(t);
      ++total;
      d.settle(a, 50 + t % 500, t);
    }
    ASSERT_LE(static_cast<std::int64_t>(grants.size()), kRpm) << "window ending at " << t;
  }
  EXPECT_GT(total, 3 * kRpm);  // and the limit is actually used
}

TEST(DeploymentLimiter, NeverGrantsMoreThanTpmInAnySixtySecondWindowCountingCorrections) {
  constexpr std::int64_t kTpm = 10'000;
  DeploymentLimiter d(limits(0, kTpm), 0);
  struct Use {
    std::int64_t at_ms;
    std::int64_t tokens;
  };
  std::deque<Use> uses;  // actual usage, at grant time (the provider counts it then)
  std::int64_t in_window = 0;
  for (std::int64_t t = 0; t < 4 * kMinuteMs; t += 7) {
    while (!uses.empty() && uses.front().at_ms <= t - kMinuteMs) {
      in_window -= uses.front().tokens;
      uses.pop_front();
    }
    Admission a = d.try_acquire(kInteractive, 400, t);
    if (!a.granted) continue;
    const std::int64_t actual = (t / 7) % 2 == 0 ? 150 : 400;  // overestimates only
    d.settle(a, actual, t + 3);
    uses.push_back({t, actual});
    in_window += actual;
    ASSERT_LE(in_window, kTpm) << "window ending at " << t;
  }
}

TEST(DeploymentLimiter, BackgroundCannotUseTheInteractiveReserve) {
  DeploymentLimiter d(limits(10, 10'000, 0.2), 0);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(d.try_acquire(kBackground, 100, 0).granted) << i;
  Admission bg = d.try_acquire(kBackground, 100, 0);
  EXPECT_FALSE(bg.granted);
  EXPECT_STREQ(bg.reason_text(), "rpm");
  EXPECT_FALSE(d.has_headroom(kBackground, 100, 0));
  EXPECT_TRUE(d.has_headroom(kInteractive, 100, 0));
  EXPECT_TRUE(d.try_acquire(kInteractive, 100, 0).granted);
  EXPECT_TRUE(d.try_acquire(kInteractive, 100, 0).granted);
  EXPECT_FALSE(d.try_acquire(kInteractive, 100, 0).granted);
}

TEST(DeploymentLimiter, BackgroundTokensStopAtTheReserveToo) {
  DeploymentLimiter d(limits(0, 1'000, 0.25), 0);
  EXPECT_TRUE(d.try_acquire(kBackground, 750, 0).granted);
  EXPECT_FALSE(d.try_acquire(kBackground, 1, 0).granted);
  EXPECT_TRUE(d.try_acquire(kInteractive, 250, 0).granted);
  EXPECT_EQ(d.ms_until_headroom(kBackground, 751, 0), kNeverMs);  // more than it may ever see
}

TEST(DeploymentLimiter, SettleGivesBackAnOverestimate) {
  DeploymentLimiter d(limits(0, 1'000), 0);
  Admission a = d.try_acquire(kInteractive, 800, 0);
  ASSERT_TRUE(a.granted);
  EXPECT_FALSE(d.has_headroom(kInteractive, 500, 1'000));
  d.settle(a, 200, 1'000);
  EXPECT_EQ(d.tokens().used(1'000), 200);
  EXPECT_TRUE(d.try_acquire(kInteractive, 800, 1'000).granted);
}

TEST(DeploymentLimiter, SettleChargesAnUnderestimate) {
  DeploymentLimiter d(limits(0, 1'000), 0);
  Admission a = d.try_acquire(kInteractive, 100, 0);
  ASSERT_TRUE(a.granted);
  d.settle(a, 1'200, 2'000);
  EXPECT_EQ(d.tokens().used(2'000), 1'200);
  Admission next = d.try_acquire(kInteractive, 1, 2'000);
  EXPECT_FALSE(next.granted);
  EXPECT_STREQ(next.reason_text(), "tpm");
  EXPECT_EQ(next.retry_after_ms, 62'250 - 2'000);  // the extra 1,100 leave 60.25 s after 2 s
}

TEST(DeploymentLimiter, SettleOfADeniedAdmissionChangesNothing) {
  DeploymentLimiter d(limits(0, 100), 0);
  ASSERT_TRUE(d.try_acquire(kInteractive, 100, 0).granted);
  Admission denied = d.try_acquire(kInteractive, 50, 0);
  ASSERT_FALSE(denied.granted);
  d.settle(denied, 0, 0);
  EXPECT_EQ(d.tokens().used(0), 100);
}

TEST(DeploymentLimiter, RateLimitedWithRetryAfterBlocksEverythingUntilThen) {
  DeploymentLimiter d(limits(0, 0), 0);
  d.on_rate_limited(5'000, 1'000);
  Admission a = d.try_acquire(kInteractive, 1, 1'000);
  EXPECT_FALSE(a.granted);
  EXPECT_STREQ(a.reason_text(), "cooldown");
  EXPECT_EQ(a.retry_after_ms, 5'000);
  EXPECT_FALSE(d.has_headroom(kInteractive, 1, 5'999));
  EXPECT_TRUE(d.try_acquire(kInteractive, 1, 6'000).granted);
}

TEST(DeploymentLimiter, RateLimitedWithoutRetryAfterBacksOffDoublingUpToTheCap) {
  DeploymentLimits l = limits(100, 0);
  l.default_backoff_ms = 1'000;
  l.max_backoff_ms = 5'000;
  DeploymentLimiter d(l, 0);
  std::int64_t now = 0;
  for (std::int64_t expected : {1'000, 2'000, 4'000, 5'000, 5'000}) {
    d.on_rate_limited(std::nullopt, now);
    EXPECT_EQ(d.ms_until_headroom(kInteractive, 0, now), expected);
    now += expected;
  }
  d.on_success();
  d.on_rate_limited(std::nullopt, now);
  EXPECT_EQ(d.ms_until_headroom(kInteractive, 0, now), 1'000);
}

TEST(DeploymentLimiter, CooldownOnlyExtends) {
  DeploymentLimiter d(limits(0, 0), 0);
  d.on_rate_limited(10'000, 0);
  d.on_rate_limited(1'000, 0);
  EXPECT_EQ(d.cooldown_until_ms(), 10'000);
}

TEST(DeploymentLimiter, LongestWaitNamesTheReason) {
  DeploymentLimiter d(limits(1, 0), 0);
  ASSERT_TRUE(d.try_acquire(kInteractive, 0, 0).granted);
  d.on_rate_limited(1'000, 0);  // rpm frees at 60.25 s, later than the cooldown
  Admission a = d.try_acquire(kInteractive, 0, 0);
  EXPECT_STREQ(a.reason_text(), "rpm");
  EXPECT_EQ(a.retry_after_ms, 60'250);
}

TEST(DeploymentLimiter, HeadersLowerAvailabilityButNeverRaiseIt) {
  DeploymentLimiter d(limits(100, 10'000), 0);
  ASSERT_TRUE(d.try_acquire(kInteractive, 1'000, 0).granted);
  d.on_headers(5'000, 50'000, std::nullopt, 0);  // provider has more requests left: ignored
  EXPECT_EQ(d.requests().available(0), 99);
  EXPECT_EQ(d.tokens().available(0), 9'000);
  d.on_headers(2, 500, 3'000, 0);
  EXPECT_EQ(d.requests().available(0), 2);
  EXPECT_EQ(d.tokens().available(0), 500);
  EXPECT_FALSE(d.has_headroom(kInteractive, 600, 0));
  EXPECT_EQ(d.ms_until_headroom(kInteractive, 600, 0), 3'000);  // the provider's reset
}

TEST(DeploymentLimiter, HeadersAreScaledByTheShare) {
  DeploymentLimiter d(limits(100, 0), 0);
  d.set_share(0.25);
  d.on_headers(20, std::nullopt, std::nullopt, 0);
  EXPECT_EQ(d.requests().available(0), 5);
}

TEST(DeploymentLimiter, HeadersForAnUnlimitedDimensionAreIgnored) {
  DeploymentLimiter d(limits(0, 0), 0);
  d.on_headers(0, 0, std::nullopt, 0);
  EXPECT_TRUE(d.has_headroom(kBackground, 1'000, 0));
}

TEST(DeploymentLimiter, ShareGivesThisWorkerItsPartOfTheLimitsRoundedDown) {
  DeploymentLimiter d(limits(100, 10'001, 0.2), 0);
  d.set_share(0.25);
  EXPECT_EQ(d.effective_rpm(), 25);
  EXPECT_EQ(d.effective_tpm(), 2'500);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(d.try_acquire(kBackground, 0, 0).granted) << i;
  EXPECT_FALSE(d.try_acquire(kBackground, 0, 0).granted);  // 25 x 0.8 = 20 for background
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(d.try_acquire(kInteractive, 0, 0).granted) << i;
  EXPECT_FALSE(d.try_acquire(kInteractive, 0, 0).granted);
  d.set_share(0.29);
  EXPECT_EQ(d.effective_rpm(), 29);  // 100 x 0.29 is 28.999... in double
}

TEST(DeploymentLimiter, ShareIsClampedAndZeroShareGrantsNothing) {
  DeploymentLimiter d(limits(100, 0), 0);
  d.set_share(7.0);
  EXPECT_EQ(d.effective_rpm(), 100);
  d.set_share(-1.0);
  EXPECT_EQ(d.effective_rpm(), 0);
  EXPECT_EQ(d.ms_until_headroom(kInteractive, 0, 0), kNeverMs);
  d.set_share(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(d.share(), 0.0);
}

TEST(DeploymentLimiter, LoweringTheShareKeepsWhatWasAlreadyUsed) {
  DeploymentLimiter d(limits(100, 0), 0);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(d.try_acquire(kInteractive, 0, 0).granted);
  d.set_share(0.5);
  EXPECT_FALSE(d.has_headroom(kInteractive, 0, 0));
  EXPECT_TRUE(d.has_headroom(kInteractive, 0, 60'250));
}

TEST(DeploymentLimiter, FleetSlotsAddUpToExactlyTheConfiguredLimit) {
  for (int workers : {1, 2, 3, 4, 7, 40}) {
    std::int64_t rpm = 0, tpm = 0;
    for (int k = 0; k < workers; ++k) {
      DeploymentLimiter d(limits(30, 10'001), 0);
      d.set_fleet_slot(k, workers, 0, 62'000);  // shrinking from the full limit: applies now
      rpm += d.effective_rpm();
      tpm += d.effective_tpm();
    }
    EXPECT_EQ(rpm, 30) << workers << " workers";
    EXPECT_EQ(tpm, 10'001) << workers << " workers";
  }
}

TEST(DeploymentLimiter, FleetSlotShrinksAtOnceButGrowsOnlyAfterTheWindow) {
  DeploymentLimiter d(limits(30, 0), 0);
  d.set_fleet_slot(0, 3, 0, 62'000);
  EXPECT_EQ(d.effective_rpm(), 10);
  d.set_fleet_slot(0, 2, 1'000, 62'000);  // a worker left: its grants are still in the window
  EXPECT_EQ(d.effective_rpm(), 10);
  d.advance(62'999);
  EXPECT_EQ(d.effective_rpm(), 10);
  d.advance(63'000);
  EXPECT_EQ(d.effective_rpm(), 15);
  d.set_fleet_slot(1, 4, 64'000, 62'000);  // two joined: 30 / 4 = 7 rem 2, ordinal 1 gets 8
  EXPECT_EQ(d.effective_rpm(), 8);
  d.advance(200'000);
  EXPECT_EQ(d.effective_rpm(), 8);  // nothing was pending
}

TEST(DeploymentLimiter, WarmUpGrantsNothingLimitedUntilItEndsAndSaysWhy) {
  DeploymentLimiter d(limits(30, 0), 0);
  d.warm_up(62'000);
  Admission a = d.try_acquire(kInteractive, 0, 1'000);
  EXPECT_FALSE(a.granted);
  EXPECT_EQ(a.retry_after_ms, 61'000);
  EXPECT_STREQ(a.reason_text(), "fleet warm-up");
  EXPECT_TRUE(d.try_acquire(kInteractive, 0, 62'000).granted);
  DeploymentLimiter unlimited(limits(0, 0), 0);
  unlimited.warm_up(62'000);
  EXPECT_TRUE(unlimited.try_acquire(kInteractive, 0, 0).granted);  // nothing to over-grant
}

TEST(DeploymentLimiter, HasHeadroomHasNoSideEffects) {
  DeploymentLimiter d(limits(1, 100), 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(d.has_headroom(kInteractive, 100, 0));
  EXPECT_TRUE(d.try_acquire(kInteractive, 100, 0).granted);
}

TEST(DeploymentLimiter, InvalidLimitsAreRejectedWithAMessage) {
  DeploymentLimits l = limits(-1, 0, 1.5);
  const std::string problems = validate(l);
  EXPECT_NE(problems.find("rpm"), std::string::npos);
  EXPECT_NE(problems.find("interactive_reserve"), std::string::npos);
  EXPECT_THROW(DeploymentLimiter(l, 0), std::invalid_argument);
  EXPECT_EQ(validate(limits(10, 10, 0.2)), "");
}

}  // namespace
}  // namespace switchyard::limit
