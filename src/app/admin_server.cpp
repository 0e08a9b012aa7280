// Admin HTTP server: one io_context on one thread, an accept loop and one coroutine per
// connection (keep-alive, a read timeout per request). Everything below runs on that thread,
// except start(), stop(), set_readiness() and register_handler(), which take `mutex` or post.
#include "switchyard/app/admin_server.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "switchyard/common/log.h"
#include "switchyard/common/metrics.h"

namespace switchyard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

spdlog::logger& admin_logger() {
  static const std::shared_ptr<spdlog::logger> logger = named_logger("admin");
  return *logger;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// "/dashboard" covers "/dashboard", "/dashboard/..." and "/dashboard?..." but not "/dashboards".
bool path_under(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || prefix.ends_with('/') || path[prefix.size()] == '/';
}

bool is_builtin(std::string_view path) {
  return path == "/metrics" || path == "/healthz" || path == "/readyz";
}

std::string readiness_json(bool ready, const std::vector<ReadinessCheck>& checks) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("ready");
  w.Bool(ready);
  w.Key("checks");
  w.StartArray();
  for (const auto& c : checks) {
    w.StartObject();
    w.Key("name");
    w.String(c.name.data(), static_cast<rapidjson::SizeType>(c.name.size()));
    w.Key("ok");
    w.Bool(c.ok);
    if (!c.detail.empty()) {
      w.Key("detail");
      w.String(c.detail.data(), static_cast<rapidjson::SizeType>(c.detail.size()));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Request / response helpers

std::string_view AdminRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return {};
}

std::string_view AdminRequest::query_param(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

AdminResponse AdminResponse::text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

AdminResponse AdminResponse::json(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

bool bearer_token_matches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return false;
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() ||
      !iequals(authorization.substr(0, kScheme.size()), kScheme))
    return false;
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
  // Every byte of the token is compared whatever the given value is, so the time depends only
  // on the token's length, not on how much of it a guess got right.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < token.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(token[i]));
  }
  return diff == 0;
}

// ---------------------------------------------------------------------------------------------
// Server

struct AdminServer::Impl {
  Impl(AdminServerOptions o, const MetricsRegistry& m) : options(std::move(o)), metrics(m) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(tcp::socket socket);
  AdminResponse dispatch(const AdminRequest& request, std::string_view authorization);
  AdminResponse readiness();

  const AdminServerOptions options;
  const MetricsRegistry& metrics;

  std::mutex mutex;  // guards probe and handlers
  ReadinessProbe probe;
  std::map<std::string, std::shared_ptr<const AdminHandler>, std::less<>> handlers;

  std::atomic<std::uint16_t> port{0};
  bool token_required = false;  // set by start() before the thread exists
  std::atomic<bool> stopping{false};
  std::atomic<int> sessions_alive{0};
  std::atomic<bool> accepting{false};
  // Accept loop only.
  std::uint64_t refused_connections = 0;
  std::chrono::steady_clock::time_point last_refusal_log{};

  // Touched on the io thread only. Declared before `context`: session frames destroyed with
  // the context unlink themselves from it.
  std::unordered_set<beast::tcp_stream*> sessions;
  std::unique_ptr<asio::io_context> context;
  std::unique_ptr<tcp::acceptor> acceptor;  // destroyed before the context
  std::thread thread;
};

AdminServer::AdminServer(AdminServerOptions options, const MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), metrics)) {}

AdminServer::~AdminServer() {
  stop();
}

std::uint16_t AdminServer::port() const {
  return impl_->port.load(std::memory_order_acquire);
}

bool AdminServer::requires_token() const {
  return impl_->token_required;
}

void AdminServer::set_readiness(ReadinessProbe probe) {
  std::lock_guard lock(impl_->mutex);
  impl_->probe = std::move(probe);
}

void AdminServer::register_handler(std::string path_prefix, AdminHandler handler) {
  if (path_prefix.empty() || path_prefix.front() != '/')
    throw std::invalid_argument("admin handler prefix must start with '/', got '" + path_prefix +
                                "'");
  if (is_builtin(path_prefix))
    throw std::invalid_argument("admin handler prefix " + path_prefix + " is built in");
  std::lock_guard lock(impl_->mutex);
  impl_->handlers[std::move(path_prefix)] =
      std::make_shared<const AdminHandler>(std::move(handler));
}

