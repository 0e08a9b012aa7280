// The Anthropic Messages and Azure OpenAI dialects of the simulator: reply shapes, header and
// body validation, in each provider's error shape.
#include <gtest/gtest.h>

#include <string>

#include "sim/sim_client.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {
namespace {

using namespace sim_test;

constexpr const char* kAnthropicHello =
    R"({"model":"claude-test","max_tokens":1024,"system":"You are a terse assistant.",)"
    R"("messages":[{"role":"user","content":"Hello, world! What is 2+2?"}]})";

constexpr const char* kOpenAiHello =
    R"({"model":"ignored-by-azure","messages":[{"role":"user","content":"Hello"}]})";

// An Anthropic error: the envelope, the error type, a request_id; returns the message.
std::string expect_anthropic_error(const Response& response, int status, const std::string& type) {
  EXPECT_EQ(response.result_int(), status) << response.body();
  auto doc = parse(response.body());
  if (!doc.IsObject() || !doc.HasMember("error")) {
    ADD_FAILURE() << response.body();
    return {};
  }
  EXPECT_STREQ(doc["type"].GetString(), "error");
  EXPECT_STREQ(doc["error"]["type"].GetString(), type.c_str()) << response.body();
  EXPECT_EQ(std::string(doc["request_id"].GetString()).rfind("req_", 0), 0u);
  return doc["error"]["message"].GetString();
}

TEST(AnthropicDialect, MessageReplyHasTheMessagesApiShapeAndUsage) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.anthropic(kAnthropicHello);
  ASSERT_EQ(response.result_int(), 200) << response.body();
  EXPECT_EQ(header(response, "request-id").rfind("req_", 0), 0u);
  EXPECT_EQ(header(response, "anthropic-ratelimit-requests-limit"), "10000");
  EXPECT_FALSE(header(response, "anthropic-ratelimit-tokens-remaining").empty());
  EXPECT_FALSE(header(response, "anthropic-ratelimit-requests-reset").empty());

  auto doc = parse(response.body());
  EXPECT_EQ(std::string(doc["id"].GetString()).rfind("msg_", 0), 0u);
  EXPECT_STREQ(doc["type"].GetString(), "message");
  EXPECT_STREQ(doc["role"].GetString(), "assistant");
  EXPECT_STREQ(doc["model"].GetString(), "claude-test");
  ASSERT_TRUE(doc["content"].IsArray());
  ASSERT_EQ(doc["content"].Size(), 1u);
  EXPECT_STREQ(doc["content"][0]["type"].GetString(), "text");
  EXPECT_EQ(approx_token_count(doc["content"][0]["text"].GetString()), 16u);
  EXPECT_STREQ(doc["stop_reason"].GetString(), "end_turn");
  EXPECT_TRUE(doc["stop_sequence"].IsNull());
  const auto& usage = doc["usage"];
  // 3 priming + system (4 + 8) + user (4 + 10): the same count as the OpenAI form of this chat.
  EXPECT_EQ(usage["input_tokens"].GetInt(), 29);
  EXPECT_EQ(usage["output_tokens"].GetInt(), 16);
  EXPECT_EQ(usage["cache_creation_input_tokens"].GetInt(), 0);
  EXPECT_EQ(usage["cache_read_input_tokens"].GetInt(), 0);
  EXPECT_FALSE(usage.HasMember("prompt_tokens"));
}

TEST(AnthropicDialect, SystemAsTextBlocksCountsLikeSystemAsString) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  auto blocks = parse(client
                          .anthropic(R"({"model":"c","max_tokens":8,"system":[)"
                                     R"({"type":"text","text":"You are a"},)"
                                     R"({"type":"text","text":"terse assistant."}],)"
                                     R"("messages":[{"role":"user","content":[)"
                                     R"({"type":"text","text":"Hello, world! What is 2+2?"}]}]})")
                          .body());
  EXPECT_EQ(blocks["usage"]["input_tokens"].GetInt(), 29);
  auto alias =
      client.send(http::verb::post, "/messages", kAnthropicHello, Client::anthropic_headers());
  EXPECT_EQ(alias.result_int(), 200);
}

