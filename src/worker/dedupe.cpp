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
  ids_.clear();
  for (Job* j : jobs_) ids_.push_back(j->decoded.request.request_id);
  found_.clear();
  const std::int64_t started = ctx_.clock.steady_us();
  if (!ctx_.health.retry("dedupe lookup", stop, [&](std::string& error) {
        return store.find_terminal(ids_, found_, error);
      }))
    return false;
  ctx_.health.succeeded();
  ctx_.stats.lookup_query.record_us(ctx_.clock.steady_us() - started);
  budgeted_.clear();
  for (Job* j : jobs_) {
    auto it = found_.find(j->decoded.request.request_id);
    if (it != found_.end()) {
      // Already terminal: re-emit the stored result, never call a provider again.
      ctx_.stats.redelivered_terminal.inc();
      j->result_json = std::move(it->second);
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
