#pragma once
// The HTTP seam between the worker and remote LLM providers.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace switchyard {

class IoPool;

struct HttpRequest {
  std::string url;  // http://host:port/path or https://host/path
  // In addition to Host, Content-Length, Connection (set by the client; giving them is an error)
  // and Content-Type / User-Agent (defaults that a header given here replaces).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;               // JSON; sent as POST
  int connect_timeout_ms = 5000;  // resolve + connect + TLS handshake; <= 0: only the total applies
  int total_timeout_ms =
      120000;  // everything, waiting for a pooled connection included; <= 0: none
};

struct HttpResponse {
  int status = 0;               // 0 when no response was read (see transport_error)
  std::string transport_error;  // connect refused, timeout, reset, ... ; empty on a response
  bool timed_out = false;
  std::string body;
  // Response headers the worker acts on, lower-cased names: retry-after, x-ratelimit-*.
  std::vector<std::pair<std::string, std::string>> headers;

  const std::string* header(std::string_view lower_name) const;
};

// Sends HTTP/1.1 requests over keep-alive connection pools (one pool per scheme+host+port).
// Thread-safety: send() may be called from any thread. `done` is called exactly once, on an
// io thread of the pool the client was made with, never inside send(); it must not block or
// throw. Failures are values: status 0 with transport_error (and timed_out for timeouts).
// A request that fails on a reused keep-alive connection before any response byte arrived is
// sent once more on a new connection (the server had closed the idle connection).
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual void send(HttpRequest request, std::function<void(HttpResponse)> done) = 0;
};

struct HttpClientOptions {
  int max_connections_per_host = 4096;  // past this, requests wait for a free connection
  bool verify_tls = true;                // certificate verification against the system store
  std::string ca_file;                   // extra CA bundle (tests use a test CA)
};

std::unique_ptr<HttpClient> make_http_client(IoPool& pool, HttpClientOptions options);

}  // namespace switchyard
