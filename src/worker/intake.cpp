#include "worker/intake.h"

#include <algorithm>

#include "switchyard/common/json_text.h"
#include "switchyard/event/signature.h"

namespace switchyard {

Intake::Intake(const StageContext& ctx, Delivery& delivery, Sink& sink, HandOff<Job*>& to_dedupe,
               HandOff<Job*>& completions)
    : ctx_(ctx),
      delivery_(delivery),
      sink_(sink),
      to_dedupe_(to_dedupe),
      completions_(completions),
      last_commit_ms_(ctx.clock.steady_ms()) {
  set_limits();
  for (const TeamConfig& t : ctx.config.teams) {
    teams_.emplace(t.name, &t);
    for (const std::string& topic : t.topics) topic_owner_.emplace(topic, &t);
    if (!t.signing_key_env.empty()) signers_[t.name] = {t.signing_keys(), t.require_signature};
  }
}

void Intake::check_signature(Job* job, std::string_view signature, std::string_view value) {
  DecodedRequest& d = job->decoded;
  if (d.status != DecodeStatus::kOk) return;
  const auto signer = signers_.find(d.request.team);
  if (signer == signers_.end()) return;
  const SignatureCheck check = verify_event(signer->second.keys, value, signature);
  if (check == SignatureCheck::kValid) {
    ctx_.stats.signatures_valid.inc();
    return;
  }
  if (check == SignatureCheck::kMissing && !signer->second.required) {
    ctx_.stats.unsigned_accepted.inc();
    return;
  }
  ctx_.stats.signatures_refused.inc();
  const std::string team = d.request.team;
  d.violations.push_back("team " + team + " requires signed events, and this one's " +
                         std::string(kSignatureHeader) + " header " +
                         (check == SignatureCheck::kMissing ? std::string("is missing")
                          : check == SignatureCheck::kMalformed
                              ? std::string("is not sha256=<64 hex digits>")
                              : std::string("does not verify with its keys")));
  d.status = DecodeStatus::kInvalid;
  // Unproven: the row and error result are not the named team's (a forger could otherwise take
  // that team's request ids), unless the team's own topic proves it.
  const auto owner = topic_owner_.find(job->tp.topic);
  if (owner == topic_owner_.end() || owner->second->name != team) d.request.team.clear();
  const std::int64_t now = ctx_.clock.steady_ms();
  if (now - last_signature_warning_ms_ >= 10'000) {
    last_signature_warning_ms_ = now;
    worker_log()->warn(
        "refused an event naming team {} on {}: signature {} (refusals so far: {}; logged at most "
        "every 10 s){}",
        team, job->tp.topic, to_string(check), ctx_.stats.signatures_refused.value(),
        fields_of(*job, ctx_.config));
  }
}

void Intake::check_team(Job* job) {
  DecodedRequest& d = job->decoded;
  if (d.status == DecodeStatus::kUnreadable) return;
  RequestEvent& req = d.request;
  const TeamConfig* owner = nullptr;
  if (!topic_owner_.empty()) {
    if (auto it = topic_owner_.find(job->tp.topic); it != topic_owner_.end()) owner = it->second;
  }
  if (owner) {
    if (req.team == owner->name) return;
    if (d.status == DecodeStatus::kOk) {
      d.violations.push_back("the event was read from " + job->tp.topic + ", the topic of team " +
                             owner->name + ", but names team '" + storable_text(req.team, 64) +
                             "': an event on a team's topic belongs to that team");
      d.status = DecodeStatus::kInvalid;
    }
    req.team = owner->name;  // its row and error result belong to the team that wrote it
    return;
  }
  if (d.status != DecodeStatus::kOk || ctx_.config.tenancy.allow_unknown_teams ||
      teams_.count(req.team)) {
    return;
  }
  d.violations.push_back("unknown team '" + storable_text(req.team, 64) +
                         "': only teams listed in the config are served (teams[]; "
                         "tenancy.allow_unknown_teams serves others, for development)");
  d.status = DecodeStatus::kInvalid;
}

void Intake::on_assigned(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) tracker_.assign(tp);
  if (paused_[0] || paused_[1]) repause_ = true;
}

void Intake::on_revoked(const std::vector<TopicPartition>& partitions, bool lost) {
  // Commit what is finished before the partitions move; in-flight work for them still
  // completes and is stored, but it can no longer commit here (the new owner dedupes it).
  if (!lost) {
    auto commits = tracker_.commits_for(partitions);
    if (auto err = consumer_->commit(commits, true); !err.empty())
      worker_log()->warn("commit before revoke failed: {}", err);
  }
  for (const auto& tp : partitions) tracker_.revoke(tp);
}

