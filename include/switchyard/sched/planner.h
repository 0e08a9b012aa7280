#pragma once
// Background planning across rate-limit windows and deadlines.
//
// Greedy "cheapest deployment with headroom now" spends money twice over on bursty work: when the
// cheap deployment's window is full, the burst spills onto dearer deployments of the same tier,
// although most of it could have waited for the cheap deployment's next window within its
// deadline. The planner looks ahead instead: it assigns every waiting request to a (deployment,
// window) slot at minimum total cost, subject to
//   - each deployment's capacity per window (requests it may still start in that window: its
//     rate-limit share minus what interactive work is forecast to take), and
//   - each request's windows: from the first it may start in to the last that still meets its
//     deadline, on deployments of its quality floor or above (up to its highest allowed rank).
// Window 0 is "now" (what is left of the current window). The caller dispatches what is planned
// for window 0 and plans again on the next tick, with the answers, new arrivals and forecasts of
// the meantime: a receding horizon.
//
// Exact: the assignment is a transportation problem, solved as a minimum-cost flow
// (sched/min_cost_flow.h). Requests with the same floor, ranks, windows and (bucketed) size are
// one node, so a tick with 10,000 waiting requests solves a graph of a few hundred nodes
// (bench/planner_bench.cpp prints the time per tick). Costs use the group's mean tokens; with
// `exact_groups` every request is its own node (the offline bound).
//
// What is not modelled: tokens-per-minute limits as such (give the tighter of rpm and
// tpm / expected tokens as the capacity), latency beyond "a request that starts in window w
// finishes in time" (the caller folds service time into last_window), and prices that change.
//
// Pure code: no I/O, no clock; deterministic. Not thread-safe: one Planner per thread.
#include <cstdint>
#include <span>
#include <vector>

#include "switchyard/common/money.h"
#include "switchyard/sched/min_cost_flow.h"

namespace switchyard {

struct PlanDeployment {
  int rank = 0;                     // tier rank; higher = better quality
  Picodollars input_per_token = 0;  // catalog prices
  Picodollars output_per_token = 0;
  std::vector<std::int64_t> capacity;  // requests per window; index 0 = now
};

struct PlanRequest {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;  // expected (max_tokens when nothing better is known)
  int floor = 0;                   // lowest rank that may serve it
  int max_rank = 1 << 30;          // highest rank it may use
  int first_window = 0;            // earliest window it may start in
  // Latest window it may start in and still meet its deadline; -1 = no deadline (it may also
  // wait past the horizon, at no cost, when nothing inside it is cheaper).
  int last_window = -1;
  // Bit d set: deployment d may serve it (deployments past the 64th always may). The offline
  // bound keeps interactive work off deployments slower than its latency target.
  std::uint64_t allowed = ~std::uint64_t{0};
};

struct PlannedSlot {
  int deployment = -1;  // index into the deployments given; -1 = not planned
  int window = -1;      // -1 with deployment -1: no slot meets its deadline (or, with no
                        // deadline, it waits past the horizon)
  bool past_horizon() const { return deployment >= 0 && window < 0; }
};

struct PlanResult {
  std::vector<PlannedSlot> slots;  // parallel to the requests
  Picodollars cost = 0;            // planned cost of what fits (estimates, at the given prices)
  std::int64_t unplannable = 0;    // requests with a deadline that no slot can meet
  std::int64_t past_horizon = 0;   // requests without a deadline left for later
  int groups = 0;                  // request nodes in the flow graph
  int searches = 0;                // shortest-path searches the flow took
};

struct PlanParams {
  bool exact_groups = false;  // one node per request (offline bound) instead of size buckets
  // Within the same cost, earlier windows win: each window later adds this many picodollars
  // (far below any real price difference) so slack capacity is used now, not hoarded.
  Picodollars delay_tiebreak = 1;
};

class Planner {
 public:
  PlanResult plan(std::span<const PlanDeployment> deployments,
                  std::span<const PlanRequest> requests, const PlanParams& params = {});

  // The estimated cost of a request on a deployment.
  static Picodollars cost_of(const PlanRequest& r, const PlanDeployment& d);

 private:
  MinCostFlow flow_;
  std::vector<int> group_of_;
};

}  // namespace switchyard
