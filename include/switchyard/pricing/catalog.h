#pragma once
// The pricing catalog: model prices read from LiteLLM's `model_prices_and_context_window.json`
// format, looked up by model name, and the cost of one provider call in picodollars.
//
// Prices never pass through a double: the JSON is parsed with numbers kept as their text, and the
// text goes to parse_usd(), so "1.5e-07" is exactly 150'000 picodollars.
//
// Lifecycle and concurrency: a PricingCatalog is built once at start (parse() / load_file()) and
// is immutable afterwards; find() and call_cost() are const and safe to call from any thread.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/common/money.h"

namespace switchyard {

// The prices of one catalog entry, all in picodollars per token. Field <- LiteLLM key:
//   provider                 <- litellm_provider
//   mode                     <- mode (chat, embedding, completion, ...)
//   input_per_token          <- input_cost_per_token             (required)
//   output_per_token         <- output_cost_per_token            (required)
//   cached_input_per_token   <- cache_read_input_token_cost
//   cache_creation_per_token <- cache_creation_input_token_cost
//   reasoning_per_token      <- output_cost_per_reasoning_token
//   input_batch_per_token    <- input_cost_per_token_batches
//   output_batch_per_token   <- output_cost_per_token_batches
//   max_input_tokens         <- max_input_tokens                 (0 = unknown)
//   max_output_tokens        <- max_output_tokens, else the legacy max_tokens (0 = unknown)
// Tiered variants (`*_above_200k_tokens`, `*_priority`, `*_flex`, `*_above_1hr`) are not read:
// every token of a call is billed at the base price.
struct ModelPrice {
  std::string name;
  std::string provider;
  std::string mode;
  Picodollars input_per_token = 0;
  Picodollars output_per_token = 0;
  std::optional<Picodollars> cached_input_per_token;
  std::optional<Picodollars> cache_creation_per_token;
  std::optional<Picodollars> reasoning_per_token;
  std::optional<Picodollars> input_batch_per_token;
  std::optional<Picodollars> output_batch_per_token;
  std::int64_t max_input_tokens = 0;
  std::int64_t max_output_tokens = 0;
};

// Token counts of one call, split into disjoint billing classes — except `reasoning`, which is a
// part of `output`:
//   input          prompt tokens that were neither read from nor written to a cache
//   cached_input   prompt tokens read from the provider's prompt cache
//   cache_creation prompt tokens written to the cache (Anthropic cache_creation_input_tokens)
//   output         all generated tokens, reasoning tokens INCLUDED (OpenAI completion_tokens)
//   reasoning      how many of `output` were reasoning tokens (0 when not reported)
// Providers report these differently; use the usage_from_* helpers below instead of filling the
// fields by hand. Negative counts are treated as 0.
struct TokenUsage {
  std::int64_t input = 0;
  std::int64_t cached_input = 0;
  std::int64_t cache_creation = 0;
  std::int64_t output = 0;
  std::int64_t reasoning = 0;
};

// OpenAI chat completions: `usage.prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens`,
// and `usage.completion_tokens` INCLUDES `completion_tokens_details.reasoning_tokens`.
TokenUsage usage_from_openai(std::int64_t prompt_tokens, std::int64_t cached_tokens,
                             std::int64_t completion_tokens, std::int64_t reasoning_tokens = 0);

// Anthropic Messages: `usage.input_tokens` EXCLUDES `cache_read_input_tokens` and
// `cache_creation_input_tokens`; `usage.output_tokens` includes thinking tokens (not broken out).
TokenUsage usage_from_anthropic(std::int64_t input_tokens, std::int64_t cache_read_input_tokens,
                                std::int64_t cache_creation_input_tokens,
                                std::int64_t output_tokens);

// Which price list a call is billed from.
enum class PriceTier {
  standard,
  batch,  // the provider's Batch API: *_cost_per_token_batches where the catalog has them
};

// The cost of one call, exact to the picodollar. Each class of tokens is billed as follows:
//   input          at input price (batch: input_batch price when known, else input price)
//   cached_input   at cached_input price when known, else as input (same tier rule)
//   cache_creation at cache_creation price when known, else as input (same tier rule)
//   output - reasoning (visible output) at output price (batch: output_batch price when known)
//   reasoning      at reasoning price when known, else as output (same tier rule)
// Reasoning tokens are a part of `output`, so they are billed once: with no reasoning price the
// cost equals output x output price. If a provider reports more reasoning than output tokens,
// the larger count is billed (never less than either count says). Cached, cache-creation and
// reasoning prices have no batch variant in the catalog and are used as they are in batch mode.
// Products and sums saturate at INT64_MAX instead of wrapping.
Picodollars call_cost(const ModelPrice& price, const TokenUsage& usage,
                      PriceTier tier = PriceTier::standard);

// Per-deployment overrides of catalog prices (e.g. a negotiated discount, a self-hosted model).
// Every field that is set replaces the catalog's value; unset fields keep it.
struct PriceOverride {
  std::optional<Picodollars> input_per_token;
  std::optional<Picodollars> output_per_token;
  std::optional<Picodollars> cached_input_per_token;
  std::optional<Picodollars> cache_creation_per_token;
  std::optional<Picodollars> reasoning_per_token;
  std::optional<Picodollars> input_batch_per_token;
  std::optional<Picodollars> output_batch_per_token;
  std::optional<std::int64_t> max_input_tokens;
  std::optional<std::int64_t> max_output_tokens;
};

ModelPrice apply(const ModelPrice& base, const PriceOverride& override_);

// A price built from an override alone, for a model the catalog does not list. nullopt unless
// the override sets both input_per_token and output_per_token.
std::optional<ModelPrice> price_from_override(std::string name, const PriceOverride& override_);

// The text of data/litellm-prices/model_prices_and_context_window.json, compiled in (see
// data/litellm-prices/SOURCE.md for where it comes from and how to refresh it).
std::string_view builtin_catalog_json();
// How a config, a log line and `switchyard pricing` name the compiled-in catalog.
inline constexpr const char* kBuiltinCatalogName = "built-in catalog (data/litellm-prices)";

class PricingCatalog {
 public:
  PricingCatalog() = default;

