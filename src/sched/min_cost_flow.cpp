#include "switchyard/sched/min_cost_flow.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

namespace switchyard {

namespace {
constexpr std::int64_t kInf = std::numeric_limits<std::int64_t>::max() / 4;
}

void MinCostFlow::reset(int nodes) {
  head_.assign(static_cast<std::size_t>(nodes), -1);
  arcs_.clear();
}

int MinCostFlow::add_arc(int from, int to, std::int64_t capacity, std::int64_t cost) {
  const int id = static_cast<int>(arcs_.size() / 2);
  arcs_.push_back({to, head_[static_cast<std::size_t>(from)], capacity, cost});
  head_[static_cast<std::size_t>(from)] = static_cast<int>(arcs_.size()) - 1;
  arcs_.push_back({from, head_[static_cast<std::size_t>(to)], 0, -cost});
  head_[static_cast<std::size_t>(to)] = static_cast<int>(arcs_.size()) - 1;
  return id;
}

MinCostFlow::Result MinCostFlow::solve(int source, int sink, std::int64_t limit) {
  const auto n = head_.size();
  // Every cost is >= 0 at the start, so zero potentials are feasible.
  potential_.assign(n, 0);
  dist_.assign(n, kInf);
  parent_arc_.assign(n, -1);
  Result result;
  searches_ = 0;
  using Item = std::pair<std::int64_t, int>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
  while (result.flow < limit) {
    ++searches_;
    std::fill(dist_.begin(), dist_.end(), kInf);
    std::fill(parent_arc_.begin(), parent_arc_.end(), -1);
    dist_[static_cast<std::size_t>(source)] = 0;
    heap.push({0, source});
    while (!heap.empty()) {
      auto [d, u] = heap.top();
      heap.pop();
      if (d != dist_[static_cast<std::size_t>(u)]) continue;
      for (int a = head_[static_cast<std::size_t>(u)]; a != -1;
           a = arcs_[static_cast<std::size_t>(a)].next) {
        const Arc& arc = arcs_[static_cast<std::size_t>(a)];
        if (arc.capacity <= 0) continue;
        const std::int64_t nd = d + arc.cost + potential_[static_cast<std::size_t>(u)] -
                                potential_[static_cast<std::size_t>(arc.to)];
        if (nd < dist_[static_cast<std::size_t>(arc.to)]) {
          dist_[static_cast<std::size_t>(arc.to)] = nd;
          parent_arc_[static_cast<std::size_t>(arc.to)] = a;
          heap.push({nd, arc.to});
        }
      }
    }
    if (dist_[static_cast<std::size_t>(sink)] >= kInf) break;  // no more augmenting path
    for (std::size_t v = 0; v < n; ++v) {
      if (dist_[v] < kInf) potential_[v] += dist_[v];
    }
    std::int64_t push = limit - result.flow;
    for (int v = sink; v != source;) {
      const int a = parent_arc_[static_cast<std::size_t>(v)];
      push = std::min(push, arcs_[static_cast<std::size_t>(a)].capacity);
      v = arcs_[static_cast<std::size_t>(a ^ 1)].to;
    }
    for (int v = sink; v != source;) {
      const int a = parent_arc_[static_cast<std::size_t>(v)];
      arcs_[static_cast<std::size_t>(a)].capacity -= push;
      arcs_[static_cast<std::size_t>(a ^ 1)].capacity += push;
      result.cost += push * arcs_[static_cast<std::size_t>(a)].cost;
      v = arcs_[static_cast<std::size_t>(a ^ 1)].to;
    }
    result.flow += push;
  }
  return result;
}

}  // namespace switchyard
