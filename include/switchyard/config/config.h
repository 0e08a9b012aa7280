#pragma once
// The worker's configuration, loaded from YAML. Every key is declared once in
// src/config/config.cpp (name, default, validator, one doc line); this header is the typed view.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/common/money.h"
#include "switchyard/common/priority.h"
#include "switchyard/pricing/catalog.h"

namespace switchyard {

// Which API a deployment speaks; picks the adapter in provider/adapter.h.
enum class ProviderKind { kOpenAI, kAzure, kAnthropic };
const char* to_string(ProviderKind k);

struct KafkaConfig {
  std::string bootstrap_servers = "127.0.0.1:9092";
  std::string group_id = "switchyard";
  std::vector<std::string> interactive_topics = {"switchyard.requests.interactive"};
  std::vector<std::string> background_topics = {"switchyard.requests.background"};
  std::string results_topic = "switchyard.results";
  std::string dlq_topic = "switchyard.dlq";
  std::vector<std::string> reply_topic_allowlist;
  // Extra librdkafka properties passed through as they are (e.g. security.protocol).
  std::map<std::string, std::string> properties;
};

struct PostgresConfig {
  // libpq connection string or URI. Taken from the environment variable `url_env` when set.
  std::string url = "postgresql:///switchyard";
  std::string url_env;
  int batch_max_rows = 1000;
  int retry_backoff_ms = 500;
};

struct WorkerConfig {
  int max_in_flight = 20000;     // requests between fetch and commit, all stages together
  int resume_in_flight = 15000;  // partitions resume below this after a pause
  // Share of both thresholds kept for interactive topics: background partitions pause at
  // max_in_flight x (1 - share) and resume below resume_in_flight x (1 - share).
  double interactive_in_flight_reserve = 0.1;
  int max_event_bytes = 1 << 20;  // larger events go to the DLQ
  int shutdown_drain_ms = 30000;
  int io_threads = 1;
  int commit_interval_ms = 200;
  std::string default_tier = "workhorse";
  // Output tokens assumed for a budget's worst case when a request sets no max_tokens.
  int budget_max_output_tokens = 4096;
  // Budget policy defer: how often deferred background work retries its reservation, and how
  // long it may be deferred in all before it ends budget_exceeded.
  int budget_defer_retry_ms = 30000;
  int budget_max_defer_ms = 3600000;
  // A budget reservation older than this whose worker is gone is released (worker/fleet.h).
  int reservation_reclaim_after_ms = 900000;
};

struct HttpConfig {
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 120000;
  int max_connections_per_host = 4096;
  // New connections per host not yet proven by a first response: a server with a short accept
  // queue is not flooded with connects (http_client.h).
  int max_connecting_per_host = 8;
  int max_attempts = 8;                // provider calls that may fail per request (429s aside)
  int max_rate_limited_attempts = 10;  // 429 answers a request may collect before it ends
  int request_deadline_ms = 600000;    // all attempts of one request, waits included
  int first_byte_timeout_ms = 0;       // request written -> first response byte; 0 = none
  int retry_base_ms = 200;
  int retry_max_ms = 10000;
  std::string ca_file;  // extra CA bundle on top of the system store
};

struct BreakerConfig {
  int min_failures = 5;           // failures in the window before a breaker may open
  double min_failure_rate = 0.5;  // ... and at least this share of the window's calls
  int window_ms = 10000;
  int open_ms = 5000;       // first cooldown; doubles after each failed probe
  int max_open_ms = 60000;  // cap of the doubling
};

// The admin HTTP server (app/admin_server.h): /metrics, /healthz, /readyz.
struct AdminConfig {
  // host:port ("[::1]:9464" for IPv6); "" or "off" disables the server.
  std::string listen = "127.0.0.1:9464";
  // Parsed from `listen` at load.
  bool enabled = true;
  std::string host = "127.0.0.1";
  std::uint16_t port = 9464;
  // Environment variable holding the bearer token; required when `host` is not loopback.
  std::string token_env;
  int max_connections = 64;  // open at once; more are closed when accepted
  int max_body_bytes = 1 << 20;

