#pragma once
// OpenAI-compatible chat completions: request building and response parsing. Pure code.
#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/event/result.h"
#include "switchyard/provider/http_client.h"

namespace switchyard {

enum class OutcomeKind {
  kOk,
  kRetryable,    // 408, 5xx, transport errors, timeouts: retry with backoff
  kRateLimited,  // 429: honour retry_after_ms
  kFatal,        // 4xx that will not get better, malformed response
  kContentFiltered,
  kContextTooLong,
  kAuth,  // 401/403
};

struct ProviderOutcome {
  OutcomeKind kind = OutcomeKind::kFatal;
  int http_status = 0;
  std::string content;
  std::string finish_reason;
  Usage usage;
  std::int64_t retry_after_ms = -1;  // from Retry-After / retry-after-ms, -1 when absent
  std::string error_message;         // never contains the API key
};

// Builds POST {api_base}/chat/completions for the deployment's model.
HttpRequest build_openai_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                 const std::string& api_key);
ProviderOutcome parse_openai_response(const HttpResponse& response);
// As above, and replaces any occurrence of `secret_to_redact` (the API key) in error_message,
// in case a provider echoes the key back in its error text.
ProviderOutcome parse_openai_response(const HttpResponse& response,
                                      std::string_view secret_to_redact);

}  // namespace switchyard
