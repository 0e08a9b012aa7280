// HTTP/1.1 client for LLM providers: Boost.Beast on Asio C++20 coroutines.
//
// Shape:
//   send() ── co_spawn on a fresh strand ──> execute():
//     parse URL (plain http:// only to loopback unless allowed)
//     -> HostPool for (scheme, host, port)
//     -> acquire(): an idle keep-alive connection, or a slot to open one (within the connection
//        cap and the connect ramp: max_connecting_per_host new connections not yet proven by a
//        first response), or wait (FIFO) for either
//     -> connect() when needed: cached DNS, TCP to the origin or to its proxy, CONNECT through the
//        proxy for https, TLS with SNI and certificate + host name verification (of the origin)
//     -> exchange(): write head+body in one gather write, wait for the first response byte (the
//        first-byte timeout), read the response with Beast's parser
//     -> release(): keep-alive connections go back to the pool (or straight to the next waiter);
//        closed/failed ones are dropped and their slot is handed on.
//
// Concurrency: every request runs on its own strand, which serialises the request's coroutine
// with Beast's timeout handlers (tcp_stream requires that on a multi-threaded io_context). A
// connection belongs to exactly one request at a time; ownership passes through the pool under
// HostPool::mutex, which is never held across I/O.
#include "switchyard/provider/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "provider/http_detail.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/common/log.h"
#include "switchyard/common/url.h"
#include "switchyard/provider/proxy.h"

