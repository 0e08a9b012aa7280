// Classification of failed provider responses, shared by every adapter.
//
// Classification is what the retry/fallback logic acts on, so it is deliberately conservative:
// anything that may succeed when asked again (transport errors, 408/409/5xx) is kRetryable,
// anything that will fail the same way everywhere (other 4xx, a 2xx we cannot read) is kFatal.
#include "provider/provider_common.h"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <cctype>

namespace switchyard::provider_detail {
namespace {

constexpr std::size_t kMaxErrorMessageChars = 500;

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

// The parts of an error body that classification and the operator need. OpenAI, Azure OpenAI
// and Anthropic all nest them in an `error` object: OpenAI {"message","type","param","code"},
// Azure {"code","message","innererror"}, Anthropic {"type","message"} (under {"type":"error"}).
struct ProviderError {
  std::string message;  // error.message, or a top-level message/detail, or empty
  std::string code;     // error.code (string or number), empty when absent or null
  std::string type;     // error.type (OpenAI invalid_request_error, Anthropic overloaded_error)
};

ProviderError parse_error_body(const rapidjson::Document& doc) {
  ProviderError error;
  if (!doc.IsObject()) return error;
  auto it = doc.FindMember("error");
  if (it != doc.MemberEnd() && it->value.IsObject()) {
    const rapidjson::Value& e = it->value;
    error.message = string_member(e, "message");
    error.type = string_member(e, "type");
    auto code = e.FindMember("code");
    if (code != e.MemberEnd() && code->value.IsString()) {
      error.code = code->value.GetString();
    } else if (code != e.MemberEnd() && code->value.IsInt64()) {
      error.code = std::to_string(code->value.GetInt64());
    }
    return error;
  }
  if (it != doc.MemberEnd() && it->value.IsString()) {  // {"error": "text"} (vLLM, proxies)
    error.message = it->value.GetString();
    return error;
  }
  error.message = string_member(doc, "message");
  if (error.message.empty()) error.message = string_member(doc, "detail");  // FastAPI-style
  return error;
}

// OpenAI and Azure send code context_length_exceeded; OpenAI-compatible servers (vLLM, Groq,
// proxies) often send only the message; Anthropic sends invalid_request_error with "prompt is too
// long: 208310 tokens > 200000 maximum" or "input length and `max_tokens` exceed context limit".
bool says_context_too_long(const ProviderError& error) {
  if (error.code == "context_length_exceeded") return true;
  for (std::string_view phrase :
       {"context_length_exceeded", "maximum context length", "context length exceeded",
        "prompt is too long", "exceed context limit"}) {
    if (contains_ignoring_case(error.message, phrase)) return true;
  }
  return false;
}

// Azure OpenAI rejects a prompt its content filter blocks with 400 and code content_filter
// (innererror.code ResponsibleAIPolicyViolation); OpenAI uses content_policy_violation.
bool says_content_filtered(const ProviderError& error) {
  return error.code == "content_filter" || error.code == "content_policy_violation";
}

std::string describe_http_error(int status, const ProviderError& error, std::string_view body) {
  std::string out = "HTTP " + std::to_string(status) + " from provider";
  if (!error.message.empty()) {
    out += ": ";
    out += truncate_utf8(error.message, kMaxErrorMessageChars);
  } else if (!body.empty()) {
    out += ": ";
    out += truncate_utf8(body, kMaxErrorMessageChars);
  }
  const std::string& code = error.code.empty() ? error.type : error.code;
  if (!code.empty()) {
    out += " (code ";
    out += truncate_utf8(code, 100);
    out += ")";
  }
  return out;
}

ProviderOutcome classify_failure(const HttpResponse& response) {
  ProviderOutcome outcome;
  outcome.http_status = response.status;
  if (response.status == 0) {  // connect refused, reset, timeout: nothing was answered
    // A certificate that does not verify will not verify on the next try either, and talking
    // to that endpoint anyway is what verification exists to prevent: like a bad key, the
    // deployment is unusable until someone fixes it. Everything else may pass when asked again.
    const bool untrusted =
        response.transport_error.find("certificate verify failed") != std::string::npos;
    outcome.kind = untrusted ? OutcomeKind::kAuth : OutcomeKind::kRetryable;
    outcome.error_message =
        response.transport_error.empty() ? std::string("no response") : response.transport_error;
    return outcome;
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(response.body.data(), response.body.size());
  ProviderError error;
  if (!doc.HasParseError()) error = parse_error_body(doc);
  // An unreadable error body (an HTML page from a load balancer) is still worth showing.
  std::string_view raw_body =
      doc.HasParseError() ? std::string_view(response.body) : std::string_view();
  outcome.error_message = describe_http_error(response.status, error, raw_body);
  outcome.retry_after_ms = retry_after_ms(response);

  const int status = response.status;
  if (status == 429) {
    outcome.kind = OutcomeKind::kRateLimited;
  } else if (status == 401 || status == 403 || status == 402) {
    // 402: Anthropic billing_error. Like a revoked key, nothing sent to this deployment will
    // succeed until someone acts, so it is handled as an auth failure (deployment disabled).
    outcome.kind = OutcomeKind::kAuth;
  } else if (status == 408 || status == 409 || status >= 500) {
    // 5xx includes Anthropic's 529 overloaded_error and 504 timeout_error.
    outcome.kind = OutcomeKind::kRetryable;
  } else if (says_context_too_long(error)) {
    outcome.kind = OutcomeKind::kContextTooLong;
  } else if (says_content_filtered(error)) {
    outcome.kind = OutcomeKind::kContentFiltered;
  } else {
    outcome.kind = OutcomeKind::kFatal;
  }
  return outcome;
}

}  // namespace

ProviderOutcome completed(ProviderOutcome outcome, bool filtered, const char* why) {
  const Usage& u = outcome.usage;
  for (std::int64_t n : {u.input_tokens, u.output_tokens, u.cached_input_tokens,
                         u.cache_creation_input_tokens, u.reasoning_tokens}) {
    if (n < 0 || n > kMaxUsageTokens) {
      // Billing it would saturate the cost and exhaust the team's budget on one lie.
      return malformed(std::move(outcome), "usage reports " + std::to_string(n) +
                                               " tokens for one call (accepted: 0 to " +
                                               std::to_string(kMaxUsageTokens) + ")");
    }
  }
  if (filtered) {
    outcome.kind = OutcomeKind::kContentFiltered;
    outcome.error_message = why;
  } else {
    outcome.kind = OutcomeKind::kOk;
  }
  return outcome;
}

std::string endpoint_url(std::string_view api_base, std::string_view path) {
  std::string_view base = trim_trailing_slashes(api_base);
  std::string url;
  url.reserve(base.size() + path.size());
  url.append(base).append(path);
  return url;
}

std::string_view trim_trailing_slashes(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return base;
}

std::string truncate_utf8(std::string_view text, std::size_t max_chars) {
  if (text.size() <= max_chars) return std::string(text);
  std::size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out(text.substr(0, cut));
  out += "...";
  return out;
}

void redact(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  constexpr std::string_view kMark = "[redacted]";
  for (std::size_t pos = text.find(secret); pos != std::string::npos;
       pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), kMark);
    pos += kMark.size();
  }
}

