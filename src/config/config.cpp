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

namespace switchyard {

const char* to_string(PriorityClass c) {
  return c == PriorityClass::kInteractive ? "interactive" : "background";
}

const char* to_string(BudgetPolicy p) {
  switch (p) {
    case BudgetPolicy::kReject:
      return "reject";
    case BudgetPolicy::kDowngrade:
      return "downgrade";
    case BudgetPolicy::kDefer:
      return "defer";
  }
  return "reject";
}

std::optional<BudgetPolicy> budget_policy_of(std::string_view name) {
  for (BudgetPolicy p : {BudgetPolicy::kReject, BudgetPolicy::kDowngrade, BudgetPolicy::kDefer})
    if (name == to_string(p)) return p;
  return std::nullopt;
}

const char* to_string(ProviderKind k) {
  switch (k) {
    case ProviderKind::kOpenAI:
      return "openai";
    case ProviderKind::kAzure:
      return "azure";
    case ProviderKind::kAnthropic:
      return "anthropic";
  }
  return "unknown";
}

std::string DeploymentConfig::api_key() const {
  if (api_key_env.empty()) return {};
  const char* value = std::getenv(api_key_env.c_str());
  return value ? value : "";
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

// One declared key: where it lives, what it means, and how to read + validate it into the
// typed config. `read` returns an error sentence, or "" when the value is acceptable.
template <typename Target>
struct Key {
  const char* name;
  const char* default_text;
  const char* doc;
  std::function<std::string(const YAML::Node&, Target&)> read;
};

template <typename T>
std::string read_scalar(const YAML::Node& node, T& out) {
  try {
    out = node.as<T>();
    return {};
  } catch (const YAML::Exception&) {
    return "has the wrong type";
  }
}

template <typename T>
std::function<std::string(const YAML::Node&, T&)> int_in(T lo, T hi) {
  return [lo, hi](const YAML::Node& node, T& out) -> std::string {
    if (auto err = read_scalar(node, out); !err.empty()) return "must be an integer";
    if (out < lo || out > hi) {
      return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
             std::to_string(out);
    }
    return {};
  };
}

std::string read_string(const YAML::Node& node, std::string& out, bool allow_empty = true) {
  if (!node.IsScalar()) return "must be a string";
  out = node.as<std::string>();
  if (!allow_empty && out.empty()) return "must not be empty";
  return {};
}

std::string read_string_list(const YAML::Node& node, std::vector<std::string>& out) {
  if (node.IsScalar()) {
    out = {node.as<std::string>()};
    return {};
  }
  if (!node.IsSequence()) return "must be a list of strings";
  out.clear();
  for (const auto& item : node) {
    if (!item.IsScalar() || item.as<std::string>().empty())
      return "must be a list of non-empty strings";
    out.push_back(item.as<std::string>());
  }
  return {};
}

std::string read_bool(const YAML::Node& node, bool& out) {
  if (!read_scalar(node, out).empty()) return "must be true or false";
  return {};
}

std::string read_usd(const YAML::Node& node, Picodollars& out) {
  if (!node.IsScalar()) return "must be a decimal USD amount";
  auto value = parse_usd(node.Scalar());
  if (!value)
    return "must be a non-negative decimal USD amount no finer than 1e-12, got '" + node.Scalar() +
           "'";
  out = *value;
  return {};
}

// admin.listen: "host:port" or "[v6]:port"; "" or "off" disables the admin server.
std::string read_listen(const YAML::Node& node, AdminConfig& admin) {
  if (auto e = read_string(node, admin.listen); !e.empty()) return e;
  const std::string& text = admin.listen;
  admin.enabled = !(text.empty() || text == "off");
  if (!admin.enabled) return {};
  const std::string format =
      "must be host:port ([::1]:port for IPv6), \"\" or off, got '" + text + "'";
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return format;
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return format;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return format;  // a bare IPv6 address: its port would be ambiguous
  }
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(),
                                      [](unsigned char ch) { return std::isdigit(ch) != 0; }))
    return format;
  int value = std::stoi(port);
  if (value > 65535) return "port must be at most 65535, got " + port;
  admin.host = host;
  admin.port = static_cast<std::uint16_t>(value);
  return {};
}

