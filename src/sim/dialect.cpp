#include "sim/dialect.h"

#include <algorithm>
#include <functional>

#include "sim/sim_format.h"
#include "switchyard/common/enum_names.h"

namespace switchyard::sim {

namespace {

std::string_view view(const rapidjson::Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

RequestProblem invalid(std::string message, std::string_view param = {}) {
  RequestProblem problem;
  problem.message = std::move(message);
  problem.param = param;
  return problem;
}

// Tokens of one piece of prompt text; notes the content-filter marker on the way.
std::uint32_t text_tokens(std::string_view text, bool& filtered) {
  if (!filtered && text.find(kContentFilterMarker) != std::string_view::npos) filtered = true;
  return approx_token_count(text);
}

constexpr std::uint32_t kImageTokens = 85;  // OpenAI's flat charge for a low-detail image

std::uint64_t combine(std::uint64_t hash, std::string_view text) {
  return mix64(hash ^ std::hash<std::string_view>{}(text));
}
constexpr std::uint64_t kPrefixHashSeed = 0x51D0C4C3E5ull;

// ---------------------------------------------------------------------------------------------
// OpenAI / Azure

// Tokens of one message's content: a string, null, or an array of content parts.
std::uint32_t openai_content_tokens(const rapidjson::Value& content, bool& filtered) {
  if (content.IsString()) return text_tokens(view(content), filtered);
  std::uint32_t tokens = 0;
  if (content.IsArray()) {
    for (const auto& part : content.GetArray()) {
      if (!part.IsObject()) continue;
      auto text = part.FindMember("text");
      if (text != part.MemberEnd() && text->value.IsString()) {
        tokens += text_tokens(view(text->value), filtered);
      } else if (part.HasMember("image_url")) {
        tokens += kImageTokens;
      }
    }
  }
  return tokens;
}

std::uint64_t hash_openai_content(std::uint64_t hash, const rapidjson::Value& content) {
  if (content.IsString()) return combine(hash, view(content));
  if (content.IsArray()) {
    for (const auto& part : content.GetArray()) {
      if (!part.IsObject()) continue;
      auto text = part.FindMember("text");
      if (text != part.MemberEnd() && text->value.IsString())
        hash = combine(hash, view(text->value));
    }
  }
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Anthropic

// "messages.3.content.1.text" style locations, built only for error messages.
std::string location(int message, int block, std::string_view field) {
  std::string where = message < 0 ? "system" : "messages." + std::to_string(message) + ".content";
  if (block >= 0) where += "." + std::to_string(block);
  if (!field.empty()) {
    where += '.';
    where += field;
  }
  return where;
}

// Walks system and message content in order, counting tokens and noting the last block with
// cache_control. Blocks are numbered in walk order (a string content is one block) so that
// hash_anthropic_prefix() can stop at the same block.
struct AnthropicWalk {
  std::uint32_t tokens = 0;
  std::uint32_t block = 0;
  bool has_breakpoint = false;
  std::uint32_t breakpoint_block = 0;
  std::uint32_t breakpoint_tokens = 0;
  bool filtered = false;
};

// `message` = -1 for the top-level system prompt.
std::optional<RequestProblem> walk_anthropic_content(const rapidjson::Value& content, int message,
                                                     AnthropicWalk& walk) {
  if (content.IsString()) {
    walk.tokens += text_tokens(view(content), walk.filtered);
    ++walk.block;
    return std::nullopt;
  }
  if (!content.IsArray()) {
    return invalid(location(message, -1, "") +
                   (message < 0 ? ": Input should be a valid string or a list of text blocks"
                                : ": Input should be a valid string or a list of content blocks"));
  }
  int index = 0;
  for (const auto& block : content.GetArray()) {
    if (!block.IsObject())
      return invalid(location(message, index, "") + ": Input should be a valid dictionary");
    auto type = block.FindMember("type");
    if (type == block.MemberEnd() || !type->value.IsString())
      return invalid(location(message, index, "type") + ": Field required");
    std::string_view kind = view(type->value);
    if (message < 0 && kind != "text")
      return invalid(location(message, index, "type") + ": Input should be 'text'");
    auto text = block.FindMember("text");
    if (kind == "text") {
      if (text == block.MemberEnd() || !text->value.IsString())
        return invalid(location(message, index, "text") + ": Field required");
      walk.tokens += text_tokens(view(text->value), walk.filtered);
    } else if (kind == "image" || kind == "document") {
      walk.tokens += kImageTokens;
    } else if (text != block.MemberEnd() && text->value.IsString()) {
      walk.tokens += text_tokens(view(text->value), walk.filtered);
    } else if (auto inner = block.FindMember("content");
               inner != block.MemberEnd() && inner->value.IsString()) {  // tool_result
      walk.tokens += text_tokens(view(inner->value), walk.filtered);
    }
    if (block.HasMember("cache_control")) {
      walk.has_breakpoint = true;
      walk.breakpoint_block = walk.block;
      walk.breakpoint_tokens = walk.tokens;
    }
    ++walk.block;
    ++index;
  }
  return std::nullopt;
}

bool system_present(const rapidjson::Value& system) {
  return (system.IsString() && system.GetStringLength() > 0) ||
         (system.IsArray() && !system.Empty());
}

// The hash of every block up to and including block number `last` (walk order), with roles.
std::uint64_t hash_anthropic_prefix(const rapidjson::Value& body, std::uint32_t last) {
  std::uint64_t hash = kPrefixHashSeed;
  std::uint32_t block = 0;
  // Returns false once block `last` has been hashed.
  auto take = [&](const rapidjson::Value& content) {
    if (content.IsString()) {
      hash = combine(hash, view(content));
      return block++ != last;
    }
    for (const auto& item : content.GetArray()) {
      auto type = item.FindMember("type");
      hash = combine(hash, view(type->value));
      auto text = item.FindMember("text");
      if (text != item.MemberEnd() && text->value.IsString())
        hash = combine(hash, view(text->value));
      if (block++ == last) return false;
    }
    return true;
  };
  if (auto system = body.FindMember("system");
      system != body.MemberEnd() && system_present(system->value)) {
    hash = combine(hash, "system");
    if (!take(system->value)) return hash;
  }
  for (const auto& message : body["messages"].GetArray()) {
    hash = combine(hash, view(message["role"]));
    if (!take(message["content"])) return hash;
  }
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Replies

void append_content_filter_results(std::string& body, bool filtered) {
  // Azure reports four harm categories; the simulator files a refusal under violence.
  body.append(R"({"hate":{"filtered":false,"severity":"safe"},)"
              R"("self_harm":{"filtered":false,"severity":"safe"},)"
              R"("sexual":{"filtered":false,"severity":"safe"},"violence":)");
  body.append(filtered ? R"({"filtered":true,"severity":"medium"}})"
                       : R"({"filtered":false,"severity":"safe"}})");
}

std::string_view openai_error_type(ErrorType type) {
  switch (type) {
    case ErrorType::rate_limit:
      return "requests";
    case ErrorType::server:
    case ErrorType::overloaded:
    case ErrorType::timeout:
      return "server_error";
    default:
      return "invalid_request_error";
  }
}

std::string_view anthropic_error_type(ErrorType type) {
  static constexpr std::array kNames{
      "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
      "timeout_error",         "request_too_large",    "rate_limit_error", "api_error",
      "overloaded_error"};
  static_assert(kNames.size() == static_cast<std::size_t>(ErrorType::overloaded) + 1);
  return enum_name(type, kNames, "api_error");
}

// Azure answers these from its gateway with {"error":{"code":"<status>","message":...}}.
std::string_view azure_gateway_code(ErrorType type) {
  switch (type) {
    case ErrorType::authentication:
      return "401";
    case ErrorType::permission:
      return "403";
    case ErrorType::not_found:
      return "404";
    case ErrorType::rate_limit:
      return "429";
    default:
      return {};
  }
}

}  // namespace

ErrorType error_type_for_status(int status) {
  switch (status) {
    case 400:
    case 422:
      return ErrorType::invalid_request;
    case 401:
      return ErrorType::authentication;
    case 403:
      return ErrorType::permission;
    case 404:
      return ErrorType::not_found;
    case 408:
    case 504:
      return ErrorType::timeout;
    case 413:
      return ErrorType::too_large;
    case 429:
      return ErrorType::rate_limit;
    case 529:
      return ErrorType::overloaded;
    default:
      return status >= 500 ? ErrorType::server : ErrorType::invalid_request;
  }
}

std::optional<RequestProblem> read_openai_chat(const rapidjson::Value& body, ChatRequest& out) {
  if (!body.IsObject()) return invalid("The request body must be a JSON object.");
  out.model = "provider-sim";
  if (auto it = body.FindMember("model"); it != body.MemberEnd()) {
    if (!it->value.IsString())
      return invalid("Invalid type for 'model': expected a string.", "model");
    out.model = view(it->value);
  }

  auto messages = body.FindMember("messages");
  if (messages == body.MemberEnd())
    return invalid("Missing required parameter: 'messages'.", "messages");
  if (!messages->value.IsArray() || messages->value.Empty())
    return invalid("Invalid 'messages': expected a non-empty array of messages.", "messages");
  const auto& list = messages->value;
  std::uint32_t prompt = kTokensReplyPriming;
  std::uint32_t prefix = 0;  // the leading system/developer messages
  rapidjson::SizeType prefix_end = 0;
  bool in_prefix = true;
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    const auto& message = list[i];
    if (!message.IsObject())
      return invalid("Invalid 'messages': each message must be an object.", "messages");
    auto role = message.FindMember("role");
    if (role == message.MemberEnd() || !role->value.IsString())
      return invalid("Missing required parameter: 'messages[].role'.", "messages");
    auto content = message.FindMember("content");
    if (content != message.MemberEnd() && !content->value.IsString() && !content->value.IsArray() &&
        !content->value.IsNull()) {
      return invalid(
          "Invalid type for 'messages[].content': expected a string, an array of content parts "
          "or null.",
          "messages");
    }
    std::uint32_t tokens = kTokensPerMessage;
    if (content != message.MemberEnd())
      tokens += openai_content_tokens(content->value, out.content_filter);
    if (message.HasMember("name")) tokens += kTokensPerName;
    prompt += tokens;
    std::string_view role_name = view(role->value);
    if (in_prefix && (role_name == "system" || role_name == "developer")) {
      prefix += tokens;
      prefix_end = i + 1;
    } else {
      in_prefix = false;
    }
  }
  out.prompt_tokens = prompt;
  if (prefix >= kCacheMinPrefixTokens) {
    std::uint64_t hash = kPrefixHashSeed;
    for (rapidjson::SizeType i = 0; i < prefix_end; ++i) {
      hash = combine(hash, view(list[i]["role"]));
      if (auto content = list[i].FindMember("content"); content != list[i].MemberEnd())
        hash = hash_openai_content(hash, content->value);
    }
    out.prefix_tokens = prefix;
    out.prefix_hash = hash;
  }

  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto it = body.FindMember(field);
    if (it == body.MemberEnd() || it->value.IsNull()) continue;
    if (!it->value.IsUint64() || it->value.GetUint64() < 1)
      return invalid(std::string("Invalid '") + field + "': expected an integer >= 1.", field);
    out.max_tokens =
        std::min(out.max_tokens.value_or(it->value.GetUint64()), it->value.GetUint64());
  }
  return std::nullopt;
}

std::optional<RequestProblem> read_anthropic_messages(const rapidjson::Value& body,
                                                      ChatRequest& out) {
  if (!body.IsObject()) return invalid("The request body must be a JSON object.");
  auto model = body.FindMember("model");
  if (model == body.MemberEnd()) return invalid("model: Field required");
  if (!model->value.IsString()) return invalid("model: Input should be a valid string");
  out.model = view(model->value);

  auto max_tokens = body.FindMember("max_tokens");
  if (max_tokens == body.MemberEnd()) return invalid("max_tokens: Field required");
  if (!max_tokens->value.IsInt64() && !max_tokens->value.IsUint64())
    return invalid("max_tokens: Input should be a valid integer");
  if (!max_tokens->value.IsUint64() || max_tokens->value.GetUint64() < 1)
    return invalid("max_tokens: Input should be greater than or equal to 1");
  out.max_tokens = max_tokens->value.GetUint64();

  AnthropicWalk walk;
  if (auto system = body.FindMember("system"); system != body.MemberEnd()) {
    if (!system->value.IsString() && !system->value.IsArray())
      return invalid("system: Input should be a valid string or a list of text blocks");
    if (system_present(system->value)) {
      walk.tokens += kTokensPerMessage;
      if (auto problem = walk_anthropic_content(system->value, -1, walk)) return problem;
    }
  }

  auto messages = body.FindMember("messages");
  if (messages == body.MemberEnd()) return invalid("messages: Field required");
  if (!messages->value.IsArray()) return invalid("messages: Input should be a valid list");
  if (messages->value.Empty()) return invalid("messages: at least one message is required");
  int index = 0;
  for (const auto& message : messages->value.GetArray()) {
    auto at = [index] { return "messages." + std::to_string(index); };  // errors only
    if (!message.IsObject()) return invalid(at() + ": Input should be a valid dictionary");
    auto role = message.FindMember("role");
    if (role == message.MemberEnd()) return invalid(at() + ".role: Field required");
    std::string_view role_name = role->value.IsString() ? view(role->value) : std::string_view();
    if (role_name == "system") {
      return invalid(at() +
                     ".role: Unexpected role \"system\". The Messages API accepts a top-level "
                     "`system` parameter, not \"system\" as an input message role.");
    }
    if (role_name != "user" && role_name != "assistant")
      return invalid(at() + ".role: Input should be 'user' or 'assistant'");
    auto content = message.FindMember("content");
    if (content == message.MemberEnd()) return invalid(at() + ".content: Field required");
    walk.tokens += kTokensPerMessage;
    if (auto problem = walk_anthropic_content(content->value, index, walk)) return problem;
    ++index;
  }

  out.prompt_tokens = walk.tokens + kTokensReplyPriming;
  out.content_filter = walk.filtered;
  if (walk.has_breakpoint && walk.breakpoint_tokens >= kCacheMinPrefixTokens) {
    out.prefix_tokens = walk.breakpoint_tokens;
    out.prefix_hash = hash_anthropic_prefix(body, walk.breakpoint_block);
  }
  return std::nullopt;
}

RequestProblem context_window_problem(SimEndpoint dialect, std::uint64_t prompt,
                                      std::uint64_t max_tokens, std::uint64_t window) {
  RequestProblem problem;
  if (dialect == SimEndpoint::anthropic) {
    if (prompt > window) {
      problem.message = "prompt is too long: " + std::to_string(prompt) + " tokens > " +
                        std::to_string(window) + " maximum";
    } else {
      problem.message =
          "input length and `max_tokens` exceed context limit: " + std::to_string(prompt) + " + " +
          std::to_string(max_tokens) + " > " + std::to_string(window) +
          ", decrease input length or `max_tokens` and try again";
    }
    return problem;
  }
  problem.message =
      "This model's maximum context length is " + std::to_string(window) + " tokens. However, ";
  if (max_tokens == 0) {
    problem.message += "your messages resulted in " + std::to_string(prompt) +
                       " tokens. Please reduce the length of the messages.";
  } else {
    problem.message += "you requested " + std::to_string(prompt + max_tokens) + " tokens (" +
                       std::to_string(prompt) + " in the messages, " + std::to_string(max_tokens) +
                       " in the completion). Please reduce the length of the messages or "
                       "completion.";
  }
  problem.param = "messages";
  problem.code = "context_length_exceeded";
  return problem;
}

void append_anthropic_request_id(std::string& out, std::uint64_t id) {
  out.append("req_sim");
  append_hex16(out, id);
}

void write_error_body(std::string& body, SimEndpoint dialect, ErrorType type,
                      std::string_view message, std::string_view param, std::string_view code,
                      std::uint64_t request_id) {
  body.clear();
  if (dialect == SimEndpoint::anthropic) {
    body.append(R"({"type":"error","error":{"type":")");
    body.append(anthropic_error_type(type));
    body.append(R"(","message":)");
    append_json_string(body, message);
    body.append(R"(},"request_id":")");
    append_anthropic_request_id(body, request_id);
    body.append("\"}");
    return;
  }
  if (dialect == SimEndpoint::azure) {
    if (auto gateway_code = azure_gateway_code(type); !gateway_code.empty()) {
      body.append(R"({"error":{"code":")");
      body.append(gateway_code);
      body.append(R"(","message":)");
      append_json_string(body, message);
      body.append("}}");
      return;
    }
  }
  body.append(R"({"error":{"message":)");
  append_json_string(body, message);
  body.append(R"(,"type":)");
  append_json_string(body, openai_error_type(type));
  body.append(R"(,"param":)");
  if (param.empty()) {
    body.append("null");
  } else {
    append_json_string(body, param);
  }
  body.append(R"(,"code":)");
  if (code.empty()) {
    body.append("null");
  } else {
    append_json_string(body, code);
  }
  body.append("}}");
}

void write_azure_content_filter_error(std::string& body) {
  body.clear();
  body.append(
      R"({"error":{"message":"The response was filtered due to the prompt triggering Azure )"
      R"(OpenAI's content management policy (simulated: the prompt contains )");
  body.append(kContentFilterMarker);
  body.append(
      R"(). Please modify your prompt and retry.","type":null,"param":"prompt",)"
      R"("code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation",)"
      R"("content_filter_result":)");
  append_content_filter_results(body, true);
  body.append("}}}");
}

