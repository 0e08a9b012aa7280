// `switchyard tail`: result events from the results topic -> one JSON line each on stdout.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "kafka/cli_support.h"
#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"

namespace switchyard {

namespace {

constexpr const char* kTailHelp =
    "usage: switchyard tail [options]\n"
    "\n"
    "Prints every record of the results topic as one JSON line on stdout, until SIGINT/SIGTERM,\n"
    "--count or --idle-exit-ms. Without --group it reads all partitions without joining a\n"
    "consumer group, so it disturbs nothing and commits nothing.\n"
    "\n"
    "options:\n"
    "  --bootstrap HOST:PORT   Kafka bootstrap servers (default: the config's\n"
    "                          kafka.bootstrap_servers, else 127.0.0.1:9092)\n"
    "  --config FILE           worker config: bootstrap servers, results topic, kafka.properties\n"
    "  --topic NAME            topic to read (default: kafka.results_topic, else "
    "switchyard.results)\n"
    "  --from-beginning        start at the oldest record (the default)\n"
    "  --from-end              print only records that arrive from now on\n"
    "  --count N               exit 0 after N records\n"
    "  --idle-exit-ms N        exit 0 once every partition was read to its end and nothing new\n"
    "                          arrived for N ms (or nothing at all happened for 10 s, e.g. the\n"
    "                          topic does not exist)\n"
    "  --group ID              consume as member of group ID and commit (resumes where it left "
    "off)\n"
    "  --help                  this text\n";

using Clock = std::chrono::steady_clock;

struct ConsumerDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using ConsumerPtr = std::unique_ptr<rd_kafka_t, ConsumerDeleter>;

// The record as one line: compacted when it spans several lines and is JSON.
void print_value(const rd_kafka_message_t& message) {
  if (!message.payload) {
    std::fputs("null\n", stdout);  // a tombstone
    return;
  }
  std::string_view value(static_cast<const char*>(message.payload), message.len);
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(value.data(), value.size());
    if (!doc.HasParseError()) {
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      doc.Accept(writer);
      std::fwrite(buffer.GetString(), 1, buffer.GetSize(), stdout);
      std::fputc('\n', stdout);
      return;
    }
    std::string flattened(value);
    for (char& c : flattened) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    std::fwrite(flattened.data(), 1, flattened.size(), stdout);
  } else {
    std::fwrite(value.data(), 1, value.size(), stdout);
  }
  std::fputc('\n', stdout);
}

// Partition count of `topic`, waiting while it does not exist yet. 0 when told to stop first.
int wait_for_partitions(rd_kafka_t* rk, const std::string& topic,
                        const std::function<bool()>& should_stop) {
  auto log = cli::named_logger("cli");
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  bool warned = false;
  int partitions = 0;
  while (!should_stop()) {
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, handle, &metadata, 2000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = metadata->topics[0].partition_cnt;
      } else if (metadata->topic_cnt == 1) {
        err = metadata->topics[0].err;
      }
      rd_kafka_metadata_destroy(metadata);
    }
    if (partitions > 0) break;
    if (!warned) {
      log->warn("waiting for topic {}: {}", topic,
                err == RD_KAFKA_RESP_ERR_NO_ERROR ? "no partitions" : rd_kafka_err2str(err));
      warned = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  rd_kafka_topic_destroy(handle);
  return partitions;
}

}  // namespace

