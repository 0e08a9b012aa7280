#include "switchyard/route/classifier.h"

#include <gtest/gtest.h>

#include "switchyard/route/router.h"

namespace switchyard {
namespace {

RequestEvent auto_request(std::vector<ChatMessage> messages, std::string task_type = "") {
  RequestEvent r;
  r.request_id = "r";
  r.team = "t";
  r.model = "auto";
  r.task_type = std::move(task_type);
  r.messages = std::move(messages);
  return r;
}

// About `tokens` estimated tokens of neutral prose (4 characters a token).
std::string prose(std::int64_t tokens) {
  std::string out;
  while (static_cast<std::int64_t>(out.size()) < tokens * 4) out += "lorem ipsum dolor sit amet ";
  out.resize(static_cast<std::size_t>(tokens * 4));
  return out;
}

TEST(Classifier, TaskTypeMapWinsOverEveryFeature) {
  ClassifierConfig config;
  config.task_type_tiers = {{"classification", "economy"}};
  // Long and full of reasoning keywords, yet the task_type decides.
  auto r = auto_request({{"user", prose(9000) + " prove it step by step"}}, "classification");
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "economy");
  EXPECT_EQ(c.reason, "auto: task_type classification -> economy");
}

TEST(Classifier, UnmappedTaskTypeFallsThroughToFeatures) {
  ClassifierConfig config;
  config.task_type_tiers = {{"classification", "economy"}};
  auto r = auto_request({{"user", "prove that sqrt(2) is irrational"}}, "math");
  EXPECT_EQ(classify(r, config).tier, "frontier");
}

TEST(Classifier, LongInputGoesToFrontierAndTheReasonNamesTheCount) {
  ClassifierConfig config;
  auto r = auto_request({{"user", prose(12400)}});
  const std::int64_t tokens = estimate_input_tokens(r);
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "frontier");
  EXPECT_EQ(c.reason,
            "auto: " + with_thousands(tokens) + " estimated input tokens >= 8,000 -> frontier");
  EXPECT_EQ(tokens, 12400 + 4 + 3);  // the shared estimate: content/4 + 4 per message + 3
}

TEST(Classifier, LongInputCountsTheWholeMessagesArray) {
  ClassifierConfig config;
  // No single message is long; together they pass the threshold.
  auto r = auto_request({{"system", prose(1000)},
                         {"user", prose(3000)},
                         {"assistant", prose(3000)},
                         {"user", prose(1500)}});
  EXPECT_EQ(classify(r, config).tier, "frontier");
}

TEST(Classifier, ReasoningKeywordIsCaseInsensitiveAndNamed) {
  ClassifierConfig config;
  auto r = auto_request({{"system", "You are helpful."}, {"user", "Explain it Step By Step."}});
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "frontier");
  EXPECT_EQ(c.reason, "auto: reasoning keyword \"step by step\" in message 2 (user) -> frontier");
}

TEST(Classifier, ReasoningKeywordsMatchWholeWordsOnly) {
  ClassifierConfig config;
  // "explanation" holds "plan", "reasonable" holds "reason": neither is a reasoning request.
  auto r = auto_request({{"user", "A reasonable explanation, please."}});
  EXPECT_EQ(classify(r, config).tier, "economy");
}

TEST(Classifier, ReasonNamesTheFirstKeywordInReadingOrder) {
  ClassifierConfig config;
  auto r = auto_request({{"system", "Plan carefully."}, {"user", "Prove it."}});
  EXPECT_EQ(classify(r, config).reason,
            "auto: reasoning keyword \"plan\" in message 1 (system) -> frontier");
}

TEST(Classifier, LongSystemPromptGoesToFrontier) {
  ClassifierConfig config;
  auto r = auto_request({{"system", prose(2500)}, {"user", "hello"}});
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "frontier");
  EXPECT_EQ(c.reason, "auto: 2,500 estimated system prompt tokens >= 2,000 -> frontier");
}

TEST(Classifier, FencedCodeGoesToTheCodeTierEvenWhenShort) {
  ClassifierConfig config;
  auto r =
      auto_request({{"user", "What is wrong here?\n```\nint x = ;\n```\nand\n```py\nx=\n```"}});
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "workhorse");
  EXPECT_EQ(c.reason, "auto: 2 fenced code blocks -> workhorse");
}

TEST(Classifier, ShortPlainInputGoesToEconomy) {
  ClassifierConfig config;
  auto r = auto_request({{"user", "Translate 'good morning' to French."}});
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "economy");
  EXPECT_EQ(c.reason, "auto: " + with_thousands(estimate_input_tokens(r)) +
                          " estimated input tokens <= 500 -> economy");
}

TEST(Classifier, MediumPlainInputGoesToTheDefaultTier) {
  ClassifierConfig config;
  auto r = auto_request({{"user", prose(2000)}});
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "workhorse");
  EXPECT_EQ(c.reason,
            "auto: no rule matched (2,007 estimated input tokens, no code, no reasoning keyword) "
            "-> workhorse");
}

TEST(Classifier, RuleOrderLongInputBeforeKeywordBeforeCode) {
  ClassifierConfig config;
  config.code_tier = "coder";
  auto keyword_and_code = auto_request({{"user", "Why does this fail?\n```\nx\n```"}});
  EXPECT_NE(classify(keyword_and_code, config).reason.find("reasoning keyword \"why does\""),
            std::string::npos);
  auto long_and_keyword = auto_request({{"user", prose(9000) + " derive"}});
  EXPECT_NE(classify(long_and_keyword, config).reason.find("estimated input tokens >="),
            std::string::npos);
}

TEST(Classifier, ThresholdsAndTierNamesComeFromConfig) {
  ClassifierConfig config;
  config.long_input_tokens = 100;
  config.frontier_tier = "big";
  auto r = auto_request({{"user", prose(200)}});
  TierChoice c = classify(r, config);
  EXPECT_EQ(c.tier, "big");
  EXPECT_EQ(c.reason, "auto: 207 estimated input tokens >= 100 -> big");
}

TEST(Classifier, SameRequestAlwaysGetsTheSameChoice) {
  ClassifierConfig config;
  auto r = auto_request({{"system", "be brief"}, {"user", "plan a trip\n```\n```"}});
  TierChoice first = classify(r, config);
  for (int i = 0; i < 100; ++i) {
    TierChoice again = classify(r, config);
    EXPECT_EQ(again.tier, first.tier);
    EXPECT_EQ(again.reason, first.reason);
  }
}

TEST(Classifier, ThousandsSeparatorsInReasons) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(12400), "12,400");
  EXPECT_EQ(with_thousands(-1234567), "-1,234,567");
  EXPECT_EQ(with_thousands(INT64_MIN), "-9,223,372,036,854,775,808");
}

}  // namespace
}  // namespace switchyard
