// End-to-end benchmark driver: embedded broker + provider simulator (both in this process), a
// fresh Postgres database per scenario, and the real `switchyard run` binary as a child process.
// Prints figures; asserts nothing. scripts/bench.sh builds, starts Postgres and runs this.
//
// Scenarios (--scenarios 1,2,3,4 by default; 5 and 6 on request):
//   1 throughput     N events pre-published, simulator answering at once, one worker
//   2 paced          a publisher at --rate events/s for --seconds while the worker runs
//   3 in-flight      simulator holds every request --hold-ms; peak open requests and worker RSS
//   4 bare loop      make_http_client against the same kind of simulator, C requests outstanding
//   5 mixed          three catalog-priced tiers with rpm limits, a background flood then an
//                    interactive trickle: cost vs all-workhorse, tier mix, interactive wait,
//                    deadline misses, scheduler waits, policy_bench ns per decision
//   6 trace          a simulate trace in real time through Kafka into a worker, a provider
//                    simulator per deployment enforcing its rpm: cost against the offline bound
//                    and simulate's figure for the same events (about 8 minutes per policy)
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/worker_process.h"
#include "switchyard/common/flags.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/common/money.h"
#include "switchyard/kafka/mock_broker.h"
#include "switchyard/pricing/catalog.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/provider/openai.h"
#include "switchyard/sim/provider_sim.h"
#include "switchyard/route/router.h"
#include "switchyard/sched/replay.h"
#include "switchyard/store/store.h"

namespace sy = switchyard;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kRequestTopic = "bench.requests";
constexpr const char* kInteractiveTopic = "bench.interactive";  // unused; the worker needs a list
constexpr const char* kResultsTopic = "bench.results";
constexpr const char* kDlqTopic = "bench.dlq";

struct Options {
  std::string binary;
  std::string pg_server = "postgresql://postgres@127.0.0.1:55432/postgres";
  std::filesystem::path work_dir = std::filesystem::temp_directory_path() / "switchyard-bench";
  std::string scenarios = "1,2,3,4";
  long long events = 100'000;
  int partitions = 32;
  int rate = 5'000;
  int seconds = 20;
  long long inflight_events = 20'000;
  int hold_ms = 2'000;
  int max_in_flight = 12'000;
  int bare_concurrency = 256;
  int sim_threads = 1;
  int io_threads = 1;
  // scenario 5
  long long mixed_events = 10'000;
  int interactive_rate = 20;
  int interactive_seconds = 20;
  int mixed_latency_ms = 50;
  int mixed_jitter_ms = 20;
  std::string catalog;
  // scenario 6
  std::string trace;         // JSONL trace (sched/trace.h)
  std::string trace_config;  // the simulate config whose deployments and routing the worker uses
  std::string trace_policies = "planner";
};

double seconds_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::int64_t wall_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------- Postgres

std::string fresh_database(const Options& o, const std::string& name) {
  return sy::testing::recreate_database(o.pg_server, name);
}

// ---------------------------------------------------------------- Kafka

std::string request_json(long long i) {
  std::string id = "bench-" + std::to_string(i);
  return R"({"request_id":")" + id + R"(","team":")" + (i % 3 == 0 ? "ads" : "search") +
         R"(","messages":[{"role":"user","content":"summarise item )" + std::to_string(i) + R"("}]})";
}

class Producer {
 public:
  explicit Producer(const std::string& bootstrap) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "2", err, sizeof err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) throw std::runtime_error(std::string("producer: ") + err);
  }
  ~Producer() {
    rd_kafka_flush(rk_, 60'000);
    rd_kafka_destroy(rk_);
  }
  void produce(long long i) {
    std::string key = "bench-" + std::to_string(i);
    std::string value = request_json(i);
    for (;;) {
      auto e = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(kRequestTopic), RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(value.data(), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 10);
        continue;
      }
      if (e) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(e));
      return;
    }
  }
  void produce_to(const char* topic, const std::string& key, const std::string& value) {
    for (;;) {
      auto e = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 10);
        continue;
      }
      if (e) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(e));
      return;
    }
  }
  void poll() { rd_kafka_poll(rk_, 0); }
  void flush() { rd_kafka_flush(rk_, 60'000); }

 private:
  rd_kafka_t* rk_ = nullptr;
};

// Sum of high watermarks of a topic: how many records it holds (nothing is compacted here).
class WatermarkReader {
 public:
  WatermarkReader(const std::string& bootstrap, std::string topic, int partitions)
      : topic_(std::move(topic)), partitions_(partitions) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  }
  ~WatermarkReader() { rd_kafka_destroy(rk_); }
  long long records() {
    long long total = 0;
    for (int p = 0; p < partitions_; ++p) {
      int64_t lo = 0, hi = 0;
      if (rd_kafka_query_watermark_offsets(rk_, topic_.c_str(), p, &lo, &hi, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        total += hi;
    }
    return total;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  std::string topic_;
  int partitions_;
};

// ---------------------------------------------------------------- the worker process

struct WorkerStatsFile {
  bool read = false;
  long long consumed = 0, completed = 0, provider_calls = 0, provider_retries = 0, results_ok = 0,
            results_error = 0, pauses = 0, peak_rss_kb = 0, waits = 0;
  struct Hist {
    long long count = 0, p50_us = 0, p99_us = 0, max_us = 0;
  } dispatch, result, end_to_end;
};

WorkerStatsFile read_stats(const std::filesystem::path& path) {
  WorkerStatsFile s;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return s;
  auto num = [&](const rapidjson::Value& obj, const char* name) -> long long {
    auto it = obj.FindMember(name);
    return it != obj.MemberEnd() && it->value.IsNumber() ? it->value.GetInt64() : 0;
  };
  auto hist = [&](const char* name) {
    WorkerStatsFile::Hist h;
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsObject()) return h;
    h.count = num(it->value, "count");
    h.p50_us = num(it->value, "p50_us");
    h.p99_us = num(it->value, "p99_us");
    h.max_us = num(it->value, "max_us");
    return h;
  };
  s.read = true;
  s.consumed = num(doc, "consumed");
  s.completed = num(doc, "completed");
  s.provider_calls = num(doc, "provider_calls");
  s.provider_retries = num(doc, "provider_retries");
  s.results_ok = num(doc, "results_ok");
  s.results_error = num(doc, "results_error");
  s.pauses = num(doc, "pauses");
  s.waits = num(doc, "waits");
  s.peak_rss_kb = num(doc, "peak_rss_kb");
  s.dispatch = hist("dispatch_overhead");
  s.result = hist("result_overhead");
  s.end_to_end = hist("end_to_end");
  return s;
}

long long proc_status_kb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::atoll(line.c_str() + prefix.size());
  }
  return 0;
}

