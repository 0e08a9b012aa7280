#pragma once
// Private to the provider simulator (provider_sim.cpp, sim_server.cpp, sim_chat.cpp): the
// server, its shards and connections, and the small helpers they share. See provider_sim.cpp
// for the threading model.

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "sim/dialect.h"
#include "sim/sim_format.h"
#include "switchyard/common/log.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard::sim_server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace sim;

// I/O objects bound to a concrete io_context executor: no type-erased executor per operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;
using TlsStream = beast::ssl_stream<Socket>;
using Request = http::request<http::string_body>;

// The in-place parse keeps strings inside the request body; the arena only holds value nodes.
using JsonDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                rapidjson::MemoryPoolAllocator<>>;
constexpr std::size_t kParseArenaBytes = 64 * 1024;
constexpr std::size_t kMaxModelsPerShard = 1024;
constexpr std::string_view kOtherModels = "(other)";

// The "sim" logger, created on first use. A reference, so the per-request debug call costs no
// shared_ptr reference-count traffic between io threads.
inline spdlog::logger& sim_logger() {
  static const std::shared_ptr<spdlog::logger> logger = named_logger("sim");
  return *logger;
}

// ---------------------------------------------------------------------------------------------
// Deterministic draws

// Independent streams per request: 0 = outcome, 1 = latency, 2 = reply id.
inline std::uint64_t draw(std::uint64_t seed, std::uint64_t n, std::uint64_t stream) {
  return mix64(mix64(seed) ^ mix64(n * 4 + stream));
}

// The fault draw of request n, compared with the running sum of the matching rules' rates.
inline std::uint64_t fault_draw(std::uint64_t seed, std::uint64_t n) {
  return mix64(mix64(seed ^ 0xFA0175C819ull) ^ mix64(n));
}

// ---------------------------------------------------------------------------------------------
// Routing

enum class RouteKind { chat, stats, healthz, unknown };

struct Route {
  RouteKind kind = RouteKind::unknown;
  SimEndpoint dialect = SimEndpoint::openai;
  std::string_view deployment;  // Azure
  std::string_view query;       // after '?', without it
};

inline Route classify(std::string_view target) {
  Route route;
  if (auto mark = target.find('?'); mark != std::string_view::npos) {
    route.query = target.substr(mark + 1);
    target = target.substr(0, mark);
  }
  if (target == "/v1/chat/completions" || target == "/chat/completions") {
    route.kind = RouteKind::chat;
  } else if (target == "/v1/messages" || target == "/messages") {
    route.kind = RouteKind::chat;
    route.dialect = SimEndpoint::anthropic;
  } else if (target == "/stats") {
    route.kind = RouteKind::stats;
  } else if (target == "/healthz") {
    route.kind = RouteKind::healthz;
  } else {
    constexpr std::string_view kAzurePrefix = "/openai/deployments/";
    constexpr std::string_view kAzureSuffix = "/chat/completions";
    if (target.starts_with(kAzurePrefix) && target.ends_with(kAzureSuffix) &&
        target.size() > kAzurePrefix.size() + kAzureSuffix.size()) {
      std::string_view deployment = target.substr(
          kAzurePrefix.size(), target.size() - kAzurePrefix.size() - kAzureSuffix.size());
      if (deployment.find('/') == std::string_view::npos) {
        route.kind = RouteKind::chat;
        route.dialect = SimEndpoint::azure;
        route.deployment = deployment;
      }
    }
  }
  return route;
}

// The value of `name` in a query string ("a=1&api-version=2024-06-01"), if present.
inline std::optional<std::string_view> query_parameter(std::string_view query,
                                                       std::string_view name) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (pair == name) return std::string_view();
  }
  return std::nullopt;
}

inline std::string_view header_value(const Request& request, std::string_view name) {
  auto it = request.find(beast::string_view(name.data(), name.size()));
  if (it == request.end()) return {};
  return {it->value().data(), it->value().size()};
}

// Requests and tokens seen in the current wall-clock minute, for the rate-limit headers.
// Approximate under races at the minute boundary, which is fine for informational headers.
class MinuteWindow {
 public:
  struct Usage {
    std::uint64_t requests;
    std::uint64_t tokens;
    std::uint64_t seconds_to_reset;
    std::uint64_t reset_at_s;  // epoch seconds of the next minute
  };

