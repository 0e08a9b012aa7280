#pragma once
// librdkafka implementations of the worker's Kafka seams (record_io.h): a consumer-group member
// and an idempotent producer, thin RAII wrappers over librdkafka's C API.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/kafka/offset_tracker.h"
#include "switchyard/kafka/record_io.h"

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

// Thread-safety: one thread (the poll thread) calls every method.
class KafkaConsumer final : public RecordConsumer {
 public:
  // Subscribes to `topics` in consumer group `config.group_id`. Throws std::runtime_error with
  // a clear message on bad properties (start-up only). `read_signatures`: fill
  // ConsumedRecord::signature (parses each record's headers; off, they are never looked at).
  KafkaConsumer(const KafkaConfig& config, const std::vector<std::string>& topics,
                RebalanceListener* listener, bool read_signatures = false);
  ~KafkaConsumer();

  // Holds the fetched librdkafka messages until the next poll (the records view them).
  void poll(int timeout_ms, std::size_t max, std::vector<ConsumedRecord>& out) override;
  void pause(const std::vector<TopicPartition>& partitions) override;
  void resume(const std::vector<TopicPartition>& partitions) override;
  std::string commit(const std::vector<OffsetCommit>& commits, bool synchronous) override;
  const std::vector<TopicPartition>& assignment() const override { return assignment_; }
  // From librdkafka's cached watermarks (no broker round trip).
  std::vector<PartitionLag> lag() const override;
  void close() override;

 private:
  struct Impl;
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<TopicPartition> assignment_;
  std::vector<KafkaMessage> held_;  // the last poll's messages, viewed by its records
};

// Idempotent producer (acks=all). Thread-safety: produce() from any thread; delivery reports
// are delivered on the thread that calls poll().
class KafkaProducer final : public RecordProducer {
 public:
  // `on_delivery(opaque, error_text)` runs once per produced record; error_text null = acked.
  KafkaProducer(const KafkaConfig& config, DeliveryHandler on_delivery);
  ~KafkaProducer();

  // Queues a record. Blocks (serving delivery reports) while the local queue is full.
  // Returns an error text for a record that cannot be queued at all (unknown topic, too large).
  std::string produce(const std::string& topic, std::string_view key, std::string_view value,
                      const std::vector<KafkaHeader>& headers, void* opaque) override;
  void poll(int timeout_ms) override;
  bool flush(int timeout_ms) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
