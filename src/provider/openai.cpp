// OpenAI-compatible chat completions and Azure OpenAI: the request body and the reading of
// chat.completion responses. Failures are classified in provider_common.cpp.
#include "switchyard/provider/openai.h"

#include <rapidjson/writer.h>

#include "provider/provider_common.h"
#include "switchyard/provider/adapter.h"

namespace switchyard {
namespace {

using provider_detail::int_member;
using provider_detail::malformed;
using provider_detail::string_member;

// OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 ...) reject `max_tokens` (they take
// `max_completion_tokens`, which also bounds the hidden reasoning tokens) and any temperature
// but the default 1. Recognised by name, a provider prefix ("openai/") aside.
bool openai_reasoning_model(std::string_view model) {
  if (auto slash = model.rfind('/'); slash != std::string_view::npos)
    model.remove_prefix(slash + 1);
  for (std::string_view prefix : {"o1", "o3", "o4", "gpt-5"}) {
    if (model.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// The chat completions body shared by OpenAI and Azure. Azure takes the model from the URL.
void write_chat_body(const RequestEvent& request, const DeploymentConfig& deployment,
                     bool with_model, std::string& body) {
  std::size_t estimate = 64 + deployment.model.size();
  for (const ChatMessage& m : request.messages) estimate += 32 + m.role.size() + m.content.size();
  body.reserve(estimate + estimate / 8);  // room for escapes

  provider_detail::StringOutput stream{body};
  rapidjson::Writer<provider_detail::StringOutput> writer(stream);
  writer.StartObject();
  if (with_model) {
    writer.Key("model");
    writer.String(deployment.model.data(),
                  static_cast<rapidjson::SizeType>(deployment.model.size()));
  }
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
  const bool reasoning = openai_reasoning_model(deployment.model);
  // Always sent, so no answer can be longer than the budget's worst case assumed.
  writer.Key(reasoning ? "max_completion_tokens" : "max_tokens");
  writer.Int64(output_cap(request, deployment));
  if (request.temperature && (!reasoning || *request.temperature == 1.0)) {
    writer.Key("temperature");
    writer.Double(*request.temperature);
  }
  writer.EndObject();
}

// Percent-encodes everything but RFC 3986 unreserved characters, for a path segment or a
// query value taken from the config.
void append_url_encoded(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
}

std::string normalise_finish_reason(std::string_view reason) {
  // function_call is the pre-tools name of the same thing.
  if (reason == "function_call") return kFinishToolCalls;
  return std::string(reason);
}

ProviderOutcome parse_chat_completion(const HttpResponse& response) {
  ProviderOutcome outcome;
  rapidjson::Document doc;
  if (!provider_detail::parse_success_body(response, doc, outcome)) return outcome;

  auto choices = doc.FindMember("choices");
  if (choices == doc.MemberEnd() || !choices->value.IsArray() || choices->value.Empty()) {
    // Some proxies answer 200 with an error object; say what the provider said. (Azure never
    // answers a filtered prompt this way: that is a 400 with code content_filter.)
    std::string why = "no choices";
    if (std::string error = provider_detail::error_text_of(doc); !error.empty())
      why += " (error: " + error + ")";
    return malformed(std::move(outcome), why);
  }
  const rapidjson::Value& choice = choices->value[0];
  if (!choice.IsObject()) return malformed(std::move(outcome), "choices[0] is not an object");
  outcome.finish_reason = normalise_finish_reason(string_member(choice, "finish_reason"));
  auto message = choice.FindMember("message");
  const bool filtered = outcome.finish_reason == kFinishContentFilter;
  if (message == choice.MemberEnd() || !message->value.IsObject()) {
    // Azure may leave the message out of a choice whose completion it filtered.
    if (!filtered) return malformed(std::move(outcome), "choices[0].message is missing");
  } else {
    auto content = message->value.FindMember("content");
    if (content == message->value.MemberEnd()) {
      if (!filtered) return malformed(std::move(outcome), "choices[0].message.content is missing");
    } else if (content->value.IsString()) {
      outcome.content.assign(content->value.GetString(), content->value.GetStringLength());
    } else if (!content->value.IsNull()) {  // null: e.g. a reasoning model that used every token
      return malformed(std::move(outcome), "choices[0].message.content is not a string");
    }
  }

  auto usage = doc.FindMember("usage");
  if (usage != doc.MemberEnd() && usage->value.IsObject()) {
    const rapidjson::Value& u = usage->value;
    outcome.usage_reported = true;
    outcome.usage.input_tokens = int_member(u, "prompt_tokens");
    outcome.usage.output_tokens = int_member(u, "completion_tokens");
    auto prompt_details = u.FindMember("prompt_tokens_details");
    if (prompt_details != u.MemberEnd() && prompt_details->value.IsObject()) {
      outcome.usage.cached_input_tokens = int_member(prompt_details->value, "cached_tokens");
    }
    if (outcome.usage.cached_input_tokens == 0) {
      // DeepSeek reports cache hits at the top level; prompt_tokens includes them.
      outcome.usage.cached_input_tokens = int_member(u, "prompt_cache_hit_tokens");
    }
    auto completion_details = u.FindMember("completion_tokens_details");
    if (completion_details != u.MemberEnd() && completion_details->value.IsObject()) {
      outcome.usage.reasoning_tokens = int_member(completion_details->value, "reasoning_tokens");
    }
  }

  return provider_detail::completed(
      std::move(outcome), filtered,
      "the provider filtered the completion (finish_reason content_filter)");
}

}  // namespace

HttpRequest build_openai_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                 const std::string& api_key) {
  HttpRequest out;
  out.url = provider_detail::endpoint_url(deployment.api_base, "/chat/completions");
  if (!api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + api_key);
  write_chat_body(request, deployment, /*with_model=*/true, out.body);
  return out;
}

HttpRequest build_azure_openai_request(const RequestEvent& request,
                                       const DeploymentConfig& deployment,
                                       const std::string& api_key) {
  HttpRequest out;
  std::string_view base = provider_detail::trim_trailing_slashes(deployment.api_base);
  out.url.reserve(base.size() + deployment.model.size() + deployment.api_version.size() + 64);
  out.url.append(base).append("/openai/deployments/");
  append_url_encoded(out.url, deployment.model);
  out.url.append("/chat/completions?api-version=");
  append_url_encoded(out.url, deployment.api_version);
  if (!api_key.empty()) out.headers.emplace_back("api-key", api_key);
  write_chat_body(request, deployment, /*with_model=*/false, out.body);
  return out;
}

ProviderOutcome parse_openai_response(const HttpResponse& response,
                                      std::string_view secret_to_redact) {
  return provider_detail::parse_response(
      response, secret_to_redact, parse_chat_completion,
      {"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"});
}

ProviderOutcome parse_openai_response(const HttpResponse& response) {
  return parse_openai_response(response, {});
}

}  // namespace switchyard
