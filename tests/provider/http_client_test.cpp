// The HTTP client against small in-process Beast servers on loopback (port 0): plain, TLS with
// the test CA (tests/support/test_ca.h), and a forward proxy (CONNECT tunnels and absolute-form
// requests). No assertion depends on elapsed time; timeouts are checked through `timed_out` and
// the timeout named in transport_error. Every client gets explicit (empty) proxy settings unless
// a test sets them, so proxy variables in the environment cannot change a test.
#include "switchyard/provider/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/test_ca.h"
#include "switchyard/common/io_pool.h"
#include "switchyard/provider/proxy.h"

namespace switchyard {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::string text_of(boost::beast::string_view view) {
  return std::string(view.data(), view.size());
}

bool ipv6_loopback_available() {
  asio::io_context io;
  error_code ec;
  tcp::acceptor acceptor(io);
  acceptor.open(tcp::v6(), ec);
  if (!ec) acceptor.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
  return !ec;
}

enum class ServerMode {
  kAnswer,              // answers every request, keeps the connection open
  kNeverAnswer,         // reads the request and then stays silent
  kCloseAfterResponse,  // answers (without "Connection: close") and then closes the socket
};

struct SeenRequest {
  std::string method;
  std::string target;
  std::string host;
  std::string user_agent;
  std::string content_type;
  std::string custom_header;
  std::string connection;
  std::string proxy_authorization;
  std::string body;
};

// Serves HTTP/1.1 (or HTTPS with `tls`) on its own thread. Counts accepted connections and the
// most connections open at once; with TLS, records the SNI name of every handshake.
class TestServer {
 public:
  explicit TestServer(ServerMode mode, int delay_ms = 0, ssl::context* tls = nullptr,
                      const std::string& address = "127.0.0.1")
      : mode_(mode),
        delay_ms_(delay_ms),
        tls_(tls),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address(address), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  int max_open() const { return max_open_; }
  int requests() const { return requests_; }
  SeenRequest last_request() {
    std::lock_guard lock(mutex_);
    return last_;
  }
  // One entry per completed handshake: the SNI name, or "(none)".
  std::vector<std::string> server_names() {
    std::lock_guard lock(mutex_);
    return server_names_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    ++accepted_;
    const int open = ++open_;
    for (int seen = max_open_; open > seen && !max_open_.compare_exchange_weak(seen, open);) {
    }
    if (tls_) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_);
      error_code ec;
      co_await stream.async_handshake(ssl::stream_base::server,
                                      asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
        {
          std::lock_guard lock(mutex_);
          server_names_.push_back(name ? name : "(none)");
        }
        co_await serve(stream);
      }
    } else {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream);
    }
    --open_;
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      error_code ec;
      co_await http::async_read(stream, buffer, request,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      record(request);
      if (mode_ == ServerMode::kNeverAnswer) {
        asio::steady_timer forever(io_, std::chrono::hours(1));
        co_await forever.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      if (delay_ms_ > 0) {
        asio::steady_timer delay(io_, std::chrono::milliseconds(delay_ms_));
        co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      http::response<http::string_body> response{http::status::ok, request.version()};
      response.set(http::field::content_type, "application/json");
      response.set("Retry-After", "3");
      response.set("X-RateLimit-Remaining-Requests", "99");
      response.set("Anthropic-RateLimit-Tokens-Remaining", "5000");
      response.set("X-Request-Id", "req-123");
      response.body() = R"({"echo":)" + std::to_string(request.body().size()) + "}";
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || mode_ == ServerMode::kCloseAfterResponse) co_return;  // closes the socket
    }
  }

  void record(const http::request<http::string_body>& request) {
    std::lock_guard lock(mutex_);
    last_.method = text_of(request.method_string());
    last_.target = text_of(request.target());
    last_.host = text_of(request[http::field::host]);
    last_.user_agent = text_of(request[http::field::user_agent]);
    last_.content_type = text_of(request[http::field::content_type]);
    last_.custom_header = text_of(request["X-Custom"]);
    last_.connection = text_of(request[http::field::connection]);
    last_.proxy_authorization = text_of(request[http::field::proxy_authorization]);
    last_.body = request.body();
    ++requests_;
  }

  ServerMode mode_;
  int delay_ms_;
  ssl::context* tls_;
  asio::io_context io_;  // declared before the acceptor: destroyed after it
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<int> max_open_{0};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  SeenRequest last_;
  std::vector<std::string> server_names_;
  std::thread thread_;
};