std::string_view string_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::int64_t int_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) return 0;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsNumber()) {
    // A double out of int64's range is undefined to convert: -1 marks it absurd (completed()).
    const double d = it->value.GetDouble();
    return d >= 0 && d < 9.2e18 ? static_cast<std::int64_t>(d) : -1;
  }
  return 0;
}

ProviderOutcome malformed(ProviderOutcome outcome, std::string_view why) {
  outcome.kind = OutcomeKind::kFatal;
  outcome.error_message = "malformed provider response: ";
  outcome.error_message += why;
  return outcome;
}

bool parse_success_body(const HttpResponse& response, rapidjson::Document& doc,
                        ProviderOutcome& outcome) {
  doc.Parse<rapidjson::kParseIterativeFlag>(response.body.data(), response.body.size());
  if (doc.HasParseError()) {
    outcome = malformed(std::move(outcome), std::string("invalid JSON at offset ") +
                                                std::to_string(doc.GetErrorOffset()) + ": " +
                                                rapidjson::GetParseError_En(doc.GetParseError()));
    return false;
  }
  if (!doc.IsObject()) {
    outcome = malformed(std::move(outcome), "body is not a JSON object");
    return false;
  }
  return true;
}

std::string error_text_of(const rapidjson::Document& doc) {
  return truncate_utf8(parse_error_body(doc).message, 300);
}

namespace {
// A non-negative integer header value; nullopt when absent or anything else.
std::optional<std::int64_t> count_header(const HttpResponse& response, std::string_view name) {
  const std::string* v = response.header(name);
  if (!v || v->empty() || v->size() > 18) return std::nullopt;
  std::int64_t n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}
}  // namespace

ProviderOutcome parse_response(const HttpResponse& response, std::string_view secret,
                               ProviderOutcome (*parse_success)(const HttpResponse&),
                               RateLimitHeaders headers) {
  ProviderOutcome outcome = response.status >= 200 && response.status < 300
                                ? parse_success(response)
                                : classify_failure(response);
  outcome.http_status = response.status;
  outcome.remaining_requests = count_header(response, headers.remaining_requests);
  outcome.remaining_tokens = count_header(response, headers.remaining_tokens);
  redact(outcome.error_message, secret);
  return outcome;
}

}  // namespace switchyard::provider_detail
