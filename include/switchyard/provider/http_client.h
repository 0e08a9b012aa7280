#pragma once
// The HTTP seam between the worker and remote LLM providers.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/common/url.h"  // is_loopback_host: the rule for plain http
#include "switchyard/provider/proxy.h"

namespace switchyard {

class IoPool;

struct HttpRequest {
  std::string url;  // http://host:port/path or https://host/path
  // In addition to Host, Content-Length, Connection (set by the client; giving them is an error)
  // and Content-Type / User-Agent (defaults that a header given here replaces).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // JSON; sent as POST
  // Timeouts; each one that fires sets HttpResponse::timed_out and is named in transport_error
  // ("connect timeout", "first-byte timeout", "total timeout").
  // Resolve + TCP connect (+ proxy CONNECT) + TLS handshake of a new connection; <= 0: only the
  // total applies.
  int connect_timeout_ms = 5000;
  // From the request fully written to the first response byte; <= 0: none. Without streaming a
  // provider sends nothing until the whole completion is generated, so this bounds generation.
  int first_byte_timeout_ms = 0;
  // Everything, waiting for a pooled connection included; <= 0: none.
  int total_timeout_ms = 120000;
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

// Sends HTTP/1.1 requests over keep-alive connection pools (one pool per scheme+host+port; the
// proxy, if any, is fixed per origin for the client's lifetime, so the origin keys the pool).
// https: TLS 1.2+, certificates verified against the system store (plus ca_file), host name or
// IP address checked against the certificate, SNI sent for host names (not for IP literals).
// Plain http:// only to loopback hosts (127.0.0.0/8, ::1, localhost) unless allow_plain_http.
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
  // New connections per host whose first exchange has not ended yet (connect, TLS, request,
  // response): past this, requests wait for an idle connection or for a new one to prove itself.
  // A server that accepts slowly (a short accept queue) would otherwise drop the connects of a
  // burst and leave them to SYN retransmission, or hold them unaccepted until a timeout.
  int max_connecting_per_host = 8;
  // Certificate and host name verification. false is for debugging only: anyone on the path can
  // then read the API keys. Logged as a warning when the client is made.
  bool verify_tls = true;
  std::string ca_file;            // extra CA bundle (PEM), trusted besides the system store
  bool allow_plain_http = false;  // http:// to hosts other than loopback
  // Unset: from the environment (https_proxy, http_proxy, no_proxy, ...; see proxy.h), read once
  // by make_http_client. Set: exactly these settings (all empty: never a proxy).
  std::optional<ProxySettings> proxy;
};

// Throws std::runtime_error when the options cannot work (an unreadable ca_file, a proxy URL
// that is not http://...): start-up failures, with the reason.
std::unique_ptr<HttpClient> make_http_client(IoPool& pool, HttpClientOptions options);

}  // namespace switchyard
