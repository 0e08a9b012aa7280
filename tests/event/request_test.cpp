#include "switchyard/event/request.h"

#include <gtest/gtest.h>

#include "switchyard/common/json_text.h"

namespace switchyard {
namespace {

constexpr std::size_t kMax = 1 << 20;

DecodedRequest decode(const std::string& json) {
  return decode_request(json, kMax);
}

bool has_violation(const DecodedRequest& d, const std::string& fragment) {
  for (const auto& v : d.violations) {
    if (v.find(fragment) != std::string::npos) return true;
  }
  return false;
}

const char* kValid =
    R"({"request_id":"r-1","team":"search","messages":[{"role":"user","content":"hi"}]})";

TEST(RequestDecode, MinimalValidEventUsesDefaults) {
  auto d = decode(kValid);
  ASSERT_EQ(d.status, DecodeStatus::kOk) << d.reason();
  EXPECT_EQ(d.request.request_id, "r-1");
  EXPECT_EQ(d.request.team, "search");
  EXPECT_EQ(d.request.model, "auto");
  EXPECT_FALSE(d.request.priority.has_value());
  ASSERT_EQ(d.request.messages.size(), 1u);
  EXPECT_EQ(d.request.messages[0].content, "hi");
}

TEST(RequestDecode, AllOptionalFieldsAreRead) {
  auto d = decode(R"({"request_id":"a.b:c_d-1","team":"t","messages":[
      {"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}],
      "priority":"interactive","model":"economy","task_type":"classification","max_tokens":64,
      "temperature":0.5,"deadline":"2026-11-21T10:00:00.250+01:00","region":"eu",
      "metadata":{"k":[1,2]},"reply_topic":"replies","unknown_field":{"ignored":true}})");
  ASSERT_EQ(d.status, DecodeStatus::kOk) << d.reason();
  const auto& r = d.request;
  EXPECT_EQ(r.priority, PriorityClass::kInteractive);
  EXPECT_EQ(r.model, "economy");
  EXPECT_EQ(r.task_type, "classification");
  EXPECT_EQ(r.max_tokens, 64);
  EXPECT_DOUBLE_EQ(*r.temperature, 0.5);
  EXPECT_EQ(r.deadline_unix_ms, parse_rfc3339_ms("2026-11-21T09:00:00.250Z"));
  EXPECT_EQ(r.region, "eu");
  EXPECT_EQ(r.metadata_json, R"({"k":[1,2]})");
  EXPECT_EQ(r.reply_topic, "replies");
  EXPECT_EQ(r.messages[1].content, "xy");
}

TEST(RequestDecode, NotJsonIsUnreadable) {
  auto d = decode("this is not json");
  EXPECT_EQ(d.status, DecodeStatus::kUnreadable);
  EXPECT_TRUE(has_violation(d, "not valid JSON"));
}

TEST(RequestDecode, NonObjectIsUnreadable) {
  auto d = decode("[1,2,3]");
  EXPECT_EQ(d.status, DecodeStatus::kUnreadable);
  EXPECT_TRUE(has_violation(d, "must be a JSON object"));
}

TEST(RequestDecode, MissingRequestIdIsUnreadable) {
  auto d = decode(R"({"team":"t","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(d.status, DecodeStatus::kUnreadable);
  EXPECT_TRUE(has_violation(d, "request_id is required"));
}

TEST(RequestDecode, NonStringRequestIdIsUnreadable) {
  auto d = decode(R"({"request_id":42,"team":"t","messages":[]})");
  EXPECT_EQ(d.status, DecodeStatus::kUnreadable);
  EXPECT_TRUE(has_violation(d, "request_id must be a string, got a number"));
}

TEST(RequestDecode, RequestIdCharactersAndLengthAreChecked) {
  EXPECT_EQ(decode(R"({"request_id":"has space","team":"t","messages":[]})").status,
            DecodeStatus::kUnreadable);
  EXPECT_EQ(decode(R"({"request_id":"","team":"t","messages":[]})").status,
            DecodeStatus::kUnreadable);
  std::string long_id(129, 'a');
  EXPECT_EQ(decode(R"({"request_id":")" + long_id + R"(","team":"t"})").status,
            DecodeStatus::kUnreadable);
  EXPECT_TRUE(is_valid_request_id(std::string(128, 'a')));
}

TEST(RequestDecode, EveryViolationIsReportedAtOnce) {
  auto d = decode(R"({"request_id":"r","team":7,"messages":"hi","priority":"urgent","max_tokens":-1,
                      "temperature":"hot","deadline":"tomorrow","metadata":[1],"model":""})");
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_EQ(d.request.request_id, "r");
  EXPECT_TRUE(has_violation(d, "team must be a string, got a number"));
  EXPECT_TRUE(has_violation(d, "messages must be an array"));
  EXPECT_TRUE(has_violation(d, "priority must be 'interactive' or 'background', got 'urgent'"));
  EXPECT_TRUE(has_violation(d, "max_tokens must be an integer from 1 to 10000000"));
  EXPECT_TRUE(has_violation(d, "temperature must be a number from 0 to 2"));
  EXPECT_TRUE(has_violation(d, "deadline must be an RFC 3339 time"));
  EXPECT_TRUE(has_violation(d, "metadata must be an object, got an array"));
  EXPECT_TRUE(has_violation(d, "model must not be empty"));
  EXPECT_EQ(d.violations.size(), 8u);
}

TEST(RequestDecode, MissingTeamAndMessagesAreInvalid) {
  auto d = decode(R"({"request_id":"r"})");
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_TRUE(has_violation(d, "team is required"));
  EXPECT_TRUE(has_violation(d, "messages is required"));
}

TEST(RequestDecode, MessageRolesAndContentAreChecked) {
  auto d = decode(
      R"({"request_id":"r","team":"t","messages":[{"role":"tool","content":"x"},{"content":"x"},
                      {"role":"user"},{"role":"user","content":5},"text"]})");
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_TRUE(has_violation(d, "messages[0].role must be system, user or assistant, got 'tool'"));
  EXPECT_TRUE(has_violation(d, "messages[1].role is required"));
  EXPECT_TRUE(has_violation(d, "messages[2].content is required"));
  EXPECT_TRUE(has_violation(d, "messages[3].content must be a string or an array of text parts"));
  EXPECT_TRUE(has_violation(d, "messages[4] must be an object"));
}

