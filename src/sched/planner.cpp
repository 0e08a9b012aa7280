#include "switchyard/sched/planner.h"

#include <algorithm>
#include <bit>
#include <map>
#include <tuple>

namespace switchyard {

namespace {

// Octave buckets: requests within a factor of two of each other in input and in output share a
// node (their deployments rank the same way unless prices are within that factor's reach).
int size_bucket(std::int64_t tokens) {
  const auto t = static_cast<std::uint64_t>(std::max<std::int64_t>(tokens, 0)) + 1;
  return std::bit_width(t) - 1;
}

struct Group {
  std::vector<int> members;            // request indices
  std::int64_t input = 0, output = 0;  // token sums
  const PlanRequest* shape = nullptr;  // windows and ranks (the same for every member)
};

}  // namespace

Picodollars Planner::cost_of(const PlanRequest& r, const PlanDeployment& d) {
  return r.input_tokens * d.input_per_token + r.output_tokens * d.output_per_token;
}

PlanResult Planner::plan(std::span<const PlanDeployment> deployments,
                         std::span<const PlanRequest> requests, const PlanParams& params) {
  PlanResult result;
  result.slots.assign(requests.size(), PlannedSlot{});
  int windows = 0;
  for (const auto& d : deployments)
    windows = std::max(windows, static_cast<int>(d.capacity.size()));

  // Group requests that are interchangeable (same windows and ranks, similar size).
  std::vector<Group> groups;
  std::map<std::tuple<int, int, int, int, int, int, std::uint64_t>, int> index;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const PlanRequest& r = requests[i];
    int g = -1;
    if (params.exact_groups) {
      g = static_cast<int>(groups.size());
      groups.emplace_back();
    } else {
      const auto key =
          std::make_tuple(r.floor, r.max_rank, r.first_window, r.last_window,
                          size_bucket(r.input_tokens), size_bucket(r.output_tokens), r.allowed);
      auto [it, inserted] = index.emplace(key, static_cast<int>(groups.size()));
      if (inserted) groups.emplace_back();
      g = it->second;
    }
    Group& group = groups[static_cast<std::size_t>(g)];
    group.members.push_back(static_cast<int>(i));
    group.input += r.input_tokens;
    group.output += r.output_tokens;
    group.shape = &r;
  }
  result.groups = static_cast<int>(groups.size());

