#pragma once
// http(s) URLs and loopback hosts, said once: the config's checks (deployments[].api_base,
// admin.listen) and the HTTP client parse and judge them with the same code, so a URL the config
// accepts is one the client can call.
#include <cstdint>
#include <string>
#include <string_view>

namespace switchyard {

struct HttpUrl {
  bool tls = false;
  std::string_view host;  // without brackets for IPv6 literals; a view into the parsed text
  std::uint16_t port = 0;
  std::string_view target;  // path and query, "/" when absent
  bool default_port = true;
};

// Parses http(s)://host[:port][/path][?query]. Returns an error sentence, empty on success.
// User info (user@host) is refused: credentials belong in headers.
std::string parse_http_url(std::string_view url, HttpUrl& out);

// True for 127.0.0.0/8, ::1 (and ::ffff:127.x) and the name localhost (and *.localhost,
// RFC 6761), with or without a trailing dot, in any case. `host` without brackets.
bool is_loopback_host(std::string_view host);

}  // namespace switchyard
