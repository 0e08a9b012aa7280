#include "worker/dedupe.h"

#include <algorithm>
#include <thread>

namespace switchyard {

Dedupe::Dedupe(const StageContext& ctx, BudgetGate& gate, BudgetStage& budget, Dispatch& dispatch,
               Delivery& delivery, HandOff<Job*>& queue)
    : ctx_(ctx),
      gate_(gate),
      budget_(budget),
      dispatch_(dispatch),
      delivery_(delivery),
      queue_(queue) {}

bool Dedupe::run_once(RequestStore& store, const std::atomic<bool>& stop) {
  jobs_.clear();
  due_.clear();
  const std::int64_t now = ctx_.clock.steady_ms();
  const std::int64_t next_due = gate_.take_due(now, due_);
  for (BudgetClaim* c : due_) jobs_.push_back(static_cast<Job*>(c));
  const std::int64_t wait_ms = jobs_.empty() ? std::clamp<std::int64_t>(next_due - now, 1, 100) : 0;
  queue_.take(jobs_, kLookupBatchMax, std::chrono::milliseconds(wait_ms));
  if (jobs_.empty()) return true;
  keys_.clear();
  for (Job* j : jobs_) keys_.push_back({j->decoded.request.team, j->decoded.request.request_id});
  const std::int64_t started = ctx_.clock.steady_us();
  if (!ctx_.health.retry("dedupe lookup", stop, [&](std::string& error) {
        return store.find_terminal(keys_, stored_, error);
      }))
    return false;
  ctx_.health.succeeded();
  ctx_.stats.lookup_query.record_us(ctx_.clock.steady_us() - started);
  budgeted_.clear();
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    Job* j = jobs_[i];
    if (!stored_[i].empty()) {
      // Already terminal: re-emit the stored result (the team's own: the key is the team and
      // the id), never call a provider again.
      ctx_.stats.redelivered_terminal.inc();
      j->result_json = std::move(stored_[i]);
      j->responded_us = ctx_.clock.steady_us();
      delivery_.produce_result(j);
      continue;
    }
    // A request its budget policy moved to the cheapest tier keeps that route when it comes
    // back from waiting for a settlement; anything else is routed afresh.
    if (!j->downgraded && !dispatch_.route(j)) continue;
    if (budget_.needs_budget(j)) {
      budgeted_.push_back(j);
    } else {
      dispatch_.post_schedule(j);
    }
  }
  return budgeted_.empty() || budget_.admit(store, budgeted_, stop);
}

}  // namespace switchyard
