#pragma once
// The worker's configuration, loaded from YAML. Every key is declared once in
// src/config/config.cpp (name, default, validator, one doc line); this header is the typed view.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/common/money.h"

namespace switchyard {

enum class PriorityClass { kInteractive, kBackground };
const char* to_string(PriorityClass c);

enum class ProviderKind { kOpenAI, kAnthropic };
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
  int max_in_flight = 20000;      // requests between fetch and commit, all stages together
  int resume_in_flight = 15000;   // partitions resume below this after a pause
  int max_event_bytes = 1 << 20;  // larger events go to the DLQ
  int shutdown_drain_ms = 30000;
  int io_threads = 1;
  int commit_interval_ms = 200;
  std::string default_tier = "workhorse";
  // Output tokens assumed for a budget's worst case when a request sets no max_tokens.
  int budget_max_output_tokens = 4096;
};

struct HttpConfig {
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 120000;
  int max_connections_per_host = 4096;
  int max_attempts = 3;
  int retry_base_ms = 200;
  int retry_max_ms = 10000;
};

struct DeploymentConfig {
  std::string name;
  ProviderKind provider = ProviderKind::kOpenAI;
  std::string api_base;     // e.g. https://api.openai.com/v1
  std::string api_key_env;  // the key itself is read from this variable, never from the file
  std::string model;        // the provider's model name
  std::string group;        // model group; defaults to `model`
  std::string tier;         // frontier | workhorse | economy | ...
  std::string region;
  Picodollars input_cost_per_token = 0;
  Picodollars output_cost_per_token = 0;
  std::int64_t context_window = 128000;
  int rpm = 0;  // 0 = unlimited
  int tpm = 0;

  std::string api_key() const;  // reads the environment; empty when unset
};

struct TeamConfig {
  std::string name;
  std::optional<Picodollars> budget;     // hard budget per period; unset = no budget
  std::string budget_period = "month";   // day | week | month, UTC
  std::string budget_policy = "reject";  // what happens past the budget
};

struct Config {
  KafkaConfig kafka;
  PostgresConfig postgres;
  WorkerConfig worker;
  HttpConfig http;
  std::vector<DeploymentConfig> deployments;
  std::vector<TeamConfig> teams;

  std::string postgres_url() const;  // resolves url_env
  PriorityClass class_of_topic(const std::string& topic) const;
  std::vector<std::string> request_topics() const;  // interactive first
};

struct ConfigLoad {
  Config config;
  std::vector<std::string> problems;  // every problem found, each naming its key
  bool ok() const { return problems.empty(); }
};

ConfigLoad load_config_file(const std::string& path);
ConfigLoad load_config_text(const std::string& yaml_text);

// One line per key: name, default and what it does. Used by `switchyard check-config --keys`.
std::string describe_config_keys();

}  // namespace switchyard
