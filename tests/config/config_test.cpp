#include "switchyard/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "switchyard/route/classifier_config.h"

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
    api_base: https://x
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
  EXPECT_TRUE(has_problem(load,
                          "deployments[0].provider: must be 'openai', 'azure' or 'anthropic', got "
                          "'gemini'"));
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

// kGood with its deployment's api_base replaced and `extra` lines added to the deployment.
std::string with_deployment(const std::string& api_base, const std::string& extra = "") {
  std::string text = kGood;
  const std::string old_base = "api_base: http://127.0.0.1:8080/v1";
  text.replace(text.find(old_base), old_base.size(), "api_base: " + api_base);
  text.replace(text.find("    model: gpt-4o-mini"), 0, extra);
  return text;
}

TEST(Config, OpenAiAzureAndAnthropicProvidersLoadWithTheirDefaults) {
  auto openai = load_config_text(kGood);
  ASSERT_TRUE(openai.ok()) << openai.problems.front();
  EXPECT_EQ(openai.config.deployments[0].provider, ProviderKind::kOpenAI);

  auto azure = load_config_text(
      with_deployment("https://contoso.openai.azure.com", "    provider: azure\n"));
  ASSERT_TRUE(azure.ok()) << azure.problems.front();
  EXPECT_EQ(azure.config.deployments[0].provider, ProviderKind::kAzure);
  EXPECT_STREQ(to_string(ProviderKind::kAzure), "azure");
  EXPECT_EQ(azure.config.deployments[0].api_version, "2024-10-21");  // latest GA data plane

  auto pinned = load_config_text(with_deployment(
      "https://contoso.openai.azure.com", "    provider: azure\n    api_version: 2025-01-01\n"));
  ASSERT_TRUE(pinned.ok()) << pinned.problems.front();
  EXPECT_EQ(pinned.config.deployments[0].api_version, "2025-01-01");

  auto anthropic = load_config_text(with_deployment(
      "https://api.anthropic.com/v1", "    provider: anthropic\n    default_max_tokens: 1024\n"));
  ASSERT_TRUE(anthropic.ok()) << anthropic.problems.front();
  EXPECT_EQ(anthropic.config.deployments[0].provider, ProviderKind::kAnthropic);
  EXPECT_EQ(anthropic.config.deployments[0].default_max_tokens, 1024);
  EXPECT_EQ(
      load_config_text(with_deployment("https://api.anthropic.com/v1", "    provider: anthropic\n"))
          .config.deployments[0]
          .default_max_tokens,
      4096);
}

TEST(Config, AnthropicDefaultMaxTokensMustFitTheBudgetWorstCase) {
  auto load = load_config_text(with_deployment(
      "https://api.anthropic.com/v1", "    provider: anthropic\n    default_max_tokens: 8192\n"));
  EXPECT_TRUE(has_problem(load,
                          "deployments[0].default_max_tokens: 8192 is above "
                          "worker.budget_max_output_tokens (4096)"))
      << (load.problems.empty() ? "" : load.problems.front());
  EXPECT_TRUE(
      has_problem(load_config_text(with_deployment("https://x/v1", "    default_max_tokens: 0\n")),
                  "deployments[0].default_max_tokens: must be between 1 and"));
}

