// The adapter interface: it picks the provider's request shape, and every provider's failures
// land in the same error classes, which is all the retry/fallback logic looks at.
#include "switchyard/provider/adapter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixtures.h"

namespace switchyard {
namespace {

using testing::fixture;
using testing::header_value;
using testing::response_of;

DeploymentConfig deployment_of(ProviderKind provider) {
  DeploymentConfig d;
  d.name = "d";
  d.provider = provider;
  d.model = "m";
  d.api_base = provider == ProviderKind::kAzure       ? "https://res.openai.azure.com"
               : provider == ProviderKind::kAnthropic ? "https://api.anthropic.com/v1"
                                                      : "https://api.openai.com/v1";
  return d;
}

RequestEvent hello() {
  RequestEvent request;
  request.messages = {{"user", "hello"}};
  return request;
}

TEST(ProviderAdapter, RequestShapeFollowsTheDeploymentsProvider) {
  HttpRequest openai = build_provider_request(hello(), deployment_of(ProviderKind::kOpenAI), "k");
  EXPECT_EQ(openai.url, "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(header_value(openai, "Authorization"), "Bearer k");

  HttpRequest azure = build_provider_request(hello(), deployment_of(ProviderKind::kAzure), "k");
  EXPECT_EQ(azure.url,
            "https://res.openai.azure.com/openai/deployments/m/chat/completions?api-version=2024-"
            "10-21");
  EXPECT_EQ(header_value(azure, "api-key"), "k");

  HttpRequest anthropic =
      build_provider_request(hello(), deployment_of(ProviderKind::kAnthropic), "k");
  EXPECT_EQ(anthropic.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(header_value(anthropic, "x-api-key"), "k");
  EXPECT_EQ(anthropic.body,
            R"({"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"hello"}]})");
}

TEST(ProviderAdapter, ResponseIsReadWithTheDeploymentsProvider) {
  const std::string anthropic_body = fixture("anthropic_message_with_cache.json");
  EXPECT_EQ(parse_provider_response(deployment_of(ProviderKind::kAnthropic),
                                    response_of(200, anthropic_body), "")
                .kind,
            OutcomeKind::kOk);
  // The same Anthropic body is no chat.completion.
  EXPECT_EQ(parse_provider_response(deployment_of(ProviderKind::kOpenAI),
                                    response_of(200, anthropic_body), "")
                .kind,
            OutcomeKind::kFatal);
  EXPECT_EQ(
      parse_provider_response(deployment_of(ProviderKind::kAzure),
                              response_of(200, fixture("openai_o4_mini_cached_reasoning.json")), "")
          .kind,
      OutcomeKind::kOk);
}

// One failure, as each provider words it.
struct FailureCase {
  const char* what;
  int status;
  std::string openai_body;     // also Azure's (same error envelope)
  std::string anthropic_body;  // {"type":"error","error":{...}}
  OutcomeKind expected;
};

std::string openai_error(const std::string& message, const std::string& code) {
  return R"({"error":{"message":")" + message +
         R"(","type":"invalid_request_error","param":null,"code":)" +
         (code.empty() ? std::string("null") : "\"" + code + "\"") + "}}";
}

std::string anthropic_error(const std::string& type, const std::string& message) {
  return R"({"type":"error","error":{"type":")" + type + R"(","message":")" + message +
         R"("},"request_id":"req_1"})";
}

