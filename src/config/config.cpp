#include "switchyard/config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "config/config_keys.h"
#include "switchyard/common/enum_names.h"
#include "switchyard/common/url.h"
#include "switchyard/event/signature.h"

namespace switchyard {

const char* to_string(BudgetPolicy p) {
  static constexpr std::array kNames{"reject", "downgrade", "defer"};
  static_assert(kNames.size() == static_cast<std::size_t>(BudgetPolicy::kDefer) + 1);
  return enum_name(p, kNames);
}

std::optional<BudgetPolicy> budget_policy_of(std::string_view name) {
  for (BudgetPolicy p : {BudgetPolicy::kReject, BudgetPolicy::kDowngrade, BudgetPolicy::kDefer})
    if (name == to_string(p)) return p;
  return std::nullopt;
}

const char* to_string(ProviderKind k) {
  static constexpr std::array kNames{"openai", "azure", "anthropic"};
  static_assert(kNames.size() == static_cast<std::size_t>(ProviderKind::kAnthropic) + 1);
  return enum_name(k, kNames);
}

std::string DeploymentConfig::api_key() const {
  if (api_key_env.empty()) return {};
  const char* value = std::getenv(api_key_env.c_str());
  return value ? value : "";
}

std::vector<std::string> TeamConfig::signing_keys() const {
  if (signing_key_env.empty()) return {};
  const char* value = std::getenv(signing_key_env.c_str());
  return value ? split_signing_keys(value) : std::vector<std::string>{};
}

bool Config::any_team_signs() const {
  return std::any_of(teams.begin(), teams.end(),
                     [](const TeamConfig& t) { return !t.signing_key_env.empty(); });
}

std::string AdminConfig::token() const {
  if (token_env.empty()) return {};
  const char* value = std::getenv(token_env.c_str());
  return value ? value : "";
}

std::string Config::postgres_url() const {
  if (!postgres.url_env.empty()) {
    if (const char* value = std::getenv(postgres.url_env.c_str())) return value;
  }
  return postgres.url;
}

PriorityClass Config::class_of_topic(const std::string& topic) const {
  const auto& list = kafka.interactive_topics;
  return std::find(list.begin(), list.end(), topic) != list.end() ? PriorityClass::kInteractive
                                                                  : PriorityClass::kBackground;
}

const TeamConfig* Config::team_of_topic(std::string_view topic) const {
  for (const auto& t : teams) {
    if (std::find(t.topics.begin(), t.topics.end(), topic) != t.topics.end()) return &t;
  }
  return nullptr;
}

std::vector<std::string> Config::request_topics() const {
  std::vector<std::string> topics = kafka.interactive_topics;
  topics.insert(topics.end(), kafka.background_topics.begin(), kafka.background_topics.end());
  return topics;
}

int Config::tier_rank(const std::string& tier) const {
  auto it = std::find(tiers.begin(), tiers.end(), tier);
  return it == tiers.end() ? -1 : static_cast<int>(it - tiers.begin());
}

std::vector<std::string> Config::fallback_chain(const std::string& tier) const {
  if (routing.fallback_tiers) {
    auto it = routing.fallback_tiers->find(tier);
    return it == routing.fallback_tiers->end() ? std::vector<std::string>{} : it->second;
  }
  const int rank = tier_rank(tier);
  if (rank < 0) return {};
  return std::vector<std::string>(tiers.begin() + rank + 1, tiers.end());
}

const DeploymentConfig* Config::reference_deployment() const {
  for (const auto& d : deployments) {
    if (reporting.reference_model.empty() ? d.tier == worker.default_tier
                                          : d.group == reporting.reference_model)
      return &d;
  }
  return nullptr;
}

namespace {

using namespace config_detail;

// Looks up a dotted path ("kafka.topics.interactive") in a YAML map.
YAML::Node find_path(const YAML::Node& root, const std::string& path) {
  YAML::Node node = YAML::Clone(root);
  std::stringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    YAML::Node child = node[part];
    if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    node = child;
  }
  return node;
}

// Keys whose value is a map of free-form names; their entries are not keys of their own.
bool is_map_valued_key(const std::string& path) {
  return path == "kafka.properties" || path == "routing.task_type_tiers" ||
         path == "routing.fallback_tiers";
}

// Every leaf path present in a map, so unknown keys (typos) can be reported.
void collect_paths(const YAML::Node& node, const std::string& prefix,
                   std::vector<std::string>& out) {
  for (const auto& kv : node) {
    std::string path =
        prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
    if (kv.second.IsMap() && !is_map_valued_key(path)) {
      collect_paths(kv.second, path, out);
    } else {
      out.push_back(path);
    }
  }
}

template <typename Target>
void read_item(const YAML::Node& item, const std::vector<Key<Target>>& keys,
               const std::string& where, Target& target, std::vector<std::string>& problems) {
  if (!item.IsMap()) {
    problems.push_back(where + ": must be a map");
    return;
  }
  std::set<std::string> known;
  for (const auto& key : keys) {
    known.insert(key.name);
    YAML::Node value = item[key.name];
    if (!value.IsDefined() || value.IsNull()) {
      if (std::string(key.default_text) == "(required)")
        problems.push_back(where + "." + key.name + ": is required");
      continue;
    }
    if (auto err = key.read(value, target); !err.empty())
      problems.push_back(where + "." + key.name + ": " + err);
  }
  for (const auto& kv : item) {
    auto name = kv.first.as<std::string>();
    if (!known.count(name)) problems.push_back(where + "." + name + ": unknown key");
  }
}

// A top-level list of items (deployments, teams), each read with `keys`; problems name the item
// ("teams[2].budget_usd: ...").
template <typename Item>
void read_list(const YAML::Node& root, const char* name, const std::vector<Key<Item>>& keys,
               std::vector<Item>& out, std::vector<std::string>& problems) {
  YAML::Node list = root[name];
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    problems.push_back(std::string(name) + ": must be a list");
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    Item item;
    read_item(list[i], keys, std::string(name) + "[" + std::to_string(i) + "]", item, problems);
    out.push_back(std::move(item));
  }
}