TEST(Config, PlainHttpIsAllowedOnlyToLoopbackUnlessConfiguredExplicitly) {
  for (const char* loopback :
       {"http://127.0.0.1:8080/v1", "http://127.8.9.10/v1", "http://localhost:11434/v1",
        "http://LOCALHOST/v1", "http://[::1]:8000/v1", "http://api.localhost:8000/v1",
        "https://api.openai.com/v1", "https://10.0.0.5/v1"}) {
    auto load = load_config_text(with_deployment(loopback));
    EXPECT_TRUE(load.ok()) << loopback << ": " << (load.ok() ? "" : load.problems.front());
  }
  for (const char* remote :
       {"http://vllm.internal:8000/v1", "http://10.0.0.5/v1", "http://128.0.0.1/v1",
        "http://localhost.evil.com/v1", "http://127.0.0.1.nip.io/v1", "http://[::2]:80/v1"}) {
    auto load = load_config_text(with_deployment(remote));
    EXPECT_TRUE(has_problem(load, "deployments[0].api_base: plain http:// to '"))
        << remote << " was accepted";
    EXPECT_TRUE(has_problem(load, "use https:// or set allow_insecure_http: true")) << remote;
    auto allowed = load_config_text(with_deployment(remote, "    allow_insecure_http: true\n"));
    EXPECT_TRUE(allowed.ok()) << remote << ": " << (allowed.ok() ? "" : allowed.problems.front());
  }
  EXPECT_TRUE(has_problem(load_config_text(with_deployment("http://10.0.0.5/v1")),
                          "plain http:// to '10.0.0.5'"));
  // The HTTP client's own parse decides: a base URL it would refuse is refused at load.
  for (const char* refused : {"http://user:pw@127.0.0.1:1/v1", "http://127.0.0.1@example.com/v1"})
    EXPECT_TRUE(has_problem(load_config_text(with_deployment(refused)),
                            "deployments[0].api_base: URL must not contain user info"))
        << refused;
  EXPECT_TRUE(has_problem(load_config_text(with_deployment("https://x:99999/v1")),
                          "deployments[0].api_base: URL has an invalid port"));
  EXPECT_TRUE(has_problem(
      load_config_text(with_deployment("https://x/v1", "    allow_insecure_http: maybe\n")),
      "deployments[0].allow_insecure_http: must be true or false"));
}

TEST(Config, BudgetKeysAreValidated) {
  std::string text = kGood;
  text.replace(text.find("    budget_usd: 100"), std::string("    budget_usd: 100").size(),
               "    budget_usd: 100\n    budget_period: year\n    budget_policy: later\n    "
               "soft_budget_usd: x");
  auto load = load_config_text(text);
  EXPECT_TRUE(has_problem(load, "teams[0].budget_period: must be day, week or month, got 'year'"));
  EXPECT_TRUE(
      has_problem(load, "teams[0].budget_policy: must be reject, downgrade or defer, got 'later'"));
  EXPECT_TRUE(
      has_problem(load, "teams[0].soft_budget_usd: must be a non-negative decimal USD amount"));
  std::string ok = kGood;
  ok.replace(ok.find("    budget_usd: 100"), std::string("    budget_usd: 100").size(),
             "    budget_usd: 100.5\n    budget_period: week\n    budget_policy: downgrade");
  auto good = load_config_text(ok);
  ASSERT_TRUE(good.ok()) << good.problems.front();
  EXPECT_EQ(good.config.teams[0].budget, 100'500'000'000'000);
  EXPECT_EQ(good.config.teams[0].budget_period, "week");
  EXPECT_EQ(good.config.teams[0].budget_policy, BudgetPolicy::kDowngrade);
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

// ---- admin server and logs ---------------------------------------------------------------------

TEST(Config, AdminServerListensOnLoopbackAndLogsAreTextAtInfoByDefault) {
  auto load = load_config_text(kGood);
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const Config& c = load.config;
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9464");
  EXPECT_EQ(c.admin.host, "127.0.0.1");
  EXPECT_EQ(c.admin.port, 9464);
  EXPECT_EQ(c.admin.token(), "");
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.log.level, "info");
  std::string doc = describe_config_keys();
  for (auto key :
       {"admin.listen (default 127.0.0.1:9464)", "admin.token_env", "log.format", "log.level"})
    EXPECT_NE(doc.find(key), std::string::npos) << key;
}

TEST(Config, AdminListenIsHostAndPortOrOff) {
  auto listen = [](const std::string& value) {
    return load_config_text(std::string(kGood) + "admin:\n  listen: \"" + value + "\"\n");
  };
  auto v6 = listen("[::1]:9465");
  ASSERT_TRUE(v6.ok()) << v6.problems.front();
  EXPECT_EQ(v6.config.admin.host, "::1");
  EXPECT_EQ(v6.config.admin.port, 9465);
  auto named = listen("localhost:0");
  ASSERT_TRUE(named.ok()) << named.problems.front();
  EXPECT_EQ(named.config.admin.host, "localhost");
  EXPECT_EQ(named.config.admin.port, 0);
  for (std::string off : {"off", ""}) {
    auto load = listen(off);
    ASSERT_TRUE(load.ok()) << off;
    EXPECT_FALSE(load.config.admin.enabled) << off;
  }
  for (std::string bad : {"9464", "127.0.0.1:", ":9464", "127.0.0.1:99999", "127.0.0.1:http",
                          "::1:9464", "[::1:9464"})
    EXPECT_TRUE(has_problem(listen(bad), "admin.listen: ")) << bad;
}

