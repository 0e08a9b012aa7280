// OpenAI-compatible chat completions: the request body and the classification of responses.
//
// Classification is what the retry/fallback logic acts on, so it is deliberately conservative:
// anything that may succeed when asked again (transport errors, 408/409/5xx) is kRetryable,
// anything that will fail the same way everywhere (other 4xx, a 200 we cannot read) is kFatal.
#include "switchyard/provider/openai.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

namespace switchyard {
namespace {

constexpr std::size_t kMaxErrorMessageChars = 500;

// RapidJSON output stream that appends straight into a std::string: no intermediate
// StringBuffer and no second copy of the body.
struct StringOutput {
  using Ch = char;
  std::string& out;
  void Put(char c) { out.push_back(c); }
  void Flush() {}
};

// Cuts `text` to at most `max_chars` bytes without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string_view text, std::size_t max_chars) {
  if (text.size() <= max_chars) return std::string(text);
  std::size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out(text.substr(0, cut));
  out += "...";
  return out;
}

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

// Parses a non-negative decimal number ("2", "0.5", " 30 "); nullopt for anything else,
// including HTTP dates, which would need the current time and are therefore ignored.
std::optional<double> parse_non_negative_number(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

std::int64_t retry_after_ms_of(const HttpResponse& response) {
  if (const std::string* ms = response.header("retry-after-ms")) {
    if (auto value = parse_non_negative_number(*ms)) return static_cast<std::int64_t>(*value);
  }
  if (const std::string* seconds = response.header("retry-after")) {
    if (auto value = parse_non_negative_number(*seconds)) {
      return static_cast<std::int64_t>(*value * 1000.0);
    }
  }
  return -1;
}

// The parts of an error body that classification and the operator need.
struct ProviderError {
  std::string message;  // error.message, or a top-level message/detail, or empty
  std::string code;     // error.code (string or number), or error.type when there is no code
};

std::string_view string_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

ProviderError parse_error_body(const rapidjson::Document& doc) {
  ProviderError error;
  if (!doc.IsObject()) return error;
  auto it = doc.FindMember("error");
  if (it != doc.MemberEnd() && it->value.IsObject()) {
    const rapidjson::Value& e = it->value;
    error.message = string_member(e, "message");
    auto code = e.FindMember("code");
    if (code != e.MemberEnd() && code->value.IsString()) {
      error.code = code->value.GetString();
    } else if (code != e.MemberEnd() && code->value.IsInt64()) {
      error.code = std::to_string(code->value.GetInt64());
    } else {
      error.code = string_member(e, "type");
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

bool says_context_too_long(const ProviderError& error) {
  if (error.code == "context_length_exceeded") return true;
  // OpenAI-compatible servers (vLLM, Groq, proxies) often send only the message.
  return contains_ignoring_case(error.message, "context_length_exceeded") ||
         contains_ignoring_case(error.message, "maximum context length") ||
         contains_ignoring_case(error.message, "context length exceeded") ||
         contains_ignoring_case(error.message, "prompt is too long");
}

// Replaces every occurrence of `secret` in `text` (a provider echoing the key back).
void redact(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  for (std::size_t pos = text.find(secret); pos != std::string::npos;
       pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "[redacted]");
    pos += 10;
  }
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
  if (!error.code.empty()) {
    out += " (code ";
    out += truncate_utf8(error.code, 100);
    out += ")";
  }
  return out;
}

std::int64_t int_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) return 0;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsNumber()) return static_cast<std::int64_t>(it->value.GetDouble());
  return 0;
}

ProviderOutcome malformed(ProviderOutcome outcome, std::string_view why) {
  outcome.kind = OutcomeKind::kFatal;
  outcome.error_message = "malformed provider response: ";
  outcome.error_message += why;
  return outcome;
}

ProviderOutcome parse_success(ProviderOutcome outcome, const HttpResponse& response) {
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (doc.HasParseError()) {
    return malformed(std::move(outcome), std::string("invalid JSON at offset ") +
                                             std::to_string(doc.GetErrorOffset()) + ": " +
                                             rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return malformed(std::move(outcome), "body is not a JSON object");

  auto choices = doc.FindMember("choices");
  if (choices == doc.MemberEnd() || !choices->value.IsArray() || choices->value.Empty()) {
    // Some proxies answer 200 with an error object; say what the provider said.
    ProviderError error = parse_error_body(doc);
    std::string why = "no choices";
    if (!error.message.empty()) why += " (error: " + truncate_utf8(error.message, 300) + ")";
    return malformed(std::move(outcome), why);
  }
  const rapidjson::Value& choice = choices->value[0];
  if (!choice.IsObject()) return malformed(std::move(outcome), "choices[0] is not an object");
  auto message = choice.FindMember("message");
  if (message == choice.MemberEnd() || !message->value.IsObject()) {
    return malformed(std::move(outcome), "choices[0].message is missing");
  }
  auto content = message->value.FindMember("content");
  if (content == message->value.MemberEnd()) {
    return malformed(std::move(outcome), "choices[0].message.content is missing");
  }
  if (content->value.IsString()) {
    outcome.content.assign(content->value.GetString(), content->value.GetStringLength());
  } else if (!content->value.IsNull()) {  // null: e.g. a reasoning model that used every token
    return malformed(std::move(outcome), "choices[0].message.content is not a string");
  }
  outcome.finish_reason = string_member(choice, "finish_reason");

  auto usage = doc.FindMember("usage");
  if (usage != doc.MemberEnd() && usage->value.IsObject()) {
    const rapidjson::Value& u = usage->value;
    outcome.usage.input_tokens = int_member(u, "prompt_tokens");
    outcome.usage.output_tokens = int_member(u, "completion_tokens");
    auto details = u.FindMember("prompt_tokens_details");
    if (details != u.MemberEnd() && details->value.IsObject()) {
      outcome.usage.cached_input_tokens = int_member(details->value, "cached_tokens");
    }
  }

  if (outcome.finish_reason == "content_filter") {
    outcome.kind = OutcomeKind::kContentFiltered;
    outcome.error_message = "the provider filtered the completion (finish_reason content_filter)";
    return outcome;
  }
  outcome.kind = OutcomeKind::kOk;
  return outcome;
}

}  // namespace

HttpRequest build_openai_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                 const std::string& api_key) {
  HttpRequest out;
  std::string_view base = deployment.api_base;
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  out.url.reserve(base.size() + 17);
  out.url.append(base).append("/chat/completions");

  if (!api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + api_key);

  std::size_t estimate = 64 + deployment.model.size();
  for (const ChatMessage& m : request.messages) estimate += 32 + m.role.size() + m.content.size();
  out.body.reserve(estimate + estimate / 8);  // room for escapes

  StringOutput stream{out.body};
  rapidjson::Writer<StringOutput> writer(stream);
  writer.StartObject();
  writer.Key("model");
  writer.String(deployment.model.data(), static_cast<rapidjson::SizeType>(deployment.model.size()));
  writer.Key("messages");
  writer.StartArray();
  for (const ChatMessage& m : request.messages) {
    writer.StartObject();
    writer.Key("role");
    writer.String(m.role.data(), static_cast<rapidjson::SizeType>(m.role.size()));
    writer.Key("content");
    writer.String(m.content.data(), static_cast<rapidjson::SizeType>(m.content.size()));
    writer.EndObject();
  }
  writer.EndArray();
  if (request.max_tokens) {
    writer.Key("max_tokens");
    writer.Int64(*request.max_tokens);
  }
  if (request.temperature) {
    writer.Key("temperature");
    writer.Double(*request.temperature);
  }
  writer.EndObject();
  return out;
}

ProviderOutcome parse_openai_response(const HttpResponse& response) {
  return parse_openai_response(response, {});
}

ProviderOutcome parse_openai_response(const HttpResponse& response,
                                      std::string_view secret_to_redact) {
  ProviderOutcome outcome;
  outcome.http_status = response.status;

  if (response.status == 0) {
    outcome.kind = OutcomeKind::kRetryable;
    outcome.error_message =
        response.transport_error.empty() ? std::string("no response") : response.transport_error;
    redact(outcome.error_message, secret_to_redact);
    return outcome;
  }
  if (response.status >= 200 && response.status < 300) {
    outcome = parse_success(std::move(outcome), response);
    redact(outcome.error_message, secret_to_redact);
    return outcome;
  }

  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  ProviderError error;
  if (!doc.HasParseError()) error = parse_error_body(doc);
  // An unreadable error body (an HTML page from a load balancer) is still worth showing.
  std::string_view raw_body =
      doc.HasParseError() ? std::string_view(response.body) : std::string_view();
  outcome.error_message = describe_http_error(response.status, error, raw_body);
  redact(outcome.error_message, secret_to_redact);
  outcome.retry_after_ms = retry_after_ms_of(response);

  const int status = response.status;
  if (status == 429) {
    outcome.kind = OutcomeKind::kRateLimited;
  } else if (status == 401 || status == 403) {
    outcome.kind = OutcomeKind::kAuth;
  } else if (status == 408 || status == 409 || status >= 500) {
    outcome.kind = OutcomeKind::kRetryable;
  } else if (status == 400 && says_context_too_long(error)) {
    outcome.kind = OutcomeKind::kContextTooLong;
  } else if (status == 400 && error.code == "content_filter") {
    // Azure OpenAI rejects a filtered prompt with 400 and code content_filter.
    outcome.kind = OutcomeKind::kContentFiltered;
  } else {
    outcome.kind = OutcomeKind::kFatal;
  }
  return outcome;
}

}  // namespace switchyard