// A forward proxy on 127.0.0.1: CONNECT opens a tunnel to the named host:port (or is refused
// with `refuse_status`), any other request is answered by the proxy itself (200, body
// {"from":"proxy"}), as a caching proxy would. Records every request it reads.
class TestProxy {
 public:
  explicit TestProxy(int refuse_status = 0)
      : refuse_status_(refuse_status),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestProxy() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& user_info = "") const {
    return "http://" + user_info + "127.0.0.1:" + std::to_string(port_);
  }
  int accepted() const { return accepted_; }
  std::vector<SeenRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream client(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      error_code ec;
      co_await http::async_read(client, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const auto& request = parser.get();
      SeenRequest seen;
      seen.method = text_of(request.method_string());
      seen.target = text_of(request.target());
      seen.host = text_of(request[http::field::host]);
      seen.proxy_authorization = text_of(request[http::field::proxy_authorization]);
      seen.body = request.body();
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(seen);
      }
      if (request.method() != http::verb::connect) {
        http::response<http::string_body> response{http::status::ok, request.version()};
        response.body() = R"({"from":"proxy"})";
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        co_await http::async_write(client, response, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        continue;
      }
      if (refuse_status_ != 0) {
        http::response<http::string_body> response{static_cast<http::status>(refuse_status_),
                                                   request.version()};
        response.body() = "tunnel refused";
        response.keep_alive(false);
        response.prepare_payload();
        co_await http::async_write(client, response, asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      co_await tunnel(client.release_socket(), seen.target, buffer);
      co_return;
    }
  }

  asio::awaitable<void> tunnel(tcp::socket client, const std::string& target,
                               beast::flat_buffer& buffer) {
    const std::size_t colon = target.rfind(':');
    std::string host = target.substr(0, colon);
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    const std::string port = target.substr(colon + 1);
    tcp::resolver resolver(io_);
    error_code ec;
    auto endpoints =
        co_await resolver.async_resolve(host, port, asio::redirect_error(asio::use_awaitable, ec));
    auto upstream = std::make_shared<tcp::socket>(io_);
    if (!ec) {
      co_await asio::async_connect(*upstream, endpoints,
                                   asio::redirect_error(asio::use_awaitable, ec));
    }
    const std::string answer = ec ? "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
                                  : "HTTP/1.1 200 Connection established\r\n\r\n";
    auto downstream = std::make_shared<tcp::socket>(std::move(client));
    error_code write_ec;
    co_await asio::async_write(*downstream, asio::buffer(answer),
                               asio::redirect_error(asio::use_awaitable, write_ec));
    if (ec || write_ec) co_return;
    if (buffer.size() > 0) {  // bytes the client sent after CONNECT
      co_await asio::async_write(*upstream, buffer.data(),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    asio::co_spawn(io_, pump(downstream, upstream), asio::detached);
    asio::co_spawn(io_, pump(upstream, downstream), asio::detached);
  }

  static asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from,
                                    std::shared_ptr<tcp::socket> to) {
    std::array<char, 16384> chunk;
    for (;;) {
      error_code ec;
      const std::size_t n = co_await from->async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      co_await asio::async_write(*to, asio::buffer(chunk.data(), n),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    error_code ignored;
    from->close(ignored);
    to->close(ignored);
  }

  int refuse_status_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;
};

HttpRequest post_to(const std::string& url, std::string body = R"({"hello":"world"})") {
  HttpRequest request;
  request.url = url;
  request.body = std::move(body);
  request.connect_timeout_ms = 5000;
  request.total_timeout_ms = 10000;
  return request;
}

std::future<HttpResponse> send_async(HttpClient& client, HttpRequest request) {
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  auto future = promise->get_future();
  client.send(std::move(request),
              [promise](HttpResponse response) { promise->set_value(std::move(response)); });
  return future;
}

HttpResponse send_sync(HttpClient& client, HttpRequest request) {
  return send_async(client, std::move(request)).get();
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { pool_.start(); }
  // No proxy unless the test gives one: the environment must not reroute a test.
  std::unique_ptr<HttpClient> make_client(HttpClientOptions options = {}) {
    if (!options.proxy) options.proxy = ProxySettings{};
    return make_http_client(pool_, std::move(options));
  }
  std::string url(const TestServer& server, const std::string& path = "/v1/chat/completions") {
    return "http://127.0.0.1:" + std::to_string(server.port()) + path;
  }

  IoPool pool_{2};
};

TEST_F(HttpClientTest, PostRoundTripReturnsStatusBodyAndRateLimitHeaders) {
  TestServer server(ServerMode::kAnswer);
  auto client = make_client();
  HttpRequest request = post_to(url(server, "/v1/chat/completions?x=1"), R"({"a":12345})");
  request.headers.emplace_back("X-Custom", "custom-value");

  HttpResponse response = send_sync(*client, std::move(request));

  EXPECT_EQ(response.status, 200) << response.transport_error;
  EXPECT_TRUE(response.transport_error.empty());
  EXPECT_FALSE(response.timed_out);
  EXPECT_EQ(response.body, R"({"echo":11})");
  ASSERT_NE(response.header("retry-after"), nullptr);
  EXPECT_EQ(*response.header("retry-after"), "3");
  ASSERT_NE(response.header("x-ratelimit-remaining-requests"), nullptr);
  EXPECT_EQ(*response.header("x-ratelimit-remaining-requests"), "99");
  ASSERT_NE(response.header("anthropic-ratelimit-tokens-remaining"), nullptr)
      << "Anthropic's rate-limit headers reach its adapter too";
  EXPECT_EQ(*response.header("anthropic-ratelimit-tokens-remaining"), "5000");
  EXPECT_EQ(response.header("x-request-id"), nullptr);  // only headers the worker acts on
  EXPECT_EQ(response.header("content-type"), nullptr);

  SeenRequest seen = server.last_request();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/v1/chat/completions?x=1");
  EXPECT_EQ(seen.host, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen.user_agent, "switchyard/0.1");
  EXPECT_EQ(seen.content_type, "application/json");
  EXPECT_EQ(seen.custom_header, "custom-value");
  EXPECT_EQ(seen.connection, "keep-alive");
  EXPECT_EQ(seen.proxy_authorization, "");
  EXPECT_EQ(seen.body, R"({"a":12345})");
}

TEST_F(HttpClientTest, SequentialRequestsReuseOneKeepAliveConnection) {
  TestServer server(ServerMode::kAnswer);
  auto client = make_client();
  for (int i = 0; i < 100; ++i) {
    HttpResponse response = send_sync(*client, post_to(url(server)));
    ASSERT_EQ(response.status, 200) << i << ": " << response.transport_error;
  }
  EXPECT_EQ(server.requests(), 100);
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(HttpClientTest, RecoversWhenServerClosesKeepAliveConnectionBetweenRequests) {
  TestServer server(ServerMode::kCloseAfterResponse);
  auto client = make_client();
  for (int i = 0; i < 20; ++i) {
    HttpResponse response = send_sync(*client, post_to(url(server)));
    ASSERT_EQ(response.status, 200) << i << ": " << response.transport_error;
  }
  EXPECT_EQ(server.requests(), 20);  // each request was answered exactly once
  EXPECT_EQ(server.accepted(), 20);
}

TEST_F(HttpClientTest, ConnectionRefusedIsATransportError) {
  std::uint16_t closed_port;
  {
    asio::io_context io;
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }  // nothing listens there any more
  auto client = make_client();
  HttpResponse response =
      send_sync(*client, post_to("http://127.0.0.1:" + std::to_string(closed_port) + "/v1"));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.transport_error.empty());
  EXPECT_FALSE(response.timed_out);
}

TEST_F(HttpClientTest, SilentServerHitsTotalTimeout) {
  TestServer server(ServerMode::kNeverAnswer);
  auto client = make_client();
  HttpRequest request = post_to(url(server));
  request.total_timeout_ms = 200;
  HttpResponse response = send_sync(*client, std::move(request));
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "total timeout")) << response.transport_error;
}

TEST_F(HttpClientTest, FirstByteTimeoutFiresWhenTheServerAcceptsButNeverAnswers) {
  TestServer server(ServerMode::kNeverAnswer);
  auto client = make_client();
  HttpRequest request = post_to(url(server));
  request.first_byte_timeout_ms = 200;
  request.total_timeout_ms = 60000;
  HttpResponse response = send_sync(*client, std::move(request));
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "first-byte timeout")) << response.transport_error;
  EXPECT_EQ(server.accepted(), 1);  // connected fine; only the answer was missing
}

