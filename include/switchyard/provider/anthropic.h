#pragma once
// The Anthropic Messages API: request building and response parsing. Pure code. The worker
// reaches these through provider/adapter.h.
#include <string>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/provider/outcome.h"

namespace switchyard {

inline constexpr const char* kAnthropicVersion = "2023-06-01";

// POST {api_base}/messages (api_base like https://api.anthropic.com/v1) with `x-api-key` (when
// there is a key) and `anthropic-version: 2023-06-01`. Body:
//   model       the deployment's model
//   max_tokens  always (the API requires it): the request's, else the deployment's
//               default_max_tokens, lowered to the catalog's max_output_tokens when that is less
//   system      every system message, in order, joined by a blank line; absent when none
//   messages    the user/assistant messages in order, consecutive messages of one role merged
//               into one (joined by a blank line): the API wants the roles to alternate
//   temperature when the request has one, capped at 1.0 (Anthropic's range is 0..1, request.v1
//               allows OpenAI's 0..2)
HttpRequest build_anthropic_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                    const std::string& api_key);

// Parses a Message ({"type":"message","content":[...],"stop_reason",...,"usage":{...}}) or
// classifies the failure ({"type":"error","error":{"type","message"}}).
// content: the text of every `text` block, concatenated in order (thinking and tool_use blocks
// are not part of the answer). stop_reason: end_turn, stop_sequence -> stop; max_tokens,
// model_context_window_exceeded -> length; tool_use -> tool_calls; refusal -> content_filter
// (kContentFiltered, still billed); anything else passed through.
// usage is normalised: Anthropic's input_tokens EXCLUDES cache reads and writes, so
// Usage::input_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
// Thinking tokens are inside output_tokens and not broken out (reasoning_tokens stays 0).
ProviderOutcome parse_anthropic_response(const HttpResponse& response,
                                         std::string_view secret_to_redact);

}  // namespace switchyard