bool is_reasoning_model(std::string_view model) {
  return model.find("reason") != std::string_view::npos || model.starts_with("o1") ||
         model.starts_with("o3") || model.starts_with("o4");
}

void write_openai_completion(std::string& body, const Completion& reply, bool azure) {
  const bool filtered = reply.finish == Completion::Finish::content_filter;
  body.clear();
  body.append(R"({"id":"chatcmpl-sim)");
  append_hex16(body, reply.id);
  body.append(R"(","object":"chat.completion","created":)");
  append_uint(body, reply.created_s);
  body.append(R"(,"model":)");
  append_json_string(body, reply.model);
  if (azure) {
    body.append(R"(,"prompt_filter_results":[{"prompt_index":0,"content_filter_results":)");
    append_content_filter_results(body, false);
    body.append("}]");
  }
  body.append(R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)");
  if (filtered) {
    body.append("null");
  } else {
    body.push_back('"');
    body.append(reply.text);
    body.push_back('"');
  }
  body.append(R"(,"refusal":null},"logprobs":null,"finish_reason":")");
  body.append(filtered                                     ? "content_filter"
              : reply.finish == Completion::Finish::length ? "length"
                                                           : "stop");
  body.push_back('"');
  if (azure) {
    body.append(R"(,"content_filter_results":)");
    append_content_filter_results(body, filtered);
  }
  if (reply.omit_usage) {
    body.append(R"(}],"system_fingerprint":"fp_switchyard_sim"})");
    return;
  }
  body.append(R"(}],"usage":{"prompt_tokens":)");
  append_uint(body, reply.prompt_tokens);
  body.append(R"(,"completion_tokens":)");
  append_uint(body, reply.completion_tokens);
  body.append(R"(,"total_tokens":)");
  append_uint(body, std::uint64_t{reply.prompt_tokens} + reply.completion_tokens);
  body.append(R"(,"prompt_tokens_details":{"cached_tokens":)");
  append_uint(body, reply.cached_tokens);
  body.append(R"(,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":)");
  append_uint(body, reply.reasoning_tokens);
  body.append(
      R"(,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
      R"("system_fingerprint":"fp_switchyard_sim"})");
}