int cmd_tail(const Args& args) {
  Flags flags(args, {"bootstrap", "config", "topic", "count", "idle-exit-ms", "group"},
              {"from-beginning", "from-end", "help"});
  if (flags.has("help")) {
    std::fputs(kTailHelp, stdout);
    return 0;
  }
  long long count = flags.get_int("count", 0);
  long long idle_exit_ms = flags.get_int("idle-exit-ms", 0);
  std::vector<std::string> problems = flags.errors();  // after get_int: it records bad integers
  if (count < 0) problems.push_back("--count must not be negative");
  if (idle_exit_ms < 0) problems.push_back("--idle-exit-ms must not be negative");
  if (flags.has("from-beginning") && flags.has("from-end")) {
    problems.push_back("--from-beginning and --from-end exclude each other");
  }
  if (!flags.positional().empty())
    problems.push_back("unexpected argument '" + flags.positional().front() + "'");
  cli::ClientSettings settings =
      cli::resolve_client_settings(flags.get("config"), flags.get("bootstrap"), problems);
  if (!problems.empty()) {
    for (const std::string& problem : problems)
      std::fprintf(stderr, "switchyard tail: %s\n", problem.c_str());
    std::fputs("run `switchyard tail --help` for the options\n", stderr);
    return 2;
  }
  const std::string topic = flags.get("topic", settings.config.kafka.results_topic.empty()
                                                   ? std::string("switchyard.results")
                                                   : settings.config.kafka.results_topic);
  const bool from_end = flags.has("from-end");
  const std::string group = flags.get("group");

  std::vector<std::pair<std::string, std::string>> properties = {
      {"bootstrap.servers", settings.bootstrap_servers},
      {"client.id", "switchyard-tail"},
      {"auto.offset.reset", from_end ? "latest" : "earliest"},
      // End-of-partition events tell --idle-exit-ms that the backlog has been read.
      {"enable.partition.eof", "true"},
  };
  if (group.empty()) {
    // No group membership: assign() never joins a group, so nobody's assignment is disturbed.
    // librdkafka 2.0.2 still refuses assign() without a group.id ("Unknown group"), so give it a
    // private one that is never joined and never committed to (explicit start offsets mean no
    // offset fetch either).
    properties.push_back({"group.id", "switchyard-tail-unjoined-" + std::to_string(getpid())});
    properties.push_back({"enable.auto.commit", "false"});
    properties.push_back({"enable.auto.offset.store", "false"});
  } else {
    properties.push_back({"group.id", group});
  }
  for (const auto& property : settings.extra_properties) properties.push_back(property);
  std::string error;
  cli::ConfPtr conf = cli::make_conf(properties, error);
  if (!conf) {
    std::fprintf(stderr, "switchyard tail: %s\n", error.c_str());
    return 2;
  }
  char errstr[512];
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
  if (!raw) {
    std::fprintf(stderr, "switchyard tail: cannot create Kafka consumer: %s\n", errstr);
    return 2;
  }
  conf.release();  // owned by the consumer now
  ConsumerPtr consumer(raw);
  rd_kafka_poll_set_consumer(consumer.get());
  cli::install_stop_signal_handlers();
  auto log = cli::named_logger("cli");

  // --idle-exit-ms counts from the last record or end-of-partition event, and only once every
  // assigned partition has reported its end: start-up (metadata, connection, first fetch) must
  // not count as idle, or a short setting would exit before printing the backlog. The longer
  // fallback still ends the wait when the broker or the topic never shows up.
  constexpr auto kIdleFallback = std::chrono::seconds(10);
  Clock::time_point last_activity = Clock::now();
  std::set<std::pair<std::string, int>> at_end;  // partitions whose last event was end-of-partition
  auto caught_up = [&] {
    rd_kafka_topic_partition_list_t* assignment = nullptr;
    if (rd_kafka_assignment(consumer.get(), &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR)
      return false;
    bool all_at_end = assignment->cnt > 0;
    for (int i = 0; i < assignment->cnt && all_at_end; ++i) {
      all_at_end = at_end.count({assignment->elems[i].topic, assignment->elems[i].partition}) > 0;
    }
    rd_kafka_topic_partition_list_destroy(assignment);
    return all_at_end;
  };
  auto idle_expired = [&] {
    if (idle_exit_ms <= 0) return false;
    auto idle = Clock::now() - last_activity;
    return idle >=
               std::max<Clock::duration>(std::chrono::milliseconds(idle_exit_ms), kIdleFallback) ||
           (idle >= std::chrono::milliseconds(idle_exit_ms) && caught_up());
  };
  auto should_stop = [&] { return cli::stop_requested() || idle_expired(); };

  rd_kafka_topic_partition_list_t* wanted = rd_kafka_topic_partition_list_new(1);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (group.empty()) {
    int partitions = wait_for_partitions(consumer.get(), topic, should_stop);
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(wanted, topic.c_str(), p)->offset =
          from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (partitions > 0) err = rd_kafka_assign(consumer.get(), wanted);
    log->debug("tail: topic={} partitions={} from={}", topic, partitions,
               from_end ? "end" : "beginning");
  } else {
    rd_kafka_topic_partition_list_add(wanted, topic.c_str(), RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(consumer.get(), wanted);
  }
  rd_kafka_topic_partition_list_destroy(wanted);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "switchyard tail: cannot read topic %s: %s\n", topic.c_str(),
                 rd_kafka_err2str(err));
    return 1;
  }

  const bool flush_each = cli::stdout_is_tty();
  long long printed = 0;
  int exit_code = 0;
  while (!cli::stop_requested() && (count == 0 || printed < count)) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 100);
    if (!message) {
      std::fflush(stdout);  // nothing pending: let readers see what we have
      if (idle_expired()) break;
      continue;
    }
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      print_value(*message);
      ++printed;
      last_activity = Clock::now();
      at_end.erase({rd_kafka_topic_name(message->rkt), message->partition});
      if (flush_each) std::fflush(stdout);
    } else if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      last_activity = Clock::now();
      at_end.insert({rd_kafka_topic_name(message->rkt), message->partition});
    } else {
      log->warn("tail: topic={} partition={} offset={}: {}", topic, message->partition,
                message->offset, rd_kafka_message_errstr(message));
      if (message->err == RD_KAFKA_RESP_ERR__FATAL) exit_code = 1;
    }
    rd_kafka_message_destroy(message);
    if (exit_code != 0) break;
  }
  std::fflush(stdout);
  if (cli::stop_requested()) log->debug("tail: stopped by signal after {} records", printed);
  return exit_code;
}

}  // namespace switchyard
