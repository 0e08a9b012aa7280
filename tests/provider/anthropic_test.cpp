// The Anthropic Messages adapter against the shapes of the Messages API reference
// (docs.anthropic.com/en/api/messages, /en/api/errors, prompt caching usage fields).
#include "switchyard/provider/anthropic.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "fixtures.h"
#include "switchyard/provider/adapter.h"

namespace switchyard {
namespace {

using testing::fixture;
using testing::header_value;
using testing::response_of;

DeploymentConfig claude() {
  DeploymentConfig d;
  d.name = "sonnet-us";
  d.provider = ProviderKind::kAnthropic;
  d.api_base = "https://api.anthropic.com/v1";
  d.model = "claude-sonnet-4-20250514";
  return d;
}

RequestEvent conversation() {
  RequestEvent request;
  request.request_id = "r-1";
  request.team = "legal";
  request.messages = {{"system", "You are a contracts lawyer."},
                      {"user", "Read this contract."},
                      {"user", "What is the notice period?"},
                      {"system", "Answer in one sentence."},
                      {"assistant", "It is"},
                      {"assistant", "ninety days."},
                      {"user", "Delivered where?"}};
  return request;
}

rapidjson::Document body_of(const HttpRequest& http) {
  rapidjson::Document body;
  body.Parse(http.body.c_str());
  EXPECT_FALSE(body.HasParseError()) << http.body;
  return body;
}

// ---- request building ----

TEST(AnthropicRequest, UrlIsApiBasePlusMessages) {
  EXPECT_EQ(build_provider_request(conversation(), claude(), "k").url,
            "https://api.anthropic.com/v1/messages");
  DeploymentConfig trailing = claude();
  trailing.api_base = "http://127.0.0.1:8090/v1/";
  EXPECT_EQ(build_anthropic_request(conversation(), trailing, "k").url,
            "http://127.0.0.1:8090/v1/messages");
}

TEST(AnthropicRequest, ApiKeyAndVersionHeaders) {
  HttpRequest http = build_provider_request(conversation(), claude(), "sk-ant-api03-abc");
  EXPECT_EQ(header_value(http, "x-api-key"), "sk-ant-api03-abc");
  EXPECT_EQ(header_value(http, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header_value(http, "Authorization"), "<absent>");
  EXPECT_EQ(http.headers.size(), 2u);
  HttpRequest keyless = build_anthropic_request(conversation(), claude(), "");
  EXPECT_EQ(header_value(keyless, "x-api-key"), "<absent>");
  EXPECT_EQ(header_value(keyless, "anthropic-version"), "2023-06-01");
}

TEST(AnthropicRequest, SystemMessagesAreLiftedAndSameRoleTurnsMerged) {
  HttpRequest http = build_anthropic_request(conversation(), claude(), "k");
  EXPECT_EQ(
      http.body,
      R"({"model":"claude-sonnet-4-20250514","max_tokens":4096,)"
      R"("system":"You are a contracts lawyer.\n\nAnswer in one sentence.",)"
      R"("messages":[{"role":"user","content":"Read this contract.\n\nWhat is the notice period?"},)"
      R"({"role":"assistant","content":"It is\n\nninety days."},)"
      R"({"role":"user","content":"Delivered where?"}]})");
}

TEST(AnthropicRequest, NoSystemKeyWithoutSystemMessages) {
  RequestEvent request;
  request.messages = {{"user", "hi"}};
  rapidjson::Document body = body_of(build_anthropic_request(request, claude(), "k"));
  EXPECT_FALSE(body.HasMember("system"));
  ASSERT_EQ(body["messages"].Size(), 1u);
  EXPECT_STREQ(body["messages"][0]["role"].GetString(), "user");
}

TEST(AnthropicRequest, MaxTokensIsAlwaysSent) {
  RequestEvent request = conversation();
  request.max_tokens = 300;
  EXPECT_EQ(body_of(build_anthropic_request(request, claude(), "k"))["max_tokens"].GetInt64(), 300);

  request.max_tokens.reset();
  DeploymentConfig d = claude();
  d.default_max_tokens = 1024;
  EXPECT_EQ(body_of(build_anthropic_request(request, d, "k"))["max_tokens"].GetInt64(), 1024);

  // The default never asks for more than the model can produce (catalog max_output_tokens)...
  d.default_max_tokens = 4096;
  d.price = ModelPrice{};
  d.price->max_output_tokens = 2048;
  EXPECT_EQ(body_of(build_anthropic_request(request, d, "k"))["max_tokens"].GetInt64(), 2048);
  // ...but what a request asks for is sent as it is: the API's error says what is wrong.
  request.max_tokens = 3000;
  EXPECT_EQ(body_of(build_anthropic_request(request, d, "k"))["max_tokens"].GetInt64(), 3000);
}

TEST(AnthropicRequest, TemperatureIsCappedAtAnthropicsMaximum) {
  RequestEvent request = conversation();
  EXPECT_FALSE(body_of(build_anthropic_request(request, claude(), "k")).HasMember("temperature"));
  request.temperature = 0.3;
  EXPECT_DOUBLE_EQ(
      body_of(build_anthropic_request(request, claude(), "k"))["temperature"].GetDouble(), 0.3);
  request.temperature = 1.7;  // request.v1 allows OpenAI's 0..2; Anthropic's range is 0..1
  EXPECT_DOUBLE_EQ(
      body_of(build_anthropic_request(request, claude(), "k"))["temperature"].GetDouble(), 1.0);
}

TEST(AnthropicRequest, TimeoutsAreLeftToTheCaller) {
  HttpRequest http = build_anthropic_request(conversation(), claude(), "k");
  EXPECT_EQ(http.connect_timeout_ms, HttpRequest{}.connect_timeout_ms);
  EXPECT_EQ(http.total_timeout_ms, HttpRequest{}.total_timeout_ms);
}

// ---- responses ----

TEST(AnthropicResponse, TextBlocksJoinedAndUsageNormalisedWithCacheTokens) {
  ProviderOutcome outcome = parse_provider_response(
      claude(), response_of(200, fixture("anthropic_message_with_cache.json")), "k");
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_EQ(outcome.content,
            "The contract's termination clause requires 90 days' written notice, delivered to the "
            "registered office.");
  EXPECT_EQ(outcome.finish_reason, "stop");
  // Anthropic's input_tokens (14) excludes the cache; Usage counts every prompt token.
  EXPECT_EQ(outcome.usage.input_tokens, 14 + 3062 + 1418);
  EXPECT_EQ(outcome.usage.cached_input_tokens, 3062);
  EXPECT_EQ(outcome.usage.cache_creation_input_tokens, 1418);
  EXPECT_EQ(outcome.usage.output_tokens, 393);
  EXPECT_EQ(outcome.usage.reasoning_tokens, 0);
  EXPECT_TRUE(outcome.error_message.empty());
}

TEST(AnthropicResponse, ThinkingBlocksAreNotPartOfTheAnswer) {
  ProviderOutcome outcome = parse_anthropic_response(
      response_of(200, fixture("anthropic_message_thinking_max_tokens.json")), "k");
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.content, "The three largest primes below 100 are 97, 89 and");
  EXPECT_EQ(outcome.finish_reason, "length");
  EXPECT_EQ(outcome.usage.input_tokens, 52);
  EXPECT_EQ(outcome.usage.output_tokens, 1024);  // thinking included, as Anthropic bills it
}

TEST(AnthropicResponse, RefusalIsContentFilteredAndStillBilled) {
  ProviderOutcome outcome =
      parse_anthropic_response(response_of(200, fixture("anthropic_message_refusal.json")), "k");
  EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(outcome.finish_reason, "content_filter");
  EXPECT_EQ(outcome.usage.input_tokens, 31);  // null cache fields count as 0
  EXPECT_EQ(outcome.usage.output_tokens, 6);
  EXPECT_NE(outcome.error_message.find("refusal"), std::string::npos);
}

TEST(AnthropicResponse, StopReasonsAreMappedToTheNormalisedSet) {
  auto finish_of = [](const std::string& reason) {
    return parse_anthropic_response(
               response_of(200, R"({"type":"message","content":[{"type":"text","text":"x"}],)"
                                R"("stop_reason":")" +
                                    reason + R"(","usage":{}})"),
               "")
        .finish_reason;
  };
  EXPECT_EQ(finish_of("end_turn"), "stop");
  EXPECT_EQ(finish_of("stop_sequence"), "stop");
  EXPECT_EQ(finish_of("max_tokens"), "length");
  EXPECT_EQ(finish_of("model_context_window_exceeded"), "length");
  EXPECT_EQ(finish_of("tool_use"), "tool_calls");
  EXPECT_EQ(finish_of("refusal"), "content_filter");
  EXPECT_EQ(finish_of("pause_turn"), "pause_turn");
}

