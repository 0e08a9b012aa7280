#pragma once
// Integration harness: a real embedded broker (librdkafka mock cluster, in this process), the
// provider simulator (in this process), a fresh Postgres database, and the real `switchyard run`
// binary as a child process, so tests can SIGKILL it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/pg.h"
#include "support/worker_process.h"
#include "switchyard/kafka/mock_broker.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard::testing {

inline constexpr const char* kInteractiveTopic = "req.interactive";
inline constexpr const char* kBackgroundTopic = "req.background";
inline constexpr const char* kResultsTopic = "results";
inline constexpr const char* kDlqTopic = "dlq";
// Prices of the simulated deployment, USD per token (gpt-4o-mini's catalog prices).
inline constexpr const char* kInputPrice = "0.00000015";
inline constexpr const char* kOutputPrice = "0.0000006";

// Waits for `done` with a generous deadline; the deadline only bounds a hung test, it is not
// an assertion about speed.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::seconds limit = std::chrono::seconds(240)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

struct Record {
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Reads every partition of a topic from the beginning, without a consumer group.
class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, const std::string& topic, int partitions) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "test-reader-unused", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_poll_set_consumer(rk_);
    auto* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
  }
  ~TopicReader() {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
  // Reads what is available now (up to ~200 ms of waiting).
  void drain() {
    for (int idle = 0; idle < 2;) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
      if (!m) {
        ++idle;
        continue;
      }
      if (!m->err) {
        Record r;
        if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* value;
          size_t size;
          for (size_t i = 0;
               rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
               ++i)
            r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
        records.push_back(std::move(r));
      }
      rd_kafka_message_destroy(m);
    }
  }
  std::set<std::string> distinct_keys() const {
    std::set<std::string> keys;
    for (const auto& r : records) keys.insert(r.key);
    return keys;
  }
  std::vector<Record> records;

 private:
  rd_kafka_t* rk_ = nullptr;
};

struct HarnessOptions {
  int partitions = 4;
  SimOptions sim;
  std::string extra_worker_yaml;  // appended under `worker:`
  std::string extra_http_yaml;    // appended under `http:`
  std::string admin_listen = "127.0.0.1:0";
  std::string admin_token_env;  // admin.token_env, when set
  std::string teams_yaml = "teams:\n  - name: search\n  - name: ads\n";
  // Replaces the single default deployment; SIM_PORT is replaced by the simulator's port.
  std::string deployments_yaml;
  // More background request topics (created on the broker, listed under kafka.topics), e.g. a
  // team's own topic.
  std::vector<std::string> extra_background_topics;
  std::string extra_top_yaml;  // appended at the top level (e.g. a tenancy: section)
};

class Harness {
 public:
  explicit Harness(const std::string& name, HarnessOptions options = {})
      : options_(options),
        dir_(std::filesystem::temp_directory_path() / ("switchyard-it-" + name)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    MockBrokerOptions mb;
    for (const char* t : {kInteractiveTopic, kBackgroundTopic, kResultsTopic, kDlqTopic})
      mb.topics.push_back({t, options.partitions});
    for (const auto& t : options.extra_background_topics)
      mb.topics.push_back({t, options.partitions});
    broker_ = std::make_unique<MockBroker>(mb);
    options_.sim.port = 0;
    sim_ = std::make_unique<ProviderSimulator>(options_.sim);
    sim_->start();
    db_url = fresh_database("sy_it_" + name);
    write_config();
  }

  ~Harness() {
    stop_extra_workers(SIGKILL);
    stop_worker(SIGKILL);
    sim_->stop();
  }

  const std::string& bootstrap() const { return broker_->bootstrap_servers(); }
  MockBroker& broker() { return *broker_; }
  ProviderSimulator& sim() { return *sim_; }
  std::string config_path() const { return (dir_ / "config.yaml").string(); }
  std::string dir() const { return dir_.string(); }  // this test's scratch directory
  std::string log_path() const {
    return (dir_ / ("worker-" + std::to_string(starts_) + ".log")).string();
  }

  void write_config() {
    std::ofstream out(config_path());
    out << "kafka:\n"
        << "  bootstrap_servers: " << bootstrap() << "\n"
        << "  group_id: switchyard-it\n"
        << "  topics:\n    interactive: [" << kInteractiveTopic << "]\n    background: ["
        << kBackgroundTopic;
    for (const auto& t : options_.extra_background_topics) out << ", " << t;
    out << "]\n"
        << "  results_topic: " << kResultsTopic << "\n  dlq_topic: " << kDlqTopic << "\n"
        << "  reply_topic_allowlist: [replies]\n"
        // A restarted worker must not wait the default 45 s for its killed predecessor's session.
        << "  properties:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"500\"\n"
        << "postgres:\n  url: " << db_url
        << "\n  retry_backoff_ms: 200\n"
        // Several workers per test: the admin server on a free port each.
        << "admin:\n  listen: " << options_.admin_listen << "\n"
        << (options_.admin_token_env.empty() ? ""
                                             : "  token_env: " + options_.admin_token_env + "\n")
        << "worker:\n  default_tier: economy\n  commit_interval_ms: 50\n"
        << options_.extra_worker_yaml << "http:\n  retry_base_ms: 10\n  retry_max_ms: 200\n"
        << options_.extra_http_yaml << deployments_yaml() << options_.teams_yaml
        << options_.extra_top_yaml;
  }