std::string read_one_of(const YAML::Node& node, std::string& out,
                        std::initializer_list<const char*> allowed) {
  if (auto e = read_string(node, out); !e.empty()) return e;
  std::string list;
  for (const char* a : allowed) {
    if (out == a) return {};
    list += std::string(list.empty() ? "" : ", ") + a;
  }
  return "must be one of " + list + ", got '" + out + "'";
}

const std::vector<Key<Config>>& top_keys() {
  static const std::vector<Key<Config>> keys = {
      {"kafka.bootstrap_servers", "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)",
       [](const YAML::Node& n, Config& c) {
         return read_string(n, c.kafka.bootstrap_servers, false);
       }},
      {"kafka.group_id", "switchyard", "consumer group shared by every worker of the fleet",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.kafka.group_id, false); }},
      {"kafka.topics.interactive", "[switchyard.requests.interactive]",
       "request topics whose events are interactive work (fetched and dispatched first)",
       [](const YAML::Node& n, Config& c) {
         return read_string_list(n, c.kafka.interactive_topics);
       }},
      {"kafka.topics.background", "[switchyard.requests.background]",
       "request topics whose events are background work",
       [](const YAML::Node& n, Config& c) {
         return read_string_list(n, c.kafka.background_topics);
       }},
      {"kafka.results_topic", "switchyard.results", "topic receiving switchyard.result.v1 events",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.kafka.results_topic, false); }},
      {"kafka.dlq_topic", "switchyard.dlq",
       "dead-letter topic: original bytes of events that could not be processed, reason in headers",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.kafka.dlq_topic, false); }},
      {"kafka.reply_topic_allowlist", "[]", "topics a request may name as its reply_topic",
       [](const YAML::Node& n, Config& c) {
         return read_string_list(n, c.kafka.reply_topic_allowlist);
       }},
      {"kafka.properties", "{}", "extra librdkafka properties, passed as they are",
       [](const YAML::Node& n, Config& c) -> std::string {
         if (!n.IsMap()) return "must be a map of librdkafka property names to values";
         for (const auto& kv : n)
           c.kafka.properties[kv.first.as<std::string>()] = kv.second.as<std::string>();
         return {};
       }},
      {"postgres.url", "postgresql:///switchyard", "libpq connection string or URI",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.postgres.url, false); }},
      {"postgres.url_env", "", "environment variable holding the connection string (wins over url)",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.postgres.url_env); }},
      {"postgres.batch_max_rows", "1000", "most results written in one transaction",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 100000)(n, c.postgres.batch_max_rows);
       }},
      {"postgres.retry_backoff_ms", "500", "wait between attempts while Postgres is unreachable",
       [](const YAML::Node& n, Config& c) {
         return int_in(10, 60000)(n, c.postgres.retry_backoff_ms);
       }},
      {"worker.max_in_flight", "20000",
       "cap on requests between fetch and commit; past it partitions are paused",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 1000000)(n, c.worker.max_in_flight);
       }},
      {"worker.resume_in_flight", "15000", "paused partitions resume below this many in flight",
       [](const YAML::Node& n, Config& c) {
         return int_in(0, 1000000)(n, c.worker.resume_in_flight);
       }},
      {"worker.interactive_in_flight_reserve", "0.1",
       "share (0..0.9) of max_in_flight and resume_in_flight kept for interactive topics: "
       "background partitions pause at max_in_flight x (1 - share) and resume below "
       "resume_in_flight x (1 - share), so a background flood at the cap never stops "
       "interactive intake",
       [](const YAML::Node& n, Config& c) -> std::string {
         double& v = c.worker.interactive_in_flight_reserve;
         if (!read_scalar(n, v).empty() || !std::isfinite(v)) return "must be a number";
         if (v < 0 || v > 0.9) return "must be between 0 and 0.9, got " + n.Scalar();
         return {};
       }},
      {"worker.max_event_bytes", "1048576", "larger request events go to the DLQ",
       [](const YAML::Node& n, Config& c) {
         return int_in(64, 64 << 20)(n, c.worker.max_event_bytes);
       }},
      {"worker.shutdown_drain_ms", "30000", "on SIGTERM, how long in-flight work may finish",
       [](const YAML::Node& n, Config& c) {
         return int_in(0, 3600000)(n, c.worker.shutdown_drain_ms);
       }},
      {"worker.io_threads", "1", "threads running HTTP coroutines",
       [](const YAML::Node& n, Config& c) { return int_in(1, 64)(n, c.worker.io_threads); }},
      {"worker.commit_interval_ms", "200", "how often finished offsets are committed",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 60000)(n, c.worker.commit_interval_ms);
       }},
      {"worker.default_tier", "workhorse", "tier used for model \"auto\"",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.worker.default_tier, false); }},
      {"worker.budget_defer_retry_ms", "30000",
       "budget policy defer: how often deferred background work retries its reservation",
       [](const YAML::Node& n, Config& c) {
         return int_in(10, 86400000)(n, c.worker.budget_defer_retry_ms);
       }},
      {"worker.budget_max_defer_ms", "3600000",
       "budget policy defer: longest a request is deferred before it ends budget_exceeded",
       [](const YAML::Node& n, Config& c) {
         return int_in(0, 604800000)(n, c.worker.budget_max_defer_ms);
       }},
      {"worker.budget_max_output_tokens", "4096",
       "output tokens assumed for a budget's worst case when a request sets no max_tokens",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 10000000)(n, c.worker.budget_max_output_tokens);
       }},
      {"http.connect_timeout_ms", "5000", "connect + TLS handshake timeout per provider call",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 600000)(n, c.http.connect_timeout_ms);
       }},
      {"http.request_timeout_ms", "120000", "total timeout of one provider call",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 3600000)(n, c.http.request_timeout_ms);
       }},
      {"http.max_connections_per_host", "4096",
       "keep-alive connections per provider host; calls past it wait for a free one",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 1000000)(n, c.http.max_connections_per_host);
       }},
      {"http.max_attempts", "8",
       "provider calls per request that may fail (5xx, timeouts, 401/403, context too long), "
       "the first included; 429 answers count against http.max_rate_limited_attempts instead",
       [](const YAML::Node& n, Config& c) { return int_in(1, 20)(n, c.http.max_attempts); }},
      {"http.max_rate_limited_attempts", "10",
       "429 answers one request may collect (each moves it to another deployment or waits "
       "Retry-After) before it ends rate_limited",
       [](const YAML::Node& n, Config& c) {
         return int_in(0, 100)(n, c.http.max_rate_limited_attempts);
       }},
      {"http.request_deadline_ms", "600000",
       "time from the first attempt within which every retry and fallback of a request must start",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 86400000)(n, c.http.request_deadline_ms);
       }},
      {"http.first_byte_timeout_ms", "0",
       "request written -> first response byte; 0 = none (without streaming a provider sends "
       "nothing until the completion is done, so keep it above the longest completion)",
       [](const YAML::Node& n, Config& c) {
         return int_in(0, 3600000)(n, c.http.first_byte_timeout_ms);
       }},
      {"http.ca_file", "", "extra PEM CA bundle trusted on top of the system store",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.http.ca_file); }},
      {"circuit_breaker.min_failures", "5",
       "failures (5xx, timeouts, transport) in the window before a deployment's breaker opens",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 100000)(n, c.circuit_breaker.min_failures);
       }},
      {"circuit_breaker.min_failure_rate", "0.5",
       "... and at least this share (0..1) of the window's calls failed",
       [](const YAML::Node& n, Config& c) -> std::string {
         double& v = c.circuit_breaker.min_failure_rate;
         if (!read_scalar(n, v).empty() || !std::isfinite(v) || v < 0 || v > 1)
           return "must be a number between 0 and 1";
         return {};
       }},
      {"circuit_breaker.window_ms", "10000", "sliding window the failures are counted in",
       [](const YAML::Node& n, Config& c) {
         return int_in(100, 3600000)(n, c.circuit_breaker.window_ms);
       }},
      {"circuit_breaker.open_ms", "5000",
       "how long an open breaker sends nothing before one probe; doubles per failed probe",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 3600000)(n, c.circuit_breaker.open_ms);
       }},
      {"circuit_breaker.max_open_ms", "60000", "cap of the doubling",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 86400000)(n, c.circuit_breaker.max_open_ms);
       }},
      {"admin.listen", "127.0.0.1:9464",
       "host:port of the admin HTTP server (/metrics, /healthz, /readyz); \"\" or off disables "
       "it; an address that is not loopback needs admin.token_env",
       [](const YAML::Node& n, Config& c) { return read_listen(n, c.admin); }},
      {"admin.token_env", "",
       "environment variable holding the admin server's bearer token (Authorization: Bearer); "
       "required when admin.listen is not loopback",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.admin.token_env); }},
      {"log.format", "text",
       "text, or json for one JSON object per line (ts, level, logger, msg, fields)",
       [](const YAML::Node& n, Config& c) {
         return read_one_of(n, c.log.format, {"text", "json"});
       }},
      {"log.level", "info", "trace, debug, info, warn, error, critical or off; --log-level wins",
       [](const YAML::Node& n, Config& c) {
         return read_one_of(n, c.log.level,
                            {"trace", "debug", "info", "warn", "error", "critical", "off"});
       }},
      {"http.retry_base_ms", "200", "base of the exponential backoff (full jitter)",
       [](const YAML::Node& n, Config& c) { return int_in(0, 60000)(n, c.http.retry_base_ms); }},
      {"http.retry_max_ms", "10000", "cap of one backoff wait",
       [](const YAML::Node& n, Config& c) { return int_in(0, 600000)(n, c.http.retry_max_ms); }},
      {"pricing.catalog_file", "",
       "price map in LiteLLM's model_prices_and_context_window.json format, relative to the "
       "config file; $SWITCHYARD_PRICING_CATALOG when absent; empty = the built-in catalog (the "
       "copy in data/litellm-prices compiled into the binary)",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.pricing.catalog_file); }},
      {"tiers", "[economy, workhorse, frontier]",
       "tier names from the cheapest / lowest quality to the best; every deployment has one",
       [](const YAML::Node& n, Config& c) -> std::string {
         if (auto e = read_string_list(n, c.tiers); !e.empty()) return e;
         if (c.tiers.empty()) return "must name at least one tier";
         std::set<std::string> seen;
         for (const auto& t : c.tiers) {
           if (!seen.insert(t).second) return "lists tier '" + t + "' twice";
         }
         return {};
       }},
      {"routing.task_type_tiers", "{}",
       "task_type -> tier for model \"auto\", checked before any other classifier rule",
       [](const YAML::Node& n, Config& c) -> std::string {
         if (!n.IsMap()) return "must be a map of task_type to tier";
         for (const auto& kv : n) {
           if (!kv.second.IsScalar() || kv.second.Scalar().empty())
             return "'" + kv.first.as<std::string>() + "' must map to a tier name";
           c.routing.task_type_tiers[kv.first.as<std::string>()] = kv.second.Scalar();
         }
         return {};
       }},
      {"routing.fallback_tiers", "{economy: [workhorse, frontier], workhorse: [frontier]}",
       "tier -> tiers tried in order when none of its deployments can serve now (interactive "
       "work with no headroom, provider failures); default: every higher tier, cheapest first",
       [](const YAML::Node& n, Config& c) -> std::string {
         if (!n.IsMap()) return "must be a map of tier to a list of tiers";
         c.routing.fallback_tiers.emplace();
         for (const auto& kv : n) {
           std::vector<std::string> chain;
           if (auto e = read_string_list(kv.second, chain); !e.empty())
             return "'" + kv.first.as<std::string>() + "' " + e;
           (*c.routing.fallback_tiers)[kv.first.as<std::string>()] = std::move(chain);
         }
         return {};
       }},
      {"routing.interactive_reserve", "0.2",
       "share (0..1) of every deployment's rpm/tpm that only interactive work may use",
       [](const YAML::Node& n, Config& c) -> std::string {
         double& v = c.routing.interactive_reserve;
         if (!read_scalar(n, v).empty() || !std::isfinite(v)) return "must be a number";
         if (v < 0 || v > 1) return "must be between 0 and 1, got " + n.Scalar();
         return {};
       }},
      {"routing.long_input_tokens", "8000",
       "model \"auto\": at or above this many estimated input tokens -> the best tier",
       [](const YAML::Node& n, Config& c) {
         return int_in<std::int64_t>(1, 100'000'000)(n, c.routing.long_input_tokens);
       }},
      {"routing.short_input_tokens", "500",
       "model \"auto\": at or below this many estimated input tokens -> the cheapest tier",
       [](const YAML::Node& n, Config& c) {
         return int_in<std::int64_t>(0, 100'000'000)(n, c.routing.short_input_tokens);
       }},
      {"reporting.reference_model", "",
       "model group whose prices team_savings_daily measures savings against; default: the "
       "group of the first deployment of worker.default_tier",
       [](const YAML::Node& n, Config& c) { return read_string(n, c.reporting.reference_model); }},
  };
  return keys;
}

