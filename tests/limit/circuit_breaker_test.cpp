#include "switchyard/limit/circuit_breaker.h"

#include <gtest/gtest.h>

namespace switchyard::limit {
namespace {

using State = CircuitBreaker::State;

BreakerParams params() {
  BreakerParams p;
  p.min_failures = 3;
  p.min_failure_rate = 0.5;
  p.window_ms = 10'000;
  p.open_ms = 1'000;
  p.max_open_ms = 3'000;
  return p;
}

TEST(CircuitBreaker, OpensAfterEnoughFailuresInTheWindowAndStopsTraffic) {
  CircuitBreaker b(params());
  b.record_failure(0);
  b.record_failure(100);
  EXPECT_EQ(b.state(100), State::kClosed);
  EXPECT_TRUE(b.allows(100));
  b.record_failure(200);
  EXPECT_EQ(b.state(200), State::kOpen);
  EXPECT_FALSE(b.allows(200));
  EXPECT_EQ(b.ms_until_allowed(200), 1'000);
  EXPECT_EQ(b.times_opened(), 1);
}

TEST(CircuitBreaker, FailuresOutsideTheWindowOrAmongManySuccessesDoNotOpenIt) {
  CircuitBreaker b(params());
  b.record_failure(0);
  b.record_failure(1'000);
  b.record_failure(11'500);  // the first two have left the 10 s window
  EXPECT_EQ(b.state(11'500), State::kClosed);
  CircuitBreaker busy(params());
  for (int i = 0; i < 20; ++i) busy.record_success(100 + i);
  for (int i = 0; i < 5; ++i) busy.record_failure(200 + i);  // 5 of 25: below half
  EXPECT_EQ(busy.state(300), State::kClosed);
}

TEST(CircuitBreaker, HalfOpenLetsExactlyOneProbeThroughAndItsSuccessCloses) {
  CircuitBreaker b(params());
  for (int i = 0; i < 3; ++i) b.record_failure(i);
  EXPECT_EQ(b.state(1'002), State::kHalfOpen);
  EXPECT_TRUE(b.allows(1'002));
  b.on_dispatch(1'002);
  EXPECT_FALSE(b.allows(1'003));  // one probe at a time
  EXPECT_EQ(b.ms_until_allowed(1'003, 150), 150);
  b.record_success(1'050);
  EXPECT_EQ(b.state(1'050), State::kClosed);
  // Closed with a clean slate: two new failures do not reopen it.
  b.record_failure(1'100);
  b.record_failure(1'200);
  EXPECT_EQ(b.state(1'200), State::kClosed);
}

TEST(CircuitBreaker, AFailedProbeReopensForTwiceAsLongUpToTheCap) {
  CircuitBreaker b(params());
  for (int i = 0; i < 3; ++i) b.record_failure(i);  // open until 1'002
  b.on_dispatch(1'002);
  b.record_failure(1'010);  // probe failed: 2'000 ms
  EXPECT_EQ(b.state(1'010), State::kOpen);
  EXPECT_EQ(b.open_until_ms(), 3'010);
  b.on_dispatch(3'010);
  b.record_failure(3'020);  // 3'000 (cap, not 4'000)
  EXPECT_EQ(b.open_until_ms(), 6'020);
  b.on_dispatch(6'020);
  b.record_failure(6'030);
  EXPECT_EQ(b.open_until_ms(), 9'030);
  EXPECT_EQ(b.times_opened(), 4);
}

TEST(CircuitBreaker, ANeutralAnswerFreesTheProbeSlotWithoutClosing) {
  CircuitBreaker b(params());
  for (int i = 0; i < 3; ++i) b.record_failure(i);
  b.on_dispatch(1'002);
  EXPECT_FALSE(b.allows(1'003));
  b.record_neutral();  // e.g. the probe request was too long for the model
  EXPECT_TRUE(b.allows(1'004));
  EXPECT_EQ(b.state(1'004), State::kHalfOpen);
}

TEST(CircuitBreaker, LateAnswersFromBeforeItOpenedChangeNothingWhileOpen) {
  CircuitBreaker b(params());
  for (int i = 0; i < 3; ++i) b.record_failure(i);
  b.record_success(500);  // sent before it opened; the cooldown still holds
  EXPECT_EQ(b.state(500), State::kOpen);
  b.record_failure(600);
  EXPECT_EQ(b.open_until_ms(), 1'002);
}

}  // namespace
}  // namespace switchyard::limit
