#pragma once
// The provider simulator: the stand-in for real LLM providers in development, tests, demos and
// benchmarks. It speaks three dialects on one port (plain HTTP, or HTTPS when a certificate is
// configured) with the request validation, reply shapes, error shapes and token classes of the
// real APIs, and injects latency, errors, rate limits and scripted faults deterministically.
//
// Endpoints
//   POST /v1/chat/completions, /chat/completions                              dialect "openai"
//        OpenAI chat.completion. No credentials required. `model` optional (default
//        "provider-sim"); `messages` required, non-empty, each with a string `role` and a
//        string / content-part array / null `content`; `max_tokens` or `max_completion_tokens`
//        (integer >= 1) caps the completion. `stream` is ignored (replies are never streamed).
//   POST /openai/deployments/{deployment}/chat/completions?api-version=V      dialect "azure"
//        Azure OpenAI. Needs an `api-key` header (or `Authorization: Bearer ...`), else 401
//        {"error":{"code":"401","message":...}}; needs the api-version query parameter, else
//        404 {"error":{"code":"404","message":"Resource not found"}} as Azure answers. The body
//        is the OpenAI one (its `model` is ignored); the reply is the OpenAI one with `model` =
//        the deployment name, plus Azure's `prompt_filter_results` and per-choice
//        `content_filter_results` (every category "safe").
//   POST /v1/messages, /messages                                              dialect "anthropic"
//        Anthropic Messages. Needs `x-api-key` (else 401 authentication_error "x-api-key header
//        is required") and `anthropic-version` "2023-06-01" or "2023-01-01" (else 400
//        invalid_request_error). Body: `model` (string) and `max_tokens` (integer >= 1)
//        required; `system` optional, a string or an array of text blocks; `messages`
//        non-empty, roles "user"/"assistant" only (a "system" message is a 400 that points to
//        the top-level `system`); content a string or an array of blocks. Reply
//        {"id":"msg_...","type":"message","role":"assistant","model","content":[{"type":"text",
//        "text"}],"stop_reason":"end_turn"|"max_tokens"|"refusal","stop_sequence":null,"usage":
//        {"input_tokens","cache_creation_input_tokens","cache_read_input_tokens",
//        "output_tokens"}} with a `request-id` header. Errors {"type":"error","error":{"type",
//        "message"},"request_id"}; error types by status: 400 invalid_request_error, 401
//        authentication_error, 403 permission_error, 404 not_found_error, 408/504 timeout_error,
//        413 request_too_large, 429 rate_limit_error, 529 overloaded_error, other 5xx api_error.
//        The simulated provider error (`error_rate`) is 529 overloaded_error here, 500
//        server_error in the OpenAI dialects.
//   GET  /stats    {"requests","ok","errors","rate_limited","bad_requests","dropped","malformed",
//                   "models":{"<model>":{the same seven counters}}}
//   GET  /healthz  200 "ok"
// OpenAI and Azure replies carry x-ratelimit-{limit,remaining,reset}-{requests,tokens} headers,
// Anthropic replies anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}, computed over
// the current wall-clock minute (informational: the simulator throttles only through
// rate_limit_rate and fault scripts). Every 429 carries Retry-After.
//
// Determinism
//   The outcome (ok / error / 429 / fault) and latency of a chat request are a pure function of
//   (seed, n, time since start() for fault windows), where n counts the requests that passed
//   validation since start() (0-based, arrival order across all connections and dialects;
//   requests answered 4xx by validation do not advance n). A sequential client sees the same
//   sequence on every run with the same seed; concurrent clients see the same multiset. Reply
//   text and token counts depend only on the request and the options, except that prompt-cache
//   hits depend on which cacheable prefixes this simulator has answered before (see below).
//   Retries of one request get fresh draws (a real provider's 500 is not sticky either).
//
// Token accounting (approx_token_count below; prompt = 3 + per message 4 + content (+1 for a
// `name`), the Anthropic `system` counting as one message; images a flat 85 tokens)
//   Prompt cache. A "cacheable prefix" of at least kCacheMinPrefixTokens tokens is cached by a
//   successful reply; later requests with the same model and the same prefix are cache hits.
//     OpenAI/Azure (automatic caching): the prefix is the leading run of "system"/"developer"
//       messages. A hit reports usage.prompt_tokens_details.cached_tokens = the prefix's tokens
//       rounded down to a multiple of kCacheIncrementTokens (OpenAI caches in 128-token steps
//       from 1024); prompt_tokens still counts every prompt token.
//     Anthropic (explicit caching): the prefix is everything up to and including the last
//       `system` or message content block carrying `cache_control` (no marker: no caching).
//       The first time it is cache_creation_input_tokens, later cache_read_input_tokens;
//       input_tokens is only the rest after the prefix, as Anthropic reports it (total input =
//       input_tokens + cache_creation_input_tokens + cache_read_input_tokens).
//     The set of seen prefixes holds at most kCacheMaxPrefixes entries and is cleared when full
//     (like an eviction); it never expires by time.
//   Reasoning. Models (deployment names for Azure) that contain "reason" or start with "o1",
//     "o3" or "o4" report usage.completion_tokens_details.reasoning_tokens = completion_tokens *
//     kReasoningSharePercent / 100 (rounded down); the visible reply has the remaining tokens and
//     completion_tokens counts both, as OpenAI bills them. Other models report 0.
//
// Context windows and content filter
//   SimOptions::context_windows (model or deployment -> tokens; default_context_window for the
//   rest, 0 = unlimited). Over the window (prompt + requested max_tokens, prompt alone when no
//   max_tokens): OpenAI/Azure 400 {"error":{"message":"This model's maximum context length is M
//   tokens. However, you requested T tokens (P in the messages, K in the completion). ...",
//   "type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}};
//   Anthropic 400 invalid_request_error "prompt is too long: P tokens > M maximum" when the
//   prompt alone is over, else "input length and `max_tokens` exceed context limit: P + K > M,
//   decrease input length or `max_tokens` and try again". Answered at once, n not advanced.
//   A prompt (any message or system text) containing kContentFilterMarker is filtered:
//   OpenAI 200 with finish_reason "content_filter", content null, completion_tokens 0; Azure
//   400 {"error":{"code":"content_filter","status":400,"innererror":{"code":
//   "ResponsibleAIPolicyViolation","content_filter_result":{hate, self_harm, sexual, violence
//   each {"filtered","severity"}}},...}} (the input filter, n not advanced); Anthropic 200 with
//   stop_reason "refusal", empty content, output_tokens 0.
//
// Fault scripts (SimOptions::faults; parse_fault_script for the JSON form)
//   For each request that passed validation the rules are tried in order; a rule matches when
//   its `model` is empty or equal to the request's model (the deployment for Azure) and the
//   request arrived in [from_ms, until_ms) after start(). One seeded draw per request (a
//   function of seed and n) is compared with the running sum of the matching rules' rates, so
//   each rule affects its `rate` as a share of the same requests (matching rules of rate 0.2 and
//   0.1: 20% get the first, 10% the second; past a sum of 1 later rules get nothing). When no
//   rule fires, error_rate / rate_limit_rate apply as usual. Kinds:
//     down             close the connection without answering (after delay_ms, default 0);
//                      the client sees a transport error. Counted as "dropped", status 0.
//     errors           answer `status` (default 503) with the dialect's error body (status
//                      429: as rate_limit, with SimOptions::retry_after_s).
//     rate_limit       answer 429 at once with Retry-After retry_after_s (default 1).
//     slow_first_byte  hold the normal reply delay_ms longer (on top of the latency).
//     malformed        answer 200 with the normal reply body cut in half (valid HTTP with a
//                      matching Content-Length, invalid JSON). Counted as "malformed".
//     no_usage         answer 200 with the normal reply but no `usage` object (an answer that
//                      does not say what it cost). Counted as "ok".
//     absurd_usage     answer 200 with the normal reply reporting 4,000,000,000 completion
//                      tokens (an answer that lies). Counted as "malformed".
//     leak_key         answer 401 with the request's whole credential (Authorization, api-key or
//                      x-api-key) quoted in the error message, as a careless proxy might.
//                      Counted as "bad_requests".
//   JSON form: an array of rules, or {"faults":[rules]}. A rule: {"kind": required,
//   "model": string, "from_ms": int >= 0 (default 0), "until_ms": int > from_ms (default
//   forever), "rate": 0..1 (default 1), "status": 400..599 (errors only, default 503),
//   "retry_after_s": int >= 0 (rate_limit only, default 1), "delay_ms": int >= 0 (down and
//   slow_first_byte; required for slow_first_byte), "comment": string}. Unknown fields and
//   fields that do not apply to the kind are errors; every problem of a script is reported at
//   once.
//
// Observability: SimStats (global and per model), /stats, and the request log
// (SimOptions::record_requests) with one record per chat request answered or dropped.
//
// TLS: tls_cert_file (PEM, the server certificate optionally followed by its chain) and
// tls_key_file (PEM) serve HTTPS instead of HTTP on the same port. No close_notify is sent when
// a connection ends (clients frame replies by Content-Length).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