void write_anthropic_message(std::string& body, const Completion& reply) {
  const bool refused = reply.finish == Completion::Finish::content_filter;
  body.clear();
  body.append(R"({"id":"msg_sim)");
  append_hex16(body, reply.id);
  body.append(R"(","type":"message","role":"assistant","model":)");
  append_json_string(body, reply.model);
  if (refused) {
    body.append(R"(,"content":[])");
  } else {
    body.append(R"(,"content":[{"type":"text","text":")");
    body.append(reply.text);
    body.append(R"("}])");
  }
  body.append(R"(,"stop_reason":")");
  body.append(refused                                      ? "refusal"
              : reply.finish == Completion::Finish::length ? "max_tokens"
                                                           : "end_turn");
  if (reply.omit_usage) {
    body.append(R"(","stop_sequence":null})");
    return;
  }
  body.append(R"(","stop_sequence":null,"usage":{"input_tokens":)");
  append_uint(body, reply.prompt_tokens - reply.cache_creation_tokens - reply.cache_read_tokens);
  body.append(R"(,"cache_creation_input_tokens":)");
  append_uint(body, reply.cache_creation_tokens);
  body.append(R"(,"cache_read_input_tokens":)");
  append_uint(body, reply.cache_read_tokens);
  body.append(R"(,"output_tokens":)");
  append_uint(body, reply.completion_tokens);
  body.append("}}");
}

}  // namespace switchyard::sim
