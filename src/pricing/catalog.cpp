#include "switchyard/pricing/catalog.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace switchyard {

namespace {

using rapidjson::Value;

constexpr Picodollars kMaxPicodollars = std::numeric_limits<Picodollars>::max();

std::string_view text_of(const Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

// With kParseNumbersAsStringsFlag every JSON number arrives as its source text, so a number and a
// string holding a number look the same here; both are accepted.
enum class Field { absent, ok, bad };

struct PriceField {
  Field state = Field::absent;
  Picodollars value = 0;
};

PriceField read_price(const Value& entry, const char* key, std::string_view model,
                      std::vector<std::string>& problems) {
  auto it = entry.FindMember(key);
  if (it == entry.MemberEnd() || it->value.IsNull()) return {};
  if (it->value.IsString()) {
    if (auto usd = parse_usd(text_of(it->value))) return {Field::ok, *usd};
    problems.push_back("pricing catalog: model '" + std::string(model) + "': " + key + " '" +
                       std::string(text_of(it->value)) +
                       "' is not a non-negative USD amount exact to 1e-12; entry skipped");
  } else {
    problems.push_back("pricing catalog: model '" + std::string(model) + "': " + key +
                       " is not a number; entry skipped");
  }
  return {Field::bad, 0};
}

// Token limits; a bad value leaves the limit unknown (0) rather than dropping the prices.
std::int64_t read_token_limit(const Value& entry, const char* key, std::string_view model,
                              std::vector<std::string>& problems) {
  auto it = entry.FindMember(key);
  if (it == entry.MemberEnd() || it->value.IsNull()) return 0;
  if (it->value.IsString()) {
    std::string_view text = text_of(it->value);
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size() && value >= 0) return value;
  }
  problems.push_back("pricing catalog: model '" + std::string(model) + "': " + key +
                     " is not a non-negative integer; limit left unknown");
  return 0;
}

std::string read_string(const Value& entry, const char* key) {
  auto it = entry.FindMember(key);
  if (it == entry.MemberEnd() || !it->value.IsString()) return {};
  return std::string(text_of(it->value));
}

std::int64_t non_negative(std::int64_t count) {
  return count < 0 ? 0 : count;
}

Picodollars saturating_add(Picodollars a, Picodollars b) {
  Picodollars sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? kMaxPicodollars : sum;
}

Picodollars saturating_mul(std::int64_t tokens, Picodollars price) {
  Picodollars product = 0;
  return __builtin_mul_overflow(tokens, price, &product) ? kMaxPicodollars : product;
}

std::size_t slash_count(std::string_view name) {
  return static_cast<std::size_t>(std::count(name.begin(), name.end(), '/'));
}

}  // namespace

TokenUsage usage_from_openai(std::int64_t prompt_tokens, std::int64_t cached_tokens,
                             std::int64_t completion_tokens, std::int64_t reasoning_tokens) {
  TokenUsage usage;
  usage.cached_input = non_negative(cached_tokens);
  usage.input = std::max<std::int64_t>(0, non_negative(prompt_tokens) - usage.cached_input);
  usage.output = non_negative(completion_tokens);
  usage.reasoning = non_negative(reasoning_tokens);
  return usage;
}

TokenUsage usage_from_anthropic(std::int64_t input_tokens, std::int64_t cache_read_input_tokens,
                                std::int64_t cache_creation_input_tokens,
                                std::int64_t output_tokens) {
  TokenUsage usage;
  usage.input = non_negative(input_tokens);
  usage.cached_input = non_negative(cache_read_input_tokens);
  usage.cache_creation = non_negative(cache_creation_input_tokens);
  usage.output = non_negative(output_tokens);
  return usage;
}