  // Nodes: source, sink, one per group, one per (deployment, window).
  //
  // When every request may start now (the online tick), a request due by window w may use any
  // window <= w of a deployment: it enters the deployment at (d, w) and runs down a chain of
  // uncapacitated arcs (d, w) -> (d, w - 1), and each (d, w) drains to the sink with that
  // window's capacity. One arc per (group, deployment) instead of one per window; which window
  // each request gets is settled afterwards, earliest deadline first (feasible whenever any
  // assignment is). Requests that may only start later (the offline bound) get one arc per
  // (deployment, window) of their interval instead.
  const bool chained = std::all_of(requests.begin(), requests.end(),
                                   [](const PlanRequest& r) { return r.first_window <= 0; });
  const int source = 0, sink = 1, first_group = 2;
  const int first_slot = first_group + static_cast<int>(groups.size());
  const int slot_count = static_cast<int>(deployments.size()) * windows;
  flow_.reset(first_slot + slot_count);
  auto slot_node = [&](std::size_t d, int w) {
    return first_slot + static_cast<int>(d) * windows + w;
  };
  std::vector<int> drain(static_cast<std::size_t>(slot_count), -1);  // (d, w) -> sink arc
  for (std::size_t d = 0; d < deployments.size(); ++d) {
    for (int w = 0; w < windows; ++w) {
      const std::int64_t cap = w < static_cast<int>(deployments[d].capacity.size())
                                   ? deployments[d].capacity[static_cast<std::size_t>(w)]
                                   : 0;
      if (cap > 0)
        drain[d * windows + w] =
            flow_.add_arc(slot_node(d, w), sink, cap, chained ? w * params.delay_tiebreak : 0);
      if (chained && w > 0)
        flow_.add_arc(slot_node(d, w), slot_node(d, w - 1),
                      static_cast<std::int64_t>(requests.size()), 0);
    }
  }
  struct Use {
    int arc;
    int deployment;  // -1 never
    int window;      // -1: past the horizon; -2: chained, window settled afterwards
  };
  std::vector<std::vector<Use>> uses(groups.size());
  std::int64_t total = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const Group& group = groups[g];
    const PlanRequest& shape = *group.shape;
    const auto n = static_cast<std::int64_t>(group.members.size());
    total += n;
    const int node = first_group + static_cast<int>(g);
    flow_.add_arc(source, node, n, 0);
    PlanRequest mean = shape;
    mean.input_tokens = group.input / n;
    mean.output_tokens = group.output / n;
    const int last = shape.last_window < 0 ? windows - 1 : std::min(shape.last_window, windows - 1);
    Picodollars cheapest = -1;
    int cheapest_d = -1;
    for (std::size_t d = 0; d < deployments.size(); ++d) {
      const PlanDeployment& dep = deployments[d];
      if (dep.rank < shape.floor || dep.rank > shape.max_rank) continue;
      if (d < 64 && (shape.allowed >> d & 1) == 0) continue;
      const Picodollars unit = cost_of(mean, dep);
      if (cheapest < 0 || unit < cheapest) {
        cheapest = unit;
        cheapest_d = static_cast<int>(d);
      }
      if (last < 0) continue;
      if (chained) {
        uses[g].push_back(
            {flow_.add_arc(node, slot_node(d, last), n, unit), static_cast<int>(d), -2});
        continue;
      }
      for (int w = std::max(shape.first_window, 0); w <= last; ++w) {
        if (drain[d * windows + w] < 0) continue;
        const int arc = flow_.add_arc(node, slot_node(d, w), n, unit + w * params.delay_tiebreak);
        uses[g].push_back({arc, static_cast<int>(d), w});
      }
    }
    if (shape.last_window < 0 && cheapest_d >= 0) {
      // No deadline: it may wait past the horizon, to be served at the cheapest price later.
      const int arc = flow_.add_arc(node, sink, n, cheapest + windows * params.delay_tiebreak);
      uses[g].push_back({arc, cheapest_d, -1});
    }
  }
  flow_.solve(source, sink, total);
  result.searches = flow_.searches();

  // Members take the group's arcs in request order; chained ones get their deployment now and
  // their window below.
  std::vector<std::vector<int>> on_deployment(deployments.size());
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::vector<Use>& u = uses[g];
    std::stable_sort(u.begin(), u.end(), [](const Use& a, const Use& b) {
      auto key = [](int w) { return w == -1 ? 1 << 30 : w; };
      return key(a.window) < key(b.window);
    });
    std::size_t next = 0;
    for (const Use& use : u) {
      for (std::int64_t k = flow_.flow(use.arc); k > 0 && next < groups[g].members.size(); --k) {
        const int r = groups[g].members[next++];
        result.slots[static_cast<std::size_t>(r)] = {use.deployment, use.window};
        if (use.window == -1) {
          ++result.past_horizon;
          continue;
        }
        result.cost += cost_of(requests[static_cast<std::size_t>(r)],
                               deployments[static_cast<std::size_t>(use.deployment)]);
        if (use.window == -2) on_deployment[static_cast<std::size_t>(use.deployment)].push_back(r);
      }
    }
    result.unplannable += static_cast<std::int64_t>(groups[g].members.size() - next);
  }
  // Chained: each deployment's requests fill its windows earliest deadline first, as many per
  // window as the flow drained there.
  for (std::size_t d = 0; d < on_deployment.size(); ++d) {
    std::vector<int>& members = on_deployment[d];
    std::stable_sort(members.begin(), members.end(), [&](int a, int b) {
      auto due = [&](int r) {
        const int w = requests[static_cast<std::size_t>(r)].last_window;
        return w < 0 ? 1 << 30 : w;
      };
      return due(a) < due(b);
    });
    std::size_t next = 0;
    for (int w = 0; w < windows && next < members.size(); ++w) {
      const int arc = drain[d * windows + w];
      for (std::int64_t k = arc < 0 ? 0 : flow_.flow(arc); k > 0 && next < members.size(); --k)
        result.slots[static_cast<std::size_t>(members[next++])].window = w;
    }
  }
  return result;
}

}  // namespace switchyard
