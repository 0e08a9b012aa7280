#include "switchyard/provider/proxy.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace switchyard {

namespace {

// curl's default proxy port when the URL gives none.
constexpr std::uint16_t kDefaultProxyPort = 1080;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

// Parses an IPv4 or IPv6 literal (no brackets) into `address`; returns 4, 6 or 0.
int parse_ip(std::string_view text, unsigned char (&address)[16]) {
  if (text.empty() || text.size() >= 64) return 0;
  char buffer[64];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  if (::inet_pton(AF_INET, buffer, address) == 1) return 4;
  if (::inet_pton(AF_INET6, buffer, address) == 1) return 6;
  return 0;
}

bool same_prefix(const unsigned char* a, const unsigned char* b, int bits) {
  const int bytes = bits / 8;
  if (std::memcmp(a, b, static_cast<std::size_t>(bytes)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding of URL user info; false on a malformed escape.
bool percent_decode(std::string_view text, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(data.data()),
                                      static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

}  // namespace

ProxySettings proxy_settings_from_environment(
    const std::function<const char*(const char*)>& getenv) {
  auto read = [&](const char* lower_name, const char* upper_name) -> std::string {
    for (const char* name : {lower_name, upper_name}) {
      const char* value = getenv ? getenv(name) : std::getenv(name);
      if (value != nullptr && *value != '\0') return value;
    }
    return {};
  };
  ProxySettings settings;
  settings.http_proxy = read("http_proxy", "HTTP_PROXY");
  settings.https_proxy = read("https_proxy", "HTTPS_PROXY");
  settings.no_proxy = read("no_proxy", "NO_PROXY");
  return settings;
}

std::string parse_proxy_url(std::string_view url, ProxyEndpoint& out) {
  out = ProxyEndpoint{};
  url = trim(url);
  if (std::size_t scheme_end = url.find("://"); scheme_end != std::string_view::npos) {
    const std::string scheme = lower(url.substr(0, scheme_end));
    if (scheme != "http") {
      return "unsupported proxy scheme '" + scheme +
             "://': only http:// proxies are supported (TLS to the origin goes through CONNECT)";
    }
    url.remove_prefix(scheme_end + 3);
  }
  std::string_view authority = url.substr(0, url.find('/'));
  if (std::string_view rest = url.substr(authority.size()); !rest.empty() && rest != "/") {
    return "a proxy URL has no path";
  }
  // User info: everything up to the last '@' (a password may contain '@' when not escaped).
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string credentials;
    if (!percent_decode(authority.substr(0, at), credentials)) {
      return "the proxy URL's user info has an invalid %-escape";
    }
    // Decoded as a whole: RFC 7617 allows no ':' in the user id, so the first ':' still splits.
    out.authorization = "Basic " + base64(credentials);
    authority.remove_prefix(at + 1);
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "the proxy URL has an unterminated IPv6 literal";
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "the proxy URL has garbage after the IPv6 literal";
      port_text = rest.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return "the proxy URL has no host";
  if (std::any_of(out.host.begin(), out.host.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)) || c == '/'; })) {
    return "the proxy URL has an invalid host";
  }
  out.port = kDefaultProxyPort;
  if (!port_text.empty() && !parse_port(port_text, out.port)) {
    return "the proxy URL has an invalid port";
  }
  const bool ipv6 = out.host.find(':') != std::string::npos;
  out.label = (ipv6 ? "[" + out.host + "]" : out.host) + ":" + std::to_string(out.port);
  return {};
}

NoProxyList::NoProxyList(std::string_view list) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;
    if (item == "*") {
      all_ = true;
      continue;
    }
    Entry entry;
    std::string_view name = item;
    if (name.front() == '[') {  // [v6]:port or [v6]
      const std::size_t close = name.find(']');
      if (close == std::string_view::npos) continue;
      std::string_view rest = name.substr(close + 1);
      if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1), entry.port))) {
        continue;
      }
      name = name.substr(1, close - 1);
    } else if (std::count(name.begin(), name.end(), ':') == 1) {  // name:port or v4:port
      const std::size_t colon = name.find(':');
      if (!parse_port(name.substr(colon + 1), entry.port)) continue;
      name = name.substr(0, colon);
    }
    // An IP address, optionally with /bits.
    std::string_view address_text = name;
    int bits = -1;
    if (std::size_t slash = name.find('/'); slash != std::string_view::npos) {
      address_text = name.substr(0, slash);
      unsigned value = 0;
      std::string_view bits_text = name.substr(slash + 1);
      auto [end, ec] =
          std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), value);
      if (ec != std::errc() || end != bits_text.data() + bits_text.size()) continue;
      bits = static_cast<int>(value);
    }
    entry.family = parse_ip(address_text, entry.address);
    if (entry.family != 0) {
      const int max_bits = entry.family == 4 ? 32 : 128;
      if (bits > max_bits) continue;
      entry.prefix_bits = bits < 0 ? max_bits : bits;
      entries_.push_back(entry);
      continue;
    }
    if (bits >= 0) continue;  // "name/8" is nothing
    if (name.size() >= 2 && name.substr(0, 2) == "*.") name.remove_prefix(1);
    while (!name.empty() && name.front() == '.') name.remove_prefix(1);
    while (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) continue;
    entry.domain = lower(name);
    entries_.push_back(std::move(entry));
  }
}

bool NoProxyList::matches(std::string_view host, std::uint16_t port) const {
  if (all_) return true;
  if (entries_.empty() || host.empty()) return false;
  unsigned char address[16] = {};
  const int family = parse_ip(host, address);
  std::string name;
  if (family == 0) {
    name = lower(host);
    while (!name.empty() && name.back() == '.') name.pop_back();
  }
  for (const Entry& entry : entries_) {
    if (entry.port != 0 && entry.port != port) continue;
    if (family != 0) {
      if (entry.family == family && same_prefix(address, entry.address, entry.prefix_bits)) {
        return true;
      }
      continue;
    }
    if (entry.domain.empty()) continue;
    if (name == entry.domain) return true;
    if (name.size() > entry.domain.size() &&
        name.compare(name.size() - entry.domain.size(), std::string::npos, entry.domain) == 0 &&
        name[name.size() - entry.domain.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

ProxyRoutes::ProxyRoutes(const ProxySettings& settings)
    : no_proxy_text_(settings.no_proxy), no_proxy_(settings.no_proxy) {
  auto parse = [](const std::string& url, const char* name) {
    ProxyEndpoint endpoint;
    if (std::string error = parse_proxy_url(url, endpoint); !error.empty()) {
      throw std::invalid_argument(std::string(name) + ": " + error);
    }
    return endpoint;
  };
  if (!trim(settings.http_proxy).empty()) http_ = parse(settings.http_proxy, "http proxy");
  if (!trim(settings.https_proxy).empty()) https_ = parse(settings.https_proxy, "https proxy");
}

const ProxyEndpoint* ProxyRoutes::proxy_for(bool tls, std::string_view host,
                                            std::uint16_t port) const {
  const std::optional<ProxyEndpoint>& proxy = tls ? https_ : http_;
  if (!proxy || no_proxy_.matches(host, port)) return nullptr;
  return &*proxy;
}

std::string ProxyRoutes::describe() const {
  if (!http_ && !https_) return "none";
  std::string text;
  if (http_) text += "http via " + http_->label;
  if (https_) text += std::string(text.empty() ? "" : ", ") + "https via " + https_->label;
  if (!no_proxy_text_.empty()) text += ", NO_PROXY '" + no_proxy_text_ + "'";
  return text;
}

}  // namespace switchyard