std::vector<FailureCase> failure_cases() {
  return {
      {"context too long", 400,
       openai_error("This model's maximum context length is 128000 tokens.",
                    "context_length_exceeded"),
       anthropic_error("invalid_request_error",
                       "prompt is too long: 208310 tokens > 200000 maximum"),
       OutcomeKind::kContextTooLong},
      {"content filter", 400,
       openai_error("The response was filtered due to the prompt triggering Azure OpenAI's content "
                    "management policy.",
                    "content_filter"),
       // Anthropic has no filter error: it answers 200 with stop_reason refusal (anthropic_test).
       "", OutcomeKind::kContentFiltered},
      {"bad key", 401, openai_error("Incorrect API key provided", "invalid_api_key"),
       anthropic_error("authentication_error", "invalid x-api-key"), OutcomeKind::kAuth},
      {"no permission", 403, openai_error("You are not allowed to sample from this model", ""),
       anthropic_error("permission_error", "Your API key does not have permission"),
       OutcomeKind::kAuth},
      {"billing", 402, openai_error("Payment required", ""),
       anthropic_error("billing_error", "Your credit balance is too low"), OutcomeKind::kAuth},
      {"request timeout", 408, openai_error("Request timed out", ""),
       anthropic_error("timeout_error", "Request timed out"), OutcomeKind::kRetryable},
      {"server error", 500, openai_error("The server had an error", ""),
       anthropic_error("api_error", "Internal server error"), OutcomeKind::kRetryable},
      {"bad gateway", 502, "<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>",
       OutcomeKind::kRetryable},
      {"unavailable", 503, openai_error("The engine is currently overloaded", ""),
       anthropic_error("api_error", "Service unavailable"), OutcomeKind::kRetryable},
      {"overloaded", 529, openai_error("Overloaded", ""),
       anthropic_error("overloaded_error", "Overloaded"), OutcomeKind::kRetryable},
      {"rate limited", 429, openai_error("Rate limit reached", "rate_limit_exceeded"),
       anthropic_error("rate_limit_error", "Number of request tokens has exceeded your limit"),
       OutcomeKind::kRateLimited},
      {"unknown model", 404, openai_error("The model `m` does not exist", "model_not_found"),
       anthropic_error("not_found_error", "model: m"), OutcomeKind::kFatal},
      {"invalid request", 400, openai_error("Invalid value for 'temperature'", "invalid_value"),
       anthropic_error("invalid_request_error", "temperature: range: 0..1"), OutcomeKind::kFatal},
  };
}

TEST(ProviderAdapter, EveryProviderMapsFailuresToTheSameErrorClasses) {
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    for (const FailureCase& c : failure_cases()) {
      const std::string& body =
          provider == ProviderKind::kAnthropic ? c.anthropic_body : c.openai_body;
      if (body.empty()) continue;
      ProviderOutcome outcome = parse_provider_response(
          deployment_of(provider), response_of(c.status, body, {{"retry-after", "3"}}), "");
      EXPECT_EQ(outcome.kind, c.expected)
          << to_string(provider) << ", " << c.what << ": got " << to_string(outcome.kind) << " ("
          << outcome.error_message << ")";
      EXPECT_EQ(outcome.http_status, c.status);
      EXPECT_EQ(outcome.retry_after_ms, 3000) << to_string(provider) << ", " << c.what;
      EXPECT_EQ(
          outcome.error_message.rfind("HTTP " + std::to_string(c.status) + " from provider", 0), 0u)
          << outcome.error_message;
    }
  }
}

TEST(ProviderAdapter, EveryProviderTreatsTransportFailuresAsRetryable) {
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    HttpResponse timeout;
    timeout.transport_error = "request timed out after 120000 ms";
    timeout.timed_out = true;
    ProviderOutcome outcome = parse_provider_response(deployment_of(provider), timeout, "");
    EXPECT_EQ(outcome.kind, OutcomeKind::kRetryable) << to_string(provider);
    EXPECT_EQ(outcome.http_status, 0);
    EXPECT_EQ(outcome.error_message, timeout.transport_error);

    HttpResponse refused;
    refused.transport_error = "connect to 10.0.0.1:443 refused";
    EXPECT_EQ(parse_provider_response(deployment_of(provider), refused, "").kind,
              OutcomeKind::kRetryable);
    EXPECT_EQ(parse_provider_response(deployment_of(provider), HttpResponse{}, "").error_message,
              "no response");
  }
}

TEST(ProviderAdapter, ACertificateThatDoesNotVerifyIsAnAuthFailureNotARetry) {
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    HttpResponse tls;
    tls.transport_error =
        "TLS handshake with api.example.com:443 failed: certificate verify failed: hostname "
        "mismatch";
    ProviderOutcome outcome = parse_provider_response(deployment_of(provider), tls, "");
    EXPECT_EQ(outcome.kind, OutcomeKind::kAuth) << to_string(provider);
    EXPECT_EQ(outcome.error_message, tls.transport_error);
  }
}

TEST(ProviderAdapter, EveryProviderCallsAnUnreadableSuccessMalformed) {
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    for (const char* body : {"", "not json", "{\"id\": 1", "[]", "{}"}) {
      ProviderOutcome outcome =
          parse_provider_response(deployment_of(provider), response_of(200, body), "");
      EXPECT_EQ(outcome.kind, OutcomeKind::kFatal) << to_string(provider) << " " << body;
      EXPECT_EQ(outcome.error_message.rfind("malformed provider response: ", 0), 0u)
          << outcome.error_message;
    }
  }
}

