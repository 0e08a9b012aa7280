// The scheduler with plain values: a config, requests and routes made by hand, time passed in.
// (tests/integration/scheduler_test.cpp runs the same rules through a real worker.)
#include "switchyard/sched/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

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

// Plain values for the reserve and planner tests: a route over every deployment of the config,
// a small request, and `n` background requests due in five minutes waiting for a plan.
RouteDecision route_over(const Config& config, std::size_t count) {
  RouteDecision r;
  for (std::size_t i = 0; i < count; ++i) r.candidates.push_back(&config.deployments[i]);
  r.tier = "economy";
  return r;
}

RequestEvent small_request(std::int64_t max_tokens = 16) {
  RequestEvent e;
  e.team = "t";
  e.messages = {{"user", "hello"}};
  e.max_tokens = max_tokens;
  return e;
}

struct Waiting {
  std::vector<RequestEvent> events;
  std::vector<WaitingBackground> list;
  Waiting(const RequestEvent& e, int n, const RouteDecision& r) : events(n, e) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      events[i].request_id = "b" + std::to_string(i);
      events[i].deadline_unix_ms = kWall + 5 * 60'000;
      list.push_back({&events[i], &r});
    }
  }
};

std::map<std::pair<int, int>, int> slots_of(const PlanResult& plan) {
  std::map<std::pair<int, int>, int> slots;
  for (const PlannedSlot& s : plan.slots) ++slots[{s.deployment, s.window}];
  return slots;
}

