#include "switchyard/pricing/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard {
namespace {

// Small fixture in LiteLLM's format. Prices are written the ways the real file writes them
// (exponents, plain decimals, "0.0") and as no double could hold them exactly.
constexpr const char* kFixture = R"json({
  "sample_spec": {
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it."
  },
  "gpt-4o": {
    "litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-06,
    "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
    "max_input_tokens": 128000, "max_output_tokens": 16384
  },
  "azure/gpt-4o": {
    "litellm_provider": "azure", "mode": "chat",
    "input_cost_per_token": 2.75e-06, "output_cost_per_token": 1.1e-05
  },
  "anthropic/claude-thinker": {
    "litellm_provider": "anthropic", "mode": "chat",
    "input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015,
    "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
    "output_cost_per_reasoning_token": 2e-05,
    "max_input_tokens": 200000, "max_tokens": 64000
  },
  "bedrock/anthropic/claude-thinker": {
    "litellm_provider": "bedrock", "mode": "chat",
    "input_cost_per_token": 9e-06, "output_cost_per_token": 9e-05
  },
  "free-model": {"litellm_provider": "ollama", "mode": "chat",
                 "input_cost_per_token": 0.0, "output_cost_per_token": 0},
  "sub-picodollar": {"input_cost_per_token": 1.23e-13, "output_cost_per_token": 1e-06},
  "garbage-price": {"input_cost_per_token": "cheap", "output_cost_per_token": 1e-06},
  "bad-cache-price": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06,
                      "cache_read_input_token_cost": -1e-07},
  "image-model": {"litellm_provider": "openai", "mode": "image_generation",
                  "input_cost_per_image": 0.04},
  "null-output": {"input_cost_per_token": 1e-06, "output_cost_per_token": null},
  "bad-limit": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                "max_input_tokens": "lots"},
  "not-an-object": 42
})json";

PricingCatalog fixture_catalog(std::vector<std::string>& problems) {
  return PricingCatalog::parse(kFixture, problems);
}

bool mentions(const std::vector<std::string>& problems, const std::string& model,
              const std::string& field) {
  for (const std::string& p : problems) {
    if (p.find("'" + model + "'") != std::string::npos && p.find(field) != std::string::npos)
      return true;
  }
  return false;
}

TEST(PricingCatalogFixture, ParsesPricesExactlyFromNumberText) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  const ModelPrice* gpt4o = catalog.find("gpt-4o");
  ASSERT_NE(gpt4o, nullptr);
  EXPECT_EQ(gpt4o->name, "gpt-4o");
  EXPECT_EQ(gpt4o->provider, "openai");
  EXPECT_EQ(gpt4o->mode, "chat");
  EXPECT_EQ(gpt4o->input_per_token, 2'500'000);
  EXPECT_EQ(gpt4o->output_per_token, 10'000'000);
  EXPECT_EQ(gpt4o->cached_input_per_token, 1'250'000);
  EXPECT_EQ(gpt4o->cache_creation_per_token, std::nullopt);
  EXPECT_EQ(gpt4o->reasoning_per_token, std::nullopt);
  EXPECT_EQ(gpt4o->input_batch_per_token, 1'250'000);
  EXPECT_EQ(gpt4o->output_batch_per_token, 5'000'000);
  EXPECT_EQ(gpt4o->max_input_tokens, 128000);
  EXPECT_EQ(gpt4o->max_output_tokens, 16384);

  const ModelPrice* thinker = catalog.find("anthropic/claude-thinker");
  ASSERT_NE(thinker, nullptr);
  EXPECT_EQ(thinker->input_per_token, 3'000'000);
  EXPECT_EQ(thinker->output_per_token, 15'000'000);
  EXPECT_EQ(thinker->cached_input_per_token, 300'000);
  EXPECT_EQ(thinker->cache_creation_per_token, 3'750'000);
  EXPECT_EQ(thinker->reasoning_per_token, 20'000'000);
  EXPECT_EQ(thinker->max_output_tokens, 64000) << "legacy max_tokens stands in";

  const ModelPrice* free_model = catalog.find("free-model");
  ASSERT_NE(free_model, nullptr);
  EXPECT_EQ(free_model->input_per_token, 0);
  EXPECT_EQ(free_model->output_per_token, 0);
}