TEST_F(HttpClientTest, TotalTimeoutIsNamedWhenItComesBeforeTheFirstByteTimeout) {
  TestServer server(ServerMode::kNeverAnswer);
  auto client = make_client();
  HttpRequest request = post_to(url(server));
  request.first_byte_timeout_ms = 60000;
  request.total_timeout_ms = 200;
  HttpResponse response = send_sync(*client, std::move(request));
  EXPECT_TRUE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "total timeout")) << response.transport_error;
}

TEST_F(HttpClientTest, FirstByteTimeoutLeavesTimelyAnswersAndKeepAliveAlone) {
  TestServer server(ServerMode::kAnswer);
  auto client = make_client();
  for (int i = 0; i < 20; ++i) {
    HttpRequest request = post_to(url(server));
    request.first_byte_timeout_ms = 10000;
    HttpResponse response = send_sync(*client, std::move(request));
    ASSERT_EQ(response.status, 200) << i << ": " << response.transport_error;
    EXPECT_EQ(response.body, R"({"echo":17})");
  }
  EXPECT_EQ(server.accepted(), 1);
}

// A listener with backlog 0 that never accepts: once one connection waits in its queue, Linux
// drops further SYNs, so a connect() neither succeeds nor fails until the client gives up.
TEST_F(HttpClientTest, ConnectTimeoutFiresOnAListenerWithAFullBacklog) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::vector<int> fillers;
  auto start_connect = [&]() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fillers.push_back(fd);
    return fd;
  };
  for (int i = 0; i < 3; ++i) start_connect();
  // A probe tells whether this kernel really leaves connects hanging.
  pollfd probe{start_connect(), POLLOUT, 0};
  const bool probe_connected = ::poll(&probe, 1, 300) > 0;
  struct Cleanup {
    std::vector<int>& fds;
    int listener;
    ~Cleanup() {
      for (int fd : fds) ::close(fd);
      ::close(listener);
    }
  } cleanup{fillers, listener};
  if (probe_connected) GTEST_SKIP() << "connects to a full backlog complete on this kernel";

  auto client = make_client();
  HttpRequest request = post_to("http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)));
  request.connect_timeout_ms = 200;
  request.total_timeout_ms = 60000;
  HttpResponse response = send_sync(*client, std::move(request));
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "connect timeout")) << response.transport_error;
}

