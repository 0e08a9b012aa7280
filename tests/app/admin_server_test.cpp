#include "switchyard/app/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "switchyard/common/metrics.h"

namespace switchyard {
namespace {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Sends raw bytes to 127.0.0.1:port and reads until the server closes. Blocking, with a receive
// timeout only so that a broken server fails the test instead of hanging it.
std::string send_raw(std::uint16_t port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  std::size_t sent = 0;
  while (sent < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  std::string head = raw.substr(0, head_end);
  r.body = raw.substr(head_end + 4);
  r.status = std::stoi(head.substr(9, 3));
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line =
        head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = next;
  }
  return r;
}

HttpReply request(std::uint16_t port, const std::string& method, const std::string& target,
                  const std::string& extra_headers = "") {
  return parse_reply(send_raw(port, method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
                                        extra_headers + "Connection: close\r\n\r\n"));
}

HttpReply get(std::uint16_t port, const std::string& target,
              const std::string& extra_headers = "") {
  return request(port, "GET", target, extra_headers);
}

// The value of one sample line of an exposition text ("name{labels}" exactly as rendered).
double sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() { declare_worker_metrics(registry_); }

  AdminServer& start(AdminServerOptions options = {}) {
    options.port = 0;
    server_ = std::make_unique<AdminServer>(options, registry_);
    server_->start();
    return *server_;
  }
  std::uint16_t port() const { return server_->port(); }

