#include "switchyard/app/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "app/scheduler.h"
#include "switchyard/app/admin_server.h"
#include "switchyard/app/dashboard.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/common/log.h"
#include "switchyard/common/metrics.h"
#include "switchyard/config/classifier_config.h"
#include "switchyard/event/request.h"
#include "switchyard/event/result.h"
#include "switchyard/kafka/client.h"
#include "switchyard/kafka/offset_tracker.h"
#include "switchyard/provider/adapter.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/route/router.h"
#include "switchyard/store/store.h"

namespace switchyard {

namespace {

using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> log() {
  static const auto logger = named_logger("worker");
  return logger;
}

std::int64_t micros_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A mutex-guarded hand-off queue; consumers take everything at once (natural batching).
template <typename T>
class HandOff {
 public:
  void push(T item) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }
  // Waits up to `timeout` for items; moves all of them (at most `max`) into `out`.
  void take(std::vector<T>& out, std::size_t max, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [this] { return !items_.empty() || closed_; });
    std::size_t n = std::min(max, items_.size());
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Dedupe lookups per Postgres round trip: big enough to amortise the round trip, small enough
// that a burst of fetched events reaches providers in steps, not all at once.
constexpr std::size_t kLookupBatchMax = 1000;
// Fleet heartbeat period; a worker unseen for three periods no longer counts.
constexpr int kHeartbeatMs = 2000;
// Deferred requests of one team are woken by settlements at most this often.
constexpr std::int64_t kDeferWakeMinMs = 250;

std::string make_worker_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007);
}

}  // namespace

// One consumed event from fetch to commit. Owned by the poll thread except while handed to
// another stage; exactly one stage touches it at a time, so it needs no lock.
struct Job {
  TopicPartition tp;
  std::uint32_t epoch = 0;
  std::int64_t offset = 0;
  PriorityClass priority_class = PriorityClass::kBackground;
  std::int64_t kafka_timestamp_ms = -1;
  Clock::time_point fetched;
  Clock::time_point dispatched;
  Clock::time_point responded;
  Clock::time_point provider_started;
  std::int64_t provider_ms = 0;

  std::string raw;  // original bytes, kept only for the DLQ
  DecodedRequest decoded;
  std::string out_topic;
  ResultEvent result;
  std::string result_json;
  std::vector<LedgerEntry> ledger;

  RouteDecision route;
  std::size_t deployment_index = 0;  // the deployment of the current attempt
  ScheduleChoice grant;  // its rate-limit grants (deployment, team), settled with actual usage
  std::int64_t waiting_since_ms = -1;
  bool downgraded = false;              // moved to the cheapest tier by its team's budget policy
  std::int64_t deferred_since_ms = -1;  // first deferral by budget policy defer
  // Worst case this worker holds reserved for the request in Postgres until its terminal write
  // settles it (0 = none); summed per team in Impl::team_reserved_pico.
  Picodollars reserved_pico = 0;
  int attempt = 0;
  // Retries and fallbacks (see on_response): deployments that failed this request, the failed
  // and rate-limited calls so far, how far along the tier chain the route has been extended,
  // the smallest context window still worth trying, and when the first call started.
  std::vector<std::size_t> avoid;
  int failures = 0;
  int rate_limited = 0;
  std::size_t chain_next = 0;
  std::int64_t min_context = 0;
  std::int64_t first_attempt_ms = -1;
  std::string history;  // "a: HTTP 503; b: HTTP 429" for route.reason
  bool filled = false;  // result fields and result_json are final
  std::atomic<int> acks_pending{0};
  std::vector<Job*> duplicates;  // same request_id fetched while this one was in flight
};

namespace {
// Delivery-report opaques: the Job pointer, low bit set for the DLQ record.
void* result_tag(Job* job) {
  return job;
}
void* dlq_tag(Job* job) {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(job) | 1u);
}
Job* job_of(void* tag, bool& is_dlq) {
  auto bits = reinterpret_cast<std::uintptr_t>(tag);
  is_dlq = bits & 1u;
  return reinterpret_cast<Job*>(bits & ~std::uintptr_t{1});
}
}  // namespace

struct Worker::Impl : RebalanceListener {
  Impl(const Config& c, WorkerStats& s, std::atomic<bool>& stop)
      : config(c),
        stats(s),
        stop_requested(stop),
        router(config.deployments, classifier_config(config)),
        scheduler(config, steady_ms()),
        io(config.worker.io_threads),
        waiting(static_cast<std::size_t>(config.worker.max_in_flight) + 1),
        wake_timer(io.context()) {
    for (const auto& d : config.deployments) api_keys.push_back(d.api_key());
    for (const auto& t : config.teams) teams_by_name.emplace(t.name, &t);
    resolve_metrics();
    set_intake_limits();
  }

  // ---------------- metrics ----------------
  // Every series the hot path touches is resolved here, once: afterwards a result, a call or a
  // DLQ record costs a few relaxed atomic adds (see common/metrics.h).
  static constexpr std::size_t kErrorCodes = static_cast<std::size_t>(ErrorCode::kShutdown) + 1;
  std::vector<Counter*> requests_series;  // [class][deployment or none][error code]
  struct DeploymentSeries {
    Histogram* duration_ok = nullptr;
    Histogram* duration_failed = nullptr;
    Histogram* tokens_in = nullptr;
    Histogram* tokens_out = nullptr;
    Counter* cost = nullptr;
  };
  std::vector<DeploymentSeries> deployment_series;
  Histogram* request_duration[2] = {nullptr, nullptr};
  Counter* dlq_unreadable = nullptr;
  Counter* dlq_invalid = nullptr;
  std::atomic<std::int64_t> in_flight_now{0};
  std::atomic<std::int64_t> queued_now[2] = {0, 0};  // parked for headroom, by class
  std::atomic<int> partitions_assigned{0};
  std::mutex lag_mutex;
  std::vector<KafkaConsumer::PartitionLag> lag_snapshot;         // guarded by lag_mutex
  std::vector<std::atomic<std::int64_t>> budget_remaining_pico;  // parallel to config.teams
  // Reservations this worker holds and has not settled yet, parallel to config.teams: what a
  // request refused by its budget may still get once this worker's calls of the team settle.
  std::vector<std::atomic<std::int64_t>> team_reserved_pico;
  // Reservations of the team settled so far (one per settled request), parallel to config.teams:
  // tells the budget stage that a settlement may have come between its reservation and its
  // parking.
  std::vector<std::atomic<std::uint64_t>> team_settlements;

  static std::size_t class_index(PriorityClass c) {
    return c == PriorityClass::kInteractive ? 0 : 1;
  }

  void resolve_metrics() {
    declare_worker_metrics(metrics);
    const std::size_t n = config.deployments.size();
    requests_series.resize(2 * (n + 1) * kErrorCodes);
    for (PriorityClass cls : {PriorityClass::kInteractive, PriorityClass::kBackground}) {
      for (std::size_t d = 0; d <= n; ++d) {
        for (std::size_t e = 0; e < kErrorCodes; ++e) {
          const auto code = static_cast<ErrorCode>(e);
          requests_series[(class_index(cls) * (n + 1) + d) * kErrorCodes + e] = &metrics.counter(
              metric::kRequests, {{"class", to_string(cls)},
                                  {"tier", d < n ? config.deployments[d].tier : ""},
                                  {"deployment", d < n ? config.deployments[d].name : ""},
                                  {"status", code == ErrorCode::kNone ? "ok" : to_string(code)}});
        }
      }
    }
    for (const auto& d : config.deployments) {
      MetricLabels base = {{"gen_ai_operation_name", "chat"},
                           {"gen_ai_provider_name", provider_label(d.provider)},
                           {"gen_ai_request_model", d.model},
                           {"deployment", d.name}};
      DeploymentSeries ds;
      ds.duration_ok = &metrics.histogram(metric::kOperationDuration, base);
      MetricLabels failed = base;
      failed.push_back({"error_type", "provider_error"});
      ds.duration_failed = &metrics.histogram(metric::kOperationDuration, failed);
      MetricLabels in = base, out = base;
      in.push_back({"gen_ai_token_type", "input"});
      out.push_back({"gen_ai_token_type", "output"});
      ds.tokens_in = &metrics.histogram(metric::kTokenUsage, in);
      ds.tokens_out = &metrics.histogram(metric::kTokenUsage, out);
      ds.cost = &metrics.counter(metric::kCost, {{"tier", d.tier}, {"deployment", d.name}});
      deployment_series.push_back(ds);
    }
    request_duration[0] = &metrics.histogram(metric::kRequestDuration, {{"class", "interactive"}});
    request_duration[1] = &metrics.histogram(metric::kRequestDuration, {{"class", "background"}});
    dlq_unreadable = &metrics.counter(metric::kDlqRecords, {{"kind", "unreadable"}});
    dlq_invalid = &metrics.counter(metric::kDlqRecords, {{"kind", "invalid"}});
    budget_remaining_pico = std::vector<std::atomic<std::int64_t>>(config.teams.size());
    team_reserved_pico = std::vector<std::atomic<std::int64_t>>(config.teams.size());
    team_settlements = std::vector<std::atomic<std::uint64_t>>(config.teams.size());
    for (std::size_t i = 0; i < config.teams.size(); ++i)
      budget_remaining_pico[i].store(config.teams[i].budget.value_or(0));
  }

