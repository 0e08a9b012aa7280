#pragma once
// The worker: Kafka -> decode -> dedupe -> route -> provider -> Postgres + results topic ->
// offset commit. See docs in README.md ("Path of one request").
//
// Threads (no thread per request):
//   poll thread   (run()'s caller) consumer poll, decode, offset tracking, commits, pause/resume
//   lookup thread dedupe queries against Postgres, one per batch of fetched events
//   io pool       HTTP calls to providers as coroutines, retries on timers
//   writer thread batched Postgres transactions, then produces result events
//   delivery thread serves the producer's delivery reports and hands finished work back
// Hand-offs are bounded by worker.max_in_flight: past it every partition is paused.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "switchyard/common/histogram.h"
#include "switchyard/config/config.h"

namespace switchyard {

// Counters and latency figures of one worker. Every field is safe to read from any thread.
struct WorkerStats {
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<std::uint64_t> completed{0};  // offsets finished (result durable and acked)
  std::atomic<std::uint64_t> dlq{0};        // events sent to the DLQ
  std::atomic<std::uint64_t> invalid{0};    // readable but invalid: error result + DLQ
  std::atomic<std::uint64_t> redelivered_terminal{0};  // already terminal: stored result re-emitted
  std::atomic<std::uint64_t> in_flight_duplicates{0};  // same request_id already in flight here
  std::atomic<std::uint64_t> budget_rejections{0};     // budget_exceeded results
  std::atomic<std::uint64_t> budget_deferrals{0};      // background work deferred for budget
  std::atomic<std::uint64_t> budget_defer_wakes{0};  // deferred work retried early by a settlement
  // refused by a budget that has room once this worker's own reservations of the team settle:
  // waited for the settlement instead of applying the team's policy
  std::atomic<std::uint64_t> budget_settlement_waits{0};
  std::atomic<std::uint64_t> fallbacks{0};              // routes extended along the tier chain
  std::atomic<std::uint64_t> breaker_opens{0};          // circuit breakers opened (or re-opened)
  std::atomic<std::uint64_t> deployments_disabled{0};   // deployments disabled after 401/403
  std::atomic<std::uint64_t> budget_soft_crossings{0};  // soft budgets crossed
  std::atomic<std::uint64_t> budget_downgrades{0};      // moved to the cheapest tier by a budget
  std::atomic<std::uint64_t> waits{0};  // times a request waited for rate-limit headroom
  std::atomic<std::uint64_t> provider_calls{0};
  std::atomic<std::uint64_t> provider_retries{0};
  std::atomic<std::uint64_t> results_ok{0};
  std::atomic<std::uint64_t> results_error{0};
  std::atomic<std::uint64_t> write_conflicts{0};  // another delivery had already stored the result
  std::atomic<std::uint64_t> store_failures{0};
  std::atomic<std::uint64_t> produce_failures{0};
  std::atomic<std::uint64_t> offset_resets{0};
  std::atomic<std::uint64_t> pauses{0};
  std::atomic<std::uint64_t> commits{0};
  LatencyHistogram dispatch_overhead;  // fetched -> HTTP request handed to the client
  LatencyHistogram result_overhead;    // response read -> durable in Postgres and acked by Kafka
  LatencyHistogram end_to_end;         // fetched -> acked
  LatencyHistogram lookup_query;       // one dedupe lookup round trip to Postgres
  LatencyHistogram write_transaction;  // one batch write transaction, commit included
  LatencyHistogram write_batch_rows;   // rows per batch write (a count, not microseconds)

  std::string to_json() const;
};

class Worker {
 public:
  explicit Worker(Config config);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until request_stop(), then drains (up to worker.shutdown_drain_ms), commits and leaves
  // the group. Returns a process exit code. Throws std::runtime_error on start-up failures.
  int run();
  // Safe from any thread and from a signal handler (sets an atomic flag only).
  void request_stop() { stop_requested_.store(true, std::memory_order_relaxed); }

  const WorkerStats& stats() const { return stats_; }

 private:
  struct Impl;
  Config config_;
  WorkerStats stats_;
  std::atomic<bool> stop_requested_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
