#pragma once
// The provider simulator: an OpenAI-compatible /v1/chat/completions server for development,
// tests and benchmarks. Deterministic under a seed: the same request sequence gets the same
// latencies, errors and token counts.
#include <cstdint>
#include <memory>
#include <string>

namespace switchyard {

struct SimOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = pick a free port (see ProviderSimulator::port())
  int threads = 1;
  // Latency: fixed part plus an exponential tail with the given mean; 0/0 answers at once.
  int latency_ms = 0;
  int latency_jitter_ms = 0;
  double error_rate = 0.0;       // share of requests answered 500
  double rate_limit_rate = 0.0;  // share answered 429 with Retry-After
  int retry_after_s = 1;
  std::uint64_t seed = 42;
  int output_tokens = 16;  // completion length when the request sets no max_tokens (capped by it)
};

struct SimStats {
  std::uint64_t requests = 0;     // chat completion requests received
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;       // 5xx answered
  std::uint64_t rate_limited = 0; // 429 answered
};

class ProviderSimulator {
 public:
  explicit ProviderSimulator(SimOptions options);
  ~ProviderSimulator();
  void start();  // binds and serves on its own threads; throws on bind failure
  void stop();
  std::uint16_t port() const;
  SimStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