  static const char* provider_label(ProviderKind k) {
    switch (k) {
      case ProviderKind::kAzure:
        return "azure.ai.openai";
      case ProviderKind::kAnthropic:
        return "anthropic";
      default:
        return "openai";
    }
  }

  Counter& requests_counter(const Job* job) const {
    const std::size_t n = config.deployments.size();
    const std::size_t d = job->attempt > 0 ? job->deployment_index : n;
    const auto e = static_cast<std::size_t>(job->result.error);
    return *requests_series[(class_index(job->priority_class) * (n + 1) + d) * kErrorCodes + e];
  }

  // Gauges read at scrape time (on the admin thread): atomics and snapshots only.
  std::vector<CallbackRegistration> gauge_registrations;
  std::unique_ptr<Dashboard> dashboard;  // before `admin`: destroyed after its handlers
  std::unique_ptr<AdminServer> admin;

  void start_admin() {
    gauge_registrations.push_back(metrics.gauge_callback(
        metric::kInFlight, {}, [this] { return static_cast<double>(in_flight_now.load()); }));
    gauge_registrations.push_back(metrics.gauge_callback(
        metric::kQueueDepth, {{"class", "interactive"}},
        [this] { return static_cast<double>(queued_now[0] + budget_parked[0]); }));
    gauge_registrations.push_back(metrics.gauge_callback(
        metric::kQueueDepth, {{"class", "background"}},
        [this] { return static_cast<double>(queued_now[1] + budget_parked[1]); }));
    gauge_registrations.push_back(metrics.gauge_callback(metric::kOpenCircuitBreakers, {}, [this] {
      return static_cast<double>(scheduler.open_breakers(steady_ms()));
    }));
    gauge_registrations.push_back(metrics.gauge_family_callback(metric::kConsumerLag, [this] {
      std::vector<GaugeSample> out;
      std::lock_guard lock(lag_mutex);
      for (const auto& l : lag_snapshot) {
        if (l.lag < 0) continue;
        out.push_back({{{"topic", l.tp.topic}, {"partition", std::to_string(l.tp.partition)}},
                       static_cast<double>(l.lag)});
      }
      return out;
    }));
    gauge_registrations.push_back(metrics.gauge_family_callback(metric::kBudgetRemaining, [this] {
      std::vector<GaugeSample> out;
      for (std::size_t i = 0; i < config.teams.size(); ++i) {
        const TeamConfig& t = config.teams[i];
        if (!t.budget) continue;
        out.push_back({{{"team", t.name}, {"period", t.budget_period}},
                       static_cast<double>(budget_remaining_pico[i].load()) / 1e12});
      }
      return out;
    }));
    if (!config.admin.enabled) return;
    // The built-in page reads the spend views on its own thread and connection.
    dashboard = std::make_unique<Dashboard>(DashboardOptions{.postgres_url = config.postgres_url()},
                                            &metrics);
    admin_hooks.push_back([this](AdminServer& a) { dashboard->register_with(a); });
    dashboard->start();
    AdminServerOptions options;
    options.host = config.admin.host;
    options.port = config.admin.port;
    options.bearer_token = config.admin.token();
    admin = std::make_unique<AdminServer>(options, metrics);
    admin->set_readiness([this] {
      const int assigned = partitions_assigned.load();
      const bool pg = store_healthy.load();
      return std::vector<ReadinessCheck>{
          {"broker", broker_ok.load(), broker_ok.load() ? "" : last_broker_error()},
          {"postgres", pg, pg ? "" : "the last Postgres statement failed; retrying"},
          {"partitions", assigned > 0, std::to_string(assigned) + " assigned"}};
    });
    for (const auto& hook : admin_hooks) hook(*admin);
    admin->start();
    log()->info("admin HTTP on {}:{} (/metrics, /healthz, /readyz{})", config.admin.host,
                admin->port(), admin_hooks.empty() ? "" : ", /dashboard");
  }

  std::atomic<bool> broker_ok{false};
  std::string last_broker_error() const { return "no partitions assigned yet"; }
  std::vector<std::function<void(AdminServer&)>> admin_hooks;  // e.g. the dashboard

  const Config& config;
  WorkerStats& stats;
  std::atomic<bool>& stop_requested;
  MetricsRegistry metrics;
  Router router;
  Scheduler scheduler;
  std::vector<std::string> api_keys;  // read once at start; never logged
  std::unordered_map<std::string, const TeamConfig*> teams_by_name;
  const std::string worker_id = make_worker_id();
  int fleet_size = 0;     // lookup thread only; 0 before the first heartbeat
  int fleet_ordinal = 0;  // lookup thread only

  // Declared before the clients that use it so it is destroyed after them.
  IoPool io;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<KafkaProducer> producer;
  std::unique_ptr<KafkaConsumer> consumer;

  // Budget policy defer: deferred jobs by team, each with the sequence number of its deferral.
  std::mutex deferred_mutex;
  std::unordered_map<std::string, std::unordered_map<Job*, std::uint64_t>> deferred_by_team;
  std::unordered_map<std::string, std::int64_t> deferred_woken_at;  // steady ms, by team
  std::unordered_set<std::string> deferred_wake_armed;  // teams with a throttled wake pending
  std::uint64_t deferral_seq = 0;                       // guarded by deferred_mutex
  // Requests parked for budget (deferred or waiting for a settlement), by class; the queue depth
  // gauge counts them with the requests parked for headroom.
  std::atomic<std::int64_t> budget_parked[2] = {0, 0};

  std::mutex waiting_mutex;
  AgingQueue<Job*> waiting;              // parked until a deployment has headroom
  boost::asio::steady_timer wake_timer;  // guarded by waiting_mutex
  std::int64_t wake_at_ms = 0;           // 0 = not armed; guarded by waiting_mutex

  OffsetTracker tracker;                                  // poll thread only
  std::unordered_map<std::string, Job*> in_flight_by_id;  // poll thread only
  std::vector<Job*> lookup_batch;                         // poll thread only

  HandOff<Job*> to_lookup;
  HandOff<Job*> to_writer;
  HandOff<Job*> completions;  // delivery thread -> poll thread
  HandOff<std::pair<Job*, bool>>
      produce_retries;  // failed deliveries, re-produced by the delivery thread

  std::atomic<bool> store_healthy{true};
  std::atomic<bool> threads_stop{false};
  std::thread lookup_thread;
  std::thread writer_thread;
  std::thread delivery_thread;
  // Intake per class, [interactive, background] (class_index): whether its partitions are
  // paused, and the in-flight counts at which they pause and below which they resume.
  // Background stops first, so the last worker.interactive_in_flight_reserve of the cap is
  // only ever filled by interactive topics.
  bool intake_paused[2] = {false, false};
  std::size_t pause_at[2] = {0, 0};
  std::size_t resume_below[2] = {0, 0};

  // ---------------- poll thread ----------------

  void on_assigned(const std::vector<TopicPartition>& partitions) override {
    for (const auto& tp : partitions) tracker.assign(tp);
    if (intake_paused[0] || intake_paused[1]) repause = true;
  }

  void on_revoked(const std::vector<TopicPartition>& partitions, bool lost) override {
    // Commit what is finished before the partitions move; in-flight work for them still
    // completes and is stored, but it can no longer commit here (the new owner dedupes it).
    if (!lost) {
      auto commits = tracker.commits_for(partitions);
      if (auto err = consumer->commit(commits, true); !err.empty())
        log()->warn("commit before revoke failed: {}", err);
    }
    for (const auto& tp : partitions) tracker.revoke(tp);
  }

  void on_offset_reset(const TopicPartition& tp, const std::string& detail) override {
    stats.offset_resets.fetch_add(1, std::memory_order_relaxed);
    reset_partitions.push_back(tp);
    log()->error(
        "offset out of range on {}[{}]: {}. Records were trimmed by retention (or the embedded "
        "broker's 5 MiB/100,000-batch limit) before they were processed; the consumer resets to "
        "the earliest available offset. The number of skipped offsets is logged with the next "
        "record.",
        tp.topic, tp.partition, detail);
  }
  std::vector<TopicPartition> reset_partitions;
  bool repause = false;

