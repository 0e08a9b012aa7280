// `switchyard simulate`'s engine: a trace replayed through the real router and scheduler under a
// simulated clock, against deployments that enforce rpm per minute.
#include "switchyard/sched/replay.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

// Two economy deployments: a cheap one with 10 requests per minute and a dear one with 100.
const char* kConfig = R"(
kafka:
  topics: {interactive: [i], background: [b]}
worker: {default_tier: economy}
teams: [{name: t}]
deployments:
  - {name: cheap, api_base: "https://a/v1", model: m1, tier: economy, rpm: 10,
     input_cost_per_token: 0.00000027, output_cost_per_token: 0.0000011}
  - {name: dear, api_base: "https://b/v1", model: m2, tier: economy, rpm: 100,
     input_cost_per_token: 0.000001, output_cost_per_token: 0.000005}
)";

// One trace line per request: `n` requests `every_ms` apart, each answered with `output_tokens`.
struct Stream {
  int n = 1;
  std::int64_t every_ms = 1;
  bool interactive = false;
  std::optional<std::int64_t> deadline_ms;
  int output_tokens = 100;
  std::string content = "summarise this";
};

std::vector<TraceRecord> trace_of(const Stream& s) {
  std::vector<TraceRecord> trace;
  for (int i = 0; i < s.n; ++i) {
    TraceRecord r;
    const std::string line =
        R"({"at_ms":)" + std::to_string(i * s.every_ms) +
        (s.interactive ? R"(,"priority":"interactive")" : "") + R"(,"output_tokens":)" +
        std::to_string(s.output_tokens) +
        (s.deadline_ms ? R"(,"deadline_ms":)" + std::to_string(*s.deadline_ms) : std::string()) +
        R"(,"event":{"request_id":"r)" + std::to_string(i) +
        R"(","team":"t","model":"economy","messages":[{"role":"user","content":")" + s.content +
        R"("}]}})";
    std::string error;
    EXPECT_TRUE(parse_trace_line(line, r, error)) << error;
    trace.push_back(std::move(r));
  }
  return trace;
}

std::vector<TraceRecord> burst(int n, std::optional<std::int64_t> deadline_ms) {
  return trace_of({.n = n, .deadline_ms = deadline_ms});
}

std::vector<TraceRecord> interactive_stream(int n, std::int64_t every_ms, int output_tokens) {
  return trace_of({.n = n,
                   .every_ms = every_ms,
                   .interactive = true,
                   .output_tokens = output_tokens,
                   .content = "hi"});
}

