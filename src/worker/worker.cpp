// Wiring and lifecycle of the worker's stages (docs/ARCHITECTURE.md). The stages themselves live
// in the files of this folder; nothing here touches a request.
#include "switchyard/worker/worker.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "switchyard/app/admin_server.h"
#include "switchyard/app/dashboard.h"
#include "switchyard/budget/budget_gate.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/kafka/client.h"
#include "switchyard/sched/scheduler.h"
#include "worker/budget_stage.h"
#include "worker/call.h"
#include "worker/dedupe.h"
#include "worker/delivery.h"
#include "worker/dispatch.h"
#include "worker/fleet.h"
#include "worker/intake.h"
#include "worker/sink.h"
#include "worker/store_health.h"
#include "worker/worker_metrics.h"

namespace switchyard {

WorkerSeams production_seams(const Config& config) {
  WorkerSeams seams;
  seams.make_consumer = [&config](RebalanceListener* listener) {
    return std::make_unique<KafkaConsumer>(config.kafka, config.request_topics(), listener,
                                           config.any_team_signs());
  };
  seams.make_producer = [&config](DeliveryHandler on_delivery) {
    return std::make_unique<KafkaProducer>(config.kafka, std::move(on_delivery));
  };
  seams.make_store = [&config] { return make_postgres_store(config.postgres_url()); };
  seams.make_http = [&config](IoPool& io) {
    HttpClientOptions options;
    options.max_connections_per_host = config.http.max_connections_per_host;
    options.max_connecting_per_host = config.http.max_connecting_per_host;
    options.ca_file = config.http.ca_file;
    options.allow_plain_http =
        std::any_of(config.deployments.begin(), config.deployments.end(),
                    [](const DeploymentConfig& d) { return d.allow_insecure_http; });
    return make_http_client(io, std::move(options));
  };
  seams.clock = &system_clock();
  return seams;
}

// Members are declared in the order stages depend on each other, so each is built after what it
// uses and destroyed before it. The I/O edges (consumer, producer, HTTP client) come last: they
// call into the stages, so they go first.
struct Worker::Impl {
  Impl(const Config& c, const WorkerSeams& s, MetricsRegistry& m, WorkerStats& st,
       std::atomic<bool>& stop)
      : config(c),
        seams(s),
        clock(*s.clock),
        metrics(m),
        stats(st),
        stop_requested(stop),
        series(metrics, config),
        health(stats.store_failures, config.postgres.retry_backoff_ms),
        ctx{config, clock, stats, series, metrics, health},
        scheduler(config, clock.steady_ms()),
        worker_id(make_worker_id()),
        gate(config.teams, {.retry_ms = config.worker.budget_defer_retry_ms,
                            .max_defer_ms = config.worker.budget_max_defer_ms,
                            .wake_min_ms = 250,
                            .worker_id = worker_id}),
        io(config.worker.io_threads),
        delivery(ctx, completions),
        sink(ctx, gate, delivery, to_dedupe),
        dispatch(ctx, scheduler, io, sink),
        call(ctx, scheduler, dispatch, sink, delivery, io, stop_requested),
        budget(ctx, gate, dispatch, sink, to_dedupe),
        dedupe(ctx, gate, budget, dispatch, delivery, to_dedupe),
        intake(ctx, delivery, sink, to_dedupe, completions),
        fleet(ctx, scheduler, worker_id) {
    dispatch.set_call(&call);
  }

  const Config& config;
  const WorkerSeams& seams;
  const Clock& clock;
  MetricsRegistry& metrics;
  WorkerStats& stats;
  std::atomic<bool>& stop_requested;

  WorkerSeries series;
  StoreHealth health;
  StageContext ctx;
  Scheduler scheduler;
  const std::string worker_id;  // host-pid-time: in heartbeats and budget reservations
  BudgetGate gate;
  HandOff<Job*> to_dedupe;
  HandOff<Job*> completions;  // delivery -> intake
  IoPool io;                  // before the stages that post to it: destroyed after them
  Delivery delivery;
  Sink sink;
  Dispatch dispatch;
  ProviderCall call;
  BudgetStage budget;
  Dedupe dedupe;
  Intake intake;
  Fleet fleet;