  void handle_message(KafkaMessage& msg) {
    TopicPartition tp{std::string(msg.topic()), msg.partition()};
    if (!reset_partitions.empty()) report_skipped(tp, msg.offset());
    if (!tracker.begin(tp, msg.offset())) return;  // revoked meanwhile, or already seen
    stats.consumed.fetch_add(1, std::memory_order_relaxed);
    auto* job = new Job;
    job->tp = std::move(tp);
    job->epoch = tracker.epoch(job->tp);
    job->offset = msg.offset();
    job->fetched = Clock::now();
    job->kafka_timestamp_ms = msg.timestamp_ms();
    job->priority_class = config.class_of_topic(job->tp.topic);
    job->decoded =
        decode_request(msg.value(), static_cast<std::size_t>(config.worker.max_event_bytes));
    auto& req = job->decoded.request;
    if (job->decoded.status == DecodeStatus::kOk) {
      if (!req.reply_topic.empty()) {
        const auto& allow = config.kafka.reply_topic_allowlist;
        if (std::find(allow.begin(), allow.end(), req.reply_topic) == allow.end()) {
          job->decoded.violations.push_back("reply_topic '" + req.reply_topic +
                                            "' is not on kafka.reply_topic_allowlist");
          job->decoded.status = DecodeStatus::kInvalid;
        }
      }
    }
    if (job->decoded.status == DecodeStatus::kOk) {
      if (req.priority) job->priority_class = *req.priority;
      job->out_topic = req.reply_topic.empty() ? config.kafka.results_topic : req.reply_topic;
      auto [it, inserted] = in_flight_by_id.emplace(req.request_id, job);
      if (!inserted) {
        // Same request already in flight here: it finishes with that one, never called twice.
        stats.in_flight_duplicates.fetch_add(1, std::memory_order_relaxed);
        it->second->duplicates.push_back(job);
        return;
      }
      job->acks_pending.store(1);  // the result event
      lookup_batch.push_back(job);
      return;
    }
    // Unreadable or invalid: the original bytes and the reason go to the DLQ.
    job->raw.assign(msg.value());
    stats.dlq.fetch_add(1, std::memory_order_relaxed);
    (job->decoded.status == DecodeStatus::kUnreadable ? dlq_unreadable : dlq_invalid)->inc();
    job->out_topic = config.kafka.results_topic;
    if (job->decoded.status == DecodeStatus::kUnreadable) {
      job->acks_pending.store(1);
      produce_dlq(job);
      return;
    }
    stats.invalid.fetch_add(1, std::memory_order_relaxed);
    job->acks_pending.store(2);  // DLQ record + error result
    produce_dlq(job);
    set_error(job, ErrorCode::kInvalidRequest, job->decoded.reason());
    job->responded = Clock::now();
    to_writer.push(job);
  }

  void report_skipped(const TopicPartition& tp, std::int64_t offset) {
    auto it = std::find(reset_partitions.begin(), reset_partitions.end(), tp);
    if (it == reset_partitions.end()) return;
    reset_partitions.erase(it);
    auto committed = tracker.committable(tp);
    log()->error(
        "{}[{}] resumed at offset {} after an offset reset; {} offsets were skipped unprocessed",
        tp.topic, tp.partition, offset,
        committed ? std::to_string(offset - *committed) : std::string("an unknown number of"));
  }

  void produce_dlq(Job* job) {
    const auto& d = job->decoded;
    std::string reason = d.reason();
    std::string source =
        job->tp.topic + "/" + std::to_string(job->tp.partition) + "/" + std::to_string(job->offset);
    const char* kind = d.status == DecodeStatus::kUnreadable ? "unreadable" : "invalid";
    std::vector<KafkaHeader> headers = {
        {"switchyard.reason", reason}, {"switchyard.kind", kind}, {"switchyard.source", source}};
    std::string_view key = d.request.request_id;
    if (auto err = producer->produce(config.kafka.dlq_topic, key, job->raw, headers, dlq_tag(job));
        !err.empty()) {
      log()->error("cannot queue DLQ record: {}{}", err, fields_of(job));
      produce_retries.push({job, true});
    }
  }

  void finish_completed(Job* job) {
    auto now = Clock::now();
    stats.end_to_end.record_us(micros_between(job->fetched, now));
    request_duration[class_index(job->priority_class)]->observe(
        static_cast<double>(micros_between(job->fetched, now)) / 1e6);
    std::vector<Job*> all = {job};
    all.insert(all.end(), job->duplicates.begin(), job->duplicates.end());
    if (job->decoded.status == DecodeStatus::kOk) {
      auto it = in_flight_by_id.find(job->decoded.request.request_id);
      if (it != in_flight_by_id.end() && it->second == job) in_flight_by_id.erase(it);
    }
    for (Job* j : all) {
      tracker.finish(j->tp, j->epoch, j->offset);
      stats.completed.fetch_add(1, std::memory_order_relaxed);
      delete j;
    }
  }