TEST(RequestDecode, EmptyMessagesIsInvalid) {
  auto d = decode(R"({"request_id":"r","team":"t","messages":[]})");
  EXPECT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_TRUE(has_violation(d, "messages must not be empty"));
}

TEST(RequestDecode, OversizedEventIsInvalidButKeepsItsRequestId) {
  std::string big = R"({"request_id":"big-1","team":"t","messages":[{"role":"user","content":")" +
                    std::string(2000, 'x') + R"("}]})";
  auto d = decode_request(big, 1000);
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_EQ(d.request.request_id, "big-1");
  EXPECT_TRUE(has_violation(d, "over the limit of 1000"));
}

TEST(RequestDecode, TruncatedJsonAfterARequestIdIsInvalidSoTheProducerGetsAnErrorResult) {
  auto d = decode(R"({"request_id":"r","team":"t","messages":[{"role":"us)");
  EXPECT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_EQ(d.request.request_id, "r");
  EXPECT_TRUE(has_violation(d, "not valid JSON")) << d.reason();
  // Before any request_id, or with one that is not valid, nothing can be keyed.
  EXPECT_EQ(decode(R"({"team":"t","request_id":"r",)").status, DecodeStatus::kInvalid);
  EXPECT_EQ(decode(R"({"team":"t","messages":[{"role":"us)").status, DecodeStatus::kUnreadable);
  EXPECT_EQ(decode(R"({"request_id":"a b","team":"t","messages":[)").status,
            DecodeStatus::kUnreadable);
}

TEST(Rfc3339, ParsesUtcOffsetsAndFractions) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2000-03-01T00:00:00Z"), 951868800000);
  EXPECT_EQ(parse_rfc3339_ms("2026-13-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parse_rfc3339_ms("2026-01-01 00:00:00"), std::nullopt);
  EXPECT_EQ(parse_rfc3339_ms("2026-01-01T00:00:00Zjunk"), std::nullopt);
}

// ---- hostile events: each must end as a bounded, storable verdict, never a crash -------------

TEST(RequestDecodeHostile, DeepNestingIsRefusedWithoutRecursing) {
  // 300,000 nested arrays (600 KB, under the size limit): a recursive parse or walk overflows the
  // stack of the poll thread on this.
  std::string deep =
      R"({"request_id":"deep","team":"t","messages":[{"role":"user","content":"x"}],)"
      R"("metadata":{"a":)" +
      std::string(300'000, '[') + std::string(300'000, ']') + "}}";
  auto d = decode(deep);
  EXPECT_EQ(d.status, DecodeStatus::kInvalid);  // its request_id came first: an error result
  EXPECT_EQ(d.request.request_id, "deep");
  EXPECT_TRUE(has_violation(d, "nesting deeper than 64 levels")) << d.reason();
  EXPECT_EQ(decode("{\"metadata\":" + std::string(300'000, '[')).status, DecodeStatus::kUnreadable);
}

TEST(RequestDecodeHostile, NestingUpToTheBoundIsAccepted) {
  std::string ok = R"({"request_id":"n","team":"t","messages":[{"role":"user","content":"x"}],)"
                   R"("metadata":{"a":)" +
                   std::string(60, '[') + std::string(60, ']') + "}}";
  auto d = decode(ok);
  EXPECT_EQ(d.status, DecodeStatus::kOk) << d.reason();
}

TEST(RequestDecodeHostile, NulAnywhereIsInvalidAndNothingUnstorableIsKept) {
  auto d = decode(R"({"request_id":"nul","team":"t","messages":[{"role":"user","content":"hi"}],)"
                  R"("metadata":{"note":"a\u0000b"}})");
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_TRUE(has_violation(d, "valid UTF-8 without NUL"));
  EXPECT_TRUE(d.request.metadata_json.empty()) << "the error row must not carry the NUL";
  EXPECT_EQ(d.request.request_id, "nul");
}

TEST(RequestDecodeHostile, LoneSurrogatesAndStrayBytesAreInvalidAndTheTeamIsMadeStorable) {
  auto surrogate = decode(R"({"request_id":"s","team":"\udc00ads","messages":[{"role":"user",)"
                          R"("content":"hi"}]})");
  ASSERT_EQ(surrogate.status, DecodeStatus::kInvalid);
  EXPECT_TRUE(is_storable_text(surrogate.request.team)) << "Postgres refuses 0xed 0xb0 0x80";
  EXPECT_TRUE(is_storable_text(surrogate.reason()));
  std::string stray = R"({"request_id":"b","team":"t","model":"gpt)";
  stray += '\xff';
  stray += R"(","messages":[{"role":"user","content":"hi"}]})";
  EXPECT_EQ(decode(stray).status, DecodeStatus::kInvalid);
}

TEST(RequestDecodeHostile, AReasonIsBoundedWhateverTheNumberOfViolations) {
  std::string many = R"({"request_id":"many","team":"t","messages":[)";
  for (int i = 0; i < 60'000; ++i) many += i ? ",1" : "1";
  many += "]}";
  auto d = decode(many);
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  const std::string reason = d.reason();
  EXPECT_LT(reason.size(), 4096u) << "a 1 MB reason exceeds the broker's message size";
  EXPECT_NE(reason.find("and 59992 more violation(s)"), std::string::npos) << reason;
}

TEST(RequestDecodeHostile, QuotedValuesAreCutShort) {
  auto d = decode(R"({"request_id":"q","team":"t","messages":[{"role":")" +
                  std::string(10'000, 'r') + R"(","content":"x"}]})");
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_LT(d.reason().size(), 300u);
}

TEST(RequestDecodeHostile, MaxTokensNearInt64MaxIsRefused) {
  auto d = decode(R"({"request_id":"m","team":"t","max_tokens":9223372036854775807,)"
                  R"("messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_FALSE(d.request.max_tokens.has_value());
}

TEST(RequestDecodeHostile, AnOversizedEventIsNotDecodedButStillKeyedWhenItsIdCanBeFound) {
  std::string big = R"({"team":"t","messages":[{"role":"user","content":")" +
                    std::string(5000, 'x') + R"("}],"request_id":"late-id"})";
  auto d = decode_request(big, 1000);
  ASSERT_EQ(d.status, DecodeStatus::kInvalid);
  EXPECT_EQ(d.request.request_id, "late-id");
  EXPECT_TRUE(d.request.team.empty()) << "nothing else of an oversized event is decoded";
  auto no_id = decode_request(std::string(5000, '['), 1000);
  EXPECT_EQ(no_id.status, DecodeStatus::kUnreadable);
}

TEST(StorableText, ReplacesWhatPostgresRefusesAndCutsAtACharacterBoundary) {
  EXPECT_TRUE(is_storable_text("caf\xc3\xa9"));
  EXPECT_FALSE(is_storable_text(std::string("a\0b", 3)));
  EXPECT_FALSE(is_storable_text("\xed\xb0\x80"));  // a lone surrogate, UTF-8 encoded
  EXPECT_EQ(storable_text(std::string("a\0b", 3), 64),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(storable_text("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 6), "\xc3\xa9...");
  EXPECT_EQ(storable_text("short", 64), "short");
}

}  // namespace
}  // namespace switchyard
