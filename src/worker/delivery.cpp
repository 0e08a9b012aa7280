#include "worker/delivery.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "switchyard/common/json_text.h"

namespace switchyard {

namespace {
// Delivery-report opaques: the Job pointer, low bit set for the DLQ record.
void* result_tag(Job* job) {
  return job;
}
void* dlq_tag(Job* job) {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(job) | 1u);
}
Job* job_of(void* tag, bool& is_dlq) {
  auto bits = reinterpret_cast<std::uintptr_t>(tag);
  is_dlq = bits & 1u;
  return reinterpret_cast<Job*>(bits & ~std::uintptr_t{1});
}
}  // namespace

Delivery::Delivery(const StageContext& ctx, HandOff<Job*>& completions)
    : ctx_(ctx), completions_(completions), max_record_bytes_(max_record_bytes(ctx.config)) {}

std::size_t Delivery::max_record_bytes(const Config& config) {
  // librdkafka refuses a record over message.max.bytes (1,000,000 unless set); keep a margin for
  // the key, the headers and the batch framing.
  std::size_t limit = 1'000'000;
  if (auto it = config.kafka.properties.find("message.max.bytes");
      it != config.kafka.properties.end()) {
    limit = static_cast<std::size_t>(std::max(0LL, std::atoll(it->second.c_str())));
  }
  constexpr std::size_t kMargin = 4096;
  return limit > 2 * kMargin ? limit - kMargin : limit / 2;
}

void Delivery::bound_result(Job* job) {
  // Too large for the results topic: produced again it would fail forever and hold back its
  // partition's commits. The complete result is durable in Postgres; the event says where.
  ctx_.stats.results_truncated.inc();
  job->result_bounded = true;
  const std::string& id = job->decoded.request.request_id;
  const std::size_t size = job->result_json.size();
  worker_log()->warn(
      "result of {} bytes is over the results topic's limit of {} (or was refused by the "
      "broker): a bounded error event is produced instead, the complete result is in Postgres{}",
      size, max_record_bytes_, fields_of(*job, ctx_.config));
  std::string out = "{\"request_id\":";
  append_json_string(out, id);
  out += ",\"team\":";
  append_json_string(out, storable_text(job->decoded.request.team, 256));
  out += ",\"status\":\"error\",\"error\":{\"code\":\"result_too_large\",\"message\":";
  append_json_string(out, "the result is " + std::to_string(size) +
                              " bytes, over the results topic's limit of " +
                              std::to_string(max_record_bytes_) +
                              "; the complete result is the requests row of this request_id");
  out += "}}";
  job->result_json = std::move(out);
}

void Delivery::produce_result(Job* job) {
  if (job->result_json.size() > max_record_bytes_ && !job->result_bounded) bound_result(job);
  const std::string& key = job->decoded.request.request_id;
  if (auto err = producer_->produce(job->out_topic, key, job->result_json, {}, result_tag(job));
      !err.empty()) {
    failed(job, false, err, true, false);
  }
}

void Delivery::failed(Job* job, bool is_dlq, std::string_view error, bool permanent, bool queued) {
  ctx_.stats.produce_failures.inc();
  std::uint8_t& failures = job->produce_failures[is_dlq ? 1 : 0];
  if (failures < 255) ++failures;
  std::string change;  // what is produced instead, when anything changes
  if (permanent && !is_dlq) {
    if (job->out_topic != ctx_.config.kafka.results_topic) {
      change = "; its reply topic " + job->out_topic + " refused it, the results topic gets it";
      job->out_topic = ctx_.config.kafka.results_topic;
    } else if (!job->result_bounded) {
      change = "; replaced by the bounded result_too_large event";
      bound_result(job);
    }
  } else if (permanent && job->raw.size() > 1024) {
    change = "; the DLQ record keeps the first 1024 bytes of the event";
    job->raw.resize(1024);
  }
  // Logged at most once per 10 s, with how many failed since; every failure is counted.
  const std::int64_t now = ctx_.clock.steady_ms();
  std::int64_t last = last_warned_ms_.load(std::memory_order_relaxed);
  if (now - last < 10'000 || !last_warned_ms_.compare_exchange_strong(last, now)) {
    unwarned_.fetch_add(1, std::memory_order_relaxed);
  } else {
    worker_log()->warn(
        "{} of {} failed ({}; attempt {}){}; producing it again{} ({} more "
        "failures since the last warning)",
        queued ? "delivery" : "queueing", is_dlq ? "DLQ record" : "result", error, failures, change,
        fields_of(*job, ctx_.config), unwarned_.exchange(0, std::memory_order_relaxed));
  }
  // A changed record goes again at once and starts a new count; an unchanged one waits before it
  // goes again: 50 ms doubling to 5 s.
  std::int64_t backoff = 0;
  if (change.empty()) {
    backoff = std::min<std::int64_t>(5'000, 50LL << std::min<int>(failures - 1, 7));
  } else {
    failures = 0;
  }
  retries_.push({job, is_dlq, now + backoff});
}

void Delivery::produce_dlq(Job* job) {
  const auto& d = job->decoded;
  std::string reason = d.reason();
  std::string source =
      job->tp.topic + "/" + std::to_string(job->tp.partition) + "/" + std::to_string(job->offset);
  const char* kind = d.status == DecodeStatus::kUnreadable ? "unreadable" : "invalid";
  if (job->raw.size() + reason.size() > max_record_bytes_) {
    // The original bytes are kept as far as they fit; the headers say how many there were.
    const std::size_t keep = max_record_bytes_ / 2;
    reason = storable_text(reason, 1024) + " (record truncated: the original event is " +
             std::to_string(job->raw.size()) + " bytes, the first " + std::to_string(keep) +
             " are kept)";
    job->raw.resize(keep);
  }
  std::vector<KafkaHeader> headers = {
      {"switchyard.reason", reason}, {"switchyard.kind", kind}, {"switchyard.source", source}};
  std::string_view key = d.request.request_id;
  if (auto err =
          producer_->produce(ctx_.config.kafka.dlq_topic, key, job->raw, headers, dlq_tag(job));
      !err.empty()) {
    failed(job, true, err, true, false);
  }
}

void Delivery::on_delivery(void* tag, const char* error, bool permanent) {
  bool is_dlq = false;
  Job* job = job_of(tag, is_dlq);
  if (error) {
    // librdkafka already retried within message.timeout.ms; never dropped: produced again.
    return failed(job, is_dlq, error, permanent, true);
  }
  if (!is_dlq) ctx_.stats.result_overhead.record_us(ctx_.clock.steady_us() - job->responded_us);
  if (job->acks_pending.fetch_sub(1) == 1) completions_.push(job);
}

void Delivery::run_once(int timeout_ms) {
  producer_->poll(timeout_ms);
  retry_batch_.clear();
  retries_.take(retry_batch_, SIZE_MAX, std::chrono::milliseconds(0));
  waiting_.insert(waiting_.end(), retry_batch_.begin(), retry_batch_.end());
  if (waiting_.empty()) return;
  const std::int64_t now = ctx_.clock.steady_ms();
  retry_batch_.clear();
  std::erase_if(waiting_, [&](const Retry& r) {
    if (r.due_ms > now) return false;
    retry_batch_.push_back(r);
    return true;
  });
  for (const Retry& r : retry_batch_) {
    if (r.is_dlq) {
      produce_dlq(r.job);
    } else {
      produce_result(r.job);
    }
  }
}

}  // namespace switchyard
