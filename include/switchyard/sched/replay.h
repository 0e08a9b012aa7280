#pragma once
// `switchyard simulate`: a trace of request events replayed through the real router, classifier,
// scheduler and rate limiters under a simulated clock. No Kafka, no Postgres, no HTTP: each
// deployment answers after a latency drawn from a seeded distribution (per deployment) and
// enforces its rpm and tpm per minute window (a call over either is answered 429 until the next
// window). Deterministic for a
// trace, a config and a seed; a ten-minute trace replays in well under a second.
//
// The report prices every answered call as the worker would bill it, and compares the total
// with the offline bound: the exact minimum cost of serving the same requests within the same
// rpm windows and deadlines (sched/planner.h with one node per request), which no online policy
// can beat. In the bound, interactive work starts in its arrival window on a deployment of its
// own tier whose mean latency meets the SLO and the deployment's latency target
// (latency_target_ms, else routing.interactive_latency_target_ms); background work starts
// between its arrival and its deadline less the deployment's mean latency, on its tier or
// (with a deadline) a higher one. tpm is not in the bound.
//
// Not replayed (yet): budgets, team limits, provider errors and their retries.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/common/money.h"
#include "switchyard/common/priority.h"
#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/sched/trace.h"

namespace switchyard {

// How long a simulated deployment takes to answer: lognormal with this mean and sigma.
struct LatencyModel {
  std::int64_t mean_ms = 800;
  double sigma = 0.25;
};

struct ReplayOptions {
  std::int64_t latency_ms = 800;  // mean answer time of every deployment not listed below
  double jitter = 0.25;           // lognormal sigma around it
  std::map<std::string, LatencyModel> deployment_latency;  // by deployment name
  std::uint64_t seed = 1;
  std::int64_t interactive_slo_ms = 5'000;  // an interactive request later than this is a miss
  bool bound = true;                        // compute the offline bound
  // Plan waiting background work every second (Scheduler::plan_background) instead of the
  // greedy choice alone; newly arrived background work waits for the next plan.
  bool planner = false;
};

struct ReplayReport {
  std::int64_t requests = 0, interactive = 0, background = 0;
  std::int64_t answered = 0, failed = 0;  // failed: no deployment, never fits
  std::int64_t interactive_slo_misses = 0, deadline_misses = 0;
  std::int64_t rate_limited_answers = 0;  // 429s the simulated providers gave
  // Interactive requests from arrival to answer (answered ones).
  std::int64_t interactive_p50_ms = 0, interactive_p99_ms = 0;
  Picodollars cost = 0;
  std::optional<Picodollars> bound;  // the offline minimum for the same served work
  std::int64_t bound_unplannable = 0;
  std::map<std::string, std::int64_t> calls_by_deployment;
  std::map<std::string, std::int64_t> interactive_calls_by_deployment;
  std::map<std::string, std::int64_t> bound_calls_by_deployment;  // in the offline bound
  std::map<std::string, Picodollars> cost_by_deployment;
  std::map<std::string, std::int64_t> requests_by_tier;
  std::int64_t simulated_ms = 0;
};

ReplayReport replay(const Config& config, std::span<const TraceRecord> trace,
                    const ReplayOptions& options);

// A synthetic trace, as JSONL lines (parse_trace_line reads them), deterministic for a seed.
// Shapes (`minutes` long; interactive requests ask for tier "economy", background ones for
// "economy" or "workhorse"):
//   bursts       interactive Poisson 0.5/s; every 2 minutes a burst of 150 background
//                requests, half due within 2 minutes, half within 10
//   steady       interactive Poisson 0.5/s; background Poisson 1.5/s due within 5 minutes
//   no-deadline  the bursts without deadlines
//   tiers        the bursts asking for economy, workhorse or frontier (50/30/20)
//   short        the bursts with half due within 2 minutes and half within 4 (for real-time
//                replays: a 4-minute trace ends 8 minutes after it starts)
// Interactive arrivals go on until the last background deadline (ten minutes past the last
// background arrival without deadlines), so the bound finds no idle capacity after the end.
// Empty with `error` set for an unknown shape.
std::vector<std::string> generate_trace(std::string_view shape, std::uint64_t seed, int minutes,
                                        std::string& error);

// The report as a table for a terminal.
std::string format_report(const ReplayReport& report);

}  // namespace switchyard
