#pragma once
// Delivery stage: produces result events and DLQ records, takes their acknowledgements, and hands
// a Job back to intake when its last one arrives (acks_pending reaches 0). A record that cannot
// be queued, or whose delivery failed after librdkafka's own retries, is produced again by the
// delivery thread after a backoff (50 ms doubling to 5 s): never dropped, never resent
// unchanged where the broker refused it for good:
//   - a result refused by a request's reply topic goes to the results topic instead;
//   - a result refused by the results topic is replaced by the bounded result_too_large event
//     (the complete result is in Postgres), a DLQ record keeps its first KiB and its reason;
//   - refused even then (the topic itself is unknown or not authorized: a deployment problem,
//     not a record's), it is produced again with the backoff until the topic is fixed or the
//     worker stops; in-flight work then fills up and intake pauses.
// Failures are logged at most once per 10 s with how many happened since (produce_failures).
//
// Threading: produce_result() / produce_dlq() from any stage's thread (the producer is
// thread-safe); on_delivery() and run_once() on the delivery thread, which polls the producer.
// Ownership: a Job handed to produce_*() belongs to the delivery stage until its acks are in;
// then it goes to `completions` (intake).
#include <atomic>
#include <cstdint>
#include <string_view>
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
  void on_delivery(void* opaque, const char* error, bool permanent);
  // Serves delivery reports for up to `timeout_ms`, then produces failed records again.
  void run_once(int timeout_ms);

 private:
  static std::size_t max_record_bytes(const Config& config);
  void bound_result(Job* job);
  // What a failed record becomes before it is produced again (see the header comment).
  void failed(Job* job, bool is_dlq, std::string_view error, bool permanent, bool queued);

  struct Retry {
    Job* job;
    bool is_dlq;
    std::int64_t due_ms;
  };

  const StageContext& ctx_;
  HandOff<Job*>& completions_;
  const std::size_t max_record_bytes_;  // the largest value produced as it is
  RecordProducer* producer_ = nullptr;
  HandOff<Retry> retries_;          // to produce again once due
  std::vector<Retry> retry_batch_;  // delivery thread only
  std::vector<Retry> waiting_;      // delivery thread only: not due yet
  std::atomic<std::int64_t> last_warned_ms_{-1'000'000};
  std::atomic<std::int64_t> unwarned_{0};
};

}  // namespace switchyard
