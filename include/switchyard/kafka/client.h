#pragma once
// The worker's Kafka seam: a consumer-group member and an idempotent producer, thin RAII
// wrappers over librdkafka's C API.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/kafka/offset_tracker.h"

struct rd_kafka_message_s;

namespace switchyard {

// One fetched record; owns the librdkafka message until destroyed.
class KafkaMessage {
 public:
  explicit KafkaMessage(rd_kafka_message_s* msg) : msg_(msg) {}
  KafkaMessage(KafkaMessage&& o) noexcept : msg_(std::exchange(o.msg_, nullptr)) {}
  KafkaMessage& operator=(KafkaMessage&& o) noexcept;
  ~KafkaMessage();

  std::string_view topic() const;
  std::int32_t partition() const;
  std::int64_t offset() const;
  std::string_view key() const;
  std::string_view value() const;
  std::int64_t timestamp_ms() const;  // -1 when unknown
  int error() const;                  // rd_kafka_resp_err_t; 0 = a real record
  std::string error_text() const;

 private:
  rd_kafka_message_s* msg_;
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

// Thread-safety: one thread (the poll thread) calls every method.
class KafkaConsumer {
 public:
  // Subscribes to `topics` in consumer group `config.group_id`. Throws std::runtime_error with
  // a clear message on bad properties (start-up only).
  KafkaConsumer(const KafkaConfig& config, const std::vector<std::string>& topics,
                RebalanceListener* listener);
  ~KafkaConsumer();

  // Appends up to `max` records to `out`, waiting at most `timeout_ms` for the first.
  void poll(int timeout_ms, std::size_t max, std::vector<KafkaMessage>& out);
  void pause(const std::vector<TopicPartition>& partitions);
  void resume(const std::vector<TopicPartition>& partitions);
  // Commits positions; returns an error text or "".
  std::string commit(const std::vector<OffsetCommit>& commits, bool synchronous);
  const std::vector<TopicPartition>& assignment() const { return assignment_; }
  // Messages between this consumer's position and the end of each assigned partition, from
  // librdkafka's cached watermarks (no broker round trip); -1 when not yet known.
  struct PartitionLag {
    TopicPartition tp;
    std::int64_t lag = -1;
  };
  std::vector<PartitionLag> lag() const;
  void close();  // leaves the group; idempotent

 private:
  struct Impl;
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<TopicPartition> assignment_;
};

struct KafkaHeader {
  const char* name;
  std::string_view value;
};

// Idempotent producer (acks=all). Thread-safety: produce() from any thread; delivery reports
// are delivered on the thread that calls poll().
class KafkaProducer {
 public:
  // `on_delivery(opaque, error_text)` runs once per produced record; error_text empty = acked.
  using DeliveryHandler = std::function<void(void* opaque, const char* error_text)>;
  KafkaProducer(const KafkaConfig& config, DeliveryHandler on_delivery);
  ~KafkaProducer();

  // Queues a record. Blocks (serving delivery reports) while the local queue is full.
  // Returns an error text for a record that cannot be queued at all (unknown topic, too large).
  std::string produce(const std::string& topic, std::string_view key, std::string_view value,
                      const std::vector<KafkaHeader>& headers, void* opaque);
  void poll(int timeout_ms);
  bool flush(int timeout_ms);  // true when every record was delivered or failed

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