void Intake::on_offset_reset(const TopicPartition& tp, const std::string& detail) {
  ctx_.stats.offset_resets.inc();
  reset_partitions_.push_back(tp);
  worker_log()->error(
      "offset out of range on {}[{}]: {}. Records were trimmed by retention (or the embedded "
      "broker's 5 MiB/100,000-batch limit) before they were processed; the consumer resets to "
      "the earliest available offset. The number of skipped offsets is logged with the next "
      "record.",
      tp.topic, tp.partition, detail);
}

void Intake::report_skipped(const TopicPartition& tp, std::int64_t offset) {
  auto it = std::find(reset_partitions_.begin(), reset_partitions_.end(), tp);
  if (it == reset_partitions_.end()) return;
  reset_partitions_.erase(it);
  auto committed = tracker_.committable(tp);
  if (committed && offset > *committed) {
    const auto skipped = static_cast<std::uint64_t>(offset - *committed);
    ctx_.stats.offsets_skipped.inc(skipped);
    ctx_.metrics
        .counter(metric::kOffsetsSkipped,
                 {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}})
        .inc(skipped);
  }
  worker_log()->error(
      "{}[{}] resumed at offset {} after an offset reset; {} offsets were skipped unprocessed",
      tp.topic, tp.partition, offset,
      committed ? std::to_string(offset - *committed) : std::string("an unknown number of"));
}

void Intake::handle(const ConsumedRecord& record) {
  TopicPartition tp{std::string(record.topic), record.partition};
  if (!reset_partitions_.empty()) report_skipped(tp, record.offset);
  if (!tracker_.begin(tp, record.offset)) return;  // revoked meanwhile, or already seen
  ctx_.stats.consumed.inc();
  auto* job = new Job;
  job->tp = std::move(tp);
  job->epoch = tracker_.epoch(job->tp);
  job->offset = record.offset;
  job->fetched_us = ctx_.clock.steady_us();
  job->kafka_timestamp_ms = record.timestamp_ms;
  job->priority_class = ctx_.config.class_of_topic(job->tp.topic);
  job->decoded =
      decode_request(record.value, static_cast<std::size_t>(ctx_.config.worker.max_event_bytes));
  auto& req = job->decoded.request;
  check_team(job);
  if (!signers_.empty()) check_signature(job, record.signature, record.value);
  if (job->decoded.status == DecodeStatus::kOk && !req.reply_topic.empty()) {
    // Open to every team, or one of this team's own reply topics.
    const auto& allow = ctx_.config.kafka.reply_topic_allowlist;
    const auto team = teams_.find(req.team);
    const bool own = team != teams_.end() &&
                     std::find(team->second->reply_topics.begin(), team->second->reply_topics.end(),
                               req.reply_topic) != team->second->reply_topics.end();
    if (!own && std::find(allow.begin(), allow.end(), req.reply_topic) == allow.end()) {
      job->decoded.violations.push_back(
          "reply_topic '" + storable_text(req.reply_topic, 64) +
          "' is neither on kafka.reply_topic_allowlist nor one of team " +
          storable_text(req.team, 64) + "'s reply_topics");
      job->decoded.status = DecodeStatus::kInvalid;
    }
  }
  if (job->decoded.status == DecodeStatus::kOk) {
    if (req.priority) job->priority_class = *req.priority;
    job->out_topic = req.reply_topic.empty() ? ctx_.config.kafka.results_topic : req.reply_topic;
    auto [it, inserted] = in_flight_by_id_.emplace(RequestKey{req.team, req.request_id}, job);
    if (!inserted) {
      // Same request already in flight here: it finishes with that one, never called twice.
      ctx_.stats.in_flight_duplicates.inc();
      it->second->duplicates.push_back(job);
      return;
    }
    job->acks_pending.store(1);  // the result event
    fetched_.push_back(job);
    return;
  }
  // Unreadable or invalid: the original bytes and the reason go to the DLQ.
  job->raw.assign(record.value);
  ctx_.stats.dlq.inc();
  (job->decoded.status == DecodeStatus::kUnreadable ? ctx_.series.dlq_unreadable()
                                                    : ctx_.series.dlq_invalid())
      .inc();
  job->out_topic = ctx_.config.kafka.results_topic;
  if (job->decoded.status == DecodeStatus::kUnreadable) {
    job->acks_pending.store(1);
    delivery_.produce_dlq(job);
    return;
  }
  ctx_.stats.invalid.inc();
  job->acks_pending.store(2);  // DLQ record + error result
  delivery_.produce_dlq(job);
  set_error(*job, ErrorCode::kInvalidRequest, job->decoded.reason());
  sink_.finish(job);
}