TEST_F(HttpClientTest, ClientKeepsWorkingAfterATimedOutRequest) {
  TestServer silent(ServerMode::kNeverAnswer);
  TestServer answering(ServerMode::kAnswer);
  auto client = make_client();
  HttpRequest request = post_to(url(silent));
  request.total_timeout_ms = 100;
  EXPECT_TRUE(send_sync(*client, std::move(request)).timed_out);
  EXPECT_EQ(send_sync(*client, post_to(url(answering))).status, 200);
}

// The server counts the connections open at once; the client must never exceed its cap.
TEST_F(HttpClientTest, ConnectionCapHoldsUnderConcurrentRequests) {
  TestServer server(ServerMode::kAnswer, /*delay_ms=*/20);
  HttpClientOptions options;
  options.max_connections_per_host = 3;
  auto client = make_client(options);
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < 30; ++i) futures.push_back(send_async(*client, post_to(url(server))));
  for (auto& future : futures) {
    HttpResponse response = future.get();
    EXPECT_EQ(response.status, 200) << response.transport_error;
  }
  EXPECT_EQ(server.requests(), 30);
  EXPECT_GE(server.max_open(), 1);
  EXPECT_LE(server.max_open(), 3);
  EXPECT_LE(server.accepted(), 3);
}

TEST_F(HttpClientTest, RequestWaitingBehindTheCapTimesOut) {
  TestServer server(ServerMode::kNeverAnswer);
  HttpClientOptions options;
  options.max_connections_per_host = 1;
  auto client = make_client(options);
  HttpRequest first = post_to(url(server));
  first.total_timeout_ms = 1000;
  auto first_future = send_async(*client, std::move(first));
  // send() starts each request on its own strand: wait until the first one holds the only
  // connection, or the second could take it first and the test would check nothing.
  for (int i = 0; i < 5000 && server.accepted() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(server.accepted(), 1);
  HttpRequest second = post_to(url(server));
  second.total_timeout_ms = 100;
  HttpResponse second_response = send_sync(*client, std::move(second));
  EXPECT_EQ(second_response.status, 0);
  EXPECT_TRUE(second_response.timed_out);
  EXPECT_TRUE(contains(second_response.transport_error, "waiting for a free connection"))
      << second_response.transport_error;
  EXPECT_TRUE(first_future.get().timed_out);
  EXPECT_LE(server.accepted(), 1);
}

TEST_F(HttpClientTest, ManyConcurrentRequestsAllCompleteExactlyOnce) {
  TestServer server(ServerMode::kAnswer);
  HttpClientOptions options;
  options.max_connections_per_host = 8;
  auto client = make_client(options);
  constexpr int kRequests = 2000;
  std::atomic<int> completed{0};
  std::atomic<int> ok{0};
  std::promise<void> all_done;
  for (int i = 0; i < kRequests; ++i) {
    client->send(post_to(url(server)), [&](HttpResponse response) {
      if (response.status == 200) ++ok;
      if (++completed == kRequests) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  EXPECT_EQ(completed.load(), kRequests);
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_LE(server.accepted(), 8);
}

TEST_F(HttpClientTest, InvalidUrlIsATransportErrorWithoutAConnection) {
  auto client = make_client();
  for (const char* bad : {"ftp://example.com/x", "http://", "http://host:99999/x", "localhost/x"}) {
    HttpResponse response = send_sync(*client, post_to(bad));
    EXPECT_EQ(response.status, 0) << bad;
    EXPECT_FALSE(response.transport_error.empty()) << bad;
  }
}

TEST_F(HttpClientTest, HeaderValueWithNewlineIsRejectedWithoutEchoingIt) {
  TestServer server(ServerMode::kAnswer);
  auto client = make_client();
  HttpRequest request = post_to(url(server));
  request.headers.emplace_back("Authorization", "Bearer sk-secret\r\nX-Evil: 1");
  HttpResponse response = send_sync(*client, std::move(request));
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.transport_error.find("Authorization"), std::string::npos);
  EXPECT_EQ(response.transport_error.find("sk-secret"), std::string::npos);
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTest, PlainHttpToAHostBeyondLoopbackIsRefusedByDefault) {
  auto client = make_client();
  HttpResponse response = send_sync(*client, post_to("http://provider.example.com/v1"));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "plain http:// to provider.example.com"))
      << response.transport_error;
  EXPECT_TRUE(contains(response.transport_error, "allow_plain_http")) << response.transport_error;
}

TEST(HttpLoopbackTest, LoopbackHostsAreTheLoopbackAddressesAndLocalhost) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "localhost",
                           "LOCALHOST", "localhost.", "api.localhost"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"10.0.0.1", "0.0.0.0", "::", "example.com", "localhost.example.com",
                           "notlocalhost", "128.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

// ---- TLS ----

// One test CA for the suite; each test picks the certificate its server presents.
class HttpClientTlsTest : public HttpClientTest {
 protected:
  static void SetUpTestSuite() { ca_ = std::make_unique<test::TestCa>(); }
  static void TearDownTestSuite() { ca_.reset(); }

  static ssl::context server_tls(const std::filesystem::path& certificate) {
    ssl::context context(ssl::context::tls_server);
    context.use_certificate_chain_file(certificate.string());
    context.use_private_key_file(ca_->key.string(), ssl::context::pem);
    return context;
  }
  static HttpClientOptions trusting_the_test_ca() {
    HttpClientOptions options;
    options.ca_file = ca_->ca_cert.string();
    return options;
  }
  static std::string https_url(const TestServer& server, const std::string& host) {
    return "https://" + host + ":" + std::to_string(server.port()) + "/v1/chat/completions";
  }

  static inline std::unique_ptr<test::TestCa> ca_;
};

TEST_F(HttpClientTlsTest, HttpsWithTheTestCaSucceedsSendsSniAndReusesTheConnection) {
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  auto client = make_client(trusting_the_test_ca());
  for (int i = 0; i < 5; ++i) {
    HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
    ASSERT_EQ(response.status, 200) << response.transport_error;
    EXPECT_EQ(response.body, R"({"echo":17})");
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.last_request().host, "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"localhost"});
}

TEST_F(HttpClientTlsTest, HttpsToAnIpv4LiteralVerifiesItsIpSanAndSendsNoSni) {
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  auto client = make_client(trusting_the_test_ca());
  HttpResponse response = send_sync(*client, post_to(https_url(server, "127.0.0.1")));
  EXPECT_EQ(response.status, 200) << response.transport_error;
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"(none)"});
}

