#include "switchyard/common/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <charconv>

namespace switchyard {

// Parses http(s)://host[:port][/path]. Returns an error sentence, empty on success.
std::string parse_http_url(std::string_view url, HttpUrl& out) {
  if (url.substr(0, 8) == "https://") {
    out.tls = true;
    url.remove_prefix(8);
  } else if (url.substr(0, 7) == "http://") {
    out.tls = false;
    url.remove_prefix(7);
  } else {
    return "URL must start with http:// or https://";
  }
  std::size_t path_start = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, path_start);
  out.target =
      path_start == std::string_view::npos ? std::string_view("/") : url.substr(path_start);
  if (!out.target.empty() && out.target.front() != '/') {
    return "URL path must start with '/'";  // "http://host?x" is not worth supporting
  }
  if (std::size_t hash = out.target.find('#'); hash != std::string_view::npos) {
    out.target = out.target.substr(0, hash);
  }
  if (authority.find('@') != std::string_view::npos) {
    return "URL must not contain user info";
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8080
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "URL has an unterminated IPv6 literal";
    out.host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "URL has garbage after the IPv6 literal";
      port_text = rest.substr(1);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return "URL has no host";
  out.port = out.tls ? 443 : 80;
  out.default_port = true;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return "URL has an invalid port";
    }
    out.default_port = value == out.port;
    out.port = static_cast<std::uint16_t>(value);
  }
  return {};
}

bool is_loopback_host(std::string_view host) {
  std::string name(host);
  in_addr v4{};
  if (inet_pton(AF_INET, name.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, name.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!name.empty() && name.back() == '.') name.pop_back();
  constexpr std::string_view kLocalhost = "localhost";
  return name == kLocalhost || (name.size() > kLocalhost.size() + 1 && name.ends_with(kLocalhost) &&
                                name[name.size() - kLocalhost.size() - 1] == '.');
}

}  // namespace switchyard