std::string tier_list(const Config& c) {
  std::string out = "[";
  for (const auto& t : c.tiers) out += (out.size() > 1 ? ", " : "") + t;
  return out + "]";
}

// "deployments[2] (mini-x)": how a problem about a whole deployment names it.
std::string deployment_label(const DeploymentConfig& d, std::size_t i) {
  std::string label = "deployments[" + std::to_string(i) + "]";
  return d.name.empty() ? label : label + " (" + d.name + ")";
}

std::string bare_model_name(std::string_view model) {
  auto slash = model.rfind('/');
  return std::string(slash == std::string_view::npos ? model : model.substr(slash + 1));
}

// The catalog a config names, and the problems with it that matter: the file cannot be read or
// parsed at all, or an entry is malformed for a model some deployment uses (compared by the name
// after the last '/', which is how PricingCatalog::find matches prefixed names). Problems with
// the other ~2,000 entries are none of this config's business.
struct LoadedCatalog {
  std::optional<PricingCatalog> catalog;  // the named file's, or the built-in one
  std::string path;
};

LoadedCatalog load_catalog(const YAML::Node& root, const std::string& base_dir, Config& c,
                           std::vector<std::string>& problems) {
  LoadedCatalog out;
  std::string key = "pricing.catalog_file";
  if (YAML::Node n = find_path(root, key); !n.IsDefined() || n.IsNull()) {
    if (const char* env = std::getenv("SWITCHYARD_PRICING_CATALOG"); env && *env) {
      c.pricing.catalog_file = env;  // relative to the working directory, like any variable
      key += " (from $SWITCHYARD_PRICING_CATALOG)";
    }
  } else if (!c.pricing.catalog_file.empty() && !base_dir.empty() &&
             std::filesystem::path(c.pricing.catalog_file).is_relative()) {
    c.pricing.catalog_file =
        (std::filesystem::path(base_dir) / c.pricing.catalog_file).lexically_normal().string();
  }
  std::vector<std::string> catalog_problems;
  if (c.pricing.catalog_file.empty()) {
    // No file named: the catalog shipped in the repository and compiled into the binary.
    out.path = kBuiltinCatalogName;
    out.catalog = PricingCatalog::builtin(catalog_problems);
  } else {
    out.path = c.pricing.catalog_file;
    out.catalog = PricingCatalog::load_file(out.path, catalog_problems);
  }
  std::set<std::string> used;
  for (const auto& d : c.deployments) used.insert(bare_model_name(d.model));
  const std::string entry_prefix = "pricing catalog: model '";
  for (const auto& p : catalog_problems) {
    if (p.rfind(entry_prefix, 0) == 0) {
      auto end = p.find('\'', entry_prefix.size());
      auto model = p.substr(entry_prefix.size(), end - entry_prefix.size());
      if (!used.count(bare_model_name(model))) continue;
    }
    problems.push_back(key + ": " + p);
  }
  return out;
}

