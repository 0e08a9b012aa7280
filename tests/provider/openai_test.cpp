// The OpenAI-compatible adapter against response bodies shaped like the real API's.
#include "switchyard/provider/openai.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "fixtures.h"

namespace switchyard {
namespace {

using testing::fixture;

// A chat.completion as api.openai.com returns it (2025 shape, trimmed of nothing that matters).
constexpr const char* kCompletionWithCachedAndReasoningTokens = R"({
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "The image shows a wooden boardwalk path.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 1117,
    "completion_tokens": 46,
    "total_tokens": 1163,
    "prompt_tokens_details": {
      "cached_tokens": 1024,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 12,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
})";

// vLLM / older OpenAI: no token details at all.
constexpr const char* kCompletionWithoutDetails = R"({
  "id": "cmpl-1", "object": "chat.completion", "created": 1, "model": "llama-3-8b",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
               "finish_reason": "length"}],
  "usage": {"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25}
})";

constexpr const char* kContentFilterCompletion = R"({
  "id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "gpt-4o",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
               "finish_reason": "content_filter"}],
  "usage": {"prompt_tokens": 20, "completion_tokens": 0, "total_tokens": 20}
})";

constexpr const char* kInvalidApiKeyError = R"({
  "error": {
    "message": "Incorrect API key provided: sk-proj-********************abcd. You can find your API key at https://platform.openai.com/account/api-keys.",
    "type": "invalid_request_error",
    "param": null,
    "code": "invalid_api_key"
  }
})";

constexpr const char* kRateLimitError = R"({
  "error": {
    "message": "Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.",
    "type": "requests",
    "param": null,
    "code": "rate_limit_exceeded"
  }
})";

constexpr const char* kContextLengthError = R"({
  "error": {
    "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded"
  }
})";

constexpr const char* kServerError = R"({
  "error": {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error", "param": null, "code": null
  }
})";

HttpResponse response_of(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

TEST(OpenAiResponse, SuccessCarriesContentFinishReasonAndUsage) {
  ProviderOutcome outcome =
      parse_openai_response(response_of(200, kCompletionWithCachedAndReasoningTokens));
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_EQ(outcome.content, "The image shows a wooden boardwalk path.");
  EXPECT_EQ(outcome.finish_reason, "stop");
  EXPECT_EQ(outcome.usage.input_tokens, 1117);  // cached tokens are part of prompt_tokens
  EXPECT_EQ(outcome.usage.output_tokens, 46);   // reasoning tokens are already part of these
  EXPECT_EQ(outcome.usage.cached_input_tokens, 1024);
  EXPECT_EQ(outcome.usage.reasoning_tokens, 12);
  EXPECT_EQ(outcome.usage.cache_creation_input_tokens, 0);
  EXPECT_EQ(outcome.retry_after_ms, -1);
  EXPECT_TRUE(outcome.error_message.empty());
}

// An o-series reasoning model: most of the prompt from the cache, most of the completion reasoning.
TEST(OpenAiResponse, ReasoningModelReportsCachedAndReasoningTokens) {
  ProviderOutcome outcome =
      parse_openai_response(response_of(200, fixture("openai_o4_mini_cached_reasoning.json")));
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.content, "The invoice total is $1,284.50 after the 5% discount.");
  EXPECT_EQ(outcome.finish_reason, "stop");
  EXPECT_EQ(outcome.usage.input_tokens, 5210);
  EXPECT_EQ(outcome.usage.cached_input_tokens, 4096);
  EXPECT_EQ(outcome.usage.cache_creation_input_tokens, 0);
  EXPECT_EQ(outcome.usage.output_tokens, 1630);
  EXPECT_EQ(outcome.usage.reasoning_tokens, 1216);
}

TEST(OpenAiResponse, DeepSeekCacheHitTokensAreCachedTokens) {
  ProviderOutcome outcome = parse_openai_response(response_of(200, R"({
    "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e", "object": "chat.completion",
    "created": 1705651092, "model": "deepseek-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 16, "completion_tokens": 10, "total_tokens": 26,
              "prompt_cache_hit_tokens": 12, "prompt_cache_miss_tokens": 4}})"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.usage.input_tokens, 16);
  EXPECT_EQ(outcome.usage.cached_input_tokens, 12);
}

