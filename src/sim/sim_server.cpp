// The provider simulator's server: start and stop, the accept loop and the idle sweep, one
// coroutine per connection reading HTTP requests, and the replies that are not chat answers
// (stats, errors). Chat requests are answered by sim_chat.cpp.
#include "sim/sim_server.h"

namespace switchyard::sim_server {
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
  // The kernel caps the backlog at net.core.somaxconn; the default asks for plenty so connection
  // storms of benchmarks are not dropped (slow-accept mode asks for little).
  acceptor_->listen(options_.listen_backlog, ec);
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
      "error_rate={} rate_limit_rate={} seed={} output_tokens={} fault_rules={} backlog={} "
      "accept_delay_ms={} max_connections={}",
      options_.host, port(), tls_context_ ? "on" : "off", options_.threads, options_.latency_ms,
      options_.latency_jitter_ms, options_.error_rate, options_.rate_limit_rate, options_.seed,
      options_.output_tokens, options_.faults.size(), options_.listen_backlog,
      options_.accept_delay_ms, options_.max_connections);
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
    // Slow-accept mode: a thread-per-connection server with all its threads busy accepts nothing
    // until a connection ends; the kernel queues (or drops) the connections meanwhile.
    while (options_.max_connections > 0 && sessions_.load() >= options_.max_connections &&
           !stopping_.load(std::memory_order_relaxed)) {
      Timer pause(acceptor_->get_executor());
      pause.expires_after(std::chrono::milliseconds(1));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (options_.accept_delay_ms > 0) {
      Timer pause(acceptor_->get_executor());
      pause.expires_after(std::chrono::milliseconds(options_.accept_delay_ms));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
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

}  // namespace switchyard::sim_server