void Intake::finish_completed(Job* job) {
  const std::int64_t took_us = ctx_.clock.steady_us() - job->fetched_us;
  ctx_.stats.end_to_end.record_us(took_us);
  ctx_.series.request_duration(class_index(job->priority_class))
      .observe(static_cast<double>(took_us) / 1e6);
  if (job->decoded.status == DecodeStatus::kOk) {
    auto it = in_flight_by_id_.find(
        RequestKey{job->decoded.request.team, job->decoded.request.request_id});
    if (it != in_flight_by_id_.end() && it->second == job) in_flight_by_id_.erase(it);
  }
  if (job->abandoned) {
    // Given up at shutdown: no offset of it (or of its duplicates) is finished, so none is
    // committed past it and the request is redelivered.
    abandoned_ += 1 + job->duplicates.size();
    for (Job* dup : job->duplicates) delete dup;
    delete job;
    return;
  }
  for (Job* dup : job->duplicates) {
    tracker_.finish(dup->tp, dup->epoch, dup->offset);
    ctx_.stats.completed.inc();
    delete dup;
  }
  tracker_.finish(job->tp, job->epoch, job->offset);
  ctx_.stats.completed.inc();
  delete job;
}

void Intake::set_limits() {
  const auto cap = static_cast<std::size_t>(ctx_.config.worker.max_in_flight);
  const auto resume = static_cast<std::size_t>(ctx_.config.worker.resume_in_flight);
  const double keep = 1.0 - ctx_.config.worker.interactive_in_flight_reserve;
  pause_at_[0] = cap;
  resume_below_[0] = resume;
  pause_at_[1] =
      std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(cap) * keep));
  resume_below_[1] =
      std::min(pause_at_[1], static_cast<std::size_t>(static_cast<double>(resume) * keep));
}

// Most events the next poll may take: up to the background threshold while background is
// fetched, so one poll cannot carry a flood past it into the interactive share; up to the full
// cap once background is paused. At least 1, so the poll still serves callbacks.
std::size_t Intake::room() const {
  constexpr std::size_t kPollBatchMax = 2000;
  const std::size_t pending = tracker_.pending();
  const std::size_t limit = paused_[1] ? pause_at_[0] : pause_at_[1];
  return std::clamp<std::size_t>(limit > pending ? limit - pending : 0, 1, kPollBatchMax);
}

std::vector<TopicPartition> Intake::assigned_of_class(std::size_t cls) const {
  std::vector<TopicPartition> out;
  for (const auto& tp : consumer_->assignment())
    if (class_index(ctx_.config.class_of_topic(tp.topic)) == cls) out.push_back(tp);
  return out;
}

void Intake::flow_control(bool stopping) {
  const std::size_t pending = tracker_.pending();
  const bool blocked = stopping || !ctx_.health.healthy();
  for (std::size_t cls = 0; cls < 2; ++cls) {
    bool& paused = paused_[cls];
    const bool want_pause =
        blocked || pending >= pause_at_[cls] || (paused && pending >= resume_below_[cls]);
    const char* name = cls == 0 ? "interactive" : "background";
    if (want_pause && (!paused || repause_)) {
      consumer_->pause(assigned_of_class(cls));
      if (!paused) {
        ctx_.stats.pauses.inc();
        worker_log()->info("intake paused ({} topics): {} in flight, store {}", name, pending,
                           ctx_.health.healthy() ? "healthy" : "unreachable");
      }
      paused = true;
    } else if (!want_pause && paused) {
      consumer_->resume(assigned_of_class(cls));
      paused = false;
      worker_log()->info("intake resumed ({} topics): {} in flight", name, pending);
    }
  }
  repause_ = false;
}

void Intake::run_once(int timeout_ms, bool stopping) {
  records_.clear();
  consumer_->poll(timeout_ms, room(), records_);
  for (const ConsumedRecord& r : records_) handle(r);
  records_.clear();
  for (Job* j : fetched_) to_dedupe_.push(j);
  fetched_.clear();
  done_.clear();
  completions_.take(done_, SIZE_MAX, std::chrono::milliseconds(0));
  for (Job* j : done_) finish_completed(j);
  flow_control(stopping);
  in_flight_.store(static_cast<std::int64_t>(tracker_.pending()), std::memory_order_relaxed);
  const std::int64_t now = ctx_.clock.steady_ms();
  if (now - last_lag_ms_ >= 1000) {
    auto lag = consumer_->lag();
    assigned_.store(static_cast<int>(consumer_->assignment().size()), std::memory_order_relaxed);
    std::lock_guard lock(lag_mutex_);
    lag_snapshot_ = std::move(lag);
    last_lag_ms_ = now;
  }
  if (now - last_commit_ms_ >= ctx_.config.worker.commit_interval_ms) {
    commit(false);
    last_commit_ms_ = now;
  }
}

void Intake::commit(bool synchronous) {
  auto commits = tracker_.take_commits();
  if (commits.empty()) return;
  if (auto err = consumer_->commit(commits, synchronous); !err.empty()) {
    worker_log()->warn("offset commit failed ({}); the next commit covers these offsets", err);
    return;
  }
  ctx_.stats.commits.inc();
}

std::vector<PartitionLag> Intake::lag() const {
  std::lock_guard lock(lag_mutex_);
  return lag_snapshot_;
}

}  // namespace switchyard