TEST_F(HttpClientTlsTest, HttpsToAnIpv6LiteralVerifiesItsIpSan) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls, "::1");
  auto client = make_client(trusting_the_test_ca());
  HttpResponse response = send_sync(*client, post_to(https_url(server, "[::1]")));
  EXPECT_EQ(response.status, 200) << response.transport_error;
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"(none)"});
}

TEST_F(HttpClientTlsTest, TheSystemStoreAloneDoesNotTrustTheTestCa) {
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  auto client = make_client();  // system store only
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "certificate verify failed"))
      << response.transport_error;
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, CertificateFromAnUntrustedIssuerIsRefused) {
  ssl::context tls = server_tls(ca_->impostor_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  auto client = make_client(trusting_the_test_ca());
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error,
                       "certificate verify failed: unable to get local issuer certificate"))
      << response.transport_error;
  EXPECT_TRUE(contains(response.transport_error, "TLS handshake with localhost:"))
      << response.transport_error;
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, CertificateForAnotherHostNameIsRefused) {
  ssl::context tls = server_tls(ca_->wrong_name_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  auto client = make_client(trusting_the_test_ca());
  HttpResponse by_name = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(by_name.status, 0);
  EXPECT_TRUE(contains(by_name.transport_error, "certificate verify failed: hostname mismatch"))
      << by_name.transport_error;
  HttpResponse by_ip = send_sync(*client, post_to(https_url(server, "127.0.0.1")));
  EXPECT_EQ(by_ip.status, 0);
  EXPECT_TRUE(contains(by_ip.transport_error, "certificate verify failed: IP address mismatch"))
      << by_ip.transport_error;
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, ExpiredCertificateIsRefused) {
  ssl::context tls = server_tls(ca_->expired_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  auto client = make_client(trusting_the_test_ca());
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(
      contains(response.transport_error, "certificate verify failed: certificate has expired"))
      << response.transport_error;
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, VerificationIsOnByDefaultAndOffAcceptsAnUntrustedCertificate) {
  EXPECT_TRUE(HttpClientOptions{}.verify_tls);
  ssl::context tls = server_tls(ca_->impostor_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  HttpClientOptions options;
  options.verify_tls = false;
  auto client = make_client(options);
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 200) << response.transport_error;
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"localhost"});  // SNI still sent
}

