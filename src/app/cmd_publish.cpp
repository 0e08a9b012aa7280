// `switchyard publish`: JSONL (request.v1 events or OpenAI Batch API lines) -> a request topic.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kafka/cli_support.h"
#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/event/signature.h"
#include "switchyard/kafka/publish_line.h"

namespace switchyard {

namespace {

constexpr const char* kPublishHelp =
    "usage: switchyard publish [options] [FILE]\n"
    "\n"
    "Publishes JSONL from FILE (or stdin when FILE is '-' or absent) to a request topic.\n"
    "Each line is a switchyard.request.v1 event (has request_id; published as it is, key =\n"
    "request_id) or an OpenAI Batch API input line (custom_id, method, url, body; converted to\n"
    "request.v1 with request_id = custom_id). Bad lines are reported as `line N: reason` and\n"
    "skipped; the exit code is 1 when any line was skipped or any record was not delivered.\n"
    "\n"
    "options:\n"
    "  --bootstrap HOST:PORT     Kafka bootstrap servers (default: the config's\n"
    "                            kafka.bootstrap_servers, else 127.0.0.1:9092)\n"
    "  --config FILE             worker config: bootstrap servers, topics, kafka.properties\n"
    "  --priority CLASS          interactive | background (default background); picks the\n"
    "                            default topic: the class's first topic in the config\n"
    "  --topic NAME              publish to NAME instead\n"
    "  --team TEAM               team for Batch API lines and for events without a team\n"
    "  --sign-key-env NAME       sign every record with the first key in environment\n"
    "                            variable NAME (the team's teams[].signing_key_env): an\n"
    "                            HMAC-SHA256 of the value in header switchyard-signature\n"
    "  --quiet                   no progress bar and no summary line\n"
    "  --help                    this text\n";

std::string with_thousands(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// Lines in a regular file (a fast pass over its bytes), for the progress bar's total.
// Returns 0 when unknown.
std::uint64_t count_lines(std::FILE* file) {
  struct stat info {};
  if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) return 0;
  std::uint64_t lines = 0;
  char last = '\n';
  std::unique_ptr<char[]> buffer(new char[1 << 20]);
  std::size_t n = 0;
  while ((n = std::fread(buffer.get(), 1, 1 << 20, file)) > 0) {
    for (const char* p = buffer.get();
         (p = static_cast<const char*>(std::memchr(p, '\n', n - (p - buffer.get())))); ++p) {
      ++lines;
    }
    last = buffer[n - 1];
  }
  if (last != '\n') ++lines;
  std::rewind(file);
  return lines;
}

using Clock = std::chrono::steady_clock;

// Progress on stderr: a bar redrawn in place when stderr is a terminal, nothing otherwise.
class Progress {
 public:
  Progress(bool enabled, std::uint64_t total)
      : enabled_(enabled), total_(total), start_(Clock::now()) {}

  void update(std::uint64_t published, bool force = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    double rate = published / std::max(seconds_since_start(), 1e-3);
    if (total_ > 0) {
      constexpr int kWidth = 30;
      int filled =
          static_cast<int>(kWidth * std::min<double>(1.0, double(published) / double(total_)));
      std::fprintf(stderr, "\r[%s%s] %s/%s  %s/s\x1b[K", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, '.').c_str(), with_thousands(published).c_str(),
                   with_thousands(total_).c_str(),
                   with_thousands(static_cast<std::uint64_t>(rate)).c_str());
    } else {
      std::fprintf(stderr, "\r%s published  %s/s\x1b[K", with_thousands(published).c_str(),
                   with_thousands(static_cast<std::uint64_t>(rate)).c_str());
    }
  }
  void finish(std::uint64_t published) {
    if (!enabled_) return;
    update(published, true);
    std::fputc('\n', stderr);
  }
  double seconds_since_start() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  bool enabled_;
  std::uint64_t total_;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
};

}  // namespace

