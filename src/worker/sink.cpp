#include "worker/sink.h"

#include <algorithm>
#include <thread>

namespace switchyard {

Sink::Sink(const StageContext& ctx, BudgetGate& gate, Delivery& delivery, HandOff<Job*>& to_lookup)
    : ctx_(ctx), gate_(gate), delivery_(delivery), to_lookup_(to_lookup) {}

void Sink::finish(Job* job) {
  if (job->responded_us == 0) job->responded_us = ctx_.clock.steady_us();
  if (worker_log()->should_log(spdlog::level::debug)) {
    worker_log()->debug("request finished: {} after {} attempt(s){}",
                        job->result.error == ErrorCode::kNone ? "ok" : to_string(job->result.error),
                        job->attempt, fields_of(*job, ctx_.config));
  }
  queue_.push(job);
}

void Sink::fill_result(Job* job) {
  job->filled = true;
  auto& r = job->result;
  const auto& req = job->decoded.request;
  r.request_id = req.request_id;
  r.team = req.team;
  r.metadata_json = req.metadata_json;
  if (r.route.priority_class.empty()) r.route.priority_class = to_string(job->priority_class);
  const std::int64_t now = ctx_.clock.wall_ms();
  const std::int64_t enqueued = job->kafka_timestamp_ms > 0 ? job->kafka_timestamp_ms : now;
  const std::int64_t since_fetch_ms = (ctx_.clock.steady_us() - job->fetched_us) / 1000;
  r.queued_ms = std::max<std::int64_t>(0, now - enqueued - since_fetch_ms);
  r.provider_ms = job->provider_ms;
  r.total_ms = std::max<std::int64_t>(0, now - enqueued);
  const std::size_t deployment =
      job->attempt > 0 ? job->deployment_index : ctx_.config.deployments.size();
  ctx_.series.requests(class_index(job->priority_class), deployment, r.error).inc();
  (r.ok() ? ctx_.stats.results_ok : ctx_.stats.results_error).inc();
  encode_result(r, job->result_json);
}

bool Sink::write_batch(RequestStore& store, std::vector<Job*>& jobs, std::vector<Job*>& deferred,
                       const std::atomic<bool>& stop) {
  seen_.clear();
  records_.clear();
  batch_.clear();
  for (Job* j : jobs) {
    if (!j->filled) fill_result(j);
    if (!seen_.insert(j->result.request_id).second) {
      deferred.push_back(j);  // a request id appears at most once per statement
      continue;
    }
    TerminalRecord rec;
    rec.result = &j->result;
    rec.result_json = j->result_json;
    rec.source_topic = j->tp.topic;
    rec.source_partition = j->tp.partition;
    rec.source_offset = j->offset;
    rec.ledger = j->ledger;
    records_.push_back(std::move(rec));
    batch_.push_back(j);
  }
  const std::int64_t started = ctx_.clock.steady_us();
  if (!ctx_.health.retry("writing results", stop, [&](std::string& error) {
        return store.write_terminal(records_, outcomes_, error);
      }))
    return false;
  ctx_.stats.write_transaction.record_us(ctx_.clock.steady_us() - started);
  ctx_.stats.write_batch_rows.record_us(static_cast<std::int64_t>(records_.size()));
  ctx_.health.succeeded();
  // The statement settled the batch's reservations: this worker no longer holds them, and
  // parked requests of those teams may fit now (the gate wakes them; they go to dedupe, which
  // reserves again).
  claims_.assign(batch_.begin(), batch_.end());
  woken_.clear();
  gate_.settle(claims_, ctx_.clock.steady_ms(), woken_);
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    Job* j = batch_[i];
    if (!outcomes_[i].inserted) {
      // Another delivery of this request stored its result first: that one is the truth.
      ctx_.stats.write_conflicts.inc();
      if (!outcomes_[i].stored_result_json.empty())
        j->result_json = std::move(outcomes_[i].stored_result_json);
    }
    delivery_.produce_result(j);
  }
  if (!woken_.empty()) {
    ctx_.stats.budget_defer_wakes.inc(woken_.size());
    for (BudgetClaim* c : woken_) to_lookup_.push(static_cast<Job*>(c));
  }
  return true;
}

bool Sink::run_once(RequestStore& store, const std::atomic<bool>& stop) {
  jobs_.swap(carried_);
  carried_.clear();
  const auto max_rows = static_cast<std::size_t>(ctx_.config.postgres.batch_max_rows);
  if (jobs_.size() < max_rows)
    queue_.take(jobs_, max_rows - jobs_.size(), std::chrono::milliseconds(jobs_.empty() ? 100 : 0));
  if (jobs_.empty()) return true;
  return write_batch(store, jobs_, carried_, stop);
}

}  // namespace switchyard
