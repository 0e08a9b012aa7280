#pragma once
// Shared by the provider adapters (OpenAI-compatible, Azure OpenAI, Anthropic): JSON helpers and
// the classification of failed responses, which is the same for every provider because their
// error bodies share a shape ({"error": {"message", "type", "code"}}) and their HTTP statuses
// mean the same things. Private to src/provider/.
#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/provider/outcome.h"

namespace switchyard::provider_detail {

// RapidJSON output stream that appends straight into a std::string: no intermediate
// StringBuffer and no second copy of the body.
struct StringOutput {
  using Ch = char;
  std::string& out;
  void Put(char c) { out.push_back(c); }
  void Flush() {}
};

// `base` without trailing slashes.
std::string_view trim_trailing_slashes(std::string_view base);
// `path` ("/messages") under `api_base`, whose trailing slashes are dropped.
std::string endpoint_url(std::string_view api_base, std::string_view path);

// The last step of every success parse: the outcome of a readable completion is ok, or
// content_filtered with `why` as its message when the provider's filter stopped it.
// A usage count outside [0, kMaxUsageTokens] makes the answer malformed (not billed).
ProviderOutcome completed(ProviderOutcome outcome, bool filtered, const char* why);
// No model reads or writes more in one call (the largest context windows are ~2M tokens).
inline constexpr std::int64_t kMaxUsageTokens = 10'000'000;

// Cuts `text` to at most `max_chars` bytes without splitting a UTF-8 sequence ("..." appended).
std::string truncate_utf8(std::string_view text, std::size_t max_chars);

// Replaces every occurrence of `secret` in `text` (a provider echoing the key back).
void redact(std::string& text, std::string_view secret);

// A string member of `object`, or empty when absent or not a string.
std::string_view string_member(const rapidjson::Value& object, const char* name);
// An integer member of `object`, or 0 when absent, null or not a number.
std::int64_t int_member(const rapidjson::Value& object, const char* name);

// `outcome` as kFatal with "malformed provider response: <why>".
ProviderOutcome malformed(ProviderOutcome outcome, std::string_view why);

// Parses a 2xx body into `doc`. False (and `outcome` made malformed) when it is not a JSON object.
bool parse_success_body(const HttpResponse& response, rapidjson::Document& doc,
                        ProviderOutcome& outcome);

// The provider's own error text in a body that should have been a completion (some proxies
// answer 200 with an error object), for the malformed message; empty when there is none.
std::string error_text_of(const rapidjson::Document& doc);

// The whole parse of a response: transport failures and non-2xx statuses are classified here,
// a 2xx goes to the adapter's `parse_success`. error_message is redacted of `secret` either way.
// The adapter's names of its two rate-limit headroom headers (lower case), read into
// ProviderOutcome::remaining_requests / remaining_tokens whatever the status.
struct RateLimitHeaders {
  std::string_view remaining_requests;
  std::string_view remaining_tokens;
};
ProviderOutcome parse_response(const HttpResponse& response, std::string_view secret,
                               ProviderOutcome (*parse_success)(const HttpResponse&),
                               RateLimitHeaders headers);

}  // namespace switchyard::provider_detail
