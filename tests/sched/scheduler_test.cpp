// The scheduler with plain values: a config, requests and routes made by hand, time passed in.
// (tests/integration/scheduler_test.cpp runs the same rules through a real worker.)
#include "switchyard/sched/scheduler.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

constexpr std::int64_t kNow = 1'000'000;
constexpr std::int64_t kWall = 1'800'000'000'000;

// Two economy deployments (cheap with a small rpm, pricier with a large one) and a fast and a
// slow workhorse, all explicitly priced.
const char* kYaml = R"(
worker:
  default_tier: economy
routing:
  interactive_reserve: 0.2
deployments:
  - {name: cheap, api_base: "https://a/v1", model: m-cheap, tier: economy, rpm: 10,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
  - {name: pricier, api_base: "https://b/v1", model: m-pricier, tier: economy, rpm: 1000, tpm: 5000,
     input_cost_per_token: 0.000001, output_cost_per_token: 0.000004}
  - {name: fast, api_base: "https://c/v1", model: m-fast, tier: workhorse,
     input_cost_per_token: 0.000002, output_cost_per_token: 0.000008}
  - {name: slow, api_base: "https://d/v1", model: m-slow, tier: workhorse,
     input_cost_per_token: 0.000002, output_cost_per_token: 0.000008}
)";

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : load_(load_config_text(kYaml)) {
    if (!load_.ok()) throw std::runtime_error(load_.problems.front());
    scheduler_ = std::make_unique<Scheduler>(config(), kNow);
  }
  const Config& config() const { return load_.config; }
  const DeploymentConfig* deployment(const std::string& name) const {
    for (const auto& d : config().deployments)
      if (d.name == name) return &d;
    throw std::runtime_error("no deployment " + name);
  }
  RouteDecision route(std::vector<std::string> names) const {
    RouteDecision r;
    for (const auto& n : names) r.candidates.push_back(deployment(n));
    r.tier = r.candidates.front()->tier;
    return r;
  }
  static RequestEvent request(const std::string& id, std::int64_t max_tokens = 16) {
    RequestEvent e;
    e.request_id = id;
    e.team = "t";
    e.messages = {{"user", "hello"}};
    e.max_tokens = max_tokens;
    return e;
  }
  ScheduleChoice choose(PriorityClass cls, const RouteDecision& r, const std::string& id,
                        std::int64_t now = kNow) {
    return scheduler_->choose(request(id), cls, r, nullptr, {}, now, kWall);
  }
  std::string chosen(const ScheduleChoice& c) const {
    return c.decision.dispatches() ? config().deployments[c.decision.index].name : "";
  }
  void answer(std::size_t index, const ScheduleChoice& grant, OutcomeKind kind,
              std::int64_t latency_ms) {
    ProviderOutcome o;
    o.kind = kind;
    o.usage.input_tokens = 10;
    o.usage.output_tokens = 10;
    scheduler_->on_response(index, grant, nullptr, o, latency_ms, kNow);
  }

  ConfigLoad load_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, BackgroundWorkGoesToTheCheapestDeploymentWithHeadroom) {
  const RouteDecision r = route({"pricier", "cheap"});
  // cheap takes 8 background calls a minute: 10 rpm less the 20% kept for interactive work.
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(chosen(choose(PriorityClass::kBackground, r, "b" + std::to_string(i))), "cheap");
  EXPECT_EQ(chosen(choose(PriorityClass::kBackground, r, "b8")), "pricier")
      << "cheap's background share is used up: the backlog goes to the next cheapest";
}

