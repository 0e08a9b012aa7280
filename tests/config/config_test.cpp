#include "switchyard/config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace switchyard {
namespace {

const char* kGood = R"(
kafka:
  bootstrap_servers: 127.0.0.1:9999
  topics:
    interactive: [req.hi]
    background: [req.lo, req.bulk]
postgres:
  url: postgresql:///x
worker:
  default_tier: economy
deployments:
  - name: mini-a
    api_base: http://127.0.0.1:8080/v1
    model: gpt-4o-mini
    tier: economy
    input_cost_per_token: 1.5e-07
    output_cost_per_token: 0.0000006
teams:
  - name: search
    budget_usd: 100
)";

bool has_problem(const ConfigLoad& load, const std::string& fragment) {
  for (const auto& p : load.problems) {
    if (p.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(Config, ValidFileLoadsWithDefaultsFilledIn) {
  auto load = load_config_text(kGood);
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const Config& c = load.config;
  EXPECT_EQ(c.kafka.bootstrap_servers, "127.0.0.1:9999");
  EXPECT_EQ(c.kafka.results_topic, "switchyard.results");
  EXPECT_EQ(c.request_topics(), (std::vector<std::string>{"req.hi", "req.lo", "req.bulk"}));
  EXPECT_EQ(c.class_of_topic("req.hi"), PriorityClass::kInteractive);
  EXPECT_EQ(c.class_of_topic("req.bulk"), PriorityClass::kBackground);
  ASSERT_EQ(c.deployments.size(), 1u);
  EXPECT_EQ(c.deployments[0].group, "gpt-4o-mini");  // defaults to the model
  EXPECT_EQ(c.deployments[0].input_cost_per_token, 150'000);
  EXPECT_EQ(c.deployments[0].output_cost_per_token, 600'000);
  EXPECT_EQ(c.worker.max_in_flight, 20000);
}

TEST(Config, EveryProblemIsListedAtOnce) {
  auto load = load_config_text(R"(
kafka:
  bootstrap_servers: ""
  result_topic: typo
worker:
  max_in_flight: 0
  io_threads: many
deployments:
  - name: a
    provider: gemini
    api_base: ftp://x
    tier: economy
    input_cost_per_token: -1
  - name: a
    api_base: http://x
    model: m
    tier: economy
    input_cost_per_token: 0
    output_cost_per_token: 0
    api_key_env: SWITCHYARD_TEST_SURELY_UNSET_KEY
)");
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "kafka.bootstrap_servers: must not be empty"));
  EXPECT_TRUE(has_problem(load, "kafka.result_topic: unknown key"));
  EXPECT_TRUE(has_problem(load, "worker.max_in_flight: must be between 1 and"));
  EXPECT_TRUE(has_problem(load, "worker.io_threads: must be an integer"));
  EXPECT_TRUE(
      has_problem(load, "deployments[0].provider: must be 'openai' or 'anthropic', got 'gemini'"));
  EXPECT_TRUE(has_problem(load, "deployments[0].api_base: must start with http:// or https://"));
  EXPECT_TRUE(has_problem(load, "deployments[0].model: is required"));
  EXPECT_TRUE(has_problem(load, "deployments[0].input_cost_per_token: must be a non-negative"));
  EXPECT_TRUE(has_problem(load, "deployments[0].output_cost_per_token: is required"));
  EXPECT_TRUE(has_problem(load, "deployments[1].name: 'a' is used twice"));
  EXPECT_TRUE(
      has_problem(load, "environment variable SWITCHYARD_TEST_SURELY_UNSET_KEY is not set"));
  EXPECT_TRUE(has_problem(load, "worker.default_tier: no deployment has tier 'workhorse'"));
  EXPECT_GE(load.problems.size(), 12u);
}

TEST(Config, ApiKeyComesFromTheEnvironmentAndIsNeverStoredInTheConfig) {
  ::setenv("SWITCHYARD_TEST_KEY", "sk-secret-value", 1);
  auto load = load_config_text(std::string(kGood) + "");
  ASSERT_TRUE(load.ok());
  DeploymentConfig d = load.config.deployments[0];
  d.api_key_env = "SWITCHYARD_TEST_KEY";
  EXPECT_EQ(d.api_key(), "sk-secret-value");
  EXPECT_EQ(describe_config_keys().find("sk-secret-value"), std::string::npos);
}

TEST(Config, AnthropicDeploymentsAreRejectedUntilTheAdapterExists) {
  std::string text = kGood;
  text.replace(text.find("    model: gpt-4o-mini"), 0, "    provider: anthropic\n");
  auto load = load_config_text(text);
  EXPECT_TRUE(
      has_problem(load, "deployments[0].provider: the Anthropic Messages API is not supported"));
}

TEST(Config, InvalidYamlIsReportedNotThrown) {
  auto load = load_config_text("kafka: [unclosed");
  ASSERT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "not valid YAML"));
}

TEST(Config, MissingFileIsAClearProblem) {
  auto load = load_config_file("/nonexistent/switchyard.yaml");
  ASSERT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "cannot read config file '/nonexistent/switchyard.yaml'"));
}

TEST(Config, EveryKeyIsDocumented) {
  std::string doc = describe_config_keys();
  EXPECT_NE(doc.find("kafka.bootstrap_servers (default 127.0.0.1:9092)"), std::string::npos);
  EXPECT_NE(doc.find("deployments[].api_key_env"), std::string::npos);
}

}  // namespace
}  // namespace switchyard
