// Provider simulator: one io_context per thread ("shard"), one acceptor on shard 0 handing
// accepted sockets round-robin to the shards, one coroutine per connection. A shard is touched
// only by its own thread, so the connection registry and the JSON parse buffer need no locks;
// counters shared across shards are relaxed atomics.
//
// Per request: Beast parses the HTTP message, RapidJSON parses the body in place with a
// per-shard arena, and the reply is formatted into per-connection buffers that keep their
// capacity across requests, so a warm keep-alive connection allocates only for the request
// itself (header fields, body string).
#include "switchyard/sim/provider_sim.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/sinks/stdout_color_sinks.h>
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
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "switchyard/common/log.h"

namespace switchyard {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// I/O objects bound to a concrete io_context executor: no type-erased executor per operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// The in-place parse keeps strings inside the request body; the arena only holds value nodes.
using JsonDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                rapidjson::MemoryPoolAllocator<>>;
constexpr std::size_t kParseArenaBytes = 64 * 1024;

// The "sim" logger, created on first use. A reference, so the per-request debug call costs no
// shared_ptr reference-count traffic between io threads.
spdlog::logger& sim_logger() {
  static const std::shared_ptr<spdlog::logger> logger = named_logger("sim");
  return *logger;
}

// ---------------------------------------------------------------------------------------------
// Deterministic draws

std::uint64_t mix64(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Independent streams per request: 0 = outcome, 1 = latency, 2 = reply id.
std::uint64_t draw(std::uint64_t seed, std::uint64_t n, std::uint64_t stream) {
  return mix64(mix64(seed) ^ mix64(n * 4 + stream));
}

double unit_interval(std::uint64_t bits) {  // [0, 1)
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers

void append_uint(std::string& out, std::uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out.append(digits, end);
}

void append_hex16(std::string& out, std::uint64_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xF]);
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// OpenAI error body. `code` empty -> null.
void set_error_body(std::string& body, std::string_view message, std::string_view type,
                    std::string_view code) {
  body.clear();
  body.append(R"({"error":{"message":)");
  append_json_string(body, message);
  body.append(R"(,"type":)");
  append_json_string(body, type);
  body.append(R"(,"param":null,"code":)");
  if (code.empty()) {
    body.append("null");
  } else {
    append_json_string(body, code);
  }
  body.append("}}");
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Unknown";
  }
}

// Starts a response head; the caller may append "Name: value\r\n" lines, then finish_head().
void start_head(std::string& head, int status) {
  head.clear();
  head.append("HTTP/1.1 ");
  append_uint(head, static_cast<std::uint64_t>(status));
  head.push_back(' ');
  head.append(reason_phrase(status));
  head.append("\r\nServer: switchyard-provider-sim\r\n");
}

void finish_head(std::string& head, std::string_view content_type, std::size_t body_bytes,
                 bool keep_alive) {
  head.append("Content-Type: ");
  head.append(content_type);
  head.append("\r\nContent-Length: ");
  append_uint(head, body_bytes);
  head.append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
}

constexpr std::string_view kJson = "application/json";

// ---------------------------------------------------------------------------------------------
// Token accounting

bool is_letter(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Tokens of one message's content: a string, null, or an array of content parts.
std::uint32_t content_tokens(const rapidjson::Value& content) {
  if (content.IsString()) {
    return approx_token_count(std::string_view(content.GetString(), content.GetStringLength()));
  }
  std::uint32_t tokens = 0;
  if (content.IsArray()) {
    for (const auto& part : content.GetArray()) {
      if (!part.IsObject()) continue;
      auto text = part.FindMember("text");
      if (text != part.MemberEnd() && text->value.IsString()) {
        tokens += approx_token_count(
            std::string_view(text->value.GetString(), text->value.GetStringLength()));
      } else if (part.HasMember("image_url")) {
        tokens += 85;  // OpenAI's flat charge for a low-detail image
      }
    }
  }
  return tokens;
}

// Requests and tokens seen in the current wall-clock minute, for the x-ratelimit-* headers.
// Approximate under races at the minute boundary, which is fine for informational headers.
class MinuteWindow {
 public:
  struct Usage {
    std::uint64_t requests;
    std::uint64_t tokens;
    std::uint64_t seconds_to_reset;
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
    return usage;
  }

 private:
  std::atomic<std::uint64_t> minute_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> tokens_{0};
};

// ---------------------------------------------------------------------------------------------
// Server

class Server;
struct Shard;

// One client connection; lives in its session coroutine's frame and links itself into its
// shard's registry so stop() and the idle sweep can close it.
struct Connection {
  Connection(Shard& owner, Socket&& s);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() {
    beast::error_code ignored;
    socket.close(ignored);
    timer.cancel();
  }

  Shard& shard;
  Socket socket;
  Timer timer;  // latency of the current request
  Connection* prev = nullptr;
  Connection* next = nullptr;
  Clock::time_point idle_since;
  bool reading = false;  // waiting for (the rest of) a request: the idle timeout applies
  std::string head;      // reply buffers, reused across the connection's requests
  std::string body;
};

struct Shard {
  explicit Shard(Server& s) : server(s) {}

  Server& server;
  // Declared before `context`: coroutine frames still alive when the context is destroyed
  // unlink their Connection from this list while it still exists.
  Connection* connections = nullptr;
  alignas(16) char parse_arena[kParseArenaBytes];
  asio::io_context context{1};
  std::optional<asio::executor_work_guard<Executor>> work;
  Timer sweep_timer{context.get_executor()};  // after `context`, so destroyed before it
  std::thread thread;
};

Connection::Connection(Shard& owner, Socket&& s)
    : shard(owner), socket(std::move(s)), timer(socket.get_executor()) {
  next = shard.connections;
  if (next) next->prev = this;
  shard.connections = this;
}

// What a chat completion handler decided: reply status and how long to hold it.
struct ChatDecision {
  int status = 200;
  Clock::duration delay{};
};

class Server {
 public:
  explicit Server(SimOptions options) : options_(std::move(options)) {}
  ~Server() { stop(); }

  void start();
  void stop();
  std::uint16_t port() const { return port_.load(std::memory_order_acquire); }

  SimStats stats() const {
    SimStats s;
    s.requests = requests_.load(std::memory_order_relaxed);
    s.ok = ok_.load(std::memory_order_relaxed);
    s.errors = errors_.load(std::memory_order_relaxed);
    s.rate_limited = rate_limited_.load(std::memory_order_relaxed);
    s.bad_requests = bad_requests_.load(std::memory_order_relaxed);
    return s;
  }

  void connection_ended() { sessions_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  void validate_options() const;
  void build_reply_text();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> sweep_loop(Shard& shard);
  asio::awaitable<void> session(Shard& shard, Socket socket);

  // Fill conn.head / conn.body for one parsed request (keep_alive already decided).
  ChatDecision handle_chat(Shard& shard, Connection& conn, std::string& request_body,
                           bool keep_alive);
  void reply_stats(Connection& conn, bool keep_alive);
  void reply_simple(Connection& conn, int status, std::string_view content_type,
                    std::string_view body, bool keep_alive, std::string_view extra_headers = {});
  void reply_error(Connection& conn, int status, std::string_view message, std::string_view type,
                   std::string_view code, bool keep_alive, std::string_view extra_headers = {});
  void append_rate_limit_headers(std::string& head, std::uint64_t tokens, bool limited);

  const SimOptions options_;
  // Deterministic reply text: options_.output_tokens words, each exactly one token.
  std::string reply_text_;
  std::vector<std::uint32_t> word_ends_;  // reply_text_.substr(0, word_ends_[k-1]) has k tokens

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::uint64_t> bad_requests_{0};
  std::atomic<std::uint64_t> next_decision_{0};  // n of the determinism contract
  MinuteWindow window_;

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
  std::string problems;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      if (!problems.empty()) problems += "; ";
      problems += what;
    }
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
  if (!problems.empty()) throw std::invalid_argument("provider-sim options: " + problems);
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

void Server::start() {
  if (started_) throw std::logic_error("ProviderSimulator::start() called twice");
  validate_options();
  started_ = true;
  build_reply_text();

  for (int i = 0; i < options_.threads; ++i) shards_.push_back(std::make_unique<Shard>(*this));
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
      "provider-sim listening on {}:{} threads={} latency_ms={} jitter_ms={} "
      "error_rate={} rate_limit_rate={} seed={} output_tokens={}",
      options_.host, port(), options_.threads, options_.latency_ms, options_.latency_jitter_ms,
      options_.error_rate, options_.rate_limit_rate, options_.seed, options_.output_tokens);
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
  auto s = stats();
  sim_logger().info(
      "provider-sim stopped: requests={} ok={} errors={} rate_limited={} bad_requests={}",
      s.requests, s.ok, s.errors, s.rate_limited, s.bad_requests);
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
  Connection conn(shard, std::move(socket));
  if (stopping_.load(std::memory_order_relaxed)) co_return;
  beast::flat_buffer buffer;
  beast::error_code ec;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(64 * 1024);

    conn.reading = true;
    conn.idle_since = Clock::now();
    co_await http::async_read_header(conn.socket, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !parser.is_done()) {
      auto expect = parser.get()[http::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        co_await asio::async_write(conn.socket, asio::buffer(kContinue.data(), kContinue.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec) {
        co_await http::async_read(conn.socket, buffer, parser,
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
        requests_.fetch_add(1, std::memory_order_relaxed);  // only chat completions carry bodies
        bad_requests_.fetch_add(1, std::memory_order_relaxed);
        reply_error(conn, 413,
                    "Request body exceeds the simulator's limit of " +
                        std::to_string(options_.max_body_bytes) + " bytes.",
                    "invalid_request_error", "", false);
      } else if (ec == http::error::header_limit) {
        reply_error(conn, 431, "Request headers too large.", "invalid_request_error", "", false);
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        reply_error(conn, 400, "Malformed HTTP request: " + ec.message(), "invalid_request_error",
                    "", false);
      } else {
        co_return;
      }
      keep_alive = false;
    } else {
      auto& request = parser.get();
      keep_alive = request.keep_alive() && !stopping_.load(std::memory_order_relaxed);
      std::string_view target(request.target().data(), request.target().size());
      if (auto query = target.find('?'); query != std::string_view::npos)
        target = target.substr(0, query);
      auto method = request.method();

      if (target == "/v1/chat/completions" || target == "/chat/completions") {
        if (method == http::verb::post) {
          decision = handle_chat(shard, conn, request.body(), keep_alive);
        } else {
          reply_error(conn, 405, "Use POST for chat completions.", "invalid_request_error", "",
                      keep_alive, "Allow: POST\r\n");
        }
      } else if (target == "/stats" || target == "/healthz") {
        if (method != http::verb::get) {
          reply_error(conn, 405, "Use GET.", "invalid_request_error", "", keep_alive,
                      "Allow: GET\r\n");
        } else if (target == "/stats") {
          reply_stats(conn, keep_alive);
        } else {
          reply_simple(conn, 200, "text/plain", "ok", keep_alive);
        }
      } else {
        reply_error(conn, 404, "Unknown path: " + std::string(target), "invalid_request_error", "",
                    keep_alive);
      }
    }

    if (decision.delay > Clock::duration::zero()) {
      conn.timer.expires_after(decision.delay);
      co_await conn.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;  // cancelled by stop()
    }
    std::array<asio::const_buffer, 2> reply{asio::buffer(conn.head), asio::buffer(conn.body)};
    co_await asio::async_write(conn.socket, reply, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (!keep_alive) {
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

void Server::reply_error(Connection& conn, int status, std::string_view message,
                         std::string_view type, std::string_view code, bool keep_alive,
                         std::string_view extra_headers) {
  set_error_body(conn.body, message, type, code);
  start_head(conn.head, status);
  conn.head.append(extra_headers);
  finish_head(conn.head, kJson, conn.body.size(), keep_alive);
}

void Server::reply_stats(Connection& conn, bool keep_alive) {
  SimStats s = stats();
  std::string& body = conn.body;
  body.clear();
  body.append(R"({"requests":)");
  append_uint(body, s.requests);
  body.append(R"(,"ok":)");
  append_uint(body, s.ok);
  body.append(R"(,"errors":)");
  append_uint(body, s.errors);
  body.append(R"(,"rate_limited":)");
  append_uint(body, s.rate_limited);
  body.append(R"(,"bad_requests":)");
  append_uint(body, s.bad_requests);
  body.push_back('}');
  start_head(conn.head, 200);
  finish_head(conn.head, kJson, body.size(), keep_alive);
}

void Server::append_rate_limit_headers(std::string& head, std::uint64_t tokens, bool limited) {
  auto usage = window_.record(tokens);
  auto remaining = [](std::uint64_t limit, std::uint64_t used) {
    return used >= limit ? 0 : limit - used;
  };
  head.append("x-ratelimit-limit-requests: ");
  append_uint(head, options_.requests_per_minute);
  head.append("\r\nx-ratelimit-limit-tokens: ");
  append_uint(head, options_.tokens_per_minute);
  head.append("\r\nx-ratelimit-remaining-requests: ");
  append_uint(head, limited ? 0 : remaining(options_.requests_per_minute, usage.requests));
  head.append("\r\nx-ratelimit-remaining-tokens: ");
  append_uint(head, remaining(options_.tokens_per_minute, usage.tokens));
  head.append("\r\nx-ratelimit-reset-requests: ");
  append_uint(head, usage.seconds_to_reset);
  head.append("s\r\nx-ratelimit-reset-tokens: ");
  append_uint(head, usage.seconds_to_reset);
  head.append("s\r\n");
}

ChatDecision Server::handle_chat(Shard& shard, Connection& conn, std::string& request_body,
                                 bool keep_alive) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  auto bad_request = [&](std::string_view message) {
    bad_requests_.fetch_add(1, std::memory_order_relaxed);
    reply_error(conn, 400, message, "invalid_request_error", "", keep_alive);
    return ChatDecision{400, {}};
  };

  // The arena lives in the shard: this function runs to completion on the shard's thread
  // without suspending, and the document does not outlive it.
  rapidjson::MemoryPoolAllocator<> arena(shard.parse_arena, sizeof shard.parse_arena);
  JsonDocument doc(&arena, 1024, &arena);
  doc.ParseInsitu(request_body.data());
  if (doc.HasParseError()) {
    std::string message = "We could not parse the JSON body of your request (";
    message += rapidjson::GetParseError_En(doc.GetParseError());
    message += " at offset ";
    message += std::to_string(doc.GetErrorOffset());
    message += ").";
    return bad_request(message);
  }
  if (!doc.IsObject()) return bad_request("The request body must be a JSON object.");

  std::string_view model = "provider-sim";
  if (auto it = doc.FindMember("model"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) return bad_request("Invalid type for 'model': expected a string.");
    model = std::string_view(it->value.GetString(), it->value.GetStringLength());
  }

  auto messages = doc.FindMember("messages");
  if (messages == doc.MemberEnd()) return bad_request("Missing required parameter: 'messages'.");
  if (!messages->value.IsArray() || messages->value.Empty()) {
    return bad_request("Invalid 'messages': expected a non-empty array of messages.");
  }
  std::uint32_t prompt_tokens = kTokensReplyPriming;
  for (const auto& message : messages->value.GetArray()) {
    if (!message.IsObject())
      return bad_request("Invalid 'messages': each message must be an object.");
    auto role = message.FindMember("role");
    if (role == message.MemberEnd() || !role->value.IsString()) {
      return bad_request("Missing required parameter: 'messages[].role'.");
    }
    auto content = message.FindMember("content");
    if (content != message.MemberEnd() && !content->value.IsString() && !content->value.IsArray() &&
        !content->value.IsNull()) {
      return bad_request(
          "Invalid type for 'messages[].content': expected a string, an array of "
          "content parts or null.");
    }
    prompt_tokens += kTokensPerMessage;
    if (content != message.MemberEnd()) prompt_tokens += content_tokens(content->value);
    if (message.HasMember("name")) prompt_tokens += kTokensPerName;
  }

  auto completion_tokens = static_cast<std::uint64_t>(options_.output_tokens);
  const char* finish_reason = "stop";
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto it = doc.FindMember(field);
    if (it == doc.MemberEnd() || it->value.IsNull()) continue;
    if (!it->value.IsUint64() || it->value.GetUint64() < 1) {
      return bad_request(std::string("Invalid '") + field + "': expected an integer >= 1.");
    }
    if (it->value.GetUint64() < completion_tokens) {
      completion_tokens = it->value.GetUint64();
      finish_reason = "length";
    }
  }

  // The n-th well-formed request: its outcome and latency depend only on (seed, n).
  std::uint64_t n = next_decision_.fetch_add(1, std::memory_order_relaxed);
  double outcome = unit_interval(draw(options_.seed, n, 0));
  ChatDecision decision;
  if (options_.latency_ms > 0 || options_.latency_jitter_ms > 0) {
    double tail_ms =
        options_.latency_jitter_ms > 0
            ? -options_.latency_jitter_ms * std::log1p(-unit_interval(draw(options_.seed, n, 1)))
            : 0.0;
    decision.delay = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(options_.latency_ms + tail_ms));
  }
  sim_logger().debug("provider-sim request n={} model={} prompt_tokens={}", n, model,
                     prompt_tokens);

  if (outcome < options_.error_rate) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    decision.status = 500;
    set_error_body(conn.body, "The server had an error while processing your request (simulated).",
                   "server_error", "");
    start_head(conn.head, 500);
    append_rate_limit_headers(conn.head, 0, false);
    finish_head(conn.head, kJson, conn.body.size(), keep_alive);
    return decision;
  }
  if (outcome < options_.error_rate + options_.rate_limit_rate) {
    rate_limited_.fetch_add(1, std::memory_order_relaxed);
    decision.status = 429;
    decision.delay = {};  // rate limiters answer at once
    std::string message = "Rate limit reached for requests (simulated). Please try again in ";
    message += std::to_string(options_.retry_after_s);
    message += "s.";
    set_error_body(conn.body, message, "requests", "rate_limit_exceeded");
    start_head(conn.head, 429);
    conn.head.append("Retry-After: ");
    append_uint(conn.head, static_cast<std::uint64_t>(options_.retry_after_s));
    conn.head.append("\r\n");
    append_rate_limit_headers(conn.head, 0, true);
    finish_head(conn.head, kJson, conn.body.size(), keep_alive);
    return decision;
  }

  ok_.fetch_add(1, std::memory_order_relaxed);
  std::string& body = conn.body;
  body.clear();
  body.append(R"({"id":"chatcmpl-sim)");
  append_hex16(body, draw(options_.seed, n, 2));
  body.append(R"(","object":"chat.completion","created":)");
  append_uint(body, static_cast<std::uint64_t>(std::time(nullptr)));
  body.append(R"(,"model":)");
  append_json_string(body, model);
  body.append(R"(,"choices":[{"index":0,"message":{"role":"assistant","content":")");
  // The reply words need no JSON escaping.
  body.append(reply_text_, 0, word_ends_[completion_tokens - 1]);
  body.append(R"(","refusal":null},"logprobs":null,"finish_reason":")");
  body.append(finish_reason);
  body.append(R"("}],"usage":{"prompt_tokens":)");
  append_uint(body, prompt_tokens);
  body.append(R"(,"completion_tokens":)");
  append_uint(body, completion_tokens);
  body.append(R"(,"total_tokens":)");
  append_uint(body, prompt_tokens + completion_tokens);
  body.append(R"(},"system_fingerprint":"fp_switchyard_sim"})");

  start_head(conn.head, 200);
  append_rate_limit_headers(conn.head, prompt_tokens + completion_tokens, false);
  finish_head(conn.head, kJson, body.size(), keep_alive);
  return decision;
}

}  // namespace

std::uint32_t approx_token_count(std::string_view text) {
  std::uint32_t tokens = 0;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
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

}  // namespace switchyard
