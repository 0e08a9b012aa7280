#include "worker/delivery.h"

#include <cstdint>
#include <string>

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
    : ctx_(ctx), completions_(completions) {}

void Delivery::produce_result(Job* job) {
  const std::string& key = job->decoded.request.request_id;
  if (auto err = producer_->produce(job->out_topic, key, job->result_json, {}, result_tag(job));
      !err.empty()) {
    ctx_.stats.produce_failures.inc();
    worker_log()->error("cannot queue result: {}{}", err, fields_of(*job, ctx_.config));
    retries_.push({job, false});
  }
}

void Delivery::produce_dlq(Job* job) {
  const auto& d = job->decoded;
  std::string reason = d.reason();
  std::string source =
      job->tp.topic + "/" + std::to_string(job->tp.partition) + "/" + std::to_string(job->offset);
  const char* kind = d.status == DecodeStatus::kUnreadable ? "unreadable" : "invalid";
  std::vector<KafkaHeader> headers = {
      {"switchyard.reason", reason}, {"switchyard.kind", kind}, {"switchyard.source", source}};
  std::string_view key = d.request.request_id;
  if (auto err =
          producer_->produce(ctx_.config.kafka.dlq_topic, key, job->raw, headers, dlq_tag(job));
      !err.empty()) {
    ctx_.stats.produce_failures.inc();
    worker_log()->error("cannot queue DLQ record: {}{}", err, fields_of(*job, ctx_.config));
    retries_.push({job, true});
  }
}

void Delivery::on_delivery(void* tag, const char* error) {
  bool is_dlq = false;
  Job* job = job_of(tag, is_dlq);
  if (error) {
    // librdkafka already retried within message.timeout.ms; never drop: produce it again.
    ctx_.stats.produce_failures.inc();
    worker_log()->warn("delivery of {} failed: {}; producing it again{}",
                       is_dlq ? "DLQ record" : "result", error, fields_of(*job, ctx_.config));
    retries_.push({job, is_dlq});
    return;
  }
  if (!is_dlq) ctx_.stats.result_overhead.record_us(ctx_.clock.steady_us() - job->responded_us);
  if (job->acks_pending.fetch_sub(1) == 1) completions_.push(job);
}

void Delivery::run_once(int timeout_ms) {
  producer_->poll(timeout_ms);
  retry_batch_.clear();
  retries_.take(retry_batch_, SIZE_MAX, std::chrono::milliseconds(0));
  for (auto [job, is_dlq] : retry_batch_) {
    if (is_dlq) {
      produce_dlq(job);
    } else {
      produce_result(job);
    }
  }
}

}  // namespace switchyard
