#include "kafka/cli_support.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

#include "switchyard/event/signature.h"

namespace switchyard::cli {

namespace {

void log_from_librdkafka(const rd_kafka_t* rk, int level, const char* facility,
                         const char* message) {
  static const auto logger = named_logger("kafka");
  // librdkafka uses syslog levels: 0 emerg .. 3 err, 4 warning, 5 notice, 6 info, 7 debug.
  spdlog::level::level_enum spd_level = level <= 3   ? spdlog::level::err
                                        : level == 4 ? spdlog::level::warn
                                        : level <= 6 ? spdlog::level::info
                                                     : spdlog::level::debug;
  logger->log(spd_level, "librdkafka {} [{}]: {}", rk ? rd_kafka_name(rk) : "-", facility, message);
}

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the stop flag is set from a signal handler");

void on_stop_signal(int) {
  g_stop.store(true);
}

}  // namespace

void forward_librdkafka_logs(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, log_from_librdkafka);
}

ConfPtr make_conf(const std::vector<std::pair<std::string, std::string>>& properties,
                  std::string& error) {
  ConfPtr conf(rd_kafka_conf_new());
  char errstr[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      error += (error.empty() ? "" : "; ") + ("Kafka property " + name + ": " + errstr);
    }
  }
  if (!error.empty()) return nullptr;
  forward_librdkafka_logs(conf.get());
  return conf;
}

Config load_config_for_kafka_cli(const std::string& path, std::vector<std::string>& problems) {
  ConfigLoad load = load_config_file(path);
  std::size_t ignored = 0;
  for (const std::string& problem : load.problems) {
    bool other_section = false;
    for (const char* section : {"deployments", "worker.", "http.", "postgres.", "teams"}) {
      if (problem.rfind(section, 0) == 0) other_section = true;
    }
    if (other_section) {
      ++ignored;
    } else {
      problems.push_back(path + ": " + problem);
    }
  }
  if (ignored > 0) {
    named_logger("cli")->warn(
        "{} has {} problem(s) outside its kafka section, ignored by this command; "
        "run `switchyard check-config {}` to see them",
        path, ignored, path);
  }
  return std::move(load.config);
}

ClientSettings resolve_client_settings(const std::string& config_path,
                                       const std::string& bootstrap_flag,
                                       std::vector<std::string>& problems) {
  ClientSettings settings;
  if (!config_path.empty()) {
    settings.config = load_config_for_kafka_cli(config_path, problems);
    settings.extra_properties = settings.config.kafka.properties;
  }
  if (!bootstrap_flag.empty()) {
    settings.bootstrap_servers = bootstrap_flag;
  } else if (!settings.config.kafka.bootstrap_servers.empty()) {
    settings.bootstrap_servers = settings.config.kafka.bootstrap_servers;
  } else {
    settings.bootstrap_servers = "127.0.0.1:9092";
  }
  return settings;
}

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // a second signal gets the default action: ends the process
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() {
  return g_stop.load(std::memory_order_relaxed);
}

bool stderr_is_tty() {
  return isatty(STDERR_FILENO) == 1;
}
bool stdout_is_tty() {
  return isatty(STDOUT_FILENO) == 1;
}

// ---------------------------------------------------------------------------------------------
// CliProducer

CliProducer::CliProducer(const ClientSettings& settings, const std::string& topic) : topic_(topic) {
  std::vector<std::pair<std::string, std::string>> properties = {
      {"bootstrap.servers", settings.bootstrap_servers},
      {"client.id", "switchyard-publish"},
      {"acks", "all"},
      {"enable.idempotence", "true"},
      {"linger.ms", "5"},
      {"batch.num.messages", "10000"},
      // Bounds memory: produce() waits for deliveries once this many records are queued.
      {"queue.buffering.max.messages", "200000"},
      // Java clients partition by murmur2 of the key; do the same so keys land alike.
      {"partitioner", "murmur2_random"},
      // Fail a record after 30 s instead of librdkafka's 5 minutes, so an unreachable broker
      // is reported promptly.
      {"message.timeout.ms", "30000"},
  };
  // The config's kafka.properties come last: an operator's explicit setting wins.
  for (const auto& property : settings.extra_properties) properties.push_back(property);

  std::string error;
  ConfPtr conf = make_conf(properties, error);
  if (!conf) throw std::runtime_error(error);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &CliProducer::on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), this);

  char errstr[512];
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (!producer_) throw std::runtime_error(std::string("cannot create Kafka producer: ") + errstr);
  conf.release();  // owned by producer_ now
  topic_handle_ = rd_kafka_topic_new(producer_, topic_.c_str(), nullptr);
  if (!topic_handle_) {
    std::string reason = rd_kafka_err2str(rd_kafka_last_error());
    rd_kafka_destroy(producer_);
    throw std::runtime_error("cannot use topic " + topic_ + ": " + reason);
  }
}

CliProducer::~CliProducer() {
  rd_kafka_topic_destroy(topic_handle_);
  rd_kafka_destroy(producer_);
}

bool CliProducer::produce(std::string_view key, std::string_view value,
                          std::string_view signature) {
  for (;;) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (signature.empty()) {
      if (rd_kafka_produce(topic_handle_, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                           const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                           nullptr) == 0) {
        return true;
      }
      err = rd_kafka_last_error();
    } else {
      err = rd_kafka_producev(producer_, RD_KAFKA_V_RKT(topic_handle_),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_HEADER(kSignatureHeader.data(), signature.data(),
                                                static_cast<ssize_t>(signature.size())),
                              RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Back-pressure: serve delivery reports until the local queue has room.
      rd_kafka_poll(producer_, 50);
      continue;
    }
    ++counts_.failed;
    ++counts_.failure_reasons[rd_kafka_err2str(err)];
    return false;
  }
}

void CliProducer::poll() {
  rd_kafka_poll(producer_, 0);
}

int CliProducer::flush(int timeout_ms) {
  rd_kafka_flush(producer_, timeout_ms);
  return rd_kafka_outq_len(producer_);
}

void CliProducer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* self = static_cast<CliProducer*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->counts_.delivered;
  } else {
    ++self->counts_.failed;
    ++self->counts_.failure_reasons[rd_kafka_err2str(message->err)];
  }
}

}  // namespace switchyard::cli
