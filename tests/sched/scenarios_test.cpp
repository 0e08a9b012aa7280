// The committed `switchyard simulate` scenarios (bench/simulate/scenarios.tsv), replayed with the
// planner: each keeps its committed offline bound, misses no interactive SLO and no deadline,
// and stays under the cost / bound it reaches today (a regression guard; docs/BENCHMARKS.md has
// the table, scripts/simulate.sh prints it).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "switchyard/sched/replay.h"

namespace switchyard {
namespace {

const std::string kDir = std::string(SWITCHYARD_SOURCE_DIR) + "/bench/simulate/";

// Today's figures rounded up a little; lower them when the planner improves.
const std::map<std::string, double> kCeiling = {{"bursts", 1.08},      {"steady", 1.16},
                                                {"no-deadline", 1.08}, {"tiers", 1.03},
                                                {"slow-cheap", 1.01},  {"short", 1.25}};

std::vector<TraceRecord> read_trace(const std::string& path) {
  std::vector<TraceRecord> trace;
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::string line, error;
  while (std::getline(in, line)) {
    TraceRecord r;
    EXPECT_TRUE(parse_trace_line(line, r, error)) << path << ": " << error;
    trace.push_back(std::move(r));
  }
  std::stable_sort(trace.begin(), trace.end(),
                   [](const TraceRecord& a, const TraceRecord& b) { return a.at_ms < b.at_ms; });
  return trace;
}

std::string usd(Picodollars p) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.6f", static_cast<double>(p) / 1e12);
  return buf;
}

TEST(Scenarios, TheCommittedTracesKeepTheirBoundsAndThePlannerMissesNothing) {
  std::ifstream manifest(kDir + "scenarios.tsv");
  ASSERT_TRUE(manifest);
  std::string line;
  int scenarios = 0;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, trace, config, options, bound;
    std::getline(fields, name, '\t');
    std::getline(fields, trace, '\t');
    std::getline(fields, config, '\t');
    std::getline(fields, options, '\t');
    std::getline(fields, bound, '\t');
    SCOPED_TRACE(name);
    ++scenarios;
    ConfigLoad load = load_config_file(kDir + config);
    ASSERT_TRUE(load.ok()) << load.problems.front();
    ReplayOptions o;
    o.seed = 7;
    o.planner = true;
    // The only option the manifest uses: --deployment-latency=NAME=MS,...
    const std::string flag = "--deployment-latency=";
    if (options.rfind(flag, 0) == 0) {
      std::istringstream items(options.substr(flag.size()));
      std::string item;
      while (std::getline(items, item, ',')) {
        const auto eq = item.find('=');
        o.deployment_latency[item.substr(0, eq)] =
            LatencyModel{std::stoll(item.substr(eq + 1)), o.jitter};
      }
    } else {
      ASSERT_EQ(options, "-");
    }
    const ReplayReport r = replay(load.config, read_trace(kDir + trace), o);
    ASSERT_TRUE(r.bound.has_value());
    EXPECT_EQ(usd(*r.bound), bound) << "run scripts/simulate.sh --regenerate if this is meant";
    EXPECT_EQ(r.bound_unplannable, 0);
    EXPECT_EQ(r.failed, 0);
    EXPECT_EQ(r.interactive_slo_misses, 0);
    EXPECT_EQ(r.deadline_misses, 0);
    const double ratio = static_cast<double>(r.cost) / static_cast<double>(*r.bound);
    EXPECT_GE(ratio, 1.0) << "no policy beats the bound";
    ASSERT_TRUE(kCeiling.count(name)) << "a new scenario needs its ceiling here";
    EXPECT_LE(ratio, kCeiling.at(name)) << format_report(r);
    std::printf("%-12s cost / bound %.3fx\n", name.c_str(), ratio);
  }
  EXPECT_EQ(scenarios, 6);
}

}  // namespace
}  // namespace switchyard
