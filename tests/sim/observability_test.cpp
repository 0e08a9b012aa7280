// What tests can observe about the simulator: per-model counters (stats() and GET /stats) and
// the request log.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sim/sim_client.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {
namespace {

using namespace sim_test;

std::string chat_for(const std::string& model) {
  return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})";
}

SimOptions mixed_outcomes(SimOptions options = {}) {
  options = ephemeral(options);
  std::string error;
  options.faults = *parse_fault_script(R"([{"kind":"rate_limit","model":"limited"},
                                           {"kind":"down","model":"dead"},
                                           {"kind":"malformed","model":"broken"},
                                           {"kind":"errors","model":"failing","status":500}])",
                                       error);
  return options;
}

// One request of each outcome (plus a second ok); returns when all are answered.
void send_mixed(std::uint16_t port) {
  Client client(port);
  EXPECT_EQ(client.chat(chat_for("good")).result_int(), 200);
  EXPECT_EQ(client.azure("good", chat_for("x")).result_int(), 200);
  EXPECT_EQ(client.chat(chat_for("limited")).result_int(), 429);
  EXPECT_EQ(client.chat(chat_for("broken")).result_int(), 200);
  EXPECT_EQ(client.chat(chat_for("failing")).result_int(), 500);
  EXPECT_EQ(client.chat(R"({"model":"invalid","messages":[]})").result_int(), 400);
  EXPECT_EQ(client.chat("{not json").result_int(), 400);
  Client dead(port);
  dead.send_only(http::verb::post, "/v1/chat/completions", chat_for("dead"));
  EXPECT_TRUE(dead.closed_by_server());
}

TEST(SimStatistics, CountsEveryOutcomeGloballyAndPerModel) {
  ProviderSimulator sim(mixed_outcomes());
  sim.start();
  send_mixed(sim.port());
  SimStats stats = sim.stats();
  EXPECT_EQ(stats.requests, 8u);
  EXPECT_EQ(stats.ok, 2u);
  EXPECT_EQ(stats.rate_limited, 1u);
  EXPECT_EQ(stats.malformed, 1u);
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(stats.bad_requests, 2u);
  EXPECT_EQ(stats.dropped, 1u);
  EXPECT_EQ(stats.requests, stats.ok + stats.errors + stats.rate_limited + stats.bad_requests +
                                stats.dropped + stats.malformed);
  // The unparseable body has no model; everything else is counted under its model.
  ASSERT_EQ(stats.models.size(), 6u);
  EXPECT_EQ(stats.models.at("good").requests, 2u);  // OpenAI model and Azure deployment
  EXPECT_EQ(stats.models.at("good").ok, 2u);
  EXPECT_EQ(stats.models.at("limited").rate_limited, 1u);
  EXPECT_EQ(stats.models.at("broken").malformed, 1u);
  EXPECT_EQ(stats.models.at("failing").errors, 1u);
  EXPECT_EQ(stats.models.at("invalid").bad_requests, 1u);
  EXPECT_EQ(stats.models.at("dead").dropped, 1u);

  sim.stop();
  EXPECT_EQ(sim.stats().models.at("good").ok, 2u);  // still there after stop()
}

TEST(SimStatistics, StatsEndpointReportsTheSameCountersPerModel) {
  ProviderSimulator sim(mixed_outcomes());
  sim.start();
  send_mixed(sim.port());
  Client client(sim.port());
  auto doc = parse(client.send(http::verb::get, "/stats").body());
  EXPECT_EQ(doc["requests"].GetUint64(), 8u);
  EXPECT_EQ(doc["dropped"].GetUint64(), 1u);
  EXPECT_EQ(doc["malformed"].GetUint64(), 1u);
  ASSERT_TRUE(doc["models"].IsObject());
  EXPECT_EQ(doc["models"]["good"]["ok"].GetUint64(), 2u);
  EXPECT_EQ(doc["models"]["dead"]["dropped"].GetUint64(), 1u);
  EXPECT_EQ(doc["models"]["limited"]["requests"].GetUint64(), 1u);
}

TEST(RequestLog, RecordsModelEndpointArrivalStatusAndFaultRule) {
  SimOptions options;
  options.record_requests = true;
  ProviderSimulator sim(mixed_outcomes(options));
  sim.start();
  send_mixed(sim.port());
  Client client(sim.port());
  EXPECT_EQ(client
                .anthropic(R"({"model":"claude","max_tokens":5,"messages":[)"
                           R"({"role":"user","content":"hi"}]})")
                .result_int(),
            200);

  auto log = sim.request_log();
  ASSERT_EQ(log.size(), 9u);
  struct Expected {
    const char* model;
    SimEndpoint endpoint;
    int status;
    int fault_rule;
  };
  const std::vector<Expected> expected = {
      {"good", SimEndpoint::openai, 200, -1},      {"good", SimEndpoint::azure, 200, -1},
      {"limited", SimEndpoint::openai, 429, 0},    {"broken", SimEndpoint::openai, 200, 2},
      {"failing", SimEndpoint::openai, 500, 3},    {"invalid", SimEndpoint::openai, 400, -1},
      {"", SimEndpoint::openai, 400, -1},          {"dead", SimEndpoint::openai, 0, 1},
      {"claude", SimEndpoint::anthropic, 200, -1},
  };
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(log[i].model, expected[i].model);
    EXPECT_EQ(log[i].endpoint, expected[i].endpoint);
    EXPECT_EQ(log[i].status, expected[i].status);
    EXPECT_EQ(log[i].fault_rule, expected[i].fault_rule);
    EXPECT_GE(log[i].arrival_ms, previous);
    previous = log[i].arrival_ms;
  }
  EXPECT_EQ(to_string(SimEndpoint::anthropic), "anthropic");

  // The questions tests ask: nothing for a model in a window, at most N in any window.
  auto count_between = [&](const std::string& model, std::int64_t from, std::int64_t until) {
    return std::count_if(log.begin(), log.end(), [&](const SimRequestRecord& r) {
      return r.model == model && r.arrival_ms >= from && r.arrival_ms < until;
    });
  };
  EXPECT_EQ(count_between("never-called", 0, 1'000'000), 0);
  EXPECT_EQ(count_between("good", 0, previous + 1), 2);
}

TEST(RequestLog, IsOffByDefault) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  EXPECT_EQ(client.chat(chat_for("m")).result_int(), 200);
  EXPECT_TRUE(sim.request_log().empty());
  EXPECT_EQ(sim.stats().unrecorded_requests, 0u);
}

TEST(RequestLog, KeepsTheFirstRecordsUpToTheLimitAndCountsTheRest) {
  SimOptions options = ephemeral();
  options.record_requests = true;
  options.request_log_limit = 2;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  for (const char* model : {"first", "second", "third", "fourth"})
    EXPECT_EQ(client.chat(chat_for(model)).result_int(), 200);
  auto log = sim.request_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].model, "first");
  EXPECT_EQ(log[1].model, "second");
  EXPECT_EQ(sim.stats().unrecorded_requests, 2u);
}

}  // namespace
}  // namespace switchyard