Picodollars call_cost(const ModelPrice& price, const TokenUsage& usage, PriceTier tier) {
  const bool batch = tier == PriceTier::batch;
  const Picodollars input_price =
      batch ? price.input_batch_per_token.value_or(price.input_per_token) : price.input_per_token;
  const Picodollars output_price =
      batch ? price.output_batch_per_token.value_or(price.output_per_token)
            : price.output_per_token;
  const Picodollars cached_price = price.cached_input_per_token.value_or(input_price);
  const Picodollars creation_price = price.cache_creation_per_token.value_or(input_price);
  const Picodollars reasoning_price = price.reasoning_per_token.value_or(output_price);

  const std::int64_t output = non_negative(usage.output);
  const std::int64_t reasoning = non_negative(usage.reasoning);
  const std::int64_t visible_output = std::max<std::int64_t>(0, output - reasoning);

  Picodollars total = saturating_mul(non_negative(usage.input), input_price);
  total = saturating_add(total, saturating_mul(non_negative(usage.cached_input), cached_price));
  total = saturating_add(total, saturating_mul(non_negative(usage.cache_creation), creation_price));
  total = saturating_add(total, saturating_mul(visible_output, output_price));
  total = saturating_add(total, saturating_mul(reasoning, reasoning_price));
  return total;
}

ModelPrice apply(const ModelPrice& base, const PriceOverride& override_) {
  ModelPrice price = base;
  if (override_.input_per_token) price.input_per_token = *override_.input_per_token;
  if (override_.output_per_token) price.output_per_token = *override_.output_per_token;
  if (override_.cached_input_per_token)
    price.cached_input_per_token = override_.cached_input_per_token;
  if (override_.cache_creation_per_token) {
    price.cache_creation_per_token = override_.cache_creation_per_token;
  }
  if (override_.reasoning_per_token) price.reasoning_per_token = override_.reasoning_per_token;
  if (override_.input_batch_per_token)
    price.input_batch_per_token = override_.input_batch_per_token;
  if (override_.output_batch_per_token) {
    price.output_batch_per_token = override_.output_batch_per_token;
  }
  if (override_.max_input_tokens) price.max_input_tokens = *override_.max_input_tokens;
  if (override_.max_output_tokens) price.max_output_tokens = *override_.max_output_tokens;
  return price;
}

std::optional<ModelPrice> price_from_override(std::string name, const PriceOverride& override_) {
  if (!override_.input_per_token || !override_.output_per_token) return std::nullopt;
  ModelPrice base;
  base.name = std::move(name);
  return apply(base, override_);
}

