// The Anthropic Messages API: the request body (system prompt lifted out of the messages,
// max_tokens always present) and the reading of Message responses. Failures are classified in
// provider_common.cpp: Anthropic's error body has the same `error.type` / `error.message` shape.
#include "switchyard/provider/anthropic.h"

#include <rapidjson/writer.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "provider/provider_common.h"
#include "switchyard/provider/adapter.h"

namespace switchyard {
namespace {

using provider_detail::int_member;
using provider_detail::malformed;
using provider_detail::string_member;

constexpr std::string_view kTurnSeparator = "\n\n";

void write_string(rapidjson::Writer<provider_detail::StringOutput>& writer, std::string_view s) {
  writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string normalise_stop_reason(std::string_view reason) {
  if (reason == "end_turn" || reason == "stop_sequence") return kFinishStop;
  if (reason == "max_tokens" || reason == "model_context_window_exceeded") return kFinishLength;
  if (reason == "tool_use") return kFinishToolCalls;
  if (reason == "refusal") return kFinishContentFilter;
  return std::string(reason);  // pause_turn and whatever comes next
}

ProviderOutcome parse_message(const HttpResponse& response) {
  ProviderOutcome outcome;
  rapidjson::Document doc;
  if (!provider_detail::parse_success_body(response, doc, outcome)) return outcome;

  auto content = doc.FindMember("content");
  if (content == doc.MemberEnd() || !content->value.IsArray()) {
    std::string why = "no content array";
    if (std::string error = provider_detail::error_text_of(doc); !error.empty())
      why += " (error: " + error + ")";
    return malformed(std::move(outcome), why);
  }
  for (const rapidjson::Value& block : content->value.GetArray()) {
    if (!block.IsObject()) return malformed(std::move(outcome), "a content block is not an object");
    if (string_member(block, "type") != "text") continue;
    auto text = block.FindMember("text");
    if (text == block.MemberEnd() || !text->value.IsString())
      return malformed(std::move(outcome), "a text content block has no text");
    outcome.content.append(text->value.GetString(), text->value.GetStringLength());
  }
  outcome.finish_reason = normalise_stop_reason(string_member(doc, "stop_reason"));

  auto usage = doc.FindMember("usage");
  if (usage != doc.MemberEnd() && usage->value.IsObject()) {
    const rapidjson::Value& u = usage->value;
    outcome.usage_reported = true;
    const std::int64_t uncached = int_member(u, "input_tokens");
    const std::int64_t cache_read = int_member(u, "cache_read_input_tokens");
    const std::int64_t cache_creation = int_member(u, "cache_creation_input_tokens");
    outcome.usage.input_tokens = uncached + cache_read + cache_creation;
    outcome.usage.cached_input_tokens = cache_read;
    outcome.usage.cache_creation_input_tokens = cache_creation;
    outcome.usage.output_tokens = int_member(u, "output_tokens");
  }

  const bool refused = outcome.finish_reason == kFinishContentFilter;
  return provider_detail::completed(std::move(outcome), refused,
                                    "the model declined to answer (stop_reason refusal)");
}

}  // namespace

HttpRequest build_anthropic_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                    const std::string& api_key) {
  HttpRequest out;
  out.url = provider_detail::endpoint_url(deployment.api_base, "/messages");
  if (!api_key.empty()) out.headers.emplace_back("x-api-key", api_key);
  out.headers.emplace_back("anthropic-version", kAnthropicVersion);

  std::string system;
  // The conversation without system messages, consecutive same-role messages merged.
  std::vector<std::pair<std::string_view, std::string>> turns;
  std::size_t estimate = 96 + deployment.model.size();
  for (const ChatMessage& m : request.messages) {
    estimate += 32 + m.role.size() + m.content.size();
    if (m.role == "system") {
      if (!system.empty()) system += kTurnSeparator;
      system += m.content;
    } else if (!turns.empty() && turns.back().first == m.role) {
      turns.back().second.append(kTurnSeparator).append(m.content);
    } else {
      turns.emplace_back(m.role, m.content);
    }
  }
  out.body.reserve(estimate + estimate / 8);  // room for escapes

  provider_detail::StringOutput stream{out.body};
  rapidjson::Writer<provider_detail::StringOutput> writer(stream);
  writer.StartObject();
  writer.Key("model");
  write_string(writer, deployment.model);
  writer.Key("max_tokens");
  writer.Int64(output_cap(request, deployment));
  if (!system.empty()) {
    writer.Key("system");
    write_string(writer, system);
  }
  writer.Key("messages");
  writer.StartArray();
  for (const auto& [role, content] : turns) {
    writer.StartObject();
    writer.Key("role");
    write_string(writer, role);
    writer.Key("content");
    write_string(writer, content);
    writer.EndObject();
  }
  writer.EndArray();
  if (request.temperature) {
    writer.Key("temperature");
    writer.Double(std::min(*request.temperature, 1.0));
  }
  writer.EndObject();
  return out;
}

ProviderOutcome parse_anthropic_response(const HttpResponse& response,
                                         std::string_view secret_to_redact) {
  return provider_detail::parse_response(
      response, secret_to_redact, parse_message,
      {"anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-remaining"});
}

}  // namespace switchyard