TEST(AnthropicResponse, MalformedBodiesAreFatalAndSaySo) {
  for (const char* body : {"", "[]", R"({"type":"message"})", R"({"content":"text"})",
                           R"({"content":[{"type":"text"}]})",
                           R"({"content":[{"type":"text","text":5}]})", R"({"content":[1]})"}) {
    ProviderOutcome outcome = parse_anthropic_response(response_of(200, body), "");
    EXPECT_EQ(outcome.kind, OutcomeKind::kFatal) << body;
    EXPECT_EQ(outcome.error_message.rfind("malformed provider response: ", 0), 0u)
        << outcome.error_message;
  }
  ProviderOutcome error_in_200 =
      parse_anthropic_response(response_of(200, fixture("anthropic_error_overloaded.json")), "");
  EXPECT_EQ(error_in_200.kind, OutcomeKind::kFatal);
  EXPECT_NE(error_in_200.error_message.find("Overloaded"), std::string::npos);
}

// ---- error classes ----

TEST(AnthropicErrors, OverloadedAndServerErrorsAreRetryable) {
  ProviderOutcome overloaded =
      parse_anthropic_response(response_of(529, fixture("anthropic_error_overloaded.json")), "");
  EXPECT_EQ(overloaded.kind, OutcomeKind::kRetryable);
  EXPECT_EQ(overloaded.http_status, 529);
  EXPECT_EQ(overloaded.error_message, "HTTP 529 from provider: Overloaded (code overloaded_error)");
  EXPECT_EQ(
      parse_anthropic_response(response_of(500, fixture("anthropic_error_api.json")), "").kind,
      OutcomeKind::kRetryable);
  EXPECT_EQ(parse_anthropic_response(
                response_of(504, R"({"type":"error","error":{"type":"timeout_error",)"
                                 R"("message":"Request timed out"}})"),
                "")
                .kind,
            OutcomeKind::kRetryable);
}

