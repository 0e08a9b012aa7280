#pragma once
// The provider simulator: an OpenAI-compatible /v1/chat/completions server for development,
// tests and benchmarks. Deterministic under a seed: the same request sequence gets the same
// latencies, errors and token counts.
//
// Determinism: the outcome (200 / 500 / 429) and the latency of a chat completion are a pure
// function of (seed, n), where n counts the well-formed chat completion requests the simulator
// has received since start() (0-based, in arrival order across all connections; malformed
// requests answered 400 do not advance n). A sequential client therefore sees the same sequence
// of outcomes on every run with the same seed; concurrent clients see the same multiset. Token
// counts and the reply text depend only on the request body and the options. Retries of one
// request get fresh draws (a real provider's 500 is not sticky to a request either).
//
// Endpoints:
//   POST /v1/chat/completions  (also /chat/completions) OpenAI chat.completion reply
//   GET  /stats                {"requests":N,"ok":N,"errors":N,"rate_limited":N,"bad_requests":N}
//   GET  /healthz              200 "ok"
// Every chat completion reply carries x-ratelimit-{limit,remaining}-{requests,tokens} headers
// computed over the current wall-clock minute; a 429 also carries Retry-After.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace switchyard {

struct SimOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = pick a free port (see ProviderSimulator::port())
  int threads = 1;
  // Latency: fixed part plus an exponential tail with the given mean; 0/0 answers at once.
  // Applies to 200 and 500 replies; a 429 is answered at once, as real rate limiters do.
  int latency_ms = 0;
  int latency_jitter_ms = 0;
  double error_rate = 0.0;       // share of requests answered 500
  double rate_limit_rate = 0.0;  // share answered 429 with Retry-After
  int retry_after_s = 1;
  std::uint64_t seed = 42;
  int output_tokens = 16;  // completion length when the request sets no max_tokens (capped by it)
  // Values reported in the x-ratelimit-* headers (informational; the simulator only throttles
  // through rate_limit_rate).
  std::uint64_t requests_per_minute = 10'000;
  std::uint64_t tokens_per_minute = 10'000'000;
  int idle_timeout_ms = 120'000;  // keep-alive connections idle this long are closed; 0 = never
  std::size_t max_body_bytes = 4 << 20;  // larger request bodies are answered 413
};

struct SimStats {
  std::uint64_t requests = 0;  // chat completion requests received
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;        // 5xx answered
  std::uint64_t rate_limited = 0;  // 429 answered
  std::uint64_t bad_requests = 0;  // 400/413 answered to chat completion requests
};

// Lifecycle: construct, start() once, stop() (or destroy). start() and stop() are called from a
// thread that is not one of the simulator's own; port() and stats() may be called from any thread.
class ProviderSimulator {
 public:
  explicit ProviderSimulator(SimOptions options);
  ~ProviderSimulator();
  ProviderSimulator(const ProviderSimulator&) = delete;
  ProviderSimulator& operator=(const ProviderSimulator&) = delete;

  // Binds and serves on its own threads. Throws std::runtime_error naming host:port and the
  // reason when the address cannot be bound, or std::invalid_argument for bad options.
  void start();
  // Closes the listener and every connection, waits for their coroutines to end (at most a few
  // seconds) and joins the threads. Idempotent.
  void stop();
  std::uint16_t port() const;
  SimStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The simulator's tokenizer approximation (deterministic): a run of letters counts 1 token up to
// 7 characters and one per 4 characters beyond that; a run of digits one per 3 digits; every
// other non-space character (punctuation, symbols) 1 token; whitespace is free. Bytes >= 0x80
// (UTF-8) count as letters.
std::uint32_t approx_token_count(std::string_view text);

// Prompt tokens of a chat request the way OpenAI bills them: per message 4 tokens of framing
// (role included) plus its content (plus 1 when it has a name), plus 3 priming the reply.
inline constexpr std::uint32_t kTokensPerMessage = 4;
inline constexpr std::uint32_t kTokensPerName = 1;
inline constexpr std::uint32_t kTokensReplyPriming = 3;

}  // namespace switchyard
