// Provider simulator: one io_context per thread ("shard"), one acceptor on shard 0 handing
// accepted sockets round-robin to the shards, one coroutine per connection (plain TCP or TLS).
// A shard is touched only by its own thread, so the connection registry and the JSON parse
// buffer need no locks; counters shared across shards are relaxed atomics. The per-model
// counters are per shard behind a mutex only stats() contends for; the prompt-cache memory and
// the request log are shared behind mutexes, touched only by long prompts and when recording.
//
// Per request: Beast parses the HTTP message, RapidJSON parses the body in place with a
// per-shard arena, the dialect module (dialect.h) reads it and writes the reply into
// per-connection buffers that keep their capacity across requests, so a warm keep-alive
// connection allocates only for the request itself (header fields, body string).
#include "switchyard/sim/provider_sim.h"

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
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "sim/dialect.h"
#include "sim/sim_format.h"
#include "switchyard/common/log.h"

namespace switchyard {

namespace {

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
spdlog::logger& sim_logger() {
  static const std::shared_ptr<spdlog::logger> logger = named_logger("sim");
  return *logger;
}

// ---------------------------------------------------------------------------------------------
// Deterministic draws

// Independent streams per request: 0 = outcome, 1 = latency, 2 = reply id.
std::uint64_t draw(std::uint64_t seed, std::uint64_t n, std::uint64_t stream) {
  return mix64(mix64(seed) ^ mix64(n * 4 + stream));
}

// The fault draw of request n, compared with the running sum of the matching rules' rates.
std::uint64_t fault_draw(std::uint64_t seed, std::uint64_t n) {
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

Route classify(std::string_view target) {
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
std::optional<std::string_view> query_parameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (pair == name) return std::string_view();
  }
  return std::nullopt;
}

std::string_view header_value(const Request& request, std::string_view name) {
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

void append_rfc3339(std::string& out, std::uint64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  out.append(text, length);
}

enum class Outcome { ok, error, rate_limited, bad_request, dropped, malformed };

void count(SimCounts& counts, Outcome outcome) {
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

Connection::Connection(Shard& owner, Socket& s)
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
  // The reply to a request that gets an answer; malformed cuts the body in half.
  void answer_ok(const Exchange& x, const ChatRequest& chat, std::uint64_t n, bool malformed);
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

Connection::~Connection() {
  if (prev) {
    prev->next = next;
  } else {
    shard.connections = next;
  }
  if (next) next->prev = prev;
  shard.server.connection_ended();
}

void Server::validate_options() const {
  std::vector<std::string> problems;
  auto check = [&](bool ok, std::string what) {
    if (!ok) problems.push_back(std::move(what));
  };
  check(options_.threads >= 1 && options_.threads <= 256, "threads must be in 1..256");
  check(options_.latency_ms >= 0, "latency_ms must be >= 0");
  check(options_.latency_jitter_ms >= 0, "latency_jitter_ms must be >= 0");
  check(options_.error_rate >= 0.0 && options_.error_rate <= 1.0, "error_rate must be in [0, 1]");
  check(options_.rate_limit_rate >= 0.0 && options_.rate_limit_rate <= 1.0,
        "rate_limit_rate must be in [0, 1]");
  check(options_.retry_after_s >= 0, "retry_after_s must be >= 0");
  check(options_.output_tokens >= 1 && options_.output_tokens <= 1'000'000,
        "output_tokens must be in 1..1000000");
  check(options_.idle_timeout_ms >= 0, "idle_timeout_ms must be >= 0");
  check(options_.max_body_bytes >= 1024, "max_body_bytes must be >= 1024");
  for (const auto& [model, window] : options_.context_windows) {
    check(window > 0, "context_windows['" + model +
                          "'] must be > 0 (leave the model out for "
                          "the default)");
  }
  check(options_.tls_cert_file.empty() == options_.tls_key_file.empty(),
        "tls_cert_file and tls_key_file must be given together");
  for (std::size_t i = 0; i < options_.faults.size(); ++i) {
    for (auto& problem :
         validate_fault_rule(options_.faults[i], "faults[" + std::to_string(i) + "]")) {
      problems.push_back(std::move(problem));
    }
  }
  if (problems.empty()) return;
  std::string all;
  for (const auto& problem : problems) {
    if (!all.empty()) all += "; ";
    all += problem;
  }
  throw std::invalid_argument("provider-sim options: " + all);
}

void Server::build_reply_text() {
  // Words of at most 7 letters: one token each under approx_token_count().
  static constexpr std::array<std::string_view, 32> kWords = {
      "this",  "is",   "a",     "reply", "from", "the",  "switch", "yard", "sim",   "it",   "says",
      "the",   "same", "words", "each",  "time", "so",   "tests",  "and",  "bench", "runs", "can",
      "count", "on",   "what",  "comes", "back", "word", "for",    "word", "every", "call"};
  auto count = static_cast<std::size_t>(options_.output_tokens);
  reply_text_.reserve(count * 6);
  word_ends_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) reply_text_.push_back(' ');
    reply_text_.append(kWords[i % kWords.size()]);
    word_ends_.push_back(static_cast<std::uint32_t>(reply_text_.size()));
  }
}

void Server::load_tls() {
  if (options_.tls_cert_file.empty()) return;
  tls_context_.emplace(asio::ssl::context::tls_server);
  beast::error_code ec;
  tls_context_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                                asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                                asio::ssl::context::no_tlsv1_1,
                            ec);
  auto fail = [&](const std::string& what, const std::string& path) {
    tls_context_.reset();
    throw std::runtime_error("provider-sim: cannot use TLS " + what + " '" + path +
                             "': " + ec.message());
  };
  tls_context_->use_certificate_chain_file(options_.tls_cert_file, ec);
  if (ec) fail("certificate chain", options_.tls_cert_file);
  tls_context_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) fail("private key", options_.tls_key_file);
}

