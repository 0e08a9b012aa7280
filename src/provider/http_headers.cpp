#include <algorithm>
#include <cctype>

#include "provider/http_detail.h"

namespace switchyard {

const std::string* HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

namespace http_detail {

// For messages: a query string may carry credentials (some providers take ?key=...).
std::string without_query(std::string_view url) {
  return std::string(url.substr(0, url.find('?')));
}

// How a timeout is named in transport_error: "timed out (first-byte timeout, 200 ms)".
std::string timed_out_text(std::string_view which, int timeout_ms) {
  return "timed out (" + std::string(which) + " timeout, " + std::to_string(timeout_ms) + " ms)";
}

namespace {
bool is_token_char(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Header names must be tokens and values must not contain CR/LF (header injection). The
// message names the header but never its value: values carry API keys.
std::string check_request_headers(const HttpRequest& request) {
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      return "invalid request header name '" + name + "'";
    }
    if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos) {
      return "request header '" + name + "' has a value containing CR, LF or NUL";
    }
    if (iequals(name, "host") || iequals(name, "content-length") || iequals(name, "connection") ||
        iequals(name, "transfer-encoding")) {
      return "request header '" + name + "' is set by the HTTP client and must not be given";
    }
  }
  return {};
}

// The headers adapters read: retry waits and rate-limit headroom (OpenAI/Azure x-ratelimit-*,
// Anthropic anthropic-ratelimit-*). Everything else is dropped as it is read.
bool is_kept_response_header(std::string_view name) {
  auto starts_with = [name](std::string_view prefix) {
    return name.size() > prefix.size() && iequals(name.substr(0, prefix.size()), prefix);
  };
  return iequals(name, "retry-after") || iequals(name, "retry-after-ms") ||
         starts_with("x-ratelimit-") || starts_with("anthropic-ratelimit-");
}

}  // namespace http_detail
}  // namespace switchyard
