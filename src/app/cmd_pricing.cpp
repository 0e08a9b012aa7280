// `switchyard pricing show MODEL`: what the pricing catalog charges for a model.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/pricing/catalog.h"

namespace switchyard {

namespace {

constexpr const char* kPricingHelp =
    "usage: switchyard pricing show MODEL [--catalog FILE]\n"
    "\n"
    "Prints the prices the pricing catalog has for MODEL, per token and per 1M tokens, as exact\n"
    "decimal USD, and its context window. MODEL may carry a provider prefix (openai/gpt-4o) or\n"
    "lack one the catalog uses; the line `catalog entry` shows which entry was matched.\n"
    "\n"
    "options:\n"
    "  --catalog FILE   a price map in LiteLLM's model_prices_and_context_window.json format\n"
    "                   (default: $SWITCHYARD_PRICING_CATALOG, else the built-in catalog,\n"
    "                   a copy of LiteLLM's map shipped in data/litellm-prices)\n"
    "  --help           this text\n";

constexpr Picodollars kTokensPerMillion = 1'000'000;

// The catalog path from --catalog or the environment; empty for the built-in catalog.
std::string resolve_catalog_path(const Flags& flags) {
  if (flags.has("catalog")) return flags.get("catalog");
  if (const char* env = std::getenv("SWITCHYARD_PRICING_CATALOG"); env && *env) return env;
  return {};
}

void print_price(const char* label, Picodollars per_token) {
  Picodollars per_million = 0;
  bool overflow = __builtin_mul_overflow(per_token, kTokensPerMillion, &per_million);
  std::printf("  %-26s %s USD per token, %s USD per 1M tokens\n", label,
              format_usd(per_token).c_str(),
              overflow ? "(too large to show)" : format_usd(per_million).c_str());
}

void print_optional_price(const char* label, const std::optional<Picodollars>& per_token,
                          const char* fallback) {
  if (per_token) {
    print_price(label, *per_token);
  } else {
    std::printf("  %-26s not in catalog (%s)\n", label, fallback);
  }
}

void print_limit(const char* label, std::int64_t tokens) {
  if (tokens > 0) {
    std::printf("  %-26s %lld tokens\n", label, static_cast<long long>(tokens));
  } else {
    std::printf("  %-26s unknown\n", label);
  }
}

int fail(const std::vector<std::string>& problems) {
  for (const std::string& problem : problems)
    std::fprintf(stderr, "switchyard pricing: %s\n", problem.c_str());
  std::fputs("run `switchyard pricing --help` for the options\n", stderr);
  return 2;
}

}  // namespace

int cmd_pricing(const Args& args) {
  Flags flags(args, {"catalog"}, {"help"});
  if (flags.has("help")) {
    std::fputs(kPricingHelp, stdout);
    return 0;
  }
  std::vector<std::string> problems = flags.errors();
  const auto& positional = flags.positional();
  if (positional.empty() || positional[0] != "show") {
    problems.push_back("expected `pricing show MODEL`");
  } else if (positional.size() != 2) {
    problems.push_back("`pricing show` takes exactly one MODEL");
  }
  if (!problems.empty()) return fail(problems);

  std::string path = resolve_catalog_path(flags);
  std::vector<std::string> catalog_problems;
  PricingCatalog catalog = path.empty() ? PricingCatalog::builtin(catalog_problems)
                                        : PricingCatalog::load_file(path, catalog_problems);
  if (path.empty()) path = kBuiltinCatalogName;
  if (catalog.size() == 0) {
    if (catalog_problems.empty()) catalog_problems.push_back("no token prices in " + path);
    return fail(catalog_problems);
  }
  for (const std::string& problem : catalog_problems)
    std::fprintf(stderr, "switchyard pricing: warning: %s\n", problem.c_str());

  const std::string& model = positional[1];
  const ModelPrice* price = catalog.find(model);
  if (!price) {
    std::fprintf(stderr, "switchyard pricing: model '%s' is not in %s (%zu models)\n",
                 model.c_str(), path.c_str(), catalog.size());
    return 1;
  }

  std::printf("model %s\n", model.c_str());
  std::printf("  %-26s %s\n", "catalog entry", price->name.c_str());
  std::printf("  %-26s %s\n", "catalog file", path.c_str());
  std::printf("  %-26s %s\n", "provider", price->provider.empty() ? "-" : price->provider.c_str());
  std::printf("  %-26s %s\n", "mode", price->mode.empty() ? "-" : price->mode.c_str());
  print_price("input", price->input_per_token);
  print_price("output", price->output_per_token);
  print_optional_price("cached input", price->cached_input_per_token, "billed as input");
  print_optional_price("cache creation", price->cache_creation_per_token, "billed as input");
  print_optional_price("reasoning", price->reasoning_per_token, "billed as output");
  print_optional_price("batch input", price->input_batch_per_token, "batch uses the input price");
  print_optional_price("batch output", price->output_batch_per_token,
                       "batch uses the output price");
  print_limit("max input tokens", price->max_input_tokens);
  print_limit("max output tokens", price->max_output_tokens);
  return 0;
}

}  // namespace switchyard
