// The embedded broker with plain librdkafka clients: what the worker and the CLI rely on.
#include "switchyard/kafka/mock_broker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(30);  // generous: a deadline, not a timing check

rd_kafka_conf_t* conf_with(const std::map<std::string, std::string>& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [name, value] : properties) {
    EXPECT_EQ(rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr),
              RD_KAFKA_CONF_OK)
        << name << ": " << errstr;
  }
  return conf;
}

rd_kafka_t* new_client(rd_kafka_type_t type, const std::map<std::string, std::string>& properties) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf_with(properties), errstr, sizeof errstr);
  EXPECT_NE(rk, nullptr) << errstr;
  return rk;
}

// Partition count per topic as the broker reports it in metadata.
std::map<std::string, int> partition_counts(const std::string& bootstrap) {
  rd_kafka_t* rk = new_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
  std::map<std::string, int> counts;
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &metadata, 10000);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < metadata->topic_cnt; ++i)
      counts[metadata->topics[i].topic] = metadata->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_destroy(rk);
  return counts;
}

void produce_and_flush(const std::string& bootstrap, const std::string& topic,
                       const std::vector<std::pair<std::string, std::string>>& records) {
  rd_kafka_t* producer = new_client(
      RD_KAFKA_PRODUCER,
      {{"bootstrap.servers", bootstrap}, {"acks", "all"}, {"enable.idempotence", "true"}});
  for (const auto& [key, value] : records) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
  EXPECT_EQ(rd_kafka_flush(producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(rd_kafka_outq_len(producer), 0);
  rd_kafka_destroy(producer);
}

// Consumes as a member of `group` until `wanted` records arrived (or the deadline passed),
// committing synchronously after each one.
std::map<std::string, std::string> consume_in_group(const std::string& bootstrap,
                                                    const std::string& topic,
                                                    const std::string& group, std::size_t wanted) {
  // The mock coordinator (librdkafka 2.0.2) finishes a rebalance only once every earlier member
  // rejoined or its session timed out, even after a LeaveGroup; a short session keeps a second
  // consumer of the same group from waiting the default 45 s.
  rd_kafka_t* consumer = new_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                        {"group.id", group},
                                                        {"auto.offset.reset", "earliest"},
                                                        {"enable.auto.commit", "false"},
                                                        {"session.timeout.ms", "6000"}});
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* subscription = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(subscription, topic.c_str(), RD_KAFKA_PARTITION_UA);
  EXPECT_EQ(rd_kafka_subscribe(consumer, subscription), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(subscription);

  std::map<std::string, std::string> received;
  auto deadline = Clock::now() + kDeadline;
  while (received.size() < wanted && Clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 200);
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      received[std::string(static_cast<const char*>(message->key), message->key_len)] =
          std::string(static_cast<const char*>(message->payload), message->len);
      EXPECT_EQ(rd_kafka_commit_message(consumer, message, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  return received;
}

// Committed offsets of `group`, summed over the topic's partitions.
long long committed_total(const std::string& bootstrap, const std::string& topic,
                          const std::string& group, int partitions) {
  // The mock coordinator (librdkafka 2.0.2) finishes a rebalance only once every earlier member
  // rejoined or its session timed out, even after a LeaveGroup; a short session keeps a second
  // consumer of the same group from waiting the default 45 s.
  rd_kafka_t* consumer =
      new_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap}, {"group.id", group}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  EXPECT_EQ(rd_kafka_committed(consumer, list, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  long long total = 0;
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].offset >= 0) total += list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  return total;
}

TEST(MockBroker, StartsAndReportsALoopbackBootstrapAddress) {
  MockBroker broker;
  EXPECT_EQ(broker.bootstrap_servers().rfind("127.0.0.1:", 0), 0u) << broker.bootstrap_servers();
  EXPECT_NE(broker.cluster(), nullptr);
}

TEST(MockBroker, ListsOneBootstrapAddressPerBroker) {
  MockBroker broker({.broker_count = 3});
  const std::string& bootstrap = broker.bootstrap_servers();
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 2) << bootstrap;
}

TEST(MockBroker, CreatesTopicsWithTheRequestedPartitionCounts) {
  MockBroker broker({.topics = {{"requests.interactive", 8}, {"results", 2}, {"dlq", 0}},
                     .default_partitions = 3});
  std::map<std::string, int> counts = partition_counts(broker.bootstrap_servers());
  EXPECT_EQ(counts["requests.interactive"], 8);
  EXPECT_EQ(counts["results"], 2);
  EXPECT_EQ(counts["dlq"], 3) << "a topic without a count gets default_partitions";
}

TEST(MockBroker, RoundTripsRecordsThroughAProducerAndAConsumerGroupThatCommits) {
  MockBroker broker({.topics = {{"jobs", 4}}});
  std::vector<std::pair<std::string, std::string>> records;
  for (int i = 0; i < 100; ++i)
    records.emplace_back("req-" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}");
  produce_and_flush(broker.bootstrap_servers(), "jobs", records);

  std::map<std::string, std::string> received =
      consume_in_group(broker.bootstrap_servers(), "jobs", "g1", records.size());
  ASSERT_EQ(received.size(), records.size());
  for (const auto& [key, value] : records) EXPECT_EQ(received[key], value) << key;

  // Every record was committed: the group's committed offsets add up to the record count.
  EXPECT_EQ(committed_total(broker.bootstrap_servers(), "jobs", "g1", 4), 100);
}

TEST(MockBroker, AGroupResumesAfterItsCommittedOffsets) {
  MockBroker broker({.topics = {{"jobs", 2}}});
  produce_and_flush(broker.bootstrap_servers(), "jobs", {{"a", "1"}, {"b", "2"}});
  ASSERT_EQ(consume_in_group(broker.bootstrap_servers(), "jobs", "g", 2).size(), 2u);

  produce_and_flush(broker.bootstrap_servers(), "jobs", {{"c", "3"}});
  std::map<std::string, std::string> second =
      consume_in_group(broker.bootstrap_servers(), "jobs", "g", 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second.begin()->first, "c");
}

TEST(MockBroker, RejectsAZeroBrokerCluster) {
  EXPECT_THROW(MockBroker({.broker_count = 0}), MockBrokerError);
}

TEST(ParseMockTopics, ReadsNamesWithAndWithoutPartitionCounts) {
  std::vector<MockTopic> topics;
  std::string error;
  ASSERT_TRUE(parse_mock_topics("a:4,b.c-d,e_f:16", topics, error)) << error;
  ASSERT_EQ(topics.size(), 3u);
  EXPECT_EQ(topics[0].name, "a");
  EXPECT_EQ(topics[0].partitions, 4);
  EXPECT_EQ(topics[1].name, "b.c-d");
  EXPECT_EQ(topics[1].partitions, 0);
  EXPECT_EQ(topics[2].partitions, 16);
}

TEST(ParseMockTopics, RejectsBadCountsAndEmptyNames) {
  std::vector<MockTopic> topics;
  std::string error;
  EXPECT_FALSE(parse_mock_topics("a:x", topics, error));
  EXPECT_NE(error.find("a"), std::string::npos);
  EXPECT_FALSE(parse_mock_topics("a:0", topics, error));
  EXPECT_FALSE(parse_mock_topics("a,,b", topics, error));
  EXPECT_FALSE(parse_mock_topics(":3", topics, error));
}

}  // namespace
}  // namespace switchyard
