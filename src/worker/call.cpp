#include "worker/call.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

namespace switchyard {

namespace {

std::string short_reason(const ProviderOutcome& o) {
  switch (o.kind) {
    case OutcomeKind::kRateLimited:
      return "429";
    case OutcomeKind::kContextTooLong:
      return "context too long";
    case OutcomeKind::kAuth:
      return "HTTP " + std::to_string(o.http_status) + " (auth)";
    default:
      return o.http_status ? "HTTP " + std::to_string(o.http_status) : "transport error";
  }
}

std::uint64_t jitter_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

bool tried(const Job* job, std::size_t index) {
  return std::find(job->avoid.begin(), job->avoid.end(), index) != job->avoid.end();
}

}  // namespace

ProviderCall::ProviderCall(const StageContext& ctx, Scheduler& scheduler, Dispatch& dispatch,
                           Sink& sink, Delivery& delivery, IoPool& io,
                           const std::atomic<bool>& stopping)
    : ctx_(ctx),
      scheduler_(scheduler),
      dispatch_(dispatch),
      sink_(sink),
      delivery_(delivery),
      io_(io),
      stopping_(stopping),
      retry_(ctx.config.http) {
  for (const auto& d : ctx.config.deployments) api_keys_.push_back(d.api_key());
  waiting_.resize(ctx.config.deployments.size());
}

void ProviderCall::attempt(Job* job) {
  const std::size_t i = job->deployment_index;
  {
    std::lock_guard lock(queue_mutex_);
    Waiting& w = waiting_[i];
    // Nobody overtakes a queued call: the place goes to the queue first.
    if (!w.by_class[0].empty() || !w.by_class[1].empty() || !scheduler_.try_start(i)) {
      w.by_class[class_index(job->priority_class)].push_back(job);
      ctx_.stats.concurrency_waits.inc();
      return;
    }
  }
  send(job);
}

void ProviderCall::start_queued(std::size_t i) {
  for (;;) {
    Job* next = nullptr;
    {
      std::lock_guard lock(queue_mutex_);
      Waiting& w = waiting_[i];
      auto& q = !w.by_class[0].empty() ? w.by_class[0] : w.by_class[1];
      if (q.empty() || !scheduler_.try_start(i)) return;
      next = q.front();
      q.pop_front();
    }
    send(next);  // a grown limit may have room for more than the one place that freed
  }
}

void ProviderCall::send(Job* job) {
  const DeploymentConfig* d = &ctx_.config.deployments[job->deployment_index];
  HttpRequest http_request =
      build_provider_request(job->decoded.request, *d, api_keys_[job->deployment_index]);
  http_request.connect_timeout_ms = ctx_.config.http.connect_timeout_ms;
  http_request.first_byte_timeout_ms = ctx_.config.http.first_byte_timeout_ms;
  http_request.total_timeout_ms = ctx_.config.http.request_timeout_ms;
  if (const auto& deadline = job->decoded.request.deadline_unix_ms) {
    auto left = *deadline - ctx_.clock.wall_ms();
    if (left < http_request.total_timeout_ms)
      http_request.total_timeout_ms = static_cast<int>(std::max<std::int64_t>(left, 1));
  }
  ++job->attempt;
  ctx_.stats.provider_calls.inc();
  job->provider_started_us = ctx_.clock.steady_us();
  if (job->retry.first_attempt_ms < 0) job->retry.first_attempt_ms = ctx_.clock.steady_ms();
  if (job->attempt == 1) {
    job->dispatched_us = job->provider_started_us;
    ctx_.stats.dispatch_overhead.record_us(job->dispatched_us - job->fetched_us);
  }
  http_->send(std::move(http_request),
              [this, job, d](HttpResponse response) { on_response(job, d, std::move(response)); });
}

void ProviderCall::on_response(Job* job, const DeploymentConfig* d, HttpResponse response) {
  job->responded_us = ctx_.clock.steady_us();
  const std::int64_t call_us = job->responded_us - job->provider_started_us;
  job->provider_ms += call_us / 1000;
  const std::size_t index = job->deployment_index;
  ProviderOutcome outcome = parse_provider_response(*d, response, api_keys_[index]);
  ResponseEffects effects = scheduler_.on_response(index, job->grant, dispatch_.team_of(job),
                                                   outcome, call_us / 1000, ctx_.clock.steady_ms());
  start_queued(index);  // the call's concurrency place is free again
  note_effects(*d, effects, outcome);
  const WorkerSeries::Deployment& series = ctx_.series.deployment(index);
  const bool answered =
      outcome.kind == OutcomeKind::kOk || outcome.kind == OutcomeKind::kContentFiltered;
  (answered ? series.duration_ok : series.duration_failed)
      ->observe(static_cast<double>(call_us) / 1e6);
  auto& r = job->result;
  r.route.tier = d->tier;
  r.route.deployment = d->name;
  r.route.model = d->model;
  r.route.provider = to_string(d->provider);
  r.attempts = job->attempt;
  if (answered) {
    // A billed call: the provider returned usage, whatever the outcome.
    const bool estimated = !outcome.usage_reported;
    if (estimated) estimate_usage(*job, outcome);
    series.tokens_in->observe(static_cast<double>(outcome.usage.input_tokens));
    series.tokens_out->observe(static_cast<double>(outcome.usage.output_tokens));
    Picodollars cost = billed_cost(*d, outcome.usage);
    series.cost->inc(static_cast<std::uint64_t>(std::max<Picodollars>(cost, 0)));
    job->ledger.push_back({job->attempt, d->name, d->model, d->tier, to_string(d->provider),
                           outcome.usage, cost, estimated});
    r.usage += outcome.usage;
    r.cost += cost;
    if (outcome.kind == OutcomeKind::kOk) {
      r.content = std::move(outcome.content);
      r.finish_reason = std::move(outcome.finish_reason);
      r.error = ErrorCode::kNone;
    } else {
      set_error(*job, ErrorCode::kContentFiltered,
                "the provider's content filter stopped the request or the completion");
    }
    return sink_.finish(job);
  }
  const std::string what = outcome.error_message.empty()
                               ? "HTTP " + std::to_string(outcome.http_status)
                               : outcome.error_message;
  job->history += (job->history.empty() ? "" : "; ") + d->name + ": " + short_reason(outcome);
  const FailureClass failure = classify_failure(outcome.kind);
  if (failure == FailureClass::kFinal) {
    set_error(*job, ErrorCode::kProviderError,
              "deployment " + d->name + ": " + what + " (not retried)");
    return sink_.finish(job);
  }
  if (failure == FailureClass::kContextTooLong)
    job->min_context = std::max(job->min_context, d->context_window + 1);
  if (!tried(job, index)) job->avoid.push_back(index);
  job->retry.record(failure);
  if (stopping_.load()) {
    // A rolling deploy must not turn a 429 or a 5xx into a permanent error: the request is
    // given up here, its offset stays uncommitted and another worker serves it.
    worker_log()->info("stopping: request left to the next worker after {}{}",
                       short_reason(outcome), fields_of(*job, ctx_.config));
    job->abandoned = true;
    return delivery_.abandon(job);
  }
  std::string stop_reason = retry_.exhausted(job->retry, ctx_.clock.steady_ms());
  if (stop_reason.empty() && !refit_route(job)) {
    stop_reason = failure == FailureClass::kContextTooLong
                      ? "no deployment with a larger context window is left to try"
                      : "no usable deployment is left to try";
  }
  if (!stop_reason.empty()) {
    set_error(*job, RetryPolicy::final_code(failure),
              "deployment " + d->name + ": " + what + " (after " + std::to_string(job->attempt) +
                  " attempts; " + stop_reason + ")");
    return sink_.finish(job);
  }
  ctx_.stats.provider_retries.inc();
  // Another deployment not yet tried goes at once (a 429's Retry-After is in the limiter, an
  // open breaker in the scheduler: both make schedule() wait when nothing else is ready); the
  // same one again after an exponential backoff with full jitter.
  const bool elsewhere = std::any_of(
      job->route.candidates.begin(), job->route.candidates.end(), [&](const DeploymentConfig* c) {
        auto i = static_cast<std::size_t>(c - ctx_.config.deployments.data());
        return !tried(job, i) && scheduler_.usable(i);
      });
  if (elsewhere) return dispatch_.post_schedule(job);
  const std::int64_t delay_ms = retry_.backoff_ms(job->retry.failures + job->retry.rate_limited,
                                                  outcome.retry_after_ms, jitter_random());
  auto timer = std::make_shared<boost::asio::steady_timer>(io_.context(),
                                                           std::chrono::milliseconds(delay_ms));
  timer->async_wait(
      [this, job, timer](const boost::system::error_code&) { dispatch_.schedule(job); });
}

void ProviderCall::estimate_usage(const Job& job, ProviderOutcome& outcome) {
  // The worker's own input estimate and the completion's length at ~4 characters a token: the
  // call is billed, and the ledger row says the figure is an estimate.
  outcome.usage = Usage{};
  outcome.usage.input_tokens = estimate_input_tokens(job.decoded.request);
  outcome.usage.output_tokens = static_cast<std::int64_t>(outcome.content.size() / 4 + 1);
  ctx_.stats.usage_estimated.inc();
  // Said once a minute at most, with the count since: one provider can answer thousands so.
  static std::atomic<std::int64_t> last_warned_ms{-60'000};
  static std::atomic<std::uint64_t> unwarned{0};
  const std::int64_t now = ctx_.clock.steady_ms();
  std::int64_t last = last_warned_ms.load(std::memory_order_relaxed);
  if (now - last < 60'000 || !last_warned_ms.compare_exchange_strong(last, now)) {
    unwarned.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  worker_log()->warn(
      "deployment {} answered without usage: billed on an estimate ({} input, {} output tokens) "
      "and the ledger row marked usage_estimated ({} more such answers since the last warning)"
      "{}",
      ctx_.config.deployments[job.deployment_index].name, outcome.usage.input_tokens,
      outcome.usage.output_tokens, unwarned.exchange(0), fields_of(job, ctx_.config));
}

bool ProviderCall::refit_route(Job* job) {
  auto& cs = job->route.candidates;
  const TeamConfig* team = dispatch_.team_of(job);
  const auto& req = job->decoded.request;
  auto fits = [&](const DeploymentConfig& d) {
    auto i = static_cast<std::size_t>(&d - ctx_.config.deployments.data());
    return d.context_window >= job->min_context && scheduler_.usable(i) &&
           (req.region.empty() || d.region == req.region) && (!team || team_may_use(*team, d));
  };
  std::erase_if(cs, [&](const DeploymentConfig* d) { return !fits(*d); });
  auto untried = [&] {
    return std::any_of(cs.begin(), cs.end(), [&](const DeploymentConfig* d) {
      return !tried(job, static_cast<std::size_t>(d - ctx_.config.deployments.data()));
    });
  };
  const std::vector<std::string> chain = ctx_.config.fallback_chain(job->route.tier);
  while (!untried() && job->chain_next < chain.size()) {
    const std::string& tier = chain[job->chain_next++];
    std::size_t added = 0;
    for (const DeploymentConfig& d : ctx_.config.deployments) {
      if (d.tier == tier && fits(d) && std::find(cs.begin(), cs.end(), &d) == cs.end()) {
        cs.push_back(&d);
        ++added;
      }
    }
    if (added) {
      job->route.reason += "; fallback to tier " + tier;
      ctx_.stats.fallbacks.inc();
    }
  }
  return !cs.empty();
}

void ProviderCall::note_effects(const DeploymentConfig& d, const ResponseEffects& e,
                                const ProviderOutcome& outcome) {
  if (e.disabled) {
    ctx_.stats.deployments_disabled.inc();
    if (outcome.http_status == 0) {
      worker_log()->error(
          "deployment {}: {}: DISABLED, it gets no more traffic until the worker restarts; "
          "check its api_base and certificate, or http.ca_file",
          d.name, outcome.error_message);
    } else {
      worker_log()->error(
          "deployment {} answered HTTP {} ({}): DISABLED, it gets no more traffic until the "
          "worker restarts; check the key in ${} and the account's access to model {}",
          d.name, outcome.http_status, outcome.error_message, d.api_key_env, d.model);
    }
  }
  if (e.breaker_opened) {
    ctx_.stats.breaker_opens.inc();
    worker_log()->warn("deployment {}: circuit breaker open for {} ms after repeated failures ({})",
                       d.name, e.open_ms,
                       outcome.error_message.empty() ? "HTTP " + std::to_string(outcome.http_status)
                                                     : outcome.error_message);
  }
  if (e.breaker_closed)
    worker_log()->info("deployment {}: probe succeeded, circuit breaker closed", d.name);
}

}  // namespace switchyard