// routing.interactive_reserve_scope: tier. The tier keeps the same reserve in total, held by its
// dearest deployment, so background work may use all of the cheap one.
TEST(SchedulerReserve, ATierScopedReserveIsHeldByTheTiersDearestDeployments) {
  ConfigLoad load = load_config_text(
      std::string(kYaml).replace(std::string(kYaml).find("interactive_reserve: 0.2"), 24,
                                 "interactive_reserve: 0.2\n  interactive_reserve_scope: tier"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const std::vector<ReserveShare> shares = reserve_shares(load.config);
  ASSERT_EQ(shares.size(), 4u);
  EXPECT_EQ(shares[0].rpm, 0) << "cheap holds none of economy's reserve";
  // pricier holds economy's 2 + 200 requests of its 1,000.
  EXPECT_EQ(static_cast<std::int64_t>(std::floor(1000 * shares[1].rpm)), 202);
  // cheap's tpm is unlimited: the tier's tpm reserve needs no share anywhere.
  EXPECT_EQ(shares[0].tpm, 0);
  EXPECT_EQ(shares[1].tpm, 0);
  // The default scope: 20% of each.
  for (const ReserveShare& s : reserve_shares(load_config_text(kYaml).config))
    EXPECT_DOUBLE_EQ(s.rpm, 0.2);

  Scheduler scheduler(load.config, kNow);
  const RouteDecision r = route_over(load.config, 1);
  RequestEvent e = small_request();
  for (int i = 0; i < 10; ++i) {
    e.request_id = "b" + std::to_string(i);
    EXPECT_TRUE(scheduler.choose(e, PriorityClass::kBackground, r, nullptr, {}, kNow, kWall)
                    .decision.dispatches())
        << "background may use all 10 of cheap's requests (" << i << ")";
  }
}

TEST(SchedulerReserve, ADearestDeploymentHoldsAtMostItsWholeLimit) {
  ConfigLoad load = load_config_text(R"(
worker: {default_tier: economy}
routing: {interactive_reserve: 0.2, interactive_reserve_scope: tier}
deployments:
  - {name: cheap, api_base: "https://a/v1", model: a, tier: economy, rpm: 100, tpm: 1000,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
  - {name: dear, api_base: "https://b/v1", model: b, tier: economy, rpm: 5, tpm: 100000,
     input_cost_per_token: 0.000001, output_cost_per_token: 0.000004}
)");
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const std::vector<ReserveShare> shares = reserve_shares(load.config);
  // rpm: 20 + 1 = 21 requests kept; dear holds its 5, cheap the other 16.
  EXPECT_DOUBLE_EQ(shares[1].rpm, 1.0);
  EXPECT_EQ(static_cast<std::int64_t>(std::floor(100 * shares[0].rpm)), 16);
  // tpm: 200 + 20,000 tokens kept, all of it on dear's 100,000.
  EXPECT_EQ(shares[0].tpm, 0);
  EXPECT_EQ(static_cast<std::int64_t>(std::floor(100000 * shares[1].tpm)), 20200);
}

// The planner keeps what interactive work is forecast to take (its mean rate, on the tier's
// cheapest deployments under strategy "cheapest") out of the background's capacity in each
// minute, and the limiter keeps a safety stock of it from greedy choices too.
TEST(SchedulerReserve, ThePlannerLeavesInteractiveWorkItsForecastShare) {
  ConfigLoad load = load_config_text(R"(
worker: {default_tier: economy}
routing: {interactive_reserve: 0, interactive_strategy: cheapest, background_planner: true}
deployments:
  - {name: cheap, api_base: "https://a/v1", model: a, tier: economy, rpm: 20,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
  - {name: dear, api_base: "https://b/v1", model: b, tier: economy, rpm: 1000,
     input_cost_per_token: 0.000001, output_cost_per_token: 0.000004}
)");
  ASSERT_TRUE(load.ok()) << load.problems.front();
  Scheduler scheduler(load.config, kNow);
  const RouteDecision r = route_over(load.config, 2);
  RequestEvent e = small_request();
  for (int i = 0; i < 9; ++i) {
    e.request_id = "i" + std::to_string(i);
    const ScheduleChoice c =
        scheduler.choose(e, PriorityClass::kInteractive, r, nullptr, {}, kNow + i * 1000, kWall);
    ASSERT_TRUE(c.decision.dispatches());
    EXPECT_EQ(c.decision.index, 0u) << "interactive takes the cheapest: " << c.decision.reason;
  }
  // Forecast: 9 in the scheduler's first 9 s, counted over half a minute: 18 a minute, Poisson
  // sd 4.2. A minute of cheap leaves background 20 - 18 = 2; the limiter keeps a safety stock
  // of one sd (5) free of background work: of the 11 free now, background may take 6.
  const Waiting waiting(e, 30, r);
  const std::int64_t now = kNow + 9'000;
  auto slots = slots_of(scheduler.plan_background(waiting.list, now, kWall, 10));
  // Window 0 is now, 1 the rest of this minute, 2 the next minute.
  EXPECT_EQ((slots[{0, 0}]), 2) << "cheap this minute: 20 less the forecast";
  EXPECT_EQ((slots[{0, 1}]), 0);
  EXPECT_EQ((slots[{0, 2}]), 2) << "cheap in the next minute: the same";
  // The limiter keeps the safety stock from greedy choices: 6 grants on cheap now, then waits.
  int granted = 0;
  const RouteDecision cheap_only = route_over(load.config, 1);
  for (int i = 0; i < 12; ++i) {
    e.request_id = "g" + std::to_string(i);
    granted += scheduler.choose(e, PriorityClass::kBackground, cheap_only, nullptr, {}, now, kWall)
                   .decision.dispatches();
  }
  EXPECT_EQ(granted, 6);
}

// A deployment limited by tokens per minute offers the plan as many requests a minute as its
// tpm holds of the waiting work's mean size, not its rpm.
TEST(SchedulerReserve, ThePlannerCountsTokensPerMinuteInRequestsOfTheWaitingWork) {
  ConfigLoad load = load_config_text(R"(
worker: {default_tier: economy}
routing: {interactive_reserve: 0, background_planner: true}
deployments:
  - {name: cheap, api_base: "https://a/v1", model: a, tier: economy, rpm: 1000, tpm: 10000,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
  - {name: dear, api_base: "https://b/v1", model: b, tier: economy, rpm: 1000,
     input_cost_per_token: 0.000001, output_cost_per_token: 0.000004}
)");
  ASSERT_TRUE(load.ok()) << load.problems.front();
  Scheduler scheduler(load.config, kNow);
  const RouteDecision r = route_over(load.config, 2);
  RequestEvent e = small_request();
  e.max_tokens = 1000 - estimate_input_tokens(e);  // 1,000 tokens each
  const Waiting waiting(e, 30, r);
  auto slots = slots_of(scheduler.plan_background(waiting.list, kNow, kWall, 10));
  EXPECT_EQ((slots[{0, 0}]), 10) << "10,000 tokens a minute of 1,000-token requests";
  EXPECT_EQ((slots[{0, 2}]), 10);
  EXPECT_EQ((slots[{0, 3}]), 10);
  EXPECT_EQ(slots.count({1, 0}), 0u) << "the deadline allows waiting for the cheap one";
}

}  // namespace
}  // namespace switchyard