TEST(PricingCatalogFixture, SkipsEntriesWithoutTokenPricesSilentlyAndBadPricesWithAProblem) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  // Kept: gpt-4o, azure/gpt-4o, anthropic/claude-thinker, bedrock/anthropic/claude-thinker,
  // free-model, bad-limit. sample_spec is neither kept nor counted.
  EXPECT_EQ(catalog.size(), 6u);
  // Skipped: sub-picodollar, garbage-price, bad-cache-price, image-model, null-output,
  // not-an-object.
  EXPECT_EQ(catalog.skipped(), 6u);
  EXPECT_EQ(catalog.find("sample_spec"), nullptr);
  EXPECT_EQ(catalog.find("garbage-price"), nullptr);
  EXPECT_EQ(catalog.find("bad-cache-price"), nullptr);
  EXPECT_EQ(catalog.find("image-model"), nullptr);

  EXPECT_TRUE(mentions(problems, "garbage-price", "input_cost_per_token 'cheap'"));
  EXPECT_TRUE(mentions(problems, "sub-picodollar", "input_cost_per_token '1.23e-13'"));
  EXPECT_TRUE(mentions(problems, "bad-cache-price", "cache_read_input_token_cost '-1e-07'"));
  EXPECT_TRUE(mentions(problems, "not-an-object", "not a JSON object"));
  EXPECT_TRUE(mentions(problems, "bad-limit", "max_input_tokens"));
  EXPECT_FALSE(mentions(problems, "image-model", "")) << "no token prices is not a problem";
  EXPECT_FALSE(mentions(problems, "null-output", "")) << "null is the same as absent";
  EXPECT_EQ(problems.size(), 5u);

  const ModelPrice* bad_limit = catalog.find("bad-limit");
  ASSERT_NE(bad_limit, nullptr) << "a bad limit keeps the prices";
  EXPECT_EQ(bad_limit->max_input_tokens, 0);
}

TEST(PricingCatalogFixture, MalformedDocumentGivesEmptyCatalogAndOneProblem) {
  std::vector<std::string> problems;
  EXPECT_EQ(PricingCatalog::parse("{\"gpt-4o\": {", problems).size(), 0u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("not valid JSON"), std::string::npos);

  problems.clear();
  EXPECT_EQ(PricingCatalog::parse("[1, 2]", problems).size(), 0u);
  EXPECT_EQ(problems.size(), 1u);

  problems.clear();
  EXPECT_EQ(PricingCatalog::load_file("/nonexistent/prices.json", problems).size(), 0u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("/nonexistent/prices.json"), std::string::npos);
}

TEST(PricingCatalogFixture, DuplicateModelNameKeepsTheFirstEntryAndSaysSo) {
  std::vector<std::string> problems;
  PricingCatalog catalog = PricingCatalog::parse(
      R"({"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
          "m": {"input_cost_per_token": 5e-06, "output_cost_per_token": 6e-06}})",
      problems);
  ASSERT_EQ(catalog.size(), 1u);
  EXPECT_EQ(catalog.find("m")->input_per_token, 1'000'000);
  EXPECT_TRUE(mentions(problems, "m", "more than once"));
}

TEST(PricingCatalogLookup, ExactNameWinsOverPrefixNormalisation) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  ASSERT_NE(catalog.find("azure/gpt-4o"), nullptr);
  EXPECT_EQ(catalog.find("azure/gpt-4o")->name, "azure/gpt-4o");
  EXPECT_EQ(catalog.find("gpt-4o")->name, "gpt-4o");
}

TEST(PricingCatalogLookup, ProviderPrefixIsStrippedWhenOnlyTheBareNameExists) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  ASSERT_NE(catalog.find("openai/gpt-4o"), nullptr);
  EXPECT_EQ(catalog.find("openai/gpt-4o")->name, "gpt-4o");
  ASSERT_NE(catalog.find("openrouter/openai/gpt-4o"), nullptr);
  EXPECT_EQ(catalog.find("openrouter/openai/gpt-4o")->name, "gpt-4o");
  ASSERT_NE(catalog.find("vertex/anthropic/claude-thinker"), nullptr);
  EXPECT_EQ(catalog.find("vertex/anthropic/claude-thinker")->name, "anthropic/claude-thinker")
      << "stripping stops at the first name that exists";
  EXPECT_EQ(catalog.find("openai/gpt-5"), nullptr);
}

