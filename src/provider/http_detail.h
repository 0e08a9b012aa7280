#pragma once
// Private to the HTTP client (http_client.cpp): the request and response header rules and the
// text of its messages, kept apart from the connection machinery so they are read (and changed)
// on their own.
#include <string>
#include <string_view>

#include "switchyard/provider/http_client.h"

namespace switchyard::http_detail {

// For messages: a query string may carry credentials (some providers take ?key=...).
std::string without_query(std::string_view url);
// How a timeout is named in transport_error: "timed out (first-byte timeout, 200 ms)".
std::string timed_out_text(std::string_view which, int timeout_ms);
bool iequals(std::string_view a, std::string_view b);
// Header names must be tokens and values must not contain CR/LF/NUL (header injection); the
// client's own headers may not be given. An error sentence naming the header (never its value:
// values carry API keys), or "".
std::string check_request_headers(const HttpRequest& request);
// The response headers adapters read: retry waits and rate-limit headroom (OpenAI/Azure
// x-ratelimit-*, Anthropic anthropic-ratelimit-*). Everything else is dropped as it is read.
bool is_kept_response_header(std::string_view name);

}  // namespace switchyard::http_detail
