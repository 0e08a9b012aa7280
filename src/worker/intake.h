#pragma once
// Intake stage: fetches request events (every request topic, one consumer group), decodes and
// validates them, sends what cannot be served to the DLQ (and an invalid one also to the sink as
// an invalid_request result), catches a request id already in flight here, and hands the rest to
// dedupe. It owns flow control (pause a class's partitions past its in-flight threshold, every
// partition while Postgres is down or the worker stops) and the offsets: each partition commits
// the contiguous prefix of its finished offsets.
//
// Threading: the poll thread only (run_once(), the rebalance callbacks, commit()), except the
// gauges (in_flight(), assigned(), lag()), which any thread may read. Ownership: a Job is created
// here and deleted here, when delivery hands it back through `completions` (job.h).
//
// Tenancy: an event read from a team's topic (teams[].topics) belongs to that team; one there
// that names another team is invalid_request, recorded under the topic's team, never billed to
// the other. An event naming a team the config does not list is invalid_request (unknown team)
// unless tenancy.allow_unknown_teams.
//
// Failures: an unreadable event (not JSON, no request_id) is deterministic: a DLQ record with the
// original bytes and the reason. An invalid one: DLQ record + invalid_request result. A commit
// that fails is transient (the next one covers it, logged); an offset reset (records trimmed
// before they were processed) is logged loudly and counted, with how many offsets were skipped.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "switchyard/common/clock.h"
#include "switchyard/common/metrics.h"
#include "switchyard/kafka/offset_tracker.h"
#include "switchyard/kafka/record_io.h"
#include "worker/delivery.h"
#include "worker/hand_off.h"
#include "worker/job.h"
#include "worker/sink.h"
#include "worker/stage_context.h"
#include "worker/store_health.h"
#include "worker/worker_metrics.h"

namespace switchyard {

class Intake final : public RebalanceListener {
 public:
  Intake(const StageContext& ctx, Delivery& delivery, Sink& sink, HandOff<Job*>& to_dedupe,
         HandOff<Job*>& completions);
  // The consumer is made after the stage (it calls the rebalance callbacks).
  void set_consumer(RecordConsumer* consumer) { consumer_ = consumer; }

  // One turn of the poll loop: poll (waiting up to `timeout_ms`), hand fetched work on, finish
  // completed work, flow control, the lag snapshot and a commit when due. `stopping` pauses
  // every partition.
  void run_once(int timeout_ms, bool stopping);
  void commit(bool synchronous);
  // Fetched and neither finished nor given up at shutdown: what the drain waits for.
  // (A revoke forgets a partition's pending offsets, abandoned ones included: never below 0.)
  std::size_t pending() const {
    const std::size_t p = tracker_.pending();
    return p > abandoned_ ? p - abandoned_ : 0;
  }
  bool has_completions() const { return completions_.size() > 0; }

  // RebalanceListener (poll thread, inside poll()).
  void on_assigned(const std::vector<TopicPartition>& partitions) override;
  void on_revoked(const std::vector<TopicPartition>& partitions, bool lost) override;
  void on_offset_reset(const TopicPartition& tp, const std::string& detail) override;

  // Gauges (any thread).
  std::int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  int assigned() const { return assigned_.load(std::memory_order_relaxed); }
  std::vector<PartitionLag> lag() const;

 private:
  void handle(const ConsumedRecord& record);
  // Tenancy (see the header comment): may turn a decoded event invalid, and set its team.
  void check_team(Job* job);
  // Signed events: a team with signing keys is proven only by a valid signature.
  void check_signature(Job* job, std::string_view signature, std::string_view value);
  void finish_completed(Job* job);
  void report_skipped(const TopicPartition& tp, std::int64_t offset);
  void set_limits();
  std::size_t room() const;
  std::vector<TopicPartition> assigned_of_class(std::size_t cls) const;
  void flow_control(bool stopping);

  const StageContext& ctx_;
  Delivery& delivery_;
  Sink& sink_;
  HandOff<Job*>& to_dedupe_;
  HandOff<Job*>& completions_;
  RecordConsumer* consumer_ = nullptr;

  // Poll thread only.
  OffsetTracker tracker_;
  // (team, request_id) -> the job serving it; the key views the job's own request.
  std::unordered_map<RequestKey, Job*, RequestKeyHash> in_flight_by_id_;
  std::unordered_map<std::string, const TeamConfig*> topic_owner_;  // teams[].topics
  std::unordered_map<std::string_view, const TeamConfig*> teams_;   // by name
  struct Signer {
    std::vector<std::string> keys;  // read from teams[].signing_key_env at start
    bool required = true;
  };
  std::unordered_map<std::string_view, Signer> signers_;  // teams with signing keys
  std::int64_t last_signature_warning_ms_ = -1'000'000;
  std::vector<ConsumedRecord> records_;
  std::vector<Job*> fetched_, done_;
  std::vector<TopicPartition> reset_partitions_;
  bool repause_ = false;
  std::size_t abandoned_ = 0;  // jobs given up at shutdown; their offsets stay pending
  // Per class, [interactive, background]: whether its partitions are paused, and the in-flight
  // counts at which they pause and below which they resume. Background stops first, so the
  // last worker.interactive_in_flight_reserve of the cap is only ever filled by interactive
  // topics.
  bool paused_[2] = {false, false};
  std::size_t pause_at_[2] = {0, 0};
  std::size_t resume_below_[2] = {0, 0};
  std::int64_t last_commit_ms_ = 0;
  std::int64_t last_lag_ms_ = -1'000'000;

  // Gauges.
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<int> assigned_{0};
  mutable std::mutex lag_mutex_;
  std::vector<PartitionLag> lag_snapshot_;  // guarded by lag_mutex_
};

}  // namespace switchyard