namespace switchyard {

namespace {

using namespace http_detail;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// How long resolved addresses are reused. Short, so DNS-based failover still works, long
// enough that a busy worker resolves a provider a few times a minute, not per request.
constexpr auto kDnsCacheTtl = std::chrono::seconds(30);
// Idle keep-alive connections older than this are closed instead of reused: most servers and
// load balancers drop idle connections after about 60 s, and a write into such a connection
// would cost a failed round trip.
constexpr auto kMaxIdle = std::chrono::seconds(50);
constexpr std::uint64_t kMaxResponseBodyBytes = 64ull << 20;
constexpr std::uint32_t kMaxResponseHeaderBytes = 64u << 10;  // Beast's default 8 KiB is tight
constexpr std::size_t kReadChunkBytes = 64u << 10;
constexpr std::string_view kUserAgent = "switchyard/0.1";

std::shared_ptr<spdlog::logger> http_logger() {
  return named_logger("http");
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One keep-alive connection. Its buffers are reused by every request it carries, so a warm
// connection sends and receives without allocating for the head or the read buffer.
struct Connection {
  std::optional<PlainStream> plain;  // exactly one of plain / tls is engaged
  std::optional<TlsStream> tls;
  beast::flat_buffer read_buffer;
  std::string head;  // request line + headers of the request being sent
  std::uint64_t requests_served = 0;
  Clock::time_point idle_since{};

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

struct HostPool;

// A request queued for a connection. Lives in the waiting coroutine's frame; it is reachable
// from HostPool::waiters only while queued, and both sides touch it under HostPool::mutex.
struct Waiter {
  explicit Waiter(const asio::any_io_executor& ex, Clock::time_point deadline)
      : timer(ex, deadline) {}
  asio::steady_timer timer;  // expires at the request's deadline; cancelled when granted
  bool granted = false;
  std::unique_ptr<Connection> connection;  // null with granted: open a new connection
};

// Connections to one origin (scheme, host, port), direct or through its proxy. Everything but
// the members under `mutex` is set when the pool is made and never changes.
struct HostPool {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  bool host_is_ip = false;
  std::string host_header;  // "host" or "host:port"
  std::string label;        // "host:port" for messages (the CONNECT target too)

  // Where TCP goes: the origin, or its proxy.
  const ProxyEndpoint* proxy = nullptr;  // owned by the client's ProxyRoutes
  std::string connect_host;
  std::uint16_t connect_port = 0;
  bool connect_host_is_ip = false;
  std::string connect_label;  // "host:port", or "proxy host:port" for messages
  // http through a proxy: requests carry the absolute URL ("http://host:port") before the path,
  // and Proxy-Authorization when the proxy URL had credentials. Empty otherwise: the proxy
  // credentials never go inside a CONNECT tunnel, where the origin would read them.
  std::string target_prefix;
  std::string proxy_authorization_line;  // "Proxy-Authorization: Basic ...\r\n" or empty

  std::mutex mutex;
  // Guarded by mutex:
  std::deque<std::unique_ptr<Connection>> idle;  // most recently returned at the back
  std::deque<Waiter*> waiters;                   // FIFO
  int open = 0;  // connections open or being opened, idle ones included; <= the cap
  // New connections whose first exchange has not ended: <= max_connecting_per_host.
  int connecting = 0;
};

// What acquire() hands out: a connection to reuse, or (null) the right to open one.
struct Grant {
  bool ok = false;
  std::unique_ptr<Connection> connection;
};

struct ExchangeResult {
  error_code error;
  bool got_response_bytes = false;  // false: safe to retry on another connection
  bool first_byte_timed_out = false;
  bool keep_alive = false;
};

class HttpClientImpl final : public std::enable_shared_from_this<HttpClientImpl> {
 public:
  HttpClientImpl(asio::io_context& context, HttpClientOptions options, ProxyRoutes proxy_routes)
      : context_(context),
        options_(std::move(options)),
        proxy_routes_(std::move(proxy_routes)),
        ssl_context_(ssl::context::tls_client),
        log_(http_logger()) {
    if (options_.max_connections_per_host < 1) options_.max_connections_per_host = 1;
    if (options_.max_connecting_per_host < 1) options_.max_connecting_per_host = 1;
    ssl_context_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(ssl_context_.native_handle(), TLS1_2_VERSION);
    error_code ec;
    ssl_context_.set_default_verify_paths(ec);
    if (ec) log_->warn("cannot load the system CA store: {}", ec.message());
    if (!options_.ca_file.empty()) {
      ssl_context_.load_verify_file(options_.ca_file, ec);
      if (ec) {
        throw std::runtime_error("http client: cannot load ca_file '" + options_.ca_file +
                                 "': " + ec.message());
      }
    }
    // Host names are checked per connection (X509_VERIFY_PARAM in connect()), so OpenSSL itself
    // reports a mismatch as the verification error.
    ssl_context_.set_verify_mode(options_.verify_tls ? ssl::verify_peer : ssl::verify_none);
    if (!options_.verify_tls) {
      log_->warn("TLS certificate verification is OFF: provider connections can be intercepted");
    }
    if (const std::string proxies = proxy_routes_.describe(); proxies != "none") {
      log_->info("HTTP proxy: {}", proxies);
    }
  }

  // co_spawn posts, so `done` never runs inside send(), even for an invalid URL.
  void send(HttpRequest request, std::function<void(HttpResponse)> done) {
    // A strand per request: Beast's tcp_stream timeouts must not race the coroutine.
    asio::co_spawn(asio::make_strand(context_),
                   run(shared_from_this(), std::move(request), std::move(done)), asio::detached);
  }

 private:
  static asio::awaitable<void> run(std::shared_ptr<HttpClientImpl> self, HttpRequest request,
                                   std::function<void(HttpResponse)> done) {
    HttpResponse response;
    try {
      co_await self->execute(request, response);
    } catch (const std::exception& e) {
      // Only allocation failures and the like get here; I/O errors are values.
      response = HttpResponse{};
      response.transport_error = std::string("http client error: ") + e.what();
      self->log_->warn("request to {} failed unexpectedly: {}", without_query(request.url),
                       e.what());
    }
    done(std::move(response));
  }

  asio::awaitable<void> execute(const HttpRequest& request, HttpResponse& response) {
    const auto start = Clock::now();
    const auto deadline = request.total_timeout_ms > 0
                              ? start + std::chrono::milliseconds(request.total_timeout_ms)
                              : Clock::time_point::max();
    HttpUrl url;
    if (std::string error = parse_http_url(request.url, url); !error.empty()) {
      response.transport_error = error + ": " + without_query(request.url);
      co_return;
    }
    if (!url.tls && !options_.allow_plain_http && !is_loopback_host(url.host)) {
      response.transport_error =
          "plain http:// to " + std::string(url.host) +
          " is refused: without TLS the API key and the prompts cross the network readable; use "
          "https://, or allow plain HTTP explicitly (http.allow_plain_http)";
      co_return;
    }
    if (std::string error = check_request_headers(request); !error.empty()) {
      response.transport_error = std::move(error);
      co_return;
    }
    HostPool& pool = host_pool(url);

    Grant grant = co_await acquire(pool, deadline);
    if (!grant.ok) {
      response.timed_out = true;
      response.transport_error = "request to " + pool.label + " " +
                                 timed_out_text("total", request.total_timeout_ms) +
                                 " waiting for a free connection";
      co_return;
    }
    const bool opens = !grant.connection;  // a new connection: it holds a connect-ramp place
    try {
      co_await use_slot(pool, url, request, deadline, std::move(grant.connection), opens, response);
    } catch (const std::exception&) {
      release(pool, nullptr, opens);  // use_slot throws only before it released the slot itself
      throw;
    }
  }

  // Sends the request on `connection` (null: open one first) and releases the slot exactly once
  // (with the connect-ramp place when `opens`).
  asio::awaitable<void> use_slot(HostPool& pool, const HttpUrl& url, const HttpRequest& request,
                                 Clock::time_point deadline, std::unique_ptr<Connection> connection,
                                 bool opens, HttpResponse& response) {
    // Second pass only when a reused keep-alive connection turned out to be dead.
    for (int attempt = 0;; ++attempt) {
      if (!connection) {
        connection = co_await connect(pool, request, deadline, response);
        if (!connection) {
          release(pool, nullptr, opens);
          co_return;
        }
      }
      const bool reused = connection->requests_served > 0;
      ExchangeResult result =
          co_await exchange(*connection, pool, url, request, deadline, response);
      if (!result.error) {
        ++connection->requests_served;
        release(pool, result.keep_alive ? std::move(connection) : nullptr, opens);
        co_return;
      }
      const bool timed_out = result.error == beast::error::timeout || Clock::now() >= deadline;
      connection.reset();  // closes the socket; the slot stays ours
      if (reused && !result.got_response_bytes && !timed_out && attempt == 0) {
        log_->debug("stale keep-alive connection to {} ({}); retrying on a new connection",
                    pool.label, result.error.message());
        continue;
      }
      response = HttpResponse{};
      response.timed_out = timed_out;
      if (result.first_byte_timed_out) {
        response.transport_error = "request to " + pool.label + " " +
                                   timed_out_text("first-byte", request.first_byte_timeout_ms) +
                                   ": no response byte";
      } else if (timed_out) {
        response.transport_error =
            "request to " + pool.label + " " + timed_out_text("total", request.total_timeout_ms);
      } else {
        response.transport_error =
            "request to " + pool.label + " failed: " + result.error.message();
      }
      release(pool, nullptr, opens);
      co_return;
    }
  }

  HostPool& host_pool(const HttpUrl& url) {
    std::lock_guard lock(pools_mutex_);
    auto it = pools_.find(PoolKey{url.tls, url.host, url.port});
    if (it != pools_.end()) return *it->second;
    auto pool = std::make_unique<HostPool>();
    pool->tls = url.tls;
    pool->host = std::string(url.host);
    pool->port = url.port;
    error_code ec;
    asio::ip::make_address(pool->host, ec);
    pool->host_is_ip = !ec;
    const bool ipv6 = pool->host.find(':') != std::string::npos;
    std::string bracketed = ipv6 ? "[" + pool->host + "]" : pool->host;
    pool->label = bracketed + ":" + std::to_string(url.port);
    pool->host_header = url.default_port ? bracketed : pool->label;

    pool->proxy = proxy_routes_.proxy_for(url.tls, pool->host, url.port);
    if (pool->proxy) {
      pool->connect_host = pool->proxy->host;
      pool->connect_port = pool->proxy->port;
      pool->connect_label = "proxy " + pool->proxy->label;
      if (!url.tls) {
        pool->target_prefix = "http://" + pool->host_header;
        if (!pool->proxy->authorization.empty()) {
          pool->proxy_authorization_line =
              "Proxy-Authorization: " + pool->proxy->authorization + "\r\n";
        }
      }
    } else {
      pool->connect_host = pool->host;
      pool->connect_port = pool->port;
      pool->connect_label = pool->label;
    }
    asio::ip::make_address(pool->connect_host, ec);
    pool->connect_host_is_ip = !ec;
    HostPool& ref = *pool;
    pools_.emplace(OwnedPoolKey{url.tls, pool->host, url.port}, std::move(pool));
    return ref;
  }

  // Returns a connection (or the right to open one); ok == false when the deadline passed
  // while waiting behind the connection cap.
  asio::awaitable<Grant> acquire(HostPool& pool, Clock::time_point deadline) {
    auto executor = co_await asio::this_coro::executor;
    std::deque<std::unique_ptr<Connection>> expired;  // closed outside the lock
    std::optional<Waiter> waiter;
    {
      std::lock_guard lock(pool.mutex);
      const auto now = Clock::now();
      // The front holds the longest-idle connections.
      while (!pool.idle.empty() && now - pool.idle.front()->idle_since > kMaxIdle) {
        expired.push_back(std::move(pool.idle.front()));
        pool.idle.pop_front();
        --pool.open;
      }
      if (!pool.idle.empty()) {
        Grant grant{true, std::move(pool.idle.back())};
        pool.idle.pop_back();
        co_return grant;
      }
      if (pool.open < options_.max_connections_per_host &&
          pool.connecting < options_.max_connecting_per_host) {
        ++pool.open;
        ++pool.connecting;
        co_return Grant{true, nullptr};
      }
      waiter.emplace(executor, deadline);
      pool.waiters.push_back(&*waiter);
    }
    expired.clear();

    // Wait until release() grants us something (it cancels the timer) or the deadline passes.
    // The wait is started under the pool mutex so a grant cannot slip in between "check" and
    // "wait"; an early grant turns the wait into an immediate completion.
    error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    co_await asio::async_initiate<decltype(token), void(error_code)>(
        [&pool, &waiter](auto handler) {
          std::lock_guard lock(pool.mutex);
          if (waiter->granted) waiter->timer.expires_at(Clock::time_point::min());
          waiter->timer.async_wait(std::move(handler));
        },
        token);

    std::lock_guard lock(pool.mutex);
    if (waiter->granted) co_return Grant{true, std::move(waiter->connection)};
    pool.waiters.erase(std::find(pool.waiters.begin(), pool.waiters.end(), &*waiter));
    co_return Grant{false, nullptr};
  }

  // Returns a connection to the pool, or (null) gives up its slot; `opened` also frees the
  // connect-ramp place of a connection that was new. A returned connection goes to the first
  // waiter when there is one; freed slots and ramp places let waiters open connections.
  void release(HostPool& pool, std::unique_ptr<Connection> connection, bool opened) {
    std::lock_guard lock(pool.mutex);
    if (opened) --pool.connecting;
    if (connection) {
      if (!pool.waiters.empty()) {
        grant_locked(pool, std::move(connection));
      } else {
        connection->idle_since = Clock::now();
        pool.idle.push_back(std::move(connection));
      }
    } else {
      --pool.open;
    }
    while (!pool.waiters.empty() && pool.open < options_.max_connections_per_host &&
           pool.connecting < options_.max_connecting_per_host) {
      ++pool.open;
      ++pool.connecting;
      grant_locked(pool, nullptr);  // the right to open a connection
    }
  }

  static void grant_locked(HostPool& pool, std::unique_ptr<Connection> connection) {
    Waiter* waiter = pool.waiters.front();
    pool.waiters.pop_front();
    waiter->granted = true;
    waiter->connection = std::move(connection);
    waiter->timer.cancel();
  }

  // Cached DNS lookup of the pool's connect target (the origin or its proxy); empty results with
  // `error` set on failure.
  asio::awaitable<tcp::resolver::results_type> resolve(const HostPool& pool,
                                                       Clock::time_point connect_deadline,
                                                       std::string& error) {
    const std::string key = dns_key(pool);
    const auto now = Clock::now();
    {
      std::lock_guard lock(dns_mutex_);
      auto it = dns_cache_.find(key);
      if (it != dns_cache_.end() && it->second.expires > now) co_return it->second.results;
    }
    auto executor = co_await asio::this_coro::executor;
    // The resolver is shared with the timer's handler, which may still run after we return.
    auto resolver = std::make_shared<tcp::resolver>(executor);
    asio::steady_timer timer(executor, connect_deadline);
    timer.async_wait([resolver](error_code ec) {
      if (!ec) resolver->cancel();
    });
    error_code ec;
    auto results =
        co_await resolver->async_resolve(pool.connect_host, std::to_string(pool.connect_port),
                                         asio::redirect_error(asio::use_awaitable, ec));
    timer.cancel();
    if (ec) {
      error = ec.message();
      co_return tcp::resolver::results_type{};
    }
    std::lock_guard lock(dns_mutex_);
    dns_cache_[key] = DnsEntry{results, Clock::now() + kDnsCacheTtl};
    co_return results;
  }

  static std::string dns_key(const HostPool& pool) {
    return pool.connect_host + ":" + std::to_string(pool.connect_port);
  }

  void forget_dns(const HostPool& pool) {
    std::lock_guard lock(dns_mutex_);
    dns_cache_.erase(dns_key(pool));
  }

  // Opens a connection: TCP to the origin or its proxy, CONNECT through the proxy for https, and
  // TLS with the origin. On failure fills `response` and returns null.
  asio::awaitable<std::unique_ptr<Connection>> connect(HostPool& pool, const HttpRequest& request,
                                                       Clock::time_point deadline,
                                                       HttpResponse& response) {
    const auto connect_timeout_end =
        Clock::now() + std::chrono::milliseconds(request.connect_timeout_ms);
    // Whichever ends first is the one a timeout message names.
    const bool connect_limited = request.connect_timeout_ms > 0 && connect_timeout_end < deadline;
    const auto connect_deadline = connect_limited ? connect_timeout_end : deadline;
    // `what` names the step: "connecting to proxy 10.0.0.1:3128", "TLS handshake with x:443".
    auto fail = [&](const std::string& what, std::string_view why) {
      response = HttpResponse{};
      response.timed_out = Clock::now() >= connect_deadline;
      response.transport_error = what;
      if (pool.proxy) response.transport_error += " for " + pool.label;
      response.transport_error += " failed: ";
      if (response.timed_out) {
        response.transport_error += connect_limited
                                        ? timed_out_text("connect", request.connect_timeout_ms)
                                        : timed_out_text("total", request.total_timeout_ms);
      } else {
        response.transport_error += why;
      }
      log_->debug("{}", response.transport_error);
    };

    tcp::resolver::results_type endpoints;
    if (!pool.connect_host_is_ip) {
      std::string error;
      endpoints = co_await resolve(pool, connect_deadline, error);
      if (endpoints.empty()) {
        fail("resolving " + pool.connect_label, error.empty() ? "no addresses" : error);
        co_return nullptr;
      }
    }

    auto executor = co_await asio::this_coro::executor;
    auto connection = std::make_unique<Connection>();
    if (pool.tls) {
      connection->tls.emplace(executor, ssl_context_);
    } else {
      connection->plain.emplace(executor);
    }
    beast::tcp_stream& stream = connection->lowest();
    if (connect_deadline != Clock::time_point::max()) stream.expires_at(connect_deadline);

    error_code ec;
    if (pool.connect_host_is_ip) {
      const tcp::endpoint endpoint(asio::ip::make_address(pool.connect_host), pool.connect_port);
      co_await stream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      if (!pool.connect_host_is_ip) forget_dns(pool);  // the address may have moved
      fail("connecting to " + pool.connect_label, ec.message());
      co_return nullptr;
    }
    stream.socket().set_option(tcp::no_delay(true), ec);  // head and body go out in one write

    if (!pool.tls) co_return connection;

    if (pool.proxy) {
      std::string why = co_await open_tunnel(*connection, pool);
      if (!why.empty()) {
        fail("CONNECT through " + pool.connect_label, why);
        co_return nullptr;
      }
    }

    // SNI is for names only (RFC 6066). Verification is against the origin, never the proxy:
    // a host name against DNS SANs (no partial wildcards), an IP literal against IP SANs.
    SSL* ssl = connection->tls->native_handle();
    if (!pool.host_is_ip && SSL_set_tlsext_host_name(ssl, pool.host.c_str()) != 1) {
      fail("TLS setup for " + pool.label, "cannot set the SNI host name");
      co_return nullptr;
    }
    if (options_.verify_tls) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      int set = 0;
      if (pool.host_is_ip) {
        set = X509_VERIFY_PARAM_set1_ip_asc(param, pool.host.c_str());
      } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        set = X509_VERIFY_PARAM_set1_host(param, pool.host.c_str(), pool.host.size());
      }
      if (set != 1) {
        fail("TLS setup for " + pool.label, "cannot set the name to verify");
        co_return nullptr;
      }
    }
    co_await connection->tls->async_handshake(ssl::stream_base::client,
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      std::string why = ec.message();
      if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK) {
        why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
        if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
            verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
            verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
          why += " (the issuer is in neither the system CA store nor the http client's ca_file)";
        }
      }
      fail("TLS handshake with " + pool.label, why);
      co_return nullptr;
    }
    co_return connection;
  }

