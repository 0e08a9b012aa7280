#pragma once
// Minimum-cost flow on a small directed graph with integer capacities and non-negative integer
// costs: successive shortest paths, Dijkstra over reduced costs (Johnson potentials), each
// augmentation pushing the path's bottleneck. (A Dinic-style blocking flow per search was tried:
// the planner's groups have distinct costs, so it saved no searches and cost time.) With integer
// data the optimum is integral (the constraint matrix of a flow problem is totally unimodular), so
// the result is the exact optimum of the linear program too: what the background planner
// (sched/planner.h) and the offline bound of `switchyard simulate` rely on. After Ahuja, Magnanti &
// Orlin, "Network Flows", ch. 9.
//
// Cost: O(augmentations * E log V). Pure code, no I/O; one instance per thread.
#include <cstdint>
#include <vector>

namespace switchyard {

class MinCostFlow {
 public:
  explicit MinCostFlow(int nodes = 0) { reset(nodes); }

  // Forgets every arc; keeps the storage.
  void reset(int nodes);
  int nodes() const { return static_cast<int>(head_.size()); }

  // Adds an arc; returns its id for flow(). Precondition: capacity >= 0, cost >= 0.
  int add_arc(int from, int to, std::int64_t capacity, std::int64_t cost);

  struct Result {
    std::int64_t flow = 0;  // units sent (<= `limit`)
    std::int64_t cost = 0;  // their total cost
  };
  // Sends up to `limit` units from `source` to `sink` at minimum total cost.
  Result solve(int source, int sink, std::int64_t limit);

  int searches() const { return searches_; }  // shortest-path searches of the last solve()
  std::int64_t flow(int arc) const { return arcs_[2 * arc + 1].capacity; }  // reverse residual

 private:
  struct Arc {
    int to;
    int next;  // next arc out of the same node; -1 ends the list
    std::int64_t capacity;
    std::int64_t cost;
  };
  std::vector<int> head_;
  std::vector<Arc> arcs_;  // arc 2k is arc k, 2k+1 its reverse
  // Scratch, reused across solves.
  std::vector<std::int64_t> potential_, dist_;
  std::vector<int> parent_arc_;
  int searches_ = 0;
};

}  // namespace switchyard
