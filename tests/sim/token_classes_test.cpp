// Token classes (prompt-cache hits, reasoning tokens), context windows and the content filter
// marker, per dialect.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/sim_client.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {
namespace {

using namespace sim_test;

// An OpenAI chat whose system prompt is `system_words` tokens long.
std::string openai_chat(const std::string& model, int system_words, const std::string& user) {
  return R"({"model":")" + model + R"(","messages":[{"role":"system","content":")" +
         words(system_words) + R"("},{"role":"user","content":")" + user + R"("}]})";
}

// An Anthropic request with a system prompt of `system_words` tokens, optionally marked as a
// cache breakpoint.
std::string anthropic_chat(int system_words, bool cache_control, const std::string& user) {
  return R"({"model":"claude-test","max_tokens":64,"system":[{"type":"text","text":")" +
         words(system_words) + "\"" +
         (cache_control ? R"(,"cache_control":{"type":"ephemeral"})" : "") +
         R"(}],"messages":[{"role":"user","content":")" + user + R"("}]})";
}

int cached_tokens(const Response& response) {
  auto doc = parse(response.body());
  return doc["usage"]["prompt_tokens_details"]["cached_tokens"].GetInt();
}

TEST(TokenClasses, LongOpenAiSystemPromptIsCachedFromTheSecondRequestIn128TokenSteps) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  // Prefix: 4 framing + 1100 words = 1104 tokens -> 1024 cached (8 x 128).
  Response first = client.chat(openai_chat("gpt-test", 1100, "first ask"));
  ASSERT_EQ(first.result_int(), 200) << first.body();
  EXPECT_EQ(cached_tokens(first), 0);
  EXPECT_EQ(parse(first.body())["usage"]["prompt_tokens"].GetInt(), 3 + 1104 + 4 + 2);

  Response second = client.chat(openai_chat("gpt-test", 1100, "another one too"));
  EXPECT_EQ(cached_tokens(second), 1024);
  EXPECT_EQ(parse(second.body())["usage"]["prompt_tokens"].GetInt(), 3 + 1104 + 4 + 3);

  // The cache is per model, and a different prefix is a miss.
  EXPECT_EQ(cached_tokens(client.chat(openai_chat("other-model", 1100, "q"))), 0);
  EXPECT_EQ(cached_tokens(client.chat(openai_chat("gpt-test", 1101, "q"))), 0);
  // 1300 words + 4 = 1304 -> 1280 once seen.
  client.chat(openai_chat("gpt-test", 1300, "q"));
  EXPECT_EQ(cached_tokens(client.chat(openai_chat("gpt-test", 1300, "q"))), 1280);
}

TEST(TokenClasses, SystemPromptBelow1024TokensIsNeverCached) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(cached_tokens(client.chat(openai_chat("gpt-test", 1019, "a long user message"))), 0);
}

TEST(TokenClasses, AzureCachesPerDeployment) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  std::string body = openai_chat("ignored", 1100, "q");
  EXPECT_EQ(cached_tokens(client.azure("east", body)), 0);
  EXPECT_EQ(cached_tokens(client.azure("east", body)), 1024);
  EXPECT_EQ(cached_tokens(client.azure("west", body)), 0);
}

TEST(TokenClasses, FailedRepliesDoNotFillThePromptCache) {
  SimOptions options = ephemeral();
  options.error_rate = 0.5;
  options.seed = 3;  // the first draws of this seed are errors (asserted below)
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  std::vector<int> statuses;
  std::vector<int> cached;  // of the 200s, in order
  for (int i = 0; i < 20; ++i) {
    Response response = client.chat(openai_chat("gpt-test", 1100, "q"));
    statuses.push_back(response.result_int());
    if (response.result_int() == 200) cached.push_back(cached_tokens(response));
  }
  ASSERT_EQ(statuses.front(), 500) << "pick a seed whose first request fails";
  ASSERT_GE(cached.size(), 2u);
  EXPECT_EQ(cached.front(), 0);
  for (std::size_t i = 1; i < cached.size(); ++i) EXPECT_EQ(cached[i], 1024);
}

TEST(TokenClasses, AnthropicCacheControlBreakpointIsCreatedThenRead) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  // Prefix: system framing 4 + 1100 = 1104; total = 3 + 1104 + 4 + 1.
  auto first = parse(client.anthropic(anthropic_chat(1100, true, "hi")).body());
  EXPECT_EQ(first["usage"]["cache_creation_input_tokens"].GetInt(), 1104);
  EXPECT_EQ(first["usage"]["cache_read_input_tokens"].GetInt(), 0);
  EXPECT_EQ(first["usage"]["input_tokens"].GetInt(), 3 + 4 + 1);

  auto second = parse(client.anthropic(anthropic_chat(1100, true, "other words")).body());
  EXPECT_EQ(second["usage"]["cache_creation_input_tokens"].GetInt(), 0);
  EXPECT_EQ(second["usage"]["cache_read_input_tokens"].GetInt(), 1104);
  EXPECT_EQ(second["usage"]["input_tokens"].GetInt(), 3 + 4 + 2);
}

