// What a call costs, end to end: a recorded-shape provider response is parsed by its adapter and
// billed by billed_cost() at the deployment's price, resolved by the config loader from the real
// LiteLLM catalog (data/litellm-prices). Every expected value is computed by hand in
// the comment above it, in picodollars (1e-12 USD): a catalog price of 3e-06 USD/token is
// 3,000,000 pd/token.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "fixtures.h"
#include "switchyard/config/config.h"
#include "switchyard/provider/adapter.h"
#include "switchyard/route/router.h"

namespace switchyard {
namespace {

using testing::fixture;
using testing::response_of;

constexpr const char* kShippedCatalog =
    SWITCHYARD_SOURCE_DIR "/data/litellm-prices/model_prices_and_context_window.json";

class ProviderCost : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigLoad load = load_config_text(std::string("pricing:\n  catalog_file: ") + kShippedCatalog +
                                       R"(
deployments:
  - name: o4-mini
    api_base: https://api.openai.com/v1
    model: o4-mini
    tier: workhorse
  - name: gpt-4o-sweden
    provider: azure
    api_base: https://contoso-sweden.openai.azure.com
    model: gpt-4o
    tier: workhorse
  - name: sonnet
    provider: anthropic
    api_base: https://api.anthropic.com/v1
    model: claude-sonnet-4-20250514
    tier: workhorse
)");
    ASSERT_TRUE(load.ok()) << load.problems.front();
    config_ = std::move(load.config);
  }

  const DeploymentConfig& deployment(const std::string& name) const {
    for (const auto& d : config_.deployments) {
      if (d.name == name) return d;
    }
    throw std::runtime_error("no deployment " + name);
  }

  // The usage of `fixture_name` as `d`'s adapter reads it, billed at `d`'s price.
  Picodollars cost_of_fixture(const DeploymentConfig& d, const std::string& fixture_name) const {
    ProviderOutcome outcome =
        parse_provider_response(d, response_of(200, fixture(fixture_name)), "");
    EXPECT_EQ(outcome.kind, OutcomeKind::kOk) << outcome.error_message;
    return billed_cost(d, outcome.usage);
  }

  Config config_;
};