const std::vector<Key<DeploymentConfig>>& deployment_keys() {
  static const std::vector<Key<DeploymentConfig>> keys = {
      {"name", "(required)", "unique deployment name, used in results and the ledger",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_string(n, d.name, false); }},
      {"provider", "openai",
       "openai (any OpenAI-compatible chat completions API), azure (Azure OpenAI: api_base is "
       "the resource endpoint, model the deployment name) or anthropic (the Messages API)",
       [](const YAML::Node& n, DeploymentConfig& d) -> std::string {
         std::string v;
         if (auto e = read_string(n, v); !e.empty()) return e;
         if (v == "openai")
           d.provider = ProviderKind::kOpenAI;
         else if (v == "azure")
           d.provider = ProviderKind::kAzure;
         else if (v == "anthropic")
           d.provider = ProviderKind::kAnthropic;
         else
           return "must be 'openai', 'azure' or 'anthropic', got '" + v + "'";
         return {};
       }},
      {"api_base", "(required)", "base URL, e.g. https://api.openai.com/v1",
       [](const YAML::Node& n, DeploymentConfig& d) -> std::string {
         if (auto e = read_string(n, d.api_base, false); !e.empty()) return e;
         if (d.api_base.rfind("http://", 0) != 0 && d.api_base.rfind("https://", 0) != 0)
           return "must start with http:// or https://, got '" + d.api_base + "'";
         return {};
       }},
      {"allow_insecure_http", "false",
       "allow a plain http:// api_base to a host that is not loopback (the key and prompts then "
       "cross the network unencrypted)",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return read_bool(n, d.allow_insecure_http);
       }},
      {"api_version", "2024-10-21", "provider azure: the api-version query parameter",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return read_string(n, d.api_version, false);
       }},
      {"default_max_tokens", "4096",
       "provider anthropic: max_tokens sent when a request sets none (lowered to the catalog's "
       "max_output_tokens); at most worker.budget_max_output_tokens",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return int_in(1, 10000000)(n, d.default_max_tokens);
       }},
      {"api_key_env", "", "environment variable holding the API key (the key is never in the file)",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_string(n, d.api_key_env); }},
      {"model", "(required)", "the provider's model name",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_string(n, d.model, false); }},
      {"group", "model", "model group requests can name",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_string(n, d.group, false); }},
      {"tier", "(required)", "tier: frontier, workhorse, economy, ...",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_string(n, d.tier, false); }},
      {"region", "", "data-residency region",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_string(n, d.region); }},
      {"input_cost_per_token", "catalog",
       "USD per input token, exact decimal; overrides the catalog (required without an entry)",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return read_usd(n, d.price_override.input_per_token.emplace());
       }},
      {"output_cost_per_token", "catalog",
       "USD per output token, exact decimal; overrides the catalog (required without an entry)",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return read_usd(n, d.price_override.output_per_token.emplace());
       }},
      {"cached_input_cost_per_token", "catalog, else input price",
       "USD per prompt token read from the provider's cache; overrides the catalog",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return read_usd(n, d.price_override.cached_input_per_token.emplace());
       }},
      {"batch_pricing", "false",
       "billed at the provider's Batch API prices (catalog *_batches, where it has them)",
       [](const YAML::Node& n, DeploymentConfig& d) { return read_bool(n, d.batch_pricing); }},
      {"context_window", "catalog max_input_tokens, else 128000", "input + output token limit",
       [](const YAML::Node& n, DeploymentConfig& d) -> std::string {
         if (!read_scalar(n, d.context_window).empty() || d.context_window < 1)
           return "must be a positive integer";
         return {};
       }},
      {"rpm", "0",
       "requests per minute (0 = unlimited), held by the whole fleet together; "
       "routing.interactive_reserve of it is kept for interactive work",
       [](const YAML::Node& n, DeploymentConfig& d) { return int_in(0, 100000000)(n, d.rpm); }},
      {"tpm", "0",
       "tokens per minute (0 = unlimited; estimated before the call, corrected by usage), held by "
       "the whole fleet together",
       [](const YAML::Node& n, DeploymentConfig& d) { return int_in(0, 2000000000)(n, d.tpm); }},
      {"latency_target_ms", "", "interactive latency goal in ms; unset = none",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return int_in(1, 3600000)(n, d.latency_target_ms.emplace());
       }},
      {"weight", "0", "A/B split weight among otherwise equal deployments (0 = no split)",
       [](const YAML::Node& n, DeploymentConfig& d) { return int_in(0, 1000000)(n, d.weight); }},
  };
  return keys;
}

