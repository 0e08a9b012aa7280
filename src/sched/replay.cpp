#include "switchyard/sched/replay.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <queue>
#include <random>

#include "switchyard/route/classifier_config.h"
#include "switchyard/route/router.h"
#include "switchyard/sched/planner.h"
#include "switchyard/sched/scheduler.h"

namespace switchyard {

namespace {

constexpr std::int64_t kWindowMs = 60'000;

std::string usd(Picodollars p) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.6f", static_cast<double>(p) / 1e12);
  return buf;
}

}  // namespace

ReplayReport replay(const Config& config, std::span<const TraceRecord> trace,
                    const ReplayOptions& options) {
  ReplayReport report;
  Router router(config.deployments, classifier_config(config));
  Scheduler scheduler(config, 0);
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<LatencyModel> latency(config.deployments.size(),
                                    LatencyModel{options.latency_ms, options.jitter});
  for (std::size_t d = 0; d < config.deployments.size(); ++d) {
    if (auto it = options.deployment_latency.find(config.deployments[d].name);
        it != options.deployment_latency.end())
      latency[d] = it->second;
  }
  // Lognormal with the model's mean: mean * exp(sigma Z - sigma^2 / 2).
  auto draw_latency = [&](std::size_t d) {
    const LatencyModel& m = latency[d];
    const double x =
        static_cast<double>(m.mean_ms) * std::exp(m.sigma * normal(rng) - m.sigma * m.sigma / 2.0);
    return static_cast<std::int64_t>(std::max(1.0, x));
  };
  std::vector<std::int64_t> interactive_latencies;

  struct Live {
    RequestEvent request;
    RouteDecision route;
    int tier_rank = 0;
  };
  std::vector<Live> live(trace.size());
  enum class Kind { kAttempt, kDone, kPlan };
  constexpr std::int64_t kPlanEveryMs = 1'000;
  std::vector<char> waiting(trace.size(), 0);  // background, arrived, not dispatched or ended
  std::vector<char> planned_once(trace.size(), 0);
  struct Event {
    std::int64_t at;
    std::uint64_t seq;
    Kind kind;
    std::size_t request;
    std::size_t deployment = 0;
    ScheduleChoice grant;
    std::int64_t started = 0;  // kDone: when the call started
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  std::priority_queue<Event, std::vector<Event>, Later> events;
  std::uint64_t seq = 0;
  // Provider side: calls started per deployment in the current minute window.
  std::vector<std::int64_t> window_of(config.deployments.size(), -1),
      used(config.deployments.size(), 0), used_tokens(config.deployments.size(), 0);
  auto rank_of = [&](const std::string& tier) {
    auto it = std::find(config.tiers.begin(), config.tiers.end(), tier);
    return it == config.tiers.end() ? 0 : static_cast<int>(it - config.tiers.begin());
  };

  for (std::size_t i = 0; i < trace.size(); ++i) {
    const TraceRecord& t = trace[i];
    Live& l = live[i];
    l.request = t.request;
    if (t.priority == PriorityClass::kBackground && t.deadline_ms)
      l.request.deadline_unix_ms = t.at_ms + *t.deadline_ms;
    else
      l.request.deadline_unix_ms.reset();
    ++report.requests;
    (t.priority == PriorityClass::kInteractive ? report.interactive : report.background) += 1;
    events.push({t.at_ms, seq++, Kind::kAttempt, i, 0, {}});
  }
  if (options.planner && !trace.empty()) events.push({0, seq++, Kind::kPlan, 0, 0, {}});
  std::size_t ended = 0;

  auto finish = [&](std::size_t i, std::int64_t now, bool answered) {
    const TraceRecord& t = trace[i];
    ++ended;
    waiting[i] = 0;
    if (!answered) ++report.failed;
    if (t.priority == PriorityClass::kInteractive) {
      if (answered) interactive_latencies.push_back(now - t.at_ms);
      if (!answered || now - t.at_ms > options.interactive_slo_ms) ++report.interactive_slo_misses;
    } else if (live[i].request.deadline_unix_ms &&
               (!answered || now > *live[i].request.deadline_unix_ms)) {
      ++report.deadline_misses;
    }
  };

  std::int64_t now = 0;
  while (!events.empty()) {
    Event e = events.top();
    events.pop();
    now = e.at;
    if (e.kind == Kind::kPlan) {
      std::vector<WaitingBackground> list;
      std::vector<std::size_t> who;
      for (std::size_t i = 0; i < trace.size(); ++i) {
        if (!waiting[i]) continue;
        list.push_back({&live[i].request, &live[i].route});
        who.push_back(i);
        planned_once[i] = 1;
      }
      if (!list.empty()) scheduler.plan_background(list, now, now);
      if (ended < trace.size()) events.push({now + kPlanEveryMs, seq++, Kind::kPlan, 0, 0, {}});
      continue;
    }
    const TraceRecord& t = trace[e.request];
    Live& l = live[e.request];
    if (e.kind == Kind::kDone) {
      ProviderOutcome outcome;
      outcome.kind = OutcomeKind::kOk;
      outcome.http_status = 200;
      outcome.usage.input_tokens = estimate_input_tokens(l.request);
      outcome.usage.output_tokens = t.output_tokens;
      outcome.usage_reported = true;
      const DeploymentConfig& d = config.deployments[e.deployment];
      scheduler.on_response(e.deployment, e.grant, nullptr, outcome, now - e.started, now);
      const Picodollars cost = billed_cost(d, outcome.usage);
      report.cost += cost;
      report.cost_by_deployment[d.name] += cost;
      ++report.calls_by_deployment[d.name];
      if (t.priority == PriorityClass::kInteractive)
        ++report.interactive_calls_by_deployment[d.name];
      ++report.answered;
      ++report.requests_by_tier[d.tier];
      finish(e.request, now, true);
      continue;
    }
    if (l.route.candidates.empty() && l.route.error.empty()) {
      l.route = router.route(l.request, scheduler.cooling_snapshot(now));
      l.tier_rank = rank_of(l.route.tier);
    }
    if (!l.route.error.empty()) {
      finish(e.request, now, false);
      continue;
    }
    if (options.planner && t.priority == PriorityClass::kBackground && !planned_once[e.request]) {
      // Newly arrived: wait for the next plan (at most a second).
      waiting[e.request] = 1;
      events.push(
          {(now / kPlanEveryMs + 1) * kPlanEveryMs + 1, seq++, Kind::kAttempt, e.request, 0, {}});
      continue;
    }
    ScheduleChoice choice = scheduler.choose(l.request, t.priority, l.route, nullptr, {}, now, now);
    using K = PolicyDecision::Kind;
    switch (choice.decision.kind) {
      case K::kDispatch:
      case K::kEscalate: {
        const std::size_t d = choice.decision.index;
        // Takes a concurrency place, as the call stage does; a full limit would only queue the
        // call there (the simulation starts it at once), and on_response gives the place back.
        scheduler.try_start(d);
        const DeploymentConfig& dep = config.deployments[d];
        const std::int64_t window = now / kWindowMs;
        if (window_of[d] != window) {
          window_of[d] = window;
          used[d] = 0;
          used_tokens[d] = 0;
        }
        const std::int64_t call_tokens = estimate_input_tokens(l.request) + t.output_tokens;
        if ((dep.rpm > 0 && used[d] >= dep.rpm) ||
            (dep.tpm > 0 && used_tokens[d] + call_tokens > dep.tpm)) {
          // The provider's own limit: 429 until its next window.
          ++report.rate_limited_answers;
          ProviderOutcome limited;
          limited.kind = OutcomeKind::kRateLimited;
          limited.http_status = 429;
          limited.retry_after_ms = (window + 1) * kWindowMs - now;
          scheduler.on_response(d, choice, nullptr, limited, 5, now);
          if (t.priority == PriorityClass::kBackground) waiting[e.request] = 1;
          events.push({now + limited.retry_after_ms, seq++, Kind::kAttempt, e.request, 0, {}});
          break;
        }
        ++used[d];
        used_tokens[d] += call_tokens;
        waiting[e.request] = 0;
        events.push({now + draw_latency(d), seq++, Kind::kDone, e.request, d, choice, now});
        break;
      }
      case K::kWait:
        events.push({now + std::max<std::int64_t>(1, choice.decision.wait_ms),
                     seq++,
                     Kind::kAttempt,
                     e.request,
                     0,
                     {}});
        break;
      default:
        finish(e.request, now, false);
        break;
    }
  }
  report.simulated_ms = now;
  if (!interactive_latencies.empty()) {
    auto at = [&](double q) {
      auto k = static_cast<std::size_t>(q * static_cast<double>(interactive_latencies.size() - 1));
      std::nth_element(interactive_latencies.begin(),
                       interactive_latencies.begin() + static_cast<std::ptrdiff_t>(k),
                       interactive_latencies.end());
      return interactive_latencies[k];
    };
    report.interactive_p50_ms = at(0.5);
    report.interactive_p99_ms = at(0.99);
  }

  if (options.bound) {
    // The offline bound: every request that was routed, in the rpm windows of its arrival up to
    // its deadline (less the mean latency), on its tier or higher for background work and on its
    // own tier for interactive work.
    // The horizon comes from the trace alone (the last arrival plus the longest deadline, or ten
    // minutes), so both policies are measured against the same bound.
    std::int64_t horizon = 0;
    for (const TraceRecord& t : trace)
      horizon = std::max(horizon, t.at_ms + t.deadline_ms.value_or(10 * kWindowMs));
    const int windows = static_cast<int>(horizon / kWindowMs) + 2;
    std::vector<PlanDeployment> deps;
    for (const DeploymentConfig& d : config.deployments) {
      PlanDeployment p;
      p.rank = rank_of(d.tier);
      p.input_per_token = d.input_cost_per_token;
      p.output_per_token = d.output_cost_per_token;
      p.capacity.assign(static_cast<std::size_t>(windows), d.rpm > 0 ? d.rpm : 1'000'000'000);
      deps.push_back(std::move(p));
    }
    // Interactive work may use a deployment whose mean latency meets the SLO and its target.
    std::uint64_t fast_enough = 0;
    for (std::size_t d = 0; d < config.deployments.size() && d < 64; ++d) {
      const DeploymentConfig& dep = config.deployments[d];
      const std::optional<int>& target = dep.latency_target_ms
                                             ? dep.latency_target_ms
                                             : config.routing.interactive_latency_target_ms;
      if (latency[d].mean_ms <= options.interactive_slo_ms &&
          (!target || latency[d].mean_ms <= *target))
        fast_enough |= std::uint64_t{1} << d;
    }
    // A background request must start by its deadline less the answer time: the fastest
    // deployment's mean, which keeps the bound a bound.
    std::int64_t fastest_ms = options.latency_ms;
    for (const LatencyModel& m : latency) fastest_ms = std::min(fastest_ms, m.mean_ms);
    std::vector<PlanRequest> work;
    for (std::size_t i = 0; i < trace.size(); ++i) {
      if (!live[i].route.error.empty()) continue;
      PlanRequest r;
      r.input_tokens = estimate_input_tokens(live[i].request);
      r.output_tokens = trace[i].output_tokens;
      r.floor = live[i].tier_rank;
      r.first_window = static_cast<int>(trace[i].at_ms / kWindowMs);
      if (trace[i].priority == PriorityClass::kInteractive) {
        r.max_rank = r.floor;
        r.last_window = r.first_window;
        r.allowed = fast_enough;
      } else if (live[i].request.deadline_unix_ms) {
        r.last_window = static_cast<int>(
            std::max<std::int64_t>(0, *live[i].request.deadline_unix_ms - fastest_ms) / kWindowMs);
      } else {
        r.last_window = windows - 1;
      }
      work.push_back(r);
    }
    Planner planner;
    PlanParams params;
    params.exact_groups = true;
    params.delay_tiebreak = 0;
    const PlanResult plan = planner.plan(deps, work, params);
    report.bound = plan.cost;
    for (const PlannedSlot& slot : plan.slots) {
      if (slot.deployment >= 0)
        ++report.bound_calls_by_deployment
              [config.deployments[static_cast<std::size_t>(slot.deployment)].name];
    }
    report.bound_unplannable = plan.unplannable;
  }
  return report;
}

std::vector<std::string> generate_trace(std::string_view shape, std::uint64_t seed, int minutes,
                                        std::string& error) {
  std::vector<std::string> lines;
  const bool tiers = shape == "tiers";
  const bool short_deadlines = shape == "short";
  const bool bursts = shape == "bursts" || shape == "no-deadline" || tiers || short_deadlines;
  if (!bursts && shape != "steady") {
    error =
        "unknown shape '" + std::string(shape) + "' (bursts, steady, no-deadline, tiers or short)";
    return lines;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::lognormal_distribution<double> words(4.0, 0.8), output(5.0, 0.6);
  const std::int64_t end_ms = static_cast<std::int64_t>(minutes) * 60'000;
  int n = 0;
  auto add = [&](std::int64_t at, bool interactive, std::optional<std::int64_t> deadline,
                 const char* tier) {
    std::string text = "item " + std::to_string(n) + ":";
    const int count = std::clamp(static_cast<int>(words(rng)), 5, 2000);
    for (int w = 0; w < count; ++w) text += " lorem";
    std::string line = "{\"at_ms\":" + std::to_string(at) + ",\"priority\":\"" +
                       (interactive ? "interactive" : "background") + "\"";
    if (deadline) line += ",\"deadline_ms\":" + std::to_string(*deadline);
    line +=
        ",\"output_tokens\":" + std::to_string(std::clamp(static_cast<int>(output(rng)), 8, 4000));
    line += ",\"event\":{\"request_id\":\"t-" + std::to_string(n++) +
            "\",\"team\":\"sim\",\"model\":\"" + tier +
            "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + text + "\"}]}}";
    lines.push_back(std::move(line));
  };
  // Interactive: Poisson, 0.5 per second, until the last background deadline (or ten minutes
  // after the last background arrival without one): traffic that stops when the background
  // arrivals stop would hand the offline bound free capacity no online policy can foresee.
  const std::int64_t tail_ms = shape == "steady" ? 300'000 : short_deadlines ? 240'000 : 600'000;
  for (double t = 0; t < static_cast<double>(end_ms + tail_ms);) {
    t += -std::log(1.0 - unit(rng)) * 2'000.0;
    if (t < static_cast<double>(end_ms + tail_ms))
      add(static_cast<std::int64_t>(t), true, std::nullopt, "economy");
  }
  if (bursts) {
    for (std::int64_t at = 0; at < end_ms; at += 120'000) {
      for (int i = 0; i < 150; ++i) {
        std::optional<std::int64_t> deadline;
        if (shape != "no-deadline")
          deadline = i % 2 == 0 ? 120'000 : short_deadlines ? 240'000 : 600'000;
        const double u = unit(rng);
        const char* tier = tiers ? (u < 0.5   ? "economy"
                                    : u < 0.8 ? "workhorse"
                                              : "frontier")
                                 : (u < 0.7 ? "economy" : "workhorse");
        add(at + i * 10, false, deadline, tier);
      }
    }
  } else {
    for (double t = 0; t < static_cast<double>(end_ms);) {
      t += -std::log(1.0 - unit(rng)) * (1'000.0 / 1.5);
      if (t < static_cast<double>(end_ms))
        add(static_cast<std::int64_t>(t), false, 300'000,
            unit(rng) < 0.7 ? "economy" : "workhorse");
    }
  }
  std::stable_sort(lines.begin(), lines.end(), [](const std::string& a, const std::string& b) {
    return std::atoll(a.c_str() + 9) < std::atoll(b.c_str() + 9);  // after {"at_ms":
  });
  return lines;
}

std::string format_report(const ReplayReport& r) {
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) { out += k + ": " + v + "\n"; };
  line("requests", std::to_string(r.requests) + " (" + std::to_string(r.interactive) +
                       " interactive, " + std::to_string(r.background) + " background)");
  line("answered", std::to_string(r.answered) + ", failed " + std::to_string(r.failed));
  line("simulated time", std::to_string(r.simulated_ms / 1000) + " s");
  line("cost", usd(r.cost));
  if (r.bound) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.3fx",
                  *r.bound > 0 ? static_cast<double>(r.cost) / static_cast<double>(*r.bound) : 0.0);
    line("offline bound",
         usd(*r.bound) + " (cost / bound " + ratio + ")" +
             (r.bound_unplannable ? "; " + std::to_string(r.bound_unplannable) +
                                        " requests fit no window before their deadline"
                                  : ""));
  }
  line("interactive SLO misses", std::to_string(r.interactive_slo_misses));
  line("interactive latency", "p50 " + std::to_string(r.interactive_p50_ms) + " ms, p99 " +
                                  std::to_string(r.interactive_p99_ms) + " ms");
  line("deadline misses", std::to_string(r.deadline_misses));
  line("429s from the simulated providers", std::to_string(r.rate_limited_answers));
  out += "deployment mix:\n";
  for (const auto& [name, calls] : r.calls_by_deployment) {
    auto count = [](const std::map<std::string, std::int64_t>& m, const std::string& k) {
      auto it = m.find(k);
      return std::to_string(it == m.end() ? 0 : it->second);
    };
    out += "  " + name + ": " + std::to_string(calls) + " calls (" +
           count(r.interactive_calls_by_deployment, name) + " interactive), " +
           usd(r.cost_by_deployment.at(name)) +
           (r.bound ? "; bound: " + count(r.bound_calls_by_deployment, name) + " calls" : "") +
           "\n";
  }
  out += "tier mix:\n";
  for (const auto& [tier, n] : r.requests_by_tier)
    out += "  " + tier + ": " + std::to_string(n) + "\n";
  return out;
}

}  // namespace switchyard