void AdminServer::start() {
  Impl& s = *impl_;
  if (s.context) throw std::logic_error("AdminServer::start() called twice");
  const std::string where = s.options.host + ":" + std::to_string(s.options.port);
  auto context = std::make_unique<asio::io_context>(1);

  beast::error_code ec;
  tcp::resolver resolver(*context);
  auto endpoints = resolver.resolve(s.options.host, std::to_string(s.options.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty())
    throw std::runtime_error("admin server: cannot resolve '" + s.options.host +
                             "': " + ec.message());
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  const bool loopback = endpoint.address().is_loopback();
  if (!loopback && s.options.bearer_token.empty())
    throw std::runtime_error("admin server: refusing to listen on " + where +
                             ", which is not a loopback address, without a bearer token; set "
                             "admin.token_env to a variable holding one, or listen on 127.0.0.1");
  s.token_required = !s.options.bearer_token.empty();

  auto acceptor = std::make_unique<tcp::acceptor>(*context);
  auto fail = [&](const std::string& what) {
    throw std::runtime_error("admin server: cannot " + what + " " + where + ": " + ec.message());
  };
  acceptor->open(endpoint.protocol(), ec);
  if (ec) fail("open a socket for");
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  acceptor->bind(endpoint, ec);
  if (ec) fail("bind");
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen on");
  s.port.store(acceptor->local_endpoint().port(), std::memory_order_release);

  s.context = std::move(context);
  s.acceptor = std::move(acceptor);
  s.stopping = false;
  s.accepting = true;
  asio::co_spawn(*s.context, s.accept_loop(), [](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      admin_logger().error("admin server accept loop failed: {}", e.what());
    }
  });
  s.thread = std::thread([&s] {
    for (;;) {
      try {
        s.context->run();
        return;
      } catch (const std::exception& e) {
        admin_logger().error("admin server io thread: handler threw: {}", e.what());
      }
    }
  });
  admin_logger().info("admin server listening on {}:{} (bearer token {})", s.options.host, port(),
                      s.token_required ? "required" : "not required, loopback only");
}

void AdminServer::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  s.stopping = true;
  asio::post(*s.context, [&s] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
    for (beast::tcp_stream* stream : s.sessions) stream->socket().close(ignored);
  });
  // Closing ends every coroutine soon; a stuck one is dropped with the context after a while.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while ((s.sessions_alive.load() > 0 || s.accepting.load()) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.context->stop();
  s.thread.join();
  s.acceptor.reset();
  s.context.reset();
  s.port = 0;
  admin_logger().info("admin server stopped");
}

asio::awaitable<void> AdminServer::Impl::accept_loop() {
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag = false; }
  } done{accepting};
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      admin_logger().warn("admin server accept failed: {}", ec.message());
      asio::steady_timer pause(*context, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (sessions_alive.load() >= options.max_connections) {
      // Over the cap: closed at once, said once a minute.
      const auto now = std::chrono::steady_clock::now();
      ++refused_connections;
      if (now - last_refusal_log > std::chrono::minutes(1)) {
        admin_logger().warn("admin server: {} connection(s) refused, {} open (the cap)",
                            refused_connections, options.max_connections);
        refused_connections = 0;
        last_refusal_log = now;
      }
      socket.close(ec);
      continue;
    }
    ++sessions_alive;
    asio::co_spawn(*context, session(std::move(socket)), [](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        admin_logger().error("admin connection failed: {}", e.what());
      }
    });
  }
}