TEST(TokenClasses, AnthropicWithoutCacheControlOrBelowMinimumDoesNotCache) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (int i = 0; i < 2; ++i) {
    auto unmarked = parse(client.anthropic(anthropic_chat(1100, false, "hi")).body());
    EXPECT_EQ(unmarked["usage"]["cache_creation_input_tokens"].GetInt(), 0);
    EXPECT_EQ(unmarked["usage"]["cache_read_input_tokens"].GetInt(), 0);
    EXPECT_EQ(unmarked["usage"]["input_tokens"].GetInt(), 3 + 1104 + 5);
    auto small = parse(client.anthropic(anthropic_chat(1000, true, "hi")).body());
    EXPECT_EQ(small["usage"]["cache_creation_input_tokens"].GetInt(), 0);
    EXPECT_EQ(small["usage"]["cache_read_input_tokens"].GetInt(), 0);
  }
}

TEST(TokenClasses, AnthropicBreakpointInAMessageCachesEverythingBeforeIt) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  std::string body =
      R"({"model":"c","max_tokens":9,"system":"be brief","messages":[{"role":"user","content":[)"
      R"({"type":"text","text":")" +
      words(1200) +
      R"(","cache_control":{"type":"ephemeral"}},)"
      R"({"type":"text","text":"and one more"}]}]})";
  // Prefix: system (4 + 2) + message framing 4 + 1200 = 1210; then 3 words + 3 priming.
  auto first = parse(client.anthropic(body).body());
  EXPECT_EQ(first["usage"]["cache_creation_input_tokens"].GetInt(), 1210);
  EXPECT_EQ(first["usage"]["input_tokens"].GetInt(), 6);
  auto second = parse(client.anthropic(body).body());
  EXPECT_EQ(second["usage"]["cache_read_input_tokens"].GetInt(), 1210);
}

TEST(TokenClasses, ReasoningModelsReportThreeQuartersOfTheCompletionAsReasoning) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (const char* model : {"o1", "o3-mini", "o4-mini-2025", "acme-reasoner-v2"}) {
    auto doc = parse(client
                         .chat(std::string(R"({"model":")") + model +
                               R"(","messages":[{"role":"user","content":"hi"}]})")
                         .body());
    EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 16) << model;
    EXPECT_EQ(doc["usage"]["completion_tokens_details"]["reasoning_tokens"].GetInt(), 12) << model;
    EXPECT_EQ(approx_token_count(doc["choices"][0]["message"]["content"].GetString()), 4u) << model;
  }
  auto plain = parse(
      client.chat(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})").body());
  EXPECT_EQ(plain["usage"]["completion_tokens_details"]["reasoning_tokens"].GetInt(), 0);
  auto azure =
      parse(client.azure("o3-east", R"({"messages":[{"role":"user","content":"hi"}]})").body());
  EXPECT_EQ(azure["usage"]["completion_tokens_details"]["reasoning_tokens"].GetInt(), 12);
  // One token of completion: nothing left for reasoning.
  auto tiny = parse(
      client.chat(R"({"model":"o1","max_tokens":1,"messages":[{"role":"user","content":"hi"}]})")
          .body());
  EXPECT_EQ(tiny["usage"]["completion_tokens_details"]["reasoning_tokens"].GetInt(), 0);
  EXPECT_EQ(approx_token_count(tiny["choices"][0]["message"]["content"].GetString()), 1u);
}