  std::string deployments_yaml() const {
    std::string yaml = options_.deployments_yaml;
    if (yaml.empty()) {
      yaml = std::string(
                 "deployments:\n  - name: mini-a\n    api_base: http://127.0.0.1:SIM_PORT/v1\n") +
             "    model: gpt-4o-mini\n    tier: economy\n    input_cost_per_token: " + kInputPrice +
             "\n    output_cost_per_token: " + kOutputPrice + "\n";
    }
    for (auto pos = yaml.find("SIM_PORT"); pos != std::string::npos; pos = yaml.find("SIM_PORT"))
      yaml.replace(pos, 8, std::to_string(sim_->port()));
    return yaml;
  }

  void start_worker() {
    ++starts_;
    const std::string stats = (dir_ / ("stats-" + std::to_string(starts_) + ".json")).string();
    worker_.start(SWITCHYARD_BINARY, config_path(), log_path(), {"--stats-file", stats});
  }

  // A second worker of the same group (a fleet of two); its log is worker-extra.log.
  void start_extra_worker() {
    extra_workers_.emplace_back(std::make_unique<WorkerProcess>())
        ->start(SWITCHYARD_BINARY, config_path(), (dir_ / "worker-extra.log").string());
  }
  std::string extra_worker_log() const {
    std::ifstream in(dir_ / "worker-extra.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void stop_extra_workers(int sig = SIGTERM) {
    for (auto& w : extra_workers_) w->stop(sig);
    extra_workers_.clear();
  }

  // Sends `sig` and waits for the worker to exit; returns its exit status (or -signal).
  int stop_worker(int sig = SIGTERM) { return worker_.stop(sig); }

  bool worker_running() { return worker_.alive(); }

  // The stats JSON the last worker wrote when it exited (run --stats-file).
  std::string worker_stats() const {
    std::ifstream in(dir_ / ("stats-" + std::to_string(starts_) + ".json"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string worker_log() const {
    std::ifstream in(log_path());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Publishes key/value records and waits until every one is acknowledged.
  void publish(const std::string& topic,
               const std::vector<std::pair<std::string, std::string>>& records) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    for (const auto& [key, value] : records) {
      for (;;) {
        auto e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                   RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                   RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(rk, 10);
          continue;
        }
        ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
        break;
      }
    }
    ASSERT_EQ(rd_kafka_flush(rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
  }

  std::string query(const std::string& sql) const { return query_one(db_url, sql); }
  long long count(const std::string& sql) const {
    std::string v = query(sql);
    return v.empty() ? 0 : std::stoll(v);
  }

  // Committed offset of the worker's group per partition of `topic`, and the end offsets.
  std::pair<std::vector<long long>, std::vector<long long>> committed_and_end(
      const std::string& topic) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "switchyard-it", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    auto* list = rd_kafka_topic_partition_list_new(options_.partitions);
    for (int p = 0; p < options_.partitions; ++p)
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    rd_kafka_committed(rk, list, 10000);
    std::vector<long long> committed, end;
    for (int p = 0; p < options_.partitions; ++p) {
      // A partition that never held a record has no committed offset (-1001): position 0.
      committed.push_back(list->elems[p].offset < 0 ? 0 : list->elems[p].offset);
      int64_t lo = 0, hi = 0;
      rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 10000);
      end.push_back(hi);
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return {committed, end};
  }

 private:
  HarnessOptions options_;
  std::filesystem::path dir_;
  std::unique_ptr<MockBroker> broker_;
  std::unique_ptr<ProviderSimulator> sim_;
  WorkerProcess worker_;
  std::vector<std::unique_ptr<WorkerProcess>> extra_workers_;
  int starts_ = 0;

 public:
  std::string db_url;
};

inline std::string request_json(const std::string& id, const std::string& team,
                                const std::string& text, const std::string& extra = "") {
  return R"({"request_id":")" + id + R"(","team":")" + team +
         R"(","messages":[{"role":"user","content":")" + text + R"("}])" + extra + "}";
}

// One entry of a `deployments:` list served by the simulator (SIM_PORT is filled in by Harness).
inline std::string deployment_yaml(const std::string& name, const std::string& model,
                                   const std::string& tier, const std::string& input_price,
                                   const std::string& output_price, int rpm = 0) {
  std::string yaml = "  - name: " + name +
                     "\n    api_base: http://127.0.0.1:SIM_PORT/v1\n    model: " + model +
                     "\n    tier: " + tier + "\n    input_cost_per_token: " + input_price +
                     "\n    output_cost_per_token: " + output_price + "\n";
  if (rpm > 0) yaml += "    rpm: " + std::to_string(rpm) + "\n";
  return yaml;
}

// A counter from the worker's --stats-file JSON; -1 when absent.
inline long long stat_of(const std::string& json, const std::string& name) {
  auto pos = json.find("\"" + name + "\":");
  return pos == std::string::npos ? -1 : std::stoll(json.substr(pos + name.size() + 3));
}

inline std::vector<std::pair<std::string, std::string>> numbered_requests(const std::string& prefix,
                                                                          int n) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i) {
    std::string id = prefix + std::to_string(i);
    out.emplace_back(id,
                     request_json(id, i % 3 == 0 ? "ads" : "search",
                                  "summarise item " + std::to_string(i) + std::string(i % 7, '!')));
  }
  return out;
}

}  // namespace switchyard::testing