enum class FaultKind {
  down,
  errors,
  rate_limit,
  slow_first_byte,
  malformed,
  no_usage,
  absurd_usage,
  leak_key,
};

// One rule of a fault script; see "Fault scripts" above.
struct FaultRule {
  FaultKind kind = FaultKind::errors;
  std::string model;                     // exact model / Azure deployment; empty = every model
  std::int64_t from_ms = 0;              // window start, ms after start()
  std::optional<std::int64_t> until_ms;  // window end (exclusive); none = forever
  double rate = 1.0;                     // share of matching requests affected
  int status = 503;                      // errors: the status answered (400..599)
  int retry_after_s = 1;                 // rate_limit: the Retry-After value
  int delay_ms = 0;                      // down: before closing; slow_first_byte: added delay
};

struct SimOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = pick a free port (see ProviderSimulator::port())
  int threads = 1;
  // Latency: fixed part plus an exponential tail with the given mean; 0/0 answers at once.
  // Applies to ok and error replies; a 429 is answered at once, as real rate limiters do.
  int latency_ms = 0;
  int latency_jitter_ms = 0;
  double error_rate = 0.0;       // share answered 500 (OpenAI, Azure) / 529 (Anthropic)
  double rate_limit_rate = 0.0;  // share answered 429 with Retry-After
  int retry_after_s = 1;
  std::uint64_t seed = 42;
  int output_tokens = 16;  // completion length when the request sets no max_tokens (capped by it)
  // Values reported in the rate-limit headers (informational unless enforce_limits).
  std::uint64_t requests_per_minute = 10'000;
  std::uint64_t tokens_per_minute = 10'000'000;
  // Enforce them per wall-clock minute, as a provider does: a chat request past the minute's
  // requests (or prompt tokens) is answered 429 with Retry-After = the seconds to the next
  // minute. Refused requests do not count.
  bool enforce_limits = false;
  int idle_timeout_ms = 120'000;  // keep-alive connections idle this long are closed; 0 = never
  std::size_t max_body_bytes = 4 << 20;  // larger request bodies are answered 413
  // A server that accepts slowly, like many small self-hosted ones (a thread per connection, a
  // small listen backlog): the kernel's accept queue holds `listen_backlog` connections (the
  // kernel caps it at net.core.somaxconn); each accept is followed by `accept_delay_ms` before
  // the next; at most `max_connections` are open at once (0 = no cap), further ones wait in the
  // kernel's queue, and past it their SYNs are dropped and retransmitted by the client.
  int listen_backlog = 65535;
  int accept_delay_ms = 0;
  int max_connections = 0;

  // Context windows in tokens by model (Azure: deployment) name; others get
  // default_context_window, 0 = unlimited.
  std::map<std::string, std::uint64_t> context_windows;
  std::uint64_t default_context_window = 0;

  std::vector<FaultRule> faults;  // tried in order; see "Fault scripts"

  // Request log (request_log()); off by default. At most request_log_limit records are kept
  // (the first ones); later requests are only counted in SimStats::unrecorded_requests.
  bool record_requests = false;
  std::size_t request_log_limit = 100'000;

  // HTTPS when both are set (PEM files, read at start()).
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Outcome counters. requests = ok + errors + rate_limited + bad_requests + dropped + malformed
// once every received request has been answered.
struct SimCounts {
  std::uint64_t requests = 0;      // chat requests received (every dialect)
  std::uint64_t ok = 0;            // 200 with a well-formed reply (content-filtered ones too)
  std::uint64_t errors = 0;        // simulated provider errors: error_rate and `errors` faults
  std::uint64_t rate_limited = 0;  // 429 answered
  std::uint64_t bad_requests = 0;  // 4xx answered by validation (body, headers, context window,
                                   // Azure content filter, 413)
  std::uint64_t dropped = 0;       // connections closed without an answer (`down` faults)
  std::uint64_t malformed = 0;     // 200 with a broken body (`malformed` faults)
};

