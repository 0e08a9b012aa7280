// Fault scripts: parsing (every problem reported), each fault kind in each dialect, time
// windows, model filters, rule order and determinism under the seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sim/sim_client.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {
namespace {

using namespace sim_test;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::string chat_for(const std::string& model) {
  return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})";
}
std::string anthropic_for(const std::string& model) {
  return R"({"model":")" + model +
         R"(","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
}

std::vector<FaultRule> parse_ok(const std::string& json) {
  std::string error;
  auto rules = parse_fault_script(json, error);
  EXPECT_TRUE(rules.has_value()) << error;
  EXPECT_TRUE(error.empty());
  return rules.value_or(std::vector<FaultRule>{});
}

// The problems of a script that must not parse, one per line.
std::vector<std::string> parse_problems(const std::string& json) {
  std::string error;
  auto rules = parse_fault_script(json, error);
  EXPECT_FALSE(rules.has_value()) << json;
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < error.size()) {
    std::size_t end = error.find('\n', begin);
    if (end == std::string::npos) end = error.size();
    lines.push_back(error.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

bool mentions(const std::vector<std::string>& lines, const std::string& text) {
  for (const auto& line : lines) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

SimOptions with_faults(const std::string& script, SimOptions options = {}) {
  options = ephemeral(options);
  options.faults = parse_ok(script);
  return options;
}

TEST(FaultScript, ParsesEveryFieldOfEveryKind) {
  auto rules = parse_ok(R"([
    {"model":"gpt-4o","from_ms":100,"until_ms":5000,"kind":"down","delay_ms":20},
    {"kind":"errors","status":502,"rate":0.25},
    {"kind":"rate_limit","retry_after_s":7,"comment":"a storm"},
    {"kind":"slow_first_byte","delay_ms":3000,"rate":0.5},
    {"kind":"malformed","rate":0.01,"model":"claude"}
  ])");
  ASSERT_EQ(rules.size(), 5u);
  EXPECT_EQ(rules[0].kind, FaultKind::down);
  EXPECT_EQ(rules[0].model, "gpt-4o");
  EXPECT_EQ(rules[0].from_ms, 100);
  EXPECT_EQ(rules[0].until_ms, 5000);
  EXPECT_EQ(rules[0].delay_ms, 20);
  EXPECT_DOUBLE_EQ(rules[0].rate, 1.0);
  EXPECT_EQ(rules[1].kind, FaultKind::errors);
  EXPECT_EQ(rules[1].status, 502);
  EXPECT_DOUBLE_EQ(rules[1].rate, 0.25);
  EXPECT_TRUE(rules[1].model.empty());
  EXPECT_EQ(rules[1].from_ms, 0);
  EXPECT_FALSE(rules[1].until_ms.has_value());
  EXPECT_EQ(rules[2].kind, FaultKind::rate_limit);
  EXPECT_EQ(rules[2].retry_after_s, 7);
  EXPECT_EQ(rules[3].kind, FaultKind::slow_first_byte);
  EXPECT_EQ(rules[3].delay_ms, 3000);
  EXPECT_EQ(rules[4].kind, FaultKind::malformed);
  EXPECT_EQ(rules[4].model, "claude");
  EXPECT_EQ(parse_ok(R"([{"kind":"errors"}])")[0].status, 503);  // the default
}

TEST(FaultScript, AcceptsTheObjectFormAndEmptyScripts) {
  EXPECT_EQ(parse_ok(R"({"comment":"outage drill","faults":[{"kind":"down"}]})").size(), 1u);
  EXPECT_TRUE(parse_ok("[]").empty());
  EXPECT_TRUE(parse_ok(R"({"faults":[]})").empty());
}

TEST(FaultScript, ReportsEveryProblemOfEveryRuleAtOnce) {
  auto problems = parse_problems(R"([
    {"kind":"errors","status":200,"rate":1.5},
    {"kind":"explode"},
    {"model":"m"},
    {"kind":"down","status":500,"retry_after_s":3},
    {"kind":"slow_first_byte"},
    {"kind":"rate_limit","from_ms":500,"until_ms":100,"retry_after_s":-1},
    {"kind":"errors","from_ms":-5,"colour":"red","model":7,"rate":"half"},
    "not a rule"
  ])");
  EXPECT_TRUE(mentions(problems, "faults[0].status must be between 400 and 599, got 200"));
  EXPECT_TRUE(mentions(problems, "faults[0].rate must be between 0 and 1, got 1.5"));
  EXPECT_TRUE(mentions(problems, "faults[1].kind 'explode'"));
  EXPECT_TRUE(mentions(problems, "faults[2].kind is required"));
  EXPECT_TRUE(mentions(problems, "faults[3].status does not apply to kind down"));
  EXPECT_TRUE(mentions(problems, "faults[3].retry_after_s does not apply to kind down"));
  EXPECT_TRUE(mentions(problems, "faults[4].delay_ms is required for kind slow_first_byte"));
  EXPECT_TRUE(mentions(problems, "faults[5].until_ms must be greater than from_ms"));
  EXPECT_TRUE(mentions(problems, "faults[6]: unknown field 'colour'"));
  EXPECT_TRUE(mentions(problems, "faults[6].model must be a string"));
  EXPECT_TRUE(mentions(problems, "faults[6].rate must be a number"));
  EXPECT_TRUE(mentions(problems, "faults[7] must be an object"));
  EXPECT_GE(problems.size(), 12u);
}

TEST(FaultScript, RejectsInvalidJsonAndOtherTopLevelShapes) {
  auto json = parse_problems(R"([{"kind":"down"},)");
  ASSERT_EQ(json.size(), 1u);
  EXPECT_NE(json[0].find("not valid JSON"), std::string::npos) << json[0];
  EXPECT_TRUE(mentions(parse_problems("42"), "array of rules"));
  EXPECT_TRUE(mentions(parse_problems(R"({"rules":[]})"), "unknown top-level field 'rules'"));
}

TEST(FaultScript, StartRejectsInvalidRulesGivenInCode) {
  SimOptions options = ephemeral();
  FaultRule rule;
  rule.kind = FaultKind::errors;
  rule.rate = -0.5;
  rule.status = 302;
  options.faults.push_back(rule);
  ProviderSimulator sim(options);
  try {
    sim.start();
    FAIL() << "start() accepted a bad fault rule";
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("faults[0].rate"), std::string::npos) << what;
    EXPECT_NE(what.find("faults[0].status"), std::string::npos) << what;
  }
}

