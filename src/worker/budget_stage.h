#pragma once
// Budget stage: requests of teams with a hard budget pass the budget gate (budget/budget_gate.h)
// before they are scheduled, and the team's BudgetPolicy decides what happens to one the budget
// cannot pay for: reject (budget_exceeded), downgrade (the cheapest tier, then reserve again) or
// defer (background work parks in the gate until budget frees up or worker.budget_max_defer_ms
// passes). Soft budgets refuse nothing: crossing one is logged and counted.
//
// Threading: lookup thread only (it runs the reservation statement on the lookup thread's store).
// Ownership: an admitted Job goes to dispatch; a refused one to the sink; a parked one stays in
// the gate until a settlement or its retry time hands it back to dedupe (and so here again).
//
// Failures: the reservation statement failing is transient (retried every
// postgres.retry_backoff_ms, intake paused); a request over budget is deterministic
// (budget_exceeded now, with the budget and the request's worst case in the message).
#include <atomic>
#include <vector>

#include "switchyard/budget/budget_gate.h"
#include "switchyard/common/clock.h"
#include "worker/dispatch.h"
#include "worker/hand_off.h"
#include "worker/job.h"
#include "worker/sink.h"
#include "worker/stage_context.h"
#include "worker/store_health.h"

namespace switchyard {

class BudgetStage {
 public:
  BudgetStage(const StageContext& ctx, BudgetGate& gate, Dispatch& dispatch, Sink& sink,
              HandOff<Job*>& to_lookup);

  // Whether the job's team has a budget (and so must pass the gate); fills the job's claim.
  bool needs_budget(Job* job) const;

  // Reserves every job's worst case in one statement and applies the outcome. False only when
  // `stop` was set while the store failed (the jobs stay unfinished and are redelivered).
  bool admit(RequestStore& store, const std::vector<Job*>& jobs, const std::atomic<bool>& stop);

  // The most the request can cost on any deployment its route may try: estimated input tokens
  // plus the output cap sent to that deployment (output_cap: max_tokens, else its
  // default_max_tokens) at its prices.
  Picodollars worst_case_cost(const Job* job) const;

 private:
  void reject(Job* job);
  void note_soft_budget(const TeamConfig& team, const BudgetAnswerForClaim& answer);

  const StageContext& ctx_;
  BudgetGate& gate_;
  Dispatch& dispatch_;
  Sink& sink_;
  HandOff<Job*>& to_lookup_;
};

}  // namespace switchyard