void Server::start() {
  if (started_) throw std::logic_error("ProviderSimulator::start() called twice");
  validate_options();
  started_ = true;
  build_reply_text();
  load_tls();

  for (int i = 0; i < options_.threads; ++i) {
    model_counts_.push_back(std::make_unique<ModelCounts>());
    shards_.push_back(std::make_unique<Shard>(*this, *model_counts_.back()));
  }
  Shard& first = *shards_.front();

  beast::error_code ec;
  tcp::resolver resolver(first.context);
  auto endpoints = resolver.resolve(options_.host, std::to_string(options_.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  auto fail = [&](const std::string& what) {
    acceptor_.reset();
    shards_.clear();
    throw std::runtime_error("provider-sim: " + what);
  };
  if (ec || endpoints.empty()) {
    fail("cannot resolve host '" + options_.host + "': " + ec.message());
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  std::string where = options_.host + ":" + std::to_string(options_.port);

  acceptor_.emplace(first.context.get_executor());
  acceptor_->open(endpoint.protocol(), ec);
  if (ec) fail("cannot open socket for " + where + ": " + ec.message());
  acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  acceptor_->bind(endpoint, ec);
  if (ec) fail("cannot bind " + where + ": " + ec.message());
  // The kernel caps the backlog at net.core.somaxconn; ask for plenty so connection storms of
  // benchmarks are not dropped.
  acceptor_->listen(65535, ec);
  if (ec) fail("cannot listen on " + where + ": " + ec.message());
  port_.store(acceptor_->local_endpoint().port(), std::memory_order_release);

  auto log_failure = [](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      sim_logger().error("provider-sim coroutine failed: {}", e.what());
    }
  };
  started_at_ = Clock::now();  // fault windows and the request log count from here
  accepting_.store(true);
  asio::co_spawn(first.context, accept_loop(), log_failure);
  for (auto& shard : shards_) {
    if (options_.idle_timeout_ms > 0)
      asio::co_spawn(shard->context, sweep_loop(*shard), log_failure);
    shard->work.emplace(shard->context.get_executor());
    shard->thread = std::thread([s = shard.get()] {
      for (;;) {
        try {
          s->context.run();
          return;
        } catch (const std::exception& e) {
          sim_logger().error("provider-sim io thread: handler threw: {}", e.what());
        }
      }
    });
  }
  sim_logger().info(
      "provider-sim listening on {}:{} tls={} threads={} latency_ms={} jitter_ms={} "
      "error_rate={} rate_limit_rate={} seed={} output_tokens={} fault_rules={}",
      options_.host, port(), tls_context_ ? "on" : "off", options_.threads, options_.latency_ms,
      options_.latency_jitter_ms, options_.error_rate, options_.rate_limit_rate, options_.seed,
      options_.output_tokens, options_.faults.size());
}

void Server::stop() {
  if (shards_.empty()) return;
  stopping_.store(true);
  // Gate: stop accepting, close every connection (their coroutines then end), wait for them.
  asio::post(shards_.front()->context, [this] {
    beast::error_code ignored;
    acceptor_->close(ignored);
  });
  for (auto& shard : shards_) {
    asio::post(shard->context, [s = shard.get()] {
      s->sweep_timer.cancel();
      for (Connection* c = s->connections; c; c = c->next) c->close();
    });
  }
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while ((sessions_.load() > 0 || accepting_.load()) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (sessions_.load() > 0) {
    sim_logger().warn("provider-sim stop: {} connections did not finish within 5 s; dropping them",
                      sessions_.load());
  }
  for (auto& shard : shards_) {
    shard->work.reset();
    shard->context.stop();
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
  acceptor_.reset();
  shards_.clear();
  SimStats s = stats();
  sim_logger().info(
      "provider-sim stopped: requests={} ok={} errors={} rate_limited={} bad_requests={} "
      "dropped={} malformed={}",
      s.requests, s.ok, s.errors, s.rate_limited, s.bad_requests, s.dropped, s.malformed);
}

SimStats Server::stats() const {
  SimStats s;
  s.requests = requests_.load(std::memory_order_relaxed);
  s.ok = ok_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.rate_limited = rate_limited_.load(std::memory_order_relaxed);
  s.bad_requests = bad_requests_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.malformed = malformed_.load(std::memory_order_relaxed);
  for (const auto& shard_counts : model_counts_) {
    std::lock_guard lock(shard_counts->mutex);
    for (const auto& [model, counts] : shard_counts->by_model) {
      SimCounts& total = s.models[model];
      total.requests += counts.requests;
      total.ok += counts.ok;
      total.errors += counts.errors;
      total.rate_limited += counts.rate_limited;
      total.bad_requests += counts.bad_requests;
      total.dropped += counts.dropped;
      total.malformed += counts.malformed;
    }
  }
  std::lock_guard lock(log_mutex_);
  s.unrecorded_requests = unrecorded_;
  return s;
}

std::vector<SimRequestRecord> Server::request_log() const {
  std::vector<SimRequestRecord> records;
  {
    std::lock_guard lock(log_mutex_);
    records = log_;
  }
  // Recorded when answered; shards interleave, so order by arrival.
  std::stable_sort(records.begin(), records.end(),
                   [](const SimRequestRecord& a, const SimRequestRecord& b) {
                     return a.arrival_ms < b.arrival_ms;
                   });
  return records;
}

asio::awaitable<void> Server::accept_loop() {
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag.store(false); }
  } done{accepting_};
  std::size_t next = 0;
  Clock::time_point last_warning{};
  for (;;) {
    Shard& target = *shards_[next++ % shards_.size()];
    beast::error_code ec;
    Socket socket = co_await acceptor_->async_accept(target.context,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_.load(std::memory_order_relaxed) || ec == asio::error::operation_aborted)
      co_return;
    if (ec) {
      // Typically EMFILE/ENFILE: back off briefly instead of spinning, and say so (rarely).
      auto now = Clock::now();
      if (now - last_warning > std::chrono::seconds(5)) {
        sim_logger().warn("provider-sim accept failed: {} (open connections: {}); retrying",
                          ec.message(), sessions_.load());
        last_warning = now;
      }
      Timer pause(acceptor_->get_executor());
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    sessions_.fetch_add(1, std::memory_order_acq_rel);
    asio::co_spawn(target.context, session(target, std::move(socket)),
                   [](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       sim_logger().error("provider-sim connection failed: {}", e.what());
                     }
                   });
  }
}

asio::awaitable<void> Server::sweep_loop(Shard& shard) {
  auto timeout = std::chrono::milliseconds(options_.idle_timeout_ms);
  auto period =
      std::clamp(timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  for (;;) {
    beast::error_code ec;
    shard.sweep_timer.expires_after(period);
    co_await shard.sweep_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || stopping_.load(std::memory_order_relaxed)) co_return;
    auto now = Clock::now();
    for (Connection* c = shard.connections; c; c = c->next) {
      if (c->reading && now - c->idle_since > timeout) {
        sim_logger().debug("provider-sim closing connection idle for more than {} ms",
                           options_.idle_timeout_ms);
        c->close();
      }
    }
  }
}

asio::awaitable<void> Server::session(Shard& shard, Socket socket) {
  if (!tls_context_) {
    Connection conn(shard, socket);
    if (stopping_.load(std::memory_order_relaxed)) co_return;
    co_await serve(shard, conn, socket);
    co_return;
  }
  TlsStream stream(std::move(socket), *tls_context_);
  Connection conn(shard, stream.next_layer());  // after `stream`: unlinked before it closes
  if (stopping_.load(std::memory_order_relaxed)) co_return;
  // The handshake is "reading" for the idle sweep: a client that never finishes it is closed.
  conn.reading = true;
  conn.idle_since = Clock::now();
  beast::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    sim_logger().debug("provider-sim TLS handshake failed: {}", ec.message());
    co_return;
  }
  co_await serve(shard, conn, stream);
}

template <class Stream>
asio::awaitable<void> Server::serve(Shard& shard, Connection& conn, Stream& stream) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(64 * 1024);

    conn.reading = true;
    conn.idle_since = Clock::now();
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !parser.is_done()) {
      auto expect = parser.get()[http::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec) {
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    conn.reading = false;

    bool keep_alive = true;
    ChatDecision decision;
    if (ec) {
      // Answer what was wrong with the HTTP message itself, then close; drop the connection on
      // transport errors (reset, closed by stop() or the idle sweep, clean end of stream).
      if (ec == http::error::body_limit) {
        // Only chat requests carry bodies: count it as one, in its dialect's shape.
        std::string_view target(parser.get().target().data(), parser.get().target().size());
        Route route = classify(target);
        std::uint64_t id = requests_.fetch_add(1, std::memory_order_relaxed);
        Exchange x{shard, conn, route.dialect, false, Clock::now(), id};
        RequestProblem problem;
        problem.status = 413;
        problem.type = ErrorType::too_large;
        problem.message = "Request body exceeds the simulator's limit of " +
                          std::to_string(options_.max_body_bytes) + " bytes.";
        decision = refuse(x, route.deployment, problem);
      } else if (ec == http::error::header_limit) {
        reply_error(conn, SimEndpoint::openai, 431, "Request headers too large.", false);
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        reply_error(conn, SimEndpoint::openai, 400, "Malformed HTTP request: " + ec.message(),
                    false);
      } else {
        co_return;
      }
      keep_alive = false;
    } else {
      auto& request = parser.get();
      keep_alive = request.keep_alive() && !stopping_.load(std::memory_order_relaxed);
      std::string_view target(request.target().data(), request.target().size());
      Route route = classify(target);
      auto method = request.method();

      switch (route.kind) {
        case RouteKind::chat:
          if (method == http::verb::post) {
            decision = handle_chat(shard, conn, route, request, keep_alive);
          } else {
            reply_error(conn, route.dialect, 405, "Use POST for this endpoint.", keep_alive,
                        "Allow: POST\r\n");
          }
          break;
        case RouteKind::stats:
        case RouteKind::healthz:
          if (method != http::verb::get) {
            reply_error(conn, SimEndpoint::openai, 405, "Use GET.", keep_alive, "Allow: GET\r\n");
          } else if (route.kind == RouteKind::stats) {
            reply_stats(conn, keep_alive);
          } else {
            reply_simple(conn, 200, "text/plain", "ok", keep_alive);
          }
          break;
        case RouteKind::unknown: {
          std::string_view path = target.substr(0, target.find('?'));
          reply_error(conn, SimEndpoint::openai, 404, "Unknown path: " + std::string(path),
                      keep_alive);
          break;
        }
      }
    }

    if (decision.delay > Clock::duration::zero()) {
      conn.timer.expires_after(decision.delay);
      co_await conn.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;  // cancelled by stop()
    }
    if (decision.drop) {
      conn.close();  // `down` fault: no answer at all
      co_return;
    }
    std::array<asio::const_buffer, 2> reply{asio::buffer(conn.head), asio::buffer(conn.body)};
    co_await asio::async_write(stream, reply, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (!keep_alive) {
      // TLS: no close_notify (see the header); the reply is framed by Content-Length.
      conn.socket.shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

void Server::reply_simple(Connection& conn, int status, std::string_view content_type,
                          std::string_view body, bool keep_alive, std::string_view extra_headers) {
  conn.body.assign(body);
  start_head(conn.head, status);
  conn.head.append(extra_headers);
  finish_head(conn.head, content_type, conn.body.size(), keep_alive);
}

void Server::reply_error(Connection& conn, SimEndpoint dialect, int status,
                         std::string_view message, bool keep_alive,
                         std::string_view extra_headers) {
  write_error_body(conn.body, dialect, error_type_for_status(status), message, {}, {},
                   requests_.load(std::memory_order_relaxed));
  start_head(conn.head, status);
  conn.head.append(extra_headers);
  finish_head(conn.head, kJson, conn.body.size(), keep_alive);
}

void append_counts(std::string& body, const SimCounts& c) {
  body.append(R"("requests":)");
  append_uint(body, c.requests);
  body.append(R"(,"ok":)");
  append_uint(body, c.ok);
  body.append(R"(,"errors":)");
  append_uint(body, c.errors);
  body.append(R"(,"rate_limited":)");
  append_uint(body, c.rate_limited);
  body.append(R"(,"bad_requests":)");
  append_uint(body, c.bad_requests);
  body.append(R"(,"dropped":)");
  append_uint(body, c.dropped);
  body.append(R"(,"malformed":)");
  append_uint(body, c.malformed);
}

void Server::reply_stats(Connection& conn, bool keep_alive) {
  SimStats s = stats();
  std::string& body = conn.body;
  body.clear();
  body.push_back('{');
  append_counts(body, s);
  body.append(R"(,"models":{)");
  bool first = true;
  for (const auto& [model, counts] : s.models) {
    if (!first) body.push_back(',');
    first = false;
    append_json_string(body, model);
    body.append(":{");
    append_counts(body, counts);
    body.push_back('}');
  }
  body.append("}}");
  start_head(conn.head, 200);
  finish_head(conn.head, kJson, body.size(), keep_alive);
}

void Server::append_dialect_headers(std::string& head, const Exchange& x, std::uint64_t tokens,
                                    bool limited) {
  auto usage = window_.record(tokens);
  auto remaining = [](std::uint64_t limit, std::uint64_t used) {
    return used >= limit ? 0 : limit - used;
  };
  std::uint64_t requests_left =
      limited ? 0 : remaining(options_.requests_per_minute, usage.requests);
  std::uint64_t tokens_left = remaining(options_.tokens_per_minute, usage.tokens);
  if (x.dialect == SimEndpoint::anthropic) {
    head.append("request-id: ");
    append_anthropic_request_id(head, x.request_id);
    head.append("\r\nanthropic-ratelimit-requests-limit: ");
    append_uint(head, options_.requests_per_minute);
    head.append("\r\nanthropic-ratelimit-requests-remaining: ");
    append_uint(head, requests_left);
    head.append("\r\nanthropic-ratelimit-requests-reset: ");
    append_rfc3339(head, usage.reset_at_s);
    head.append("\r\nanthropic-ratelimit-tokens-limit: ");
    append_uint(head, options_.tokens_per_minute);
    head.append("\r\nanthropic-ratelimit-tokens-remaining: ");
    append_uint(head, tokens_left);
    head.append("\r\nanthropic-ratelimit-tokens-reset: ");
    append_rfc3339(head, usage.reset_at_s);
    head.append("\r\n");
    return;
  }
  head.append("x-ratelimit-limit-requests: ");
  append_uint(head, options_.requests_per_minute);
  head.append("\r\nx-ratelimit-limit-tokens: ");
  append_uint(head, options_.tokens_per_minute);
  head.append("\r\nx-ratelimit-remaining-requests: ");
  append_uint(head, requests_left);
  head.append("\r\nx-ratelimit-remaining-tokens: ");
  append_uint(head, tokens_left);
  head.append("\r\nx-ratelimit-reset-requests: ");
  append_uint(head, usage.seconds_to_reset);
  head.append("s\r\nx-ratelimit-reset-tokens: ");
  append_uint(head, usage.seconds_to_reset);
  head.append("s\r\n");
}

void Server::account(const Exchange& x, std::string_view model, Outcome outcome, int status,
                     int fault_rule) {
  switch (outcome) {
    case Outcome::ok:
      ok_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::error:
      errors_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::rate_limited:
      rate_limited_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::bad_request:
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::dropped:
      dropped_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::malformed:
      malformed_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (!model.empty()) {
    std::lock_guard lock(x.shard.model_counts.mutex);
    auto& counts = x.shard.model_counts.by_model;
    auto it = counts.find(model);
    if (it == counts.end()) {
      std::string_view key = counts.size() < kMaxModelsPerShard ? model : kOtherModels;
      it = counts.find(key);
      if (it == counts.end()) it = counts.emplace(std::string(key), SimCounts{}).first;
    }
    count(it->second, outcome);
  }
  if (options_.record_requests) {
    auto arrival_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(x.arrival - started_at_).count();
    std::lock_guard lock(log_mutex_);
    if (log_.size() < options_.request_log_limit) {
      log_.push_back(
          SimRequestRecord{std::string(model), x.dialect, arrival_ms, status, fault_rule});
    } else {
      ++unrecorded_;
    }
  }
}

ChatDecision Server::refuse(const Exchange& x, std::string_view model,
                            const RequestProblem& problem) {
  write_error_body(x.conn.body, x.dialect, problem.type, problem.message, problem.param,
                   problem.code, x.request_id);
  start_head(x.conn.head, problem.status);
  if (x.dialect == SimEndpoint::anthropic) {
    x.conn.head.append("request-id: ");
    append_anthropic_request_id(x.conn.head, x.request_id);
    x.conn.head.append("\r\n");
  }
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
  account(x, model, Outcome::bad_request, problem.status, -1);
  return ChatDecision{problem.status, {}, false};
}

ChatDecision Server::answer_error(const Exchange& x, std::string_view model, int status,
                                  int fault_rule) {
  std::string message;
  switch (status) {
    case 500:
      message = "The server had an error while processing your request (simulated).";
      break;
    case 503:
      message = "The service is temporarily unavailable (simulated).";
      break;
    case 529:
      message = "Overloaded (simulated).";
      break;
    default:
      message = std::string(reason_phrase(status)) + " (simulated).";
  }
  write_error_body(x.conn.body, x.dialect, error_type_for_status(status), message, {}, {},
                   x.request_id);
  start_head(x.conn.head, status);
  append_dialect_headers(x.conn.head, x, 0, false);
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
  account(x, model, Outcome::error, status, fault_rule);
  return ChatDecision{status, {}, false};
}

ChatDecision Server::answer_rate_limited(const Exchange& x, std::string_view model,
                                         int retry_after_s, int fault_rule) {
  std::string seconds = std::to_string(retry_after_s);
  std::string message;
  std::string_view code;
  switch (x.dialect) {
    case SimEndpoint::openai:
      message =
          "Rate limit reached for requests (simulated). Please try again in " + seconds + "s.";
      code = "rate_limit_exceeded";
      break;
    case SimEndpoint::azure:
      message =
          "Requests to the ChatCompletions_Create Operation have exceeded the call rate "
          "limit of your current pricing tier (simulated). Please retry after " +
          seconds + " seconds.";
      break;
    case SimEndpoint::anthropic:
      message =
          "This request would exceed the rate limit for your organization (simulated). "
          "Please try again in " +
          seconds + "s.";
      break;
  }
  write_error_body(x.conn.body, x.dialect, ErrorType::rate_limit, message, {}, code, x.request_id);
  start_head(x.conn.head, 429);
  x.conn.head.append("Retry-After: ");
  x.conn.head.append(seconds);
  x.conn.head.append("\r\n");
  append_dialect_headers(x.conn.head, x, 0, true);
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
  account(x, model, Outcome::rate_limited, 429, fault_rule);
  return ChatDecision{429, {}, false};  // rate limiters answer at once
}

bool Server::prompt_cache_hit(std::string_view model, std::uint64_t prefix_hash) {
  std::uint64_t key = mix64(prefix_hash ^ std::hash<std::string_view>{}(model));
  std::lock_guard lock(prompt_cache_mutex_);
  if (prompt_cache_.count(key) != 0) return true;
  if (prompt_cache_.size() >= kCacheMaxPrefixes) prompt_cache_.clear();
  prompt_cache_.insert(key);
  return false;
}

std::uint64_t Server::context_window(std::string_view model) const {
  if (context_windows_.empty()) return options_.default_context_window;
  auto it = context_windows_.find(model);
  return it == context_windows_.end() ? options_.default_context_window : it->second;
}

void Server::answer_ok(const Exchange& x, const ChatRequest& chat, std::uint64_t n,
                       bool malformed) {
  Completion reply;
  reply.model = chat.model;
  reply.id = draw(options_.seed, n, 2);
  reply.created_s = static_cast<std::uint64_t>(std::time(nullptr));
  reply.prompt_tokens = chat.prompt_tokens;
  auto completion = static_cast<std::uint32_t>(options_.output_tokens);
  if (chat.max_tokens && *chat.max_tokens < completion) {
    completion = static_cast<std::uint32_t>(*chat.max_tokens);
    reply.finish = Completion::Finish::length;
  }
  if (chat.content_filter) {
    reply.finish = Completion::Finish::content_filter;
    completion = 0;
  } else if (x.dialect != SimEndpoint::anthropic && is_reasoning_model(chat.model)) {
    reply.reasoning_tokens = completion * kReasoningSharePercent / 100;
  }
  reply.completion_tokens = completion;
  if (std::uint32_t visible = completion - reply.reasoning_tokens; visible > 0) {
    reply.text = std::string_view(reply_text_).substr(0, word_ends_[visible - 1]);
  }
  if (chat.prefix_tokens >= kCacheMinPrefixTokens) {
    bool hit = prompt_cache_hit(chat.model, chat.prefix_hash);
    if (x.dialect == SimEndpoint::anthropic) {
      (hit ? reply.cache_read_tokens : reply.cache_creation_tokens) = chat.prefix_tokens;
    } else if (hit) {
      reply.cached_tokens = chat.prefix_tokens / kCacheIncrementTokens * kCacheIncrementTokens;
    }
  }
  if (x.dialect == SimEndpoint::anthropic) {
    write_anthropic_message(x.conn.body, reply);
  } else {
    write_openai_completion(x.conn.body, reply, x.dialect == SimEndpoint::azure);
  }
  if (malformed) x.conn.body.resize(x.conn.body.size() / 2);
  start_head(x.conn.head, 200);
  append_dialect_headers(x.conn.head, x, std::uint64_t{reply.prompt_tokens} + completion, false);
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
}

ChatDecision Server::handle_chat(Shard& shard, Connection& conn, const Route& route,
                                 Request& request, bool keep_alive) {
  std::uint64_t request_number = requests_.fetch_add(1, std::memory_order_relaxed);
  const Exchange x{shard,      conn,         route.dialect,
                   keep_alive, Clock::now(), mix64(options_.seed ^ request_number)};
  auto invalid = [](int status, ErrorType type, std::string message) {
    RequestProblem problem;
    problem.status = status;
    problem.type = type;
    problem.message = std::move(message);
    return problem;
  };

  // Credentials and versions, before the body, as the providers' gateways check them.
  if (route.dialect == SimEndpoint::azure) {
    if (header_value(request, "api-key").empty() &&
        header_value(request, "authorization").empty()) {
      return refuse(x, route.deployment,
                    invalid(401, ErrorType::authentication,
                            "Access denied due to invalid subscription key or wrong API "
                            "endpoint (simulated: send an api-key header)."));
    }
    if (!query_parameter(route.query, "api-version").value_or("").size()) {
      return refuse(x, route.deployment, invalid(404, ErrorType::not_found, "Resource not found"));
    }
  } else if (route.dialect == SimEndpoint::anthropic) {
    if (header_value(request, "x-api-key").empty()) {
      return refuse(x, {}, invalid(401, ErrorType::authentication, "x-api-key header is required"));
    }
    std::string_view version = header_value(request, "anthropic-version");
    if (version.empty()) {
      return refuse(
          x, {}, invalid(400, ErrorType::invalid_request, "anthropic-version: header is required"));
    }
    if (version != "2023-06-01" && version != "2023-01-01") {
      return refuse(
          x, {},
          invalid(400, ErrorType::invalid_request,
                  "anthropic-version: \"" + std::string(version) + "\" is not a valid version"));
    }
  }

  // The arena lives in the shard: this function runs to completion on the shard's thread
  // without suspending, and the document does not outlive it.
  std::string& request_body = request.body();
  rapidjson::MemoryPoolAllocator<> arena(shard.parse_arena, sizeof shard.parse_arena);
  JsonDocument doc(&arena, 1024, &arena);
  doc.ParseInsitu(request_body.data());
  if (doc.HasParseError()) {
    std::string message = "We could not parse the JSON body of your request (";
    message += rapidjson::GetParseError_En(doc.GetParseError());
    message += " at offset ";
    message += std::to_string(doc.GetErrorOffset());
    message += ").";
    return refuse(x, route.deployment, invalid(400, ErrorType::invalid_request, message));
  }

  ChatRequest chat;
  auto problem = route.dialect == SimEndpoint::anthropic ? read_anthropic_messages(doc, chat)
                                                         : read_openai_chat(doc, chat);
  if (route.dialect == SimEndpoint::azure) chat.model = route.deployment;
  if (problem) return refuse(x, chat.model, *problem);

  if (std::uint64_t window = context_window(chat.model); window > 0) {
    std::uint64_t asked = chat.max_tokens.value_or(0);
    if (chat.prompt_tokens + asked > window) {
      return refuse(x, chat.model,
                    context_window_problem(route.dialect, chat.prompt_tokens, asked, window));
    }
  }
  if (route.dialect == SimEndpoint::azure && chat.content_filter) {
    write_azure_content_filter_error(conn.body);
    start_head(conn.head, 400);
    finish_head(conn.head, kJson, conn.body.size(), keep_alive);
    account(x, chat.model, Outcome::bad_request, 400, -1);
    return ChatDecision{400, {}, false};
  }

  // The n-th request that passed validation: its outcome and latency depend only on (seed, n)
  // and, for fault windows, its arrival time.
  std::uint64_t n = next_decision_.fetch_add(1, std::memory_order_relaxed);
  ChatDecision decision;
  if (options_.latency_ms > 0 || options_.latency_jitter_ms > 0) {
    double tail_ms =
        options_.latency_jitter_ms > 0
            ? -options_.latency_jitter_ms * std::log1p(-unit_interval(draw(options_.seed, n, 1)))
            : 0.0;
    decision.delay = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(options_.latency_ms + tail_ms));
  }
  sim_logger().debug("provider-sim request n={} dialect={} model={} prompt_tokens={}", n,
                     to_string(route.dialect), chat.model, chat.prompt_tokens);

  int fault = -1;
  if (!options_.faults.empty()) {
    auto since_start_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(x.arrival - started_at_).count();
    // One draw against the running sum of the matching rules' rates: each rule takes its rate
    // as a share of the same requests (0.2 and 0.1 -> 20% and 10%, not 20% and 8%).
    double draw_value = unit_interval(fault_draw(options_.seed, n));
    double shares = 0.0;
    for (std::size_t i = 0; i < options_.faults.size(); ++i) {
      const FaultRule& rule = options_.faults[i];
      if (!rule.model.empty() && rule.model != chat.model) continue;
      if (since_start_ms < rule.from_ms || (rule.until_ms && since_start_ms >= *rule.until_ms))
        continue;
      shares += rule.rate;
      if (rule.rate >= 1.0 || draw_value < shares) {
        fault = static_cast<int>(i);
        break;
      }
    }
  }

  if (fault >= 0) {
    const FaultRule& rule = options_.faults[static_cast<std::size_t>(fault)];
    switch (rule.kind) {
      case FaultKind::down:
        account(x, chat.model, Outcome::dropped, 0, fault);
        return ChatDecision{0, std::chrono::milliseconds(rule.delay_ms), true};
      case FaultKind::errors:
        if (rule.status == 429)
          return answer_rate_limited(x, chat.model, options_.retry_after_s, fault);
        answer_error(x, chat.model, rule.status, fault);
        decision.status = rule.status;
        return decision;
      case FaultKind::rate_limit:
        return answer_rate_limited(x, chat.model, rule.retry_after_s, fault);
      case FaultKind::slow_first_byte:
        decision.delay += std::chrono::milliseconds(rule.delay_ms);
        answer_ok(x, chat, n, false);
        account(x, chat.model, Outcome::ok, 200, fault);
        return decision;
      case FaultKind::malformed:
        answer_ok(x, chat, n, true);
        account(x, chat.model, Outcome::malformed, 200, fault);
        return decision;
    }
  }

  double outcome = unit_interval(draw(options_.seed, n, 0));
  if (outcome < options_.error_rate) {
    int status = route.dialect == SimEndpoint::anthropic ? 529 : 500;
    answer_error(x, chat.model, status, -1);
    decision.status = status;
    return decision;
  }
  if (outcome < options_.error_rate + options_.rate_limit_rate)
    return answer_rate_limited(x, chat.model, options_.retry_after_s, -1);
  answer_ok(x, chat, n, false);
  account(x, chat.model, Outcome::ok, 200, -1);
  return decision;
}

}  // namespace

std::uint32_t approx_token_count(std::string_view text) {
  std::uint32_t tokens = 0;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  auto is_letter = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
  };
  auto is_digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
  auto is_space = [](unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (i < n) {
    unsigned char c = at(i);
    if (is_letter(c)) {
      std::size_t start = i;
      while (i < n && is_letter(at(i))) ++i;
      std::size_t length = i - start;
      tokens += static_cast<std::uint32_t>(length <= 7 ? 1 : (length + 3) / 4);
    } else if (is_digit(c)) {
      std::size_t start = i;
      while (i < n && is_digit(at(i))) ++i;
      tokens += static_cast<std::uint32_t>((i - start + 2) / 3);
    } else {
      if (!is_space(c)) ++tokens;
      ++i;
    }
  }
  return tokens;
}

struct ProviderSimulator::Impl : Server {
  using Server::Server;
};

ProviderSimulator::ProviderSimulator(SimOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ProviderSimulator::~ProviderSimulator() = default;  // Server's destructor stops

void ProviderSimulator::start() {
  impl_->start();
}
void ProviderSimulator::stop() {
  impl_->stop();
}
std::uint16_t ProviderSimulator::port() const {
  return impl_->port();
}
SimStats ProviderSimulator::stats() const {
  return impl_->stats();
}
std::vector<SimRequestRecord> ProviderSimulator::request_log() const {
  return impl_->request_log();
}

}  // namespace switchyard