// One scenario's world: broker, simulator, database, config, and the worker child process.
class Stage {
 public:
  // `fleet_yaml`, when given, replaces the default fleet (one economy deployment `mini-a` with
  // explicit prices, teams search/ads): it gets the simulator's port and returns top-level YAML
  // (deployments, teams and anything else such as pricing/tiers/routing).
  Stage(const Options& o, const std::string& name, sy::SimOptions sim_options, const std::string& worker_yaml,
        const std::string& http_yaml = "", std::function<std::string(std::uint16_t)> fleet_yaml = {})
      : options_(o), name_(name), dir_(o.work_dir / name) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    sy::MockBrokerOptions mb;
    mb.topics = {{kRequestTopic, o.partitions}, {kInteractiveTopic, 1}, {kResultsTopic, o.partitions}, {kDlqTopic, 1}};
    broker_ = std::make_unique<sy::MockBroker>(mb);
    sim_options.port = 0;
    sim_options.threads = o.sim_threads;
    sim_ = std::make_unique<sy::ProviderSimulator>(sim_options);
    sim_->start();
    db_url_ = fresh_database(o, "sy_bench_" + name);
    std::ofstream out(config_path());
    out << "kafka:\n"
        << "  bootstrap_servers: " << broker_->bootstrap_servers() << "\n"
        << "  group_id: switchyard-bench\n"
        << "  topics:\n    interactive: [" << kInteractiveTopic << "]\n    background: [" << kRequestTopic << "]\n"
        << "  results_topic: " << kResultsTopic << "\n  dlq_topic: " << kDlqTopic << "\n"
        << "postgres:\n  url: " << db_url_ << "\n"
        << "worker:\n  default_tier: economy\n  io_threads: " << o.io_threads << "\n" << worker_yaml << http_yaml;
    if (fleet_yaml) {
      out << fleet_yaml(sim_->port());
      return;
    }
    out << "deployments:\n"
        << "  - name: mini-a\n    api_base: http://127.0.0.1:" << sim_->port() << "/v1\n"
        << "    model: gpt-4o-mini\n    tier: economy\n"
        << "    input_cost_per_token: 0.00000015\n    output_cost_per_token: 0.0000006\n"
        << "teams:\n  - name: search\n  - name: ads\n";
  }
  ~Stage() {
    worker_.stop(SIGKILL);
    sim_->stop();
  }

  std::string config_path() const { return (dir_ / "config.yaml").string(); }
  std::filesystem::path stats_path() const { return dir_ / "stats.json"; }
  std::filesystem::path log_path() const { return dir_ / "worker.log"; }
  const std::string& bootstrap() const { return broker_->bootstrap_servers(); }
  sy::ProviderSimulator& sim() { return *sim_; }
  pid_t worker_pid() const { return worker_.pid(); }

  void publish_all(long long count) {
    Producer producer(bootstrap());
    for (long long i = 0; i < count; ++i) producer.produce(i);
    producer.flush();
  }

  void start_worker() {
    started_ms = wall_ms_now();
    started = SteadyClock::now();
    worker_.start(options_.binary, config_path(), log_path().string(),
                  {"--stats-file", stats_path().string(), "--log-level", "warn"});
  }

  bool worker_alive() { return worker_.alive(); }

  WorkerStatsFile stop_worker() {
    worker_.stop(SIGTERM);
    return read_stats(stats_path());
  }

  // Reconnects when the previous connection broke (the shared local Postgres may be restarted
  // by another user of the machine while a scenario runs).
  pqxx::connection& db() {
    if (db_ && !db_->is_open()) db_.reset();
    if (!db_) db_ = std::make_unique<pqxx::connection>(db_url_);
    return *db_;
  }
  long long rows() {
    pqxx::nontransaction tx(db());
    return tx.exec("SELECT count(*) FROM requests")[0][0].as<long long>();
  }
  // finished_at of the first and last row, epoch ms (the transaction start of their batches).
  std::pair<double, double> first_last_ms() {
    pqxx::nontransaction tx(db());
    auto r = tx.exec(
        "SELECT extract(epoch FROM min(finished_at)) * 1000, extract(epoch FROM max(finished_at)) * 1000 FROM requests");
    return {r[0][0].as<double>(0), r[0][1].as<double>(0)};
  }
  long long result_records() {
    if (!results_) results_ = std::make_unique<WatermarkReader>(bootstrap(), kResultsTopic, options_.partitions);
    return results_->records();
  }

  // Polls until Postgres has `n` rows and the results topic `n` records, or the worker dies, or
  // `limit` passes (a bound on a hung run, not a figure). Returns when both held, if they did.
  std::optional<SteadyClock::time_point> wait_for(long long n, std::chrono::seconds limit = 240s) {
    auto deadline = SteadyClock::now() + limit;
    while (SteadyClock::now() < deadline) {
      try {
        if (rows() >= n && result_records() >= n) return SteadyClock::now();
      } catch (const pqxx::failure& e) {
        std::fprintf(stderr, "  postgres connection lost while polling (%s); reconnecting\n", e.what());
        db_.reset();
      }
      if (!worker_alive()) {
        std::fprintf(stderr, "  worker exited early; see %s\n", log_path().c_str());
        return std::nullopt;
      }
      std::this_thread::sleep_for(50ms);
    }
    std::fprintf(stderr, "  gave up waiting after %llds: %lld rows, %lld results of %lld\n",
                 static_cast<long long>(limit.count()), rows(), result_records(), n);
    return std::nullopt;
  }

  std::int64_t started_ms = 0;
  SteadyClock::time_point started;

 private:
  const Options& options_;
  std::string name_;
  std::filesystem::path dir_;
  std::unique_ptr<sy::MockBroker> broker_;
  std::unique_ptr<sy::ProviderSimulator> sim_;
  std::string db_url_;
  std::unique_ptr<pqxx::connection> db_;
  std::unique_ptr<WatermarkReader> results_;
  sy::testing::WorkerProcess worker_;
};

// Established TCP connections whose local port is `port` (server side of the simulator's
// connections), from /proc/net/tcp. The worker's HTTP/1.1 pool uses one connection per request
// in flight, so this bounds its provider concurrency from above (idle keep-alive ones count too).
long long established_connections(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  long long n = 0;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // "  sl  local_address rem_address   st ..."; local is "0100007F:1F90", st "01" = ESTABLISHED.
    std::istringstream fields(line);
    std::string sl, local, remote, state;
    fields >> sl >> local >> remote >> state;
    if (state == "01" && local.size() > 5 && local.compare(local.size() - 5, 5, want) == 0) ++n;
  }
  return n;
}

// Samples, every `period`: the worker's resident memory, the simulator's open connections, and
// (when the simulator holds every request a fixed `hold`) the requests it is holding, which is
// exactly the requests received during the last `hold` (it counts a request when it arrives).
class Sampler {
 public:
  Sampler(Stage& stage, std::chrono::milliseconds period, std::chrono::milliseconds hold = 0ms) : stage_(stage) {
    thread_ = std::thread([this, period, hold] {
      std::deque<std::pair<SteadyClock::time_point, long long>> history;
      int tick = 0;
      while (!stop_.load()) {
        auto now = SteadyClock::now();
        long long received = static_cast<long long>(stage_.sim().stats().requests);
        long long rss = stage_.worker_pid() > 0 ? proc_status_kb(stage_.worker_pid(), "VmRSS") : 0;
        long long conns = tick++ % 2 == 0 ? established_connections(stage_.sim().port()) : -1;
        long long held = -1;
        if (hold > 0ms) {
          history.emplace_back(now, received);
          while (history.size() > 1 && history[1].first <= now - hold) history.pop_front();
          // history.front() is the last sample at or before now - hold (once there is one).
          if (history.front().first <= now - hold) held = received - history.front().second;
          else held = received;  // the first `hold` of the run: everything received is still held
        }
        peak_rss_kb = std::max(peak_rss_kb, rss);
        peak_held = std::max(peak_held, held);
        if (conns >= 0) {
          peak_connections = std::max(peak_connections, conns);
          if (conns > 0) {
            connection_sum += conns;
            ++connection_samples;
          }
        }
        std::this_thread::sleep_for(period);
      }
    });
  }
  ~Sampler() { stop(); }
  // Joins the sampling thread; the figures below are read after this.
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  double mean_connections() const {
    return connection_samples ? static_cast<double>(connection_sum) / connection_samples : 0;
  }
  long long peak_rss_kb = 0, peak_held = 0, peak_connections = 0, connection_sum = 0, connection_samples = 0;