// Fills a deployment's prices: the catalog entry of its model with the explicit keys on top, or
// the explicit keys alone. A model neither the catalog nor the file prices is a problem; a
// price is never guessed. `context_window_set`: whether the file gave context_window.
void resolve_price(DeploymentConfig& d, std::size_t i, bool context_window_set,
                   const LoadedCatalog& loaded, std::vector<std::string>& problems) {
  PriceOverride o = d.price_override;
  if (d.batch_pricing) {
    // An explicit price is the price billed, batch or not; catalog batch prices only fill in
    // what the file does not say.
    if (o.input_per_token && !o.input_batch_per_token) o.input_batch_per_token = o.input_per_token;
    if (o.output_per_token && !o.output_batch_per_token)
      o.output_batch_per_token = o.output_per_token;
  }
  const ModelPrice* entry = loaded.catalog && !d.model.empty()
                                ? loaded.catalog->find(d.model, to_string(d.provider))
                                : nullptr;
  if (entry) {
    d.price = apply(*entry, o);
    bool overridden = o.input_per_token || o.output_per_token || o.cached_input_per_token;
    d.price_source = "catalog '" + entry->name + "'" + (overridden ? " + overrides" : "");
  } else if (auto own = price_from_override(d.model, o)) {
    d.price = std::move(own);
    d.price_source = "config";
  } else if (o.input_per_token || o.output_per_token) {
    problems.push_back("deployments[" + std::to_string(i) + "]." +
                       (o.input_per_token ? "output_cost_per_token" : "input_cost_per_token") +
                       ": is required when the catalog has no price for model '" + d.model + "'");
    return;
  } else {
    if (d.model.empty()) return;  // "model: is required" already says what is wrong
    problems.push_back(deployment_label(d, i) + ": no price for model '" + d.model + "' " +
                       "in the catalog " + loaded.path +
                       " and no input_cost_per_token/output_cost_per_token; prices are never "
                       "guessed");
    return;
  }
  d.input_cost_per_token = d.batch_pricing
                               ? d.price->input_batch_per_token.value_or(d.price->input_per_token)
                               : d.price->input_per_token;
  d.output_cost_per_token =
      d.batch_pricing ? d.price->output_batch_per_token.value_or(d.price->output_per_token)
                      : d.price->output_per_token;
  if (!context_window_set && d.price->max_input_tokens > 0)
    d.context_window = d.price->max_input_tokens;
}