TEST(HttpClientOptionsTest, MissingCaFileFailsAtStart) {
  IoPool pool(1);
  HttpClientOptions options;
  options.ca_file = "/nonexistent/switchyard-ca.pem";
  options.proxy = ProxySettings{};
  EXPECT_THROW(make_http_client(pool, options), std::runtime_error);
}

// ---- proxy ----

class HttpProxyTest : public HttpClientTlsTest {
 protected:
  static HttpClientOptions through(const std::string& https_proxy, const std::string& http_proxy,
                                   const std::string& no_proxy = "") {
    HttpClientOptions options = trusting_the_test_ca();
    options.proxy = ProxySettings{http_proxy, https_proxy, no_proxy};
    return options;
  }
};

TEST_F(HttpProxyTest, HttpsGoesThroughConnectAndVerifiesTheOriginWithItsSni) {
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  TestProxy proxy;
  auto client = make_client(through(proxy.url(), ""));
  for (int i = 0; i < 3; ++i) {
    HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
    ASSERT_EQ(response.status, 200) << response.transport_error;
  }
  const auto seen = proxy.requests();
  ASSERT_EQ(seen.size(), 1u);  // one tunnel, kept alive
  EXPECT_EQ(seen[0].method, "CONNECT");
  EXPECT_EQ(seen[0].target, "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].host, "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].proxy_authorization, "");
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"localhost"});
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.last_request().target, "/v1/chat/completions");  // origin form in the tunnel
}

TEST_F(HttpProxyTest, HttpsThroughTheProxyStillRefusesAnUntrustedOrigin) {
  ssl::context tls = server_tls(ca_->impostor_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  TestProxy proxy;
  auto client = make_client(through(proxy.url(), ""));
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(contains(response.transport_error, "certificate verify failed"))
      << response.transport_error;
  EXPECT_EQ(proxy.requests().size(), 1u);
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpProxyTest, HttpThroughTheProxySendsAbsoluteFormTargets) {
  TestProxy proxy;
  auto client = make_client(through("", proxy.url()));
  HttpResponse response =
      send_sync(*client, post_to("http://127.0.0.1:8080/v1/chat/completions?x=1"));
  ASSERT_EQ(response.status, 200) << response.transport_error;
  EXPECT_EQ(response.body, R"({"from":"proxy"})");
  const auto seen = proxy.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "http://127.0.0.1:8080/v1/chat/completions?x=1");
  EXPECT_EQ(seen[0].host, "127.0.0.1:8080");
  EXPECT_EQ(seen[0].body, R"({"hello":"world"})");
}

TEST_F(HttpProxyTest, PlainHttpBeyondLoopbackThroughTheProxyNeedsAllowPlainHttp) {
  TestProxy proxy;
  auto refusing = make_client(through("", proxy.url()));
  HttpResponse refused = send_sync(*refusing, post_to("http://vllm.internal:8000/v1/x"));
  EXPECT_EQ(refused.status, 0);
  EXPECT_TRUE(contains(refused.transport_error, "plain http://")) << refused.transport_error;
  EXPECT_EQ(proxy.accepted(), 0);

  HttpClientOptions options = through("", proxy.url());
  options.allow_plain_http = true;
  auto allowing = make_client(options);
  HttpResponse response = send_sync(*allowing, post_to("http://vllm.internal:8000/v1/x"));
  ASSERT_EQ(response.status, 200) << response.transport_error;
  ASSERT_EQ(proxy.requests().size(), 1u);
  EXPECT_EQ(proxy.requests()[0].target, "http://vllm.internal:8000/v1/x");
  EXPECT_EQ(proxy.requests()[0].host, "vllm.internal:8000");
}