 private:
  Stage& stage_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------- output

struct Figure {
  std::string name, target, measured, notes;
};
std::vector<Figure> g_figures;

std::string fmt(const char* format, double v) {
  char buf[512];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
std::string ms(long long us) { return fmt("%.3f ms", us / 1000.0); }

void add(std::string name, std::string target, std::string measured, std::string notes = "") {
  std::printf("  %-44s %-14s %s%s%s\n", name.c_str(), measured.c_str(), target.empty() ? "" : "(target ",
              target.c_str(), target.empty() ? "" : ")");
  g_figures.push_back({std::move(name), std::move(target), std::move(measured), std::move(notes)});
  std::fflush(stdout);
}

void print_worker_counters(const WorkerStatsFile& s) {
  std::printf("  worker counters: consumed %lld, completed %lld, provider_calls %lld, retries %lld, ok %lld, "
              "error %lld, pauses %lld\n",
              s.consumed, s.completed, s.provider_calls, s.provider_retries, s.results_ok, s.results_error, s.pauses);
}

// ---------------------------------------------------------------- scenarios

double g_worker_rps = 0;         // scenario 1, first row -> last row
double g_worker_rps_start = 0;   // scenario 1, worker start -> all done
double g_capped_rps = 0;         // scenario 1 with http.max_connections_per_host = --bare-concurrency
long long g_worker_connections = 0;  // scenario 1, peak connections the worker held to the simulator

// `max_connections` > 0 caps the worker's connections to the simulator (http.max_connections_per_host).
void scenario_throughput(const Options& o, int max_connections) {
  std::string tag = max_connections > 0 ? fmt(" [max_connections_per_host %.0f]", max_connections) : "";
  std::printf("\n[1] throughput: %lld events over %d partitions, simulator at zero latency, one worker%s\n", o.events,
              o.partitions, tag.c_str());
  sy::SimOptions sim;
  std::string http_yaml =
      max_connections > 0 ? "http:\n  max_connections_per_host: " + std::to_string(max_connections) + "\n" : "";
  Stage stage(o, max_connections > 0 ? "throughput_capped" : "throughput", sim, "", http_yaml);
  auto t0 = SteadyClock::now();
  stage.publish_all(o.events);
  std::printf("  pre-published in %.1f s\n", seconds_between(t0, SteadyClock::now()));
  Sampler sampler(stage, 50ms);
  stage.start_worker();
  auto done = stage.wait_for(o.events);
  sampler.stop();
  auto [first_ms, last_ms] = stage.first_last_ms();
  auto stats = stage.stop_worker();
  if (!done) return;
  double wall_s = seconds_between(stage.started, *done);
  double steady_s = (last_ms - first_ms) / 1000.0;
  double rps = steady_s > 0 ? o.events / steady_s : 0;
  if (max_connections > 0) {
    g_capped_rps = rps;
  } else {
    g_worker_rps_start = o.events / wall_s;
    g_worker_rps = rps;
    g_worker_connections = sampler.peak_connections;
  }
  auto name = [&](const char* base) { return std::string(base) + tag; };
  add(name("throughput, worker start -> all done"), ">= 10,000 req/s", fmt("%.0f req/s", o.events / wall_s),
      fmt("%.1f s incl. process start and consumer-group join; ", wall_s) + "done = N rows in Postgres and N records on the results topic (50 ms polling)");
  add(name("throughput, first row -> last row"), ">= 10,000 req/s", fmt("%.0f req/s", rps),
      fmt("%.1f s between finished_at of first and last stored batch", steady_s));
  add(name("dispatch overhead p50 / p99 (backlog)"), "", ms(stats.dispatch.p50_us) + " / " + ms(stats.dispatch.p99_us),
      "under a 100k backlog: includes queueing behind up to max_in_flight fetched events");
  add(name("result overhead p50 / p99 (backlog)"), "", ms(stats.result.p50_us) + " / " + ms(stats.result.p99_us), "");
  add(name("worker peak RSS (throughput run)"), "", fmt("%.0f MiB", stats.peak_rss_kb / 1024.0), "");
  add(name("worker connections to the simulator"), "",
      fmt("peak %.0f", static_cast<double>(sampler.peak_connections)) + fmt(", mean %.0f", sampler.mean_connections()),
      "ESTABLISHED sockets on the simulator port (/proc/net/tcp, every 100 ms): the worker's provider concurrency");
  print_worker_counters(stats);
}

void scenario_paced(const Options& o) {
  long long total = static_cast<long long>(o.rate) * o.seconds;
  std::printf("\n[2] dispatch overhead: %d events/s for %d s (%lld events), simulator at zero latency\n", o.rate,
              o.seconds, total);
  sy::SimOptions sim;
  Stage stage(o, "paced", sim, "");
  stage.start_worker();
  // Warm-up: the worker joins its group and opens connections before the paced part starts.
  constexpr long long kWarmup = 200;
  Producer producer(stage.bootstrap());
  for (long long i = 0; i < kWarmup; ++i) producer.produce(i);
  producer.flush();
  if (!stage.wait_for(kWarmup, 120s)) return;
  auto begin = SteadyClock::now();
  long long sent = 0;
  while (sent < total) {
    double elapsed = seconds_between(begin, SteadyClock::now());
    long long due = std::min(total, static_cast<long long>(elapsed * o.rate));
    for (; sent < due; ++sent) producer.produce(kWarmup + sent);
    producer.poll();
    std::this_thread::sleep_for(1ms);
  }
  producer.flush();
  double publish_s = seconds_between(begin, SteadyClock::now());
  auto done = stage.wait_for(kWarmup + total);
  auto stats = stage.stop_worker();
  if (!done) return;
  double achieved = total / publish_s;
  std::string note = fmt("publisher achieved %.0f ev/s; ", achieved) +
                     fmt("histograms include %.0f warm-up events", static_cast<double>(kWarmup));
  add(fmt("dispatch overhead p50 @ %.0f req/s", o.rate), "", ms(stats.dispatch.p50_us), "");
  add(fmt("dispatch overhead p99 @ %.0f req/s", o.rate), "<= 1 ms", ms(stats.dispatch.p99_us),
      note + "; max " + ms(stats.dispatch.max_us));
  add(fmt("result overhead p50 @ %.0f req/s", o.rate), "", ms(stats.result.p50_us), "");
  add(fmt("result overhead p99 @ %.0f req/s", o.rate), "<= 20 ms", ms(stats.result.p99_us),
      "max " + ms(stats.result.max_us));
  add(fmt("end to end (fetched -> offset finished) p99 @ %.0f req/s", o.rate), "", ms(stats.end_to_end.p99_us),
      "p50 " + ms(stats.end_to_end.p50_us));
  print_worker_counters(stats);
}

void scenario_in_flight(const Options& o) {
  std::printf("\n[3] in flight: %lld events, simulator holds each %d ms, worker max_in_flight %d\n", o.inflight_events,
              o.hold_ms, o.max_in_flight);
  sy::SimOptions sim;
  sim.latency_ms = o.hold_ms;
  int resume = std::max(0, o.max_in_flight - o.max_in_flight / 10);
  Stage stage(o, "inflight", sim,
              "  max_in_flight: " + std::to_string(o.max_in_flight) + "\n  resume_in_flight: " + std::to_string(resume) + "\n",
              // HTTP/1.1 holds one call per connection: the pool must allow every held call.
              "http:\n  max_connections_per_host: " + std::to_string(o.max_in_flight + 1000) + "\n");
  stage.publish_all(o.inflight_events);
  Sampler sampler(stage, 50ms, std::chrono::milliseconds(o.hold_ms));
  stage.start_worker();
  auto done = stage.wait_for(o.inflight_events);
  sampler.stop();
  auto stats = stage.stop_worker();
  if (!done) return;
  add("requests in flight at once (peak)", ">= 10,000", fmt("%.0f", static_cast<double>(sampler.peak_held)),
      fmt("requests the simulator received in the last %.0f ms (each is held exactly that long), every 50 ms; ",
          static_cast<double>(o.hold_ms)) +
          fmt("peak ESTABLISHED connections %.0f", static_cast<double>(sampler.peak_connections)));
  add("worker peak RSS (in-flight run)", "<= 512 MiB", fmt("%.0f MiB", stats.peak_rss_kb / 1024.0),
      fmt("ru_maxrss from the stats file; sampled VmRSS peak %.0f MiB", sampler.peak_rss_kb / 1024.0));
  print_worker_counters(stats);
}

// Keeps `concurrency` requests outstanding until `n` have completed; returns requests/s.
double bare_loop(const Options& o, int concurrency, long long& failures) {
  sy::SimOptions sim_options;
  sim_options.port = 0;
  sim_options.threads = o.sim_threads;
  sy::ProviderSimulator sim(sim_options);
  sim.start();
  // The same request body the worker sends for these events.
  sy::DeploymentConfig deployment;
  deployment.name = "mini-a";
  deployment.api_base = "http://127.0.0.1:" + std::to_string(sim.port()) + "/v1";
  deployment.model = "gpt-4o-mini";
  deployment.tier = "economy";
  auto decoded = sy::decode_request(request_json(1), 1 << 20);
  const sy::HttpRequest prototype = sy::build_openai_request(decoded.request, deployment, "");

  sy::IoPool io(o.io_threads);
  io.start();
  sy::HttpClientOptions http_options;
  http_options.max_connections_per_host = 16384;
  http_options.max_connecting_per_host = 16384;  // the provider's own ceiling, unramped
  auto client = sy::make_http_client(io, http_options);
  std::atomic<long long> issued{0}, finished{0}, failed{0};
  std::mutex mutex;
  std::condition_variable all_done;
  const long long n = o.events;
  std::function<void()> send_one = [&] {
    if (issued.fetch_add(1) >= n) return;
    client->send(prototype, [&](sy::HttpResponse response) {
      if (response.status != 200) failed.fetch_add(1);
      // Parse as the worker does, so the loop pays for reading the reply too.
      auto outcome = sy::parse_openai_response(response);
      (void)outcome;
      if (finished.fetch_add(1) + 1 == n) {
        std::lock_guard lock(mutex);
        all_done.notify_all();
        return;
      }
      send_one();  // send() never calls back inline, so this does not recurse
    });
  };
  auto begin = SteadyClock::now();
  for (int i = 0; i < concurrency; ++i) send_one();
  {
    std::unique_lock lock(mutex);
    all_done.wait_for(lock, 240s, [&] { return finished.load() >= n; });
  }
  double s = seconds_between(begin, SteadyClock::now());
  long long got = finished.load();
  io.stop();
  client.reset();
  sim.stop();
  failures = failed.load();
  return got / s;
}

void scenario_bare(const Options& o) {
  // The worker's own concurrency (peak connections it held in [1]) and the fixed --bare-concurrency.
  // The loop and its simulator share this process, so each connection costs two descriptors.
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  long long fd_cap = (static_cast<long long>(lim.rlim_cur) - 1024) / 2;
  long long worker_level = std::min(g_worker_connections, fd_cap);
  std::vector<int> levels = {o.bare_concurrency};
  if (worker_level > 0 && worker_level != o.bare_concurrency)
    levels.insert(levels.begin(), static_cast<int>(worker_level));
  for (int concurrency : levels) {
    std::printf("\n[4] bare HTTP client loop: %lld requests, %d outstanding, simulator at zero latency\n", o.events,
                concurrency);
    long long failures = 0;
    double rps = bare_loop(o, concurrency, failures);
    bool same = concurrency == worker_level;
    add(fmt("bare HTTP client loop, %.0f outstanding", concurrency), "", fmt("%.0f req/s", rps),
        std::string(same ? (worker_level < g_worker_connections
                                ? fmt("the worker's peak connections in [1] (%.0f) capped by this process's descriptor limit; ",
                                      static_cast<double>(g_worker_connections))
                                : std::string("the worker's peak connection count in [1]; "))
                         : "") +
            fmt("%.0f failed; one io thread as the worker, same simulator settings as [1]", static_cast<double>(failures)));
    if (g_worker_rps > 0 && rps > 0) {
      add(fmt("pipeline efficiency vs bare loop @ %.0f", concurrency), ">= 0.5", fmt("%.2f", g_worker_rps / rps),
          fmt("worker (default config) first->last row %.0f req/s; ", g_worker_rps) +
              fmt("with process start and group join: %.2f", g_worker_rps_start / rps));
    }
    if (g_capped_rps > 0 && rps > 0 && concurrency == o.bare_concurrency) {
      add(fmt("pipeline efficiency, worker capped at %.0f connections", concurrency), ">= 0.5",
          fmt("%.2f", g_capped_rps / rps),
          fmt("worker with http.max_connections_per_host %.0f, ", concurrency) +
              fmt("first->last row %.0f req/s: same concurrency as this loop", g_capped_rps));
    }
  }
}

// ---------------------------------------------------------------- scenario 5: mixed workload

// Three tiers priced from the LiteLLM catalog (no prices in the config), all served by the one
// simulator. The rpm are 5x the ones in the issue (600/300 for economy) so that a 10,000-event
// flood needs a bit more than one 60 s window of economy capacity (7,000 economy events against
// 80% of 4,500 rpm) while workhorse (2,000 code events against 80% of 3,000) keeps some headroom
// to escalate into: the scheduler has to wait, escalate for deadlines and keep the interactive
// reserve, and the run still ends in about 70 s.
struct MixedDeployment {
  const char* name;
  const char* model;
  const char* tier;
  int rpm;
};
constexpr MixedDeployment kMixedFleet[] = {
    {"eco-gpt41mini", "gpt-4.1-mini", "economy", 3000},
    {"eco-gpt4omini", "gpt-4o-mini", "economy", 1500},
    {"wh-sonnet4", "claude-sonnet-4-20250514", "workhorse", 3000},
    {"fr-opus4", "claude-opus-4-20250514", "frontier", 1200},
};
constexpr const char* kWorkhorseModel = "claude-sonnet-4-20250514";  // the counterfactual's price
constexpr const char* kMixedInteractiveTopic = kInteractiveTopic;

std::string default_catalog() {
#ifdef SWITCHYARD_SOURCE_DIR
  std::filesystem::path p =
      std::filesystem::path(SWITCHYARD_SOURCE_DIR) / "data" / "litellm-prices" /
      "model_prices_and_context_window.json";
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(p, ec);
  return (ec ? p : canonical).string();
#else
  return "";
#endif
}

std::string filler(int words, long long seed) {
  static const char* kWords[] = {"the",   "order", "arrived", "late",    "and",     "customer", "asked",  "for",
                                 "refund", "our",  "service", "quality", "invoice", "shipping", "account", "report"};
  std::string s;
  for (int w = 0; w < words; ++w) {
    if (w) s += ' ';
    s += kWords[static_cast<std::size_t>((seed * 31 + w * 7) % 16)];
  }
  return s;
}

struct MixedTask {
  const char* task_type;
  const char* prompt;
  int words;
  int max_tokens;
};
// Flood mix by i % 20: 7 classification, 4 extraction, 3 summarization (no task_type mapping: the
// classifier decides), 4 code, 2 reasoning.
const MixedTask& flood_task(long long i) {
  static const MixedTask kTasks[] = {
      {"classification", "Classify the sentiment of this review as positive, negative or neutral: ", 40, 5},
      {"extraction", "Extract the order number, date and amount as JSON from: ", 150, 100},
      {"summarization", "Summarise this support thread in three sentences: ", 350, 200},
      {"code", "Write a Python function that parses this log format:\n```python\ndef parse(line):\n    pass\n```\n", 200, 400},
      {"reasoning", "Think step by step and prove which refund policy minimises cost given: ", 150, 600},
  };
  int k = static_cast<int>(i % 20);
  return kTasks[k < 7 ? 0 : k < 11 ? 1 : k < 14 ? 2 : k < 18 ? 3 : 4];
}
// Interactive mix: classification, extraction, code, summarization in turn.
const MixedTask& interactive_task(long long i) {
  static const long long kSlots[] = {0, 7, 14, 11};
  return flood_task(kSlots[i % 4]);
}

std::string json_escape_simple(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

std::string mixed_event(const std::string& id, const std::string& team, const MixedTask& t, long long seed,
                        std::optional<std::int64_t> deadline_ms) {
  std::string json = R"({"request_id":")" + id + R"(","team":")" + team + R"(","model":"auto","task_type":")" +
                     t.task_type + R"(","max_tokens":)" + std::to_string(t.max_tokens) +
                     R"(,"messages":[{"role":"user","content":")" + json_escape_simple(t.prompt + filler(t.words, seed)) +
                     R"("}])";
  if (deadline_ms) {
    std::time_t secs = static_cast<std::time_t>(*deadline_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(*deadline_ms % 1000));
    json += R"(,"deadline":")" + std::string(buf) + "\"";
  }
  return json + "}";
}