TEST(AnthropicErrors, RateLimitCarriesRetryAfter) {
  ProviderOutcome outcome = parse_anthropic_response(
      response_of(429, fixture("anthropic_error_rate_limit.json"),
                  {{"retry-after", "17"}, {"anthropic-ratelimit-input-tokens-remaining", "0"}}),
      "");
  EXPECT_EQ(outcome.kind, OutcomeKind::kRateLimited);
  EXPECT_EQ(outcome.retry_after_ms, 17'000);
  EXPECT_NE(outcome.error_message.find("rate_limit_error"), std::string::npos);
}

TEST(AnthropicErrors, PromptTooLongIsContextTooLong) {
  ProviderOutcome outcome = parse_anthropic_response(
      response_of(400, fixture("anthropic_error_prompt_too_long.json")), "");
  EXPECT_EQ(outcome.kind, OutcomeKind::kContextTooLong);
  EXPECT_NE(outcome.error_message.find("208310 tokens > 200000 maximum"), std::string::npos);
  EXPECT_EQ(parse_anthropic_response(
                response_of(400, R"({"type":"error","error":{"type":"invalid_request_error",)"
                                 R"("message":"input length and `max_tokens` exceed context )"
                                 R"(limit: 188240 + 21333 > 200000, decrease input length or )"
                                 R"(`max_tokens` and try again"}})"),
                "")
                .kind,
            OutcomeKind::kContextTooLong);
}

TEST(AnthropicErrors, AuthenticationAndPermissionErrorsAreAuth) {
  EXPECT_EQ(
      parse_anthropic_response(response_of(401, fixture("anthropic_error_authentication.json")), "")
          .kind,
      OutcomeKind::kAuth);
  EXPECT_EQ(
      parse_anthropic_response(response_of(403, fixture("anthropic_error_permission.json")), "")
          .kind,
      OutcomeKind::kAuth);
}

TEST(AnthropicErrors, OtherInvalidRequestsAreFatal) {
  ProviderOutcome outcome = parse_anthropic_response(
      response_of(400, fixture("anthropic_error_invalid_request.json")), "");
  EXPECT_EQ(outcome.kind, OutcomeKind::kFatal);
  EXPECT_NE(outcome.error_message.find("max_tokens: 100000 > 64000"), std::string::npos);
  EXPECT_EQ(
      parse_anthropic_response(
          response_of(413, R"({"type":"error","error":{"type":"request_too_large",)"
                           R"("message":"Request exceeds the maximum allowed number of bytes."}})"),
          "")
          .kind,
      OutcomeKind::kFatal);
}

TEST(AnthropicErrors, EchoedKeyIsRedacted) {
  const std::string key = "sk-ant-api03-SECRETSECRETSECRET";
  ProviderOutcome outcome = parse_anthropic_response(
      response_of(401, R"({"type":"error","error":{"type":"authentication_error",)"
                       R"("message":"invalid x-api-key: )" +
                           key + R"("}})"),
      key);
  EXPECT_EQ(outcome.kind, OutcomeKind::kAuth);
  EXPECT_EQ(outcome.error_message.find(key), std::string::npos) << outcome.error_message;
  EXPECT_NE(outcome.error_message.find("[redacted]"), std::string::npos);
}

}  // namespace
}  // namespace switchyard