  void set_intake_limits() {
    const auto cap = static_cast<std::size_t>(config.worker.max_in_flight);
    const auto resume = static_cast<std::size_t>(config.worker.resume_in_flight);
    const double keep = 1.0 - config.worker.interactive_in_flight_reserve;
    pause_at[0] = cap;
    resume_below[0] = resume;
    pause_at[1] =
        std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(cap) * keep));
    resume_below[1] =
        std::min(pause_at[1], static_cast<std::size_t>(static_cast<double>(resume) * keep));
  }

  // Most events the next poll may take: up to the background threshold while background is
  // fetched, so one poll cannot carry a flood past it into the interactive share; up to the
  // full cap once background is paused. At least 1, so the poll still serves callbacks.
  std::size_t intake_room() const {
    constexpr std::size_t kPollBatchMax = 2000;
    const std::size_t pending = tracker.pending();
    const std::size_t limit = intake_paused[1] ? pause_at[0] : pause_at[1];
    return std::clamp<std::size_t>(limit > pending ? limit - pending : 0, 1, kPollBatchMax);
  }

  std::vector<TopicPartition> assigned_of_class(std::size_t cls) const {
    std::vector<TopicPartition> out;
    for (const auto& tp : consumer->assignment())
      if (class_index(config.class_of_topic(tp.topic)) == cls) out.push_back(tp);
    return out;
  }

  void flow_control() {
    const std::size_t pending = tracker.pending();
    const bool blocked = stopping || !store_healthy.load();
    for (std::size_t cls = 0; cls < 2; ++cls) {
      bool& paused = intake_paused[cls];
      const bool want_pause =
          blocked || pending >= pause_at[cls] || (paused && pending >= resume_below[cls]);
      const char* name = cls == 0 ? "interactive" : "background";
      if (want_pause && (!paused || repause)) {
        consumer->pause(assigned_of_class(cls));
        if (!paused) {
          stats.pauses.fetch_add(1, std::memory_order_relaxed);
          log()->info("intake paused ({} topics): {} in flight, store {}", name, pending,
                      store_healthy.load() ? "healthy" : "unreachable");
        }
        paused = true;
      } else if (!want_pause && paused) {
        consumer->resume(assigned_of_class(cls));
        paused = false;
        log()->info("intake resumed ({} topics): {} in flight", name, pending);
      }
    }
    repause = false;
  }

  bool stopping = false;

  int run() {
    HttpClientOptions http_options;
    http_options.max_connections_per_host = config.http.max_connections_per_host;
    http_options.ca_file = config.http.ca_file;
    http_options.allow_plain_http =
        std::any_of(config.deployments.begin(), config.deployments.end(),
                    [](const DeploymentConfig& d) { return d.allow_insecure_http; });
    http = make_http_client(io, std::move(http_options));
    producer = std::make_unique<KafkaProducer>(
        config.kafka, [this](void* tag, const char* error) { on_delivery(tag, error); });
    consumer = std::make_unique<KafkaConsumer>(config.kafka, config.request_topics(), this);
    start_admin();
    io.start();
    lookup_thread = std::thread([this] { lookup_loop(); });
    writer_thread = std::thread([this] { writer_loop(); });
    delivery_thread = std::thread([this] { delivery_loop(); });
    log()->info("worker started: group {} topics {} -> results {}", config.kafka.group_id,
                fmt::join(config.request_topics(), ","), config.kafka.results_topic);

    std::vector<KafkaMessage> batch;
    std::vector<Job*> done;
    auto last_commit = Clock::now();
    auto last_lag = Clock::time_point{};
    Clock::time_point drain_deadline;
    for (;;) {
      if (!stopping && stop_requested.load(std::memory_order_relaxed)) {
        stopping = true;
        drain_deadline = Clock::now() + std::chrono::milliseconds(config.worker.shutdown_drain_ms);
        log()->info("stopping: intake stopped, draining {} in-flight requests (up to {} ms)",
                    tracker.pending(), config.worker.shutdown_drain_ms);
      }
      if (stopping && (tracker.pending() == 0 || Clock::now() >= drain_deadline)) break;

      batch.clear();
      consumer->poll(done.empty() ? 20 : 0, intake_room(), batch);
      for (auto& msg : batch) handle_message(msg);
      batch.clear();  // releases librdkafka's buffers
      if (!lookup_batch.empty()) {
        for (Job* j : lookup_batch) to_lookup.push(j);
        lookup_batch.clear();
      }
      done.clear();
      completions.take(done, SIZE_MAX, std::chrono::milliseconds(0));
      for (Job* j : done) finish_completed(j);
      flow_control();
      auto now = Clock::now();
      in_flight_now.store(static_cast<std::int64_t>(tracker.pending()), std::memory_order_relaxed);
      if (now - last_lag >= std::chrono::seconds(1)) {
        auto lag = consumer->lag();
        partitions_assigned.store(static_cast<int>(consumer->assignment().size()));
        broker_ok.store(!consumer->assignment().empty());
        std::lock_guard lock(lag_mutex);
        lag_snapshot = std::move(lag);
        last_lag = now;
      }
      if (now - last_commit >= std::chrono::milliseconds(config.worker.commit_interval_ms)) {
        commit(false);
        last_commit = now;
      }
    }
    if (tracker.pending() > 0) {
      log()->warn(
          "drain deadline passed with {} requests unfinished; their offsets stay uncommitted "
          "and they will be redelivered",
          tracker.pending());
    }
    commit(true);
    consumer->close();
    if (admin) admin->stop();
    if (dashboard) dashboard->stop();
    gauge_registrations.clear();
    shutdown_threads();
    log()->info("worker stopped: {}", stats.to_json());
    return 0;
  }

  void commit(bool synchronous) {
    auto commits = tracker.take_commits();
    if (commits.empty()) return;
    if (auto err = consumer->commit(commits, synchronous); !err.empty()) {
      log()->warn("offset commit failed ({}); the next commit covers these offsets", err);
      return;
    }
    stats.commits.fetch_add(1, std::memory_order_relaxed);
  }

  void shutdown_threads() {
    threads_stop.store(true);
    to_lookup.close();
    to_writer.close();
    completions.close();
    produce_retries.close();
    if (lookup_thread.joinable()) lookup_thread.join();
    if (writer_thread.joinable()) writer_thread.join();
    io.stop();
    producer->flush(10'000);
    if (delivery_thread.joinable()) delivery_thread.join();
  }

  // ---------------- lookup thread ----------------

  void lookup_loop() {
    auto store = make_postgres_store(config.postgres_url());
    std::vector<Job*> jobs;
    std::vector<std::string> ids;
    std::unordered_map<std::string, std::string> found;
    std::vector<Job*> budgeted;
    auto next_beat = Clock::now();
    auto next_upkeep = Clock::now();
    bool reference_written = false;
    while (!threads_stop.load()) {
      if (Clock::now() >= next_upkeep) {
        next_upkeep = Clock::now() + (upkeep(*store, reference_written) ? std::chrono::hours(1)
                                                                        : std::chrono::minutes(1));
      }
      if (Clock::now() >= next_beat) {
        beat(*store, false);
        next_beat = Clock::now() + std::chrono::milliseconds(kHeartbeatMs);
      }
      jobs.clear();
      to_lookup.take(jobs, kLookupBatchMax, std::chrono::milliseconds(100));
      if (jobs.empty()) continue;
      ids.clear();
      for (Job* j : jobs) ids.push_back(j->decoded.request.request_id);
      found.clear();
      std::string error;
      auto started = Clock::now();
      while (!store->find_terminal(ids, found, error)) {
        note_store_failure("dedupe lookup", error);
        if (threads_stop.load()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(config.postgres.retry_backoff_ms));
        error.clear();
      }
      stats.lookup_query.record_us(micros_between(started, Clock::now()));
      budgeted.clear();
      for (Job* j : jobs) {
        auto it = found.find(j->decoded.request.request_id);
        if (it != found.end()) {
          // Already terminal: re-emit the stored result, never call a provider again.
          stats.redelivered_terminal.fetch_add(1, std::memory_order_relaxed);
          j->result_json = std::move(it->second);
          j->responded = Clock::now();
          produce_result(j);
          continue;
        }
        // A request its budget policy moved to the cheapest tier keeps that route when it comes
        // back from waiting for a settlement; anything else is routed afresh.
        if (!j->downgraded && !route(j)) continue;
        if (team_budget(j)) {
          budgeted.push_back(j);
        } else {
          boost::asio::post(io.context(), [this, j] { schedule(j); });
        }
      }
      if (!budgeted.empty() && !reserve_budgets(*store, budgeted)) return;
    }
    beat(*store, true);
  }

  // Hourly upkeep for the dashboards: next months' ledger partitions exist before rows need
  // them, and (once) the savings reference prices are the configured model group's.
  bool upkeep(RequestStore& store, bool& reference_written) {
    std::string error;
    int created = 0;
    if (!store.ensure_ledger_partitions(2, created, error)) {
      log()->warn("creating cost_ledger partitions failed ({}); retrying in a minute", error);
      return false;
    }
    if (created > 0) log()->info("created {} cost_ledger month partition(s)", created);
    if (reference_written) return true;
    const DeploymentConfig* reference = config.reference_deployment();
    if (!reference || !reference->price) return true;
    if (!store.set_reference_price(reference->group, *reference->price, error)) {
      log()->warn("writing the savings reference price failed ({}); retrying in a minute", error);
      return false;
    }
    reference_written = true;
    return true;
  }

  // Fleet membership: refreshes this worker's heartbeat and takes its share of every
  // deployment's rate limits (1 / live workers of the group).
  void beat(RequestStore& store, bool leaving) {
    int live = 0;
    int ordinal = 0;
    std::string error;
    if (!store.heartbeat(worker_id, config.kafka.group_id, kHeartbeatMs * 3, leaving, live, ordinal,
                         error)) {
      log()->warn("fleet heartbeat failed ({}); keeping a share of 1/{}", error,
                  std::max(fleet_size, 1));
      return;
    }
    if (leaving || (live == fleet_size && ordinal == fleet_ordinal)) return;
    const bool joining = fleet_size == 0;
    fleet_size = live;
    fleet_ordinal = ordinal;
    // A limit that grows waits out one rate-limit window plus the time the others take to see
    // this change (their next heartbeat): grants made under the old split have then expired.
    constexpr std::int64_t kGrowAfterMs = 60'000 + 2 * kHeartbeatMs;
    scheduler.set_fleet(ordinal, live, joining, kGrowAfterMs, steady_ms());
    if (joining && live > 1) {
      log()->info(
          "joined a fleet of {} worker(s) in group {}: rate-limited deployments get this "
          "worker's share after a {} s warm-up, when the others' grants have left the window",
          live, config.kafka.group_id, kGrowAfterMs / 1000);
    } else {
      log()->info(
          "fleet of {} worker(s) in group {}: this worker (#{}) holds its 1/{} slot of every "
          "deployment's and team's rate limits (a larger slot applies after {} s)",
          live, config.kafka.group_id, ordinal, live, kGrowAfterMs / 1000);
    }
  }

  // Routes a job that will be served; a job no deployment fits goes to the writer as an error.
  bool route(Job* job) {
    job->route = router.route(job->decoded.request, scheduler.cooling_snapshot(steady_ms()));
    job->result.route.priority_class = to_string(job->priority_class);
    if (const TeamConfig* team = team_of(job); team && job->route.error.empty())
      restrict(job, *team);
    job->result.route.reason = job->route.reason;
    if (job->route.error.empty()) return true;
    set_error(job, ErrorCode::kNoDeployment, job->route.error);
    finish_to_writer(job);
    return false;
  }

  const TeamConfig* team_of(const Job* job) const {
    auto it = teams_by_name.find(job->decoded.request.team);
    return it != teams_by_name.end() ? it->second : nullptr;
  }

  // Drops the route's candidates the team may not use (teams[].allowed_tiers/allowed_models).
  void restrict(Job* job, const TeamConfig& team) {
    auto& cs = job->route.candidates;
    const std::size_t before = cs.size();
    cs.erase(std::remove_if(cs.begin(), cs.end(),
                            [&team](const DeploymentConfig* d) { return !team_may_use(team, *d); }),
             cs.end());
    if (cs.size() == before) return;
    if (cs.empty()) {
      job->route.error = "team '" + team.name + "' may not use any of the " +
                         std::to_string(before) + " deployments of its route (" +
                         job->route.reason + "); see teams[].allowed_tiers / allowed_models";
    } else {
      job->route.reason += "; " + std::to_string(before - cs.size()) +
                           " deployment(s) not allowed for team " + team.name;
    }
  }

  const TeamConfig* team_budget(const Job* job) const {
    auto it = teams_by_name.find(job->decoded.request.team);
    return it != teams_by_name.end() && it->second->budget ? it->second : nullptr;
  }

  // The most the request can cost on any deployment its route may try: estimated input tokens
  // plus max_tokens (or worker.budget_max_output_tokens) at each candidate's prices.
  Picodollars worst_case_cost(const Job* job) const {
    const auto& req = job->decoded.request;
    std::int64_t input = estimate_input_tokens(req);
    std::int64_t output = req.max_tokens.value_or(config.worker.budget_max_output_tokens);
    Picodollars worst = 0;
    for (const DeploymentConfig* d : job->route.candidates)
      worst = std::max(worst, cost_of(*d, input, output));
    return worst;
  }

  // Reserves the worst case of every budgeted job in one statement; over-budget jobs end as
  // budget_exceeded, the others are dispatched. Returns false only when stopping.
  bool reserve_budgets(RequestStore& store, const std::vector<Job*>& jobs) {
    std::vector<BudgetAnswer> answers;
    std::vector<Picodollars> worst;
    // Snapshots taken before the statement, settlements first: `ours` then holds at least every
    // reservation of ours the statement's `committed` can include (one settled meanwhile makes
    // the request wait instead of being refused, and bumps the settlement count, which wakes it).
    // Read after the statement, a settlement in between would be subtracted from a `committed`
    // that still holds it, and a request that only had to wait would be refused.
    std::vector<std::uint64_t> settlements_before(team_settlements.size());
    std::vector<Picodollars> ours(team_settlements.size());
    for (std::size_t t = 0; t < team_settlements.size(); ++t)
      settlements_before[t] = team_settlements[t].load(std::memory_order_acquire);
    for (std::size_t t = 0; t < team_settlements.size(); ++t)
      ours[t] = team_reserved_pico[t].load(std::memory_order_acquire);
    if (!reserve_all(store, jobs, answers, worst)) return false;
    std::vector<Job*> downgraded;
    std::vector<bool> parked(config.teams.size(), false);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      Job* j = jobs[i];
      const TeamConfig* team = team_budget(j);
      const auto t = static_cast<std::size_t>(team - config.teams.data());
      note_soft_budget(*team, answers[i], worst[i]);
      budget_remaining_pico[t].store(*team->budget - answers[i].committed,
                                     std::memory_order_relaxed);
      if (answers[i].verdict != BudgetVerdict::kExceeded) {
        team_reserved_pico[t].fetch_add(worst[i] - j->reserved_pico, std::memory_order_relaxed);
        ours[t] += worst[i] - j->reserved_pico;  // `committed` of the next ones includes it
        j->reserved_pico = worst[i];
        boost::asio::post(io.context(), [this, j] { schedule(j); });
      } else if (fits_once_settled(t, ours[t], answers[i], worst[i])) {
        // Refused only because of worst cases this worker still holds for the team: the budget
        // has room for it once those calls settle at their (smaller) actual cost. Waiting for
        // them instead of applying the policy keeps a hard budget from refusing work it can pay.
        stats.budget_settlement_waits.fetch_add(1, std::memory_order_relaxed);
        park_until_settlement(j);
        parked[t] = true;
      } else if (!j->downgraded && team->budget_policy == "downgrade" && downgrade(j)) {
        downgraded.push_back(j);
      } else if (team->budget_policy == "defer" &&
                 j->priority_class == PriorityClass::kBackground && defer(j)) {
        continue;
      } else {
        reject_over_budget(j, worst[i]);
      }
    }
    // A settlement written since the reservation statement may have found nothing parked yet:
    // wake this batch's parked requests for it rather than leave them to the timed retry.
    for (std::size_t t = 0; t < parked.size(); ++t) {
      if (parked[t] && team_settlements[t].load(std::memory_order_acquire) != settlements_before[t])
        wake_deferred(config.teams[t].name);
    }
    // One more reservation round for the requests moved to the cheapest tier.
    return downgraded.empty() || reserve_budgets(store, downgraded);
  }

  bool reserve_all(RequestStore& store, const std::vector<Job*>& jobs,
                   std::vector<BudgetAnswer>& answers, std::vector<Picodollars>& worst) {
    std::vector<BudgetRequest> requests;
    requests.reserve(jobs.size());
    worst.clear();
    for (Job* j : jobs) {
      const TeamConfig* team = team_budget(j);
      worst.push_back(worst_case_cost(j));
      requests.push_back({j->decoded.request.request_id, team->name, worst.back(), *team->budget,
                          team->budget_period});
    }
    std::string error;
    while (!store.reserve_budgets(requests, answers, error)) {
      note_store_failure("budget reservation", error);
      if (threads_stop.load()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(config.postgres.retry_backoff_ms));
      error.clear();
    }
    return true;
  }

  // A soft budget refuses nothing: crossing it is logged once per crossing and counted.
  void note_soft_budget(const TeamConfig& team, const BudgetAnswer& answer, Picodollars worst) {
    if (!team.soft_budget || answer.verdict != BudgetVerdict::kReserved) return;
    if (answer.committed >= *team.soft_budget && answer.committed - worst < *team.soft_budget) {
      stats.budget_soft_crossings.fetch_add(1, std::memory_order_relaxed);
      log()->warn(
          "team {} crossed its soft budget of ${} for this {} (${} spent or reserved of ${})",
          team.name, format_usd(*team.soft_budget), team.budget_period,
          format_usd(answer.committed), format_usd(*team.budget));
    }
  }

  // Whether a request refused by its budget would fit if the reservations this worker holds for
  // the team (`ours`) were settled at no cost: `committed` less ours is the period's spend plus
  // what other workers hold. Ours only shrink by settling, so a request that fits this way waits
  // for the next settlement and a request that does not is over budget.
  bool fits_once_settled(std::size_t team, Picodollars ours, const BudgetAnswer& answer,
                         Picodollars worst) const {
    return ours > 0 && answer.committed - ours + worst <= *config.teams[team].budget;
  }

  // Budget policy defer: background work waits for budget (released reservations, refunds, the
  // next period) and retries its reservation through the lookup stage; false once it has waited
  // worker.budget_max_defer_ms in all.
  bool defer(Job* job) {
    std::int64_t now = steady_ms();
    if (job->deferred_since_ms < 0) job->deferred_since_ms = now;
    if (now - job->deferred_since_ms >= config.worker.budget_max_defer_ms) return false;
    stats.budget_deferrals.fetch_add(1, std::memory_order_relaxed);
    park_until_settlement(job);
    return true;
  }

  // Parks a request refused by its budget until a settlement of its team wakes it (wake_deferred)
  // or worker.budget_defer_retry_ms passes; then it retries its reservation via the lookup stage.
  void park_until_settlement(Job* job) {
    std::uint64_t seq = 0;
    {
      std::lock_guard lock(deferred_mutex);
      seq = ++deferral_seq;
      deferred_by_team[job->decoded.request.team].emplace(job, seq);
      budget_parked[class_index(job->priority_class)].fetch_add(1, std::memory_order_relaxed);
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(
        io.context(), std::chrono::milliseconds(config.worker.budget_defer_retry_ms));
    timer->async_wait(
        [this, job, seq, timer](const boost::system::error_code&) { retry_deferred(job, seq); });
  }

  // The retry timer of one deferral: retries unless the team's settlement woke it already (the
  // entry is gone, or belongs to a later deferral). `job` is only compared, never touched,
  // until its entry is found.
  void retry_deferred(Job* job, std::uint64_t seq) {
    {
      std::lock_guard lock(deferred_mutex);
      bool found = false;
      for (auto& [team, jobs] : deferred_by_team) {
        auto it = jobs.find(job);
        if (it == jobs.end() || it->second != seq) continue;
        jobs.erase(it);
        found = true;
        break;
      }
      if (!found) return;
      budget_parked[class_index(job->priority_class)].fetch_sub(1, std::memory_order_relaxed);
    }
    to_lookup.push(job);
  }

  // A settlement of `team` released budget: its deferred requests try their reservation now
  // instead of at their next retry (at most once per kDeferWakeMinMs per team, so a large
  // deferred backlog is not re-reserved for every write batch). A settlement inside that interval
  // arms one wake at its end, so the last settlements of a run are never missed.
  void wake_deferred(const std::string& team) {
    std::vector<Job*> woken;
    {
      std::lock_guard lock(deferred_mutex);
      auto it = deferred_by_team.find(team);
      if (it == deferred_by_team.end() || it->second.empty()) return;
      std::int64_t now = steady_ms();
      std::int64_t& last = deferred_woken_at[team];
      if (last != 0 && now - last < kDeferWakeMinMs) {
        if (deferred_wake_armed.insert(team).second) {
          auto timer = std::make_shared<boost::asio::steady_timer>(
              io.context(), std::chrono::milliseconds(kDeferWakeMinMs - (now - last)));
          timer->async_wait([this, team, timer](const boost::system::error_code& ec) {
            if (ec) return;  // stopping
            {
              std::lock_guard lock(deferred_mutex);
              deferred_wake_armed.erase(team);
            }
            wake_deferred(team);
          });
        }
        return;
      }
      last = now;
      for (auto& [job, seq] : it->second) {
        woken.push_back(job);
        budget_parked[class_index(job->priority_class)].fetch_sub(1, std::memory_order_relaxed);
      }
      it->second.clear();
    }
    stats.budget_defer_wakes.fetch_add(woken.size(), std::memory_order_relaxed);
    for (Job* j : woken) to_lookup.push(j);
  }

  // Re-routes an over-budget request to the cheapest tier that has a deployment; false when it
  // is already there (nothing cheaper to try).
  bool downgrade(Job* job) {
    for (const std::string& tier : config.tiers) {
      bool served = std::any_of(config.deployments.begin(), config.deployments.end(),
                                [&tier](const DeploymentConfig& d) { return d.tier == tier; });
      if (!served) continue;
      if (tier == job->route.tier) return false;
      RouteDecision cheaper = router.route_to(
          job->decoded.request, tier, true,
          job->route.reason + "; budget: downgraded from " + job->route.tier + " to " + tier,
          scheduler.cooling_snapshot(steady_ms()));
      if (!cheaper.error.empty()) return false;
      job->route = std::move(cheaper);
      job->result.route.reason = job->route.reason;
      job->downgraded = true;
      stats.budget_downgrades.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  void reject_over_budget(Job* job, Picodollars worst_case) {
    stats.budget_rejections.fetch_add(1, std::memory_order_relaxed);
    const TeamConfig* team = team_budget(job);
    set_error(job, ErrorCode::kBudgetExceeded,
              "team '" + team->name + "' has no " + team->budget_period +
                  "ly budget left for this request (budget $" + format_usd(*team->budget) +
                  ", worst case of this request $" + format_usd(worst_case) + ")");
    finish_to_writer(job);
  }

  void note_store_failure(const char* what, const std::string& error) {
    stats.store_failures.fetch_add(1, std::memory_order_relaxed);
    if (store_healthy.exchange(false)) {
      log()->error("{} failed: {}; intake paused, results kept in memory, retrying every {} ms",
                   what, error, config.postgres.retry_backoff_ms);
    }
  }

  // ---------------- io threads ----------------

  bool past_deadline(const Job* job) const {
    const auto& d = job->decoded.request.deadline_unix_ms;
    return d && wall_ms() >= *d;
  }

  // Picks a deployment for the job now (policy + rate limits), or parks it until one has
  // headroom. Runs on io threads.
  void schedule(Job* job) {
    if (past_deadline(job)) {
      set_error(job, ErrorCode::kDeadlineExceeded,
                "the request's deadline passed before it could be served");
      return finish_to_writer(job);
    }
    ScheduleChoice choice = scheduler.choose(job->decoded.request, job->priority_class, job->route,
                                             team_of(job), job->avoid, steady_ms(), wall_ms());
    using Kind = PolicyDecision::Kind;
    switch (choice.decision.kind) {
      case Kind::kDispatch:
      case Kind::kEscalate:
        job->deployment_index = choice.decision.index;
        job->result.route.reason = job->route.reason + "; " + choice.decision.reason;
        if (!job->history.empty()) job->result.route.reason += "; after " + job->history;
        job->grant = std::move(choice);
        return attempt(job);
      case Kind::kWait:
        return park(job, choice.decision.wait_ms);
      case Kind::kDeadlineExceeded:
        set_error(job, ErrorCode::kDeadlineExceeded, choice.decision.reason);
        return finish_to_writer(job);
      case Kind::kNoCandidate:
        set_error(job, ErrorCode::kNoDeployment, choice.decision.reason);
        return finish_to_writer(job);
    }
  }

  // Waiting work is re-examined in priority order (interactive first, background by age) when
  // the earliest wait ends, so an old background request is never overtaken forever.
  void park(Job* job, std::int64_t wait_ms) {
    stats.waits.fetch_add(1, std::memory_order_relaxed);
    queued_now[class_index(job->priority_class)].fetch_add(1, std::memory_order_relaxed);
    std::int64_t now = steady_ms();
    if (job->waiting_since_ms < 0) job->waiting_since_ms = now;
    std::lock_guard lock(waiting_mutex);
    PriorityClass cls = job->priority_class;
    std::int64_t since = job->waiting_since_ms;
    waiting.push(std::move(job), cls, since, 0);
    std::int64_t due = now + std::max<std::int64_t>(wait_ms, 1);
    if (wake_at_ms == 0 || due < wake_at_ms) {
      wake_at_ms = due;
      wake_timer.expires_after(std::chrono::milliseconds(due - now));
      wake_timer.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) wake_parked();
      });
    }
  }

  void wake_parked() {
    std::vector<Job*> ready;
    {
      std::lock_guard lock(waiting_mutex);
      wake_at_ms = 0;
      while (!waiting.empty()) ready.push_back(waiting.pop());
    }
    for (Job* j : ready) {
      queued_now[class_index(j->priority_class)].fetch_sub(1, std::memory_order_relaxed);
      schedule(j);
    }
  }

  void attempt(Job* job) {
    const DeploymentConfig* d = &config.deployments[job->deployment_index];
    HttpRequest http_request =
        build_provider_request(job->decoded.request, *d, api_keys[job->deployment_index]);
    http_request.connect_timeout_ms = config.http.connect_timeout_ms;
    http_request.first_byte_timeout_ms = config.http.first_byte_timeout_ms;
    http_request.total_timeout_ms = config.http.request_timeout_ms;
    if (const auto& deadline = job->decoded.request.deadline_unix_ms) {
      auto left = *deadline - wall_ms();
      if (left < http_request.total_timeout_ms)
        http_request.total_timeout_ms = static_cast<int>(std::max<std::int64_t>(left, 1));
    }
    ++job->attempt;
    stats.provider_calls.fetch_add(1, std::memory_order_relaxed);
    job->provider_started = Clock::now();
    if (job->first_attempt_ms < 0) job->first_attempt_ms = steady_ms();
    if (job->attempt == 1) {
      job->dispatched = job->provider_started;
      stats.dispatch_overhead.record_us(micros_between(job->fetched, job->dispatched));
    }
    http->send(std::move(http_request),
               [this, job, d](HttpResponse response) { on_response(job, d, std::move(response)); });
  }

  void on_response(Job* job, const DeploymentConfig* d, HttpResponse response) {
    job->responded = Clock::now();
    job->provider_ms += micros_between(job->provider_started, job->responded) / 1000;
    const std::size_t index = job->deployment_index;
    ProviderOutcome outcome = parse_provider_response(*d, response, api_keys[index]);
    ResponseEffects effects = scheduler.on_response(
        index, job->grant, team_of(job), outcome, response,
        micros_between(job->provider_started, job->responded) / 1000, steady_ms());
    note_effects(*d, effects, outcome);
    const DeploymentSeries& series = deployment_series[index];
    const double seconds =
        static_cast<double>(micros_between(job->provider_started, job->responded)) / 1e6;
    const bool answered =
        outcome.kind == OutcomeKind::kOk || outcome.kind == OutcomeKind::kContentFiltered;
    (answered ? series.duration_ok : series.duration_failed)->observe(seconds);
    if (answered) {
      series.tokens_in->observe(static_cast<double>(outcome.usage.input_tokens));
      series.tokens_out->observe(static_cast<double>(outcome.usage.output_tokens));
    }
    auto& r = job->result;
    r.route.tier = d->tier;
    r.route.deployment = d->name;
    r.route.model = d->model;
    r.route.provider = to_string(d->provider);
    r.attempts = job->attempt;
    if (outcome.kind == OutcomeKind::kOk || outcome.kind == OutcomeKind::kContentFiltered) {
      // A billed call: the provider returned usage, whatever the outcome.
      Picodollars cost = billed_cost(*d, outcome.usage);
      series.cost->inc(static_cast<std::uint64_t>(std::max<Picodollars>(cost, 0)));
      job->ledger.push_back(
          {job->attempt, d->name, d->model, d->tier, to_string(d->provider), outcome.usage, cost});
      r.usage += outcome.usage;
      r.cost += cost;
      if (outcome.kind == OutcomeKind::kOk) {
        r.content = std::move(outcome.content);
        r.finish_reason = std::move(outcome.finish_reason);
        r.error = ErrorCode::kNone;
      } else {
        set_error(job, ErrorCode::kContentFiltered,
                  "the provider's content filter stopped the request or the completion");
      }
      return finish_to_writer(job);
    }
    const std::string what = outcome.error_message.empty()
                                 ? "HTTP " + std::to_string(outcome.http_status)
                                 : outcome.error_message;
    job->history += (job->history.empty() ? "" : "; ") + d->name + ": " + short_reason(outcome);
    // What each error class does (issue 4): content filter (above) and malformed answers end
    // the request; 429 moves to another deployment or waits Retry-After (the limiter knows);
    // 5xx/timeouts retry with backoff, elsewhere first; 401/403 disable the deployment; a
    // prompt too long for it moves to a larger one.
    bool counts_as_failure = true;
    switch (outcome.kind) {
      case OutcomeKind::kRateLimited:
        counts_as_failure = false;
        ++job->rate_limited;
        break;
      case OutcomeKind::kContextTooLong:
        job->min_context = std::max(job->min_context, d->context_window + 1);
        break;
      case OutcomeKind::kRetryable:
      case OutcomeKind::kAuth:
        break;
      default:
        set_error(job, ErrorCode::kProviderError,
                  "deployment " + d->name + ": " + what + " (not retried)");
        return finish_to_writer(job);
    }
    if (std::find(job->avoid.begin(), job->avoid.end(), index) == job->avoid.end())
      job->avoid.push_back(index);
    if (counts_as_failure) ++job->failures;
    std::string stop_reason;
    if (stop_requested.load()) {
      stop_reason = "the worker is stopping";
    } else if (job->failures >= config.http.max_attempts) {
      stop_reason = std::to_string(job->failures) + " failed attempts (http.max_attempts)";
    } else if (job->rate_limited > config.http.max_rate_limited_attempts) {
      stop_reason = std::to_string(job->rate_limited) +
                    " rate-limited answers (http.max_rate_limited_attempts)";
    } else if (steady_ms() - job->first_attempt_ms >= config.http.request_deadline_ms) {
      stop_reason = "http.request_deadline_ms passed";
    } else if (!refit_route(job)) {
      stop_reason = outcome.kind == OutcomeKind::kContextTooLong
                        ? "no deployment with a larger context window is left to try"
                        : "no usable deployment is left to try";
    }
    if (!stop_reason.empty()) {
      ErrorCode code = outcome.kind == OutcomeKind::kRateLimited ? ErrorCode::kRateLimited
                                                                 : ErrorCode::kProviderError;
      set_error(job, code,
                "deployment " + d->name + ": " + what + " (after " + std::to_string(job->attempt) +
                    " attempts; " + stop_reason + ")");
      return finish_to_writer(job);
    }
    stats.provider_retries.fetch_add(1, std::memory_order_relaxed);
    // Another deployment not yet tried goes at once (a 429's Retry-After is in the limiter, an
    // open breaker in the scheduler: both make schedule() wait when nothing else is ready);
    // the same one again after an exponential backoff with full jitter.
    const bool elsewhere = std::any_of(
        job->route.candidates.begin(), job->route.candidates.end(), [&](const DeploymentConfig* c) {
          auto i = static_cast<std::size_t>(c - config.deployments.data());
          return std::find(job->avoid.begin(), job->avoid.end(), i) == job->avoid.end() &&
                 scheduler.usable(i);
        });
    if (elsewhere) {
      boost::asio::post(io.context(), [this, job] { schedule(job); });
      return;
    }
    std::int64_t delay_ms = backoff_ms(job->failures + job->rate_limited, outcome.retry_after_ms);
    auto timer = std::make_shared<boost::asio::steady_timer>(io.context(),
                                                             std::chrono::milliseconds(delay_ms));
    timer->async_wait([this, job, timer](const boost::system::error_code&) { schedule(job); });
  }

  static std::string short_reason(const ProviderOutcome& o) {
    switch (o.kind) {
      case OutcomeKind::kRateLimited:
        return "429";
      case OutcomeKind::kContextTooLong:
        return "context too long";
      case OutcomeKind::kAuth:
        return "HTTP " + std::to_string(o.http_status) + " (auth)";
      default:
        return o.http_status ? "HTTP " + std::to_string(o.http_status) : "transport error";
    }
  }

  // Keeps the route's candidates that can still serve the request (large enough context, usable)
  // and, when every one of them has failed it, extends the route along the tier chain
  // (routing.fallback_tiers) one tier at a time. False when nothing is left to try.
  bool refit_route(Job* job) {
    auto& cs = job->route.candidates;
    auto fits = [&](const DeploymentConfig& d) {
      auto i = static_cast<std::size_t>(&d - config.deployments.data());
      const auto& req = job->decoded.request;
      const TeamConfig* team = team_of(job);
      return d.context_window >= job->min_context && scheduler.usable(i) &&
             (req.region.empty() || d.region == req.region) && (!team || team_may_use(*team, d));
    };
    cs.erase(
        std::remove_if(cs.begin(), cs.end(), [&](const DeploymentConfig* d) { return !fits(*d); }),
        cs.end());
    auto untried = [&] {
      return std::any_of(cs.begin(), cs.end(), [&](const DeploymentConfig* d) {
        auto i = static_cast<std::size_t>(d - config.deployments.data());
        return std::find(job->avoid.begin(), job->avoid.end(), i) == job->avoid.end();
      });
    };
    const std::vector<std::string> chain = config.fallback_chain(job->route.tier);
    while (!untried() && job->chain_next < chain.size()) {
      const std::string& tier = chain[job->chain_next++];
      std::size_t added = 0;
      for (const DeploymentConfig& d : config.deployments) {
        if (d.tier == tier && fits(d) && std::find(cs.begin(), cs.end(), &d) == cs.end()) {
          cs.push_back(&d);
          ++added;
        }
      }
      if (added) {
        job->route.reason += "; fallback to tier " + tier;
        stats.fallbacks.fetch_add(1, std::memory_order_relaxed);
      }
    }
    return !cs.empty();
  }

  // Logs and counts what a provider answer did to its deployment.
  void note_effects(const DeploymentConfig& d, const ResponseEffects& e,
                    const ProviderOutcome& outcome) {
    if (e.disabled) {
      stats.deployments_disabled.fetch_add(1, std::memory_order_relaxed);
      if (outcome.http_status == 0) {
        log()->error(
            "deployment {}: {}: DISABLED, it gets no more traffic until the worker restarts; "
            "check its api_base and certificate, or http.ca_file",
            d.name, outcome.error_message);
      } else {
        log()->error(
            "deployment {} answered HTTP {} ({}): DISABLED, it gets no more traffic until the "
            "worker restarts; check the key in ${} and the account's access to model {}",
            d.name, outcome.http_status, outcome.error_message, d.api_key_env, d.model);
      }
    }
    if (e.breaker_opened) {
      stats.breaker_opens.fetch_add(1, std::memory_order_relaxed);
      log()->warn("deployment {}: circuit breaker open for {} ms after repeated failures ({})",
                  d.name, e.open_ms,
                  outcome.error_message.empty() ? "HTTP " + std::to_string(outcome.http_status)
                                                : outcome.error_message);
    }
    if (e.breaker_closed)
      log()->info("deployment {}: probe succeeded, circuit breaker closed", d.name);
  }

  std::int64_t backoff_ms(int attempt_number, std::int64_t retry_after_ms) {
    // Exponential backoff with full jitter, honouring the provider's Retry-After when longer.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::int64_t cap = std::min<std::int64_t>(config.http.retry_max_ms,
                                              static_cast<std::int64_t>(config.http.retry_base_ms)
                                                  << std::min(attempt_number, 20));
    std::int64_t jittered = cap > 0 ? std::uniform_int_distribution<std::int64_t>(0, cap)(rng) : 0;
    return std::max(jittered, std::min<std::int64_t>(retry_after_ms, config.http.retry_max_ms));
  }

  void set_error(Job* job, ErrorCode code, std::string message) {
    job->result.error = code;
    job->result.error_message = std::move(message);
    job->result.content.clear();
    job->result.finish_reason.clear();
  }

  void finish_to_writer(Job* job) {
    if (job->responded == Clock::time_point{}) job->responded = Clock::now();
    if (log()->should_log(spdlog::level::debug)) {
      log()->debug("request finished: {} after {} attempt(s){}",
                   job->result.error == ErrorCode::kNone ? "ok" : to_string(job->result.error),
                   job->attempt, fields_of(job));
    }
    to_writer.push(job);
  }

  // The fields every per-request log line carries: the request, where it came from in Kafka and
  // the deployment of its last attempt (none before the first).
  LogFields fields_of(const Job* job) const {
    std::string_view deployment =
        job->attempt > 0 ? std::string_view(config.deployments[job->deployment_index].name)
                         : std::string_view();
    return LogFields{{"request_id", std::string_view(job->decoded.request.request_id)},
                     {"deployment", deployment},
                     {"topic", std::string_view(job->tp.topic)},
                     {"partition", static_cast<std::int64_t>(job->tp.partition)},
                     {"offset", job->offset}};
  }

  // ---------------- writer thread ----------------

  void fill_result(Job* job) {
    job->filled = true;
    auto& r = job->result;
    const auto& req = job->decoded.request;
    r.request_id = req.request_id;
    r.team = req.team;
    r.metadata_json = req.metadata_json;
    if (r.route.priority_class.empty()) r.route.priority_class = to_string(job->priority_class);
    std::int64_t now = wall_ms();
    std::int64_t enqueued = job->kafka_timestamp_ms > 0 ? job->kafka_timestamp_ms : now;
    r.queued_ms = std::max<std::int64_t>(
        0, now - enqueued - micros_between(job->fetched, Clock::now()) / 1000);
    r.provider_ms = job->provider_ms;
    r.total_ms = std::max<std::int64_t>(0, now - enqueued);
    requests_counter(job).inc();
    if (r.ok()) {
      stats.results_ok.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats.results_error.fetch_add(1, std::memory_order_relaxed);
    }
    encode_result(r, job->result_json);
  }

  void writer_loop() {
    auto store = make_postgres_store(config.postgres_url());
    std::vector<Job*> jobs;
    std::vector<Job*> deferred;
    std::vector<TerminalRecord> records;
    std::vector<WriteOutcome> outcomes;
    std::vector<std::size_t> settled_teams;  // indexes into config.teams
    const auto max_rows = static_cast<std::size_t>(config.postgres.batch_max_rows);
    while (!threads_stop.load() || to_writer.size() > 0) {
      jobs.swap(deferred);
      deferred.clear();
      if (jobs.size() < max_rows)
        to_writer.take(jobs, max_rows - jobs.size(),
                       std::chrono::milliseconds(jobs.empty() ? 100 : 0));
      if (jobs.empty()) continue;
      // A request id appears at most once per statement; a second copy waits for the next one.
      std::unordered_map<std::string_view, bool> seen;
      records.clear();
      std::vector<Job*> batch;
      for (Job* j : jobs) {
        if (!j->filled) fill_result(j);
        if (!seen.emplace(j->result.request_id, true).second) {
          deferred.push_back(j);
          continue;
        }
        TerminalRecord rec;
        rec.result = &j->result;
        rec.result_json = j->result_json;
        rec.source_topic = j->tp.topic;
        rec.source_partition = j->tp.partition;
        rec.source_offset = j->offset;
        rec.ledger = j->ledger;
        records.push_back(std::move(rec));
        batch.push_back(j);
      }
      std::string error;
      auto started = Clock::now();
      while (!store->write_terminal(records, outcomes, error)) {
        note_store_failure("writing results", error);
        // Past the drain deadline: give up; these offsets stay uncommitted and are redelivered.
        if (threads_stop.load()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(config.postgres.retry_backoff_ms));
        error.clear();
      }
      stats.write_transaction.record_us(micros_between(started, Clock::now()));
      stats.write_batch_rows.record_us(static_cast<std::int64_t>(records.size()));
      if (!store_healthy.exchange(true)) log()->info("postgres reachable again; intake resumes");
      // Settled reservations released budget: parked requests of those teams retry now. Every
      // settlement wakes (not only while something is parked): the budget stage may be parking
      // a request right now, and it relies on the wake that follows the settlement count.
      // Requests that held no reservation (refused ones) released nothing and wake nobody.
      settled_teams.clear();
      for (Job* j : batch) {
        const TeamConfig* team = team_budget(j);
        if (!team || j->reserved_pico == 0) continue;
        const auto t = static_cast<std::size_t>(team - config.teams.data());
        team_reserved_pico[t].fetch_sub(j->reserved_pico, std::memory_order_relaxed);
        team_settlements[t].fetch_add(1, std::memory_order_release);
        j->reserved_pico = 0;
        settled_teams.push_back(t);
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        Job* j = batch[i];
        if (!outcomes[i].inserted) {
          // Another delivery of this request stored its result first: that one is the truth.
          stats.write_conflicts.fetch_add(1, std::memory_order_relaxed);
          if (!outcomes[i].stored_result_json.empty())
            j->result_json = std::move(outcomes[i].stored_result_json);
        }
        produce_result(j);
      }
      std::sort(settled_teams.begin(), settled_teams.end());
      settled_teams.erase(std::unique(settled_teams.begin(), settled_teams.end()),
                          settled_teams.end());
      for (std::size_t t : settled_teams) wake_deferred(config.teams[t].name);
    }
  }

  void produce_result(Job* job) {
    const std::string& key = job->decoded.request.request_id;
    if (auto err = producer->produce(job->out_topic, key, job->result_json, {}, result_tag(job));
        !err.empty()) {
      log()->error("cannot queue result: {}{}", err, fields_of(job));
      produce_retries.push({job, false});
    }
  }

  // ---------------- delivery thread ----------------

  void on_delivery(void* tag, const char* error) {
    bool is_dlq = false;
    Job* job = job_of(tag, is_dlq);
    if (error) {
      // librdkafka already retried within message.timeout.ms; never drop: produce it again.
      stats.produce_failures.fetch_add(1, std::memory_order_relaxed);
      log()->warn("delivery of {} failed: {}; producing it again{}",
                  is_dlq ? "DLQ record" : "result", error, fields_of(job));
      produce_retries.push({job, is_dlq});
      return;
    }
    if (!is_dlq) stats.result_overhead.record_us(micros_between(job->responded, Clock::now()));
    if (job->acks_pending.fetch_sub(1) == 1) completions.push(job);
  }

  void delivery_loop() {
    std::vector<std::pair<Job*, bool>> retries;
    while (!threads_stop.load()) {
      producer->poll(50);
      retries.clear();
      produce_retries.take(retries, SIZE_MAX, std::chrono::milliseconds(0));
      for (auto [job, is_dlq] : retries) {
        if (is_dlq) {
          produce_dlq(job);
        } else {
          produce_result(job);
        }
      }
    }
  }
};

