#pragma once
// The worker: Kafka -> decode -> dedupe -> budget -> schedule -> provider call -> Postgres +
// results topic -> offset commit. Each stage is a file of src/worker/ (docs/ARCHITECTURE.md has
// the path of one request through them, their threads and their failures); this class wires them
// and owns the lifecycle.
//
// Threads (no thread per request):
//   poll thread     (run()'s caller) intake: poll, decode, DLQ, offsets, commits, pause/resume
//   lookup thread   dedupe queries, the budget gate's reservations, fleet heartbeat and upkeep
//   io pool         schedule and provider calls as coroutines, waits and retries on timers
//   writer thread   the sink: batched Postgres statements, then the result events
//   delivery thread delivery reports; hands finished work back to intake
// Hand-offs are bounded by worker.max_in_flight: past it intake pauses.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "switchyard/common/clock.h"
#include "switchyard/common/histogram.h"
#include "switchyard/common/metrics.h"
#include "switchyard/config/config.h"
#include "switchyard/kafka/record_io.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/store/store.h"

namespace switchyard {

// Counters and latency figures of one worker. The counters live in the worker's metrics
// registry (the one /metrics exposes), as switchyard_worker_events_total{event="<field name>"};
// --stats-file writes the same values, with the latency figures, as JSON. Every field is safe to
// use from any thread.
struct WorkerStats {
  explicit WorkerStats(MetricsRegistry& registry);

  Counter& consumed;
  Counter& completed;             // offsets finished (result durable and acked)
  Counter& dlq;                   // events sent to the DLQ
  Counter& invalid;               // readable but invalid: error result + DLQ
  Counter& redelivered_terminal;  // already terminal: stored result re-emitted
  Counter& in_flight_duplicates;  // same (team, request_id) already in flight here
  Counter& signatures_valid;      // signed events whose signature verified
  Counter& signatures_refused;    // events of a signing team, unsigned or badly signed: refused
  Counter& unsigned_accepted;     // unsigned events of a team with require_signature: false
  Counter& budget_rejections;     // budget_exceeded results
  Counter& budget_deferrals;      // background work deferred for budget
  Counter& budget_defer_wakes;    // parked work retried early by a settlement
  // refused by a budget that has room once this worker's own reservations of the team settle:
  // waited for the settlement instead of applying the team's policy
  Counter& budget_settlement_waits;
  Counter& fallbacks;               // routes extended along the tier chain
  Counter& breaker_opens;           // circuit breakers opened (or re-opened)
  Counter& deployments_disabled;    // deployments disabled after 401/403 or a bad certificate
  Counter& budget_soft_crossings;   // soft budgets crossed
  Counter& budget_downgrades;       // moved to the cheapest tier by a budget
  Counter& reservations_reclaimed;  // budget reservations of gone workers released
  Counter& waits;                   // times a request waited for rate-limit headroom
  Counter& plans;                   // background plans made (routing.background_planner)
  Counter& plan_unplannable;        // planned requests no window could serve before the deadline
  Counter& concurrency_waits;       // calls queued for a place under a deployment's concurrency
  Counter& provider_calls;
  Counter& provider_retries;
  Counter& usage_estimated;  // answers without usage, billed on an estimate (ledger row marked)
  Counter& results_ok;
  Counter& results_error;
  Counter& results_truncated;  // result events over the record limit, replaced by a bounded one
  Counter& write_conflicts;    // another delivery had already stored the result
  Counter& rows_rejected;      // statements Postgres refused for their data (split to find rows)
  Counter& store_failures;     // Postgres statements that failed (each retry counts)
  Counter& produce_failures;   // records that could not be queued or delivered (produced again)
  Counter& offset_resets;      // fetch positions out of range (records trimmed before processing)
  Counter& offsets_skipped;    // offsets lost to those resets, where the count is known
  Counter& pauses;             // intake pauses (either class)
  Counter& commits;
  LatencyHistogram dispatch_overhead;  // fetched -> HTTP request handed to the client
  LatencyHistogram result_overhead;    // response read -> durable in Postgres and acked by Kafka
  LatencyHistogram end_to_end;         // fetched -> acked
  LatencyHistogram lookup_query;       // one dedupe lookup round trip to Postgres
  LatencyHistogram write_transaction;  // one batch write transaction, commit included
  LatencyHistogram write_batch_rows;   // rows per batch write (a count, not microseconds)
  LatencyHistogram plan_duration;      // one background plan (routing.background_planner)

  std::string to_json() const;
};

// The worker's I/O edges, made when run() starts. production_seams() gives librdkafka, Postgres,
// the Beast HTTP client and the system clock; tests give fakes to the second constructor.
struct WorkerSeams {
  std::function<std::unique_ptr<RecordConsumer>(RebalanceListener*)> make_consumer;
  std::function<std::unique_ptr<RecordProducer>(DeliveryHandler)> make_producer;
  // Called once per thread that talks to Postgres (the lookup and writer threads): each store
  // owns its connection.
  std::function<std::unique_ptr<RequestStore>()> make_store;
  std::function<std::unique_ptr<HttpClient>(IoPool&)> make_http;
  const Clock* clock = nullptr;
};
// `config` must outlive the seams (they read it when called).
WorkerSeams production_seams(const Config& config);

class Worker {
 public:
  explicit Worker(Config config);
  // Visible for testing: the same worker over the given seams.
  Worker(Config config, WorkerSeams seams);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until request_stop(), then drains (up to worker.shutdown_drain_ms), commits and leaves
  // the group. Returns a process exit code. Throws std::runtime_error on start-up failures.
  int run();
  // Safe from any thread and from a signal handler (sets an atomic flag only).
  void request_stop() { stop_requested_.store(true, std::memory_order_relaxed); }

  const WorkerStats& stats() const { return stats_; }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  struct Impl;
  Config config_;
  WorkerSeams seams_;  // reads config_
  MetricsRegistry metrics_;
  WorkerStats stats_;  // after metrics_: its counters live there
  std::atomic<bool> stop_requested_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
