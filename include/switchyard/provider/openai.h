#pragma once
// OpenAI-compatible chat completions (OpenAI, Groq, Together, Mistral, DeepSeek, vLLM, Ollama,
// Gemini's OpenAI-compatible endpoint, a LiteLLM proxy) and Azure OpenAI, which speaks the same
// body on a different URL with a different key header. Pure code. The worker reaches these
// through provider/adapter.h, which picks the adapter of the deployment's provider.
#include <string>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/provider/outcome.h"

namespace switchyard {

// POST {api_base}/chat/completions with `Authorization: Bearer <key>` (no header without a key:
// Ollama, a local vLLM). Body: model, messages, max_tokens and temperature when the request has
// them.
HttpRequest build_openai_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                 const std::string& api_key);

// POST {api_base}/openai/deployments/{model}/chat/completions?api-version={api_version} with an
// `api-key` header. api_base is the resource endpoint (https://NAME.openai.azure.com) and the
// deployment's `model` is the Azure deployment name. Same body as OpenAI, without `model`.
HttpRequest build_azure_openai_request(const RequestEvent& request,
                                       const DeploymentConfig& deployment,
                                       const std::string& api_key);

// Parses a chat.completion (OpenAI and Azure alike) or classifies the failure.
// Usage: prompt_tokens (cached tokens included, as Usage wants it), prompt_tokens_details.
// cached_tokens (DeepSeek: prompt_cache_hit_tokens), completion_tokens (reasoning included),
// completion_tokens_details.reasoning_tokens. finish_reason: stop, length, tool_calls,
// content_filter as they are; function_call (deprecated) -> tool_calls. finish_reason
// content_filter (Azure: the completion was filtered) -> kContentFiltered, still billed.
// `secret_to_redact` (the API key) is replaced in error_message, in case a provider echoes it.
ProviderOutcome parse_openai_response(const HttpResponse& response,
                                      std::string_view secret_to_redact);
ProviderOutcome parse_openai_response(const HttpResponse& response);

}  // namespace switchyard