// Runs switchyard_policy_bench (next to this binary) briefly and adds ns per decision.
void policy_bench_figures() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  auto bin = self.parent_path() / "switchyard_policy_bench";
  if (ec || !std::filesystem::exists(bin)) {
    add("scheduler decision cost", "", "not measured", "switchyard_policy_bench not built next to this binary");
    return;
  }
  std::string cmd = bin.string() + " --benchmark_min_time=0.2 --benchmark_format=csv 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return;
  char line[1024];
  while (std::fgets(line, sizeof line, pipe)) {
    // "BM_Name",iterations,real_time,cpu_time,time_unit,...
    if (line[0] != '"') continue;
    std::string l(line);
    auto close = l.find('"', 1);
    if (close == std::string::npos) continue;
    std::string name = l.substr(1, close - 1);
    std::vector<std::string> cols;
    std::stringstream rest(l.substr(close + 2));
    std::string c;
    while (std::getline(rest, c, ',')) cols.push_back(c);
    if (cols.size() < 4) continue;
    add("scheduler decision: " + name, "", fmt("%.0f ", std::atof(cols[2].c_str())) + cols[3],
        "switchyard_policy_bench (Google Benchmark, 8 candidates), cpu time per iteration, --benchmark_min_time=0.2");
  }
  pclose(pipe);
}