TEST(Config, AdminListenBeyondLoopbackWithoutATokenIsAConfigError) {
  const std::string exposed = std::string(kGood) + "admin:\n  listen: 0.0.0.0:9464\n";
  auto no_token = load_config_text(exposed);
  EXPECT_TRUE(has_problem(no_token, "admin.listen: 0.0.0.0 is not a loopback address"));

  ::unsetenv("SWITCHYARD_TEST_ADMIN_TOKEN");
  const std::string with_env = exposed + "  token_env: SWITCHYARD_TEST_ADMIN_TOKEN\n";
  auto unset = load_config_text(with_env);
  EXPECT_TRUE(has_problem(unset,
                          "admin.token_env: environment variable "
                          "SWITCHYARD_TEST_ADMIN_TOKEN is not set"));
  EXPECT_FALSE(has_problem(unset, "admin.listen"));

  ::setenv("SWITCHYARD_TEST_ADMIN_TOKEN", "t0ken", 1);
  auto ok = load_config_text(with_env);
  EXPECT_TRUE(ok.ok()) << ok.problems.front();
  EXPECT_EQ(ok.config.admin.token(), "t0ken");
  ::unsetenv("SWITCHYARD_TEST_ADMIN_TOKEN");

  EXPECT_TRUE(load_config_text(std::string(kGood) + "admin:\n  listen: localhost:9464\n").ok());
  EXPECT_TRUE(load_config_text(std::string(kGood) + "admin:\n  listen: off\n").ok());
}

TEST(Config, LogFormatAndLevelAreValidated) {
  auto good = load_config_text(std::string(kGood) + "log:\n  format: json\n  level: debug\n");
  ASSERT_TRUE(good.ok()) << good.problems.front();
  EXPECT_EQ(good.config.log.format, "json");
  EXPECT_EQ(good.config.log.level, "debug");
  auto bad = load_config_text(std::string(kGood) + "log:\n  format: xml\n  level: verbose\n");
  EXPECT_TRUE(has_problem(bad, "log.format: must be one of text, json, got 'xml'"));
  EXPECT_TRUE(has_problem(bad,
                          "log.level: must be one of trace, debug, info, warn, error, "
                          "critical, off, got 'verbose'"));
}

// ---- pricing catalog, tiers and routing -------------------------------------------------------

const std::string kCatalog =
    SWITCHYARD_SOURCE_DIR "/data/litellm-prices/model_prices_and_context_window.json";

// A minimal valid config with the real catalog and the given deployments block.
std::string with_catalog(const std::string& deployments, const std::string& extra = "") {
  return "pricing:\n  catalog_file: " + kCatalog + "\nworker:\n  default_tier: economy\n" + extra +
         "deployments:\n" + deployments;
}

// The environment must not pick a catalog for configs that do not name one.
class ConfigPricing : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv("SWITCHYARD_PRICING_CATALOG"); }
  void TearDown() override { ::unsetenv("SWITCHYARD_PRICING_CATALOG"); }
};

