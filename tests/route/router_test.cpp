#include "switchyard/route/router.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

DeploymentConfig dep(std::string name, std::string group, std::string tier, std::string region = "",
                     std::int64_t window = 128000) {
  DeploymentConfig d;
  d.name = std::move(name);
  d.group = std::move(group);
  d.model = d.group;
  d.tier = std::move(tier);
  d.region = std::move(region);
  d.context_window = window;
  return d;
}

RequestEvent req(std::string model) {
  RequestEvent r;
  r.request_id = "r";
  r.team = "t";
  r.model = std::move(model);
  r.messages.push_back({"user", "hello"});
  return r;
}

class RouterTest : public ::testing::Test {
 protected:
  std::vector<DeploymentConfig> deps = {
      dep("mini-a", "gpt-4o-mini", "economy", "us"), dep("mini-b", "gpt-4o-mini", "economy", "eu"),
      dep("big", "gpt-4o", "frontier", "us", 100), dep("mid", "sonnet", "workhorse", "us")};
  static ClassifierConfig classifier() {
    ClassifierConfig c;
    c.default_tier = "workhorse";
    return c;
  }
  Router router{deps, classifier()};
};

TEST_F(RouterTest, AutoIsClassifiedIntoATier) {
  auto d = router.route(req("auto"), {});
  ASSERT_TRUE(d.error.empty());
  EXPECT_EQ(d.tier, "economy");  // a short prompt
  ASSERT_EQ(d.candidates.size(), 2u);
  EXPECT_NE(d.reason.find("auto:"), std::string::npos) << d.reason;
}

TEST_F(RouterTest, AutoFallsBackToTheDefaultTierWhenTheClassifiedTierHasNoDeployment) {
  std::vector<DeploymentConfig> only_workhorse = {dep("mid", "sonnet", "workhorse")};
  Router r{only_workhorse, classifier()};
  auto d = r.route(req("auto"), {});
  ASSERT_EQ(d.candidates.size(), 1u);
  EXPECT_EQ(d.candidates[0]->name, "mid");
  EXPECT_NE(d.reason.find("default tier workhorse"), std::string::npos) << d.reason;
}

TEST_F(RouterTest, TierNameSelectsEveryDeploymentOfTheTierInConfigOrder) {
  auto d = router.route(req("economy"), {});
  ASSERT_EQ(d.candidates.size(), 2u);
  EXPECT_EQ(d.candidates[0]->name, "mini-a");
  EXPECT_EQ(d.candidates[1]->name, "mini-b");
}

TEST_F(RouterTest, ModelGroupNameSelectsItsDeployments) {
  auto d = router.route(req("gpt-4o-mini"), {});
  EXPECT_EQ(d.candidates.size(), 2u);
  EXPECT_EQ(d.reason, "requested model group gpt-4o-mini");
}

TEST_F(RouterTest, CoolingDownDeploymentsGoLast) {
  auto d = router.route(req("economy"), {true, false, false, false});
  ASSERT_EQ(d.candidates.size(), 2u);
  EXPECT_EQ(d.candidates[0]->name, "mini-b");
  EXPECT_EQ(d.candidates[1]->name, "mini-a");
}

TEST_F(RouterTest, RegionFiltersDeployments) {
  auto r = req("economy");
  r.region = "eu";
  auto d = router.route(r, {});
  ASSERT_EQ(d.candidates.size(), 1u);
  EXPECT_EQ(d.candidates[0]->name, "mini-b");
  r.region = "ap";
  d = router.route(r, {});
  EXPECT_TRUE(d.candidates.empty());
  EXPECT_NE(d.error.find("outside region 'ap'"), std::string::npos) << d.error;
}

TEST_F(RouterTest, ContextWindowTooSmallIsNoDeployment) {
  auto r = req("frontier");
  r.max_tokens = 500;
  auto d = router.route(r, {});
  EXPECT_TRUE(d.candidates.empty());
  EXPECT_NE(d.error.find("context window below"), std::string::npos) << d.error;
}

TEST_F(RouterTest, UnknownModelIsNoDeployment) {
  auto d = router.route(req("gpt-9"), {});
  EXPECT_NE(d.error.find("no deployment serves model 'gpt-9'"), std::string::npos);
}

TEST(Cost, IsUsageTimesPriceInPicodollars) {
  DeploymentConfig d;
  d.input_cost_per_token = 150'000;   // 1.5e-07 USD
  d.output_cost_per_token = 600'000;  // 6e-07 USD
  EXPECT_EQ(cost_of(d, 1000, 200), 1000 * 150'000 + 200 * 600'000);
}

}  // namespace
}  // namespace switchyard