void scenario_mixed(const Options& o) {
  const long long flood = o.mixed_events;
  const long long interactive = static_cast<long long>(o.interactive_rate) * o.interactive_seconds;
  std::printf("\n[5] mixed workload: %lld background events (model auto, mixed task types, 30%% of each with deadlines "
              "5-60 s out), then %d interactive ev/s for %d s; simulator %d ms + exp(%d ms); catalog %s\n",
              flood, o.interactive_rate, o.interactive_seconds, o.mixed_latency_ms, o.mixed_jitter_ms,
              o.catalog.c_str());
  std::vector<std::string> problems;
  auto catalog = sy::PricingCatalog::load_file(o.catalog, problems);
  const sy::ModelPrice* workhorse = catalog.find(kWorkhorseModel);
  if (!workhorse) {
    add("mixed workload", "", "not run", "catalog " + o.catalog + " has no " + kWorkhorseModel);
    return;
  }
  sy::SimOptions sim;
  sim.latency_ms = o.mixed_latency_ms;
  sim.latency_jitter_ms = o.mixed_jitter_ms;
  sim.output_tokens = 1000;  // every event sets max_tokens; the reply is that long
  // The x-ratelimit headers feed the worker's limiter: keep the simulator's (shared by all four
  // deployments) out of the way so the configured rpm are what limits.
  sim.requests_per_minute = 100'000'000;
  sim.tokens_per_minute = 10'000'000'000ULL;
  auto fleet = [&](std::uint16_t port) {
    std::string y = "pricing:\n  catalog_file: " + o.catalog + "\n" + "tiers: [economy, workhorse, frontier]\n" +
                    "routing:\n  task_type_tiers: {classification: economy, extraction: economy, code: workhorse, "
                    "reasoning: frontier}\n" +
                    "deployments:\n";
    for (const auto& d : kMixedFleet) {
      y += std::string("  - name: ") + d.name + "\n    api_base: http://127.0.0.1:" + std::to_string(port) +
           "/v1\n    model: " + d.model + "\n    tier: " + d.tier + "\n    rpm: " + std::to_string(d.rpm) + "\n";
    }
    return y + "teams:\n  - name: search\n  - name: ads\n";
  };
  Stage stage(o, "mixed", sim, "", "", fleet);

  // The flood, published before the worker starts.
  std::vector<std::pair<std::string, std::int64_t>> deadlines;
  {
    Producer producer(stage.bootstrap());
    std::int64_t base = wall_ms_now();
    for (long long i = 0; i < flood; ++i) {
      std::string id = "mix-bg-" + std::to_string(i);
      std::optional<std::int64_t> deadline;
      if ((i / 20) % 10 < 3) deadline = base + 5'000 + (i * 7919 % 56) * 1'000;  // 5..60 s after publishing
      if (deadline) deadlines.emplace_back(id, *deadline);
      producer.produce_to(kRequestTopic, id, mixed_event(id, i % 3 == 0 ? "ads" : "search", flood_task(i), i, deadline));
    }
    producer.flush();
  }
  {
    // The deadlines, for "finished after its deadline" (requests has no deadline column).
    pqxx::work tx(stage.db());
    tx.exec("CREATE TABLE bench_deadlines (request_id text PRIMARY KEY, deadline timestamptz NOT NULL)");
    for (std::size_t at = 0; at < deadlines.size(); at += 1000) {
      std::string sql = "INSERT INTO bench_deadlines VALUES ";
      for (std::size_t k = at; k < std::min(deadlines.size(), at + 1000); ++k)
        sql += (k == at ? "" : ",") + std::string("('") + deadlines[k].first + "', to_timestamp(" +
               std::to_string(deadlines[k].second) + " / 1000.0))";
      tx.exec(sql);
    }
    tx.commit();
  }

  stage.start_worker();
  // The trickle starts once the flood is being served (first row in Postgres).
  auto serving_by = SteadyClock::now() + 60s;
  auto rows_or_zero = [&] {
    try {
      return stage.rows();
    } catch (const pqxx::failure&) {
      return 0LL;
    }
  };
  while (rows_or_zero() == 0 && SteadyClock::now() < serving_by && stage.worker_alive()) std::this_thread::sleep_for(20ms);
  double first_row_s = seconds_between(stage.started, SteadyClock::now());
  long long rows_at_trickle = rows_or_zero();
  {
    Producer producer(stage.bootstrap());
    auto begin = SteadyClock::now();
    long long sent = 0;
    while (sent < interactive) {
      long long due = std::min(interactive, static_cast<long long>(seconds_between(begin, SteadyClock::now()) *
                                                                   o.interactive_rate));
      for (; sent < due; ++sent) {
        std::string id = "mix-ia-" + std::to_string(sent);
        producer.produce_to(kMixedInteractiveTopic, id, mixed_event(id, "search", interactive_task(sent), sent, {}));
      }
      producer.poll();
      std::this_thread::sleep_for(5ms);
    }
    producer.flush();
  }
  long long rows_after_trickle = rows_or_zero();
  auto done = stage.wait_for(flood + interactive, 300s);
  double done_s = done ? seconds_between(stage.started, *done) : 0;
  auto stats = stage.stop_worker();
  std::printf("  first row %.1f s after worker start; %lld rows when the trickle started, %lld when it ended; "
              "all done %.1f s after start\n",
              first_row_s, rows_at_trickle, rows_after_trickle, done_s);
  if (!done) return;

  pqxx::nontransaction tx(stage.db());
  std::string wh_in = sy::format_usd(workhorse->input_per_token), wh_out = sy::format_usd(workhorse->output_per_token);
  auto money = tx.exec(
      "SELECT (SELECT coalesce(sum(cost_usd), 0) FROM cost_ledger)::text, "
      "(SELECT coalesce(sum(cost_usd), 0) FROM requests)::text, "
      "(coalesce(sum(input_tokens), 0) * " + wh_in + "::numeric + coalesce(sum(output_tokens), 0) * " + wh_out +
      "::numeric)::text, coalesce(sum(cached_input_tokens), 0), coalesce(sum(input_tokens), 0), "
      "coalesce(sum(output_tokens), 0) FROM requests");
  double ledger = std::atof(money[0][0].c_str()), on_workhorse = std::atof(money[0][2].c_str());
  add("mixed: total cost (sum of cost_ledger)", "", "$" + money[0][0].as<std::string>(),
      fmt("%.0f requests; ", static_cast<double>(flood + interactive)) + "requests.cost_usd sums to $" +
          money[0][1].as<std::string>() + fmt("; %.0f input / ", money[0][4].as<double>()) +
          fmt("%.0f output tokens", money[0][5].as<double>()));
  add("mixed: same requests on the workhorse tier", "", "$" + money[0][2].as<std::string>(),
      std::string("sum(input_tokens) x ") + wh_in + " + sum(output_tokens) x " + wh_out + " (" + kWorkhorseModel +
          ", catalog prices via PricingCatalog); " + fmt("cached input tokens %.0f; ", money[0][3].as<double>()) +
          "requests that ended without a provider call (e.g. deadline_exceeded) have no tokens and count 0 on both sides");
  if (on_workhorse > 0)
    add("mixed: savings vs all-workhorse", "", fmt("%.1f%%", 100.0 * (1.0 - ledger / on_workhorse)),
        fmt("cost ratio %.3f (actual / all-workhorse)", ledger / on_workhorse));

  double economy_cost = 0, economy_on_workhorse = 0;
  for (const auto& row : tx.exec("SELECT coalesce(tier, '(none)'), count(*), "
                                 "count(*) FILTER (WHERE priority_class = 'interactive'), "
                                 "coalesce(sum(cost_usd), 0)::text, "
                                 "count(*) FILTER (WHERE route_reason LIKE '%escalat%'), "
                                 "string_agg(DISTINCT deployment, ','), "
                                 "(coalesce(sum(input_tokens), 0) * " + wh_in + "::numeric + coalesce(sum(output_tokens), 0) * " +
                                 wh_out + "::numeric)::text "
                                 "FROM requests GROUP BY 1 ORDER BY min(array_position("
                                 "ARRAY['economy','workhorse','frontier'], tier)) NULLS LAST")) {
    double cost = std::atof(row[3].c_str());
    if (row[0].as<std::string>() == "economy") {
      economy_cost = cost;
      economy_on_workhorse = std::atof(row[6].c_str());
    }
    add("mixed: tier " + row[0].as<std::string>(), "",
        fmt("%.0f requests, ", row[1].as<double>()) + "$" + row[3].as<std::string>(),
        fmt("%.0f interactive; ", row[2].as<double>()) + fmt("%.0f escalated for a deadline; ", row[4].as<double>()) +
            fmt("%.1f%% of the cost; ", ledger > 0 ? 100.0 * cost / ledger : 0) + "on workhorse: $" +
            row[6].as<std::string>() + "; deployments " +
            (row[5].is_null() ? std::string("-") : row[5].as<std::string>()));
  }
  if (economy_on_workhorse > 0)
    add("mixed: savings on the economy-routed requests", "", fmt("%.1f%%", 100.0 * (1.0 - economy_cost / economy_on_workhorse)),
        fmt("$%.4f actual vs ", economy_cost) + fmt("$%.4f on workhorse", economy_on_workhorse));
  for (const auto& row : tx.exec("SELECT deployment, count(*), coalesce(sum(cost_usd),0)::text FROM requests "
                                 "WHERE deployment IS NOT NULL GROUP BY 1 ORDER BY 1"))
    std::printf("  deployment %-16s %6lld requests  $%s\n", row[0].c_str(), row[1].as<long long>(), row[2].c_str());

  auto pct = [&](const std::string& expr, const std::string& where) {
    auto r = tx.exec("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY " + expr + "), percentile_disc(0.99) "
                     "WITHIN GROUP (ORDER BY " + expr + "), max(" + expr + "), count(*) FROM requests WHERE " + where);
    return std::array<long long, 4>{r[0][0].as<long long>(0), r[0][1].as<long long>(0), r[0][2].as<long long>(0),
                                    r[0][3].as<long long>(0)};
  };
  auto ia_wait = pct("total_ms - provider_ms", "priority_class = 'interactive'");
  auto ia_queued = pct("queued_ms", "priority_class = 'interactive'");
  auto ia_total = pct("total_ms", "priority_class = 'interactive'");
  add("mixed: interactive wait p50 / p99 under the flood", "",
      fmt("%.0f ms / ", static_cast<double>(ia_wait[0])) + fmt("%.0f ms", static_cast<double>(ia_wait[1])),
      fmt("total_ms - provider_ms of the %.0f interactive results ", static_cast<double>(ia_wait[3])) +
          "(produce -> result ready, minus the provider call: Kafka, dedupe lookup, scheduler wait); " +
          fmt("max %.0f ms; ", static_cast<double>(ia_wait[2])) +
          fmt("timing.queued_ms (produce -> fetch only) p50 %.0f / ", static_cast<double>(ia_queued[0])) +
          fmt("p99 %.0f ms; ", static_cast<double>(ia_queued[1])) +
          fmt("total_ms p50 %.0f / ", static_cast<double>(ia_total[0])) +
          fmt("p99 %.0f ms", static_cast<double>(ia_total[1])));
  // The first 2 s of the trickle overlap the worker's first fetches of the 10k backlog.
  std::string settled = "priority_class = 'interactive' AND split_part(request_id, '-', 3)::bigint >= " +
                        std::to_string(2 * o.interactive_rate);
  auto ia_settled = pct("total_ms - provider_ms", settled);
  auto ia_settled_dispatch = pct("total_ms - provider_ms - queued_ms", settled);
  add("mixed: interactive wait p50 / p99, after the trickle's first 2 s", "",
      fmt("%.0f ms / ", static_cast<double>(ia_settled[0])) + fmt("%.0f ms", static_cast<double>(ia_settled[1])),
      fmt("%.0f interactive results; ", static_cast<double>(ia_settled[3])) +
          fmt("max %.0f ms; ", static_cast<double>(ia_settled[2])) +
          "fetch -> result ready minus provider call (total_ms - provider_ms - queued_ms): " +
          fmt("p50 %.0f / ", static_cast<double>(ia_settled_dispatch[0])) +
          fmt("p99 %.0f / ", static_cast<double>(ia_settled_dispatch[1])) +
          fmt("max %.0f ms", static_cast<double>(ia_settled_dispatch[2])));
  auto bg_wait = pct("total_ms - provider_ms", "priority_class = 'background' AND status = 'ok'");
  add("mixed: background wait p50 / p99", "",
      fmt("%.0f ms / ", static_cast<double>(bg_wait[0])) + fmt("%.0f ms", static_cast<double>(bg_wait[1])),
      "total_ms - provider_ms of answered background requests, from publish (before the worker started)");

  auto dl = tx.exec(
      "SELECT count(*), count(*) FILTER (WHERE r.error_code = 'deadline_exceeded'), "
      "count(*) FILTER (WHERE r.status = 'ok' AND r.finished_at > d.deadline), "
      "count(*) FILTER (WHERE r.route_reason LIKE '%escalat%') "
      "FROM bench_deadlines d JOIN requests r USING (request_id)");
  add("mixed: background deadline misses", "",
      fmt("%.0f deadline_exceeded, ", dl[0][1].as<double>()) + fmt("%.0f answered late", dl[0][2].as<double>()),
      fmt("of %.0f background requests with a deadline (5-60 s after publishing, worker started after); ",
          dl[0][0].as<double>()) +
          fmt("%.0f of them escalated; ", dl[0][3].as<double>()) +
          "late = finished_at (the batch's transaction start) after the deadline");
  std::string by_task;
  for (const auto& row : tx.exec(
           "SELECT CASE WHEN k < 7 THEN 'classification' WHEN k < 11 THEN 'extraction' WHEN k < 14 THEN "
           "'summarization' WHEN k < 18 THEN 'code' ELSE 'reasoning' END, count(*), "
           "count(*) FILTER (WHERE error_code = 'deadline_exceeded'), "
           "count(*) FILTER (WHERE route_reason LIKE '%escalat%') "
           "FROM (SELECT r.*, split_part(r.request_id, '-', 3)::bigint % 20 AS k FROM bench_deadlines d "
           "JOIN requests r USING (request_id)) t GROUP BY 1 ORDER BY min(k)"))
    by_task += std::string(by_task.empty() ? "" : ", ") + row[0].c_str() + " " + row[2].c_str() + "/" +
               row[1].c_str() + " exceeded, " + row[3].c_str() + " escalated";
  add("mixed: deadline outcome by task_type", "", "see notes", by_task);
  std::string errors;
  for (const auto& row : tx.exec("SELECT error_code, count(*) FROM requests WHERE status = 'error' GROUP BY 1 ORDER BY 1"))
    errors += std::string(errors.empty() ? "" : ", ") + row[0].c_str() + " " + row[1].c_str();
  auto late_bg = tx.exec("SELECT count(*) FROM requests WHERE priority_class = 'background' "
                         "AND total_ms - provider_ms - queued_ms >= 1000")[0][0].as<long long>();
  add("mixed: scheduler waits (stats 'waits')", "", fmt("%.0f", static_cast<double>(stats.waits)),
      "times a request was parked for lack of headroom (one request can park more than once); " +
          fmt("%.0f background requests spent >= 1 s between fetch and result; ", static_cast<double>(late_bg)) +
          "errors: " + (errors.empty() ? std::string("none") : errors));
  add("mixed: whole run", "", fmt("%.1f s", done_s),
      fmt("worker start -> all %.0f rows and results", static_cast<double>(flood + interactive)) +
          fmt("; first row after %.1f s", first_row_s));
  print_worker_counters(stats);
  policy_bench_figures();
}

