#pragma once
// Dedupe stage: a request already terminal in Postgres is never sent to a provider again; its
// stored result is produced again instead. The others are routed (dispatch) and go on to the
// budget stage (teams with a budget) or straight to scheduling. One lookup statement per batch of
// up to kLookupBatchMax fetched events, keyed by (team, request_id). The same request fetched
// twice while in flight is caught earlier, by intake.
//
// Threading: submit() from intake (poll thread) and from the sink and budget stage (parked work
// woken by a settlement); run_once() on the lookup thread, with its store. Ownership: a Job
// submitted here belongs to dedupe until it is handed to delivery (re-emit), the sink (no route),
// the budget stage or dispatch.
//
// Failures: the lookup statement failing is transient (retried every postgres.retry_backoff_ms,
// intake paused, logged once per outage, counted each time).
#include <atomic>
#include <string>
#include <vector>

#include "switchyard/budget/budget_gate.h"
#include "switchyard/common/clock.h"
#include "worker/budget_stage.h"
#include "worker/delivery.h"
#include "worker/dispatch.h"
#include "worker/hand_off.h"
#include "worker/job.h"
#include "worker/stage_context.h"
#include "worker/store_health.h"

namespace switchyard {

class Dedupe {
 public:
  // Lookups per Postgres round trip: big enough to amortise the round trip, small enough that a
  // burst of fetched events reaches providers in steps, not all at once.
  static constexpr std::size_t kLookupBatchMax = 1000;

  Dedupe(const StageContext& ctx, BudgetGate& gate, BudgetStage& budget, Dispatch& dispatch,
         Delivery& delivery, HandOff<Job*>& queue);

  // Waits up to 100 ms (less when parked budget work is due) for jobs and processes one batch.
  // False only when `stop` was set while the store failed.
  bool run_once(RequestStore& store, const std::atomic<bool>& stop);

 private:
  const StageContext& ctx_;
  BudgetGate& gate_;
  BudgetStage& budget_;
  Dispatch& dispatch_;
  Delivery& delivery_;
  HandOff<Job*>& queue_;
  // Lookup thread only: reused across batches.
  std::vector<Job*> jobs_, budgeted_;
  std::vector<BudgetClaim*> due_;
  std::vector<RequestKey> keys_;     // (team, request_id) of jobs_
  std::vector<std::string> stored_;  // stored result per key, empty when not terminal
};

}  // namespace switchyard
