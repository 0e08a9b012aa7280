// The HTTP client against a small in-process Beast server on 127.0.0.1 (port 0), plain and TLS.
// No assertion depends on elapsed time; timeouts are checked through `timed_out`.
#include "switchyard/provider/http_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/common/io_pool.h"

namespace switchyard {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

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
  std::string body;
};

// Serves HTTP/1.1 (or HTTPS with `tls`) on its own thread. Counts accepted connections and the
// most connections open at once.
class TestServer {
 public:
  explicit TestServer(ServerMode mode, int delay_ms = 0, ssl::context* tls = nullptr)
      : mode_(mode),
        delay_ms_(delay_ms),
        tls_(tls),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
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
      if (!ec) co_await serve(stream);
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
      response.set("X-Request-Id", "req-123");
      response.body() = R"({"echo":)" + std::to_string(request.body().size()) + "}";
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || mode_ == ServerMode::kCloseAfterResponse) co_return;  // closes the socket
    }
  }

  void record(const http::request<http::string_body>& request) {
    auto text = [](auto view) { return std::string(view.data(), view.size()); };
    std::lock_guard lock(mutex_);
    last_.method = text(request.method_string());
    last_.target = text(request.target());
    last_.host = text(request[http::field::host]);
    last_.user_agent = text(request[http::field::user_agent]);
    last_.content_type = text(request[http::field::content_type]);
    last_.custom_header = text(request["X-Custom"]);
    last_.connection = text(request[http::field::connection]);
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
  std::unique_ptr<HttpClient> make_client(HttpClientOptions options = {}) {
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
  EXPECT_NE(response.transport_error.find("timed out"), std::string::npos)
      << response.transport_error;
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

TEST_F(HttpClientTest, ConnectionCapMakesRequestsWaitForAFreeConnection) {
  TestServer server(ServerMode::kAnswer, /*delay_ms=*/20);
  HttpClientOptions options;
  options.max_connections_per_host = 2;
  auto client = make_client(options);
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(send_async(*client, post_to(url(server))));
  for (auto& future : futures) {
    HttpResponse response = future.get();
    EXPECT_EQ(response.status, 200) << response.transport_error;
  }
  EXPECT_EQ(server.requests(), 10);
  EXPECT_LE(server.max_open(), 2);
  EXPECT_LE(server.accepted(), 2);
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

// ---- TLS ----

// A throw-away CA and a server certificate for "localhost" (DNS name only), made with the
// openssl command line once for the suite.
class HttpClientTlsTest : public HttpClientTest {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        std::filesystem::temp_directory_path() / ("switchyard-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "ext.cnf") << "subjectAltName=DNS:localhost\n"
                                       "basicConstraints=critical,CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature\n"
                                       "extendedKeyUsage=serverAuth\n";
    const std::string d = dir_.string();
    const std::string script =
        "cd '" + d +
        "' && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout ca.key -out ca.crt -days 2 -subj '/CN=Switchyard Test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
        "&& "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout server.key -out server.csr -subj '/CN=localhost' && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "-out server.crt -days 2 -extfile ext.cnf";
    generated_ = std::system((script + " > openssl.log 2>&1").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void SetUp() override {
    if (!generated_) GTEST_SKIP() << "could not generate test certificates with openssl";
    HttpClientTest::SetUp();
    server_tls_.use_certificate_chain_file((dir_ / "server.crt").string());
    server_tls_.use_private_key_file((dir_ / "server.key").string(), ssl::context::pem);
  }
  std::string https_url(const TestServer& server, const std::string& host) {
    return "https://" + host + ":" + std::to_string(server.port()) + "/v1/chat/completions";
  }

  static inline std::filesystem::path dir_;
  static inline bool generated_ = false;
  ssl::context server_tls_{ssl::context::tls_server};
};

TEST_F(HttpClientTlsTest, HttpsWithTrustedCaSucceedsAndReusesTheConnection) {
  TestServer server(ServerMode::kAnswer, 0, &server_tls_);
  HttpClientOptions options;
  options.ca_file = (dir_ / "ca.crt").string();
  auto client = make_client(options);
  for (int i = 0; i < 5; ++i) {
    HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
    ASSERT_EQ(response.status, 200) << response.transport_error;
    EXPECT_EQ(response.body, R"({"echo":17})");
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.last_request().host, "localhost:" + std::to_string(server.port()));
}

TEST_F(HttpClientTlsTest, HttpsWithoutTheCaFailsVerification) {
  TestServer server(ServerMode::kAnswer, 0, &server_tls_);
  auto client = make_client();  // system store only
  HttpResponse response = send_sync(*client, post_to(https_url(server, "localhost")));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_NE(response.transport_error.find("TLS handshake"), std::string::npos)
      << response.transport_error;
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, HttpsRejectsCertificateForAnotherHostName) {
  TestServer server(ServerMode::kAnswer, 0, &server_tls_);
  HttpClientOptions options;
  options.ca_file = (dir_ / "ca.crt").string();
  auto client = make_client(options);
  // The certificate names localhost only, not the IP address.
  HttpResponse response = send_sync(*client, post_to(https_url(server, "127.0.0.1")));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.transport_error.empty());
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, VerificationOffAcceptsAnUntrustedCertificate) {
  TestServer server(ServerMode::kAnswer, 0, &server_tls_);
  HttpClientOptions options;
  options.verify_tls = false;
  auto client = make_client(options);
  HttpResponse response = send_sync(*client, post_to(https_url(server, "127.0.0.1")));
  EXPECT_EQ(response.status, 200) << response.transport_error;
}

TEST(HttpClientOptionsTest, MissingCaFileFailsAtStart) {
  IoPool pool(1);
  HttpClientOptions options;
  options.ca_file = "/nonexistent/switchyard-ca.pem";
  EXPECT_THROW(make_http_client(pool, options), std::runtime_error);
}

}  // namespace
}  // namespace switchyard