// ---------------------------------------------------------------- scenario 6: a trace in real time

// The `switchyard simulate` scenario in real time: the trace's events published through the
// embedded broker at their arrival offsets (deadlines made absolute), one worker with the
// simulate config's deployments and routing, each deployment a provider simulator of its own that
// enforces the deployment's rpm per wall-clock minute (429 past it) and answers in about 800 ms.
// Scored like simulate: the cost of what the worker chose at the trace's token counts (so the
// figure is comparable with simulate's and the offline bound), the ledger's own cost, SLO and
// deadline misses and the deployment mix; simulate's figures for the same events beside it.
void scenario_trace(const Options& o, const std::string& policy) {
  std::printf("\n[6] trace in real time (%s): %s with %s\n", policy.c_str(), o.trace.c_str(),
              o.trace_config.c_str());
  sy::ConfigLoad load = sy::load_config_file(o.trace_config);
  if (!load.ok()) {
    add("trace: " + policy, "", "not run", o.trace_config + ": " + load.problems.front());
    return;
  }
  const sy::Config& sim_config = load.config;
  // Every event asks for exactly the trace's output tokens (max_tokens), so the provider
  // simulator answers that many and simulate replays the same events.
  std::vector<std::string> lines;
  std::vector<sy::TraceRecord> trace;
  {
    std::ifstream in(o.trace);
    std::string line, error;
    while (std::getline(in, line)) {
      sy::TraceRecord r;
      if (!sy::parse_trace_line(line, r, error)) {
        add("trace: " + policy, "", "not run", o.trace + ": " + error);
        return;
      }
      const auto at = line.find("\"event\":{");
      if (at == std::string::npos) continue;
      line.insert(at + 9, "\"max_tokens\":" + std::to_string(r.output_tokens) + ",");
      sy::parse_trace_line(line, r, error);
      lines.push_back(line);
      trace.push_back(std::move(r));
    }
  }
  std::vector<std::size_t> order(trace.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return trace[a].at_ms < trace[b].at_ms; });
  if (trace.empty()) {
    add("trace: " + policy, "", "not run", o.trace + " is empty");
    return;
  }

  // One simulator per deployment, enforcing its limits.
  std::vector<std::unique_ptr<sy::ProviderSimulator>> sims;
  for (const sy::DeploymentConfig& d : sim_config.deployments) {
    sy::SimOptions so;
    so.port = 0;
    so.latency_ms = 600;
    so.latency_jitter_ms = 200;  // exponential: mean 800 ms, as simulate's default
    so.output_tokens = 1'000'000;
    so.requests_per_minute = d.rpm > 0 ? static_cast<std::uint64_t>(d.rpm) : 100'000'000;
    so.tokens_per_minute = d.tpm > 0 ? static_cast<std::uint64_t>(d.tpm) : 10'000'000'000ULL;
    so.enforce_limits = true;
    so.seed = 7 + sims.size();
    sims.push_back(std::make_unique<sy::ProviderSimulator>(so));
    sims.back()->start();
  }
  auto fleet = [&](std::uint16_t) {
    const sy::RoutingConfig& r = sim_config.routing;
    std::string y = "tiers: [";
    for (std::size_t i = 0; i < sim_config.tiers.size(); ++i) y += (i ? ", " : "") + sim_config.tiers[i];
    y += "]\nrouting:\n  interactive_reserve: " + std::to_string(r.interactive_reserve) +
         "\n  interactive_strategy: " + r.interactive_strategy +
         "\n  interactive_reserve_scope: " + r.interactive_reserve_scope +
         "\n  background_planner: " + (policy == "planner" ? "true" : "false") + "\n";
    if (r.interactive_latency_target_ms)
      y += "  interactive_latency_target_ms: " + std::to_string(*r.interactive_latency_target_ms) + "\n";
    y += "deployments:\n";
    for (std::size_t i = 0; i < sim_config.deployments.size(); ++i) {
      const sy::DeploymentConfig& d = sim_config.deployments[i];
      y += "  - name: " + d.name + "\n    api_base: http://127.0.0.1:" + std::to_string(sims[i]->port()) +
           "/v1\n    model: " + d.model + "\n    tier: " + d.tier + "\n    rpm: " + std::to_string(d.rpm) +
           "\n    tpm: " + std::to_string(d.tpm) + "\n    input_cost_per_token: " +
           sy::format_usd(d.input_cost_per_token) + "\n    output_cost_per_token: " +
           sy::format_usd(d.output_cost_per_token) + "\n";
      if (d.latency_target_ms) y += "    latency_target_ms: " + std::to_string(*d.latency_target_ms) + "\n";
    }
    y += "teams:\n";
    for (const sy::TeamConfig& t : sim_config.teams) y += "  - name: " + t.name + "\n";
    return y;
  };
  sy::SimOptions unused;
  Stage stage(o, "trace_" + policy, unused, "", "", fleet);
  stage.start_worker();
  // Published at their offsets from now; deadlines absolute from the same start.
  const std::int64_t start_ms = wall_ms_now() + 2'000;
  std::map<std::string, std::int64_t> deadline_of;  // request id -> unix ms
  std::map<std::string, std::size_t> index_of;
  {
    Producer producer(stage.bootstrap());
    for (std::size_t k : order) {
      const sy::TraceRecord& r = trace[k];
      const std::int64_t at = start_ms + r.at_ms;
      while (wall_ms_now() < at) {
        producer.poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::int64_t>(5, at - wall_ms_now())));
      }
      std::string event = lines[k].substr(lines[k].find("\"event\":{") + 8);
      event.pop_back();  // the trace line's closing brace
      if (r.priority == sy::PriorityClass::kBackground && r.deadline_ms) {
        const std::int64_t deadline = at + *r.deadline_ms;
        deadline_of[r.request.request_id] = deadline;
        std::time_t secs = static_cast<std::time_t>(deadline / 1000);
        std::tm tm{};
        gmtime_r(&secs, &tm);
        char buf[64];
        std::snprintf(buf, sizeof buf, "\"deadline\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(deadline % 1000));
        event.insert(1, buf);
      }
      index_of[r.request.request_id] = k;
      producer.produce_to(r.priority == sy::PriorityClass::kInteractive ? kInteractiveTopic : kRequestTopic,
                          r.request.request_id, event);
    }
    producer.flush();
  }
  const long long n = static_cast<long long>(trace.size());
  auto done = stage.wait_for(n, 600s);
  auto stats = stage.stop_worker();
  std::uint64_t rate_limited = 0;
  for (auto& sim : sims) {
    rate_limited += sim->stats().rate_limited;
    sim->stop();
  }
  if (!done) return;

  // Scored at the trace's token counts (as simulate and the bound count them).
  pqxx::nontransaction tx(stage.db());
  sy::Picodollars comparable = 0;
  long long slo_misses = 0, deadline_misses = 0, failed = 0;
  std::map<std::string, std::pair<long long, long long>> mix;  // deployment -> calls, interactive
  for (const auto& row : tx.exec("SELECT request_id, coalesce(deployment, ''), status, priority_class, total_ms, "
                                 "extract(epoch FROM finished_at) * 1000 FROM requests")) {
    auto it = index_of.find(row[0].as<std::string>());
    if (it == index_of.end()) continue;
    const sy::TraceRecord& r = trace[it->second];
    const bool ok = row[2].as<std::string>() == "ok";
    const bool interactive = r.priority == sy::PriorityClass::kInteractive;
    if (!ok) ++failed;
    if (interactive && (!ok || row[4].as<long long>(0) > 5'000)) ++slo_misses;
    if (!interactive) {
      auto d = deadline_of.find(r.request.request_id);
      if (d != deadline_of.end() && (!ok || row[5].as<double>(0) > static_cast<double>(d->second))) ++deadline_misses;
    }
    const std::string dep = row[1].as<std::string>();
    for (const sy::DeploymentConfig& d : sim_config.deployments) {
      if (d.name != dep || !ok) continue;
      comparable += sy::cost_of(d, sy::estimate_input_tokens(r.request), r.output_tokens);
      ++mix[dep].first;
      if (interactive) ++mix[dep].second;
    }
  }
  const std::string ledger = tx.exec("SELECT coalesce(sum(cost_usd), 0)::text FROM cost_ledger")[0][0].as<std::string>();

  // simulate on the same events, same config and policy.
  sy::Config replay_config = sim_config;
  replay_config.routing.background_planner = policy == "planner";
  sy::ReplayOptions ro;
  ro.seed = 7;
  ro.planner = policy == "planner";
  std::vector<sy::TraceRecord> sorted;
  for (std::size_t k : order) sorted.push_back(trace[k]);
  const sy::ReplayReport sim = sy::replay(replay_config, sorted, ro);
  const double bound = sim.bound ? static_cast<double>(*sim.bound) : 0;
  auto usd = [](double picodollars) { return fmt("$%.6f", picodollars / 1e12); };
  std::string deployments;
  for (const auto& [name, calls] : mix)
    deployments += (deployments.empty() ? "" : ", ") + name + " " + std::to_string(calls.first) + " (" +
                   std::to_string(calls.second) + " interactive)";
  add("trace (" + policy + "): cost / offline bound", "<= 1.05x",
      fmt("%.3fx", bound > 0 ? static_cast<double>(comparable) / bound : 0),
      "cost " + usd(static_cast<double>(comparable)) + " at the trace's token counts (ledger: $" + ledger +
          ", provider-counted tokens); bound " + usd(bound) + "; " + deployments);
  add("trace (" + policy + "): simulate on the same events", "",
      fmt("%.3fx", bound > 0 ? static_cast<double>(sim.cost) / bound : 0),
      "cost " + usd(static_cast<double>(sim.cost)) + fmt("; real time / simulate %.3f", sim.cost > 0 ? static_cast<double>(comparable) / static_cast<double>(sim.cost) : 0) +
          fmt("; simulate: %.0f SLO misses, ", static_cast<double>(sim.interactive_slo_misses)) +
          fmt("%.0f deadline misses", static_cast<double>(sim.deadline_misses)));
  add("trace (" + policy + "): misses", "0 / 0",
      fmt("%.0f SLO / ", static_cast<double>(slo_misses)) + fmt("%.0f deadline", static_cast<double>(deadline_misses)),
      fmt("%.0f requests, ", static_cast<double>(n)) + fmt("%.0f not ok; ", static_cast<double>(failed)) +
          fmt("interactive SLO 5 s (total_ms); 429s from the simulators %.0f", static_cast<double>(rate_limited)));
  print_worker_counters(stats);
}

std::string default_binary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (auto candidate : {self.parent_path().parent_path() / "switchyard", self.parent_path() / "switchyard"}) {
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return "switchyard";
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  sy::Flags flags(args,
                  {"switchyard", "pg", "work-dir", "scenarios", "events", "partitions", "rate", "seconds",
                   "inflight-events", "hold-ms", "max-in-flight", "bare-concurrency", "sim-threads", "io-threads",
                   "markdown", "mixed-events", "interactive-rate", "interactive-seconds", "mixed-latency-ms",
                   "mixed-jitter-ms", "catalog", "trace", "trace-config", "trace-policies"},
                  {"help"});
  Options o;
  o.binary = flags.get("switchyard", default_binary());
  o.pg_server = flags.get("pg", o.pg_server);
  if (flags.has("work-dir")) o.work_dir = flags.get("work-dir");
  o.scenarios = flags.get("scenarios", o.scenarios);
  o.events = flags.get_int("events", o.events);
  o.partitions = static_cast<int>(flags.get_int("partitions", o.partitions));
  o.rate = static_cast<int>(flags.get_int("rate", o.rate));
  o.seconds = static_cast<int>(flags.get_int("seconds", o.seconds));
  o.inflight_events = flags.get_int("inflight-events", o.inflight_events);
  o.hold_ms = static_cast<int>(flags.get_int("hold-ms", o.hold_ms));
  o.max_in_flight = static_cast<int>(flags.get_int("max-in-flight", o.max_in_flight));
  o.bare_concurrency = static_cast<int>(flags.get_int("bare-concurrency", o.bare_concurrency));
  o.sim_threads = static_cast<int>(flags.get_int("sim-threads", o.sim_threads));
  o.io_threads = static_cast<int>(flags.get_int("io-threads", o.io_threads));
  o.mixed_events = flags.get_int("mixed-events", o.mixed_events);
  o.interactive_rate = static_cast<int>(flags.get_int("interactive-rate", o.interactive_rate));
  o.interactive_seconds = static_cast<int>(flags.get_int("interactive-seconds", o.interactive_seconds));
  o.mixed_latency_ms = static_cast<int>(flags.get_int("mixed-latency-ms", o.mixed_latency_ms));
  o.mixed_jitter_ms = static_cast<int>(flags.get_int("mixed-jitter-ms", o.mixed_jitter_ms));
  o.catalog = flags.get("catalog", default_catalog());
  o.trace = flags.get("trace", std::string(SWITCHYARD_SOURCE_DIR) + "/bench/simulate/traces/short.jsonl");
  o.trace_config = flags.get("trace-config", std::string(SWITCHYARD_SOURCE_DIR) + "/bench/simulate/config.yaml");
  o.trace_policies = flags.get("trace-policies", o.trace_policies);
  if (!flags.ok() || flags.has("help")) {
    for (const auto& e : flags.errors()) std::fprintf(stderr, "error: %s\n", e.c_str());
    std::fprintf(stderr,
                 "usage: switchyard_e2e_bench [--switchyard PATH] [--pg SERVER_URL] [--scenarios 1,2,3,4]\n"
                 "  [--events N=100000] [--partitions 32] [--rate 5000] [--seconds 20] [--inflight-events 20000]\n"
                 "  [--hold-ms 2000] [--max-in-flight 12000] [--bare-concurrency 256] [--sim-threads 1]\n"
                 "  [--io-threads 1] [--work-dir DIR] [--markdown FILE]\n"
                 "  scenario 5 (opt-in, --scenarios 5): [--mixed-events 10000] [--interactive-rate 20]\n"
                 "  [--interactive-seconds 20] [--mixed-latency-ms 50] [--mixed-jitter-ms 20] [--catalog FILE]\n"
                 "  scenario 6 (opt-in, --scenarios 6): [--trace bench/simulate/traces/short.jsonl]\n"
                 "  [--trace-config bench/simulate/config.yaml] [--trace-policies planner,greedy]\n");
    return flags.has("help") ? 0 : 2;
  }
  raise_fd_limit();
  std::signal(SIGPIPE, SIG_IGN);
  std::printf("switchyard e2e bench: worker %s, postgres %s, %u cpus\n", o.binary.c_str(), o.pg_server.c_str(),
              std::thread::hardware_concurrency());
  auto wants = [&](char c) { return o.scenarios.find(c) != std::string::npos; };
  try {
    if (wants('1')) scenario_throughput(o, 0);
    if (wants('1') && o.bare_concurrency > 0) scenario_throughput(o, o.bare_concurrency);
    if (wants('2')) scenario_paced(o);
    if (wants('3')) scenario_in_flight(o);
    if (wants('4')) scenario_bare(o);
    if (wants('5')) scenario_mixed(o);
    if (wants('6')) {
      std::stringstream policies(o.trace_policies);
      std::string policy;
      while (std::getline(policies, policy, ',')) scenario_trace(o, policy);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench failed: %s\n", e.what());
    return 1;
  }
  if (flags.has("markdown")) {
    std::ofstream out(flags.get("markdown"));
    out << "| figure | target | measured | notes |\n|---|---|---|---|\n";
    for (const auto& f : g_figures)
      out << "| " << f.name << " | " << (f.target.empty() ? "-" : f.target) << " | " << f.measured << " | " << f.notes
          << " |\n";
  }
  return 0;
}