TEST_F(HttpProxyTest, ProxyCredentialsAreSentAsProxyAuthorizationToTheProxyOnly) {
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  TestProxy proxy;
  // "p@ss:word" percent-encoded in the URL; Basic base64("alice:p@ss:word").
  const std::string expected = "Basic YWxpY2U6cEBzczp3b3Jk";
  auto client =
      make_client(through(proxy.url("alice:p%40ss%3Aword@"), proxy.url("alice:p%40ss%3Aword@")));
  HttpResponse https = send_sync(*client, post_to(https_url(server, "localhost")));
  ASSERT_EQ(https.status, 200) << https.transport_error;
  HttpResponse plain = send_sync(*client, post_to("http://127.0.0.1:9/v1/x"));
  ASSERT_EQ(plain.status, 200) << plain.transport_error;

  const auto seen = proxy.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "CONNECT");
  EXPECT_EQ(seen[0].proxy_authorization, expected);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].proxy_authorization, expected);
  EXPECT_EQ(server.last_request().proxy_authorization, "");  // never inside the tunnel
}

TEST_F(HttpProxyTest, AProxyRefusingConnectIsATransportErrorNamingItsStatus) {
  TestProxy proxy(/*refuse_status=*/407);
  auto client = make_client(through(proxy.url("alice:secret-pw@"), ""));
  HttpResponse response = send_sync(*client, post_to("https://localhost:443/v1/x"));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "407 Proxy Authentication Required"))
      << response.transport_error;
  EXPECT_TRUE(contains(response.transport_error, "proxy 127.0.0.1:" + std::to_string(proxy.port())))
      << response.transport_error;
  EXPECT_FALSE(contains(response.transport_error, "secret-pw")) << response.transport_error;
}

TEST_F(HttpProxyTest, NoProxyHostsGoDirect) {
  ssl::context tls = server_tls(ca_->server_cert);
  TestServer server(ServerMode::kAnswer, 0, &tls);
  TestProxy proxy;
  auto client = make_client(through(proxy.url(), proxy.url(), "example.com, localhost"));
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 200) << response.transport_error;
  EXPECT_EQ(proxy.accepted(), 0);
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(HttpProxyTest, ConnectTimeoutCoversTheProxysCONNECTAnswer) {
  TestServer silent_proxy(ServerMode::kNeverAnswer);  // reads CONNECT, never answers
  auto client = make_client(through("http://127.0.0.1:" + std::to_string(silent_proxy.port()), ""));
  HttpRequest request = post_to("https://localhost:443/v1/x");
  request.connect_timeout_ms = 200;
  request.total_timeout_ms = 60000;
  HttpResponse response = send_sync(*client, std::move(request));
  EXPECT_TRUE(response.timed_out);
  EXPECT_TRUE(contains(response.transport_error, "connect timeout")) << response.transport_error;
  EXPECT_EQ(silent_proxy.last_request().method, "CONNECT");
}

TEST(HttpProxyOptionsTest, AnUnsupportedProxyFailsAtStartWithoutShowingItsCredentials) {
  IoPool pool(1);
  HttpClientOptions options;
  options.proxy = ProxySettings{"", "socks5://bob:hunter2@proxy:1080", ""};
  try {
    make_http_client(pool, options);
    ADD_FAILURE() << "expected a start-up error";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "socks5")) << e.what();
    EXPECT_FALSE(contains(e.what(), "hunter2")) << e.what();
  }
}

TEST(HttpProxyUrlTest, ParsesHostPortAndCredentials) {
  ProxyEndpoint proxy;
  ASSERT_EQ(parse_proxy_url("http://user:pa%3Ass@proxy.corp:3128", proxy), "");
  EXPECT_EQ(proxy.host, "proxy.corp");
  EXPECT_EQ(proxy.port, 3128);
  EXPECT_EQ(proxy.authorization, "Basic dXNlcjpwYTpzcw==");  // user:pa:ss
  EXPECT_EQ(proxy.label, "proxy.corp:3128");

  ASSERT_EQ(parse_proxy_url("proxy.corp", proxy), "");  // no scheme: http; no port: 1080 (curl)
  EXPECT_EQ(proxy.port, 1080);
  EXPECT_EQ(proxy.authorization, "");

  ASSERT_EQ(parse_proxy_url("HTTP://[::1]:8888/", proxy), "");
  EXPECT_EQ(proxy.host, "::1");
  EXPECT_EQ(proxy.label, "[::1]:8888");

  for (const char* bad : {"https://proxy:443", "socks5://proxy", "http://:3128", "http://proxy:0",
                          "http://proxy:70000", "http://proxy/path", "http://u:%zz@proxy"}) {
    EXPECT_NE(parse_proxy_url(bad, proxy), "") << bad;
  }
  EXPECT_FALSE(contains(parse_proxy_url("http://u:topsecret@proxy:99999", proxy), "topsecret"));
}

