#pragma once
// The embedded Kafka broker: librdkafka's mock cluster (rdkafka_mock.h), which speaks the real
// Kafka wire protocol on loopback, supports consumer groups and offset commits, and can inject
// broker faults. Used by `switchyard broker`, by tests and by benchmarks; never in production.
//
// Lifecycle: the constructor starts the cluster (its brokers listen on 127.0.0.1 at ports the
// kernel picks) and creates the requested topics; the destructor stops it. Any client connected
// to bootstrap_servers() loses its brokers when the MockBroker is destroyed.
//
// Threading: the mock cluster runs on its own internal thread, owned by librdkafka; the object
// itself is not synchronised. Construct and destroy it on one thread; create_topic() and the
// rd_kafka_mock_* fault-injection calls on cluster() may be made from any thread (librdkafka
// forwards them to the cluster thread).
//
// Limits (librdkafka's mock defaults, not configurable through its public API): each partition
// keeps at most 5 MiB or 100,000 batches and trims the oldest beyond that. Give large backlogs
// enough partitions.
//
// Consumer groups: the mock coordinator completes a rebalance only when every earlier member has
// rejoined or its session has timed out, even after that member sent LeaveGroup. A consumer that
// joins a group right after another member left (e.g. a restarted worker) waits up to the old
// member's session.timeout.ms (librdkafka default 45 s); use a short session in tests.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard {

struct MockTopic {
  std::string name;
  int partitions = 0;  // 0 = MockBrokerOptions::default_partitions
};

struct MockBrokerOptions {
  int broker_count = 1;
  std::vector<MockTopic> topics;  // created at start, replication factor 1
  int default_partitions = 4;     // for topics given without a partition count
};

// Thrown by the constructor when the cluster cannot start or a topic cannot be created.
class MockBrokerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MockBroker {
 public:
  explicit MockBroker(const MockBrokerOptions& options = {});
  ~MockBroker();
  MockBroker(const MockBroker&) = delete;
  MockBroker& operator=(const MockBroker&) = delete;

  // Comma-separated "127.0.0.1:PORT" list, one entry per broker; valid for the object's lifetime.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }

  // Creates a topic with `partitions` partitions (replication factor 1). Throws MockBrokerError.
  void create_topic(const std::string& name, int partitions);

  // For fault injection (rd_kafka_mock_push_request_errors, rd_kafka_mock_broker_set_down, ...).
  // Owned by this object.
  rd_kafka_mock_cluster_t* cluster() const { return cluster_; }

 private:
  // The cluster needs an rd_kafka_t for its bookkeeping; a producer handle that never produces.
  // Declared before cluster_: the cluster must be destroyed first (see the destructor).
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_servers_;
};

// Parses "name[:partitions],name[:partitions],..." (as given to `switchyard broker --topics`).
// Entries without a count get partitions = 0 (the default). Returns false and sets `error` on
// an empty name or a count that is not a positive integer.
bool parse_mock_topics(const std::string& text, std::vector<MockTopic>& topics, std::string& error);

}  // namespace switchyard