TEST(Faults, DownClosesTheConnectionWithoutAnAnswerForThatModelOnly) {
  ProviderSimulator sim(with_faults(R"([{"kind":"down","model":"dead"}])"));
  sim.start();
  Client dead(sim.port());
  dead.send_only(http::verb::post, "/v1/chat/completions", chat_for("dead"));
  EXPECT_TRUE(dead.closed_by_server());
  Client alive(sim.port());
  EXPECT_EQ(alive.chat(chat_for("alive")).result_int(), 200);
  SimStats stats = sim.stats();
  EXPECT_EQ(stats.dropped, 1u);
  EXPECT_EQ(stats.models.at("dead").dropped, 1u);
  EXPECT_EQ(stats.models.at("dead").requests, 1u);
  EXPECT_EQ(stats.models.at("alive").ok, 1u);
}

TEST(Faults, DownWithDelayHoldsTheRequestThenCloses) {
  ProviderSimulator sim(with_faults(R"([{"kind":"down","delay_ms":100}])"));
  sim.start();
  Client client(sim.port());
  auto sent = SteadyClock::now();
  client.send_only(http::verb::post, "/v1/messages", anthropic_for("c"),
                   Client::anthropic_headers());
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_GE(SteadyClock::now() - sent, milliseconds(100));
}

TEST(Faults, ErrorsAnswerTheStatusWithEachDialectsErrorBody) {
  ProviderSimulator sim(with_faults(R"([{"kind":"errors","model":"m503","status":503},
                                        {"kind":"errors","model":"m529","status":529},
                                        {"kind":"errors","model":"m401","status":401}])"));
  sim.start();
  Client client(sim.port());

  Response openai = client.chat(chat_for("m503"));
  EXPECT_EQ(openai.result_int(), 503);
  EXPECT_STREQ(parse(openai.body())["error"]["type"].GetString(), "server_error");
  EXPECT_FALSE(header(openai, "x-ratelimit-limit-requests").empty());

  Response azure = client.azure("m503", chat_for("x"));
  EXPECT_EQ(azure.result_int(), 503);
  EXPECT_STREQ(parse(azure.body())["error"]["type"].GetString(), "server_error");
  Response azure_auth = client.azure("m401", chat_for("x"));
  EXPECT_EQ(azure_auth.result_int(), 401);
  EXPECT_STREQ(parse(azure_auth.body())["error"]["code"].GetString(), "401");

  for (auto [model, status, type] :
       {std::tuple{"m503", 503, "api_error"}, std::tuple{"m529", 529, "overloaded_error"},
        std::tuple{"m401", 401, "authentication_error"}}) {
    Response anthropic = client.anthropic(anthropic_for(model));
    EXPECT_EQ(anthropic.result_int(), status) << model;
    auto doc = parse(anthropic.body());
    EXPECT_STREQ(doc["type"].GetString(), "error");
    EXPECT_STREQ(doc["error"]["type"].GetString(), type) << model;
  }
  SimStats stats = sim.stats();
  EXPECT_EQ(stats.errors, 6u);
  EXPECT_EQ(stats.models.at("m503").errors, 3u);
}

