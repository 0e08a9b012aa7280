// `switchyard provider-sim`: runs the provider simulator (OpenAI, Azure OpenAI and Anthropic
// dialects, fault scripts, optional TLS) until SIGINT/SIGTERM.
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
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
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
    "Runs a simulated LLM provider until SIGINT/SIGTERM, speaking three APIs on one port:\n"
    "  POST /v1/chat/completions                  OpenAI chat.completion (no key needed)\n"
    "  POST /openai/deployments/{deployment}/chat/completions?api-version=V\n"
    "                                             Azure OpenAI (api-key header; model = "
    "deployment)\n"
    "  POST /v1/messages                          Anthropic Messages (x-api-key and\n"
    "                                             anthropic-version 2023-06-01 headers)\n"
    "  GET  /stats                                "
    "{\"requests\":N,\"ok\":N,\"errors\":N,...,\"models\":{...}}\n"
    "  GET  /healthz                              200 ok\n"
    "Replies and errors have each provider's shapes; usage reports cached and reasoning tokens\n"
    "(see include/switchyard/sim/provider_sim.h for every rule). A prompt containing\n"
    "[[sim:content_filter]] is refused by the provider's content filter.\n"
    "Once bound it prints one line: provider-sim listening on http(s)://HOST:PORT\n"
    "\n"
    "options:\n"
    "  --host HOST             address to listen on (default 127.0.0.1)\n"
    "  --port N                port, 0 = pick a free one (default 8080)\n"
    "  --threads N             io threads (default 1)\n"
    "  --latency-ms N          fixed latency of every reply (default 0)\n"
    "  --jitter-ms N           mean of an exponential latency tail added to it (default 0)\n"
    "  --error-rate R          share of requests answered 500 (Anthropic: 529), 0..1 (default 0)\n"
    "  --rate-limit-rate R     share answered 429 with Retry-After, 0..1 (default 0)\n"
    "  --retry-after-s N       Retry-After of those 429s (default 1)\n"
    "  --seed N                seed of the per-request outcome/latency draws (default 42)\n"
    "  --output-tokens N       completion length in tokens, capped by a request's max_tokens\n"
    "                          (default 16)\n"
    "  --idle-timeout-ms N     close keep-alive connections idle this long, 0 = never\n"
    "                          (default 120000)\n"
    "  --context-windows LIST  per-model context windows in tokens, MODEL=N,MODEL=N,...\n"
    "                          (Azure: deployment names); over it: the provider's too-long error\n"
    "  --default-context-window N\n"
    "                          context window of every other model, 0 = unlimited (default 0)\n"
    "  --faults FILE           fault script (JSON): rules like\n"
    "                          "
    "[{\"model\":\"gpt-4o\",\"from_ms\":0,\"until_ms\":60000,\"kind\":\"down\"},\n"
    "                           {\"kind\":\"errors\",\"status\":503,\"rate\":0.2},\n"
    "                           {\"kind\":\"rate_limit\",\"rate\":0.1,\"retry_after_s\":2},\n"
    "                           {\"kind\":\"slow_first_byte\",\"delay_ms\":3000,\"rate\":0.05},\n"
    "                           {\"kind\":\"malformed\",\"rate\":0.01}]\n"
    "                          the first matching rule that fires decides (times from start)\n"
    "  --listen-backlog N      the kernel's accept queue (default 65535, capped by somaxconn)\n"
    "  --accept-delay-ms N     pause after each accept: a server that accepts slowly (default 0)\n"
    "  --max-connections N     connections open at once, like a thread per connection; further\n"
    "                          ones wait in the accept queue (default 0 = no cap)\n"
    "  --rpm N / --tpm N       limits in the rate-limit headers (default 10000 / 10000000)\n"
    "  --enforce-limits        enforce them per wall-clock minute: past the minute's requests\n"
    "                          or prompt tokens, 429 with Retry-After to the next minute\n"
    "  --tls-cert FILE         serve HTTPS with this PEM certificate (chain allowed) ...\n"
    "  --tls-key FILE          ... and this PEM private key\n"
    "  --help                  this text\n"
    "\n"
    "Determinism: the n-th request that passes validation gets the same outcome and latency for\n"
    "the same --seed (fault windows also depend on its arrival time); reply text and token\n"
    "counts depend only on the request body, except prompt-cache hits (a cacheable prefix is a\n"
    "hit once a reply has cached it).\n";

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

