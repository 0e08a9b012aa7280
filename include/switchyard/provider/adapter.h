#pragma once
// The one entry point the worker uses to talk to a provider: build the HTTP request for a
// deployment and read its answer, whichever API the deployment speaks (DeploymentConfig::provider):
//   openai     OpenAI-compatible chat completions (provider/openai.h)
//   azure      Azure OpenAI chat completions (provider/openai.h)
//   anthropic  the Anthropic Messages API (provider/anthropic.h)
// Pure code, no I/O: safe to call from any thread. Every adapter classifies failures the same way
// (OutcomeKind) and normalises usage to the convention of Usage (event/result.h), so what follows
// the call (retries, fallbacks, billing) never needs to know which provider answered.
#include <string>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/provider/outcome.h"

namespace switchyard {

// The request to send for `request` to `deployment`, authenticated with `api_key` (empty: no
// key header). Timeouts are left at HttpRequest's defaults for the caller to set.
HttpRequest build_provider_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                   const std::string& api_key);

// The output tokens a call may produce, sent to every provider (max_tokens, or
// max_completion_tokens for OpenAI's reasoning models): the request's max_tokens, else the
// deployment's default_max_tokens lowered to the catalog's max_output_tokens. Because it is always
// sent, a budget's worst case computed with it is a true upper bound.
std::int64_t output_cap(const RequestEvent& request, const DeploymentConfig& deployment);

// What `response` (to a request built above for `deployment`) came to. Every occurrence of
// `secret_to_redact` (the API key) in error_message is replaced.
ProviderOutcome parse_provider_response(const DeploymentConfig& deployment,
                                        const HttpResponse& response,
                                        std::string_view secret_to_redact);

}  // namespace switchyard