// A plain http:// URL to another machine: keys and prompts would cross the network in clear.
// `host` is set to the URL's host (lower-cased) when it parses.
bool is_insecure_remote(const std::string& api_base, std::string& host) {
  HttpUrl url;
  if (!parse_http_url(api_base, url).empty()) return false;  // reported by the api_base key
  host.assign(url.host);
  for (char& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return !url.tls && !is_loopback_host(url.host);
}

void validate(Config& c, std::vector<std::string>& problems) {
  if (c.kafka.interactive_topics.empty() && c.kafka.background_topics.empty())
    problems.push_back("kafka.topics: at least one request topic is required");
  std::set<std::string> topics;
  for (const auto& t : c.request_topics()) {
    if (!topics.insert(t).second)
      problems.push_back("kafka.topics: topic '" + t + "' is listed twice");
  }
  if (topics.count(c.kafka.results_topic))
    problems.push_back("kafka.results_topic: must differ from every request topic");
  if (topics.count(c.kafka.dlq_topic))
    problems.push_back("kafka.dlq_topic: must differ from every request topic");
  if (c.worker.resume_in_flight >= c.worker.max_in_flight)
    problems.push_back("worker.resume_in_flight: must be below worker.max_in_flight");
  if (c.deployments.empty()) problems.push_back("deployments: at least one deployment is required");
  std::set<std::string> names;
  std::set<std::string> tiers;
  for (std::size_t i = 0; i < c.deployments.size(); ++i) {
    auto& d = c.deployments[i];
    if (d.group.empty()) d.group = d.model;
    tiers.insert(d.tier);
    if (!d.tier.empty() && c.tier_rank(d.tier) < 0)
      problems.push_back("deployments[" + std::to_string(i) + "].tier: '" + d.tier +
                         "' is not one of tiers " + tier_list(c));
    if (!d.name.empty() && !names.insert(d.name).second)
      problems.push_back("deployments[" + std::to_string(i) + "].name: '" + d.name +
                         "' is used twice");
    if (std::string host; is_insecure_remote(d.api_base, host) && !d.allow_insecure_http)
      problems.push_back("deployments[" + std::to_string(i) + "].api_base: plain http:// to '" +
                         host +
                         "', which is not loopback, would send the API key and prompts "
                         "unencrypted; use https:// or set allow_insecure_http: true");
    if (d.default_max_tokens > c.worker.budget_max_output_tokens)
      problems.push_back("deployments[" + std::to_string(i) +
                         "].default_max_tokens: " + std::to_string(d.default_max_tokens) +
                         " is above worker.budget_max_output_tokens (" +
                         std::to_string(c.worker.budget_max_output_tokens) +
                         "), so a budget's worst case would not cover it; lower it or raise "
                         "worker.budget_max_output_tokens");
    if (!d.api_key_env.empty() && std::getenv(d.api_key_env.c_str()) == nullptr)
      problems.push_back("deployments[" + std::to_string(i) +
                         "].api_key_env: environment variable " + d.api_key_env + " is not set");
  }
  if (c.tier_rank(c.worker.default_tier) < 0)
    problems.push_back("worker.default_tier: '" + c.worker.default_tier + "' is not one of tiers " +
                       tier_list(c));
  else if (!c.deployments.empty() && !tiers.count(c.worker.default_tier))
    problems.push_back("worker.default_tier: no deployment has tier '" + c.worker.default_tier +
                       "'");
  if (!c.reporting.reference_model.empty() && !c.deployments.empty() &&
      c.reference_deployment() == nullptr)
    problems.push_back("reporting.reference_model: no deployment has model group '" +
                       c.reporting.reference_model + "'");
  for (const auto& [task_type, tier] : c.routing.task_type_tiers) {
    const std::string where = "routing.task_type_tiers." + task_type;
    if (c.tier_rank(tier) < 0)
      problems.push_back(where + ": '" + tier + "' is not one of tiers " + tier_list(c));
    else if (!c.deployments.empty() && !tiers.count(tier))
      problems.push_back(where + ": no deployment has tier '" + tier + "'");
  }
  if (c.circuit_breaker.max_open_ms < c.circuit_breaker.open_ms)
    problems.push_back("circuit_breaker.max_open_ms: must be at least circuit_breaker.open_ms (" +
                       std::to_string(c.circuit_breaker.open_ms) + ")");
  if (c.routing.short_input_tokens >= c.routing.long_input_tokens)
    problems.push_back("routing.short_input_tokens: must be below routing.long_input_tokens (" +
                       std::to_string(c.routing.long_input_tokens) + ")");
  if (c.routing.fallback_tiers) {
    for (const auto& [tier, chain] : *c.routing.fallback_tiers) {
      const std::string where = "routing.fallback_tiers." + tier;
      if (c.tier_rank(tier) < 0)
        problems.push_back(where + ": '" + tier + "' is not one of tiers " + tier_list(c));
      for (const auto& next : chain) {
        if (c.tier_rank(next) < 0)
          problems.push_back(where + ": '" + next + "' is not one of tiers " + tier_list(c));
        else if (next == tier)
          problems.push_back(where + ": a tier cannot fall back to itself");
      }
    }
  }
  if (c.admin.enabled && !is_loopback_host(c.admin.host) && c.admin.token_env.empty())
    problems.push_back("admin.listen: " + c.admin.host +
                       " is not a loopback address, so /metrics and /readyz would be open to the "
                       "network; set admin.token_env to a variable holding a bearer token, or "
                       "listen on 127.0.0.1");
  if (c.admin.enabled && !c.admin.token_env.empty() && c.admin.token().empty())
    problems.push_back("admin.token_env: environment variable " + c.admin.token_env +
                       " is not set (or empty)");
  std::set<std::string> teams;
  std::map<std::string, std::string> topic_owner, reply_owner;
  const std::vector<std::string> request_topics = c.request_topics();
  for (std::size_t i = 0; i < c.teams.size(); ++i) {
    const auto& t = c.teams[i];
    if (!t.name.empty() && !teams.insert(t.name).second)
      problems.push_back("teams: team '" + t.name + "' is listed twice");
    if (!t.signing_key_env.empty()) {
      const std::string where = "teams[" + std::to_string(i) + "].signing_key_env: ";
      const auto keys = t.signing_keys();
      if (keys.empty()) {
        problems.push_back(where + "environment variable " + t.signing_key_env +
                           " is not set (or holds no key)");
      }
      for (std::size_t k = 0; k < keys.size(); ++k) {
        if (keys[k].size() < kMinSigningKeyBytes)
          problems.push_back(where + "key " + std::to_string(k + 1) + " of " + t.signing_key_env +
                             " has " + std::to_string(keys[k].size()) +
                             " bytes; a signing key needs at least " +
                             std::to_string(kMinSigningKeyBytes) +
                             " (for example the output of `openssl rand -hex 32`)");
      }
    }
    for (const auto& topic : t.reply_topics) {
      if (auto [it, inserted] = reply_owner.emplace(topic, t.name); !inserted) {
        problems.push_back("teams[" + std::to_string(i) + "].reply_topics: '" + topic +
                           "' is also listed for team '" + it->second +
                           "': a team's reply topic carries its results only; a topic every "
                           "team may name belongs under kafka.reply_topic_allowlist");
      }
    }
    for (const auto& topic : t.topics) {
      const std::string where = "teams[" + std::to_string(i) + "].topics: '" + topic + "'";
      if (auto [it, inserted] = topic_owner.emplace(topic, t.name); !inserted) {
        problems.push_back(where + " is also listed for team '" + it->second +
                           "': a team topic proves which team wrote an event, so it has one "
                           "owner; list a topic several teams share under none of them (and "
                           "sign its events)");
      }
      if (std::find(request_topics.begin(), request_topics.end(), topic) == request_topics.end()) {
        problems.push_back(where +
                           " is not a request topic: list it under kafka.topics.interactive or "
                           "kafka.topics.background too (the worker only reads those)");
      }
    }
    for (const auto& tier : t.allowed_tiers) {
      if (c.tier_rank(tier) < 0)
        problems.push_back("teams[" + std::to_string(i) + "].allowed_tiers: '" + tier +
                           "' is not one of tiers " + tier_list(c));
    }
  }
}

}  // namespace

