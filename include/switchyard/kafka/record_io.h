#pragma once
// The worker's Kafka seams: what it needs of a consumer-group member and of a producer, as two
// small interfaces, so stages can be driven by fakes in tests (Envoy's Kafka mesh filter hides
// librdkafka behind a factory for the same reason). KafkaConsumer / KafkaProducer (client.h) are
// the librdkafka implementations.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/kafka/offset_tracker.h"

namespace switchyard {

// One fetched record, as views into the consumer's buffers: valid until the next poll() or
// close() of the consumer that returned it.
struct ConsumedRecord {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string_view value;
  std::int64_t timestamp_ms = -1;  // -1 when unknown
  // The last `switchyard-signature` header (event/signature.h); empty when absent, or when the
  // consumer was not asked to read signatures (no team signs: headers are never parsed).
  std::string_view signature;
};

// Called on the poll thread, inside poll(), before partitions change hands.
struct RebalanceListener {
  virtual ~RebalanceListener() = default;
  virtual void on_assigned(const std::vector<TopicPartition>& partitions) = 0;
  virtual void on_revoked(const std::vector<TopicPartition>& partitions, bool lost) = 0;
  // A fetch position was out of range (retention or the embedded broker's trimming): the
  // consumer resets and records are skipped. Never silent: the worker logs and counts it.
  virtual void on_offset_reset(const TopicPartition& tp, const std::string& detail) = 0;
};

// Messages between a consumer's position and the end of an assigned partition; -1 = unknown.
struct PartitionLag {
  TopicPartition tp;
  std::int64_t lag = -1;
};

// Thread-safety: one thread (the worker's poll thread) calls every method.
class RecordConsumer {
 public:
  virtual ~RecordConsumer() = default;
  // Appends up to `max` records to `out`, waiting at most `timeout_ms` for the first. Records
  // of an earlier poll are released (their views dangle).
  virtual void poll(int timeout_ms, std::size_t max, std::vector<ConsumedRecord>& out) = 0;
  virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
  // Commits positions; returns an error text or "".
  virtual std::string commit(const std::vector<OffsetCommit>& commits, bool synchronous) = 0;
  virtual const std::vector<TopicPartition>& assignment() const = 0;
  virtual std::vector<PartitionLag> lag() const = 0;
  virtual void close() = 0;  // leaves the group; idempotent
};

struct KafkaHeader {
  const char* name;
  std::string_view value;
};

// `(opaque, error_text, permanent)` once per produced record; error_text null = acknowledged.
// `permanent`: after librdkafka's own retries, the broker refuses this record on this topic for
// good (too large for the topic, topic unknown or not authorized, refused by policy); producing
// it again unchanged would fail the same way. Otherwise the failure was transient (timed out,
// broker unreachable).
using DeliveryHandler = std::function<void(void* opaque, const char* error_text, bool permanent)>;

// Thread-safety: produce() from any thread; delivery reports (the DeliveryHandler given to the
// factory that made the producer) run on the thread that calls poll().
class RecordProducer {
 public:
  virtual ~RecordProducer() = default;
  // Queues a record; `opaque` comes back with its delivery report. Returns an error text for a
  // record that cannot be queued at all (unknown topic, too large: permanent for this record and
  // topic), else "". A full queue is waited out, not returned.
  virtual std::string produce(const std::string& topic, std::string_view key,
                              std::string_view value, const std::vector<KafkaHeader>& headers,
                              void* opaque) = 0;
  virtual void poll(int timeout_ms) = 0;
  virtual bool flush(int timeout_ms) = 0;  // true when every record was delivered or failed
};

}  // namespace switchyard
