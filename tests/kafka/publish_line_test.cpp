// `switchyard publish` line handling: request.v1 events pass through, Batch API lines convert.
#include "switchyard/kafka/publish_line.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace switchyard {
namespace {

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError()) << json;
  return doc;
}

constexpr const char* kBatchLine =
    R"({"custom_id":"job-1","method":"POST","url":"/v1/chat/completions",)"
    R"("body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":64,"temperature":0.2}})";

TEST(ConvertPublishLine, PublishesARequestEventAsItIsKeyedByRequestId) {
  std::string line =
      R"({"request_id":"r-1","team":"search","messages":[{"role":"user","content":"x"}]})";
  PublishLine out = convert_publish_line(line, "ignored");
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.kind, PublishLineKind::kRequestEvent);
  EXPECT_EQ(out.request_id, "r-1");
  EXPECT_EQ(out.value, line) << "the original bytes, not a re-serialisation";
}

TEST(ConvertPublishLine, DropsTheCarriageReturnOfACrlfLine) {
  PublishLine out = convert_publish_line("{\"request_id\":\"r\",\"team\":\"t\"}\r", "");
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.value, "{\"request_id\":\"r\",\"team\":\"t\"}");
}

TEST(ConvertPublishLine, AddsTheDefaultTeamToARequestEventWithoutOne) {
  PublishLine out =
      convert_publish_line(R"({"request_id":"r-2","messages":[],"metadata":{"k":1}})", "billing");
  ASSERT_TRUE(out.ok()) << out.error;
  rapidjson::Document doc = parse(out.value);
  EXPECT_STREQ(doc["team"].GetString(), "billing");
  EXPECT_EQ(doc["metadata"]["k"].GetInt(), 1) << "other fields are kept";
}

TEST(ConvertPublishLine, KeepsARequestEventWithoutTeamUnchangedWhenNoDefaultTeam) {
  std::string line = R"({"request_id":"r-3","messages":[]})";
  PublishLine out = convert_publish_line(line, "");
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.value, line) << "the worker validates and answers with an error result";
}

TEST(ConvertPublishLine, RejectsARequestEventWhoseRequestIdIsNotAString) {
  PublishLine out = convert_publish_line(R"({"request_id":42,"team":"t"})", "");
  EXPECT_EQ(out.kind, PublishLineKind::kRejected);
  EXPECT_NE(out.error.find("request_id"), std::string::npos) << out.error;
}

TEST(ConvertPublishLine, ConvertsABatchApiLineToARequestEvent) {
  PublishLine out = convert_publish_line(kBatchLine, "search");
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.kind, PublishLineKind::kBatchApiLine);
  EXPECT_EQ(out.request_id, "job-1");
  rapidjson::Document doc = parse(out.value);
  EXPECT_STREQ(doc["request_id"].GetString(), "job-1");
  EXPECT_STREQ(doc["team"].GetString(), "search");
  EXPECT_STREQ(doc["model"].GetString(), "gpt-4o-mini");
  ASSERT_TRUE(doc["messages"].IsArray());
  ASSERT_EQ(doc["messages"].Size(), 1u);
  EXPECT_STREQ(doc["messages"][0]["content"].GetString(), "hi");
  EXPECT_EQ(doc["max_tokens"].GetInt(), 64);
  EXPECT_DOUBLE_EQ(doc["temperature"].GetDouble(), 0.2);
  EXPECT_STREQ(doc["metadata"]["batch_url"].GetString(), "/v1/chat/completions");
  EXPECT_FALSE(doc.HasMember("custom_id"));
  EXPECT_FALSE(doc.HasMember("body"));
}

TEST(ConvertPublishLine, BatchApiLineWithoutModelGetsAuto) {
  PublishLine out = convert_publish_line(
      R"({"custom_id":"j","method":"POST","url":"/v1/chat/completions","body":{"messages":[]}})",
      "t");
  ASSERT_TRUE(out.ok()) << out.error;
  rapidjson::Document doc = parse(out.value);
  EXPECT_STREQ(doc["model"].GetString(), "auto");
  EXPECT_FALSE(doc.HasMember("max_tokens"));
  EXPECT_FALSE(doc.HasMember("temperature"));
}

TEST(ConvertPublishLine, BatchApiMaxCompletionTokensBecomesMaxTokens) {
  PublishLine out =
      convert_publish_line(R"({"custom_id":"j","method":"POST","url":"/v1/chat/completions",)"
                           R"("body":{"model":"m","messages":[],"max_completion_tokens":500}})",
                           "t");
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(parse(out.value)["max_tokens"].GetInt(), 500);
}

TEST(ConvertPublishLine, BatchApiLineWithoutTeamIsRejectedAskingForTeamFlag) {
  PublishLine out = convert_publish_line(kBatchLine, "");
  EXPECT_EQ(out.kind, PublishLineKind::kRejected);
  EXPECT_NE(out.error.find("--team"), std::string::npos) << out.error;
}

TEST(ConvertPublishLine, BatchApiLineForAnotherEndpointIsRejected) {
  PublishLine out = convert_publish_line(
      R"({"custom_id":"e","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}})",
      "t");
  EXPECT_EQ(out.kind, PublishLineKind::kRejected);
  EXPECT_NE(out.error.find("/v1/embeddings"), std::string::npos) << out.error;
}

TEST(ConvertPublishLine, BatchApiLineWithoutMessagesIsRejected) {
  PublishLine out =
      convert_publish_line(R"({"custom_id":"e","url":"/v1/chat/completions","body":{}})", "t");
  EXPECT_EQ(out.kind, PublishLineKind::kRejected);
  EXPECT_NE(out.error.find("body.messages"), std::string::npos) << out.error;
}

TEST(ConvertPublishLine, RejectsLinesThatAreNotJson) {
  PublishLine out = convert_publish_line("{\"request_id\": ", "t");
  EXPECT_EQ(out.kind, PublishLineKind::kRejected);
  EXPECT_NE(out.error.find("not valid JSON"), std::string::npos) << out.error;
}

TEST(ConvertPublishLine, RejectsJsonThatIsNotAnObject) {
  EXPECT_EQ(convert_publish_line("[1,2]", "t").kind, PublishLineKind::kRejected);
  EXPECT_EQ(convert_publish_line("\"text\"", "t").kind, PublishLineKind::kRejected);
}

TEST(ConvertPublishLine, RejectsObjectsOfNeitherShape) {
  PublishLine out = convert_publish_line(R"({"id":"x","messages":[]})", "t");
  EXPECT_EQ(out.kind, PublishLineKind::kRejected);
  EXPECT_NE(out.error.find("request_id"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("custom_id"), std::string::npos) << out.error;
}

TEST(ConvertPublishLine, RejectsTrailingGarbageAfterTheObject) {
  EXPECT_EQ(convert_publish_line(R"({"request_id":"r","team":"t"} x)", "t").kind,
            PublishLineKind::kRejected);
}

TEST(ConvertPublishLine, IgnoresBlankLines) {
  EXPECT_EQ(convert_publish_line("", "t").kind, PublishLineKind::kBlank);
  EXPECT_EQ(convert_publish_line("  \t\r", "t").kind, PublishLineKind::kBlank);
  EXPECT_FALSE(convert_publish_line("", "t").ok());
}

}  // namespace
}  // namespace switchyard