TEST(PricingCatalogLookup, BareNameFindsThePrefixedEntryWithFewestSegments) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  // Only "anthropic/claude-thinker" and "bedrock/anthropic/claude-thinker" exist.
  ASSERT_NE(catalog.find("claude-thinker"), nullptr);
  EXPECT_EQ(catalog.find("claude-thinker")->name, "anthropic/claude-thinker");
  // A different prefix falls back to the bare name and then to the reverse index.
  ASSERT_NE(catalog.find("google/claude-thinker"), nullptr);
  EXPECT_EQ(catalog.find("google/claude-thinker")->name, "anthropic/claude-thinker");
  EXPECT_EQ(catalog.find("thinker"), nullptr) << "only whole segments match";
  EXPECT_EQ(catalog.find(""), nullptr);
}

TEST(PricingCatalogLookup, ReverseMatchAmongSameDepthPrefixesIsLexicographic) {
  std::vector<std::string> problems;
  PricingCatalog catalog = PricingCatalog::parse(
      R"({"openai/m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
          "azure/m": {"input_cost_per_token": 2e-06, "output_cost_per_token": 2e-06}})",
      problems);
  ASSERT_NE(catalog.find("m"), nullptr);
  EXPECT_EQ(catalog.find("m")->name, "azure/m");
  EXPECT_EQ(catalog.find("m", "openai")->name, "openai/m");
}

TEST(PricingCatalogLookup, ProviderHintPrefersTheProvidersOwnEntry) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  EXPECT_EQ(catalog.find("gpt-4o", "azure")->name, "azure/gpt-4o");
  EXPECT_EQ(catalog.find("gpt-4o", "openai")->name, "gpt-4o");
  EXPECT_EQ(catalog.find("gpt-4o", "")->name, "gpt-4o");
}

TEST(PricingCatalogLookup, CopiedCatalogFindsIntoItsOwnStorage) {
  std::vector<std::string> problems;
  PricingCatalog original = fixture_catalog(problems);
  PricingCatalog copy = original;
  original = PricingCatalog();
  ASSERT_NE(copy.find("claude-thinker"), nullptr);
  EXPECT_EQ(copy.find("claude-thinker")->input_per_token, 3'000'000);
}

// --- cost ---------------------------------------------------------------------------------

ModelPrice thinker_price() {
  std::vector<std::string> problems;
  return *PricingCatalog::parse(kFixture, problems).find("anthropic/claude-thinker");
}