  // Parses a LiteLLM price map (a JSON object: model name -> entry). Never throws; every problem
  // is appended to `problems` as one line naming the model and the field. Entries are skipped:
  //   - silently (counted in skipped()) when input_cost_per_token or output_cost_per_token is
  //     missing or null (image, audio and other non-token-priced models),
  //   - with a problem line (and counted) when a price field is present but not a non-negative
  //     decimal exact to 1e-12 USD, or when the entry is not an object.
  // `sample_spec` (LiteLLM's documentation entry) is ignored. A malformed max_*_tokens leaves the
  // entry in with that limit unknown (0) and adds a problem line. A document that is not a JSON
  // object yields an empty catalog and one problem line.
  static PricingCatalog parse(std::string_view json, std::vector<std::string>& problems);

  // Reads `path` and parses it. An unreadable file yields an empty catalog and a problem line.
  static PricingCatalog load_file(const std::string& path, std::vector<std::string>& problems);

  // The catalog shipped in the repository (data/litellm-prices) and compiled into the binary:
  // the default when a config names no pricing.catalog_file.
  static PricingCatalog builtin(std::vector<std::string>& problems);

  // The price of `model`, or nullptr. Precedence, first match wins:
  //   1. the exact name (case-sensitive): "azure/gpt-4o" finds an "azure/gpt-4o" entry first;
  //   2. provider prefixes stripped one at a time from the left: "openai/gpt-4o" -> "gpt-4o",
  //      "openrouter/openai/gpt-4o" -> "openai/gpt-4o" -> "gpt-4o";
  //   3. the reverse: the bare name (after the last '/') matched against prefixed entries, so
  //      "gpt-4o" finds "openai/gpt-4o" when the catalog has no plain "gpt-4o". When several
  //      prefixed entries share the bare name, the one with the fewest '/' wins, then the
  //      lexicographically smallest name — deterministic, but ask with the provider (below) or
  //      the full name when the provider matters.
  // The pointer stays valid as long as the catalog is neither destroyed nor assigned to.
  const ModelPrice* find(std::string_view model) const;

  // Like find(model), but first tries "<provider>/<model>" exactly, so a deployment on
  // provider "azure" gets an "azure/gpt-4o" entry in preference to the plain "gpt-4o" one.
  const ModelPrice* find(std::string_view model, std::string_view provider) const;

  std::size_t size() const { return prices_.size(); }
  // Entries left out by parse(): without token prices, with bad prices, or not objects.
  std::size_t skipped() const { return skipped_; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>>;

  const ModelPrice* exact(std::string_view name) const;

  std::vector<ModelPrice> prices_;
  Index by_name_;       // catalog name -> index into prices_
  Index by_bare_name_;  // text after the last '/' of prefixed names -> the preferred entry
  std::size_t skipped_ = 0;
};

}  // namespace switchyard