  // Asks the proxy for a tunnel to the origin (CONNECT host:port) on a connected socket. Returns
  // why it failed, empty on success. The proxy's answer is read with Beast's parser told to
  // expect no body (a 2xx to CONNECT has none; any other answer ends the connection).
  asio::awaitable<std::string> open_tunnel(Connection& connection, const HostPool& pool) {
    beast::tcp_stream& stream = connection.lowest();
    std::string& head = connection.head;
    head.clear();
    head.append("CONNECT ").append(pool.label).append(" HTTP/1.1\r\nHost: ");
    head.append(pool.label).append("\r\nUser-Agent: ").append(kUserAgent).append("\r\n");
    if (!pool.proxy->authorization.empty()) {
      head.append("Proxy-Authorization: ").append(pool.proxy->authorization).append("\r\n");
    }
    head.append("\r\n");
    error_code ec;
    co_await asio::async_write(stream, asio::buffer(head),
                               asio::redirect_error(asio::use_awaitable, ec));
    head.clear();  // held the credentials
    if (ec) co_return ec.message();

    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    parser.header_limit(kMaxResponseHeaderBytes);
    co_await http::async_read_header(stream, connection.read_buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return "no answer from the proxy: " + ec.message();
    const auto& message = parser.get();
    const unsigned status = message.result_int();
    if (status < 200 || status > 299) {
      const auto reason = message.reason();
      co_return "the proxy answered " + std::to_string(status) + " " +
          std::string(reason.data(), reason.size());
    }
    if (connection.read_buffer.size() != 0) {
      co_return "the proxy sent data after its CONNECT answer, before the TLS handshake";
    }
    co_return std::string();
  }

  // Writes the request and reads the response on `connection`; fills `response` on success.
  asio::awaitable<ExchangeResult> exchange(Connection& connection, const HostPool& pool,
                                           const HttpUrl& url, const HttpRequest& request,
                                           Clock::time_point deadline, HttpResponse& response) {
    build_head(connection.head, pool, url, request);
    if (connection.tls) {
      co_return co_await exchange_on(*connection.tls, connection, request, deadline, response);
    }
    co_return co_await exchange_on(*connection.plain, connection, request, deadline, response);
  }

  static void expire_at(beast::tcp_stream& stream, Clock::time_point deadline) {
    if (deadline == Clock::time_point::max()) {
      stream.expires_never();
    } else {
      stream.expires_at(deadline);
    }
  }

  template <class Stream>
  static asio::awaitable<ExchangeResult> exchange_on(Stream& stream, Connection& connection,
                                                     const HttpRequest& request,
                                                     Clock::time_point deadline,
                                                     HttpResponse& response) {
    ExchangeResult result;
    beast::tcp_stream& lowest = connection.lowest();
    expire_at(lowest, deadline);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(connection.head),
                                                    asio::buffer(request.body)};
    co_await asio::async_write(stream, buffers,
                               asio::redirect_error(asio::use_awaitable, result.error));
    if (result.error) co_return result;

    // The first-byte timeout: one read of whatever arrives first, under the earlier deadline;
    // the parser then continues from the buffer.
    if (request.first_byte_timeout_ms > 0 && connection.read_buffer.size() == 0) {
      const auto first_byte_deadline =
          Clock::now() + std::chrono::milliseconds(request.first_byte_timeout_ms);
      if (first_byte_deadline < deadline) {
        lowest.expires_at(first_byte_deadline);
        auto space = connection.read_buffer.prepare(
            beast::read_size(connection.read_buffer, kReadChunkBytes));
        const std::size_t read = co_await stream.async_read_some(
            space, asio::redirect_error(asio::use_awaitable, result.error));
        connection.read_buffer.commit(read);
        result.got_response_bytes = read > 0;
        if (result.error) {
          result.first_byte_timed_out = result.error == beast::error::timeout;
          co_return result;
        }
        expire_at(lowest, deadline);
      }
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBodyBytes);
    parser.header_limit(kMaxResponseHeaderBytes);
    co_await http::async_read(stream, connection.read_buffer, parser,
                              asio::redirect_error(asio::use_awaitable, result.error));
    result.got_response_bytes = result.got_response_bytes || parser.got_some();
    if (result.error) co_return result;

    auto& message = parser.get();
    response.status = static_cast<int>(message.result_int());
    response.body = std::move(message.body());
    for (const auto& field : message) {
      const auto beast_name = field.name_string();  // boost::string_view in Boost 1.74
      const std::string_view name(beast_name.data(), beast_name.size());
      if (!is_kept_response_header(name)) continue;
      std::string lower(name);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto value = field.value();
      response.headers.emplace_back(std::move(lower), std::string(value.data(), value.size()));
    }
    result.keep_alive = message.keep_alive();
    co_return result;
  }

