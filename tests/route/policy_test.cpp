#include "switchyard/route/policy.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>

namespace switchyard {
namespace {

using Kind = PolicyDecision::Kind;

// Deployments live in a deque so the pointers in CandidateView stay valid as the test adds more.
class PolicyTest : public ::testing::Test {
 protected:
  CandidateView& add(std::string name, int rank, Picodollars cost = 0, std::string region = "us",
                     std::int64_t window = 128000) {
    DeploymentConfig& d = deployments_.emplace_back();
    d.name = std::move(name);
    d.group = d.name + "-group";
    d.model = d.name + "-model";
    static const char* kTiers[] = {"economy", "workhorse", "frontier"};
    d.tier = kTiers[rank];
    d.region = std::move(region);
    d.context_window = window;
    CandidateView& c = candidates_.emplace_back();
    c.index = candidates_.size() - 1;
    c.deployment = &d;
    c.tier_rank = rank;
    c.estimated_cost = cost;
    return c;
  }
  CandidateView& sampled(std::string name, double ewma, double p95, std::int64_t samples = 50) {
    CandidateView& c = add(std::move(name), 1);
    c.latency_ewma_ms = ewma;
    c.latency_p95_ms = p95;
    c.samples = samples;
    return c;
  }
  void no_headroom(CandidateView& c, std::int64_t ms) {
    c.has_headroom = false;
    c.ms_until_headroom = ms;
  }
  std::string name(const PolicyDecision& d) const { return deployments_[d.index].name; }
  std::span<const CandidateView> all() const {
    view_.assign(candidates_.begin(), candidates_.end());
    return view_;
  }
  // How often each deployment is chosen over `n` request ids.
  std::map<std::string, int> interactive_counts(int n, const InteractiveParams& params = {}) {
    std::map<std::string, int> counts;
    auto cs = all();
    for (int i = 0; i < n; ++i) {
      PolicyDecision d = choose_interactive(cs, request_hash("req-" + std::to_string(i)), params);
      EXPECT_EQ(d.kind, Kind::kDispatch);
      ++counts[name(d)];
    }
    return counts;
  }

