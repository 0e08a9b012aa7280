#pragma once
// Private helpers shared by the Kafka-facing CLI commands (`broker`, `publish`, `tail`) and the
// embedded broker: named loggers, checked librdkafka configuration, the stop flag set by
// SIGINT/SIGTERM, and the small producer `switchyard publish` uses. The worker has its own
// producer and consumer; nothing here is on its path.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/common/log.h"
#include "switchyard/config/config.h"

namespace switchyard::cli {

using switchyard::named_logger;

// Routes librdkafka's own log lines to the "kafka" logger instead of stderr.
void forward_librdkafka_logs(rd_kafka_conf_t* conf);

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// A new configuration with `properties` set, in order, librdkafka's logs forwarded. Returns null
// and sets `error` (naming every rejected property, never its value: it may be a password) when
// librdkafka rejects any. The one way Switchyard configures librdkafka (CLI and worker alike).
ConfPtr make_conf(const std::vector<std::pair<std::string, std::string>>& properties,
                  std::string& error);

// Loads a worker config for a Kafka CLI command, which needs only its kafka section. Problems in
// the kafka section or with the file as a whole are appended to `problems` (each naming the
// file); problems elsewhere (deployments, worker, postgres, ...) are not this command's concern
// and only produce one warning pointing at `switchyard check-config`.
Config load_config_for_kafka_cli(const std::string& path, std::vector<std::string>& problems);

// What the --bootstrap / --config flags of a CLI command resolve to.
struct ClientSettings {
  Config config;  // defaults when no --config was given
  std::string bootstrap_servers;
  std::map<std::string, std::string> extra_properties;  // kafka.properties of the config
};

// Loads `config_path` (may be empty) and resolves the bootstrap servers: `bootstrap_flag` when
// non-empty, else kafka.bootstrap_servers of the config, else 127.0.0.1:9092. Appends every
// config problem to `problems` (each naming the file).
ClientSettings resolve_client_settings(const std::string& config_path,
                                       const std::string& bootstrap_flag,
                                       std::vector<std::string>& problems);

// Installs SIGINT/SIGTERM handlers that set the stop flag (and restore default handling, so a
// second signal ends the process at once).
void install_stop_signal_handlers();
bool stop_requested();

bool stderr_is_tty();
bool stdout_is_tty();

// Delivery counters of a CliProducer. Updated on the thread that calls poll()/flush().
struct DeliveryCounts {
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::map<std::string, std::uint64_t> failure_reasons;  // reason -> count
};

// An idempotent, batching producer for one topic (acks=all, enable.idempotence=true,
// linger.ms=5). produce() blocks while librdkafka's local queue is full, serving delivery
// reports meanwhile, so memory stays bounded however large the input.
// Lifecycle: construct, produce() many, flush() once, destroy. Single-threaded use only.
class CliProducer {
 public:
  // Throws std::runtime_error when the configuration is rejected.
  CliProducer(const ClientSettings& settings, const std::string& topic);
  ~CliProducer();
  CliProducer(const CliProducer&) = delete;
  CliProducer& operator=(const CliProducer&) = delete;

  // Copies key and value. Returns false (and counts a failure) when librdkafka refuses the
  // record outright, e.g. it is larger than message.max.bytes.
  // `signature`, when not empty, goes in the switchyard-signature header (event/signature.h).
  bool produce(std::string_view key, std::string_view value, std::string_view signature = {});
  // Serves delivery reports without blocking.
  void poll();
  // Waits until every produced record is delivered or failed, or `timeout_ms` passes.
  // Returns the number of records still outstanding (0 on success).
  int flush(int timeout_ms);

  const DeliveryCounts& counts() const { return counts_; }
  const std::string& topic() const { return topic_; }

 private:
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);

  std::string topic_;
  DeliveryCounts counts_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* topic_handle_ = nullptr;  // destroyed before producer_
};

}  // namespace switchyard::cli