TEST_F(ProviderCost, AnthropicCacheReadsAndWritesAreBilledAtTheirCatalogPrices) {
  // claude-sonnet-4-20250514: input_cost_per_token 3e-06, cache_read_input_token_cost 3e-07,
  // cache_creation_input_token_cost 3.75e-06, output_cost_per_token 1.5e-05.
  // usage: input_tokens 14 (uncached), cache_read 3062, cache_creation 1418, output 393.
  //      14 x  3,000,000 =     42,000,000
  //    3062 x    300,000 =    918,600,000
  //    1418 x  3,750,000 =  5,317,500,000
  //     393 x 15,000,000 =  5,895,000,000
  //                 total = 12,173,100,000 pd = $0.0121731 = 12,173.1 micro-dollars
  const DeploymentConfig& d = deployment("sonnet");
  EXPECT_EQ(d.price_source, "catalog 'claude-sonnet-4-20250514'");
  Picodollars cost = cost_of_fixture(d, "anthropic_message_with_cache.json");
  EXPECT_EQ(cost, 12'173'100'000);
  EXPECT_EQ(format_usd(cost), "0.0121731");
}

TEST_F(ProviderCost, OpenAiReasoningModelBillsCachedInputAtItsPriceAndReasoningAsOutput) {
  // o4-mini: input_cost_per_token 1.1e-06, cache_read_input_token_cost 2.75e-07,
  // output_cost_per_token 4.4e-06, no output_cost_per_reasoning_token (reasoning = output price).
  // usage: prompt_tokens 5210 of which cached 4096; completion_tokens 1630 of which reasoning 1216.
  //   (5210 - 4096) = 1114 x 1,100,000 = 1,225,400,000
  //                   4096 x   275,000 = 1,126,400,000
  //                   1630 x 4,400,000 = 7,172,000,000   (414 visible + 1216 reasoning)
  //                              total = 9,523,800,000 pd = $0.0095238
  const DeploymentConfig& d = deployment("o4-mini");
  Picodollars cost = cost_of_fixture(d, "openai_o4_mini_cached_reasoning.json");
  EXPECT_EQ(cost, 9'523'800'000);
  EXPECT_EQ(format_usd(cost), "0.0095238");
}

TEST_F(ProviderCost, ReasoningTokensAreBilledAtAReasoningPriceWhenThereIsOne) {
  // As above, with a reasoning price of 8.8e-06 (8,800,000 pd) set on the deployment:
  //   1114 x 1,100,000 = 1,225,400,000
  //   4096 x   275,000 = 1,126,400,000
  //    414 x 4,400,000 = 1,821,600,000   (visible output: 1630 - 1216)
  //   1216 x 8,800,000 = 10,700,800,000
  //              total = 14,874,200,000 pd
  DeploymentConfig d = deployment("o4-mini");
  d.price->reasoning_per_token = 8'800'000;
  EXPECT_EQ(cost_of_fixture(d, "openai_o4_mini_cached_reasoning.json"), 14'874'200'000);
}

TEST_F(ProviderCost, AzureCachedInputIsBilledAtTheCachedPrice) {
  // Azure deployment "gpt-4o" (no azure/gpt-4o entry in this catalog: the plain gpt-4o price):
  // input 2.5e-06, cache_read 1.25e-06, output 1e-05.
  // usage: prompt_tokens 1500 of which cached 1280; completion_tokens 200.
  //   220 x  2,500,000 =   550,000,000
  //  1280 x  1,250,000 = 1,600,000,000
  //   200 x 10,000,000 = 2,000,000,000
  //              total = 4,150,000,000 pd = $0.00415
  const DeploymentConfig& d = deployment("gpt-4o-sweden");
  EXPECT_EQ(d.price_source, "catalog 'gpt-4o'");
  EXPECT_EQ(cost_of_fixture(d, "azure_chat_completion_with_filter_results.json"), 4'150'000'000);
}

TEST_F(ProviderCost, AFilteredCompletionIsBilledForWhatItUsed) {
  // gpt-4o, 41 prompt + 87 completion tokens: 41 x 2,500,000 + 87 x 10,000,000 = 972,500,000 pd.
  const DeploymentConfig& d = deployment("gpt-4o-sweden");
  ProviderOutcome outcome =
      parse_provider_response(d, response_of(200, fixture("azure_completion_filtered.json")), "");
  ASSERT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(billed_cost(d, outcome.usage), 972'500'000);
}

TEST_F(ProviderCost, SummedUsageOfSeveralCallsBillsLikeTheCallsOneByOne) {
  const DeploymentConfig& d = deployment("sonnet");
  ProviderOutcome first = parse_provider_response(
      d, response_of(200, fixture("anthropic_message_with_cache.json")), "");
  ProviderOutcome second = parse_provider_response(
      d, response_of(200, fixture("anthropic_message_thinking_max_tokens.json")), "");
  Usage total = first.usage;
  total += second.usage;
  EXPECT_EQ(total.input_tokens, 4494 + 52);
  EXPECT_EQ(total.cached_input_tokens, 3062);
  EXPECT_EQ(total.cache_creation_input_tokens, 1418);
  EXPECT_EQ(total.output_tokens, 393 + 1024);
  // second: 52 x 3,000,000 + 1024 x 15,000,000 = 156,000,000 + 15,360,000,000 = 15,516,000,000
  EXPECT_EQ(billed_cost(d, second.usage), 15'516'000'000);
  EXPECT_EQ(billed_cost(d, total), 12'173'100'000 + 15'516'000'000);
}

}  // namespace
}  // namespace switchyard