  std::unique_ptr<HttpClient> http;
  std::unique_ptr<RecordProducer> producer;
  std::unique_ptr<RecordConsumer> consumer;

  std::atomic<bool> threads_stop{false};
  std::thread lookup_thread, writer_thread, delivery_thread;

  // Gauges read at scrape time (on the admin thread): atomics and snapshots only.
  std::vector<CallbackRegistration> gauges;
  std::unique_ptr<Dashboard> dashboard;  // before `admin`: destroyed after its handlers
  std::unique_ptr<AdminServer> admin;

  int run();
  void start_admin();
  void stop_threads();
};

void Worker::Impl::start_admin() {
  gauges.push_back(metrics.gauge_callback(
      metric::kInFlight, {}, [this] { return static_cast<double>(intake.in_flight()); }));
  for (std::size_t c = 0; c < 2; ++c) {
    gauges.push_back(metrics.gauge_callback(
        metric::kQueueDepth, {{"class", c == 0 ? "interactive" : "background"}},
        [this, c] { return static_cast<double>(dispatch.queued(c) + gate.parked(c)); }));
  }
  gauges.push_back(metrics.gauge_callback(metric::kOpenCircuitBreakers, {}, [this] {
    return static_cast<double>(scheduler.open_breakers(clock.steady_ms()));
  }));
  for (auto [name, limit] :
       {std::pair{metric::kConcurrencyLimit, true}, std::pair{metric::kCallsInFlight, false}}) {
    gauges.push_back(metrics.gauge_family_callback(name, [this, limit = limit] {
      std::vector<GaugeSample> out;
      for (std::size_t i = 0; i < config.deployments.size(); ++i) {
        const int v = limit ? scheduler.concurrency_limit(i) : scheduler.calls_in_flight(i);
        out.push_back({{{"deployment", config.deployments[i].name}}, static_cast<double>(v)});
      }
      return out;
    }));
  }
  gauges.push_back(metrics.gauge_family_callback(metric::kConsumerLag, [this] {
    std::vector<GaugeSample> out;
    for (const auto& l : intake.lag()) {
      if (l.lag < 0) continue;
      out.push_back({{{"topic", l.tp.topic}, {"partition", std::to_string(l.tp.partition)}},
                     static_cast<double>(l.lag)});
    }
    return out;
  }));
  gauges.push_back(metrics.gauge_family_callback(metric::kBudgetRemaining, [this] {
    std::vector<GaugeSample> out;
    for (std::size_t i = 0; i < config.teams.size(); ++i) {
      const TeamConfig& t = config.teams[i];
      if (!t.budget) continue;
      out.push_back({{{"team", t.name}, {"period", t.budget_period}},
                     static_cast<double>(gate.remaining(i)) / 1e12});
    }
    return out;
  }));
  if (!config.admin.enabled) return;
  // The built-in page reads the spend views on its own thread and connection.
  dashboard = std::make_unique<Dashboard>(DashboardOptions{.postgres_url = config.postgres_url()},
                                          &metrics);
  dashboard->start();
  AdminServerOptions options;
  options.host = config.admin.host;
  options.port = config.admin.port;
  options.bearer_token = config.admin.token();
  options.max_connections = config.admin.max_connections;
  options.max_body_bytes = static_cast<std::size_t>(config.admin.max_body_bytes);
  admin = std::make_unique<AdminServer>(options, metrics);
  admin->set_readiness([this] {
    const int assigned = intake.assigned();
    const bool pg = health.healthy();
    return std::vector<ReadinessCheck>{
        {"broker", assigned > 0, assigned > 0 ? "" : "no partitions assigned yet"},
        {"postgres", pg, pg ? "" : "the last Postgres statement failed; retrying"},
        {"partitions", assigned > 0, std::to_string(assigned) + " assigned"}};
  });
  dashboard->register_with(*admin);
  admin->start();
  worker_log()->info("admin HTTP on {}:{} (/metrics, /healthz, /readyz, /dashboard)",
                     config.admin.host, admin->port());
}

// Lifecycle, as a gate (Seastar's): start every stage; on stop, close intake (every partition
// paused), wait up to worker.shutdown_drain_ms for in-flight work (parked, in a call, being
// written) to finish and commit, then close the consumer, stop the threads and flush the
// producer. Work still unfinished at the deadline stays uncommitted: redelivered, never lost.
int Worker::Impl::run() {
  http = seams.make_http(io);
  call.set_http(http.get());
  producer = seams.make_producer([this](void* tag, const char* error, bool permanent) {
    delivery.on_delivery(tag, error, permanent);
  });
  delivery.set_producer(producer.get());
  consumer = seams.make_consumer(&intake);
  intake.set_consumer(consumer.get());
  start_admin();
  io.start();
  dispatch.start_planning();
  lookup_thread = std::thread([this] {
    auto store = seams.make_store();
    while (!threads_stop.load()) {
      fleet.tick(*store);
      if (!dedupe.run_once(*store, threads_stop)) return;
    }
    fleet.leave(*store);
  });
  writer_thread = std::thread([this] {
    auto store = seams.make_store();
    while (!threads_stop.load() || sink.queued() > 0) {
      if (!sink.run_once(*store, threads_stop)) return;
    }
  });
  delivery_thread = std::thread([this] {
    while (!threads_stop.load()) delivery.run_once(50);
  });
  worker_log()->info("worker started: group {} topics {} -> results {}", config.kafka.group_id,
                     fmt::join(config.request_topics(), ","), config.kafka.results_topic);

  bool stopping = false;
  std::int64_t drain_deadline_ms = 0;
  for (;;) {
    if (!stopping && stop_requested.load(std::memory_order_relaxed)) {
      stopping = true;
      drain_deadline_ms = clock.steady_ms() + config.worker.shutdown_drain_ms;
      worker_log()->info("stopping: intake stopped, draining {} in-flight requests (up to {} ms)",
                         intake.pending(), config.worker.shutdown_drain_ms);
    }
    if (stopping && (intake.pending() == 0 || clock.steady_ms() >= drain_deadline_ms)) break;
    intake.run_once(intake.has_completions() ? 0 : 20, stopping);
  }
  if (intake.pending() > 0) {
    worker_log()->warn(
        "drain deadline passed with {} requests unfinished; their offsets stay uncommitted "
        "and they will be redelivered",
        intake.pending());
  }
  intake.commit(true);
  consumer->close();
  if (admin) admin->stop();
  if (dashboard) dashboard->stop();
  gauges.clear();
  stop_threads();
  worker_log()->info("worker stopped: {}", stats.to_json());
  return 0;
}

void Worker::Impl::stop_threads() {
  threads_stop.store(true);
  to_dedupe.close();
  sink.close();
  completions.close();
  if (lookup_thread.joinable()) lookup_thread.join();
  if (writer_thread.joinable()) writer_thread.join();
  io.stop();
  producer->flush(10'000);
  if (delivery_thread.joinable()) delivery_thread.join();
}

Worker::Worker(Config config)
    : config_(std::move(config)), seams_(production_seams(config_)), stats_(metrics_) {}

Worker::Worker(Config config, WorkerSeams seams)
    : config_(std::move(config)), seams_(std::move(seams)), stats_(metrics_) {
  if (!seams_.clock) seams_.clock = &system_clock();
}

Worker::~Worker() = default;

int Worker::run() {
  impl_ = std::make_unique<Impl>(config_, seams_, metrics_, stats_, stop_requested_);
  return impl_->run();
}

}  // namespace switchyard
