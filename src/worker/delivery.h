#pragma once
// Delivery stage: produces result events and DLQ records, takes their acknowledgements, and hands
// a Job back to intake when its last one arrives (acks_pending reaches 0). A record that cannot
// be queued, or whose delivery failed after librdkafka's own retries, is produced again by the
// delivery thread: never dropped.
//
// Threading: produce_result() / produce_dlq() from any stage's thread (the producer is
// thread-safe); on_delivery() and run_once() on the delivery thread, which polls the producer.
// Ownership: a Job handed to produce_*() belongs to the delivery stage until its acks are in;
// then it goes to `completions` (intake).
#include <utility>
#include <vector>

#include "switchyard/common/clock.h"
#include "switchyard/config/config.h"
#include "switchyard/kafka/record_io.h"
#include "switchyard/worker/worker.h"
#include "worker/hand_off.h"
#include "worker/job.h"
#include "worker/stage_context.h"

namespace switchyard {

class Delivery {
 public:
  Delivery(const StageContext& ctx, HandOff<Job*>& completions);
  // The producer is made after the stage (its delivery handler calls on_delivery()).
  void set_producer(RecordProducer* producer) { producer_ = producer; }

  // A result event over the producer's record limit is replaced by a bounded error event
  // (code result_too_large; the complete result stays in Postgres); a DLQ record over it keeps
  // the first half of the original bytes and says so in its reason.
  void produce_result(Job* job);
  void produce_dlq(Job* job);
  // A job given up at shutdown (Job::abandoned): back to intake with nothing produced.
  void abandon(Job* job) { completions_.push(job); }
  // The producer's delivery report for a record produced above.
  void on_delivery(void* opaque, const char* error);
  // Serves delivery reports for up to `timeout_ms`, then produces failed records again.
  void run_once(int timeout_ms);

 private:
  static std::size_t max_record_bytes(const Config& config);
  void bound_result(Job* job);

  const StageContext& ctx_;
  HandOff<Job*>& completions_;
  const std::size_t max_record_bytes_;  // the largest value produced as it is
  RecordProducer* producer_ = nullptr;
  HandOff<std::pair<Job*, bool>> retries_;          // (job, is_dlq) to produce again
  std::vector<std::pair<Job*, bool>> retry_batch_;  // delivery thread only
};

}  // namespace switchyard