TEST(ContextWindow, OpenAiOverTheWindowIs400ContextLengthExceeded) {
  SimOptions options = ephemeral();
  options.context_windows = {{"small", 50}};
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  // 8 prompt tokens + 100 asked > 50.
  Response over = client.chat(
      R"({"model":"small","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(over.result_int(), 400);
  auto doc = parse(over.body());
  EXPECT_STREQ(doc["error"]["code"].GetString(), "context_length_exceeded");
  EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_STREQ(doc["error"]["param"].GetString(), "messages");
  std::string message = doc["error"]["message"].GetString();
  EXPECT_NE(message.find("maximum context length is 50 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("108"), std::string::npos) << message;

  EXPECT_EQ(
      client
          .chat(R"({"model":"small","max_tokens":42,"messages":[{"role":"user","content":"hi"}]})")
          .result_int(),
      200);  // 8 + 42 = 50 fits
  Response prompt_only = client.chat(R"({"model":"small","messages":[{"role":"user","content":")" +
                                     words(60) + R"("}]})");
  EXPECT_EQ(prompt_only.result_int(), 400);
  EXPECT_NE(std::string(parse(prompt_only.body())["error"]["message"].GetString())
                .find("your messages resulted in 67 tokens"),
            std::string::npos);
  // Other models: no window by default.
  EXPECT_EQ(
      client
          .chat(
              R"({"model":"big","max_tokens":100000,"messages":[{"role":"user","content":"hi"}]})")
          .result_int(),
      200);
  EXPECT_EQ(sim.stats().models.at("small").bad_requests, 2u);
}

TEST(ContextWindow, DefaultWindowAppliesToUnlistedModelsAndDeployments) {
  SimOptions options = ephemeral();
  options.context_windows = {{"huge", 1'000'000}};
  options.default_context_window = 100;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  std::string body = R"({"max_tokens":200,"messages":[{"role":"user","content":"hi"}]})";
  Response azure = client.azure("any-deployment", body);
  EXPECT_EQ(azure.result_int(), 400);
  EXPECT_STREQ(parse(azure.body())["error"]["code"].GetString(), "context_length_exceeded");
  EXPECT_EQ(client.azure("huge", body).result_int(), 200);
}

TEST(ContextWindow, AnthropicPromptTooLongAndPromptPlusMaxTokensErrors) {
  SimOptions options = ephemeral();
  options.context_windows = {{"claude-small", 100}};
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  Response too_long = client.anthropic(
      R"({"model":"claude-small","max_tokens":10,"messages":[{"role":"user","content":")" +
      words(200) + R"("}]})");
  EXPECT_EQ(too_long.result_int(), 400);
  auto doc = parse(too_long.body());
  EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_STREQ(doc["error"]["message"].GetString(), "prompt is too long: 207 tokens > 100 maximum");

  Response with_max = client.anthropic(
      R"({"model":"claude-small","max_tokens":95,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(with_max.result_int(), 400);
  std::string message = parse(with_max.body())["error"]["message"].GetString();
  EXPECT_NE(message.find("8 + 95 > 100"), std::string::npos) << message;
}

TEST(ContentFilter, OpenAiMarkerGivesFinishReasonContentFilter) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.chat(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"tell me [[sim:content_filter]] now"}]}]})");
  ASSERT_EQ(response.result_int(), 200);
  auto doc = parse(response.body());
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "content_filter");
  EXPECT_TRUE(doc["choices"][0]["message"]["content"].IsNull());
  EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 0);
  EXPECT_EQ(sim.stats().ok, 1u);
}

TEST(ContentFilter, AzureMarkerIs400ContentFilterWithInnerError) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response =
      client.azure("d", R"({"messages":[{"role":"system","content":"[[sim:content_filter]]"},)"
                        R"({"role":"user","content":"hi"}]})");
  EXPECT_EQ(response.result_int(), 400);
  auto doc = parse(response.body());
  const auto& error = doc["error"];
  EXPECT_STREQ(error["code"].GetString(), "content_filter");
  EXPECT_EQ(error["status"].GetInt(), 400);
  EXPECT_TRUE(error["message"].IsString());
  EXPECT_STREQ(error["innererror"]["code"].GetString(), "ResponsibleAIPolicyViolation");
  const auto& result = error["innererror"]["content_filter_result"];
  for (const char* category : {"hate", "self_harm", "sexual", "violence"}) {
    ASSERT_TRUE(result.HasMember(category)) << category;
    EXPECT_TRUE(result[category]["filtered"].IsBool());
    EXPECT_TRUE(result[category]["severity"].IsString());
  }
  EXPECT_TRUE(result["violence"]["filtered"].GetBool());
  EXPECT_EQ(sim.stats().bad_requests, 1u);
}

TEST(ContentFilter, AnthropicMarkerGivesStopReasonRefusal) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  auto doc = parse(client
                       .anthropic(R"({"model":"c","max_tokens":9,"messages":[)"
                                  R"({"role":"user","content":"please [[sim:content_filter]]"}]})")
                       .body());
  EXPECT_STREQ(doc["stop_reason"].GetString(), "refusal");
  EXPECT_TRUE(doc["content"].IsArray());
  EXPECT_EQ(doc["content"].Size(), 0u);
  EXPECT_EQ(doc["usage"]["output_tokens"].GetInt(), 0);
}

}  // namespace
}  // namespace switchyard
