#include "switchyard/event/result.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace switchyard {
namespace {

TEST(ResultEncode, OkResultCarriesOutputRouteUsageAndExactCost) {
  ResultEvent r;
  r.request_id = "r-1";
  r.team = "search";
  r.content = "hello \"world\"";
  r.finish_reason = "stop";
  r.route = {"interactive", "economy", "mini-a", "gpt-4o-mini", "openai", "requested tier economy"};
  r.usage = {21, 7, 0};
  r.cost = 7'350'000;  // 21 * 0.15 + 7 * 0.6 micro-dollars = 7.35 micro-dollars
  r.attempts = 1;
  r.metadata_json = R"({"trace":"abc"})";
  std::string json = encode_result(r);
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  EXPECT_STREQ(doc["schema"].GetString(), "switchyard.result.v1");
  EXPECT_STREQ(doc["status"].GetString(), "ok");
  EXPECT_STREQ(doc["output"]["content"].GetString(), "hello \"world\"");
  EXPECT_FALSE(doc.HasMember("error"));
  EXPECT_STREQ(doc["route"]["deployment"].GetString(), "mini-a");
  EXPECT_EQ(doc["usage"]["input_tokens"].GetInt64(), 21);
  EXPECT_NE(json.find("\"cost_usd\":0.00000735"), std::string::npos) << json;
  EXPECT_STREQ(doc["metadata"]["trace"].GetString(), "abc");
}

TEST(ResultEncode, UsageCarriesEveryTokenClass) {
  ResultEvent r;
  r.request_id = "r-3";
  r.team = "legal";
  r.content = "ok";
  r.finish_reason = "stop";
  // Anthropic call: 14 uncached + 3062 read from the cache + 1418 written to it.
  r.usage = {4494, 393, 3062, 1418, 0};
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(encode_result(r).c_str()).HasParseError());
  const auto& usage = doc["usage"];
  EXPECT_EQ(usage["input_tokens"].GetInt64(), 4494);
  EXPECT_EQ(usage["output_tokens"].GetInt64(), 393);
  EXPECT_EQ(usage["cached_input_tokens"].GetInt64(), 3062);
  EXPECT_EQ(usage["cache_creation_input_tokens"].GetInt64(), 1418);
  EXPECT_EQ(usage["reasoning_tokens"].GetInt64(), 0);  // always present, like cached tokens

  r.usage = {5210, 1630, 4096, 0, 1216};  // an OpenAI reasoning model
  ASSERT_FALSE(doc.Parse(encode_result(r).c_str()).HasParseError());
  EXPECT_EQ(doc["usage"]["reasoning_tokens"].GetInt64(), 1216);
  EXPECT_EQ(doc["usage"]["cache_creation_input_tokens"].GetInt64(), 0);
}

TEST(ResultUsage, AddingCallsSumsEveryClass) {
  Usage total{100, 20, 50, 10, 5};
  total += Usage{1, 2, 3, 4, 5};
  EXPECT_EQ(total.input_tokens, 101);
  EXPECT_EQ(total.output_tokens, 22);
  EXPECT_EQ(total.cached_input_tokens, 53);
  EXPECT_EQ(total.cache_creation_input_tokens, 14);
  EXPECT_EQ(total.reasoning_tokens, 10);
}

TEST(ResultEncode, ErrorResultHasCodeAndMessageAndNoOutput) {
  ResultEvent r;
  r.request_id = "r-2";
  r.error = ErrorCode::kInvalidRequest;
  r.error_message = "team is required";
  rapidjson::Document doc;
  doc.Parse(encode_result(r).c_str());
  EXPECT_STREQ(doc["status"].GetString(), "error");
  EXPECT_STREQ(doc["error"]["code"].GetString(), "invalid_request");
  EXPECT_STREQ(doc["error"]["message"].GetString(), "team is required");
  EXPECT_FALSE(doc.HasMember("output"));
  EXPECT_TRUE(doc["metadata"].IsNull());
  EXPECT_EQ(doc["cost_usd"].GetInt(), 0);
}

}  // namespace
}  // namespace switchyard