int cmd_publish(const Args& args) {
  Flags flags(args, {"bootstrap", "config", "topic", "priority", "team", "sign-key-env"},
              {"quiet", "help"});
  if (flags.has("help")) {
    std::fputs(kPublishHelp, stdout);
    return 0;
  }
  std::vector<std::string> problems = flags.errors();
  std::string priority = flags.get("priority", "background");
  if (priority != "interactive" && priority != "background") {
    problems.push_back("--priority must be interactive or background, got '" + priority + "'");
  }
  if (flags.positional().size() > 1) problems.push_back("give at most one input FILE");
  cli::ClientSettings settings =
      cli::resolve_client_settings(flags.get("config"), flags.get("bootstrap"), problems);
  std::string topic = flags.get("topic");
  if (topic.empty()) {
    const auto& topics = priority == "interactive" ? settings.config.kafka.interactive_topics
                                                   : settings.config.kafka.background_topics;
    if (topics.empty()) {
      problems.push_back("the config has no " + priority + " topic: pass --topic");
    } else {
      topic = topics.front();
    }
  }
  // The key comes from the environment, never from argv (which `ps` shows to every user).
  std::string signing_key;
  if (const std::string env = flags.get("sign-key-env"); !env.empty()) {
    const char* value = std::getenv(env.c_str());
    const auto keys = split_signing_keys(value ? value : "");
    if (keys.empty()) {
      problems.push_back("--sign-key-env: environment variable " + env + " is not set (or empty)");
    } else if (keys.front().size() < kMinSigningKeyBytes) {
      problems.push_back(
          "--sign-key-env: the key in " + env + " has " + std::to_string(keys.front().size()) +
          " bytes; a signing key needs at least " + std::to_string(kMinSigningKeyBytes));
    } else {
      signing_key = keys.front();
    }
  }
  std::string input_path = flags.positional().empty() ? "-" : flags.positional().front();
  std::FILE* input = stdin;
  if (problems.empty() && input_path != "-") {
    input = std::fopen(input_path.c_str(), "rb");
    if (!input) problems.push_back("cannot open " + input_path + ": " + std::strerror(errno));
  }
  if (!problems.empty()) {
    for (const std::string& problem : problems)
      std::fprintf(stderr, "switchyard publish: %s\n", problem.c_str());
    std::fputs("run `switchyard publish --help` for the options\n", stderr);
    return 2;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> input_guard(input == stdin ? nullptr : input,
                                                              &std::fclose);

  const bool quiet = flags.has("quiet");
  const bool show_bar = !quiet && cli::stderr_is_tty();
  const std::string team = flags.get("team");

  std::unique_ptr<cli::CliProducer> producer;
  try {
    producer = std::make_unique<cli::CliProducer>(settings, topic);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "switchyard publish: %s\n", error.what());
    return 2;
  }
  cli::install_stop_signal_handlers();

  Progress progress(show_bar, show_bar ? count_lines(input) : 0);
  std::uint64_t line_number = 0;
  std::uint64_t skipped = 0;
  std::uint64_t produced = 0;
  bool interrupted = false;

  char* line = nullptr;
  std::size_t capacity = 0;
  ssize_t length = 0;
  while ((length = getline(&line, &capacity, input)) >= 0) {
    ++line_number;
    if (cli::stop_requested()) {
      interrupted = true;
      break;
    }
    std::string_view text(line, static_cast<std::size_t>(length));
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    PublishLine converted = convert_publish_line(text, team);
    if (converted.kind == PublishLineKind::kBlank) continue;
    if (!converted.ok()) {
      ++skipped;
      std::fprintf(stderr, "%sline %llu: %s\n", show_bar ? "\r\x1b[K" : "",
                   static_cast<unsigned long long>(line_number), converted.error.c_str());
      continue;
    }
    const std::string signature =
        signing_key.empty() ? std::string() : sign_event(signing_key, converted.value);
    if (producer->produce(converted.request_id, converted.value, signature)) ++produced;
    if ((line_number & 1023) == 0) {
      producer->poll();
      progress.update(producer->counts().delivered);
    }
  }
  std::free(line);
  if (std::ferror(input)) {
    std::fprintf(stderr, "switchyard publish: error reading %s: %s\n", input_path.c_str(),
                 std::strerror(errno));
  }

  // Wait for every delivery report; each record is delivered or failed within message.timeout.ms.
  // A second SIGINT ends the process at once (the handler is one-shot).
  while (producer->flush(100) > 0) progress.update(producer->counts().delivered);
  progress.finish(producer->counts().delivered);

  const cli::DeliveryCounts& counts = producer->counts();
  if (!quiet) {
    double seconds = progress.seconds_since_start();
    std::fprintf(
        stderr, "published %s to %s in %.2f s (%s/s); skipped %s line%s; %s delivery failure%s%s\n",
        with_thousands(counts.delivered).c_str(), topic.c_str(), seconds,
        with_thousands(static_cast<std::uint64_t>(counts.delivered / std::max(seconds, 1e-3)))
            .c_str(),
        with_thousands(skipped).c_str(), skipped == 1 ? "" : "s",
        with_thousands(counts.failed).c_str(), counts.failed == 1 ? "" : "s",
        interrupted ? " (interrupted)" : "");
  }
  for (const auto& [reason, count] : counts.failure_reasons) {
    std::fprintf(stderr, "switchyard publish: %s record%s not delivered: %s\n",
                 with_thousands(count).c_str(), count == 1 ? "" : "s", reason.c_str());
  }
  if (interrupted) {
    std::fprintf(
        stderr,
        "switchyard publish: interrupted before line %llu; %s of %s produced records delivered\n",
        static_cast<unsigned long long>(line_number), with_thousands(counts.delivered).c_str(),
        with_thousands(produced).c_str());
    return 130;
  }
  return (skipped > 0 || counts.failed > 0) ? 1 : 0;
}

}  // namespace switchyard
