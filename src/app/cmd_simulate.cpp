// `switchyard simulate --config FILE --trace FILE`: replays a trace through the real routing and
// scheduling under a simulated clock (sched/replay.h) and prints cost, the offline bound, SLO
// and deadline misses and the deployment and tier mix.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/sched/replay.h"

namespace switchyard {

namespace {

constexpr const char* kSimulateHelp =
    "usage: switchyard simulate --config FILE --trace FILE [options]\n"
    "       switchyard simulate --generate bursts|steady|no-deadline|tiers|short\n"
    "                           [--minutes N] [--seed N]\n"
    "\n"
    "Replays a trace of request events through the config's classifier, router, scheduler and\n"
    "rate limiters under a simulated clock: no Kafka, no Postgres, no HTTP. Each deployment\n"
    "answers after a lognormal latency and enforces its rpm and tpm per minute window.\n"
    "Deterministic for a seed. Prints cost, the offline bound (the least any policy could have\n"
    "paid for the same work within the same rpm windows and deadlines), interactive SLO and\n"
    "deadline misses, and the deployment and tier mix. Use it to tune a config before deploying\n"
    "it.\n"
    "\n"
    "Trace: JSONL, one request per line:\n"
    "  {\"at_ms\":1200, \"priority\":\"background\", \"deadline_ms\":300000, "
    "\"output_tokens\":200,\n"
    "   \"event\":{...switchyard.request.v1...}}\n"
    "\n"
    "options:\n"
    "  --latency-ms N   mean answer time of every deployment (default 800)\n"
    "  --jitter X       lognormal sigma of the answer time (default 0.25)\n"
    "  --deployment-latency NAME=MS[/SIGMA],...\n"
    "                   mean answer time (and sigma) of the deployments named\n"
    "  --slo-ms N       an interactive request answered later than this is a miss (default 5000)\n"
    "  --seed N         latency draws (default 1)\n"
    "  --no-bound       skip the offline bound\n"
    "  --generate SHAPE print a synthetic trace instead (JSONL on stdout; see\n"
    "                   sched/replay.h for the shapes), --minutes long (default 10)\n"
    "  --planner        plan waiting background work every second across rpm windows and\n"
    "                   deadlines (Scheduler::plan_background) instead of the greedy choice\n"
    "  --help           this text\n";

}  // namespace

int cmd_simulate(const Args& args) {
  Flags flags(args,
              {"config", "trace", "latency-ms", "jitter", "slo-ms", "seed", "generate", "minutes",
               "deployment-latency"},
              {"no-bound", "planner", "help"});
  if (flags.has("help")) {
    std::fputs(kSimulateHelp, stdout);
    return 0;
  }
  std::vector<std::string> problems = flags.errors();
  if (flags.has("generate")) {
    const long minutes =
        flags.has("minutes") ? std::strtol(flags.get("minutes").c_str(), nullptr, 10) : 10;
    const auto seed =
        flags.has("seed") ? std::strtoull(flags.get("seed").c_str(), nullptr, 10) : 1ULL;
    std::string error;
    if (minutes < 1 || minutes > 24 * 60) error = "--minutes must be 1..1440";
    const auto lines = error.empty() ? generate_trace(flags.get("generate"), seed,
                                                      static_cast<int>(minutes), error)
                                     : std::vector<std::string>{};
    if (!error.empty()) {
      std::fprintf(stderr, "switchyard simulate: %s\n", error.c_str());
      return 2;
    }
    for (const auto& line : lines) std::printf("%s\n", line.c_str());
    return 0;
  }
  if (flags.get("config").empty()) problems.push_back("--config FILE is required");
  if (flags.get("trace").empty()) problems.push_back("--trace FILE is required");
  ReplayOptions options;
  auto number = [&](const char* name, auto& to) {
    if (!flags.has(name)) return;
    char* end = nullptr;
    const std::string text = flags.get(name);
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || v < 0 || v > 1e12) {
      problems.push_back(std::string("--") + name + " must be a non-negative number");
      return;
    }
    to = static_cast<std::remove_reference_t<decltype(to)>>(v);
  };
  number("latency-ms", options.latency_ms);
  number("jitter", options.jitter);
  number("slo-ms", options.interactive_slo_ms);
  number("seed", options.seed);
  if (flags.has("deployment-latency")) {
    // NAME=MEAN_MS[/SIGMA],...
    const std::string spec = flags.get("deployment-latency");
    std::size_t at = 0;
    while (at <= spec.size()) {
      std::size_t end = spec.find(',', at);
      if (end == std::string::npos) end = spec.size();
      const std::string item = spec.substr(at, end - at);
      at = end + 1;
      const std::size_t eq = item.find('=');
      LatencyModel m{0, options.jitter};
      char* stop = nullptr;
      bool ok = eq != std::string::npos && eq > 0;
      if (ok) {
        const double mean = std::strtod(item.c_str() + eq + 1, &stop);
        ok = stop != item.c_str() + eq + 1 && mean >= 1 && mean <= 3.6e6;
        m.mean_ms = static_cast<std::int64_t>(mean);
        if (ok && *stop == '/') {
          const char* from = stop + 1;
          m.sigma = std::strtod(from, &stop);
          ok = stop != from && m.sigma >= 0 && m.sigma <= 3;
        }
        ok = ok && *stop == '\0';
      }
      if (!ok) {
        problems.push_back("--deployment-latency: '" + item +
                           "' is not NAME=MEAN_MS[/SIGMA] (mean 1..3600000 ms, sigma 0..3)");
        break;
      }
      options.deployment_latency[item.substr(0, eq)] = m;
    }
  }
  options.bound = !flags.has("no-bound");
  options.planner = flags.has("planner");
  ConfigLoad load;
  if (problems.empty()) {
    load = load_config_file(flags.get("config"));
    for (const auto& p : load.problems) problems.push_back(flags.get("config") + ": " + p);
    for (const auto& [name, m] : options.deployment_latency) {
      const auto& ds = load.config.deployments;
      if (std::none_of(ds.begin(), ds.end(), [&](const auto& d) { return d.name == name; }))
        problems.push_back("--deployment-latency names '" + name + "', not a deployment of " +
                           flags.get("config"));
    }
  }
  std::vector<TraceRecord> trace;
  if (problems.empty()) {
    std::ifstream in(flags.get("trace"));
    if (!in) problems.push_back("cannot open " + flags.get("trace"));
    std::string line;
    for (int n = 1; in && std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      TraceRecord r;
      std::string error;
      if (!parse_trace_line(line, r, error)) {
        problems.push_back(flags.get("trace") + " line " + std::to_string(n) + ": " + error);
        if (problems.size() >= 20) break;
        continue;
      }
      trace.push_back(std::move(r));
    }
  }
  if (!problems.empty()) {
    for (const auto& p : problems) std::fprintf(stderr, "switchyard simulate: %s\n", p.c_str());
    return 2;
  }
  std::stable_sort(trace.begin(), trace.end(),
                   [](const TraceRecord& a, const TraceRecord& b) { return a.at_ms < b.at_ms; });
  const ReplayReport report = replay(load.config, trace, options);
  std::fputs(format_report(report).c_str(), stdout);
  return 0;
}

}  // namespace switchyard