TEST_F(SchedulerTest, InteractiveWorkKeepsItsShareOfEveryRateLimit) {
  const RouteDecision r = route({"cheap"});
  for (int i = 0; i < 8; ++i) choose(PriorityClass::kBackground, r, "b" + std::to_string(i));
  const ScheduleChoice waiting = choose(PriorityClass::kBackground, r, "b8");
  EXPECT_EQ(waiting.decision.kind, PolicyDecision::Kind::kWait)
      << "background waits for headroom instead of eating the interactive reserve";
  EXPECT_GT(waiting.decision.wait_ms, 0);
  EXPECT_EQ(chosen(choose(PriorityClass::kInteractive, r, "i0")), "cheap");
  EXPECT_EQ(chosen(choose(PriorityClass::kInteractive, r, "i1")), "cheap");
  // The whole rpm is used: interactive work falls back along the tier chain instead.
  const ScheduleChoice i2 = choose(PriorityClass::kInteractive, r, "i2");
  ASSERT_TRUE(i2.decision.dispatches());
  EXPECT_EQ(config().deployments[i2.decision.index].tier, "workhorse");
}

TEST_F(SchedulerTest, InteractiveWorkGoesToTheLowerLatencyDeployment) {
  const RouteDecision r = route({"slow", "fast"});
  const std::size_t fast = 2, slow = 3;
  for (int i = 0; i < 10; ++i) {
    answer(fast, {}, OutcomeKind::kOk, 50);
    answer(slow, {}, OutcomeKind::kOk, 2'000);
  }
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(chosen(choose(PriorityClass::kInteractive, r, "i" + std::to_string(i))), "fast");
}

TEST_F(SchedulerTest, ADeploymentThatAnswersUnauthorisedIsNeverChosenAgain) {
  const RouteDecision r = route({"fast", "slow"});
  ResponseEffects effects;
  ProviderOutcome denied;
  denied.kind = OutcomeKind::kAuth;
  denied.http_status = 401;
  effects = scheduler_->on_response(2, {}, nullptr, denied, 10, kNow);
  EXPECT_TRUE(effects.disabled);
  EXPECT_FALSE(scheduler_->usable(2));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(chosen(choose(PriorityClass::kInteractive, r, "i" + std::to_string(i))), "slow");
}

TEST_F(SchedulerTest, RateLimitHeadroomFromTheProviderShrinksWhatTheLimiterGrants) {
  const RouteDecision r = route({"cheap"});
  const ScheduleChoice first = choose(PriorityClass::kBackground, r, "b0");
  ASSERT_EQ(chosen(first), "cheap");
  // The adapter read "x-ratelimit-remaining-requests: 0" (or Anthropic's equivalent).
  ProviderOutcome o;
  o.kind = OutcomeKind::kOk;
  o.remaining_requests = 0;
  scheduler_->on_response(0, first, nullptr, o, 10, kNow);
  EXPECT_EQ(choose(PriorityClass::kBackground, r, "b1").decision.kind, PolicyDecision::Kind::kWait);
}

TEST_F(SchedulerTest, ARequestNoRateLimitCanEverFitEndsNowInsteadOfWaitingForever) {
  // 50,000 tokens against pricier's tpm of 5,000 (4,000 of it for background work).
  const ScheduleChoice never =
      scheduler_->choose(request("huge", 50'000), PriorityClass::kBackground, route({"pricier"}),
                         nullptr, {}, kNow, kWall);
  EXPECT_EQ(never.decision.kind, PolicyDecision::Kind::kNeverFits);
  EXPECT_NE(never.decision.reason.find("can never fit"), std::string::npos)
      << never.decision.reason;
  // A request that fits once the window moves on waits, as before.
  const ScheduleChoice fits = scheduler_->choose(request("ok", 3'000), PriorityClass::kBackground,
                                                 route({"pricier"}), nullptr, {}, kNow, kWall);
  EXPECT_TRUE(fits.decision.dispatches());
  EXPECT_EQ(scheduler_
                ->choose(request("later", 3'000), PriorityClass::kBackground, route({"pricier"}),
                         nullptr, {}, kNow, kWall)
                .decision.kind,
            PolicyDecision::Kind::kWait);
}

}  // namespace
}  // namespace switchyard
