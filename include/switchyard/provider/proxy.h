#pragma once
// Forward proxies for the provider HTTP client: where the settings come from (the usual
// environment variables), how a proxy URL is read, and which hosts bypass the proxy (NO_PROXY).
//
// Behaviour follows curl's documented rules, with the differences marked:
// - https:// origins use https_proxy, else HTTPS_PROXY; http:// origins use http_proxy, else
//   HTTP_PROXY (curl ignores upper-case HTTP_PROXY because of CGI's "Proxy:" header; a worker is
//   never a CGI program). An empty variable counts as unset. No ALL_PROXY.
// - A proxy URL is [http://][user[:password]@]host[:port]; without a port the proxy is on 1080
//   (curl's default). Only http:// proxies (TLS to the origin through CONNECT): https:// and
//   socks proxies are refused at start rather than silently bypassed.
// - NO_PROXY is a comma-separated list. "*" matches every host. A name matches itself and every
//   subdomain ("example.com" and ".example.com" both match example.com and a.example.com, not
//   notexample.com); a leading "*." is read as "."; case and a trailing dot are ignored. IP
//   addresses match IP hosts only, optionally as CIDR ("10.0.0.0/8", "fd00::/8"), IPv6 without
//   brackets. An entry with a port ("example.com:8443", "10.1.2.3:8080", "[::1]:8080") matches
//   that port only (curl has no port entries; Go's net/http does). Names are not resolved:
//   "localhost" does not match 127.0.0.1.
// - Loopback hosts are NOT bypassed unless NO_PROXY names them: curl proxies localhost too.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

// Proxy settings as given, unparsed. Empty strings: no proxy for that scheme / no exceptions.
struct ProxySettings {
  std::string http_proxy;   // proxy URL for http:// origins
  std::string https_proxy;  // proxy URL for https:// origins
  std::string no_proxy;     // NO_PROXY list: hosts reached directly
};

// Reads the environment (lower-case names first, see above). `getenv` is for tests.
ProxySettings proxy_settings_from_environment(
    const std::function<const char*(const char*)>& getenv = nullptr);

// A parsed proxy URL.
struct ProxyEndpoint {
  std::string host;  // IPv6 without brackets
  std::uint16_t port = 0;
  std::string authorization;  // "Basic <base64>" from the URL's user info, or empty. A secret.
  std::string label;          // "host:port" for messages and logs; never the credentials
};

// Parses a proxy URL; returns an error sentence (which never contains the URL's credentials),
// empty on success.
std::string parse_proxy_url(std::string_view url, ProxyEndpoint& out);

// A parsed NO_PROXY list.
class NoProxyList {
 public:
  NoProxyList() = default;  // matches nothing
  explicit NoProxyList(std::string_view list);

  // `host` as in a URL but without brackets; port 0 matches only entries without a port.
  bool matches(std::string_view host, std::uint16_t port) const;

 private:
  struct Entry {
    std::string domain;  // lower case, no leading or trailing dot; empty for IP entries
    int family = 0;      // 4 or 6 for IP entries
    unsigned char address[16] = {};
    int prefix_bits = 0;
    std::uint16_t port = 0;  // 0: any port
  };
  bool all_ = false;
  std::vector<Entry> entries_;
};

// The proxy decision for one client: made once from settings, then read by every request.
class ProxyRoutes {
 public:
  ProxyRoutes() = default;  // every request goes direct

  // Throws std::invalid_argument naming the bad setting (never its credentials).
  explicit ProxyRoutes(const ProxySettings& settings);

  // The proxy a request to tls/host/port goes through, or null for a direct connection. The
  // pointer stays valid as long as this object.
  const ProxyEndpoint* proxy_for(bool tls, std::string_view host, std::uint16_t port) const;

  // "http via proxy:3128, https via proxy:3128, NO_PROXY '...'" or "none"; no credentials.
  std::string describe() const;

 private:
  std::optional<ProxyEndpoint> http_;
  std::optional<ProxyEndpoint> https_;
  std::string no_proxy_text_;
  NoProxyList no_proxy_;
};

}  // namespace switchyard
