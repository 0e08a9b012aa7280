// `switchyard provider-sim`: runs the OpenAI-compatible provider simulator until SIGINT/SIGTERM.
// For development, tests and benchmarks.
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {

namespace {

constexpr const char* kProviderSimHelp =
    "usage: switchyard provider-sim [options]\n"
    "\n"
    "Runs an OpenAI-compatible chat completions server until SIGINT/SIGTERM:\n"
    "  POST /v1/chat/completions   chat.completion reply with realistic usage\n"
    "  GET  /stats                 {\"requests\":N,\"ok\":N,\"errors\":N,\"rate_limited\":N,...}\n"
    "  GET  /healthz               200 ok\n"
    "Once bound it prints one line: provider-sim listening on http://HOST:PORT\n"
    "\n"
    "options:\n"
    "  --host HOST             address to listen on (default 127.0.0.1)\n"
    "  --port N                port, 0 = pick a free one (default 8080)\n"
    "  --threads N             io threads (default 1)\n"
    "  --latency-ms N          fixed latency of every reply (default 0)\n"
    "  --jitter-ms N           mean of an exponential latency tail added to it (default 0)\n"
    "  --error-rate R          share of requests answered 500, 0..1 (default 0)\n"
    "  --rate-limit-rate R     share answered 429 with Retry-After, 0..1 (default 0)\n"
    "  --retry-after-s N       Retry-After of those 429s (default 1)\n"
    "  --seed N                seed of the per-request outcome/latency draws (default 42)\n"
    "  --output-tokens N       completion length in tokens, capped by a request's max_tokens\n"
    "                          (default 16)\n"
    "  --idle-timeout-ms N     close keep-alive connections idle this long, 0 = never\n"
    "                          (default 120000)\n"
    "  --help                  this text\n"
    "\n"
    "Determinism: the n-th well-formed chat request gets the same outcome and latency for the\n"
    "same --seed; the reply text and token counts depend only on the request body.\n";

std::shared_ptr<spdlog::logger> logger() {
  if (auto existing = spdlog::get("sim")) return existing;
  try {
    return spdlog::stderr_color_mt("sim");
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get("sim");
  }
}

// The simulator holds one descriptor per connection; benchmarks open more than the usual soft
// limit of 1024.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur == limit.rlim_max) return;
  rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    logger()->warn("cannot raise the open file limit from {}: {}", before, std::strerror(errno));
    return;
  }
  logger()->info("open file limit raised from {} to {}", before, limit.rlim_max);
}

}  // namespace

int cmd_provider_sim(const Args& args) {
  Flags flags(args,
              {"host", "port", "threads", "latency-ms", "jitter-ms", "error-rate",
               "rate-limit-rate", "retry-after-s", "seed", "output-tokens", "idle-timeout-ms"},
              {"help"});
  if (flags.has("help")) {
    std::fputs(kProviderSimHelp, stdout);
    return 0;
  }

  SimOptions options;
  std::vector<std::string> problems;
  auto int_in = [&](const char* name, long long fallback, long long low, long long high) {
    long long value = flags.get_int(name, fallback);
    if (value < low || value > high) {
      problems.push_back("--" + std::string(name) + " must be between " + std::to_string(low) +
                         " and " + std::to_string(high));
    }
    return value;
  };
  auto rate = [&](const char* name) {
    double value = flags.get_double(name, 0.0);
    if (!(value >= 0.0 && value <= 1.0))
      problems.push_back("--" + std::string(name) + " must be between 0 and 1");
    return value;
  };
  options.host = flags.get("host", options.host);
  if (options.host.empty()) problems.push_back("--host must not be empty");
  options.port = static_cast<std::uint16_t>(int_in("port", options.port, 0, 65535));
  options.threads = static_cast<int>(int_in("threads", options.threads, 1, 256));
  options.latency_ms = static_cast<int>(int_in("latency-ms", options.latency_ms, 0, 3'600'000));
  options.latency_jitter_ms =
      static_cast<int>(int_in("jitter-ms", options.latency_jitter_ms, 0, 3'600'000));
  options.error_rate = rate("error-rate");
  options.rate_limit_rate = rate("rate-limit-rate");
  options.retry_after_s =
      static_cast<int>(int_in("retry-after-s", options.retry_after_s, 0, 86'400));
  options.output_tokens =
      static_cast<int>(int_in("output-tokens", options.output_tokens, 1, 1'000'000));
  options.idle_timeout_ms =
      static_cast<int>(int_in("idle-timeout-ms", options.idle_timeout_ms, 0, 86'400'000));
  if (flags.has("seed")) {
    std::string text = flags.get("seed");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), options.seed);
    if (ec != std::errc() || end != text.data() + text.size()) {
      problems.push_back("--seed must be an unsigned integer, got '" + text + "'");
    }
  }
  for (const auto& error : flags.errors()) problems.push_back(error);
  for (const auto& extra : flags.positional())
    problems.push_back("unexpected argument '" + extra + "'");
  if (!problems.empty()) {
    for (const auto& problem : problems)
      std::fprintf(stderr, "provider-sim: %s\n", problem.c_str());
    std::fputs("run `switchyard provider-sim --help` for the options\n", stderr);
    return 2;
  }

  raise_open_file_limit();

  // Block the stop signals before the simulator starts its threads (they inherit the mask), so
  // only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ProviderSimulator simulator(options);
  try {
    simulator.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());  // already says "provider-sim: ..."
    return 1;
  }
  bool ipv6 = options.host.find(':') != std::string::npos;
  std::printf("provider-sim listening on http://%s%s%s:%u\n", ipv6 ? "[" : "", options.host.c_str(),
              ipv6 ? "]" : "", static_cast<unsigned>(simulator.port()));
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  logger()->info("received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  simulator.stop();
  return 0;
}

}  // namespace switchyard
