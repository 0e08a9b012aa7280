#pragma once
// Call stage: one provider call of a request through its deployment's adapter and the HTTP client,
// then what the answer means: bill it and end the request (ok, content filtered), or ask the retry
// policy (sched/retry_policy.h) whether and where to try again: another deployment now
// (dispatch), the same one after a backoff (a timer), along the tier chain when the route is used
// up, or end it (provider_error / rate_limited). Every answer also feeds the scheduler (limits,
// latency, breakers), and what it did to a deployment (disabled, breaker opened) is logged and
// counted.
//
// Threading: attempt() on an io thread (from dispatch); the response callback on an io thread of
// the HTTP client's pool. Ownership: a Job belongs to the call stage from attempt() until it is
// handed back to dispatch (retry) or to the sink (finished); during the HTTP exchange the client's
// callback holds it.
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "switchyard/common/clock.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/provider/adapter.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/sched/retry_policy.h"
#include "switchyard/sched/scheduler.h"
#include "worker/dispatch.h"
#include "worker/job.h"
#include "worker/sink.h"
#include "worker/stage_context.h"
#include "worker/worker_metrics.h"

namespace switchyard {

class ProviderCall {
 public:
  ProviderCall(const StageContext& ctx, Scheduler& scheduler, Dispatch& dispatch, Sink& sink,
               Delivery& delivery, IoPool& io, const std::atomic<bool>& stopping);
  // The client is made after the stages (it runs on the io pool).
  void set_http(HttpClient* http) { http_ = http; }

  // Sends the call when its deployment has a free place under its concurrency limit; otherwise
  // queues it (interactive before background, first come first served) until a call to that
  // deployment ends.
  void attempt(Job* job);

 private:
  void send(Job* job);
  void start_queued(std::size_t deployment_index);
  void on_response(Job* job, const DeploymentConfig* d, HttpResponse response);
  // Keeps the route's candidates that can still serve the request (large enough context,
  // usable) and, when every one of them has failed it, extends the route along the tier chain
  // (routing.fallback_tiers) one tier at a time. False when nothing is left to try.
  bool refit_route(Job* job);
  // An answer without usage: bill the worker's estimate (counted, warned about once a minute).
  void estimate_usage(const Job& job, ProviderOutcome& outcome);
  void note_effects(const DeploymentConfig& d, const ResponseEffects& e,
                    const ProviderOutcome& outcome);

  const StageContext& ctx_;
  Scheduler& scheduler_;
  Dispatch& dispatch_;
  Sink& sink_;
  Delivery& delivery_;  // hands back work given up at shutdown
  IoPool& io_;
  const std::atomic<bool>& stopping_;
  RetryPolicy retry_;
  HttpClient* http_ = nullptr;
  std::vector<std::string> api_keys_;  // read once at start; never logged

  // Calls waiting for a concurrency place, per deployment and class. Taken before the
  // scheduler's lock, never the other way round.
  std::mutex queue_mutex_;
  struct Waiting {
    std::deque<Job*> by_class[2];
  };
  std::vector<Waiting> waiting_;  // parallel to config.deployments; guarded by queue_mutex_
};

}  // namespace switchyard