ConfigLoad load_config_text(const std::string& yaml_text, const std::string& base_dir) {
  ConfigLoad load;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    load.problems.push_back(std::string("not valid YAML: ") + e.what());
    return load;
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    load.problems.push_back("the config must be a YAML map at the top level");
    return load;
  }
  std::set<std::string> known = {"deployments", "teams"};
  for (const auto& key : top_keys()) {
    known.insert(key.name);
    YAML::Node value = find_path(root, key.name);
    if (!value.IsDefined() || value.IsNull()) continue;
    if (auto err = key.read(value, load.config); !err.empty())
      load.problems.push_back(std::string(key.name) + ": " + err);
  }
  std::vector<std::string> present;
  collect_paths(root, "", present);
  for (const auto& path : present) {
    if (!known.count(path)) load.problems.push_back(path + ": unknown key");
  }
  read_list(root, "deployments", deployment_keys(), load.config.deployments, load.problems);
  read_list(root, "teams", team_keys(), load.config.teams, load.problems);
  // Whether each deployment's file entry gave context_window (else the catalog's applies).
  std::vector<bool> context_window_set;
  for (std::size_t i = 0; i < load.config.deployments.size(); ++i) {
    YAML::Node item = root["deployments"][i];
    context_window_set.push_back(item.IsMap() && item["context_window"].IsDefined() &&
                                 !item["context_window"].IsNull());
  }
  LoadedCatalog catalog = load_catalog(root, base_dir, load.config, load.problems);
  for (std::size_t i = 0; i < load.config.deployments.size(); ++i)
    resolve_price(load.config.deployments[i], i, context_window_set[i], catalog, load.problems);
  validate(load.config, load.problems);
  return load;
}

ConfigLoad load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ConfigLoad load;
    load.problems.push_back("cannot read config file '" + path + "'");
    return load;
  }
  std::stringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), std::filesystem::path(path).parent_path().string());
}

std::string describe_config_keys() {
  std::ostringstream out;
  auto section = [&out](const auto& keys, const std::string& prefix) {
    for (const auto& k : keys)
      out << prefix << k.name << " (default " << k.default_text << "): " << k.doc << "\n";
  };
  section(top_keys(), "");
  section(deployment_keys(), "deployments[].");
  section(team_keys(), "teams[].");
  return out.str();
}

}  // namespace switchyard
