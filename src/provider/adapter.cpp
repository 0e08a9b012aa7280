#include "switchyard/provider/adapter.h"

#include <algorithm>

#include "switchyard/provider/anthropic.h"
#include "switchyard/provider/openai.h"

namespace switchyard {

std::int64_t output_cap(const RequestEvent& request, const DeploymentConfig& deployment) {
  if (request.max_tokens) return *request.max_tokens;
  std::int64_t cap = deployment.default_max_tokens;
  if (deployment.price && deployment.price->max_output_tokens > 0)
    cap = std::min(cap, deployment.price->max_output_tokens);
  return cap;
}

HttpRequest build_provider_request(const RequestEvent& request, const DeploymentConfig& deployment,
                                   const std::string& api_key) {
  switch (deployment.provider) {
    case ProviderKind::kOpenAI:
      return build_openai_request(request, deployment, api_key);
    case ProviderKind::kAzure:
      return build_azure_openai_request(request, deployment, api_key);
    case ProviderKind::kAnthropic:
      return build_anthropic_request(request, deployment, api_key);
  }
  return build_openai_request(request, deployment, api_key);  // unreachable: every kind is above
}

ProviderOutcome parse_provider_response(const DeploymentConfig& deployment,
                                        const HttpResponse& response,
                                        std::string_view secret_to_redact) {
  switch (deployment.provider) {
    case ProviderKind::kOpenAI:
    case ProviderKind::kAzure:  // the same chat.completion body and error shape
      return parse_openai_response(response, secret_to_redact);
    case ProviderKind::kAnthropic:
      return parse_anthropic_response(response, secret_to_redact);
  }
  return parse_openai_response(response, secret_to_redact);  // unreachable
}

}  // namespace switchyard
