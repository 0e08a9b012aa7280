// Background planner (sched/planner.h): time per planning tick with 10,000 waiting requests,
// 6 deployments in 3 tiers and 10 one-minute windows. Prints a table; no services needed.
// Run: build/bench/switchyard_planner_bench [requests] [windows]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "switchyard/sched/planner.h"

using namespace switchyard;

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const int windows = argc > 2 ? std::atoi(argv[2]) : 10;
  constexpr Picodollars kPerMillion = 1'000'000;
  // Catalog-range prices ($ per million tokens, input / output) and rpm per deployment.
  struct Spec {
    int rank;
    double in, out;
    int rpm;
  };
  const Spec specs[] = {{0, 0.15, 0.60, 600}, {0, 0.27, 1.10, 600}, {1, 1.0, 5.0, 1200},
                        {1, 2.5, 10.0, 1200}, {2, 3.0, 15.0, 300},  {2, 15.0, 75.0, 300}};
  std::vector<PlanDeployment> deps;
  for (const Spec& s : specs) {
    PlanDeployment d;
    d.rank = s.rank;
    d.input_per_token = static_cast<Picodollars>(s.in * kPerMillion);
    d.output_per_token = static_cast<Picodollars>(s.out * kPerMillion);
    d.capacity.assign(static_cast<std::size_t>(windows), s.rpm);
    d.capacity[0] = s.rpm / 3;  // part of the current window is gone
    deps.push_back(std::move(d));
  }
  std::mt19937 rng(42);
  std::lognormal_distribution<double> in_tokens(6.5, 1.0), out_tokens(5.0, 0.8);
  std::uniform_int_distribution<int> floor(0, 2), deadline(-1, windows - 1);
  std::vector<PlanRequest> work;
  for (int i = 0; i < requests; ++i) {
    PlanRequest r;
    r.input_tokens = static_cast<std::int64_t>(in_tokens(rng));
    r.output_tokens = static_cast<std::int64_t>(out_tokens(rng));
    r.floor = floor(rng) == 2 ? 1 : 0;  // two thirds economy, one third workhorse
    r.last_window = deadline(rng);
    work.push_back(r);
  }
  Planner planner;
  auto time_plan = [&](const PlanParams& params, PlanResult& out) {
    std::vector<double> ms;
    for (int run = 0; run < (params.exact_groups ? 1 : 5); ++run) {
      const auto start = std::chrono::steady_clock::now();
      out = planner.plan(deps, work, params);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::sort(ms.begin(), ms.end());
    return std::make_pair(ms[ms.size() / 2], ms.back());
  };
  PlanResult grouped, exact;
  const auto [g50, gmax] = time_plan({}, grouped);
  PlanParams exact_params;
  exact_params.exact_groups = true;
  const auto [e50, emax] = time_plan(exact_params, exact);
  std::printf("machine: %u hardware threads\n", std::thread::hardware_concurrency());
  std::printf("planner tick: %d waiting requests, %zu deployments, %d windows\n", requests,
              deps.size(), windows);
  std::printf(
      "| mode | request nodes | median ms per tick | max ms | planned cost (USD) | "
      "unplannable | past horizon | searches |\n|---|---|---|---|---|---|---|---|\n");
  auto row = [](const char* mode, const PlanResult& p, double median, double max) {
    std::printf("| %s | %d | %.2f | %.2f | %.6f | %lld | %lld | %d |\n", mode, p.groups, median,
                max, static_cast<double>(p.cost) / 1e12, static_cast<long long>(p.unplannable),
                static_cast<long long>(p.past_horizon), p.searches);
  };
  row("grouped (online tick)", grouped, g50, gmax);
  row("one node per request (offline bound)", exact, e50, emax);
  return 0;
}