TEST(HttpNoProxyTest, FollowsCurlsMatchingRules) {
  const NoProxyList none("");
  EXPECT_FALSE(none.matches("example.com", 443));
  EXPECT_TRUE(NoProxyList("*").matches("anything.at.all", 443));
  EXPECT_TRUE(NoProxyList(" a.com , * ").matches("b.com", 80));

  const NoProxyList domains("example.com, .corp.internal,*.wild.test, trailing.dot.,,");
  EXPECT_TRUE(domains.matches("example.com", 443));
  EXPECT_TRUE(domains.matches("api.example.com", 443));
  EXPECT_TRUE(domains.matches("API.Example.COM.", 80));
  EXPECT_FALSE(domains.matches("notexample.com", 443));
  EXPECT_FALSE(domains.matches("example.com.org", 443));
  EXPECT_TRUE(domains.matches("corp.internal", 443));  // leading dot ignored, as curl does
  EXPECT_TRUE(domains.matches("llm.corp.internal", 443));
  EXPECT_TRUE(domains.matches("a.wild.test", 443));
  EXPECT_TRUE(domains.matches("trailing.dot", 443));

  const NoProxyList ports("example.com:8443, 10.1.2.3:8080, [::1]:9000");
  EXPECT_TRUE(ports.matches("example.com", 8443));
  EXPECT_TRUE(ports.matches("x.example.com", 8443));
  EXPECT_FALSE(ports.matches("example.com", 443));
  EXPECT_TRUE(ports.matches("10.1.2.3", 8080));
  EXPECT_FALSE(ports.matches("10.1.2.3", 80));
  EXPECT_TRUE(ports.matches("::1", 9000));
  EXPECT_FALSE(ports.matches("::1", 9001));

  const NoProxyList addresses("192.168.1.5, 10.0.0.0/8, ::1, fd00::/8");
  EXPECT_TRUE(addresses.matches("192.168.1.5", 443));
  EXPECT_FALSE(addresses.matches("192.168.1.6", 443));
  EXPECT_TRUE(addresses.matches("10.200.3.4", 443));
  EXPECT_FALSE(addresses.matches("11.0.0.1", 443));
  EXPECT_TRUE(addresses.matches("::1", 443));
  EXPECT_TRUE(addresses.matches("fd12:3456::1", 443));
  EXPECT_FALSE(addresses.matches("fe80::1", 443));
  EXPECT_FALSE(addresses.matches("ten.example", 443));  // names never match address entries

  // Loopback is proxied unless listed (curl's behaviour); names are not resolved.
  const NoProxyList unrelated("example.com");
  EXPECT_FALSE(unrelated.matches("localhost", 80));
  EXPECT_FALSE(unrelated.matches("127.0.0.1", 80));
  EXPECT_FALSE(NoProxyList("localhost").matches("127.0.0.1", 80));
  EXPECT_TRUE(NoProxyList("localhost,127.0.0.1").matches("127.0.0.1", 80));
}

TEST(HttpProxyEnvironmentTest, LowerCaseWinsAndUpperCaseIsTheFallback) {
  std::map<std::string, std::string> env = {{"https_proxy", "http://lower:1"},
                                            {"HTTPS_PROXY", "http://upper:1"},
                                            {"HTTP_PROXY", "http://upper:2"},
                                            {"NO_PROXY", "example.com"},
                                            {"no_proxy", ""}};
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  const ProxySettings settings = proxy_settings_from_environment(getenv);
  EXPECT_EQ(settings.https_proxy, "http://lower:1");
  EXPECT_EQ(settings.http_proxy, "http://upper:2");
  EXPECT_EQ(settings.no_proxy, "example.com");  // an empty lower-case value counts as unset

  const ProxyRoutes routes(settings);
  ASSERT_NE(routes.proxy_for(true, "api.openai.com", 443), nullptr);
  EXPECT_EQ(routes.proxy_for(true, "api.openai.com", 443)->label, "lower:1");
  EXPECT_EQ(routes.proxy_for(false, "vllm.internal", 80)->label, "upper:2");
  EXPECT_EQ(routes.proxy_for(true, "api.example.com", 443), nullptr);
  EXPECT_EQ(ProxyRoutes().proxy_for(true, "api.openai.com", 443), nullptr);
}

}  // namespace
}  // namespace switchyard