  Usage record(std::uint64_t tokens) {
    auto now_s = static_cast<std::uint64_t>(std::time(nullptr));
    std::uint64_t minute = now_s / 60;
    std::uint64_t seen = minute_.load(std::memory_order_relaxed);
    if (seen != minute && minute_.compare_exchange_strong(seen, minute)) {
      requests_.store(0, std::memory_order_relaxed);
      tokens_.store(0, std::memory_order_relaxed);
    }
    Usage usage;
    usage.requests = requests_.fetch_add(1, std::memory_order_relaxed) + 1;
    usage.tokens = tokens_.fetch_add(tokens, std::memory_order_relaxed) + tokens;
    usage.seconds_to_reset = 60 - now_s % 60;
    usage.reset_at_s = (minute + 1) * 60;
    return usage;
  }

 private:
  std::atomic<std::uint64_t> minute_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> tokens_{0};
};

inline void append_rfc3339(std::string& out, std::uint64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  out.append(text, length);
}

enum class Outcome { ok, error, rate_limited, bad_request, dropped, malformed };

inline void count(SimCounts& counts, Outcome outcome) {
  ++counts.requests;
  switch (outcome) {
    case Outcome::ok:
      ++counts.ok;
      break;
    case Outcome::error:
      ++counts.errors;
      break;
    case Outcome::rate_limited:
      ++counts.rate_limited;
      break;
    case Outcome::bad_request:
      ++counts.bad_requests;
      break;
    case Outcome::dropped:
      ++counts.dropped;
      break;
    case Outcome::malformed:
      ++counts.malformed;
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Server

class Server;
struct Shard;

// One client connection; lives in its session coroutine's frame and links itself into its
// shard's registry so stop() and the idle sweep can close it. `socket` is the TCP socket under
// the session's stream (itself, or the next layer of its TLS stream).
struct Connection {
  Connection(Shard& owner, Socket& s);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() {
    beast::error_code ignored;
    socket.close(ignored);
    timer.cancel();
  }

  Shard& shard;
  Socket& socket;
  Timer timer;  // latency of the current request
  Connection* prev = nullptr;
  Connection* next = nullptr;
  Clock::time_point idle_since;
  bool reading = false;  // waiting for (the rest of) a request: the idle timeout applies
  std::string head;      // reply buffers, reused across the connection's requests
  std::string body;
};

// Per-model counters of one shard's requests; the mutex is for stats() readers. Owned by the
// Server (not the Shard) so that stats() still reports them after stop().
struct ModelCounts {
  std::mutex mutex;
  std::map<std::string, SimCounts, std::less<>> by_model;
};

struct Shard {
  Shard(Server& s, ModelCounts& m) : server(s), model_counts(m) {}

  Server& server;
  ModelCounts& model_counts;
  // Declared before `context`: coroutine frames still alive when the context is destroyed
  // unlink their Connection from this list while it still exists.
  Connection* connections = nullptr;
  alignas(16) char parse_arena[kParseArenaBytes];
  asio::io_context context{1};
  std::optional<asio::executor_work_guard<Executor>> work;
  Timer sweep_timer{context.get_executor()};  // after `context`, so destroyed before it
  std::thread thread;
};

inline Connection::Connection(Shard& owner, Socket& s)
    : shard(owner), socket(s), timer(socket.get_executor()) {
  next = shard.connections;
  if (next) next->prev = this;
  shard.connections = this;
}

// What a chat handler decided: reply status, how long to hold it, or to drop the connection.
struct ChatDecision {
  int status = 200;
  Clock::duration delay{};
  bool drop = false;  // close without answering (after `delay`)
};

class Server {
 public:
  explicit Server(SimOptions options)
      : options_(std::move(options)),
        context_windows_(options_.context_windows.begin(), options_.context_windows.end()) {}
  ~Server() { stop(); }

  void start();
  void stop();
  std::uint16_t port() const { return port_.load(std::memory_order_acquire); }
  SimStats stats() const;
  std::vector<SimRequestRecord> request_log() const;

  void connection_ended() { sessions_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  // Everything one chat request's handling needs to answer and account for it.
  struct Exchange {
    Shard& shard;
    Connection& conn;
    SimEndpoint dialect;
    bool keep_alive;
    Clock::time_point arrival;
    std::uint64_t request_id;  // Anthropic request-id bits
  };

  void validate_options() const;
  void build_reply_text();
  void load_tls();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> sweep_loop(Shard& shard);
  asio::awaitable<void> session(Shard& shard, Socket socket);
  template <class Stream>
  asio::awaitable<void> serve(Shard& shard, Connection& conn, Stream& stream);

  // Fill conn.head / conn.body for one parsed chat request (keep_alive already decided).
  ChatDecision handle_chat(Shard& shard, Connection& conn, const Route& route, Request& request,
                           bool keep_alive);
  ChatDecision refuse(const Exchange& x, std::string_view model, const RequestProblem& problem);
  ChatDecision answer_error(const Exchange& x, std::string_view model, int status, int fault_rule);
  ChatDecision answer_rate_limited(const Exchange& x, std::string_view model, int retry_after_s,
                                   int fault_rule);
  // The reply to a request that gets an answer; malformed cuts the body in half; `lie` (no_usage,
  // absurd_usage) changes its usage, any other kind leaves it as it is.
  void answer_ok(const Exchange& x, const ChatRequest& chat, std::uint64_t n, bool malformed,
                 FaultKind lie = FaultKind::down);
  // Whether (model, prefix) was cached by an earlier reply; remembers it if not.
  bool prompt_cache_hit(std::string_view model, std::uint64_t prefix_hash);
  std::uint64_t context_window(std::string_view model) const;
  void account(const Exchange& x, std::string_view model, Outcome outcome, int status,
               int fault_rule);

  void reply_stats(Connection& conn, bool keep_alive);
  void reply_simple(Connection& conn, int status, std::string_view content_type,
                    std::string_view body, bool keep_alive, std::string_view extra_headers = {});
  // An error outside chat handling (405, 404, 413, ...) in the dialect's shape.
  void reply_error(Connection& conn, SimEndpoint dialect, int status, std::string_view message,
                   bool keep_alive, std::string_view extra_headers = {});
  // Rate-limit headers of the dialect (and Anthropic's request-id).
  void append_dialect_headers(std::string& head, const Exchange& x, std::uint64_t tokens,
                              bool limited);

  const SimOptions options_;
  const std::map<std::string, std::uint64_t, std::less<>> context_windows_;
  // Deterministic reply text: options_.output_tokens words, each exactly one token.
  std::string reply_text_;
  std::vector<std::uint32_t> word_ends_;  // reply_text_.substr(0, word_ends_[k-1]) has k tokens
  std::optional<asio::ssl::context> tls_context_;  // set by start() when TLS is configured
  Clock::time_point started_at_;

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::uint64_t> bad_requests_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> next_decision_{0};  // n of the determinism contract
  MinuteWindow window_;
  // SimOptions::enforce_limits: requests and prompt tokens granted in `enforced_minute_`.
  std::mutex enforce_mutex_;
  std::uint64_t enforced_minute_ = 0, enforced_requests_ = 0, enforced_tokens_ = 0;
  // Takes one request of the minute's limits; the seconds to the next minute when refused.
  std::optional<int> over_limit(std::uint64_t prompt_tokens);

  std::vector<std::unique_ptr<ModelCounts>> model_counts_;  // one per shard, made by start()

  std::mutex prompt_cache_mutex_;
  std::unordered_set<std::uint64_t> prompt_cache_;  // hashes of (model, cached prefix)

  mutable std::mutex log_mutex_;
  std::vector<SimRequestRecord> log_;
  std::uint64_t unrecorded_ = 0;  // guarded by log_mutex_

  std::atomic<bool> stopping_{false};
  std::atomic<int> sessions_{0};  // connection coroutines spawned and not yet finished
  std::atomic<bool> accepting_{false};
  std::atomic<std::uint16_t> port_{0};
  bool started_ = false;

  // Declared after everything the coroutines touch: destroying a shard destroys the frames
  // still queued on its context.
  std::vector<std::unique_ptr<Shard>> shards_;
  std::optional<Acceptor> acceptor_;  // on shards_[0]; destroyed before the shards
};

}  // namespace switchyard::sim_server
