#include <string>

#include "switchyard/worker/worker.h"

namespace switchyard {

namespace {
constexpr std::string_view kWorkerEvents = "switchyard_worker_events_total";

Counter& event(MetricsRegistry& r, const char* name) {
  r.describe_counter(kWorkerEvents,
                     "Worker events by kind, the counters of --stats-file: degraded paths "
                     "(store_failures, produce_failures, offset_resets, offsets_skipped, "
                     "write_conflicts, breaker_opens, deployments_disabled, pauses) and the "
                     "request path (consumed, completed, dlq, provider_calls, ...).");
  return r.counter(kWorkerEvents, {{"event", name}});
}
}  // namespace

// The field list is written once, here, in the order of the declarations in worker.h: each
// counter's name is its `event` label and its key in to_json().
// clang-format off
#define SY_WORKER_COUNTERS(X)                                                                 \
  X(consumed) X(completed) X(dlq) X(invalid) X(redelivered_terminal) X(in_flight_duplicates)  \
  X(signatures_valid) X(signatures_refused) X(unsigned_accepted)                              \
  X(budget_rejections) X(budget_deferrals) X(budget_defer_wakes) X(budget_settlement_waits)   \
  X(fallbacks) X(breaker_opens) X(deployments_disabled) X(budget_soft_crossings)              \
  X(budget_downgrades) X(reservations_reclaimed) X(waits) X(plans) X(plan_unplannable) X(concurrency_waits) X(provider_calls) X(provider_retries)    \
  X(usage_estimated)                                                                          \
  X(results_ok) X(results_error) X(results_truncated) X(write_conflicts) X(rows_rejected)     \
  X(store_failures)                                                                           \
  X(produce_failures)                                                                         \
  X(offset_resets) X(offsets_skipped) X(pauses) X(commits)
// clang-format on

#define SY_BIND(name) name(event(registry, #name)),
WorkerStats::WorkerStats(MetricsRegistry& registry)
    : SY_WORKER_COUNTERS(SY_BIND) dispatch_overhead() {}
#undef SY_BIND

std::string WorkerStats::to_json() const {
  auto h = [](const LatencyHistogram& hist) {
    return "{\"count\":" + std::to_string(hist.count()) +
           ",\"p50_us\":" + std::to_string(hist.percentile_us(0.5)) +
           ",\"p99_us\":" + std::to_string(hist.percentile_us(0.99)) +
           ",\"max_us\":" + std::to_string(hist.max_us()) + "}";
  };
  std::string out = "{";
#define SY_FIELD(name) out += "\"" #name "\":" + std::to_string(name.value()) + ",";
  SY_WORKER_COUNTERS(SY_FIELD)
#undef SY_FIELD
  out += "\"dispatch_overhead\":" + h(dispatch_overhead) +
         ",\"result_overhead\":" + h(result_overhead) + ",\"end_to_end\":" + h(end_to_end) +
         ",\"lookup_query\":" + h(lookup_query) + ",\"write_transaction\":" + h(write_transaction) +
         ",\"write_batch_rows\":" + h(write_batch_rows) + ",\"plan_duration\":" + h(plan_duration) +
         "}";
  return out;
}

}  // namespace switchyard