TEST(Faults, RateLimitAnswers429AtOnceWithTheRulesRetryAfter) {
  ProviderSimulator sim(with_faults(R"([{"kind":"rate_limit","retry_after_s":9},
                                        {"kind":"errors","status":429}])"));
  sim.start();
  Client client(sim.port());
  Response openai = client.chat(chat_for("m"));
  EXPECT_EQ(openai.result_int(), 429);
  EXPECT_EQ(header(openai, "Retry-After"), "9");
  EXPECT_STREQ(parse(openai.body())["error"]["code"].GetString(), "rate_limit_exceeded");
  Response azure = client.azure("d", chat_for("m"));
  EXPECT_EQ(azure.result_int(), 429);
  EXPECT_EQ(header(azure, "Retry-After"), "9");
  EXPECT_STREQ(parse(azure.body())["error"]["code"].GetString(), "429");
  Response anthropic = client.anthropic(anthropic_for("c"));
  EXPECT_EQ(anthropic.result_int(), 429);
  EXPECT_EQ(header(anthropic, "retry-after"), "9");
  EXPECT_STREQ(parse(anthropic.body())["error"]["type"].GetString(), "rate_limit_error");
  EXPECT_EQ(sim.stats().rate_limited, 3u);
}

// enforce_limits: the minute's requests are granted, the next one is refused 429 with the
// seconds to the next minute. (A test that straddles a minute boundary would see a fresh
// minute: it then waits for the boundary and runs again.)
TEST(Faults, EnforcedLimitsRefuseTheRequestsPastTheMinutesRpm) {
  SimOptions options;
  options.requests_per_minute = 3;
  options.enforce_limits = true;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto minute = std::time(nullptr) / 60;
    ProviderSimulator sim(options);
    sim.start();
    Client client(sim.port());
    std::vector<int> statuses;
    for (int i = 0; i < 5; ++i) statuses.push_back(client.chat(chat_for("m")).result_int());
    Response refused = client.chat(chat_for("m"));
    if (std::time(nullptr) / 60 != minute) continue;  // crossed a minute: try again
    EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 429, 429}));
    EXPECT_EQ(refused.result_int(), 429);
    const int retry_after = std::stoi(std::string(header(refused, "Retry-After")));
    EXPECT_GE(retry_after, 1);
    EXPECT_LE(retry_after, 60);
    EXPECT_EQ(sim.stats().rate_limited, 3u);
    EXPECT_EQ(sim.stats().ok, 3u);
    return;
  }
  FAIL() << "every attempt crossed a minute boundary";
}

TEST(Faults, ErrorsRuleWithStatus429CountsAsRateLimitedWithTheDefaultRetryAfter) {
  SimOptions options;
  options.retry_after_s = 4;
  ProviderSimulator sim(with_faults(R"([{"kind":"errors","status":429}])", options));
  sim.start();
  Client client(sim.port());
  Response response = client.chat(chat_for("m"));
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_EQ(header(response, "Retry-After"), "4");
  EXPECT_EQ(sim.stats().rate_limited, 1u);
}

TEST(Faults, SlowFirstByteDelaysAnOtherwiseNormalReply) {
  SimOptions options;
  options.record_requests = true;
  ProviderSimulator sim(
      with_faults(R"([{"kind":"slow_first_byte","delay_ms":150,"model":"slow"}])", options));
  sim.start();
  Client client(sim.port());
  auto sent = SteadyClock::now();
  Response response = client.chat(chat_for("slow"));
  EXPECT_GE(SteadyClock::now() - sent, milliseconds(150));
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_STREQ(parse(response.body())["object"].GetString(), "chat.completion");
  EXPECT_EQ(sim.stats().ok, 1u);
  auto log = sim.request_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].fault_rule, 0);
  EXPECT_EQ(log[0].status, 200);
}

TEST(Faults, MalformedAnswers200WithATruncatedBody) {
  ProviderSimulator sim(with_faults(R"([{"kind":"malformed"}])"));
  sim.start();
  Client client(sim.port());
  for (const Response& response : {client.chat(chat_for("m")), client.anthropic(anthropic_for("c")),
                                   client.azure("d", chat_for("m"))}) {
    EXPECT_EQ(response.result_int(), 200);
    EXPECT_EQ(header(response, "Content-Type"), "application/json");
    EXPECT_EQ(header(response, "Content-Length"), std::to_string(response.body().size()));
    EXPECT_EQ(response.body().front(), '{');
    rapidjson::Document doc;
    doc.Parse(response.body().c_str());
    EXPECT_TRUE(doc.HasParseError()) << response.body();
  }
  SimStats stats = sim.stats();
  EXPECT_EQ(stats.malformed, 3u);
  EXPECT_EQ(stats.ok, 0u);
}