TEST_F(ConfigPricing, CatalogPricesFillADeploymentExactly) {
  auto load = load_config_text(with_catalog(R"(
  - name: mini
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const auto& d = load.config.deployments[0];
  EXPECT_EQ(d.input_cost_per_token, 150'000);   // 1.5e-07 USD
  EXPECT_EQ(d.output_cost_per_token, 600'000);  // 6e-07 USD
  ASSERT_TRUE(d.price.has_value());
  EXPECT_EQ(d.price->input_per_token, 150'000);
  EXPECT_EQ(d.price->cached_input_per_token, 75'000);  // 7.5e-08 USD
  EXPECT_EQ(d.context_window, 128000);                 // the catalog's max_input_tokens
  EXPECT_EQ(d.price_source, "catalog 'gpt-4o-mini'");
  EXPECT_EQ(load.config.pricing.catalog_file, kCatalog);
}

TEST_F(ConfigPricing, ContextWindowComesFromTheCatalogUnlessSet) {
  auto load = load_config_text(with_catalog(R"(
  - name: big
    api_base: https://x/v1
    model: gpt-4.1-mini
    tier: economy
  - name: capped
    api_base: https://x/v1
    model: gpt-4.1-mini
    tier: economy
    context_window: 32000
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.deployments[0].context_window, 1047576);
  EXPECT_EQ(load.config.deployments[1].context_window, 32000);
}

TEST_F(ConfigPricing, ExplicitPriceOverridesTheCatalog) {
  auto load = load_config_text(with_catalog(R"(
  - name: negotiated
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
    input_cost_per_token: 1e-07
    cached_input_cost_per_token: 2e-08
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const auto& d = load.config.deployments[0];
  EXPECT_EQ(d.input_cost_per_token, 100'000);   // the file's price
  EXPECT_EQ(d.output_cost_per_token, 600'000);  // the catalog's, not overridden
  EXPECT_EQ(d.price->cached_input_per_token, 20'000);
  EXPECT_EQ(d.price_source, "catalog 'gpt-4o-mini' + overrides");
}

TEST_F(ConfigPricing, UnknownModelWithoutPricesIsAConfigError) {
  auto load = load_config_text(with_catalog(R"(
  - name: mini
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
  - name: mini-y
    api_base: https://x/v1
    model: gpt-9
    tier: economy
    input_cost_per_token: 1e-06
  - name: mini-x
    api_base: https://x/v1
    model: gpt-9
    tier: economy
)"));
  ASSERT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(
      load, "deployments[2] (mini-x): no price for model 'gpt-9' in the catalog " + kCatalog +
                " and no input_cost_per_token/output_cost_per_token; prices "
                "are never guessed"));
  EXPECT_TRUE(has_problem(load,
                          "deployments[1].output_cost_per_token: is required when the catalog has "
                          "no price for model 'gpt-9'"));
  EXPECT_EQ(load.problems.size(), 2u);
}

TEST_F(ConfigPricing, WithoutACatalogFileTheBuiltInCatalogPricesDeployments) {
  auto load = load_config_text(R"(
worker:
  default_tier: economy
deployments:
  - name: mini
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
)");
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.deployments[0].input_cost_per_token, 150'000);
  EXPECT_EQ(load.config.deployments[0].price_source, "catalog 'gpt-4o-mini'");
  EXPECT_TRUE(load.config.pricing.catalog_file.empty());
}

TEST_F(ConfigPricing, AModelTheBuiltInCatalogLacksNeedsExplicitPrices) {
  auto load = load_config_text(R"(
worker:
  default_tier: economy
deployments:
  - name: mine
    api_base: https://x/v1
    model: my-llama-finetune
    tier: economy
)");
  ASSERT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load,
                          "deployments[0] (mine): no price for model 'my-llama-finetune' in the "
                          "catalog built-in catalog (data/litellm-prices)"));
}

TEST_F(ConfigPricing, ModelWithoutCatalogEntryUsesItsExplicitPrices) {
  auto load = load_config_text(with_catalog(R"(
  - name: self-hosted
    api_base: https://x/v1
    model: my-llama-finetune
    tier: economy
    input_cost_per_token: 0
    output_cost_per_token: 1e-09
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const auto& d = load.config.deployments[0];
  EXPECT_EQ(d.input_cost_per_token, 0);
  EXPECT_EQ(d.output_cost_per_token, 1'000);
  EXPECT_EQ(d.price_source, "config");
  EXPECT_EQ(d.context_window, 128000);  // the default: nothing else knows it
}

TEST_F(ConfigPricing, ProviderPrefixedModelNamesResolve) {
  auto load = load_config_text(with_catalog(R"(
  - name: a
    api_base: https://x/v1
    model: openai/gpt-4o-mini
    tier: economy
  - name: b
    api_base: https://x/v1
    model: openrouter/openai/gpt-4o-mini
    tier: economy
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  for (const auto& d : load.config.deployments) {
    EXPECT_EQ(d.input_cost_per_token, 150'000) << d.name;
    EXPECT_EQ(d.output_cost_per_token, 600'000) << d.name;
  }
}

TEST_F(ConfigPricing, BatchPricingBillsTheCatalogBatchPrices) {
  auto load = load_config_text(with_catalog(R"(
  - name: batch
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
    batch_pricing: true
  - name: batch-negotiated
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
    batch_pricing: true
    input_cost_per_token: 5e-08
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const auto& d = load.config.deployments[0];
  EXPECT_TRUE(d.batch_pricing);
  EXPECT_EQ(d.input_cost_per_token, 75'000);  // input_cost_per_token_batches 7.5e-08
  EXPECT_EQ(d.output_cost_per_token, 300'000);
  EXPECT_EQ(load.config.deployments[1].input_cost_per_token, 50'000);  // explicit wins
  EXPECT_EQ(load.config.deployments[1].output_cost_per_token, 300'000);
}

TEST_F(ConfigPricing, RelativeCatalogPathIsResolvedAgainstTheConfigFile) {
  auto dir = std::filesystem::temp_directory_path() /
             ("switchyard-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "prices");
  {
    std::ofstream(dir / "prices" / "catalog.json")
        << R"({"house-model": {"input_cost_per_token": 2e-07, "output_cost_per_token": 4e-07,
              "max_input_tokens": 64000}, "broken": {"input_cost_per_token": "cheap",
              "output_cost_per_token": 1}})";
    std::ofstream(dir / "config.yaml") << "pricing:\n  catalog_file: prices/catalog.json\n"
                                       << "worker:\n  default_tier: economy\n"
                                       << "deployments:\n  - name: h\n    api_base: https://x/v1\n"
                                       << "    model: house-model\n    tier: economy\n";
  }
  auto load = load_config_file((dir / "config.yaml").string());
  // The malformed "broken" entry is no deployment's model, so it is not this config's problem.
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.pricing.catalog_file, (dir / "prices" / "catalog.json").string());
  EXPECT_EQ(load.config.deployments[0].input_cost_per_token, 200'000);
  EXPECT_EQ(load.config.deployments[0].context_window, 64000);

  // Once a deployment uses it, the catalog's complaint about that entry is reported.
  {
    std::ofstream(dir / "config.yaml", std::ios::app)
        << "  - name: b\n    api_base: https://x/v1\n    model: broken\n    tier: economy\n";
  }
  load = load_config_file((dir / "config.yaml").string());
  EXPECT_TRUE(has_problem(load, "pricing.catalog_file: pricing catalog: model 'broken'"));
  EXPECT_TRUE(has_problem(load, "deployments[1] (b): no price for model 'broken'"));
  std::filesystem::remove_all(dir);
}

TEST_F(ConfigPricing, CatalogComesFromTheEnvironmentWhenTheKeyIsAbsent) {
  // A catalog of its own that prices gpt-4o-mini at ten times the built-in price.
  const auto path = std::filesystem::temp_directory_path() /
                    ("sy-env-catalog-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"gpt-4o-mini": {"input_cost_per_token": 1.5e-06,)"
                      << R"( "output_cost_per_token": 6e-06, "litellm_provider": "openai"}})";
  ::setenv("SWITCHYARD_PRICING_CATALOG", path.c_str(), 1);
  const std::string deployments = R"(
deployments:
  - name: mini
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
)";
  auto load = load_config_text("worker:\n  default_tier: economy\n" + deployments);
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.deployments[0].input_cost_per_token, 1'500'000);
  // An explicit empty key means the built-in catalog, whatever the environment says.
  load = load_config_text("pricing:\n  catalog_file: ''\nworker:\n  default_tier: economy\n" +
                          deployments);
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.deployments[0].input_cost_per_token, 150'000);
  std::filesystem::remove(path);
}

TEST_F(ConfigPricing, UnreadableCatalogIsAProblem) {
  auto load = load_config_text(R"(
pricing:
  catalog_file: /nonexistent/prices.json
worker:
  default_tier: economy
deployments:
  - name: mini
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
    input_cost_per_token: 1e-07
    output_cost_per_token: 1e-07
)");
  EXPECT_TRUE(
      has_problem(load, "pricing.catalog_file: pricing catalog: cannot read '/nonexistent/prices"));
}

const char* kTwoTiers = R"(
  - name: cheap
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
  - name: best
    api_base: https://x/v1
    model: gpt-4.1
    tier: frontier
)";

TEST_F(ConfigPricing, TiersAreOrderedCheapestFirst) {
  auto load = load_config_text(with_catalog(kTwoTiers));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  const Config& c = load.config;
  EXPECT_EQ(c.tiers, (std::vector<std::string>{"economy", "workhorse", "frontier"}));
  EXPECT_EQ(c.tier_rank("economy"), 0);
  EXPECT_EQ(c.tier_rank("workhorse"), 1);
  EXPECT_EQ(c.tier_rank("frontier"), 2);
  EXPECT_EQ(c.tier_rank("premium"), -1);

  load = load_config_text(with_catalog(kTwoTiers, "tiers: [economy, frontier, premium]\n"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.tier_rank("premium"), 2);
}

TEST_F(ConfigPricing, UnknownTierIsAProblem) {
  auto load = load_config_text(with_catalog(kTwoTiers, "tiers: [economy, workhorse]\n"));
  EXPECT_TRUE(has_problem(load,
                          "deployments[1].tier: 'frontier' is not one of tiers [economy, "
                          "workhorse]"));
  load = load_config_text(with_catalog(kTwoTiers, "tiers: [economy, economy, frontier]\n"));
  EXPECT_TRUE(has_problem(load, "tiers: lists tier 'economy' twice"));
  load = load_config_text(with_catalog(kTwoTiers, "tiers: []\n"));
  EXPECT_TRUE(has_problem(load, "tiers: must name at least one tier"));
  std::string text = with_catalog(kTwoTiers);
  text.replace(text.find("default_tier: economy"), 21, "default_tier: premium");
  load = load_config_text(text);
  EXPECT_TRUE(has_problem(load, "worker.default_tier: 'premium' is not one of tiers"));
}

TEST_F(ConfigPricing, TaskTypeTiersMustNameServedTiers) {
  auto load = load_config_text(with_catalog(kTwoTiers, R"(routing:
  task_type_tiers: {classification: economy, reasoning: frontier}
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.routing.task_type_tiers.at("reasoning"), "frontier");

  load = load_config_text(with_catalog(kTwoTiers, R"(routing:
  task_type_tiers: {code: genius, summarization: workhorse, extraction: [economy]}
)"));
  EXPECT_TRUE(has_problem(load, "routing.task_type_tiers.code: 'genius' is not one of tiers"));
  EXPECT_TRUE(has_problem(
      load, "routing.task_type_tiers.summarization: no deployment has tier 'workhorse'"));
  EXPECT_TRUE(has_problem(load, "routing.task_type_tiers: 'extraction' must map to a tier name"));
  EXPECT_FALSE(has_problem(load, "unknown key"));  // task types are not keys
}

TEST_F(ConfigPricing, InteractiveReserveIsAShareBetweenZeroAndOne) {
  auto reserve = [](const std::string& value) {
    return load_config_text(
        with_catalog(kTwoTiers, "routing:\n  interactive_reserve: " + value + "\n"));
  };
  EXPECT_DOUBLE_EQ(load_config_text(with_catalog(kTwoTiers)).config.routing.interactive_reserve,
                   0.2);
  EXPECT_TRUE(reserve("0").ok());
  EXPECT_TRUE(reserve("1").ok());
  EXPECT_DOUBLE_EQ(reserve("0.35").config.routing.interactive_reserve, 0.35);
  EXPECT_TRUE(has_problem(reserve("1.5"), "routing.interactive_reserve: must be between 0 and 1"));
  EXPECT_TRUE(has_problem(reserve("-0.1"), "routing.interactive_reserve: must be between 0 and 1"));
  EXPECT_TRUE(has_problem(reserve("lots"), "routing.interactive_reserve: must be a number"));
  EXPECT_TRUE(has_problem(reserve(".nan"), "routing.interactive_reserve: must be a number"));
}

TEST_F(ConfigPricing, InteractiveStrategyReserveScopeAndLatencyTarget) {
  auto routing = [](const std::string& body) {
    return load_config_text(with_catalog(kTwoTiers, "routing:\n" + body));
  };
  const Config defaults = load_config_text(with_catalog(kTwoTiers)).config;
  EXPECT_EQ(defaults.routing.interactive_strategy, "lowest_latency");
  EXPECT_EQ(defaults.routing.interactive_reserve_scope, "deployment");
  EXPECT_FALSE(defaults.routing.interactive_latency_target_ms.has_value());
  const ConfigLoad set = routing(
      "  interactive_strategy: cheapest\n  interactive_reserve_scope: tier\n"
      "  interactive_latency_target_ms: 1500\n");
  ASSERT_TRUE(set.ok()) << set.problems.front();
  EXPECT_EQ(set.config.routing.interactive_strategy, "cheapest");
  EXPECT_EQ(set.config.routing.interactive_reserve_scope, "tier");
  EXPECT_EQ(set.config.routing.interactive_latency_target_ms, 1500);
  EXPECT_TRUE(
      has_problem(routing("  interactive_strategy: fastest\n"), "routing.interactive_strategy"));
  EXPECT_TRUE(has_problem(routing("  interactive_reserve_scope: fleet\n"),
                          "routing.interactive_reserve_scope"));
  EXPECT_TRUE(has_problem(routing("  interactive_latency_target_ms: 0\n"),
                          "routing.interactive_latency_target_ms"));
}

TEST_F(ConfigPricing, InteractiveInFlightReserveIsAShareUpToNineTenths) {
  auto reserve = [](const std::string& value) {
    return load_config_text(
        with_catalog(kTwoTiers, "  interactive_in_flight_reserve: " + value + "\n"));
  };
  EXPECT_DOUBLE_EQ(
      load_config_text(with_catalog(kTwoTiers)).config.worker.interactive_in_flight_reserve, 0.1);
  EXPECT_TRUE(reserve("0").ok());
  EXPECT_DOUBLE_EQ(reserve("0.25").config.worker.interactive_in_flight_reserve, 0.25);
  const std::string range = "worker.interactive_in_flight_reserve: must be between 0 and 0.9";
  EXPECT_TRUE(has_problem(reserve("0.95"), range));
  EXPECT_TRUE(has_problem(reserve("-0.1"), range));
  EXPECT_TRUE(
      has_problem(reserve("half"), "worker.interactive_in_flight_reserve: must be a number"));
}

TEST_F(ConfigPricing, InputTokenThresholdsMustBeOrdered) {
  auto load = load_config_text(with_catalog(kTwoTiers, R"(routing:
  long_input_tokens: 400
  short_input_tokens: 500
)"));
  EXPECT_TRUE(has_problem(load,
                          "routing.short_input_tokens: must be below "
                          "routing.long_input_tokens (400)"));
}

TEST_F(ConfigPricing, DeploymentRoutingKeysAreReadAndValidated) {
  auto load = load_config_text(with_catalog(R"(
  - name: a
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
    latency_target_ms: 800
    weight: 3
  - name: b
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  EXPECT_EQ(load.config.deployments[0].latency_target_ms, 800);
  EXPECT_EQ(load.config.deployments[0].weight, 3);
  EXPECT_FALSE(load.config.deployments[1].latency_target_ms.has_value());
  EXPECT_EQ(load.config.deployments[1].weight, 0);
  EXPECT_FALSE(load.config.deployments[1].batch_pricing);

  load = load_config_text(with_catalog(R"(
  - name: a
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
    latency_target_ms: 0
    weight: -1
    batch_pricing: sometimes
)"));
  EXPECT_TRUE(has_problem(load, "deployments[0].latency_target_ms: must be between 1 and"));
  EXPECT_TRUE(has_problem(load, "deployments[0].weight: must be between 0 and"));
  EXPECT_TRUE(has_problem(load, "deployments[0].batch_pricing: must be true or false"));
}

TEST_F(ConfigPricing, ClassifierConfigMapsTheRoutingSettings) {
  auto load = load_config_text(with_catalog(R"(
  - name: cheap
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
  - name: mid
    api_base: https://x/v1
    model: gpt-4.1-mini
    tier: workhorse
  - name: best
    api_base: https://x/v1
    model: gpt-4.1
    tier: frontier
)",
                                            R"(routing:
  task_type_tiers: {code: frontier}
  long_input_tokens: 12000
  short_input_tokens: 300
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  ClassifierConfig cc = classifier_config(load.config);
  EXPECT_EQ(cc.task_type_tiers, (std::map<std::string, std::string>{{"code", "frontier"}}));
  EXPECT_EQ(cc.default_tier, "economy");  // worker.default_tier
  EXPECT_EQ(cc.code_tier, "economy");
  EXPECT_EQ(cc.economy_tier, "economy");
  EXPECT_EQ(cc.frontier_tier, "frontier");
  EXPECT_EQ(cc.long_input_tokens, 12000);
  EXPECT_EQ(cc.short_input_tokens, 300);
  EXPECT_EQ(cc.long_system_prompt_tokens, ClassifierConfig{}.long_system_prompt_tokens);
}

TEST_F(ConfigPricing, ClassifierConfigNeverPicksATierNobodyServes) {
  auto load = load_config_text(with_catalog(R"(
  - name: mid
    api_base: https://x/v1
    model: gpt-4.1-mini
    tier: workhorse
  - name: cheap
    api_base: https://x/v1
    model: gpt-4o-mini
    tier: economy
)"));
  ASSERT_TRUE(load.ok()) << load.problems.front();
  ClassifierConfig cc = classifier_config(load.config);
  EXPECT_EQ(cc.economy_tier, "economy");
  EXPECT_EQ(cc.frontier_tier, "workhorse");  // the best tier that has a deployment
}

TEST_F(ConfigPricing, NewKeysAreDocumented) {
  std::string doc = describe_config_keys();
  for (const char* key :
       {"pricing.catalog_file", "tiers (default [economy, workhorse, frontier])",
        "routing.task_type_tiers", "routing.interactive_reserve (default 0.2)",
        "routing.long_input_tokens (default 8000)", "routing.short_input_tokens (default 500)",
        "deployments[].cached_input_cost_per_token", "deployments[].latency_target_ms",
        "deployments[].weight (default 0)", "deployments[].batch_pricing (default false)"}) {
    EXPECT_NE(doc.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace switchyard

namespace switchyard {
namespace {

TEST(ConfigTenancy, ATeamTopicHasOneOwnerAndIsARequestTopic) {
  ConfigLoad load = load_config_text(R"(
kafka:
  topics: {interactive: [ads.interactive], background: [shared.background]}
worker: {default_tier: economy}
teams:
  - {name: ads, topics: [ads.interactive, ads.background]}
  - {name: search, topics: [ads.interactive], reply_topics: [r.search]}
  - {name: web, reply_topics: [r.search]}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  EXPECT_TRUE(
      has_problem(load, "teams[1].topics: 'ads.interactive' is also listed for team 'ads'"));
  EXPECT_TRUE(has_problem(load,
                          "teams[0].topics: 'ads.background' is not a request topic: list "
                          "it under kafka.topics.interactive or kafka.topics.background"));
  EXPECT_TRUE(
      has_problem(load, "teams[2].reply_topics: 'r.search' is also listed for team 'search'"));
  EXPECT_EQ(load.problems.size(), 3u);
  EXPECT_FALSE(load.config.tenancy.allow_unknown_teams) << "unknown teams are refused by default";
  EXPECT_EQ(load.config.team_of_topic("ads.interactive")->name, "ads");
  EXPECT_EQ(load.config.team_of_topic("shared.background"), nullptr);
}

TEST(ConfigTenancy, SigningKeysComeFromTheEnvironmentAndMustBeLongEnough) {
  ::setenv("SY_TEST_SIGN_OK", "0123456789abcdef0123456789abcdef, fedcba9876543210fedcba9876543210",
           1);
  ::setenv("SY_TEST_SIGN_SHORT", "tiny-secret-key", 1);
  ::unsetenv("SY_TEST_SIGN_UNSET");
  ConfigLoad load = load_config_text(R"(
kafka:
  topics: {background: [shared.background]}
worker: {default_tier: economy}
teams:
  - {name: ads, signing_key_env: SY_TEST_SIGN_OK}
  - {name: search, signing_key_env: SY_TEST_SIGN_SHORT, require_signature: false}
  - {name: web, signing_key_env: SY_TEST_SIGN_UNSET}
  - {name: open}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  EXPECT_TRUE(has_problem(load,
                          "teams[1].signing_key_env: key 1 of SY_TEST_SIGN_SHORT has 15 "
                          "bytes; a signing key needs at least 32"));
  EXPECT_TRUE(has_problem(
      load, "teams[2].signing_key_env: environment variable SY_TEST_SIGN_UNSET is not set"));
  EXPECT_EQ(load.problems.size(), 2u);
  for (const auto& problem : load.problems)
    EXPECT_EQ(problem.find("tiny-secret"), std::string::npos) << "no key in a message: " << problem;
  EXPECT_TRUE(load.config.any_team_signs());
  EXPECT_EQ(load.config.teams[0].signing_keys().size(), 2u) << "two keys: a rotation";
  EXPECT_TRUE(load.config.teams[0].require_signature) << "required by default with a key";
  EXPECT_FALSE(load.config.teams[1].require_signature);
  EXPECT_TRUE(load.config.teams[3].signing_keys().empty());
}

}  // namespace
}  // namespace switchyard
