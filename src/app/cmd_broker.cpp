// `switchyard broker`: runs the embedded Kafka broker (librdkafka's mock cluster) until
// SIGINT/SIGTERM. For development, tests and benchmarks.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>

#include "kafka/cli_support.h"
#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/kafka/mock_broker.h"

namespace switchyard {

namespace {

constexpr const char* kBrokerHelp =
    "usage: switchyard broker [options]\n"
    "\n"
    "Runs an embedded Kafka broker (librdkafka's mock cluster) on 127.0.0.1 until SIGINT/SIGTERM.\n"
    "It speaks the Kafka protocol, supports consumer groups and offset commits; kcat and any\n"
    "Kafka client can use it. The port is picked at start and printed as\n"
    "  broker bootstrap: 127.0.0.1:PORT\n"
    "\n"
    "options:\n"
    "  --brokers N             number of brokers (default 1)\n"
    "  --partitions N          partitions of each created topic without an explicit count (default "
    "4)\n"
    "  --topics A[:P],B[:P]    topics to create, each with P partitions (default --partitions)\n"
    "  --config FILE           also create the config's request topics (both classes), results\n"
    "                          topic and DLQ topic, each with --partitions partitions\n"
    "  --bootstrap-file PATH   write the bootstrap address to PATH once started (for scripts)\n"
    "  --help                  this text\n"
    "\n"
    "Limits: the mock keeps at most 5 MiB or 100,000 batches per partition and trims the oldest\n"
    "beyond that (librdkafka's mock defaults). Give large backlogs enough partitions.\n"
    "Topics that clients ask for and that do not exist are auto-created with 4 partitions.\n";

// Writes via a temporary file and rename, so a script waiting for PATH never reads half of it.
bool write_bootstrap_file(const std::string& path, const std::string& bootstrap,
                          std::string& error) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << bootstrap << "\n";
    if (!out.flush()) {
      error = "cannot write " + temporary;
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + temporary + " to " + path;
    return false;
  }
  return true;
}

}  // namespace

int cmd_broker(const Args& args) {
  Flags flags(args, {"brokers", "partitions", "topics", "config", "bootstrap-file"}, {"help"});
  if (flags.has("help")) {
    std::fputs(kBrokerHelp, stdout);
    return 0;
  }
  long long brokers = flags.get_int("brokers", 1);
  long long partitions = flags.get_int("partitions", 4);
  std::vector<std::string> problems = flags.errors();
  if (!flags.positional().empty())
    problems.push_back("unexpected argument '" + flags.positional().front() + "'");
  if (brokers < 1 || brokers > 64) problems.push_back("--brokers must be between 1 and 64");
  if (partitions < 1 || partitions > 10000)
    problems.push_back("--partitions must be between 1 and 10000");

  MockBrokerOptions options;
  options.broker_count = static_cast<int>(brokers);
  options.default_partitions = static_cast<int>(partitions);
  if (flags.has("topics")) {
    std::string error;
    if (!parse_mock_topics(flags.get("topics"), options.topics, error))
      problems.push_back("--topics: " + error);
  }
  if (flags.has("config")) {
    const Config config = cli::load_config_for_kafka_cli(flags.get("config"), problems);
    const KafkaConfig& kafka = config.kafka;
    for (const auto* names : {&kafka.interactive_topics, &kafka.background_topics}) {
      for (const std::string& name : *names) options.topics.push_back({name, 0});
    }
    options.topics.push_back({kafka.results_topic, 0});
    options.topics.push_back({kafka.dlq_topic, 0});
  }
  if (!problems.empty()) {
    for (const std::string& problem : problems)
      std::fprintf(stderr, "switchyard broker: %s\n", problem.c_str());
    std::fputs("run `switchyard broker --help` for the options\n", stderr);
    return 2;
  }
  // A topic named twice (in --topics and in the config) is created once, with its first count.
  std::set<std::string> seen;
  std::erase_if(options.topics,
                [&](const MockTopic& topic) { return !seen.insert(topic.name).second; });

  // Block the stop signals before librdkafka starts its threads (they inherit the mask), then
  // wait for one on this thread: no handler, no polling.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = cli::named_logger("cli");
  try {
    MockBroker broker(options);
    for (const MockTopic& topic : options.topics) {
      log->info("topic {} partitions={}", topic.name,
                topic.partitions > 0 ? topic.partitions : options.default_partitions);
    }
    if (flags.has("bootstrap-file")) {
      std::string error;
      if (!write_bootstrap_file(flags.get("bootstrap-file"), broker.bootstrap_servers(), error)) {
        std::fprintf(stderr, "switchyard broker: %s\n", error.c_str());
        return 1;
      }
    }
    std::printf("broker bootstrap: %s\n", broker.bootstrap_servers().c_str());
    std::fflush(stdout);

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    log->info("received {}, stopping the embedded broker",
              signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  } catch (const MockBrokerError& error) {
    std::fprintf(stderr, "switchyard broker: %s\n", error.what());
    return 1;
  }
  return 0;
}

}  // namespace switchyard