  static void build_head(std::string& head, const HostPool& pool, const HttpUrl& url,
                         const HttpRequest& request) {
    bool has_content_type = false;
    bool has_user_agent = false;
    for (const auto& [name, value] : request.headers) {
      has_content_type = has_content_type || iequals(name, "content-type");
      has_user_agent = has_user_agent || iequals(name, "user-agent");
    }
    char length[24];
    auto length_end = std::to_chars(length, length + sizeof length, request.body.size()).ptr;

    head.clear();  // keeps its capacity: no allocation once the connection is warm
    head.append("POST ").append(pool.target_prefix).append(url.target);
    head.append(" HTTP/1.1\r\nHost: ").append(pool.host_header).append("\r\n");
    head.append(pool.proxy_authorization_line);
    if (!has_user_agent) head.append("User-Agent: ").append(kUserAgent).append("\r\n");
    if (!has_content_type) head.append("Content-Type: application/json\r\n");
    head.append("Content-Length: ").append(length, length_end).append("\r\n");
    head.append("Connection: keep-alive\r\n");
    for (const auto& [name, value] : request.headers) {
      head.append(name).append(": ").append(value).append("\r\n");
    }
    head.append("\r\n");
  }

  struct PoolKey {
    bool tls;
    std::string_view host;
    std::uint16_t port;
  };
  struct OwnedPoolKey {
    bool tls;
    std::string host;
    std::uint16_t port;
  };
  struct PoolKeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::tie(a.tls, a.port, a.host) < std::tie(b.tls, b.port, b.host);
    }
  };
  struct DnsEntry {
    tcp::resolver::results_type results;
    Clock::time_point expires;
  };

  asio::io_context& context_;
  HttpClientOptions options_;
  const ProxyRoutes proxy_routes_;  // before pools_: HostPool::proxy points into it
  ssl::context ssl_context_;        // shared by all TLS connections (SSL_CTX is thread-safe)
  std::shared_ptr<spdlog::logger> log_;

  std::mutex pools_mutex_;
  // Pools are never removed: a worker talks to a handful of hosts.
  std::map<OwnedPoolKey, std::unique_ptr<HostPool>, PoolKeyLess> pools_;

  std::mutex dns_mutex_;
  std::map<std::string, DnsEntry, std::less<>> dns_cache_;  // key: "host:port"
};

}  // namespace

std::unique_ptr<HttpClient> make_http_client(IoPool& pool, HttpClientOptions options) {
  // The implementation is shared with its in-flight requests so that destroying the client
  // while requests run is safe; each request still completes (done is called) as long as the
  // io pool runs.
  struct Handle final : HttpClient {
    std::shared_ptr<HttpClientImpl> impl;
    void send(HttpRequest request, std::function<void(HttpResponse)> done) override {
      impl->send(std::move(request), std::move(done));
    }
  };
  auto handle = std::make_unique<Handle>();
  // The proxy settings are read once, here: a client never changes its routes.
  const bool from_environment = !options.proxy.has_value();
  const ProxySettings settings =
      from_environment ? proxy_settings_from_environment() : *options.proxy;
  ProxyRoutes routes;
  try {
    routes = ProxyRoutes(settings);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(
        std::string("http client: ") +
        (from_environment ? "proxy environment variables (https_proxy, http_proxy, no_proxy): "
                          : "proxy settings: ") +
        e.what());
  }
  handle->impl =
      std::make_shared<HttpClientImpl>(pool.context(), std::move(options), std::move(routes));
  return handle;
}

}  // namespace switchyard