TEST(CallCost, OpenAiUsageBillsCachedTokensOnceAtTheCachedPrice) {
  // prompt_tokens 10,000 of which 4,000 cached; completion 3,000 of which 2,000 reasoning.
  TokenUsage usage = usage_from_openai(10'000, 4'000, 3'000, 2'000);
  EXPECT_EQ(usage.input, 6'000);
  EXPECT_EQ(usage.cached_input, 4'000);
  EXPECT_EQ(usage.cache_creation, 0);
  EXPECT_EQ(usage.output, 3'000);
  EXPECT_EQ(usage.reasoning, 2'000);

  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  // gpt-4o has no reasoning price: all 3,000 completion tokens at the output price, once.
  // 6,000 x 2,500,000 + 4,000 x 1,250,000 + 3,000 x 10,000,000
  EXPECT_EQ(call_cost(*catalog.find("gpt-4o"), usage),
            15'000'000'000 + 5'000'000'000 + 30'000'000'000);
}

TEST(CallCost, ReasoningTokensUseTheReasoningPriceAndAreNotBilledTwice) {
  TokenUsage usage = usage_from_openai(10'000, 4'000, 3'000, 2'000);
  // 6,000 x 3,000,000 (input) + 4,000 x 300,000 (cached) + 1,000 x 15,000,000 (visible output)
  // + 2,000 x 20,000,000 (reasoning) = 18e9 + 1.2e9 + 15e9 + 40e9
  EXPECT_EQ(call_cost(thinker_price(), usage), 74'200'000'000);
}

TEST(CallCost, AnthropicUsageBillsCacheReadsAndWritesOnTopOfInput) {
  // Anthropic input_tokens already excludes cache reads and writes.
  TokenUsage usage = usage_from_anthropic(1'200, 50'000, 2'000, 800);
  EXPECT_EQ(usage.input, 1'200);
  EXPECT_EQ(usage.cached_input, 50'000);
  EXPECT_EQ(usage.cache_creation, 2'000);
  EXPECT_EQ(usage.output, 800);
  EXPECT_EQ(usage.reasoning, 0);
  // 1,200 x 3,000,000 + 50,000 x 300,000 + 2,000 x 3,750,000 + 800 x 15,000,000
  EXPECT_EQ(call_cost(thinker_price(), usage),
            3'600'000'000 + 15'000'000'000 + 7'500'000'000 + 12'000'000'000);
}

TEST(CallCost, UnknownCachePricesFallBackToTheInputPrice) {
  ModelPrice price;
  price.input_per_token = 1'000;
  price.output_per_token = 2'000;
  TokenUsage usage{.input = 10, .cached_input = 20, .cache_creation = 30, .output = 5};
  EXPECT_EQ(call_cost(price, usage), 60 * 1'000 + 5 * 2'000);
}

TEST(CallCost, MoreReasoningThanOutputBillsTheLargerCount) {
  ModelPrice price;
  price.input_per_token = 0;
  price.output_per_token = 7;
  EXPECT_EQ(call_cost(price, TokenUsage{.output = 10, .reasoning = 25}), 25 * 7);
  price.reasoning_per_token = 11;
  EXPECT_EQ(call_cost(price, TokenUsage{.output = 10, .reasoning = 25}), 25 * 11);
}

TEST(CallCost, BatchTierUsesBatchPricesWhereKnownElseStandard) {
  std::vector<std::string> problems;
  PricingCatalog catalog = fixture_catalog(problems);
  TokenUsage usage{.input = 1'000'000, .cached_input = 1'000, .output = 100'000};
  // gpt-4o batch: 1,000,000 x 1,250,000 + 1,000 x 1,250,000 (cached) + 100,000 x 5,000,000
  EXPECT_EQ(call_cost(*catalog.find("gpt-4o"), usage, PriceTier::batch),
            1'250'000'000'000 + 1'250'000'000 + 500'000'000'000);
  // azure/gpt-4o has no batch prices: the standard ones.
  const ModelPrice& azure = *catalog.find("azure/gpt-4o");
  EXPECT_EQ(call_cost(azure, usage, PriceTier::batch), call_cost(azure, usage));
  EXPECT_EQ(call_cost(azure, usage), 1'001'000 * 2'750'000LL + 100'000 * 11'000'000LL);
}

TEST(CallCost, NegativeCountsAreZeroAndOverflowSaturates) {
  ModelPrice price;
  price.input_per_token = 1'000'000;
  price.output_per_token = 1'000'000;
  EXPECT_EQ(call_cost(price, TokenUsage{.input = -5, .output = 3}), 3'000'000);
  EXPECT_EQ(call_cost(price, TokenUsage{.input = std::int64_t{1} << 62, .output = 1}),
            std::numeric_limits<Picodollars>::max());
}

// --- overrides ----------------------------------------------------------------------------

TEST(PriceOverrides, SetFieldsReplaceCatalogValuesAndUnsetFieldsKeepThem) {
  ModelPrice base = thinker_price();
  PriceOverride override_;
  override_.input_per_token = 2'000'000;
  override_.input_batch_per_token = 1'000'000;
  override_.max_input_tokens = 100'000;
  ModelPrice price = apply(base, override_);
  EXPECT_EQ(price.name, base.name);
  EXPECT_EQ(price.provider, "anthropic");
  EXPECT_EQ(price.input_per_token, 2'000'000);
  EXPECT_EQ(price.input_batch_per_token, 1'000'000);
  EXPECT_EQ(price.max_input_tokens, 100'000);
  EXPECT_EQ(price.output_per_token, base.output_per_token);
  EXPECT_EQ(price.cached_input_per_token, base.cached_input_per_token);
  EXPECT_EQ(price.cache_creation_per_token, base.cache_creation_per_token);
  EXPECT_EQ(price.reasoning_per_token, base.reasoning_per_token);
  EXPECT_EQ(price.output_batch_per_token, std::nullopt);
  EXPECT_EQ(price.max_output_tokens, base.max_output_tokens);

  // The override changes what a call costs: 1,000 input tokens at the new price.
  EXPECT_EQ(call_cost(price, TokenUsage{.input = 1'000}), 2'000'000'000);
  EXPECT_EQ(call_cost(apply(base, PriceOverride{}), TokenUsage{.input = 1'000}), 3'000'000'000);
}

TEST(PriceOverrides, OverrideAloneMakesAPriceOnlyWithInputAndOutput) {
  PriceOverride partial;
  partial.input_per_token = 100;
  EXPECT_EQ(price_from_override("local/llama", partial), std::nullopt);
  partial.output_per_token = 300;
  std::optional<ModelPrice> price = price_from_override("local/llama", partial);
  ASSERT_TRUE(price.has_value());
  EXPECT_EQ(price->name, "local/llama");
  EXPECT_EQ(call_cost(*price, TokenUsage{.input = 10, .cached_input = 10, .output = 10}),
            20 * 100 + 10 * 300);
}

// --- the real LiteLLM file ------------------------------------------------------------------

constexpr const char* kShippedCatalog =
    SWITCHYARD_SOURCE_DIR "/data/litellm-prices/model_prices_and_context_window.json";

class RealCatalog : public ::testing::Test {
 protected:
  void SetUp() override { catalog_ = PricingCatalog::load_file(kShippedCatalog, problems_); }
  const ModelPrice& price(const std::string& model) {
    const ModelPrice* found = catalog_.find(model);
    if (!found) throw std::runtime_error("not in the shipped catalog: " + model);
    return *found;
  }
  std::vector<std::string> problems_;
  PricingCatalog catalog_;
};

TEST_F(RealCatalog, TheBuiltInCatalogIsTheShippedFile) {
  std::vector<std::string> problems;
  PricingCatalog builtin = PricingCatalog::builtin(problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(builtin.size(), catalog_.size());
  ASSERT_NE(builtin.find("gpt-4o-mini"), nullptr);
  EXPECT_EQ(builtin.find("gpt-4o-mini")->input_per_token, price("gpt-4o-mini").input_per_token);
}

TEST_F(RealCatalog, LoadsEveryTokenPricedModelWithoutProblems) {
  EXPECT_TRUE(problems_.empty()) << problems_.front();
  // 218 entries; gpt-image-1, gpt-image-1-mini and gpt-realtime-whisper have no token prices.
  EXPECT_EQ(catalog_.size(), 215u);
  EXPECT_EQ(catalog_.skipped(), 3u);
  EXPECT_EQ(catalog_.find("gpt-image-1"), nullptr);
}

TEST_F(RealCatalog, GptFourOMiniPricesAreExact) {
  // "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
  // "cache_read_input_token_cost": 7.5e-08, "*_batches": 7.5e-08 / 3e-07
  const ModelPrice& p = price("gpt-4o-mini");
  EXPECT_EQ(p.provider, "openai");
  EXPECT_EQ(p.mode, "chat");
  EXPECT_EQ(p.input_per_token, 150'000);
  EXPECT_EQ(p.output_per_token, 600'000);
  EXPECT_EQ(p.cached_input_per_token, 75'000);
  EXPECT_EQ(p.input_batch_per_token, 75'000);
  EXPECT_EQ(p.output_batch_per_token, 300'000);
  EXPECT_EQ(p.cache_creation_per_token, std::nullopt);
  EXPECT_EQ(p.reasoning_per_token, std::nullopt);
  EXPECT_EQ(p.max_input_tokens, 128'000);
  EXPECT_EQ(p.max_output_tokens, 16'384);
}

TEST_F(RealCatalog, GptFourOPricesAreExact) {
  // 2.5e-06 / 1e-05, cached 1.25e-06, batches 1.25e-06 / 5e-06
  const ModelPrice& p = price("gpt-4o");
  EXPECT_EQ(p.input_per_token, 2'500'000);
  EXPECT_EQ(p.output_per_token, 10'000'000);
  EXPECT_EQ(p.cached_input_per_token, 1'250'000);
  EXPECT_EQ(p.input_batch_per_token, 1'250'000);
  EXPECT_EQ(p.output_batch_per_token, 5'000'000);
}

TEST_F(RealCatalog, ClaudePricesIncludeCacheReadAndCacheWrite) {
  // claude-sonnet-4-20250514: 3e-06 / 1.5e-05, cache read 3e-07, cache write 3.75e-06
  const ModelPrice& sonnet = price("claude-sonnet-4-20250514");
  EXPECT_EQ(sonnet.provider, "anthropic");
  EXPECT_EQ(sonnet.input_per_token, 3'000'000);
  EXPECT_EQ(sonnet.output_per_token, 15'000'000);
  EXPECT_EQ(sonnet.cached_input_per_token, 300'000);
  EXPECT_EQ(sonnet.cache_creation_per_token, 3'750'000);
  EXPECT_EQ(sonnet.max_input_tokens, 1'000'000);
  EXPECT_EQ(sonnet.max_output_tokens, 64'000);
  // claude-haiku-4-5: 1e-06 / 5e-06, cache read 1e-07, cache write 1.25e-06
  const ModelPrice& haiku = price("claude-haiku-4-5");
  EXPECT_EQ(haiku.input_per_token, 1'000'000);
  EXPECT_EQ(haiku.output_per_token, 5'000'000);
  EXPECT_EQ(haiku.cached_input_per_token, 100'000);
  EXPECT_EQ(haiku.cache_creation_per_token, 1'250'000);
}

TEST_F(RealCatalog, ReasoningPriceIsReadWhereTheFileHasOne) {
  // gemini-2.5-flash: input 3e-07, output 2.5e-06, reasoning 2.5e-06, cache read 3e-08
  const ModelPrice& p = price("gemini-2.5-flash");
  EXPECT_EQ(p.input_per_token, 300'000);
  EXPECT_EQ(p.output_per_token, 2'500'000);
  EXPECT_EQ(p.reasoning_per_token, 2'500'000);
  EXPECT_EQ(p.cached_input_per_token, 30'000);
}

TEST_F(RealCatalog, PrefixedNamesResolveToTheBareEntries) {
  EXPECT_EQ(price("openai/gpt-4o").name, "gpt-4o");
  EXPECT_EQ(price("azure/gpt-4o").name, "gpt-4o");
  EXPECT_EQ(price("anthropic/claude-sonnet-4-20250514").name, "claude-sonnet-4-20250514");
}

TEST_F(RealCatalog, CostOfAReasoningCallWithCachedInputToThePicodollar) {
  // o3-mini: input 1.1e-06, cached 5.5e-07, output 4.4e-06, no reasoning price.
  // OpenAI usage: prompt 10,000 (4,000 cached), completion 3,000 (2,000 reasoning).
  // 6,000 x 1,100,000 + 4,000 x 550,000 + 3,000 x 4,400,000 = 6.6e9 + 2.2e9 + 13.2e9
  EXPECT_EQ(call_cost(price("o3-mini"), usage_from_openai(10'000, 4'000, 3'000, 2'000)),
            22'000'000'000);  // $0.022
  // gpt-4o-mini with one million input and 100k output tokens, standard and batch.
  TokenUsage usage{.input = 1'000'000, .output = 100'000};
  EXPECT_EQ(call_cost(price("gpt-4o-mini"), usage), 150'000'000'000 + 60'000'000'000);
  EXPECT_EQ(call_cost(price("gpt-4o-mini"), usage, PriceTier::batch),
            75'000'000'000 + 30'000'000'000);
  // claude-sonnet-4 with Anthropic usage: 1,200 input, 50,000 cache read, 2,000 cache write,
  // 800 output = 3.6e9 + 15e9 + 7.5e9 + 12e9
  EXPECT_EQ(
      call_cost(price("claude-sonnet-4-20250514"), usage_from_anthropic(1'200, 50'000, 2'000, 800)),
      38'100'000'000);
}

}  // namespace
}  // namespace switchyard