TEST(AnthropicDialect, MaxTokensBelowOutputTokensStopsWithMaxTokens) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  auto doc = parse(client
                       .anthropic(R"({"model":"c","max_tokens":5,)"
                                  R"("messages":[{"role":"user","content":"Write a story."}]})")
                       .body());
  EXPECT_STREQ(doc["stop_reason"].GetString(), "max_tokens");
  EXPECT_EQ(doc["usage"]["output_tokens"].GetInt(), 5);
  EXPECT_EQ(approx_token_count(doc["content"][0]["text"].GetString()), 5u);
}

TEST(AnthropicDialect, MissingApiKeyIs401AuthenticationError) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  std::string message = expect_anthropic_error(
      client.anthropic(kAnthropicHello, {{"anthropic-version", "2023-06-01"}}), 401,
      "authentication_error");
  EXPECT_NE(message.find("x-api-key"), std::string::npos) << message;
}

TEST(AnthropicDialect, MissingOrUnknownVersionIs400InvalidRequestError) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  std::string missing = expect_anthropic_error(
      client.anthropic(kAnthropicHello, {{"x-api-key", "k"}}), 400, "invalid_request_error");
  EXPECT_NE(missing.find("anthropic-version"), std::string::npos) << missing;
  std::string unknown = expect_anthropic_error(
      client.anthropic(kAnthropicHello, {{"x-api-key", "k"}, {"anthropic-version", "2024-10-22"}}),
      400, "invalid_request_error");
  EXPECT_NE(unknown.find("2024-10-22"), std::string::npos) << unknown;
  EXPECT_EQ(
      client.anthropic(kAnthropicHello, {{"x-api-key", "k"}, {"anthropic-version", "2023-01-01"}})
          .result_int(),
      200);
}

TEST(AnthropicDialect, InvalidBodiesAre400AndNameTheField) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  struct Case {
    const char* body;
    const char* field;
  };
  for (
      const Case& c : {
          Case{R"({"model":"c","messages":[{"role":"user","content":"hi"}]})", "max_tokens"},
          Case{R"({"model":"c","max_tokens":0,"messages":[{"role":"user","content":"hi"}]})",
               "max_tokens"},
          Case{R"({"model":"c","max_tokens":"9","messages":[{"role":"user","content":"hi"}]})",
               "max_tokens"},
          Case{R"({"max_tokens":9,"messages":[{"role":"user","content":"hi"}]})", "model"},
          Case{R"({"model":"c","max_tokens":9})", "messages"},
          Case{R"({"model":"c","max_tokens":9,"messages":[]})", "messages"},
          Case{R"({"model":"c","max_tokens":9,"messages":[{"role":"tool","content":"hi"}]})",
               "messages.0.role"},
          Case{R"({"model":"c","max_tokens":9,"messages":[{"role":"user"}]})",
               "messages.0.content"},
          Case{
              R"({"model":"c","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text"}]}]})",
              "messages.0.content.0.text"},
          Case{
              R"({"model":"c","max_tokens":9,"system":7,"messages":[{"role":"user","content":"hi"}]})",
              "system"},
          Case{R"({"model":"c","max_tokens":9,"system":[{"type":"image"}],)"
               R"("messages":[{"role":"user","content":"hi"}]})",
               "system.0.type"},
          Case{"{not json", "JSON"},
      }) {
    std::string message =
        expect_anthropic_error(client.anthropic(c.body), 400, "invalid_request_error");
    EXPECT_NE(message.find(c.field), std::string::npos) << c.body << " -> " << message;
  }
}

TEST(AnthropicDialect, SystemRoleInMessagesIs400PointingToTopLevelSystem) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  std::string message = expect_anthropic_error(
      client.anthropic(
          R"({"model":"c","max_tokens":9,"messages":[)"
          R"({"role":"system","content":"be brief"},{"role":"user","content":"hi"}]})"),
      400, "invalid_request_error");
  EXPECT_NE(message.find("system"), std::string::npos) << message;
  EXPECT_NE(message.find("top-level"), std::string::npos) << message;
}

