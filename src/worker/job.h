#pragma once
// One consumed event from fetch to commit, and who may touch it when.
//
// Ownership: a Job is created by intake on the poll thread and deleted there (finish_completed)
// after its last acknowledgement. In between it is handed from stage to stage, and exactly one
// stage holds it at a time, so it needs no lock; a hand-off (a HandOff queue, an Asio post, a
// timer, the budget gate's parking, a produce() opaque) passes ownership with it:
//
//   intake (poll thread) ---> dedupe (lookup thread) ---> budget gate (lookup thread; parked in
//      |                        |                          the gate until a settlement or retry)
//      |                        v                                     |
//      |                   dispatch / call (io threads: schedule, park for headroom, provider
//      |                        |           call, retries on timers)
//      v                        v
//   sink (writer thread: fills the result, one Postgres statement per batch, produce)
//      |
//      v
//   delivery (delivery thread: acks; when acks_pending reaches 0) ---> intake (finish, delete)
//
// Invalid events go from intake to the sink directly (and to the DLQ); unreadable ones only to
// the DLQ; redelivered terminal ones from dedupe straight to produce. `acks_pending` is the one
// field two threads touch (the delivery thread counts down DLQ and result acks).
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "switchyard/budget/budget_gate.h"
#include "switchyard/common/log.h"
#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/event/result.h"
#include "switchyard/kafka/offset_tracker.h"
#include "switchyard/route/router.h"
#include "switchyard/sched/retry_policy.h"
#include "switchyard/sched/scheduler.h"
#include "switchyard/store/store.h"

namespace switchyard {

struct Job : BudgetClaim {
  // Set by intake at fetch.
  TopicPartition tp;
  std::uint32_t epoch = 0;  // the partition's assignment epoch (a revoked one cannot commit)
  std::int64_t offset = 0;
  PriorityClass priority_class = PriorityClass::kBackground;
  std::int64_t kafka_timestamp_ms = -1;
  std::string raw;  // original bytes, kept only for the DLQ
  DecodedRequest decoded;
  std::string out_topic;

  // Times (Clock::steady_us) for the overhead histograms and result timings.
  std::int64_t fetched_us = 0;
  std::int64_t dispatched_us = 0;
  std::int64_t responded_us = 0;  // 0 until the request's outcome is known
  std::int64_t provider_started_us = 0;
  std::int64_t provider_ms = 0;  // summed over attempts

  // Routing and scheduling (dedupe, budget, dispatch, call).
  RouteDecision route;
  std::size_t deployment_index = 0;  // the deployment of the current attempt
  ScheduleChoice grant;  // its rate-limit grants (deployment, team), settled with actual usage
  std::int64_t waiting_since_ms = -1;
  bool planned = false;     // background, routing.background_planner: seen by a plan at least once
  bool downgraded = false;  // moved to the cheapest tier by its team's budget policy

  // Retries and fallbacks (call): deployments that failed this request, the failed and
  // rate-limited calls so far, how far along the tier chain the route has been extended, the
  // smallest context window still worth trying.
  int attempt = 0;
  RetryState retry;
  std::vector<std::size_t> avoid;
  std::size_t chain_next = 0;
  std::int64_t min_context = 0;
  std::string history;  // "a: HTTP 503; b: HTTP 429" for route.reason

  // The outcome (sink).
  ResultEvent result;
  std::string result_json;
  std::vector<LedgerEntry> ledger;
  bool filled = false;         // result fields and result_json are final
  bool store_refused = false;  // Postgres refused its row once: it is now stored as an error

  std::atomic<int> acks_pending{0};  // DLQ record and/or result event not yet acknowledged
  // Given up at shutdown while still retryable: intake drops it without finishing its offset,
  // so the offset stays uncommitted and the request is redelivered, never made permanent.
  bool abandoned = false;
  // Delivery (delivery.h): failed attempts of the result event [0] and the DLQ record [1] since
  // they last changed, and whether the result event was already replaced by its bounded form.
  std::uint8_t produce_failures[2] = {0, 0};
  bool result_bounded = false;
  std::vector<Job*> duplicates;  // same request_id fetched while this one was in flight
};

inline std::size_t class_index(PriorityClass c) {
  return c == PriorityClass::kInteractive ? 0 : 1;
}

// Ends the request with an error (the result's content is cleared).
void set_error(Job& job, ErrorCode code, std::string message);

// The fields every per-request log line carries: the request, where it came from in Kafka and
// the deployment of its last attempt (none before the first).
LogFields fields_of(const Job& job, const Config& config);

// The worker's logger ("worker").
const std::shared_ptr<spdlog::logger>& worker_log();

}  // namespace switchyard