const std::vector<Key<TeamConfig>>& team_keys() {
  static const std::vector<Key<TeamConfig>> keys = {
      {"name", "(required)", "team name as it appears in request events",
       [](const YAML::Node& n, TeamConfig& t) { return read_string(n, t.name, false); }},
      {"budget_usd", "",
       "hard budget per period in USD; the worst-case cost is reserved before every call",
       [](const YAML::Node& n, TeamConfig& t) { return read_usd(n, t.budget.emplace()); }},
      {"budget_period", "month", "day, week (ISO, from Monday) or month, all in UTC",
       [](const YAML::Node& n, TeamConfig& t) -> std::string {
         if (auto e = read_string(n, t.budget_period); !e.empty()) return e;
         if (t.budget_period != "day" && t.budget_period != "week" && t.budget_period != "month")
           return "must be day, week or month, got '" + t.budget_period + "'";
         return {};
       }},
      {"budget_policy", "reject",
       "past the budget: reject (budget_exceeded), downgrade (retry on the cheapest tier, then "
       "reject) or defer (background work waits for budget; interactive work is rejected)",
       [](const YAML::Node& n, TeamConfig& t) -> std::string {
         std::string name;
         if (auto e = read_string(n, name); !e.empty()) return e;
         if (auto policy = budget_policy_of(name)) {
           t.budget_policy = *policy;
           return {};
         }
         return "must be reject, downgrade or defer, got '" + name + "'";
       }},
      {"soft_budget_usd", "",
       "crossing it (spent + reserved) is logged and counted; nothing is refused",
       [](const YAML::Node& n, TeamConfig& t) { return read_usd(n, t.soft_budget.emplace()); }},
      {"rpm", "0",
       "requests per minute this team may send across all deployments, fleet-wide (0 = no limit)",
       [](const YAML::Node& n, TeamConfig& t) { return int_in(0, 2000000000)(n, t.rpm); }},
      {"tpm", "0", "tokens per minute (estimated, corrected by usage) for the team; 0 = no limit",
       [](const YAML::Node& n, TeamConfig& t) { return int_in(0, 2000000000)(n, t.tpm); }},
      {"allowed_tiers", "[]", "tiers the team may use; empty = all",
       [](const YAML::Node& n, TeamConfig& t) { return read_string_list(n, t.allowed_tiers); }},
      {"allowed_models", "[]",
       "model groups, provider model names or deployment names the team may use; empty = all",
       [](const YAML::Node& n, TeamConfig& t) { return read_string_list(n, t.allowed_models); }},
  };
  return keys;
}

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