bool read_file(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream content;
  content << in.rdbuf();
  text = content.str();
  return true;
}

// "gpt-4o=128000,claude-3-5-sonnet=200000" -> map; problems appended.
std::optional<std::map<std::string, std::uint64_t>> parse_context_windows(
    const std::string& list, std::vector<std::string>& problems) {
  std::map<std::string, std::uint64_t> windows;
  std::size_t before = problems.size();
  std::size_t begin = 0;
  while (begin <= list.size()) {
    std::size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(begin, end - begin);
    begin = end + 1;
    if (item.empty()) continue;
    std::size_t eq = item.rfind('=');
    std::uint64_t tokens = 0;
    const char* digits = eq == std::string::npos ? nullptr : item.c_str() + eq + 1;
    auto parsed = digits ? std::from_chars(digits, item.c_str() + item.size(), tokens)
                         : std::from_chars_result{nullptr, std::errc::invalid_argument};
    if (eq == 0 || digits == nullptr || parsed.ec != std::errc() ||
        parsed.ptr != item.c_str() + item.size() || tokens == 0) {
      problems.push_back("--context-windows: '" + item +
                         "' is not MODEL=TOKENS with TOKENS a positive integer");
      continue;
    }
    windows[item.substr(0, eq)] = tokens;
  }
  if (problems.size() != before) return std::nullopt;
  return windows;
}

}  // namespace

int cmd_provider_sim(const Args& args) {
  Flags flags(args,
              {"host", "port", "threads", "latency-ms", "jitter-ms", "error-rate",
               "rate-limit-rate", "retry-after-s", "seed", "output-tokens", "idle-timeout-ms",
               "context-windows", "default-context-window", "faults", "tls-cert", "tls-key",
               "listen-backlog", "accept-delay-ms", "max-connections", "rpm", "tpm"},
              {"help", "enforce-limits"});
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
  options.listen_backlog =
      static_cast<int>(int_in("listen-backlog", options.listen_backlog, 1, 65535));
  options.accept_delay_ms =
      static_cast<int>(int_in("accept-delay-ms", options.accept_delay_ms, 0, 60'000));
  options.max_connections =
      static_cast<int>(int_in("max-connections", options.max_connections, 0, 1'000'000));
  options.requests_per_minute = static_cast<std::uint64_t>(
      int_in("rpm", static_cast<long long>(options.requests_per_minute), 1, 1'000'000'000));
  options.tokens_per_minute = static_cast<std::uint64_t>(
      int_in("tpm", static_cast<long long>(options.tokens_per_minute), 1, 1'000'000'000'000));
  options.enforce_limits = flags.has("enforce-limits");
  if (flags.has("seed")) {
    std::string text = flags.get("seed");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), options.seed);
    if (ec != std::errc() || end != text.data() + text.size()) {
      problems.push_back("--seed must be an unsigned integer, got '" + text + "'");
    }
  }
  options.default_context_window =
      static_cast<std::uint64_t>(int_in("default-context-window", 0, 0, 100'000'000));
  if (flags.has("context-windows")) {
    if (auto windows = parse_context_windows(flags.get("context-windows"), problems))
      options.context_windows = std::move(*windows);
  }
  if (flags.has("faults")) {
    std::string path = flags.get("faults");
    std::string text;
    if (!read_file(path, text)) {
      problems.push_back("--faults: cannot read '" + path + "': " + std::strerror(errno));
    } else {
      std::string error;
      if (auto rules = parse_fault_script(text, error)) {
        options.faults = std::move(*rules);
      } else {
        std::size_t begin = 0;
        while (begin < error.size()) {
          std::size_t end = error.find('\n', begin);
          if (end == std::string::npos) end = error.size();
          problems.push_back("--faults " + path + ": " + error.substr(begin, end - begin));
          begin = end + 1;
        }
      }
    }
  }
  options.tls_cert_file = flags.get("tls-cert");
  options.tls_key_file = flags.get("tls-key");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty())
    problems.push_back("--tls-cert and --tls-key must be given together");
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
  std::printf("provider-sim listening on %s://%s%s%s:%u\n",
              options.tls_cert_file.empty() ? "http" : "https", ipv6 ? "[" : "",
              options.host.c_str(), ipv6 ? "]" : "", static_cast<unsigned>(simulator.port()));
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  logger()->info("received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  simulator.stop();
  return 0;
}

}  // namespace switchyard