TEST(OpenAiResponse, FinishReasonsAreMappedToTheNormalisedSet) {
  auto finish_of = [](const std::string& reason) {
    return parse_openai_response(
        response_of(200, R"({"choices":[{"message":{"role":"assistant","content":null},
                            "finish_reason":")" +
                             reason + R"("}],"usage":{}})"));
  };
  EXPECT_EQ(finish_of("stop").finish_reason, "stop");
  EXPECT_EQ(finish_of("length").finish_reason, "length");
  EXPECT_EQ(finish_of("tool_calls").finish_reason, "tool_calls");
  EXPECT_EQ(finish_of("function_call").finish_reason, "tool_calls");  // the deprecated name
  EXPECT_EQ(finish_of("content_filter").finish_reason, "content_filter");
  EXPECT_EQ(finish_of("content_filter").kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(finish_of("eos").finish_reason, "eos");  // unknown values pass through
  EXPECT_EQ(finish_of("tool_calls").kind, OutcomeKind::kOk);
  ProviderOutcome absent = parse_openai_response(
      response_of(200, R"({"choices":[{"message":{"content":"x"},"finish_reason":null}]})"));
  EXPECT_EQ(absent.kind, OutcomeKind::kOk);
  EXPECT_EQ(absent.finish_reason, "");
}

TEST(OpenAiResponse, SuccessWithoutTokenDetailsHasNoCachedTokens) {
  ProviderOutcome outcome = parse_openai_response(response_of(200, kCompletionWithoutDetails));
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.content, "hi");
  EXPECT_EQ(outcome.finish_reason, "length");
  EXPECT_EQ(outcome.usage.input_tokens, 9);
  EXPECT_EQ(outcome.usage.output_tokens, 16);
  EXPECT_EQ(outcome.usage.cached_input_tokens, 0);
}

TEST(OpenAiResponse, NullContentIsAnEmptyCompletion) {
  ProviderOutcome outcome = parse_openai_response(response_of(200, R"({"choices":[
      {"message":{"role":"assistant","content":null},"finish_reason":"length"}],
      "usage":{"prompt_tokens":5,"completion_tokens":100}})"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kOk);
  EXPECT_EQ(outcome.content, "");
  EXPECT_EQ(outcome.usage.output_tokens, 100);
}

TEST(OpenAiResponse, ContentFilterFinishReasonIsContentFiltered) {
  ProviderOutcome outcome = parse_openai_response(response_of(200, kContentFilterCompletion));
  EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
  EXPECT_EQ(outcome.finish_reason, "content_filter");
  EXPECT_EQ(outcome.usage.input_tokens, 20);  // a filtered call is still billed
}

TEST(OpenAiResponse, AzurePromptFilterErrorIsContentFiltered) {
  ProviderOutcome outcome = parse_openai_response(response_of(
      400,
      R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}})"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered);
}