  std::string token() const;  // reads the environment; empty when unset
};

struct LogConfig {
  std::string format = "text";  // text | json (common/log.h)
  std::string level = "info";   // trace | debug | info | warn | error | critical | off
};

struct PricingConfig {
  // LiteLLM-format price map, as resolved at load: a relative `pricing.catalog_file` is made
  // relative to the config file's directory; $SWITCHYARD_PRICING_CATALOG is used when the key is
  // absent. Empty = the built-in catalog (data/litellm-prices, compiled in).
  std::string catalog_file;
};

struct RoutingConfig {
  // task_type -> tier for model "auto" (classifier rule 1); every tier is one of Config::tiers.
  std::map<std::string, std::string> task_type_tiers;
  // Share (0..1) of every deployment's rpm/tpm that background work may not use.
  double interactive_reserve = 0.2;
  // "deployment": each deployment keeps interactive_reserve of its own limits. "tier": a tier
  // keeps the same total, held by its dearest deployments first, so background work may fill
  // the cheapest ones (interactive work that finds a cheap one full goes to a dearer one).
  std::string interactive_reserve_scope = "deployment";
  // Plan waiting background work across rate-limit windows and deadlines every second
  // (Scheduler::plan_background) instead of taking the cheapest deployment with headroom now.
  bool background_planner = false;
  // Interactive choice among the ready deployments of a tier: "lowest_latency" (the fastest,
  // spread over near-best ones) or "cheapest" (the cheapest of those meeting their latency
  // target: latency_target_ms, else interactive_latency_target_ms; none = every deployment).
  std::string interactive_strategy = "lowest_latency";
  // Latency target of deployments without latency_target_ms of their own; unset = none.
  std::optional<int> interactive_latency_target_ms;
  std::int64_t long_input_tokens = 8000;  // at or above: the best tier (classifier rule 2)
  std::int64_t short_input_tokens = 500;  // at or below: the cheapest tier (classifier rule 6)
  // tier -> tiers to fall back to, in order, when none of the tier's deployments can serve now.
  // Unset = every higher tier, cheapest first (see Config::fallback_chain).
  std::optional<std::map<std::string, std::vector<std::string>>> fallback_tiers;
};

// Spend reporting (the Postgres views of migration 0005).
struct ReportingConfig {
  // Model group whose prices team_savings_daily measures savings against; empty = the group of
  // the first deployment of worker.default_tier (see Config::reference_deployment).
  std::string reference_model;
};

struct DeploymentConfig {
  std::string name;
  ProviderKind provider = ProviderKind::kOpenAI;
  std::string api_base;     // e.g. https://api.openai.com/v1
  std::string api_key_env;  // the key itself is read from this variable, never from the file
  std::string model;        // the provider's model name (Azure: the deployment name)
  // Azure OpenAI only: the api-version query parameter (the latest GA data-plane version).
  std::string api_version = "2024-10-21";
  // Plain http:// to a host that is not loopback is refused unless this is set.
  bool allow_insecure_http = false;
  // max_tokens sent to every provider when a request sets none (provider/adapter.h output_cap).
  // At most worker.budget_max_output_tokens, the output a budget's worst case assumes.
  int default_max_tokens = 4096;
  std::string group;  // model group; defaults to `model`
  std::string tier;   // one of Config::tiers
  std::string region;
  // The per-token prices this deployment is billed at, resolved at load from the catalog entry
  // of `model` with the explicit *_cost_per_token keys applied on top (or from those keys alone
  // when the catalog does not list the model). With batch_pricing, the batch prices where the
  // catalog has them. Never guessed: a deployment without a price fails to load.
  Picodollars input_cost_per_token = 0;
  Picodollars output_cost_per_token = 0;
  // The full resolved price (cached input, cache creation, reasoning, batch prices, limits) for
  // call_cost(); set for every deployment of a config that loaded without problems.
  std::optional<ModelPrice> price;
  // What the file said: the explicit price keys, each overriding the catalog's value.
  PriceOverride price_override;
  // Where the price came from, for operators: "catalog 'gpt-4o-mini'",
  // "catalog 'gpt-4o-mini' + overrides", or "config".
  std::string price_source;
  bool batch_pricing = false;  // billed through the provider's Batch API prices
  // Input + output token limit; from the catalog's max_input_tokens unless set.
  std::int64_t context_window = 128000;
  std::optional<int> latency_target_ms;  // interactive latency goal; unset = none
  int weight = 0;                        // A/B split weight among equal candidates; 0 = none
  int rpm = 0;                           // 0 = unlimited
  int tpm = 0;
  // Calls in flight at once from this worker (limit/concurrency_limit.h): a hard cap, and under
  // it an adaptive limit that starts at min(16, max) and grows while latency holds.
  int max_concurrency = 256;
  bool adaptive_concurrency = true;