asio::awaitable<void> AdminServer::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  struct Registered {
    Impl& impl;
    beast::tcp_stream* stream;
    Registered(Impl& i, beast::tcp_stream* s) : impl(i), stream(s) { impl.sessions.insert(s); }
    ~Registered() {
      impl.sessions.erase(stream);
      --impl.sessions_alive;
    }
  } registered(*this, &stream);
  if (stopping) co_return;

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(16 * 1024);
    beast::error_code ec;
    stream.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
    // The head first: a request without the token is answered before its body is read.
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && token_required) {
      const auto& head = parser.get();
      const std::string_view target(head.target().data(), head.target().size());
      const bool healthz = target.substr(0, target.find('?')) == "/healthz";
      const auto given = head[http::field::authorization];
      if (!healthz && !bearer_token_matches(std::string_view(given.data(), given.size()),
                                            options.bearer_token)) {
        http::response<http::string_body> res{http::status::unauthorized, 11};
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.set(http::field::www_authenticate, "Bearer realm=\"switchyard-admin\"");
        res.body() = "unauthorized: send Authorization: Bearer <token>\n";
        res.keep_alive(false);  // its body, if any, is never read
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        co_return;
      }
    }
    if (!ec && !parser.is_done()) {
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      http::response<http::string_body> res{ec == http::error::body_limit
                                                ? http::status::payload_too_large
                                                : http::status::request_header_fields_too_large,
                                            11};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = ec == http::error::body_limit ? "request body too large\n"
                                                 : "request headers too large\n";
      res.keep_alive(false);
      res.prepare_payload();
      stream.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    if (ec) co_return;  // closed, timed out, reset or not HTTP: nothing to answer
    stream.expires_never();

    auto& req = parser.get();
    AdminRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    auto mark = request.target.find('?');
    request.path = request.target.substr(0, mark);
    if (mark != std::string::npos) request.query = request.target.substr(mark + 1);
    std::string authorization;
    for (const auto& field : req) {
      if (field.name() == http::field::authorization) {
        authorization = std::string(field.value());
        continue;  // kept out of what handlers see, so none can log it
      }
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(req.body());

    AdminResponse response = dispatch(request, authorization);
    http::response<http::string_body> res{static_cast<http::status>(response.status), 11};
    res.set(http::field::content_type, response.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) res.set(name, value);
    res.body() = std::move(response.body);
    res.keep_alive(req.keep_alive() && !stopping);
    res.prepare_payload();
    stream.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

AdminResponse AdminServer::Impl::dispatch(const AdminRequest& request,
                                          std::string_view authorization) {
  const bool get = request.method == "GET";
  auto method_not_allowed = [] {
    AdminResponse r = AdminResponse::text(405, "method not allowed: use GET\n");
    r.headers.emplace_back("Allow", "GET");
    return r;
  };
  if (request.path == "/healthz")
    return get ? AdminResponse::text(200, "ok\n") : method_not_allowed();

  if (token_required && !bearer_token_matches(authorization, options.bearer_token)) {
    admin_logger().debug("admin: unauthorized {} {}", request.method, request.path);
    AdminResponse r =
        AdminResponse::text(401, "unauthorized: send Authorization: Bearer <token>\n");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"switchyard-admin\"");
    return r;
  }

  try {
    if (request.path == "/metrics") {
      if (!get) return method_not_allowed();
      AdminResponse r = AdminResponse::text(200, metrics.render());
      r.content_type = std::string(kPrometheusContentType);
      return r;
    }
    if (request.path == "/readyz") return get ? readiness() : method_not_allowed();

    std::shared_ptr<const AdminHandler> handler;
    {
      std::lock_guard lock(mutex);
      std::size_t best = 0;
      for (const auto& [prefix, h] : handlers) {
        if (prefix.size() > best && path_under(request.path, prefix)) {
          best = prefix.size();
          handler = h;
        }
      }
    }
    if (handler) return (*handler)(request);
  } catch (const std::exception& e) {
    admin_logger().error("admin: {} {} failed: {}", request.method, request.path, e.what());
    return AdminResponse::text(500, "internal error\n");
  }
  return AdminResponse::text(404, "not found: " + request.path + "\n");
}

AdminResponse AdminServer::Impl::readiness() {
  ReadinessProbe current;
  {
    std::lock_guard lock(mutex);
    current = probe;
  }
  std::vector<ReadinessCheck> checks;
  if (current) {
    checks = current();
  } else {
    checks.push_back({"worker", false, "starting"});
  }
  bool ready = !checks.empty() &&
               std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.ok; });
  return AdminResponse::json(ready ? 200 : 503, readiness_json(ready, checks));
}

}  // namespace switchyard