  MetricsRegistry registry_;
  std::unique_ptr<AdminServer> server_;  // after the registry: stopped before it goes
};

const std::string kRequestsOk =
    "switchyard_requests_total{class=\"interactive\",deployment=\"mini-a\",status=\"ok\","
    "tier=\"economy\"}";

TEST_F(AdminServerTest, MetricsServesTheRegistryAsPrometheusText) {
  registry_
      .counter(metric::kRequests, {{"class", "interactive"},
                                   {"tier", "economy"},
                                   {"deployment", "mini-a"},
                                   {"status", "ok"}})
      .inc(3);
  start();
  HttpReply r = get(port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.headers["content-type"].starts_with("text/plain; version=0.0.4"))
      << r.headers["content-type"];
  EXPECT_EQ(r.body, registry_.render());
  EXPECT_NE(r.body.find("# TYPE switchyard_requests_total counter\n"), std::string::npos);
  EXPECT_EQ(sample(r.body, kRequestsOk), 3);
}

TEST_F(AdminServerTest, CountersMoveBetweenTwoScrapes) {
  Counter& ok = registry_.counter(
      metric::kRequests,
      {{"class", "interactive"}, {"tier", "economy"}, {"deployment", "mini-a"}, {"status", "ok"}});
  start();
  EXPECT_EQ(sample(get(port(), "/metrics").body, kRequestsOk), 0);
  for (int i = 0; i < 25; ++i) ok.inc();
  EXPECT_EQ(sample(get(port(), "/metrics").body, kRequestsOk), 25);
}

TEST_F(AdminServerTest, HealthzIsOkWhileServing) {
  start();
  HttpReply r = get(port(), "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(AdminServerTest, ReadyzListsWhatIsNotReadyAnd200sWhenEverythingIs) {
  AdminServer& server = start();
  HttpReply before = get(port(), "/readyz");  // no probe yet: still starting
  EXPECT_EQ(before.status, 503);
  EXPECT_NE(before.body.find("starting"), std::string::npos);

  bool postgres_ok = false;
  server.set_readiness([&] {
    return std::vector<ReadinessCheck>{
        {"broker", true, ""},
        {"postgres", postgres_ok, postgres_ok ? "" : "connection refused"},
        {"partitions", true, "4 assigned"}};
  });
  HttpReply not_ready = get(port(), "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.headers["content-type"], "application/json");
  rapidjson::Document d;
  d.Parse(not_ready.body.c_str());
  ASSERT_FALSE(d.HasParseError()) << not_ready.body;
  EXPECT_FALSE(d["ready"].GetBool());
  ASSERT_EQ(d["checks"].Size(), 3u);
  EXPECT_STREQ(d["checks"][1]["name"].GetString(), "postgres");
  EXPECT_FALSE(d["checks"][1]["ok"].GetBool());
  EXPECT_STREQ(d["checks"][1]["detail"].GetString(), "connection refused");
  EXPECT_TRUE(d["checks"][0]["ok"].GetBool());

  postgres_ok = true;
  HttpReply ready = get(port(), "/readyz");
  EXPECT_EQ(ready.status, 200);
  d.Parse(ready.body.c_str());
  EXPECT_TRUE(d["ready"].GetBool());
}

TEST_F(AdminServerTest, UnknownPathsAre404AndOtherMethods405) {
  start();
  EXPECT_EQ(get(port(), "/nope").status, 404);
  EXPECT_EQ(get(port(), "/metricsx").status, 404);
  HttpReply post = request(port(), "POST", "/metrics", "Content-Length: 0\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET");
}

TEST_F(AdminServerTest, RegisteredHandlersServeTheirPrefixLongestFirst) {
  AdminServer& server = start();
  server.register_handler("/dashboard", [](const AdminRequest& r) {
    AdminResponse res =
        AdminResponse::text(200, "page " + r.path + " team=" + std::string(r.query_param("team")));
    res.content_type = "text/html; charset=utf-8";
    return res;
  });
  server.register_handler("/dashboard/data", [](const AdminRequest& r) {
    return AdminResponse::json(200, "{\"method\":\"" + r.method + "\"}");
  });
  HttpReply page = get(port(), "/dashboard?team=search");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "page /dashboard team=search");
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(get(port(), "/dashboard/teams").body, "page /dashboard/teams team=");
  HttpReply data = get(port(), "/dashboard/data/spend");
  EXPECT_EQ(data.headers["content-type"], "application/json");
  EXPECT_EQ(data.body, "{\"method\":\"GET\"}");
  EXPECT_EQ(get(port(), "/dashboards").status, 404);
  EXPECT_THROW(server.register_handler("/metrics", {}), std::invalid_argument);
  EXPECT_THROW(server.register_handler("dashboard", {}), std::invalid_argument);
}

TEST_F(AdminServerTest, AHandlerThatThrowsGets500AndTheServerCarriesOn) {
  AdminServer& server = start();
  server.register_handler("/boom", [](const AdminRequest&) -> AdminResponse {
    throw std::runtime_error("view missing");
  });
  EXPECT_EQ(get(port(), "/boom").status, 500);
  EXPECT_EQ(get(port(), "/healthz").status, 200);
}

TEST_F(AdminServerTest, KeepAliveConnectionServesSeveralRequests) {
  start();
  std::string raw = send_raw(port(),
                             "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t replies = 0;
  for (auto at = raw.find("HTTP/1.1 200"); at != std::string::npos;
       at = raw.find("HTTP/1.1 200", at + 1))
    ++replies;
  EXPECT_EQ(replies, 3u);
}

TEST(AdminAuth, BearerTokenMatchesOnlyTheExactToken) {
  EXPECT_TRUE(bearer_token_matches("Bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(bearer_token_matches("bearer s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-toke", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-token2", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer S3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Basic s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));  // an empty token never matches
}

TEST_F(AdminServerTest, RefusesToListenBeyondLoopbackWithoutAToken) {
  AdminServerOptions options;
  options.host = "0.0.0.0";
  options.port = 0;
  AdminServer server(options, registry_);
  try {
    server.start();
    FAIL() << "started on 0.0.0.0 without a token";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("without a bearer token"), std::string::npos) << e.what();
  }
}

TEST_F(AdminServerTest, BeyondLoopbackEveryRouteButHealthzNeedsTheToken) {
  AdminServerOptions options;
  options.host = "0.0.0.0";  // every address, loopback included, so the test can connect
  options.bearer_token = "t0ken-for-tests";
  try {
    start(options);
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "cannot listen on 0.0.0.0 here: " << e.what();
  }
  EXPECT_TRUE(server_->requires_token());
  server_->register_handler("/dashboard", [](const AdminRequest& r) {
    // Handlers never see the Authorization header.
    return AdminResponse::text(200, r.header("authorization").empty() ? "clean" : "leaked");
  });
  HttpReply anonymous = get(port(), "/metrics");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.headers["www-authenticate"], "Bearer realm=\"switchyard-admin\"");
  EXPECT_EQ(anonymous.body.find("# TYPE"), std::string::npos);
  EXPECT_EQ(get(port(), "/metrics", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(get(port(), "/readyz").status, 401);
  EXPECT_EQ(get(port(), "/nope").status, 401);  // no probing for paths either
  EXPECT_EQ(get(port(), "/healthz").status, 200);
  EXPECT_EQ(get(port(), "/metrics", "Authorization: Bearer t0ken-for-tests\r\n").status, 200);
  HttpReply page = get(port(), "/dashboard", "Authorization: Bearer t0ken-for-tests\r\n");
  EXPECT_EQ(page.body, "clean");
}

TEST_F(AdminServerTest, ATokenConfiguredOnLoopbackIsRequiredToo) {
  AdminServerOptions options;
  options.bearer_token = "loopback-token";
  start(options);
  EXPECT_TRUE(server_->requires_token());
  EXPECT_EQ(get(port(), "/metrics").status, 401);
  EXPECT_EQ(get(port(), "/metrics", "Authorization: Bearer loopback-token\r\n").status, 200);
}

TEST_F(AdminServerTest, PortZeroPicksAPortAndStopIsIdempotent) {
  AdminServer& server = start();
  EXPECT_FALSE(server.requires_token());
  std::uint16_t chosen = server.port();
  EXPECT_NE(chosen, 0);
  // An open keep-alive connection does not hold stop() up.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(chosen);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  server.stop();
  server.stop();
  EXPECT_THROW(send_raw(chosen, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), std::runtime_error);
  ::close(fd);
}

}  // namespace
}  // namespace switchyard

namespace switchyard {
namespace {

// An idle connection to the server, held open until destroyed.
struct IdleConnection {
  explicit IdleConnection(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~IdleConnection() { ::close(fd); }
  int fd = -1;
  bool connected = false;
};

TEST_F(AdminServerTest, ARequestWithoutTheTokenIsAnsweredBeforeItsBodyIsRead) {
  AdminServerOptions options;
  options.bearer_token = "body-token";
  options.read_timeout_ms = 120'000;  // were the body awaited, the reply would never come
  start(options);
  // A head announcing 500 KB that never come: the 401 comes at once, and the connection closes.
  HttpReply r = parse_reply(send_raw(port(),
                                     "POST /metrics HTTP/1.1\r\nHost: localhost\r\n"
                                     "Content-Length: 500000\r\n\r\n"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers["connection"], "close");
  // With the token the body is read (and the method refused as before).
  HttpReply ok = parse_reply(send_raw(port(),
                                      "POST /metrics HTTP/1.1\r\nHost: localhost\r\n"
                                      "Authorization: Bearer body-token\r\nConnection: close\r\n"
                                      "Content-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(ok.status, 405);
}

TEST_F(AdminServerTest, ConnectionsPastTheCapAreClosedAndServedAgainOnceOthersEnd) {
  AdminServerOptions options;
  options.max_connections = 2;
  options.read_timeout_ms = 120'000;
  start(options);
  auto first = std::make_unique<IdleConnection>(port());
  auto second = std::make_unique<IdleConnection>(port());
  ASSERT_TRUE(first->connected && second->connected);
  // Wait until the server holds both (each sends nothing, so each is a session reading).
  HttpReply refused;
  for (int i = 0; i < 200; ++i) {
    refused = parse_reply(send_raw(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    if (refused.status == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(refused.status, 0) << "closed without an answer";
  first.reset();
  second.reset();
  HttpReply served;
  for (int i = 0; i < 200 && served.status != 200; ++i) {
    served = get(port(), "/healthz");
    if (served.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(served.status, 200);
}

}  // namespace
}  // namespace switchyard
