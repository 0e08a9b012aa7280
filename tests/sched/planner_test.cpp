// The background planner and its min-cost flow: plain values in, slots out.
#include "switchyard/sched/planner.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "switchyard/sched/min_cost_flow.h"

namespace switchyard {
namespace {

constexpr Picodollars kPerMillion = 1'000'000;  // $1 per million tokens, in picodollars per token

TEST(MinCostFlow, SendsAlongTheCheapestPathsFirstAndStopsAtTheLimit) {
  // 0 -> 1 -> 3 costs 1 + 1 (capacity 2); 0 -> 2 -> 3 costs 5 + 0 (capacity 10).
  MinCostFlow f(4);
  const int a = f.add_arc(0, 1, 2, 1);
  f.add_arc(1, 3, 2, 1);
  const int b = f.add_arc(0, 2, 10, 5);
  f.add_arc(2, 3, 10, 0);
  const auto r = f.solve(0, 3, 5);
  EXPECT_EQ(r.flow, 5);
  EXPECT_EQ(r.cost, 2 * 2 + 3 * 5);
  EXPECT_EQ(f.flow(a), 2);
  EXPECT_EQ(f.flow(b), 3);
}

TEST(MinCostFlow, ReroutesEarlierFlowWhenThatLowersTheTotal) {
  // Source s=0, sink t=5. Unit x (node 1) can use A (node 3, cost 1) or B (node 4, cost 2);
  // unit y (node 2) can use only A (cost 1). Capacity of A and B: 1 each. Greedy x->A would
  // strand y; the optimum is x->B, y->A.
  MinCostFlow f(6);
  f.add_arc(0, 1, 1, 0);
  f.add_arc(0, 2, 1, 0);
  const int xa = f.add_arc(1, 3, 1, 1);
  const int xb = f.add_arc(1, 4, 1, 2);
  const int ya = f.add_arc(2, 3, 1, 1);
  f.add_arc(3, 5, 1, 0);
  f.add_arc(4, 5, 1, 0);
  const auto r = f.solve(0, 5, 2);
  EXPECT_EQ(r.flow, 2);
  EXPECT_EQ(r.cost, 3);
  EXPECT_EQ(f.flow(xa), 0);
  EXPECT_EQ(f.flow(xb), 1);
  EXPECT_EQ(f.flow(ya), 1);
}

PlanDeployment deployment(int rank, Picodollars in, Picodollars out,
                          std::vector<std::int64_t> capacity) {
  return {rank, in, out, std::move(capacity)};
}

PlanRequest request(int last_window, int floor = 0, std::int64_t in = 1000,
                    std::int64_t out = 200) {
  PlanRequest r;
  r.input_tokens = in;
  r.output_tokens = out;
  r.floor = floor;
  r.last_window = last_window;
  return r;
}

int count_on(const PlanResult& p, int deployment, int window) {
  int n = 0;
  for (const auto& s : p.slots) n += s.deployment == deployment && s.window == window;
  return n;
}

// The reported waste: a burst larger than the cheap deployment's window spilled onto a dear
// deployment of the same tier, although its deadline allowed the cheap one's next window.
TEST(Planner, ABurstWaitsForTheCheapDeploymentsNextWindowWhenItsDeadlineAllows) {
  const std::vector<PlanDeployment> deps = {
      deployment(0, kPerMillion * 27 / 100, kPerMillion * 110 / 100, {10, 10, 10}),  // cheap
      deployment(0, kPerMillion, 5 * kPerMillion, {100, 100, 100}),                  // dear
  };
  std::vector<PlanRequest> burst(15, request(/*last_window=*/1));
  Planner planner;
  PlanResult p = planner.plan(deps, burst);
  EXPECT_EQ(count_on(p, 0, 0), 10);
  EXPECT_EQ(count_on(p, 0, 1), 5) << "the rest waits one window, still within the deadline";
  EXPECT_EQ(count_on(p, 1, 0) + count_on(p, 1, 1), 0);
  EXPECT_EQ(p.unplannable, 0);
  EXPECT_EQ(p.cost, 15 * Planner::cost_of(burst[0], deps[0]));

  // With a deadline in this window the dear deployment takes the rest: a miss costs more.
  std::vector<PlanRequest> tight(15, request(/*last_window=*/0));
  p = planner.plan(deps, tight);
  EXPECT_EQ(count_on(p, 0, 0), 10);
  EXPECT_EQ(count_on(p, 1, 0), 5);
  EXPECT_EQ(p.unplannable, 0);
}

// A request's allowed mask keeps it off deployments it may not use (the offline bound keeps
// interactive work off deployments slower than its latency target).
TEST(Planner, ARequestUsesOnlyTheDeploymentsItsMaskAllows) {
  const std::vector<PlanDeployment> deps = {
      deployment(0, kPerMillion / 10, kPerMillion / 10, {100}),  // cheap, but slow
      deployment(0, kPerMillion, 5 * kPerMillion, {100}),        // dear, fast
  };
  std::vector<PlanRequest> work(3, request(/*last_window=*/0));
  work[0].allowed = 0b10;
  Planner planner;
  const PlanResult p = planner.plan(deps, work);
  EXPECT_EQ(p.slots[0].deployment, 1);
  EXPECT_EQ(p.slots[1].deployment, 0);
  EXPECT_EQ(p.slots[2].deployment, 0);
  work[0].allowed = 0;
  EXPECT_EQ(planner.plan(deps, work).unplannable, 1);
}

TEST(Planner, WorkRunsOnItsTierOrHigherNeverLowerAndEscalatesOnlyForADeadline) {
  const std::vector<PlanDeployment> deps = {
      deployment(0, kPerMillion / 10, kPerMillion / 10, {100, 100}),  // economy, cheapest
      deployment(1, kPerMillion, 4 * kPerMillion, {2, 2}),            // workhorse
      deployment(2, 10 * kPerMillion, 30 * kPerMillion, {100, 100}),  // frontier
  };
  std::vector<PlanRequest> work(6, request(/*last_window=*/1, /*floor=*/1));
  Planner planner;
  PlanResult p = planner.plan(deps, work);
  EXPECT_EQ(count_on(p, 0, 0) + count_on(p, 0, 1), 0) << "never below the quality floor";
  EXPECT_EQ(count_on(p, 1, 0) + count_on(p, 1, 1), 4);
  EXPECT_EQ(count_on(p, 2, 0) + count_on(p, 2, 1), 2) << "escalated: no workhorse slot left";

  for (auto& r : work) r.max_rank = 1;  // escalation not allowed
  p = planner.plan(deps, work);
  EXPECT_EQ(p.unplannable, 2) << "what fits no slot before its deadline is reported";
  int unplanned = 0;
  for (const auto& s : p.slots) unplanned += s.deployment < 0;
  EXPECT_EQ(unplanned, 2);
}

TEST(Planner, WorkWithoutADeadlineWaitsPastTheHorizonRatherThanPayMore) {
  const std::vector<PlanDeployment> deps = {
      deployment(0, kPerMillion / 10, kPerMillion / 10, {3, 3}),
      deployment(0, kPerMillion, kPerMillion, {100, 100}),
  };
  std::vector<PlanRequest> work(10, request(/*last_window=*/-1));
  Planner planner;
  PlanResult p = planner.plan(deps, work);
  EXPECT_EQ(count_on(p, 0, 0), 3);
  EXPECT_EQ(count_on(p, 0, 1), 3);
  EXPECT_EQ(p.past_horizon, 4);
  EXPECT_EQ(count_on(p, 1, 0) + count_on(p, 1, 1), 0);
}

TEST(Planner, DeadlineWorkGetsTheCheapCapacityBeforeWorkThatCanWait) {
  const std::vector<PlanDeployment> deps = {
      deployment(0, kPerMillion / 10, kPerMillion / 10, {4}),
      deployment(0, kPerMillion, kPerMillion, {100}),
  };
  std::vector<PlanRequest> work;
  for (int i = 0; i < 4; ++i) work.push_back(request(-1));  // first in line, no deadline
  for (int i = 0; i < 4; ++i) work.push_back(request(0));   // due this window
  Planner planner;
  PlanResult p = planner.plan(deps, work);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(p.slots[i].deployment, 0) << i;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(p.slots[i].past_horizon()) << i;
}

// Exact: on small random instances the plan costs what exhaustive search finds, after serving
// as many deadline requests as can be served.
TEST(Planner, MatchesExhaustiveSearchOnSmallInstances) {
  std::mt19937 rng(7);
  Planner planner;
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<int> cap(0, 2), rank(0, 1), price(1, 9), last(-1, 1),
        tokens(1, 4);
    std::vector<PlanDeployment> deps;
    for (int d = 0; d < 2; ++d)
      deps.push_back(deployment(rank(rng), price(rng), price(rng), {cap(rng), cap(rng)}));
    std::vector<PlanRequest> reqs;
    for (int i = 0; i < 4; ++i) {
      PlanRequest r = request(last(rng), rank(rng), tokens(rng) * 100, tokens(rng) * 100);
      // Half the rounds: requests that may only start later (the offline bound's per-window arcs).
      if (round % 2 == 1) r.first_window = rank(rng);
      reqs.push_back(r);
    }
    PlanParams params;
    params.exact_groups = true;
    params.delay_tiebreak = 0;
    const PlanResult p = planner.plan(deps, reqs, params);

    // Exhaustive: each request picks one of (d, w) or "none".
    struct Best {
      std::int64_t served = -1;
      Picodollars cost = 0;
    } best;
    std::vector<std::int64_t> used(4, 0);
    std::function<void(std::size_t, std::int64_t, Picodollars)> search = [&](std::size_t i,
                                                                             std::int64_t served,
                                                                             Picodollars cost) {
      if (i == reqs.size()) {
        if (served > best.served || (served == best.served && cost < best.cost))
          best = {served, cost};
        return;
      }
      const PlanRequest& r = reqs[i];
      // Not planned in the horizon: a deadline request is missed; one without a deadline
      // waits at its cheapest price (as the planner counts it, outside `cost`).
      search(i + 1, served, cost);
      for (int d = 0; d < 2; ++d) {
        if (deps[d].rank < r.floor) continue;
        for (int w = 0; w < 2; ++w) {
          if (r.last_window >= 0 && w > r.last_window) continue;
          if (w < r.first_window) continue;
          if (used[d * 2 + w] >= deps[d].capacity[w]) continue;
          ++used[d * 2 + w];
          search(i + 1, served + (r.last_window >= 0 ? 1 : 0), cost + Planner::cost_of(r, deps[d]));
          --used[d * 2 + w];
        }
      }
    };
    search(0, 0, 0);
    std::int64_t served = 0;  // deadline requests the plan serves
    for (std::size_t i = 0; i < reqs.size(); ++i)
      served += reqs[i].last_window >= 0 && p.slots[i].deployment >= 0;
    std::string shape;
    for (const auto& d : deps)
      shape += "dep rank " + std::to_string(d.rank) + " price " +
               std::to_string(d.input_per_token) + "/" + std::to_string(d.output_per_token) +
               " cap " + std::to_string(d.capacity[0]) + "," + std::to_string(d.capacity[1]) + "; ";
    for (const auto& r : reqs)
      shape +=
          "req floor " + std::to_string(r.floor) + " last " + std::to_string(r.last_window) + "; ";
    EXPECT_EQ(served, best.served) << "round " << round << ": " << shape;
    // The exhaustive cost leaves no-deadline work unplanned for free, the planner charges it its
    // cheapest price past the horizon; compare what both pay inside the horizon for the same
    // served set only when no request lacks a deadline.
    bool all_deadlines = true;
    for (const auto& r : reqs) all_deadlines &= r.last_window >= 0;
    if (all_deadlines) {
      EXPECT_EQ(p.cost, best.cost) << "round " << round << ": " << shape;
    }
  }
}

TEST(Planner, GroupingKeepsTheCostOfUniformWorkExact) {
  const std::vector<PlanDeployment> deps = {
      deployment(0, kPerMillion / 4, kPerMillion, {50, 50, 50, 50}),
      deployment(0, kPerMillion, 5 * kPerMillion, {500, 500, 500, 500}),
      deployment(1, 3 * kPerMillion, 15 * kPerMillion, {500, 500, 500, 500}),
  };
  std::vector<PlanRequest> work;
  for (int i = 0; i < 400; ++i) work.push_back(request(i % 4, 0, 1000, 250));
  Planner planner;
  PlanParams exact;
  exact.exact_groups = true;
  const PlanResult grouped = planner.plan(deps, work);
  const PlanResult one_by_one = planner.plan(deps, work, exact);
  EXPECT_EQ(grouped.cost, one_by_one.cost);
  EXPECT_EQ(grouped.unplannable, 0);
  EXPECT_LT(grouped.groups, 10);
  EXPECT_EQ(one_by_one.groups, 400);
}

}  // namespace
}  // namespace switchyard