  std::string api_key() const;  // reads the environment; empty when unset
};

// What a team's hard budget does to a request it cannot pay for (teams[].budget_policy).
enum class BudgetPolicy {
  kReject,     // end the request: budget_exceeded
  kDowngrade,  // route it to the cheapest tier and reserve again; reject if that is no cheaper
  kDefer,      // background work waits (up to worker.budget_max_defer_ms) for budget to free up
};
const char* to_string(BudgetPolicy p);
std::optional<BudgetPolicy> budget_policy_of(std::string_view name);  // reject|downgrade|defer

struct TeamConfig {
  std::string name;
  std::optional<Picodollars> budget;    // hard budget per period; unset = no budget
  std::string budget_period = "month";  // day | week | month, UTC
  BudgetPolicy budget_policy = BudgetPolicy::kReject;
  std::optional<Picodollars> soft_budget;   // crossing it is logged and counted
  int rpm = 0;                              // team-wide request limit per minute; 0 = none
  int tpm = 0;                              // team-wide token limit per minute; 0 = none
  std::vector<std::string> allowed_tiers;   // empty = every tier
  std::vector<std::string> allowed_models;  // groups, models or deployment names; empty = all
  // Request topics this team owns (each also under kafka.topics.interactive or .background).
  // Kafka ACLs decide who may write them; an event read from one belongs to this team.
  std::vector<std::string> topics;
  // Topics this team's requests may name as reply_topic (besides kafka.reply_topic_allowlist,
  // which any team may name). One team's reply topics are not another's.
  std::vector<std::string> reply_topics;
  // Signed events (event/signature.h): the environment variable holding this team's HMAC keys
  // (comma-separated, each at least 32 bytes; producers sign with the first). Empty = unsigned.
  std::string signing_key_env;
  // With a key: an event naming this team must carry a valid signature (false accepts unsigned
  // events during a rollout, counted; a bad signature is refused either way).
  bool require_signature = true;
  std::vector<std::string> signing_keys() const;  // read from signing_key_env now
};

struct TenancyConfig {
  // Events naming a team the config does not list are served (unbudgeted, unlimited). For
  // development only: by default they end invalid_request ("unknown team").
  bool allow_unknown_teams = false;
};

struct Config {
  KafkaConfig kafka;
  PostgresConfig postgres;
  WorkerConfig worker;
  HttpConfig http;
  BreakerConfig circuit_breaker;
  AdminConfig admin;
  LogConfig log;
  PricingConfig pricing;
  RoutingConfig routing;
  ReportingConfig reporting;
  TenancyConfig tenancy;
  // Tier names from the cheapest / lowest quality to the best; every deployment's tier is one.
  std::vector<std::string> tiers = {"economy", "workhorse", "frontier"};
  std::vector<DeploymentConfig> deployments;
  std::vector<TeamConfig> teams;

  std::string postgres_url() const;  // resolves url_env
  bool any_team_signs() const;       // some team has signing_key_env (headers must be read)
  PriorityClass class_of_topic(const std::string& topic) const;
  // The team that owns a request topic (teams[].topics), or nullptr for a shared topic.
  const TeamConfig* team_of_topic(std::string_view topic) const;
  std::vector<std::string> request_topics() const;  // interactive first
  // Position of `tier` in `tiers` (0 = cheapest), or -1 when it is not listed.
  int tier_rank(const std::string& tier) const;
  // The tiers `tier` falls back to, in order: routing.fallback_tiers when set, else every
  // higher tier from the cheapest up.
  std::vector<std::string> fallback_chain(const std::string& tier) const;
  // The deployment whose prices are the savings reference: the first one of model group
  // reporting.reference_model, or when that is empty the first one of worker.default_tier.
  // nullptr when there is none (a config that loaded without problems always has one).
  const DeploymentConfig* reference_deployment() const;
};

struct ConfigLoad {
  Config config;
  std::vector<std::string> problems;  // every problem found, each naming its key
  bool ok() const { return problems.empty(); }
};

// Both read the pricing catalog (pricing.catalog_file) once, resolve every deployment's price
// and return every problem found. Catalog problems count only when they concern a model a
// deployment uses. load_config_file resolves a relative catalog path against the config file's
// directory; load_config_text against `base_dir` (empty = the working directory).
ConfigLoad load_config_file(const std::string& path);
ConfigLoad load_config_text(const std::string& yaml_text, const std::string& base_dir = "");

// One line per key: name, default and what it does. Used by `switchyard check-config --keys`.
std::string describe_config_keys();

}  // namespace switchyard
