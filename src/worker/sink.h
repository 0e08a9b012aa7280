#pragma once
// Sink stage: a request's terminal state becomes durable. It fills the result (timings, metrics),
// writes a batch of results in one Postgres statement (requests rows + ledger rows + budget
// settlement, skipping ids already terminal), releases the batch's reservations in the budget
// gate, then produces the result events (delivery stage).
//
// Threading: finish() from any stage's thread; write_batch() and run_once() on the writer thread
// only, with that thread's store. Ownership: a Job handed to finish() belongs to the sink until
// it is handed to delivery (produce_result).
//
// Failures: a failed statement is retried every postgres.retry_backoff_ms with intake paused
// (StoreHealth) and the batch kept in memory; past stop (the drain deadline) the sink gives up
// and the offsets stay uncommitted, to be redelivered. A result another delivery stored first
// is replaced by the stored one (that one is the truth) and counted as a write conflict.
#include <atomic>
#include <span>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "switchyard/budget/budget_gate.h"
#include "switchyard/common/clock.h"
#include "switchyard/store/store.h"
#include "switchyard/worker/worker.h"
#include "worker/delivery.h"
#include "worker/hand_off.h"
#include "worker/job.h"
#include "worker/stage_context.h"
#include "worker/store_health.h"
#include "worker/worker_metrics.h"

namespace switchyard {

class Sink {
 public:
  Sink(const StageContext& ctx, BudgetGate& gate, Delivery& delivery, HandOff<Job*>& to_lookup);

  // The request's outcome is final: queue it for the next write.
  void finish(Job* job);

  // One statement for `jobs` (a request id at most once: later copies are moved to `deferred`
  // for the next statement). Returns false only when `stop` was set while the store failed:
  // the batch is then abandoned, unacknowledged.
  bool write_batch(RequestStore& store, std::vector<Job*>& jobs, std::vector<Job*>& deferred,
                   const std::atomic<bool>& stop);

  // The writer thread's loop body: takes queued jobs (waiting up to 100 ms) and writes them.
  // False when it gave up (stopping).
  bool run_once(RequestStore& store, const std::atomic<bool>& stop);
  std::size_t queued() const { return queue_.size(); }
  void close() { queue_.close(); }

 private:
  void fill_result(Job* job);
  // One statement for `jobs`, retried through outages; when Postgres rejects the data itself the
  // jobs are halved until each offending one is alone and stored as an error row instead.
  bool write_rows(RequestStore& store, std::span<Job* const> jobs, const std::atomic<bool>& stop);

  const StageContext& ctx_;
  BudgetGate& gate_;
  Delivery& delivery_;
  HandOff<Job*>& to_lookup_;
  HandOff<Job*> queue_;
  // Writer thread only: reused across batches.
  std::vector<Job*> jobs_, carried_, batch_;
  std::vector<BudgetClaim*> claims_, woken_;
  std::vector<WriteOutcome> outcomes_;
  std::unordered_set<RequestKey, RequestKeyHash> seen_;  // (team, request_id) in a batch
};

}  // namespace switchyard
