// routing.background_planner end to end on the embedded broker: a burst larger than the cheap
// deployment's minute waits for its next window (the deadline allows it) instead of spilling
// onto a dearer deployment of the same tier. Takes about a minute: the rest of the burst is
// served when the cheap deployment's window has room again.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

#include "harness.h"

namespace switchyard::testing {
namespace {

std::string rfc3339_in(std::chrono::minutes from_now) {
  const std::time_t t =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST(Planner, ABurstWaitsForTheCheapDeploymentsNextWindowInsteadOfSpilling) {
  HarnessOptions options;
  options.deployments_yaml =
      "deployments:\n" +
      deployment_yaml("cheap", "gpt-4o-mini", "economy", "2.7e-07", "1.1e-06", /*rpm=*/10) +
      deployment_yaml("dear", "gpt-4.1-mini", "economy", "1e-06", "5e-06", /*rpm=*/1000);
  options.extra_top_yaml = "routing:\n  interactive_reserve: 0\n  background_planner: true\n";
  Harness h("planner", options);
  const std::string deadline = rfc3339_in(std::chrono::minutes(10));
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 12; ++i) {
    const std::string id = "burst-" + std::to_string(i);
    events.emplace_back(id, request_json(id, "search", "summarise item " + std::to_string(i),
                                         R"(,"model":"economy","deadline":")" + deadline + "\""));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 10; }))
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE deployment = 'dear'"), 0)
      << "the two past the cheap deployment's minute wait for its next window";
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") == 12; }))
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE deployment = 'cheap' AND status = 'ok'"),
            12);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE deployment = 'dear'"), 0);
}

}  // namespace
}  // namespace switchyard::testing
