#include "switchyard/common/log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/sinks/ostream_sink.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace switchyard {
namespace {

// A logger of its own writing to a string, in the given format; restores text mode after.
class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { configure_logging(LogFormat::text, spdlog::level::info); }

  std::shared_ptr<spdlog::logger> make_logger(LogFormat format) {
    configure_logging(format, spdlog::level::info);  // sets how LogFields encodes itself
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_formatter(make_log_formatter(format));
    logger->set_level(spdlog::level::trace);
    return logger;
  }

  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
  }

  // Each line one JSON object (encoding validated); fails the test otherwise.
  std::vector<rapidjson::Document> json_lines() const {
    std::vector<rapidjson::Document> docs;
    for (const auto& line : lines()) {
      rapidjson::Document d;
      d.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str());
      EXPECT_FALSE(d.HasParseError())
          << rapidjson::GetParseError_En(d.GetParseError()) << " in: " << line;
      EXPECT_TRUE(d.IsObject()) << line;
      docs.push_back(std::move(d));
    }
    return docs;
  }

  std::ostringstream out_;
};

TEST_F(LogTest, JsonLinesParseAndCarryTheStructuredFields) {
  auto logger = make_logger(LogFormat::json);
  std::string request_id = "r-1";
  logger->info("dispatched {}{}", "now",
               LogFields{{"request_id", request_id},
                         {"deployment", "mini-a"},
                         {"topic", std::string_view("req.hi")},
                         {"partition", 3},
                         {"offset", std::int64_t{42}},
                         {"attempt", std::size_t{2}},
                         {"cached", true},
                         {"share", 0.25}});
  logger->warn("no fields");
  auto docs = json_lines();
  ASSERT_EQ(docs.size(), 2u);
  const auto& d = docs[0];
  EXPECT_TRUE(std::regex_match(d["ts"].GetString(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << d["ts"].GetString();
  EXPECT_STREQ(d["level"].GetString(), "info");
  EXPECT_STREQ(d["logger"].GetString(), "test");
  EXPECT_STREQ(d["msg"].GetString(), "dispatched now");
  EXPECT_STREQ(d["request_id"].GetString(), "r-1");
  EXPECT_STREQ(d["deployment"].GetString(), "mini-a");
  EXPECT_STREQ(d["topic"].GetString(), "req.hi");
  EXPECT_EQ(d["partition"].GetInt(), 3);
  EXPECT_EQ(d["offset"].GetInt64(), 42);
  EXPECT_EQ(d["attempt"].GetUint64(), 2u);
  EXPECT_TRUE(d["cached"].GetBool());
  EXPECT_EQ(d["share"].GetDouble(), 0.25);
  EXPECT_STREQ(docs[1]["level"].GetString(), "warn");
  EXPECT_STREQ(docs[1]["msg"].GetString(), "no fields");
}

TEST_F(LogTest, JsonLineStaysOneValidObjectWhateverTheMessageHolds) {
  auto logger = make_logger(LogFormat::json);
  logger->error(
      "quote \" backslash \\ newline\nnul-free control \x01 tab\t bad utf8 \xC3\x28 ok \xC3\xA9{}",
      LogFields{{"reason", "two\nlines \"quoted\""}});
  auto docs = json_lines();
  ASSERT_EQ(docs.size(), 1u);  // the newline did not split the record
  EXPECT_EQ(std::string(docs[0]["msg"].GetString()),
            "quote \" backslash \\ newline\nnul-free control \x01 tab\t bad utf8 \xEF\xBF\xBD( ok "
            "\xC3\xA9");
  EXPECT_STREQ(docs[0]["reason"].GetString(), "two\nlines \"quoted\"");
  EXPECT_STREQ(docs[0]["level"].GetString(), "error");
}

TEST_F(LogTest, MessageTextCannotForgeJsonFields) {
  auto logger = make_logger(LogFormat::json);
  // What a hostile value might try: a record separator and JSON members after it.
  logger->info("value: {}", std::string("\x1e") + "0000000000000000,\"admin\":true");
  auto docs = json_lines();
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_FALSE(docs[0].HasMember("admin"));
  EXPECT_NE(std::string(docs[0]["msg"].GetString()).find("\"admin\":true"), std::string::npos);
}

TEST_F(LogTest, FieldNamesOfTheRecordItselfArePrefixed) {
  auto logger = make_logger(LogFormat::json);
  logger->info("x{}", LogFields{{"msg", "shadow"}, {"level", 1}});
  auto docs = json_lines();
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_STREQ(docs[0]["msg"].GetString(), "x");
  EXPECT_STREQ(docs[0]["level"].GetString(), "info");
  EXPECT_STREQ(docs[0]["field_msg"].GetString(), "shadow");
  EXPECT_EQ(docs[0]["field_level"].GetInt(), 1);
}

TEST_F(LogTest, TextModeReadsKeyEqualsValue) {
  auto logger = make_logger(LogFormat::text);
  logger->info("provider call failed{}", LogFields{{"request_id", "r-1"},
                                                   {"deployment", "mini-a"},
                                                   {"partition", 3},
                                                   {"offset", 42},
                                                   {"reason", "rate limited"},
                                                   {"empty", ""}});
  auto text = lines();
  ASSERT_EQ(text.size(), 1u);
  EXPECT_TRUE(text[0].ends_with(
      "info [test] provider call failed request_id=r-1 deployment=mini-a partition=3 offset=42 "
      "reason=\"rate limited\" empty=\"\""))
      << text[0];
  EXPECT_TRUE(std::regex_search(text[0], std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} )")))
      << text[0];
}

TEST_F(LogTest, MoreFieldsThanFitAreCountedNotSilentlyLost) {
  auto logger = make_logger(LogFormat::text);
  logger->info("m{}", LogFields{{"a", 1},
                                {"b", 2},
                                {"c", 3},
                                {"d", 4},
                                {"e", 5},
                                {"f", 6},
                                {"g", 7},
                                {"h", 8},
                                {"i", 9},
                                {"j", 10}});
  EXPECT_TRUE(lines().at(0).ends_with(" h=8 fields_dropped=2")) << lines().at(0);
}

TEST(Redaction, SecretsInFreeTextBecomeRedacted) {
  struct Case {
    std::string in;
    std::string out;
  };
  std::vector<Case> cases = {
      {"key sk-abc123def456ghi789 used", "key sk-[REDACTED] used"},
      {"anthropic sk-ant-api03-AbCdEf_123-xyz", "anthropic sk-[REDACTED]"},
      {"Bearer xyz", "Bearer [REDACTED]"},
      {"got 401 with bearer eyJhbGciOi.eyJzdWIi.sig", "got 401 with bearer [REDACTED]"},
      {"Authorization: Bearer xyz", "Authorization: [REDACTED]"},
      {"authorization=Basic dXNlcjpwYXNz", "authorization=[REDACTED]"},
      {"Basic dXNlcjpwYXNzd29yZA== sent", "Basic [REDACTED] sent"},
      {R"({"api_key":"abc","model":"m"})", R"({"api_key":"[REDACTED]","model":"m"})"},
      {R"({"api_key": "abc\"def"})", R"({"api_key": "[REDACTED]"})"},
      {"x-api-key: abc123, next", "x-api-key: [REDACTED], next"},
      {"OPENAI_API_KEY=abc123 run", "OPENAI_API_KEY=[REDACTED] run"},
      {"url ?api-version=2024-10-21&api-key=abc123&x=1",
       "url ?api-version=2024-10-21&api-key=[REDACTED]&x=1"},
      {"db_password: hunter2", "db_password: [REDACTED]"},
      {"admin_token=s3cr3t", "admin_token=[REDACTED]"},
      {"groq gsk_0123456789abcdef", "groq gsk_[REDACTED]"},
      {"google AIzaSyA-0123456789", "google AIza[REDACTED]"},
  };
  for (const auto& c : cases) EXPECT_EQ(redact_secrets(c.in), c.out) << c.in;
}

TEST(Redaction, OrdinaryTextIsLeftAlone) {
  for (std::string text : {
           "task-abcdefgh12 finished",  // "sk-" inside a word
           "max_tokens=100 budget_max_output_tokens: 4096",
           "basic tier chosen, bearer of bad news",  // "bearer of": one word after, no credential?
           "api_key_env=OPENAI_KEY token_env=ADMIN_TOKEN",  // variable names are not secrets
           "sk-short",                                      // too short to be a key
           "request_id=r-1 deployment=mini-a partition=3 offset=42",
       }) {
    if (text.starts_with("basic tier")) {
      // "bearer of" reads as a scheme and a credential: over-redacting is the safe mistake.
      EXPECT_EQ(redact_secrets(text), "basic tier chosen, bearer [REDACTED] bad news");
      continue;
    }
    EXPECT_EQ(redact_secrets(text), text);
  }
}

TEST(Redaction, IsIdempotent) {
  for (std::string text : {"Bearer xyz", "sk-abc123def456", R"({"api_key":"abc"})",
                           "Authorization: Bearer xyz", "reason=\"Bearer [REDACTED]\""}) {
    std::string once = redact_secrets(text);
    EXPECT_EQ(redact_secrets(once), once) << text;
  }
}

TEST(Redaction, SecretKeyNames) {
  for (auto key :
       {"api_key", "API_KEY", "x-api-key", "apikey", "Authorization", "proxy-authorization",
        "password", "db_password", "client_secret", "access_token", "admin_token"})
    EXPECT_TRUE(is_secret_key(key)) << key;
  for (auto key : {"api_key_env", "token_env", "max_tokens", "request_id", "deployment", "", "key"})
    EXPECT_FALSE(is_secret_key(key)) << key;
}

TEST_F(LogTest, FieldValuesAndMessagesNeverCarrySecretsInEitherFormat) {
  for (LogFormat format : {LogFormat::text, LogFormat::json}) {
    out_.str("");
    auto logger = make_logger(format);
    logger->warn("calling with sk-live1234567890abcd and Authorization: Bearer tok123{}",
                 LogFields{{"api_key", "plainvalue99"},
                           {"header", "Bearer xyz789"},
                           {"key", "sk-abc123def456ghi"},
                           {"deployment", "mini-a"}});
    std::string all = out_.str();
    for (auto secret :
         {"live1234567890abcd", "tok123", "plainvalue99", "xyz789", "abc123def456ghi"})
      EXPECT_EQ(all.find(secret), std::string::npos) << secret << " leaked in: " << all;
    EXPECT_NE(all.find("mini-a"), std::string::npos);
    if (format == LogFormat::json) {
      auto docs = json_lines();
      ASSERT_EQ(docs.size(), 1u);
      EXPECT_STREQ(docs[0]["api_key"].GetString(), "[REDACTED]");
      EXPECT_STREQ(docs[0]["header"].GetString(), "Bearer [REDACTED]");
      EXPECT_STREQ(docs[0]["key"].GetString(), "sk-[REDACTED]");
    } else {
      EXPECT_NE(all.find("api_key=[REDACTED] header=\"Bearer [REDACTED]\" key=sk-[REDACTED]"),
                std::string::npos)
          << all;
    }
  }
}

TEST_F(LogTest, ConfigureLoggingReachesNamedLoggersMadeLater) {
  configure_logging(LogFormat::json, spdlog::level::info);
  testing::internal::CaptureStderr();
  auto logger = named_logger("log-test-late");
  logger->info("hello{}", LogFields{{"request_id", "r-9"}});
  logger->debug("below the level");
  logger->flush();
  std::string err = testing::internal::GetCapturedStderr();
  rapidjson::Document d;
  d.Parse(err.c_str());
  ASSERT_FALSE(d.HasParseError()) << err;
  EXPECT_STREQ(d["logger"].GetString(), "log-test-late");
  EXPECT_STREQ(d["request_id"].GetString(), "r-9");
  EXPECT_EQ(current_log_format(), LogFormat::json);
}

TEST(LogSettings, FormatAndLevelNamesParseStrictly) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::json);
  EXPECT_EQ(parse_log_format("text"), LogFormat::text);
  EXPECT_FALSE(parse_log_format("JSON"));
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("warning"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("debug"), spdlog::level::debug);
  EXPECT_FALSE(parse_log_level("verbose"));  // spdlog's from_str would say "off"
}

}  // namespace
}  // namespace switchyard
