#pragma once
// The three provider dialects the simulator speaks: reading a parsed request body into the few
// facts the simulator needs, and writing reply and error bodies in each provider's shape.
// Pure functions of their arguments (no I/O, no shared state), so each shape is tested directly.
//
// Shapes follow the providers' published API references: OpenAI chat completions
// (chat.completion object, usage details, error object), Azure OpenAI (deployment URL,
// api-key, prompt/content filter results, the content_filter error with innererror), and
// Anthropic Messages (message object, stop_reason, cache usage, error envelope with request_id).
#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/sim/provider_sim.h"

namespace switchyard::sim {

// The facts of a chat request the simulator acts on. Views point into the request body.
struct ChatRequest {
  std::string_view model;
  std::uint32_t prompt_tokens = 0;
  std::optional<std::uint64_t> max_tokens;  // as requested (the smaller of the OpenAI two)
  bool content_filter = false;              // kContentFilterMarker somewhere in the prompt
  // Cacheable prefix (see "Prompt cache" in provider_sim.h): 0 tokens = none; the hash is set
  // only when prefix_tokens >= kCacheMinPrefixTokens.
  std::uint32_t prefix_tokens = 0;
  std::uint64_t prefix_hash = 0;
};

// What kind of error a reply carries; each dialect spells it its own way.
enum class ErrorType {
  invalid_request,
  authentication,
  permission,
  not_found,
  timeout,
  too_large,
  rate_limit,
  server,
  overloaded,
};

ErrorType error_type_for_status(int status);

// A request the simulator refuses before drawing an outcome.
struct RequestProblem {
  int status = 400;
  ErrorType type = ErrorType::invalid_request;
  std::string message;
  std::string_view param;  // OpenAI `param`; empty = null
  std::string_view code;   // OpenAI `code`; empty = null
};

// Validate and read an OpenAI / Azure chat completion body or an Anthropic Messages body.
std::optional<RequestProblem> read_openai_chat(const rapidjson::Value& body, ChatRequest& out);
std::optional<RequestProblem> read_anthropic_messages(const rapidjson::Value& body,
                                                      ChatRequest& out);

// The context-window error of the dialect for a request of `prompt` tokens asking for
// `max_tokens` (0 = not given) on a model with `window` tokens.
RequestProblem context_window_problem(SimEndpoint dialect, std::uint64_t prompt,
                                      std::uint64_t max_tokens, std::uint64_t window);

// Error bodies. `request_id` feeds Anthropic's request_id (ignored by the other dialects).
void write_error_body(std::string& body, SimEndpoint dialect, ErrorType type,
                      std::string_view message, std::string_view param, std::string_view code,
                      std::uint64_t request_id);
// Azure's refusal of a prompt by its input content filter (HTTP 400).
void write_azure_content_filter_error(std::string& body);

bool is_reasoning_model(std::string_view model);

// A successful reply, already decided.
struct Completion {
  enum class Finish { stop, length, content_filter };
  std::string_view model;
  std::string_view text;  // the visible reply text (needs no JSON escaping)
  std::uint64_t id = 0;   // random bits of the reply id
  std::uint64_t created_s = 0;
  std::uint32_t prompt_tokens = 0;      // every prompt token
  std::uint32_t completion_tokens = 0;  // visible + reasoning
  std::uint32_t reasoning_tokens = 0;
  std::uint32_t cached_tokens = 0;          // OpenAI / Azure cache hit
  std::uint32_t cache_creation_tokens = 0;  // Anthropic
  std::uint32_t cache_read_tokens = 0;      // Anthropic
  Finish finish = Finish::stop;
  bool omit_usage = false;  // the `no_usage` fault
};

void write_openai_completion(std::string& body, const Completion& reply, bool azure);
void write_anthropic_message(std::string& body, const Completion& reply);

// Request id as the Anthropic `request-id` header and error field spell it.
void append_anthropic_request_id(std::string& out, std::uint64_t id);

}  // namespace switchyard::sim