// The host of an http(s) URL: after the scheme and any user info, before the port and path;
// an IPv6 literal without its brackets. Lower-cased.
std::string url_host(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) url.remove_prefix(scheme_end + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  if (!url.empty() && url.front() == '[') {
    auto close = url.find(']');
    url = url.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else {
    url = url.substr(0, url.find(':'));
  }
  std::string host(url);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return host;
}

// localhost, 127.0.0.0/8, ::1 (and ::ffff:127.x.y.z): traffic that never leaves the machine.
bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "localhost.") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

// A plain http:// URL to another machine: keys and prompts would cross the network in clear.
bool is_insecure_remote(const std::string& api_base) {
  return api_base.rfind("http://", 0) == 0 && !is_loopback_host(url_host(api_base));
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
    if (is_insecure_remote(d.api_base) && !d.allow_insecure_http)
      problems.push_back("deployments[" + std::to_string(i) + "].api_base: plain http:// to '" +
                         url_host(d.api_base) +
                         "', which is not loopback, would send the API key and prompts "
                         "unencrypted; use https:// or set allow_insecure_http: true");
    if (d.provider == ProviderKind::kAnthropic &&
        d.default_max_tokens > c.worker.budget_max_output_tokens)
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
  for (std::size_t i = 0; i < c.teams.size(); ++i) {
    const auto& t = c.teams[i];
    if (!t.name.empty() && !teams.insert(t.name).second)
      problems.push_back("teams: team '" + t.name + "' is listed twice");
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
  std::vector<bool> context_window_set;
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
  if (YAML::Node list = root["deployments"]; list.IsDefined() && !list.IsNull()) {
    if (!list.IsSequence()) {
      load.problems.push_back("deployments: must be a list");
    } else {
      for (std::size_t i = 0; i < list.size(); ++i) {
        DeploymentConfig d;
        read_item(list[i], deployment_keys(), "deployments[" + std::to_string(i) + "]", d,
                  load.problems);
        load.config.deployments.push_back(std::move(d));
        context_window_set.push_back(list[i].IsMap() && list[i]["context_window"].IsDefined() &&
                                     !list[i]["context_window"].IsNull());
      }
    }
  }
  if (YAML::Node list = root["teams"]; list.IsDefined() && !list.IsNull()) {
    if (!list.IsSequence()) {
      load.problems.push_back("teams: must be a list");
    } else {
      for (std::size_t i = 0; i < list.size(); ++i) {
        TeamConfig t;
        read_item(list[i], team_keys(), "teams[" + std::to_string(i) + "]", t, load.problems);
        load.config.teams.push_back(std::move(t));
      }
    }
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