  std::deque<DeploymentConfig> deployments_;
  std::deque<CandidateView> candidates_;
  mutable std::vector<CandidateView> view_;
};

// ---- background ----

TEST_F(PolicyTest, BackgroundPicksCheapestWithHeadroom) {
  no_headroom(add("cheapest-busy", 0, 10), 5000);
  add("second", 0, 20);
  add("third", 0, 30);
  add("frontier", 2, 5);  // cheaper, but above the normal ranks: never used without a deadline
  add("unpriced", 0, 0).price_known = false;  // unknown price is never assumed cheap
  BackgroundRequest req;
  req.now_ms = 1000;
  PolicyDecision d = choose_background(all(), req);
  ASSERT_EQ(d.kind, Kind::kDispatch) << d.reason;
  EXPECT_EQ(name(d), "second");
  EXPECT_EQ(d.reason, "background: cheapest with headroom at rank 0: second ($0.00000000002)");
}

TEST_F(PolicyTest, BackgroundUsesUnpricedDeploymentOnlyWhenNoPricedOneQualifies) {
  no_headroom(add("priced", 0, 10), 5000);
  add("unpriced", 0, 0).price_known = false;
  PolicyDecision d = choose_background(all(), BackgroundRequest{});
  ASSERT_EQ(d.kind, Kind::kDispatch);
  EXPECT_EQ(name(d), "unpriced");
  EXPECT_NE(d.reason.find("price unknown"), std::string::npos);
}

TEST_F(PolicyTest, BackgroundWaitsForHeadroomInsteadOfPayingMore) {
  no_headroom(add("eco-a", 0, 10), 3000);
  no_headroom(add("eco-b", 0, 12), 1200);
  add("frontier", 2, 100);  // has headroom, costs ten times more
  BackgroundRequest req;
  req.now_ms = 50'000;
  PolicyDecision d = choose_background(all(), req);
  ASSERT_EQ(d.kind, Kind::kWait) << d.reason;
  EXPECT_EQ(d.wait_ms, 1200);  // bounded by the shortest ms_until_headroom
  EXPECT_EQ(d.reason,
            "background: no headroom at rank 0; waiting 1,200 ms for eco-b instead of paying more");
}

TEST_F(PolicyTest, BackgroundWaitIsCappedSoTheRequestIsLookedAtAgain) {
  no_headroom(add("eco", 0, 10), 600'000);
  BackgroundRequest req;
  req.max_wait_ms = 30'000;
  PolicyDecision d = choose_background(all(), req);
  ASSERT_EQ(d.kind, Kind::kWait);
  EXPECT_EQ(d.wait_ms, 30'000);
}

TEST_F(PolicyTest, BackgroundEscalatesOnlyWhenDeadlineWouldBeMissed) {
  no_headroom(add("eco", 0, 10), 1200);
  add("workhorse", 1, 50);
  add("frontier", 2, 100);
  BackgroundRequest req;
  req.now_ms = 100'000;
  req.estimated_service_ms = 2000;

  req.deadline_ms = req.now_ms + 10'000;  // 1,200 wait + 2,000 service fits
  PolicyDecision relaxed = choose_background(all(), req);
  EXPECT_EQ(relaxed.kind, Kind::kWait) << relaxed.reason;
  EXPECT_EQ(relaxed.wait_ms, 1200);

  req.deadline_ms = req.now_ms + 3'200;  // exactly fits: still waits
  EXPECT_EQ(choose_background(all(), req).kind, Kind::kWait);

  req.deadline_ms = req.now_ms + 3'000;  // 1,200 + 2,000 > 3,000: escalate, cheapest higher rank
  PolicyDecision urgent = choose_background(all(), req);
  ASSERT_EQ(urgent.kind, Kind::kEscalate) << urgent.reason;
  EXPECT_EQ(name(urgent), "workhorse");
  EXPECT_EQ(
      urgent.reason,
      "background: escalated: deadline in 3,000 ms; waiting 1,200 ms + 2,000 ms service would "
      "miss it -> workhorse (rank 1, $0.00000000005)");
}

TEST_F(PolicyTest, BackgroundAtRiskWithNothingToEscalateToWaitsUntilAtMostTheDeadline) {
  no_headroom(add("eco", 0, 10), 5000);
  no_headroom(add("frontier", 2, 100), 5000);
  BackgroundRequest req;
  req.now_ms = 0;
  req.deadline_ms = 2000;
  PolicyDecision d = choose_background(all(), req);
  ASSERT_EQ(d.kind, Kind::kWait) << d.reason;
  EXPECT_EQ(d.wait_ms, 2000);
  EXPECT_NE(d.reason.find("no higher-rank deployment has headroom"), std::string::npos);
}

TEST_F(PolicyTest, BackgroundPastDeadlineIsDeadlineExceeded) {
  add("eco", 0, 10);  // plenty of headroom: still not worth calling
  BackgroundRequest req;
  req.now_ms = 10'500;
  req.deadline_ms = 10'000;
  PolicyDecision d = choose_background(all(), req);
  EXPECT_EQ(d.kind, Kind::kDeadlineExceeded);
  EXPECT_EQ(d.reason, "background: deadline passed 500 ms ago");
  req.now_ms = 10'000;  // at the deadline counts as past
  EXPECT_EQ(choose_background(all(), req).kind, Kind::kDeadlineExceeded);
}

TEST_F(PolicyTest, BackgroundSkipsUnhealthyAndCoolingDeployments) {
  add("eco-sick", 0, 1).healthy = false;
  add("eco-cooling", 0, 2).in_cooldown = true;
  add("eco-ok", 0, 3);
  PolicyDecision d = choose_background(all(), BackgroundRequest{});
  ASSERT_EQ(d.kind, Kind::kDispatch);
  EXPECT_EQ(name(d), "eco-ok");
}

TEST_F(PolicyTest, BackgroundRespectsTheQualityFloor) {
  add("eco", 0, 1);
  add("workhorse", 1, 50);
  BackgroundRequest req;
  req.quality_floor = 1;
  PolicyDecision d = choose_background(all(), req);
  ASSERT_EQ(d.kind, Kind::kDispatch);
  EXPECT_EQ(name(d), "workhorse");
  req.quality_floor = 3;
  EXPECT_EQ(choose_background(all(), req).kind, Kind::kNoCandidate);
}

// ---- interactive ----

TEST_F(PolicyTest, InteractivePicksLowestLatency) {
  sampled("slow", 300, 350);
  sampled("fast", 120, 140);
  sampled("slower", 500, 600);
  PolicyDecision d = choose_interactive(all(), request_hash("r1"));
  ASSERT_EQ(d.kind, Kind::kDispatch);
  EXPECT_EQ(name(d), "fast");
  EXPECT_EQ(d.reason,
            "interactive: lowest latency fast (score 130 ms: ewma 120, p95 140, 50 samples)");
}

// routing.interactive_strategy: cheapest. The cheapest deployment meeting its latency target
// wins over a faster, dearer one; a cheaper one over its target does not.
TEST_F(PolicyTest, InteractiveCheapestTakesTheCheapestDeploymentMeetingItsTarget) {
  InteractiveParams params;
  params.cheapest_on_target = true;
  CandidateView& fast_dear = sampled("fast-dear", 100, 120);
  fast_dear.estimated_cost = 500;
  CandidateView& slow_cheap = sampled("slow-cheap", 900, 1000);
  slow_cheap.estimated_cost = 100;
  CandidateView& cheapest_late = sampled("cheapest-late", 4000, 5000);
  cheapest_late.estimated_cost = 10;
  cheapest_late.over_latency_target = true;
  PolicyDecision d = choose_interactive(all(), request_hash("r1"), params);
  ASSERT_EQ(d.kind, Kind::kDispatch);
  EXPECT_EQ(name(d), "slow-cheap");
  EXPECT_NE(d.reason.find("cheapest meeting its latency target"), std::string::npos) << d.reason;
  // The default strategy takes the fastest.
  EXPECT_EQ(name(choose_interactive(all(), request_hash("r1"))), "fast-dear");
  // Without headroom the cheap one steps aside for the next cheapest meeting its target.
  no_headroom(slow_cheap, 10'000);
  EXPECT_EQ(name(choose_interactive(all(), request_hash("r1"), params)), "fast-dear");
  // When none meets its target: the lowest latency of the rest, as before.
  fast_dear.over_latency_target = true;
  slow_cheap.has_headroom = true;
  slow_cheap.over_latency_target = true;
  EXPECT_EQ(name(choose_interactive(all(), request_hash("r1"), params)), "fast-dear");
}

TEST_F(PolicyTest, InteractiveCheapestSpreadsEqualPricesByLatency) {
  InteractiveParams params;
  params.cheapest_on_target = true;
  sampled("a", 100, 100).estimated_cost = 100;
  sampled("b", 102, 102).estimated_cost = 100;
  sampled("c", 50, 50).estimated_cost = 300;
  auto counts = interactive_counts(2'000, params);
  EXPECT_EQ(counts["c"], 0);
  EXPECT_GT(counts["a"], 800);
  EXPECT_GT(counts["b"], 800);
}

TEST_F(PolicyTest, InteractiveCountsTheTailNotOnlyTheMean) {
  sampled("fat-tail", 100, 1000);  // score 100 + 0.5 * 900 = 550
  sampled("steady", 150, 200);     // score 175
  EXPECT_EQ(name(choose_interactive(all(), request_hash("r1"))), "steady");
}

TEST_F(PolicyTest, InteractiveTriesDeploymentsWithoutSamples) {
  sampled("known", 100, 120);
  sampled("new", 0, 0, /*samples=*/0);
  sampled("known-slow", 400, 500);
  auto counts = interactive_counts(1000);
  // The newcomer shares the load with the best one instead of taking all of it or none.
  EXPECT_GT(counts["new"], 350);
  EXPECT_GT(counts["known"], 350);
  EXPECT_EQ(counts["known-slow"], 0);
  // With no samples anywhere every deployment is tried.
  candidates_.clear();
  deployments_.clear();
  sampled("a", 0, 0, 0);
  sampled("b", 0, 0, 0);
  auto fresh = interactive_counts(1000);
  EXPECT_GT(fresh["a"], 400);
  EXPECT_GT(fresh["b"], 400);
}

TEST_F(PolicyTest, InteractiveSpreadsLoadAmongNearEqualDeployments) {
  sampled("a", 100, 100);
  sampled("b", 104, 104);  // within 10% + 5 ms of a
  sampled("c", 200, 200);
  auto counts = interactive_counts(10'000);
  EXPECT_NEAR(counts["a"], 5000, 300);
  EXPECT_NEAR(counts["b"], 5000, 300);
  EXPECT_EQ(counts["c"], 0);
  // Deterministic: the same request hash always gets the same deployment.
  auto cs = all();
  PolicyDecision first = choose_interactive(cs, request_hash("req-42"));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(choose_interactive(cs, request_hash("req-42")).index, first.index);
  EXPECT_NE(first.reason.find("2 of 3 near-best, picked by request hash"), std::string::npos);
}

TEST_F(PolicyTest, InteractiveFallsBackToCoolingDeploymentsOnlyWhenNothingElse) {
  CandidateView& cooling = sampled("cooling-fast", 50, 60);
  cooling.in_cooldown = true;
  CandidateView& healthy = sampled("healthy-slow", 500, 600);
  EXPECT_EQ(name(choose_interactive(all(), request_hash("r"))), "healthy-slow");

  // The healthy one gets headroom soon: wait for it rather than use a failing deployment.
  no_headroom(healthy, 100);
  PolicyDecision soon = choose_interactive(all(), request_hash("r"));
  EXPECT_EQ(soon.kind, Kind::kWait) << soon.reason;
  EXPECT_EQ(soon.wait_ms, 100);

  // Not soon enough (or unhealthy): now the cooling one is used, and the reason says so.
  no_headroom(healthy, 5000);
  PolicyDecision fallback = choose_interactive(all(), request_hash("r"));
  ASSERT_EQ(fallback.kind, Kind::kDispatch);
  EXPECT_EQ(name(fallback), "cooling-fast");
  EXPECT_EQ(fallback.reason.rfind("interactive: fallback to cooling deployment", 0), 0u)
      << fallback.reason;
  healthy.has_headroom = true;
  healthy.healthy = false;
  EXPECT_EQ(name(choose_interactive(all(), request_hash("r"))), "cooling-fast");

  // Nothing has headroom at all: wait for the soonest.
  no_headroom(cooling, 700);
  no_headroom(healthy, 900);
  PolicyDecision none = choose_interactive(all(), request_hash("r"));
  EXPECT_EQ(none.kind, Kind::kWait);
  EXPECT_EQ(none.wait_ms, 700);
}

TEST_F(PolicyTest, InteractiveWithNoCandidatesSaysSo) {
  EXPECT_EQ(choose_interactive({}, 1).kind, Kind::kNoCandidate);
}

// ---- filters ----

TEST_F(PolicyTest, FiltersDropSmallContextWindowsWrongRegionAndDisallowedTiers) {
  add("small", 0, 1, "us", 4000);
  add("eu-only", 0, 1, "eu");
  add("big", 2, 1, "us");
  add("ok", 1, 1, "us");
  add("other-model", 1, 1, "us");
  TeamPolicy team;
  team.allowed_tiers = {"economy", "workhorse"};
  team.allowed_models = {"small-group", "eu-only-group", "big-group", "ok-model"};
  FilterResult r = filter_candidates(all(), 9200, "us", team);
  ASSERT_EQ(r.kept.size(), 1u);
  EXPECT_EQ(r.kept[0].deployment->name, "ok");
  EXPECT_EQ(r.reason,
            "kept 1 of 5; dropped: context window < 9,200 tokens: small; outside region us: "
            "eu-only (eu); tier not allowed for team: big (frontier); model not allowed for team: "
            "other-model (other-model-group)");
}

TEST_F(PolicyTest, FiltersKeepEverythingWhenNothingIsRestricted) {
  add("a", 0, 1, "us");
  add("b", 2, 1, "eu");
  FilterResult r = filter_candidates(all(), 100, "", TeamPolicy{});
  EXPECT_EQ(r.kept.size(), 2u);
  EXPECT_EQ(r.reason, "kept 2 of 2");
}

// ---- weighted split ----

TEST_F(PolicyTest, WeightedSplitIsDeterministicPerRequestAndMatchesWeights) {
  add("a", 1).weight = 70;
  add("b", 1).weight = 30;
  auto cs = all();
  int a = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::uint64_t h = request_hash("req-" + std::to_string(i));
    PolicyDecision d = choose_weighted_split(cs, h);
    ASSERT_EQ(d.kind, Kind::kDispatch);
    EXPECT_EQ(choose_weighted_split(cs, h).index, d.index);  // same request, same arm
    if (name(d) == "a") ++a;
  }
  EXPECT_NEAR(a / 10'000.0, 0.70, 0.02);
  PolicyDecision d = choose_weighted_split(cs, request_hash("req-1"));
  EXPECT_EQ(d.reason, "split a:70/b:30 -> " + name(d));
}

TEST_F(PolicyTest, WeightedSplitGivesADownArmsShareToTheOthers) {
  add("a", 1).weight = 70;
  add("b", 1).weight = 30;
  candidates_[0].healthy = false;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(name(choose_weighted_split(all(), request_hash(std::to_string(i)))), "b");
  }
}

TEST_F(PolicyTest, InteractiveUsesTheSplitWhenCandidatesCarryWeights) {
  sampled("a", 500, 500).weight = 50;  // slower, but the experiment decides
  sampled("b", 100, 100).weight = 50;
  auto counts = interactive_counts(2000);
  EXPECT_GT(counts["a"], 800);
  EXPECT_GT(counts["b"], 800);
  EXPECT_EQ(choose_interactive(all(), 7).reason.rfind("interactive: split a:50/b:50 -> ", 0), 0u);
}

TEST_F(PolicyTest, BackgroundSplitsBetweenWeightedArmsInsteadOfTakingTheCheapest) {
  add("cheap", 1, 100).weight = 80;
  add("pricey", 1, 300).weight = 20;
  add("unweighted-cheapest", 1, 50);  // not an arm: the experiment owns the pool
  BackgroundRequest br;
  br.quality_floor = 1;
  int cheap = 0;
  for (int i = 0; i < 10'000; ++i) {
    br.request_hash = request_hash("bg-" + std::to_string(i));
    PolicyDecision d = choose_background(all(), br);
    ASSERT_EQ(d.kind, Kind::kDispatch);
    ASSERT_NE(name(d), "unweighted-cheapest");
    EXPECT_EQ(choose_background(all(), br).index, d.index);  // same request, same arm
    if (name(d) == "cheap") ++cheap;
  }
  EXPECT_NEAR(cheap / 10'000.0, 0.80, 0.02);
  br.request_hash = 3;
  EXPECT_EQ(
      choose_background(all(), br).reason.rfind("background: split cheap:80/pricey:20 -> ", 0), 0u);
}

TEST_F(PolicyTest, BackgroundSplitArmWithoutHeadroomGivesItsShareToTheOtherArm) {
  add("a", 1, 100).weight = 50;
  no_headroom(add("b", 1, 100), 5'000);
  candidates_[1].weight = 50;
  BackgroundRequest br;
  br.quality_floor = 1;
  for (int i = 0; i < 200; ++i) {
    br.request_hash = request_hash(std::to_string(i));
    EXPECT_EQ(name(choose_background(all(), br)), "a");
  }
  no_headroom(candidates_[0], 2'000);  // no arm ready: wait, never pay more elsewhere
  add("frontier", 2, 900);
  EXPECT_EQ(choose_background(all(), br).kind, Kind::kWait);
}

TEST_F(PolicyTest, InteractivePrefersDeploymentsMeetingTheirLatencyTarget) {
  sampled("fast-but-over-target", 100, 100).over_latency_target = true;
  sampled("slower-on-target", 400, 400);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(name(choose_interactive(all(), request_hash(std::to_string(i)))), "slower-on-target");
  candidates_[1].over_latency_target = true;  // both over: plain lowest latency
  PolicyDecision d = choose_interactive(all(), 1);
  EXPECT_EQ(name(d), "fast-but-over-target");
  EXPECT_NE(d.reason.find("over its latency target"), std::string::npos) << d.reason;
}

TEST_F(PolicyTest, InteractiveFallsBackToTheNextTierBeforeWaitingOrUsingCoolingDeployments) {
  no_headroom(sampled("own-tier", 100, 100), 100);  // would have headroom in 100 ms
  CandidateView& cooling = sampled("own-tier-cooling", 50, 50);
  cooling.in_cooldown = true;
  CandidateView& next = sampled("next-tier", 300, 300);
  next.fallback_tier = true;
  next.tier_rank = 2;
  PolicyDecision d = choose_interactive(all(), 1);
  EXPECT_EQ(d.kind, Kind::kDispatch);
  EXPECT_EQ(name(d), "next-tier");
  EXPECT_EQ(d.reason.rfind("interactive: fallback tier: lowest latency next-tier", 0), 0u)
      << d.reason;
  // The request's own tier wins as soon as it is ready, however slow.
  candidates_[0].has_headroom = true;
  candidates_[0].latency_ewma_ms = candidates_[0].latency_p95_ms = 5'000;
  EXPECT_EQ(name(choose_interactive(all(), 1)), "own-tier");
}

TEST_F(PolicyTest, InteractiveWithTheFallbackTierBusyWaitsForItsOwnTier) {
  no_headroom(sampled("own-tier", 100, 100), 100);
  CandidateView& next = sampled("next-tier", 300, 300);
  next.fallback_tier = true;
  no_headroom(next, 50);
  PolicyDecision d = choose_interactive(all(), 1);
  EXPECT_EQ(d.kind, Kind::kWait);
  EXPECT_EQ(d.wait_ms, 100);  // its own tier's headroom, not the fallback's
}

TEST(RequestHash, IsFnv1a64) {
  EXPECT_EQ(request_hash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(request_hash("a"), 0xaf63dc4c8601ec8cULL);
}

// ---- aging ----

TEST(Aging, EffectivePriorityGrowsWithWaitTime) {
  AgingParams p{1000};
  EXPECT_EQ(effective_priority(3, 10'000, 10'000, p), 3);
  EXPECT_EQ(effective_priority(3, 10'000, 10'999, p), 3);
  EXPECT_EQ(effective_priority(3, 10'000, 15'000, p), 8);
  EXPECT_EQ(effective_priority(3, 10'000, 9'000, p), 3);  // clock went back: no negative age
}

TEST(Aging, AgingLetsOldBackgroundWorkPassNewBackgroundWork) {
  AgingParams p{1000};
  AgingQueue<std::string> q(8, p);
  ASSERT_TRUE(q.push("old-low", PriorityClass::kBackground, /*enqueued_ms=*/0, /*base=*/0));
  ASSERT_TRUE(q.push("new-high", PriorityClass::kBackground, 10'000, 5));
  ASSERT_TRUE(q.push("recent-high", PriorityClass::kBackground, 3'000, 5));
  // At 10 s: old-low has waited 10 steps (10), recent-high 7 steps + 5 (12), new-high 5.
  EXPECT_EQ(effective_priority(0, 0, 10'000, p), 10);
  EXPECT_EQ(effective_priority(5, 3'000, 10'000, p), 12);
  EXPECT_EQ(q.pop(), "recent-high");
  EXPECT_EQ(q.pop(), "old-low");  // passed the newer, higher-priority request
  EXPECT_EQ(q.pop(), "new-high");
  EXPECT_TRUE(q.empty());
}

TEST(Aging, InteractiveAlwaysPopsBeforeBackground) {
  AgingQueue<std::string> q(8);
  ASSERT_TRUE(q.push("ancient-background", PriorityClass::kBackground, 0, 1'000'000));
  ASSERT_TRUE(q.push("interactive-2", PriorityClass::kInteractive, 9'000));
  ASSERT_TRUE(q.push("interactive-1", PriorityClass::kInteractive, 8'000));
  ASSERT_TRUE(q.push("interactive-3", PriorityClass::kInteractive, 9'000));  // FIFO on a tie
  EXPECT_EQ(q.pop(), "interactive-1");
  EXPECT_EQ(q.pop(), "interactive-2");
  EXPECT_EQ(q.pop(), "interactive-3");
  EXPECT_EQ(q.pop(), "ancient-background");
}

TEST(Aging, QueueIsBoundedAndRefusesWhenFull) {
  AgingQueue<int> q(2);
  EXPECT_TRUE(q.push(1, PriorityClass::kBackground, 0));
  EXPECT_TRUE(q.push(2, PriorityClass::kBackground, 0));
  EXPECT_FALSE(q.push(3, PriorityClass::kInteractive, 0));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.pop(), 1);  // equal priority: FIFO
  EXPECT_TRUE(q.push(3, PriorityClass::kInteractive, 0));
  EXPECT_EQ(q.top(), 3);
}

TEST(Aging, QueueOrderNeverContradictsEffectivePriority) {
  // Whatever the pushes, at any later time the popped background entry has the highest
  // effective priority of those still waiting.
  std::mt19937_64 rng(7);
  AgingParams p{250};
  struct Item {
    std::int64_t base, enqueued;
  };
  AgingQueue<Item> q(500, p);
  std::vector<Item> waiting;
  for (int i = 0; i < 500; ++i) {
    Item it{static_cast<std::int64_t>(rng() % 20), static_cast<std::int64_t>(rng() % 100'000)};
    waiting.push_back(it);
    ASSERT_TRUE(q.push(Item(it), PriorityClass::kBackground, it.enqueued, it.base));
  }
  const std::int64_t now = 200'000;
  while (!q.empty()) {
    Item top = q.pop();
    const std::int64_t mine = effective_priority(top.base, top.enqueued, now, p);
    std::int64_t best = mine;
    for (const auto& w : waiting)
      best = std::max(best, effective_priority(w.base, w.enqueued, now, p));
    ASSERT_EQ(mine, best);
    waiting.erase(std::find_if(waiting.begin(), waiting.end(), [&](const Item& w) {
      return w.base == top.base && w.enqueued == top.enqueued;
    }));
  }
}

}  // namespace
}  // namespace switchyard