TEST(AnthropicDialect, SimulatedErrorsAre529OverloadedError) {
  SimOptions options = ephemeral();
  options.error_rate = 1.0;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  expect_anthropic_error(client.anthropic(kAnthropicHello), 529, "overloaded_error");
  EXPECT_EQ(sim.stats().errors, 1u);
}

TEST(AnthropicDialect, RateLimitIs429RateLimitErrorWithRetryAfter) {
  SimOptions options = ephemeral();
  options.rate_limit_rate = 1.0;
  options.retry_after_s = 3;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  Response response = client.anthropic(kAnthropicHello);
  expect_anthropic_error(response, 429, "rate_limit_error");
  EXPECT_EQ(header(response, "retry-after"), "3");
  EXPECT_EQ(header(response, "anthropic-ratelimit-requests-remaining"), "0");
}

TEST(AzureDialect, ReplyReportsTheDeploymentAsModelWithFilterResults) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.azure("prod-gpt4o", kOpenAiHello);
  ASSERT_EQ(response.result_int(), 200) << response.body();
  EXPECT_FALSE(header(response, "x-ratelimit-remaining-requests").empty());
  auto doc = parse(response.body());
  EXPECT_STREQ(doc["object"].GetString(), "chat.completion");
  EXPECT_STREQ(doc["model"].GetString(), "prod-gpt4o");
  ASSERT_TRUE(doc["prompt_filter_results"].IsArray());
  EXPECT_EQ(doc["prompt_filter_results"][0]["prompt_index"].GetInt(), 0);
  EXPECT_FALSE(
      doc["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"].GetBool());
  const auto& choice = doc["choices"][0];
  EXPECT_STREQ(choice["finish_reason"].GetString(), "stop");
  EXPECT_STREQ(choice["content_filter_results"]["violence"]["severity"].GetString(), "safe");
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 3 + 4 + 1);
  EXPECT_EQ(sim.stats().models.count("prod-gpt4o"), 1u);
}

TEST(AzureDialect, BearerTokenIsAcceptedInsteadOfApiKey) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  EXPECT_EQ(client.azure("d", kOpenAiHello, {{"Authorization", "Bearer entra-token"}}).result_int(),
            200);
}

TEST(AzureDialect, MissingApiKeyIs401InAzureGatewayShape) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.azure("d", kOpenAiHello, {});
  EXPECT_EQ(response.result_int(), 401);
  auto doc = parse(response.body());
  EXPECT_STREQ(doc["error"]["code"].GetString(), "401");
  EXPECT_NE(std::string(doc["error"]["message"].GetString()).find("Access denied"),
            std::string::npos);
}

TEST(AzureDialect, MissingApiVersionIs404ResourceNotFound) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (const char* query : {"", "?api-version=", "?other=1"}) {
    Response response = client.azure("d", kOpenAiHello, {{"api-key", "k"}}, query);
    EXPECT_EQ(response.result_int(), 404) << query;
    auto doc = parse(response.body());
    EXPECT_STREQ(doc["error"]["code"].GetString(), "404");
    EXPECT_STREQ(doc["error"]["message"].GetString(), "Resource not found");
  }
  EXPECT_EQ(client.azure("d", kOpenAiHello, {{"api-key", "k"}}, "?x=1&api-version=2024-06-01")
                .result_int(),
            200);
}

TEST(AzureDialect, InvalidBodyIs400InOpenAiErrorShape) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.azure("d", R"({"messages":[]})");
  EXPECT_EQ(response.result_int(), 400);
  auto doc = parse(response.body());
  EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_STREQ(doc["error"]["param"].GetString(), "messages");
}

TEST(AzureDialect, MalformedDeploymentPathsAre404) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (const char* target : {"/openai/deployments//chat/completions?api-version=1",
                             "/openai/deployments/a/b/chat/completions?api-version=1",
                             "/openai/deployments/a/completions?api-version=1"}) {
    EXPECT_EQ(client.send(http::verb::post, target, kOpenAiHello, {{"api-key", "k"}}).result_int(),
              404)
        << target;
  }
  EXPECT_EQ(sim.stats().requests, 0u);
}

}  // namespace
}  // namespace switchyard
