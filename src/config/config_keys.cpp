// The config file's keys, declared once: name, default, doc line, reader-validator.
#include "config/config_keys.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include "switchyard/common/url.h"

namespace switchyard::config_detail {

namespace {

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

}  // namespace

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
      {"tenancy.allow_unknown_teams", "false",
       "serve events naming a team not listed under teams (unbudgeted; for development); "
       "otherwise they end invalid_request (unknown team)",
       [](const YAML::Node& n, Config& c) { return read_bool(n, c.tenancy.allow_unknown_teams); }},
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
      {"worker.reservation_reclaim_after_ms", "900000",
       "a budget reservation older than this, held by a worker gone for over a minute, is "
       "released: its event is not coming back (retention, an offset reset)",
       [](const YAML::Node& n, Config& c) {
         return int_in(60000, 604800000)(n, c.worker.reservation_reclaim_after_ms);
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
      {"http.max_connecting_per_host", "8",
       "new connections per provider host not yet proven by a first response; more wait, so a "
       "server with a short accept queue is not flooded with connects",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 100000)(n, c.http.max_connecting_per_host);
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
      {"admin.max_connections", "64",
       "admin connections open at once; more are closed as soon as they are accepted",
       [](const YAML::Node& n, Config& c) { return int_in(1, 10000)(n, c.admin.max_connections); }},
      {"admin.max_body_bytes", "1048576",
       "largest admin request body (413 past it; read only after the token was checked)",
       [](const YAML::Node& n, Config& c) {
         return int_in(0, 64 << 20)(n, c.admin.max_body_bytes);
       }},
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
      {"routing.background_planner", "false",
       "plan waiting background work every second across rpm windows and deadlines (cheap capacity "
       "in a later window its deadline allows beats a dearer deployment now); new background work "
       "waits up to a second for the next plan",
       [](const YAML::Node& n, Config& c) { return read_bool(n, c.routing.background_planner); }},
      {"routing.interactive_reserve_scope", "deployment",
       "deployment: each deployment keeps interactive_reserve of its rpm/tpm for interactive "
       "work; tier: each tier keeps the same total, held by its dearest deployments first, so "
       "background work may fill the cheapest ones",
       [](const YAML::Node& n, Config& c) {
         return read_one_of(n, c.routing.interactive_reserve_scope, {"deployment", "tier"});
       }},
      {"routing.interactive_strategy", "lowest_latency",
       "interactive work among the ready deployments of its tier: lowest_latency (the fastest) "
       "or cheapest (the cheapest whose observed latency meets its target; deployments over it "
       "only when none meets it)",
       [](const YAML::Node& n, Config& c) {
         return read_one_of(n, c.routing.interactive_strategy, {"lowest_latency", "cheapest"});
       }},
      {"routing.interactive_latency_target_ms", "",
       "latency target in ms of deployments without a latency_target_ms of their own; a "
       "deployment whose mean latency over at least 5 calls exceeds its target takes "
       "interactive work only when no ready deployment meets its target; unset = none",
       [](const YAML::Node& n, Config& c) {
         return int_in(1, 3600000)(n, c.routing.interactive_latency_target_ms.emplace());
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
         HttpUrl url;  // the HTTP client's own parse: a base it accepts is one it can call
         if (auto e = parse_http_url(d.api_base, url); !e.empty())
           return e + ", got '" + d.api_base + "'";
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
       "max_tokens sent to every provider when a request sets none (lowered to the catalog's "
       "max_output_tokens), so a budget's worst case bounds the answer; at most "
       "worker.budget_max_output_tokens",
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
      {"max_concurrency", "256",
       "calls in flight at once from this worker; further calls queue in the worker (interactive "
       "first)",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return int_in(1, 100000)(n, d.max_concurrency);
       }},
      {"adaptive_concurrency", "true",
       "under max_concurrency, start at 16 calls and grow while latency holds; shrink on "
       "timeouts, connection errors and 5xx (false: max_concurrency from the start)",
       [](const YAML::Node& n, DeploymentConfig& d) {
         return read_bool(n, d.adaptive_concurrency);
       }},
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
      {"topics", "[]",
       "request topics this team owns (also listed under kafka.topics.*); an event read from one "
       "belongs to this team, one there naming another team is invalid_request",
       [](const YAML::Node& n, TeamConfig& t) { return read_string_list(n, t.topics); }},
      {"reply_topics", "[]",
       "topics this team's requests may name as reply_topic (kafka.reply_topic_allowlist is "
       "open to every team); no other team may name them",
       [](const YAML::Node& n, TeamConfig& t) { return read_string_list(n, t.reply_topics); }},
      {"signing_key_env", "",
       "environment variable holding this team's HMAC-SHA256 event signing keys (comma-separated, "
       "each >= 32 bytes; the first signs): events naming the team must carry a valid "
       "switchyard-signature header",
       [](const YAML::Node& n, TeamConfig& t) { return read_string(n, t.signing_key_env); }},
      {"require_signature", "true",
       "with signing_key_env: unsigned events naming the team are refused (false accepts and "
       "counts them, for a rollout); a wrong signature is always refused",
       [](const YAML::Node& n, TeamConfig& t) { return read_bool(n, t.require_signature); }},
  };
  return keys;
}

}  // namespace switchyard::config_detail
