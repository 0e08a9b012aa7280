#include "switchyard/kafka/mock_broker.h"

#include <charconv>

#include "kafka/cli_support.h"

namespace switchyard {

MockBroker::MockBroker(const MockBrokerOptions& options) {
  if (options.broker_count < 1) throw MockBrokerError("broker_count must be at least 1");
  if (options.default_partitions < 1)
    throw MockBrokerError("default_partitions must be at least 1");

  std::string error;
  cli::ConfPtr conf =
      cli::make_conf({{"client.id", "switchyard-mock-broker"},
                      // Warnings and errors only: without this, every start logs that the
                      // handle has no bootstrap.servers, which it never needs.
                      {"log_level", "4"}},
                     error);
  if (!conf) throw MockBrokerError(error);
  char errstr[512];
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (!handle_)
    throw MockBrokerError(std::string("cannot create the mock cluster's handle: ") + errstr);
  conf.release();  // owned by handle_ now

  cluster_ = rd_kafka_mock_cluster_new(handle_, options.broker_count);
  if (!cluster_) {
    rd_kafka_destroy(handle_);
    throw MockBrokerError("cannot start the mock cluster (no free loopback port?)");
  }
  bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(cluster_);

  try {
    for (const MockTopic& topic : options.topics) {
      create_topic(topic.name,
                   topic.partitions > 0 ? topic.partitions : options.default_partitions);
    }
  } catch (...) {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
    throw;
  }
  cli::named_logger("kafka")->info("embedded broker started: bootstrap={} brokers={} topics={}",
                                   bootstrap_servers_, options.broker_count, options.topics.size());
}

MockBroker::~MockBroker() {
  // The cluster uses the handle for its bookkeeping, so it goes first.
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

void MockBroker::create_topic(const std::string& name, int partitions) {
  if (name.empty()) throw MockBrokerError("topic name is empty");
  if (partitions < 1) throw MockBrokerError("topic " + name + ": partitions must be at least 1");
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw MockBrokerError("cannot create topic " + name + ": " + rd_kafka_err2str(err));
  }
  cli::named_logger("kafka")->debug("embedded broker: topic={} partitions={}", name, partitions);
}

bool parse_mock_topics(const std::string& text, std::vector<MockTopic>& topics,
                       std::string& error) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string entry =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (entry.empty()) {
      error = "empty topic name in '" + text + "'";
      return false;
    }
    MockTopic topic;
    std::size_t colon = entry.rfind(':');
    topic.name = entry.substr(0, colon);
    if (colon != std::string::npos) {
      std::string count = entry.substr(colon + 1);
      int partitions = 0;
      auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), partitions);
      if (ec != std::errc() || ptr != count.data() + count.size() || partitions < 1) {
        error = "topic " + topic.name + ": partition count must be a positive integer, got '" +
                count + "'";
        return false;
      }
      topic.partitions = partitions;
    }
    if (topic.name.empty()) {
      error = "empty topic name in '" + entry + "'";
      return false;
    }
    topics.push_back(std::move(topic));
  }
  return true;
}

}  // namespace switchyard
