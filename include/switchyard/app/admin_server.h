#pragma once
// The worker's admin HTTP server (HTTP/1.1, Boost.Beast) on its own small Asio thread:
//
//   GET /metrics  the registry's Prometheus text (Content-Type text/plain; version=0.0.4)
//   GET /healthz  200 "ok" while the process is serving (no token needed, even when exposed)
//   GET /readyz   200 when every readiness check passes, else 503; JSON body either way:
//                 {"ready":false,"checks":[{"name":"broker","ok":true},
//                  {"name":"postgres","ok":false,"detail":"connection refused"},...]}
//   anything registered with register_handler(path_prefix, handler)
//   else          404 (405 for a built-in path with another method than GET)
//
// Exposure. It listens on 127.0.0.1 by default. Bound to an address that is not loopback, it
// requires `Authorization: Bearer <token>` on every route but /healthz (401 otherwise) and
// refuses to start without a token. A token configured on loopback is required too. The token
// is compared in constant time and never logged.
//
// Usage (the worker):
//   AdminServerOptions options;                    // from AdminConfig: host, port, token
//   AdminServer admin(options, registry);          // registry outlives the server
//   admin.set_readiness([&] { return std::vector<ReadinessCheck>{
//       {"broker", broker_ok, broker_detail}, {"postgres", pg_ok, pg_detail},
//       {"partitions", assigned > 0, std::to_string(assigned) + " assigned"}}; });
//   admin.register_handler("/dashboard", [&](const AdminRequest& r) { ... });
//   admin.start();                                 // throws std::runtime_error on bind failures
//   ...
//   admin.stop();                                  // or the destructor
//
// Threads and handlers. One io thread runs every connection as a coroutine with a read timeout;
// handlers, the readiness callback and gauge callbacks of the registry run on it, one request at
// a time, so they must be quick and thread-safe with respect to the worker (read atomics or a
// snapshot; never a blocking Postgres or Kafka round trip). A handler that throws gets a 500 and
// a logged error. set_readiness() and register_handler() may be called before or after start(),
// from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

class MetricsRegistry;

struct AdminRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // as received: path and query
  std::string path;                                          // target before '?'
  std::string query;                                         // after '?', without it; "" when none
  std::vector<std::pair<std::string, std::string>> headers;  // Authorization left out
  std::string body;

  // The first header with this name (case-insensitive), or "".
  std::string_view header(std::string_view name) const;
  // The query parameter's raw (not percent-decoded) value, or "" when absent.
  std::string_view query_param(std::string_view name) const;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  static AdminResponse text(int status, std::string body);
  static AdminResponse json(int status, std::string body);
};

using AdminHandler = std::function<AdminResponse(const AdminRequest&)>;

// One readiness condition; /readyz is 200 only when every one is ok.
struct ReadinessCheck {
  std::string name;  // "broker", "postgres", "partitions", ...
  bool ok = false;
  std::string detail;  // why not (or what: "12 partitions assigned"); optional
};
using ReadinessProbe = std::function<std::vector<ReadinessCheck>()>;

struct AdminServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9464;  // 0 = pick a free port (see AdminServer::port())
  // Required when host is not a loopback address; when set, required on loopback too.
  std::string bearer_token;
  int read_timeout_ms = 10000;           // a request must arrive within this
  std::size_t max_body_bytes = 1 << 20;  // larger bodies get 413 (headers: 16 KiB, 431)
  // Connections open at once; one more is closed as soon as it is accepted (a scraper or a
  // browser needs a few; a flood of idle connections must not hold the worker's descriptors).
  int max_connections = 64;
};

// Whether `authorization` (the Authorization header's value) carries exactly `token`
// ("Bearer <token>", scheme case-insensitive). Constant time in the token's length.
bool bearer_token_matches(std::string_view authorization, std::string_view token);

class AdminServer {
 public:
  AdminServer(AdminServerOptions options, const MetricsRegistry& metrics);
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds, listens and starts the io thread. Throws std::runtime_error when the address cannot
  // be resolved or bound, or when it is not loopback and no bearer token is set.
  void start();
  // Stops accepting, closes every connection and joins the thread. Idempotent; start() may be
  // called again afterwards.
  void stop();
  // The bound port (the chosen one when options.port was 0); 0 before start() and after stop().
  std::uint16_t port() const;
  // Whether requests must carry the bearer token (decided by start()).
  bool requires_token() const;

  // Unset: /readyz answers 503 {"name":"worker","ok":false,"detail":"starting"}.
  void set_readiness(ReadinessProbe probe);
  // Serves every request whose path is `path_prefix` or lies below it ("/dashboard" matches
  // "/dashboard", "/dashboard/" and "/dashboard/x", not "/dashboards"); the longest
  // registered prefix wins; /metrics, /healthz and /readyz cannot be taken over. Registering
  // a prefix again replaces its handler. The handler checks the method itself.
  void register_handler(std::string path_prefix, AdminHandler handler);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
