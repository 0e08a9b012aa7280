// The Azure OpenAI adapter: the deployment URL with api-version, the api-key header, and Azure's
// response shapes (content_filter_results, prompt_filter_results, the content_filter error).
// Fixtures follow the Azure OpenAI data-plane inference reference (api-version 2024-10-21) and
// the content filtering concept page on learn.microsoft.com.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "fixtures.h"
#include "switchyard/provider/adapter.h"
#include "switchyard/provider/openai.h"

namespace switchyard {
namespace {

using testing::fixture;
using testing::header_value;
using testing::response_of;

DeploymentConfig azure_deployment() {
  DeploymentConfig d;
  d.name = "gpt4o-sweden";
  d.provider = ProviderKind::kAzure;
  d.api_base = "https://contoso-sweden.openai.azure.com/";
  d.model = "gpt-4o-prod";  // the Azure deployment name
  return d;
}

RequestEvent sample_request() {
  RequestEvent request;
  request.request_id = "r-1";
  request.team = "search";
  request.messages = {{"system", "Answer in one sentence."}, {"user", "Capital of France?"}};
  request.max_tokens = 64;
  return request;
}

TEST(AzureRequest, UrlIsTheDeploymentPathWithApiVersion) {
  HttpRequest http = build_provider_request(sample_request(), azure_deployment(), "azure-key");
  EXPECT_EQ(http.url,
            "https://contoso-sweden.openai.azure.com/openai/deployments/gpt-4o-prod/chat/"
            "completions?api-version=2024-10-21");
  DeploymentConfig pinned = azure_deployment();
  pinned.api_version = "2025-01-01-preview";
  EXPECT_EQ(build_azure_openai_request(sample_request(), pinned, "k").url,
            "https://contoso-sweden.openai.azure.com/openai/deployments/gpt-4o-prod/chat/"
            "completions?api-version=2025-01-01-preview");
}

TEST(AzureRequest, DeploymentNameAndVersionAreUrlEncoded) {
  DeploymentConfig d = azure_deployment();
  d.model = "my deployment/1";
  d.api_version = "2024-10-21&x=y";
  EXPECT_EQ(build_azure_openai_request(sample_request(), d, "k").url,
            "https://contoso-sweden.openai.azure.com/openai/deployments/my%20deployment%2F1/chat/"
            "completions?api-version=2024-10-21%26x%3Dy");
}

TEST(AzureRequest, ApiKeyHeaderAndNoBearerToken) {
  HttpRequest http = build_provider_request(sample_request(), azure_deployment(), "azure-key");
  ASSERT_EQ(http.headers.size(), 1u);
  EXPECT_EQ(header_value(http, "api-key"), "azure-key");
  EXPECT_EQ(header_value(http, "Authorization"), "<absent>");
  EXPECT_TRUE(build_provider_request(sample_request(), azure_deployment(), "").headers.empty());
}

TEST(AzureRequest, BodyIsTheChatCompletionsBodyWithoutModel) {
  HttpRequest http = build_provider_request(sample_request(), azure_deployment(), "azure-key");
  rapidjson::Document body;
  ASSERT_FALSE(body.Parse(http.body.c_str()).HasParseError()) << http.body;
  EXPECT_FALSE(body.HasMember("model"));  // the deployment in the URL picks the model
  ASSERT_EQ(body["messages"].Size(), 2u);
  EXPECT_STREQ(body["messages"][0]["role"].GetString(), "system");
  EXPECT_STREQ(body["messages"][1]["content"].GetString(), "Capital of France?");
  EXPECT_EQ(body["max_tokens"].GetInt64(), 64);
  EXPECT_EQ(http.body, R"({"messages":[{"role":"system","content":"Answer in one sentence."},)"
                       R"({"role":"user","content":"Capital of France?"}],"max_tokens":64})");
}

TEST(AzureResponse, CompletionWithFilterResultsIsReadLikeOpenAi) {
  ProviderOutcome outcome = parse_provider_response(
      azure_deployment(),
      response_of(200, fixture("azure_chat_completion_with_filter_results.json")), "azure-key");
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.content, "Paris is the capital of France.");
  EXPECT_EQ(outcome.finish_reason, "stop");
  EXPECT_EQ(outcome.usage.input_tokens, 1500);
  EXPECT_EQ(outcome.usage.cached_input_tokens, 1280);
  EXPECT_EQ(outcome.usage.output_tokens, 200);
  EXPECT_EQ(outcome.usage.reasoning_tokens, 0);
}

TEST(AzureResponse, FilteredCompletionIsContentFilteredAndStillBilled) {
  ProviderOutcome outcome = parse_provider_response(
      azure_deployment(), response_of(200, fixture("azure_completion_filtered.json")), "azure-key");
  EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(outcome.finish_reason, "content_filter");
  EXPECT_EQ(outcome.content, "");
  EXPECT_EQ(outcome.usage.input_tokens, 41);
  EXPECT_EQ(outcome.usage.output_tokens, 87);
  EXPECT_NE(outcome.error_message.find("content_filter"), std::string::npos);
}

TEST(AzureResponse, FilteredChoiceWithoutMessageIsStillContentFiltered) {
  ProviderOutcome outcome = parse_provider_response(
      azure_deployment(),
      response_of(200, R"({"choices":[{"index":0,"finish_reason":"content_filter",
          "content_filter_results":{"sexual":{"filtered":true,"severity":"high"}}}],
          "usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}})"),
      "azure-key");
  EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(outcome.usage.output_tokens, 30);
}

TEST(AzureResponse, FilteredPromptErrorIsContentFilteredWithoutRetry) {
  ProviderOutcome outcome = parse_provider_response(
      azure_deployment(), response_of(400, fixture("azure_prompt_filtered_error.json")), "azure-key");
  EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(outcome.http_status, 400);
  EXPECT_NE(outcome.error_message.find("content management policy"), std::string::npos);
  EXPECT_NE(outcome.error_message.find("(code content_filter)"), std::string::npos);
  EXPECT_EQ(outcome.usage.input_tokens, 0);  // nothing was generated, nothing is billed
}

TEST(AzureResponse, ContextLengthExceededIsContextTooLong) {
  ProviderOutcome outcome = parse_provider_response(
      azure_deployment(), response_of(400, fixture("azure_context_length_error.json")), "azure-key");
  EXPECT_EQ(outcome.kind, OutcomeKind::kContextTooLong);
}

TEST(AzureResponse, RateLimitHonoursRetryAfterMs) {
  ProviderOutcome outcome =
      parse_provider_response(azure_deployment(),
                              response_of(429, fixture("azure_rate_limit_error.json"),
                                          {{"retry-after", "6"},
                                           {"retry-after-ms", "5400"},
                                           {"x-ratelimit-remaining-tokens", "0"}}),
                              "azure-key");
  EXPECT_EQ(outcome.kind, OutcomeKind::kRateLimited);
  EXPECT_EQ(outcome.retry_after_ms, 5400);
  EXPECT_NE(outcome.error_message.find("exceeded token rate limit"), std::string::npos);
}

TEST(AzureResponse, InvalidKeyIsAuthAndNeverEchoesTheKey) {
  const std::string key = "0123456789abcdef0123456789abcdef";
  ProviderOutcome outcome = parse_provider_response(
      azure_deployment(), response_of(401, fixture("azure_auth_error.json")), key);
  EXPECT_EQ(outcome.kind, OutcomeKind::kAuth);
  EXPECT_NE(outcome.error_message.find("invalid subscription key"), std::string::npos);
  EXPECT_EQ(outcome.error_message.find(key), std::string::npos);
}

}  // namespace
}  // namespace switchyard