TEST(Faults, FirstMatchingRuleDecidesAndModelsFilterRules) {
  ProviderSimulator sim(with_faults(R"([{"kind":"down","model":"a"},
                                        {"kind":"errors","status":502,"model":"b"},
                                        {"kind":"errors","status":500}])"));
  sim.start();
  Client a(sim.port());
  a.send_only(http::verb::post, "/v1/chat/completions", chat_for("a"));
  EXPECT_TRUE(a.closed_by_server());
  Client client(sim.port());
  EXPECT_EQ(client.chat(chat_for("b")).result_int(), 502);
  EXPECT_EQ(client.chat(chat_for("c")).result_int(), 500);
}

TEST(Faults, UntilMsEndsTheWindow) {
  SimOptions options;
  options.record_requests = true;
  ProviderSimulator sim(with_faults(R"([{"kind":"errors","until_ms":150}])", options));
  sim.start();
  Client client(sim.port());
  auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  int status = 0;
  while (status != 200 && SteadyClock::now() < deadline) {
    status = client.chat(chat_for("m")).result_int();
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(status, 200) << "the window never ended";
  // Each request's answer agrees with its arrival time.
  for (const auto& record : sim.request_log()) {
    EXPECT_EQ(record.status, record.arrival_ms < 150 ? 503 : 200) << record.arrival_ms;
    EXPECT_EQ(record.fault_rule, record.arrival_ms < 150 ? 0 : -1);
  }
}

TEST(Faults, FromMsStartsTheWindow) {
  SimOptions options;
  options.record_requests = true;
  ProviderSimulator sim(
      with_faults(R"([{"kind":"rate_limit","from_ms":100,"model":"late"}])", options));
  sim.start();
  Client client(sim.port());
  auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  int status = 0;
  while (status != 429 && SteadyClock::now() < deadline) {
    status = client.chat(chat_for("late")).result_int();
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(status, 429) << "the window never began";
  for (const auto& record : sim.request_log())
    EXPECT_EQ(record.status, record.arrival_ms < 100 ? 200 : 429) << record.arrival_ms;
}

// Statuses of `count` sequential requests under a 50% errors rule.
std::vector<int> statuses_under_half_errors(std::uint64_t seed, int count) {
  SimOptions options;
  options.seed = seed;
  ProviderSimulator sim(with_faults(R"([{"kind":"errors","rate":0.5,"status":503}])", options));
  sim.start();
  Client client(sim.port());
  std::vector<int> statuses;
  for (int i = 0; i < count; ++i) statuses.push_back(client.chat(chat_for("m")).result_int());
  return statuses;
}

TEST(Faults, RateIsASeededShareOfMatchingRequests) {
  auto first = statuses_under_half_errors(11, 60);
  EXPECT_EQ(first, statuses_under_half_errors(11, 60));
  EXPECT_NE(first, statuses_under_half_errors(12, 60));
  auto errors = std::count(first.begin(), first.end(), 503);
  EXPECT_GT(errors, 10);
  EXPECT_LT(errors, 50);
  EXPECT_EQ(errors + std::count(first.begin(), first.end(), 200), 60);
}

TEST(Faults, RatesOfMatchingRulesAreSharesOfTheSameRequests) {
  ProviderSimulator sim(with_faults(R"([{"kind":"errors","rate":0.2,"status":503},
                                        {"kind":"rate_limit","rate":0.1}])"));
  sim.start();
  Client client(sim.port());
  int errors = 0, limited = 0;
  constexpr int kRequests = 1000;
  for (int i = 0; i < kRequests; ++i) {
    int status = client.chat(chat_for("m")).result_int();
    errors += status == 503;
    limited += status == 429;
  }
  // 20% and 10% of all requests (not 10% of the 80% left): fixed by the seed, within sampling.
  EXPECT_NEAR(errors, 200, 45);
  EXPECT_NEAR(limited, 100, 35);
}

TEST(Faults, ValidationErrorsAreAnsweredBeforeFaults) {
  ProviderSimulator sim(with_faults(R"([{"kind":"down"}])"));
  sim.start();
  Client client(sim.port());
  EXPECT_EQ(client.chat("{not json").result_int(), 400);
  EXPECT_EQ(client.anthropic(anthropic_for("c"), {}).result_int(), 401);
}

}  // namespace
}  // namespace switchyard
