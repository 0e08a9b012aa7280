#include "worker/sink.h"

#include <algorithm>
#include <thread>

#include "switchyard/common/json_text.h"

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
  batch_.clear();
  for (Job* j : jobs) {
    if (!j->filled) fill_result(j);
    if (!seen_.insert(RequestKey{j->result.team, j->result.request_id}).second) {
      deferred.push_back(j);  // a request appears at most once per statement
      continue;
    }
    batch_.push_back(j);
  }
  const std::int64_t started = ctx_.clock.steady_us();
  const std::size_t rows = batch_.size();
  if (!write_rows(store, batch_, stop)) return false;
  ctx_.stats.write_transaction.record_us(ctx_.clock.steady_us() - started);
  ctx_.stats.write_batch_rows.record_us(static_cast<std::int64_t>(rows));
  ctx_.health.succeeded();
  // The statement settled the batch's reservations: this worker no longer holds them, and
  // parked requests of those teams may fit now (the gate wakes them; they go to dedupe, which
  // reserves again).
  claims_.assign(batch_.begin(), batch_.end());
  woken_.clear();
  gate_.settle(claims_, ctx_.clock.steady_ms(), woken_);
  for (Job* j : batch_) delivery_.produce_result(j);
  if (!woken_.empty()) {
    ctx_.stats.budget_defer_wakes.inc(woken_.size());
    for (BudgetClaim* c : woken_) to_lookup_.push(static_cast<Job*>(c));
  }
  return true;
}

bool Sink::write_rows(RequestStore& store, std::span<Job* const> jobs,
                      const std::atomic<bool>& stop) {
  std::vector<TerminalRecord> records;
  records.reserve(jobs.size());
  for (Job* j : jobs) {
    TerminalRecord rec;
    rec.result = &j->result;
    rec.result_json = j->result_json;
    rec.source_topic = j->tp.topic;
    rec.source_partition = j->tp.partition;
    rec.source_offset = j->offset;
    rec.ledger = j->ledger;
    records.push_back(std::move(rec));
  }
  bool rejected = false;
  std::string rejection;
  if (!ctx_.health.retry("writing results", stop, [&](std::string& error) {
        if (store.write_terminal(records, outcomes_, error)) return true;
        if (!store.last_failure_rejected_data()) return false;  // an outage: retried
        rejected = true;
        rejection = std::move(error);
        return true;
      }))
    return false;
  if (!rejected) {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (outcomes_[i].inserted) continue;
      // Another delivery of this request stored its result first: that one is the truth.
      ctx_.stats.write_conflicts.inc();
      if (!outcomes_[i].stored_result_json.empty())
        jobs[i]->result_json = std::move(outcomes_[i].stored_result_json);
    }
    return true;
  }
  // Postgres refused the data of some row: retrying the same statement would fail forever.
  // Halve the batch until the offending rows are alone; each becomes a storable error row.
  ctx_.stats.rows_rejected.inc();
  if (jobs.size() > 1) {
    const std::size_t half = jobs.size() / 2;
    return write_rows(store, jobs.first(half), stop) && write_rows(store, jobs.subspan(half), stop);
  }
  Job* job = jobs.front();
  if (job->store_refused) {
    // Even the error row was refused (nothing of the producer's should be left in it): give
    // up on the row, never on the request's result, which is still produced.
    worker_log()->error(
        "postgres refused the error row too ({}); the result is produced without "
        "a requests row{}",
        storable_text(rejection, 300), fields_of(*job, ctx_.config));
    return true;
  }
  job->store_refused = true;
  worker_log()->warn("postgres refused this request's row ({}); it is stored as an error{}",
                     storable_text(rejection, 300), fields_of(*job, ctx_.config));
  set_error(*job, ErrorCode::kProviderError,
            "the result could not be stored (Postgres refused it: " +
                storable_text(rejection, 200) + "); its content is dropped");
  job->result.metadata_json.clear();
  job->result.route.reason = storable_text(job->result.route.reason, 300);
  encode_result(job->result, job->result_json);
  return write_rows(store, jobs, stop);
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