TEST(Replay, ABurstIsServedWithinTheRpmWindowsAndComparedWithTheOfflineBound) {
  ConfigLoad load = load_config_text(kConfig);
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const auto trace = burst(15, 240'000);  // four minutes: the cheap one alone could serve it
  ReplayOptions options;
  const ReplayReport report = replay(load.config, trace, options);
  EXPECT_EQ(report.requests, 15);
  EXPECT_EQ(report.answered, 15);
  EXPECT_EQ(report.deadline_misses, 0);
  EXPECT_EQ(report.rate_limited_answers, 0) << "the scheduler's limiter kept to the rpm";
  ASSERT_TRUE(report.bound.has_value());
  EXPECT_EQ(report.bound_unplannable, 0);
  EXPECT_LE(*report.bound, report.cost) << "no policy beats the bound";
  // The bound serves all 15 on the cheap deployment (10 this minute, 5 the next).
  const ReplayReport again = replay(load.config, trace, options);
  EXPECT_EQ(again.cost, report.cost) << "deterministic";
  EXPECT_EQ(again.calls_by_deployment, report.calls_by_deployment);
  const std::string text = format_report(report);
  EXPECT_NE(text.find("offline bound"), std::string::npos) << text;
  std::printf("%s", text.c_str());
}

// With the planner the burst waits for the cheap deployment's next windows, which its deadline
// allows: it costs what the offline bound costs, with no deadline missed.
TEST(Replay, WithThePlannerTheBurstCostsTheBound) {
  ConfigLoad load = load_config_text(kConfig);
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const auto trace = burst(15, 240'000);
  ReplayOptions options;
  options.planner = true;
  const ReplayReport report = replay(load.config, trace, options);
  std::printf("%s", format_report(report).c_str());
  EXPECT_EQ(report.answered, 15);
  EXPECT_EQ(report.deadline_misses, 0);
  ASSERT_TRUE(report.bound.has_value());
  EXPECT_EQ(report.cost, *report.bound);
  EXPECT_EQ(report.calls_by_deployment.count("dear"), 0u);

  // A deadline this minute cannot wait: the dear deployment takes what the cheap one cannot.
  const ReplayReport tight = replay(load.config, burst(15, 20'000), options);
  EXPECT_EQ(tight.deadline_misses, 0);
  EXPECT_GT(tight.calls_by_deployment.at("dear"), 0);
}

// Deployments answer with latencies of their own. Under strategy "cheapest", interactive work
// leaves the cheap deployment once its observed latency is over the target, and the offline
// bound never counts on it for interactive work.
TEST(Replay, InteractiveWorkLeavesACheapDeploymentSlowerThanItsTarget) {
  ConfigLoad load = load_config_text(std::string(kConfig) +
                                     "routing: {interactive_strategy: cheapest, "
                                     "interactive_latency_target_ms: 2000}\n");
  ASSERT_TRUE(load.ok()) << load.problems.front();
  ReplayOptions options;
  options.deployment_latency["cheap"] = LatencyModel{3'000, 0.1};
  options.deployment_latency["dear"] = LatencyModel{300, 0.1};
  const ReplayReport report = replay(load.config, interactive_stream(60, 1'000, 50), options);
  std::printf("%s", format_report(report).c_str());
  EXPECT_EQ(report.answered, 60);
  EXPECT_EQ(report.interactive_slo_misses, 0);
  // The first calls try cheap (no samples yet); five answers over the target move the rest.
  EXPECT_LE(report.interactive_calls_by_deployment.at("cheap"), 10);
  EXPECT_GE(report.interactive_calls_by_deployment.at("dear"), 50);
  EXPECT_EQ(report.bound_calls_by_deployment.count("cheap"), 0u);
  EXPECT_EQ(report.bound_calls_by_deployment.at("dear"), 60);
  EXPECT_LT(report.interactive_p50_ms, 1'000);

  // The same deployments both fast: interactive work stays on the cheap one while it has room.
  options.deployment_latency["cheap"] = LatencyModel{300, 0.1};
  const ReplayReport fast = replay(load.config, interactive_stream(60, 10'000, 50), options);
  EXPECT_EQ(fast.interactive_calls_by_deployment.count("dear"), 0u);
}

// The simulated provider enforces tpm per window with the tokens really used: a request whose
// answer is far longer than the scheduler's estimate meets a 429.
TEST(Replay, TheSimulatedProviderEnforcesTokensPerMinute) {
  ConfigLoad load = load_config_text(R"(
kafka:
  topics: {interactive: [i], background: [b]}
worker: {default_tier: economy}
teams: [{name: t}]
deployments:
  - {name: only, api_base: "https://a/v1", model: m1, tier: economy, tpm: 3000,
     input_cost_per_token: 0.00000027, output_cost_per_token: 0.0000011}
)");
  ASSERT_TRUE(load.ok()) << load.problems.front();
  ReplayOptions options;
  options.bound = false;
  const ReplayReport report = replay(load.config, interactive_stream(4, 100, 1'400), options);
  EXPECT_EQ(report.answered, 4);
  EXPECT_GT(report.rate_limited_answers, 0) << format_report(report);
}

TEST(Replay, BadTraceLinesSayWhatIsWrong) {
  TraceRecord r;
  std::string error;
  EXPECT_FALSE(parse_trace_line("[]", r, error));
  EXPECT_EQ(error, "not a JSON object");
  EXPECT_FALSE(parse_trace_line(R"({"at_ms":-1,"event":{}})", r, error));
  EXPECT_EQ(error, "at_ms must be a non-negative integer");
  EXPECT_FALSE(parse_trace_line(R"({"at_ms":1,"priority":"urgent","event":{}})", r, error));
  EXPECT_EQ(error, "priority must be interactive or background");
  EXPECT_FALSE(parse_trace_line(R"({"at_ms":1})", r, error));
  EXPECT_NE(error.find("event"), std::string::npos);
  EXPECT_FALSE(parse_trace_line(R"({"at_ms":1,"event":{"request_id":"x"}})", r, error));
  EXPECT_EQ(error.rfind("event: ", 0), 0u) << error;
}

}  // namespace
}  // namespace switchyard