struct SimStats : SimCounts {
  // Per model (Azure: deployment) name, for requests whose model could be read. Each io thread
  // keeps at most 1024 names; requests for further names are counted under "(other)".
  std::map<std::string, SimCounts> models;
  std::uint64_t unrecorded_requests = 0;  // past request_log_limit
};

enum class SimEndpoint { openai, azure, anthropic };
std::string_view to_string(SimEndpoint endpoint);

struct SimRequestRecord {
  std::string model;  // Azure: the deployment; empty when the body could not be read
  SimEndpoint endpoint = SimEndpoint::openai;
  std::int64_t arrival_ms = 0;  // steady-clock ms since start() when the request was read
  int status = 0;               // status answered; 0 = connection closed without an answer
  int fault_rule = -1;          // index into SimOptions::faults of the rule applied; -1 = none
};

// Lifecycle: construct, start() once, stop() (or destroy). start() and stop() are called from a
// thread that is not one of the simulator's own; port(), stats() and request_log() may be
// called from any thread.
class ProviderSimulator {
 public:
  explicit ProviderSimulator(SimOptions options);
  ~ProviderSimulator();
  ProviderSimulator(const ProviderSimulator&) = delete;
  ProviderSimulator& operator=(const ProviderSimulator&) = delete;

  // Binds and serves on its own threads. Throws std::runtime_error naming host:port and the
  // reason when the address cannot be bound or the TLS files cannot be used, or
  // std::invalid_argument listing every bad option (fault rules included).
  void start();
  // Closes the listener and every connection, waits for their coroutines to end (at most a few
  // seconds) and joins the threads. Idempotent.
  void stop();
  std::uint16_t port() const;
  SimStats stats() const;
  // The recorded requests in arrival order (empty unless SimOptions::record_requests).
  std::vector<SimRequestRecord> request_log() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a fault script (JSON form above). On success returns the rules (possibly none); on
// failure returns nullopt and sets `error` to every problem found, one per line, each naming
// the rule ("faults[2].rate must be between 0 and 1, got 1.5").
std::optional<std::vector<FaultRule>> parse_fault_script(std::string_view json, std::string& error);

// Problems of one rule (empty when valid); `where` prefixes each ("faults[2]").
std::vector<std::string> validate_fault_rule(const FaultRule& rule, std::string_view where);

std::string_view to_string(FaultKind kind);

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

// Token-class rules (see "Token accounting").
inline constexpr std::uint32_t kCacheMinPrefixTokens = 1024;
inline constexpr std::uint32_t kCacheIncrementTokens = 128;
inline constexpr std::size_t kCacheMaxPrefixes = 65'536;
inline constexpr std::uint32_t kReasoningSharePercent = 75;

// A prompt containing this text is refused by the simulated content filter.
inline constexpr std::string_view kContentFilterMarker = "[[sim:content_filter]]";

}  // namespace switchyard