TEST(OpenAiResponse, MalformedJsonIsFatalWithClearMessage) {
  ProviderOutcome outcome = parse_openai_response(response_of(200, R"({"choices": [)"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kFatal);
  EXPECT_EQ(outcome.error_message.rfind("malformed provider response: ", 0), 0u)
      << outcome.error_message;
}

TEST(OpenAiResponse, UnexpectedJsonShapesAreFatal) {
  for (const char* body : {R"([1,2])", R"({"object":"chat.completion"})", R"({"choices":[]})",
                           R"({"choices":[{"finish_reason":"stop"}]})",
                           R"({"choices":[{"message":{"role":"assistant"}}]})",
                           R"({"choices":[{"message":{"content":42}}]})", ""}) {
    ProviderOutcome outcome = parse_openai_response(response_of(200, body));
    EXPECT_EQ(outcome.kind, OutcomeKind::kFatal) << body;
    EXPECT_EQ(outcome.error_message.rfind("malformed provider response: ", 0), 0u)
        << outcome.error_message;
  }
}

TEST(OpenAiResponse, OkStatusWithErrorObjectNamesTheProviderError) {
  ProviderOutcome outcome = parse_openai_response(response_of(200, kServerError));
  EXPECT_EQ(outcome.kind, OutcomeKind::kFatal);
  EXPECT_NE(outcome.error_message.find("The server had an error"), std::string::npos)
      << outcome.error_message;
}

TEST(OpenAiResponse, RateLimitHonoursRetryAfterSeconds) {
  HttpResponse response = response_of(429, kRateLimitError);
  response.headers = {{"retry-after", "2"}, {"x-ratelimit-remaining-requests", "0"}};
  ProviderOutcome outcome = parse_openai_response(response);
  EXPECT_EQ(outcome.kind, OutcomeKind::kRateLimited);
  EXPECT_EQ(outcome.http_status, 429);
  EXPECT_EQ(outcome.retry_after_ms, 2000);
  EXPECT_NE(outcome.error_message.find("Rate limit reached for gpt-4o"), std::string::npos);
  EXPECT_NE(outcome.error_message.find("rate_limit_exceeded"), std::string::npos);
}

TEST(OpenAiResponse, RetryAfterMsWinsOverRetryAfter) {
  HttpResponse response = response_of(429, kRateLimitError);
  response.headers = {{"retry-after", "1"}, {"retry-after-ms", "120"}};
  EXPECT_EQ(parse_openai_response(response).retry_after_ms, 120);
}

// Found by fuzz_openai_response: 1e41 seconds was converted to an integer (undefined).
TEST(OpenAiResponse, AnAbsurdRetryAfterIsBoundedToADay) {
  HttpResponse response = response_of(429, kRateLimitError);
  response.headers = {{"retry-after", "777777777777777777777777777777777777777777"}};
  EXPECT_EQ(parse_openai_response(response).retry_after_ms, 86'400'000);
  response.headers = {{"retry-after-ms", "1e300"}};
  EXPECT_EQ(parse_openai_response(response).retry_after_ms, 86'400'000);
  response.headers = {{"retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"}};
  EXPECT_EQ(parse_openai_response(response).retry_after_ms, 86'400'000);
}

TEST(OpenAiResponse, RetryAfterAsHttpDateIsMeasuredFromNow) {
  HttpResponse response = response_of(429, kRateLimitError);
  response.headers = {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}};
  // 2015-10-21 is 16,729 days after 1970-01-01: 1,445,385,600 s at midnight, +07:28:00.
  const std::chrono::system_clock::time_point date{std::chrono::seconds(1'445'412'480)};
  EXPECT_EQ(retry_after_ms(response, date - std::chrono::seconds(90)), 90'000);
  EXPECT_EQ(retry_after_ms(response, date - std::chrono::milliseconds(1500)), 1'500);
  EXPECT_EQ(retry_after_ms(response, date + std::chrono::seconds(5)), 0);  // already past
  ProviderOutcome outcome = parse_openai_response(response);  // measured from the system clock
  EXPECT_EQ(outcome.kind, OutcomeKind::kRateLimited);
  EXPECT_EQ(outcome.retry_after_ms, 0);
}

TEST(OpenAiResponse, UnreadableRetryAfterIsAbsent) {
  for (const char* value :
       {"soon", "-3", "Wed, 21 Oct 2015 07:28:00 PST", "Wed, 32 Oct 2015 07:28:00 GMT", ""}) {
    HttpResponse response = response_of(429, kRateLimitError);
    response.headers = {{"retry-after", value}};
    EXPECT_EQ(parse_openai_response(response).retry_after_ms, -1) << value;
  }
}

TEST(OpenAiResponse, RateLimitWithoutRetryAfterHasNone) {
  ProviderOutcome outcome = parse_openai_response(response_of(429, kRateLimitError));
  EXPECT_EQ(outcome.kind, OutcomeKind::kRateLimited);
  EXPECT_EQ(outcome.retry_after_ms, -1);
}

TEST(OpenAiResponse, ContextLengthExceededIsContextTooLong) {
  ProviderOutcome outcome = parse_openai_response(response_of(400, kContextLengthError));
  EXPECT_EQ(outcome.kind, OutcomeKind::kContextTooLong);
  EXPECT_NE(outcome.error_message.find("maximum context length is 128000"), std::string::npos);
}

TEST(OpenAiResponse, ContextLengthMessageWithoutCodeIsContextTooLong) {
  // vLLM's shape: the code is absent, the message says it.
  ProviderOutcome outcome = parse_openai_response(response_of(
      400,
      R"({"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400})"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kContextTooLong);
}

TEST(OpenAiResponse, AuthFailuresAreAuth) {
  ProviderOutcome outcome = parse_openai_response(response_of(401, kInvalidApiKeyError));
  EXPECT_EQ(outcome.kind, OutcomeKind::kAuth);
  EXPECT_NE(outcome.error_message.find("Incorrect API key provided"), std::string::npos);
  EXPECT_EQ(parse_openai_response(response_of(403, "{}")).kind, OutcomeKind::kAuth);
}

TEST(OpenAiResponse, EchoedApiKeyIsRedacted) {
  const std::string key = "sk-test-0123456789abcdef";
  ProviderOutcome outcome = parse_openai_response(
      response_of(401, R"({"error":{"message":"Incorrect API key provided: )" + key + R"("}})"),
      key);
  EXPECT_EQ(outcome.kind, OutcomeKind::kAuth);
  EXPECT_EQ(outcome.error_message.find(key), std::string::npos) << outcome.error_message;
  EXPECT_NE(outcome.error_message.find("[redacted]"), std::string::npos);
}

TEST(OpenAiResponse, ServerErrorsAndTimeoutsAreRetryable) {
  for (int status : {408, 409, 500, 502, 503, 504, 529}) {
    ProviderOutcome outcome = parse_openai_response(response_of(status, kServerError));
    EXPECT_EQ(outcome.kind, OutcomeKind::kRetryable) << status;
    EXPECT_EQ(outcome.http_status, status);
  }
  ProviderOutcome html = parse_openai_response(response_of(502, "<html>Bad Gateway</html>"));
  EXPECT_EQ(html.kind, OutcomeKind::kRetryable);
  EXPECT_NE(html.error_message.find("Bad Gateway"), std::string::npos);
}

TEST(OpenAiResponse, ServiceUnavailableKeepsRetryAfter) {
  HttpResponse response = response_of(503, kServerError);
  response.headers = {{"retry-after", "5"}};
  EXPECT_EQ(parse_openai_response(response).retry_after_ms, 5000);
}

TEST(OpenAiResponse, TransportErrorIsRetryableAndCarriesTheReason) {
  HttpResponse response;
  response.transport_error = "request to api.openai.com:443 timed out after 200 ms";
  response.timed_out = true;
  ProviderOutcome outcome = parse_openai_response(response);
  EXPECT_EQ(outcome.kind, OutcomeKind::kRetryable);
  EXPECT_EQ(outcome.http_status, 0);
  EXPECT_EQ(outcome.error_message, response.transport_error);
}

TEST(OpenAiResponse, OtherClientErrorsAreFatal) {
  for (int status : {400, 404, 413, 422}) {
    ProviderOutcome outcome = parse_openai_response(response_of(
        status,
        R"({"error":{"message":"The model `gpt-9` does not exist","code":"model_not_found"}})"));
    EXPECT_EQ(outcome.kind, OutcomeKind::kFatal) << status;
    EXPECT_NE(outcome.error_message.find("does not exist"), std::string::npos);
  }
}

TEST(OpenAiResponse, LongProviderMessagesAreTruncated) {
  std::string long_message(5000, 'x');
  ProviderOutcome outcome =
      parse_openai_response(response_of(500, R"({"error":{"message":")" + long_message + R"("}})"));
  EXPECT_LT(outcome.error_message.size(), 600u);
  EXPECT_NE(outcome.error_message.find(std::string(500, 'x')), std::string::npos);
  EXPECT_EQ(outcome.error_message.find(std::string(501, 'x')), std::string::npos);
}

// ---- request building ----

RequestEvent sample_request() {
  RequestEvent request;
  request.request_id = "r-1";
  request.team = "search";
  request.messages = {{"system", "You are terse."}, {"user", "Say \"hi\"\nplease"}};
  return request;
}

DeploymentConfig sample_deployment(std::string api_base) {
  DeploymentConfig deployment;
  deployment.name = "gpt4o-east";
  deployment.api_base = std::move(api_base);
  deployment.model = "gpt-4o-mini";
  return deployment;
}

TEST(OpenAiRequest, UrlIsApiBasePlusChatCompletions) {
  EXPECT_EQ(
      build_openai_request(sample_request(), sample_deployment("https://api.openai.com/v1"), "k")
          .url,
      "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(
      build_openai_request(sample_request(), sample_deployment("http://127.0.0.1:8080/v1/"), "k")
          .url,
      "http://127.0.0.1:8080/v1/chat/completions");
}

TEST(OpenAiRequest, BearerAuthorizationOnlyWithAKey) {
  HttpRequest with_key =
      build_openai_request(sample_request(), sample_deployment("https://x/v1"), "sk-abc");
  ASSERT_EQ(with_key.headers.size(), 1u);
  EXPECT_EQ(with_key.headers[0].first, "Authorization");
  EXPECT_EQ(with_key.headers[0].second, "Bearer sk-abc");

  HttpRequest without_key =
      build_openai_request(sample_request(), sample_deployment("http://ollama:11434/v1"), "");
  EXPECT_TRUE(without_key.headers.empty());
}

TEST(OpenAiRequest, BodyHasModelAndMessagesInOrder) {
  HttpRequest http = build_openai_request(sample_request(), sample_deployment("https://x/v1"), "k");
  rapidjson::Document body;
  body.Parse(http.body.c_str());
  ASSERT_FALSE(body.HasParseError()) << http.body;
  EXPECT_STREQ(body["model"].GetString(), "gpt-4o-mini");
  ASSERT_EQ(body["messages"].Size(), 2u);
  EXPECT_STREQ(body["messages"][0]["role"].GetString(), "system");
  EXPECT_STREQ(body["messages"][0]["content"].GetString(), "You are terse.");
  EXPECT_STREQ(body["messages"][1]["role"].GetString(), "user");
  EXPECT_STREQ(body["messages"][1]["content"].GetString(), "Say \"hi\"\nplease");
  ASSERT_TRUE(body.HasMember("max_tokens")) << "the budget's worst case assumes a cap: send it";
  EXPECT_EQ(body["max_tokens"].GetInt64(), 4096);  // default_max_tokens
  EXPECT_FALSE(body.HasMember("temperature"));
  EXPECT_EQ(http.body.find("gpt4o-east"), std::string::npos);  // deployment name stays inside
}

TEST(OpenAiRequest, MaxTokensAndTemperatureWhenSet) {
  RequestEvent request = sample_request();
  request.max_tokens = 256;
  request.temperature = 0.25;
  HttpRequest http = build_openai_request(request, sample_deployment("https://x/v1"), "k");
  rapidjson::Document body;
  body.Parse(http.body.c_str());
  ASSERT_FALSE(body.HasParseError()) << http.body;
  EXPECT_EQ(body["max_tokens"].GetInt64(), 256);
  EXPECT_DOUBLE_EQ(body["temperature"].GetDouble(), 0.25);
}

TEST(OpenAiRequest, ReasoningModelsGetMaxCompletionTokensAndNoTemperature) {
  RequestEvent request = sample_request();
  request.max_tokens = 256;
  request.temperature = 0.25;
  for (const char* model : {"o3-mini", "openai/o4-mini", "o1", "gpt-5-mini"}) {
    DeploymentConfig d = sample_deployment("https://x/v1");
    d.model = model;
    rapidjson::Document body;
    body.Parse(build_openai_request(request, d, "k").body.c_str());
    ASSERT_FALSE(body.HasParseError());
    EXPECT_FALSE(body.HasMember("max_tokens")) << model;
    EXPECT_EQ(body["max_completion_tokens"].GetInt64(), 256) << model;
    EXPECT_FALSE(body.HasMember("temperature")) << model;  // only the default 1 is accepted
  }
  DeploymentConfig chat = sample_deployment("https://x/v1");
  chat.model = "gpt-4o";  // not a reasoning model, although it contains an "o"
  rapidjson::Document body;
  body.Parse(build_openai_request(request, chat, "k").body.c_str());
  EXPECT_EQ(body["max_tokens"].GetInt64(), 256);
}

TEST(OpenAiRequest, TimeoutsAreLeftToTheCaller) {
  HttpRequest http = build_openai_request(sample_request(), sample_deployment("https://x/v1"), "k");
  EXPECT_EQ(http.connect_timeout_ms, HttpRequest{}.connect_timeout_ms);
  EXPECT_EQ(http.total_timeout_ms, HttpRequest{}.total_timeout_ms);
}

}  // namespace
}  // namespace switchyard