Worker::Worker(Config config) : config_(std::move(config)) {}
Worker::~Worker() = default;

int Worker::run() {
  impl_ = std::make_unique<Impl>(config_, stats_, stop_requested_);
  return impl_->run();
}

std::string WorkerStats::to_json() const {
  auto n = [](const std::atomic<std::uint64_t>& v) { return std::to_string(v.load()); };
  auto h = [](const LatencyHistogram& hist) {
    return "{\"count\":" + std::to_string(hist.count()) +
           ",\"p50_us\":" + std::to_string(hist.percentile_us(0.5)) +
           ",\"p99_us\":" + std::to_string(hist.percentile_us(0.99)) +
           ",\"max_us\":" + std::to_string(hist.max_us()) + "}";
  };
  return "{\"consumed\":" + n(consumed) + ",\"completed\":" + n(completed) + ",\"dlq\":" + n(dlq) +
         ",\"invalid\":" + n(invalid) + ",\"redelivered_terminal\":" + n(redelivered_terminal) +
         ",\"in_flight_duplicates\":" + n(in_flight_duplicates) +
         ",\"budget_rejections\":" + n(budget_rejections) +
         ",\"budget_downgrades\":" + n(budget_downgrades) +
         ",\"budget_deferrals\":" + n(budget_deferrals) +
         ",\"budget_defer_wakes\":" + n(budget_defer_wakes) +
         ",\"budget_settlement_waits\":" + n(budget_settlement_waits) +
         ",\"fallbacks\":" + n(fallbacks) + ",\"breaker_opens\":" + n(breaker_opens) +
         ",\"deployments_disabled\":" + n(deployments_disabled) +
         ",\"budget_soft_crossings\":" + n(budget_soft_crossings) + ",\"waits\":" + n(waits) +
         ",\"provider_calls\":" + n(provider_calls) +
         ",\"provider_retries\":" + n(provider_retries) + ",\"results_ok\":" + n(results_ok) +
         ",\"results_error\":" + n(results_error) + ",\"write_conflicts\":" + n(write_conflicts) +
         ",\"store_failures\":" + n(store_failures) +
         ",\"produce_failures\":" + n(produce_failures) + ",\"offset_resets\":" + n(offset_resets) +
         ",\"pauses\":" + n(pauses) + ",\"commits\":" + n(commits) +
         ",\"dispatch_overhead\":" + h(dispatch_overhead) +
         ",\"result_overhead\":" + h(result_overhead) + ",\"end_to_end\":" + h(end_to_end) +
         ",\"lookup_query\":" + h(lookup_query) + ",\"write_transaction\":" + h(write_transaction) +
         ",\"write_batch_rows\":" + h(write_batch_rows) + "}";
}

}  // namespace switchyard