PricingCatalog PricingCatalog::parse(std::string_view json, std::vector<std::string>& problems) {
  PricingCatalog catalog;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                    json.size());
  if (doc.HasParseError()) {
    problems.push_back("pricing catalog: not valid JSON at byte " +
                       std::to_string(doc.GetErrorOffset()) + ": " +
                       rapidjson::GetParseError_En(doc.GetParseError()));
    return catalog;
  }
  if (!doc.IsObject()) {
    problems.push_back(
        "pricing catalog: the document must be a JSON object of model name -> prices");
    return catalog;
  }

  catalog.prices_.reserve(doc.MemberCount());
  for (auto member = doc.MemberBegin(); member != doc.MemberEnd(); ++member) {
    std::string_view name = text_of(member->name);
    if (name == "sample_spec") continue;
    const Value& entry = member->value;
    if (!entry.IsObject()) {
      problems.push_back("pricing catalog: model '" + std::string(name) +
                         "' is not a JSON object; entry skipped");
      ++catalog.skipped_;
      continue;
    }

    // Read every price before deciding, so one entry reports all of its bad fields at once.
    PriceField input = read_price(entry, "input_cost_per_token", name, problems);
    PriceField output = read_price(entry, "output_cost_per_token", name, problems);
    PriceField cached = read_price(entry, "cache_read_input_token_cost", name, problems);
    PriceField creation = read_price(entry, "cache_creation_input_token_cost", name, problems);
    PriceField reasoning = read_price(entry, "output_cost_per_reasoning_token", name, problems);
    PriceField input_batch = read_price(entry, "input_cost_per_token_batches", name, problems);
    PriceField output_batch = read_price(entry, "output_cost_per_token_batches", name, problems);
    const PriceField* fields[] = {&input,     &output,      &cached,      &creation,
                                  &reasoning, &input_batch, &output_batch};
    bool bad = std::any_of(std::begin(fields), std::end(fields),
                           [](const PriceField* f) { return f->state == Field::bad; });
    if (bad || input.state != Field::ok || output.state != Field::ok) {
      ++catalog.skipped_;
      continue;
    }
    if (catalog.by_name_.find(name) != catalog.by_name_.end()) {
      problems.push_back("pricing catalog: model '" + std::string(name) +
                         "' appears more than once; the first entry is kept");
      ++catalog.skipped_;
      continue;
    }

    auto optional_of = [](const PriceField& f) {
      return f.state == Field::ok ? std::optional<Picodollars>(f.value) : std::nullopt;
    };
    ModelPrice price;
    price.name = std::string(name);
    price.provider = read_string(entry, "litellm_provider");
    price.mode = read_string(entry, "mode");
    price.input_per_token = input.value;
    price.output_per_token = output.value;
    price.cached_input_per_token = optional_of(cached);
    price.cache_creation_per_token = optional_of(creation);
    price.reasoning_per_token = optional_of(reasoning);
    price.input_batch_per_token = optional_of(input_batch);
    price.output_batch_per_token = optional_of(output_batch);
    price.max_input_tokens = read_token_limit(entry, "max_input_tokens", name, problems);
    price.max_output_tokens = entry.HasMember("max_output_tokens")
                                  ? read_token_limit(entry, "max_output_tokens", name, problems)
                                  : read_token_limit(entry, "max_tokens", name, problems);

    catalog.by_name_.emplace(price.name, catalog.prices_.size());
    catalog.prices_.push_back(std::move(price));
  }

  // The reverse index: bare name -> preferred prefixed entry (fewest '/', then smallest name).
  for (std::size_t i = 0; i < catalog.prices_.size(); ++i) {
    const std::string& name = catalog.prices_[i].name;
    std::size_t slash = name.rfind('/');
    if (slash == std::string::npos || slash + 1 == name.size()) continue;
    auto [it, inserted] = catalog.by_bare_name_.emplace(name.substr(slash + 1), i);
    if (inserted) continue;
    const std::string& current = catalog.prices_[it->second].name;
    std::size_t mine = slash_count(name), theirs = slash_count(current);
    if (mine < theirs || (mine == theirs && name < current)) it->second = i;
  }
  return catalog;
}

PricingCatalog PricingCatalog::builtin(std::vector<std::string>& problems) {
  return parse(builtin_catalog_json(), problems);
}

PricingCatalog PricingCatalog::load_file(const std::string& path,
                                         std::vector<std::string>& problems) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    problems.push_back("pricing catalog: cannot read '" + path + "': " + std::strerror(errno));
    return {};
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) {
    problems.push_back("pricing catalog: error while reading '" + path + "'");
    return {};
  }
  return parse(contents.str(), problems);
}

const ModelPrice* PricingCatalog::exact(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &prices_[it->second];
}

const ModelPrice* PricingCatalog::find(std::string_view model) const {
  if (const ModelPrice* price = exact(model)) return price;
  for (std::string_view rest = model;;) {
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
    if (const ModelPrice* price = exact(rest)) return price;
  }
  std::string_view bare = model.substr(model.rfind('/') + 1);  // npos + 1 == 0: the whole name
  auto it = by_bare_name_.find(bare);
  return it == by_bare_name_.end() ? nullptr : &prices_[it->second];
}

const ModelPrice* PricingCatalog::find(std::string_view model, std::string_view provider) const {
  if (!provider.empty()) {
    std::string prefixed;
    prefixed.reserve(provider.size() + 1 + model.size());
    prefixed.append(provider).append("/").append(model);
    if (const ModelPrice* price = exact(prefixed)) return price;
  }
  return find(model);
}

}  // namespace switchyard