TEST(ProviderAdapter, NoProviderEverPutsTheKeyInAnErrorMessage) {
  const std::string key = "sk-live-ABCDEF0123456789";
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    for (int status : {400, 401, 429, 500}) {
      ProviderOutcome outcome = parse_provider_response(
          deployment_of(provider),
          response_of(status, R"({"type":"error","error":{"type":"x","message":"key )" + key +
                                  R"( rejected","code":")" + key + R"("}})"),
          key);
      EXPECT_EQ(outcome.error_message.find(key), std::string::npos) << outcome.error_message;
    }
    HttpResponse transport;
    transport.transport_error = "proxy said: bad header api-key=" + key;
    EXPECT_EQ(
        parse_provider_response(deployment_of(provider), transport, key).error_message.find(key),
        std::string::npos);
    ProviderOutcome ok_shape_error =
        parse_provider_response(deployment_of(provider),
                                response_of(200, R"({"error":{"message":")" + key + R"("}})"), key);
    EXPECT_EQ(ok_shape_error.error_message.find(key), std::string::npos)
        << ok_shape_error.error_message;
  }
}

TEST(ProviderAdapter, EachAdapterReadsItsProvidersRateLimitHeadroomHeaders) {
  const std::vector<std::pair<std::string, std::string>> openai_headers = {
      {"x-ratelimit-remaining-requests", "42"}, {"x-ratelimit-remaining-tokens", "9000"}};
  const std::vector<std::pair<std::string, std::string>> anthropic_headers = {
      {"anthropic-ratelimit-requests-remaining", "7"},
      {"anthropic-ratelimit-tokens-remaining", "1234"}};
  for (ProviderKind provider : {ProviderKind::kOpenAI, ProviderKind::kAzure}) {
    ProviderOutcome o = parse_provider_response(deployment_of(provider),
                                                response_of(429, "{}", openai_headers), "");
    EXPECT_EQ(o.remaining_requests, 42) << to_string(provider);
    EXPECT_EQ(o.remaining_tokens, 9000) << to_string(provider);
    o = parse_provider_response(deployment_of(provider), response_of(429, "{}", anthropic_headers),
                                "");
    EXPECT_EQ(o.remaining_requests, std::nullopt) << "another provider's headers mean nothing";
  }
  ProviderOutcome o = parse_provider_response(deployment_of(ProviderKind::kAnthropic),
                                              response_of(429, "{}", anthropic_headers), "");
  EXPECT_EQ(o.remaining_requests, 7);
  EXPECT_EQ(o.remaining_tokens, 1234);
  o = parse_provider_response(
      deployment_of(ProviderKind::kAnthropic),
      response_of(429, "{}", {{"anthropic-ratelimit-requests-remaining", "-1"}}), "");
  EXPECT_EQ(o.remaining_requests, std::nullopt) << "only a non-negative count is headroom";
}

TEST(ProviderAdapter, AnAnswerWithoutUsageSaysSoAndAbsurdCountsAreRefused) {
  const std::string openai_no_usage =
      R"({"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]})";
  ProviderOutcome o = parse_provider_response(deployment_of(ProviderKind::kOpenAI),
                                              response_of(200, openai_no_usage), "");
  EXPECT_EQ(o.kind, OutcomeKind::kOk);
  EXPECT_FALSE(o.usage_reported) << "billed on an estimate by the worker, never silently $0";
  const std::string anthropic_no_usage =
      R"({"type":"message","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"})";
  o = parse_provider_response(deployment_of(ProviderKind::kAnthropic),
                              response_of(200, anthropic_no_usage), "");
  EXPECT_EQ(o.kind, OutcomeKind::kOk);
  EXPECT_FALSE(o.usage_reported);
  for (const char* count : {"20000000", "-5", "1e30"}) {
    const std::string lying =
        R"({"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],)"
        R"("usage":{"prompt_tokens":10,"completion_tokens":)" +
        std::string(count) + "}}";
    o = parse_provider_response(deployment_of(ProviderKind::kOpenAI), response_of(200, lying), "");
    EXPECT_EQ(o.kind, OutcomeKind::kFatal) << count;
    EXPECT_NE(o.error_message.find("usage reports"), std::string::npos) << o.error_message;
  }
  const std::string honest =
      R"({"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":10,"completion_tokens":2}})";
  o = parse_provider_response(deployment_of(ProviderKind::kOpenAI), response_of(200, honest), "");
  EXPECT_TRUE(o.usage_reported);
  EXPECT_EQ(o.usage.output_tokens, 2);
}

}  // namespace
}  // namespace switchyard
