// The JSON Schemas in schemas/ and the code agree: events the decoder accepts validate against
// request.v1.json and events it rejects do not; every encoded result validates against
// result.v1.json.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/schema.h>

#include <fstream>
#include <sstream>

#include "switchyard/event/request.h"
#include "switchyard/event/result.h"

namespace switchyard {
namespace {

rapidjson::SchemaDocument load_schema(const std::string& name) {
  std::ifstream in(std::string(SWITCHYARD_SOURCE_DIR) + "/schemas/" + name);
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(text.str().c_str());
  EXPECT_FALSE(doc.HasParseError()) << name;
  return rapidjson::SchemaDocument(doc);
}

bool validates(const rapidjson::SchemaDocument& schema, const std::string& json) {
  rapidjson::Document doc;
  if (doc.Parse(json.c_str()).HasParseError()) return false;
  rapidjson::SchemaValidator validator(schema);
  return doc.Accept(validator);
}

TEST(Schemas, RequestSchemaAndDecoderAgree) {
  auto schema = load_schema("request.v1.json");
  const std::vector<std::string> valid = {
      R"({"request_id":"a","team":"t","messages":[{"role":"user","content":"hi"}]})",
      R"({"request_id":"a.b:c_d-9","team":"t","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"x"}]}],
          "priority":"interactive","model":"economy","task_type":"code","max_tokens":5,"temperature":1.5,
          "deadline":"2026-01-01T00:00:00Z","region":"eu","metadata":{"k":1},"reply_topic":"r","extra":true})",
  };
  const std::vector<std::string> invalid = {
      R"({"team":"t","messages":[{"role":"user","content":"hi"}]})",
      R"({"request_id":"has space","team":"t","messages":[{"role":"user","content":"hi"}]})",
      R"({"request_id":"a","team":5,"messages":[{"role":"user","content":"hi"}]})",
      R"({"request_id":"a","team":"t","messages":[]})",
      R"({"request_id":"a","team":"t","messages":[{"role":"tool","content":"hi"}]})",
      R"({"request_id":"a","team":"t","messages":[{"role":"user","content":"hi"}],"priority":"urgent"})",
      R"({"request_id":"a","team":"t","messages":[{"role":"user","content":"hi"}],"max_tokens":0})",
      R"({"request_id":"a","team":"t","messages":[{"role":"user","content":"hi"}],"temperature":3})",
      R"({"request_id":"a","team":"t","messages":[{"role":"user","content":"hi"}],"deadline":"tomorrow"})",
      R"({"request_id":"a","team":"t","messages":[{"role":"user","content":"hi"}],"metadata":[1]})",
  };
  for (const auto& json : valid) {
    EXPECT_TRUE(validates(schema, json)) << json;
    EXPECT_EQ(decode_request(json, 1 << 20).status, DecodeStatus::kOk) << json;
  }
  for (const auto& json : invalid) {
    EXPECT_FALSE(validates(schema, json)) << json;
    EXPECT_NE(decode_request(json, 1 << 20).status, DecodeStatus::kOk) << json;
  }
}

TEST(Schemas, EncodedResultsValidate) {
  auto schema = load_schema("result.v1.json");
  ResultEvent ok;
  ok.request_id = "r";
  ok.team = "t";
  ok.content = "c";
  ok.finish_reason = "stop";
  ok.cost = 123;
  ok.metadata_json = R"({"a":1})";
  EXPECT_TRUE(validates(schema, encode_result(ok))) << encode_result(ok);
  ResultEvent err = ok;
  err.error = ErrorCode::kProviderError;
  err.error_message = "boom";
  EXPECT_TRUE(validates(schema, encode_result(err))) << encode_result(err);
  std::string broken = encode_result(ok);
  broken.replace(broken.find("\"ok\""), 4, "\"maybe\"");
  EXPECT_FALSE(validates(schema, broken));
}

TEST(Schemas, ResultUsageTokenClassesValidateAndOlderResultsWithoutThemToo) {
  auto schema = load_schema("result.v1.json");
  ResultEvent r;
  r.request_id = "r";
  r.team = "t";
  r.usage = {4494, 1630, 3062, 1418, 1216};
  const std::string json = encode_result(r);
  EXPECT_TRUE(validates(schema, json)) << json;
  // A result stored before the two classes existed is still a valid v1 result (re-emitted as is).
  std::string older = json;
  for (const std::string field :
       {",\"cache_creation_input_tokens\":1418", ",\"reasoning_tokens\":1216"}) {
    ASSERT_NE(older.find(field), std::string::npos) << older;
    older.erase(older.find(field), field.size());
  }
  EXPECT_TRUE(validates(schema, older)) << older;
  std::string negative = json;
  negative.replace(negative.find("1216"), 4, "-1");
  EXPECT_FALSE(validates(schema, negative));
}

}  // namespace
}  // namespace switchyard
