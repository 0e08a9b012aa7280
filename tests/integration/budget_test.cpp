// Team budgets end to end: real worker, real Postgres reservations, the simulator.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "harness.h"
#include "switchyard/common/money.h"

namespace switchyard::testing {
namespace {

TEST(Budget, AThousandConcurrentRequestsNeverOverspendAndTheRestGetBudgetExceeded) {
  HarnessOptions options;
  options.teams_yaml =
      "teams:\n  - name: search\n    budget_usd: 0.005\n    budget_period: month\n";
  Harness h("budget", options);
  const int n = 1000;
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < n; ++i) {
    std::string id = "b-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "count to " + std::to_string(i), R"(,"max_tokens":16)"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().size() >= static_cast<std::size_t>(n);
  })) << h.worker_log();

  int ok = 0, exceeded = 0;
  for (const auto& r : results.records) {
    rapidjson::Document doc;
    doc.Parse(r.value.c_str());
    if (std::string(doc["status"].GetString()) == "ok") {
      ++ok;
    } else {
      EXPECT_STREQ(doc["error"]["code"].GetString(), "budget_exceeded") << r.value;
      EXPECT_NE(std::string(doc["error"]["message"].GetString()).find("team 'search'"),
                std::string::npos);
      ++exceeded;
    }
  }
  EXPECT_EQ(ok + exceeded, n);
  EXPECT_GT(ok, 0);
  EXPECT_GT(exceeded, 0);
  // Worst case of one request: its estimated input (about 10 tokens) plus 16 output tokens at
  // gpt-4o-mini prices is well under $0.0001; settled spend may pass the budget by at most that.
  EXPECT_EQ(
      h.query("SELECT sum(cost_usd) <= 0.005 + 0.0001 FROM cost_ledger WHERE team = 'search'"),
      "t");
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE error_code = 'budget_exceeded'"),
            exceeded);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger"), ok);
  EXPECT_EQ(h.sim().stats().requests, static_cast<std::uint64_t>(ok))
      << "rejected requests never reach a provider";
  // Everything settled: nothing left reserved, and the period's spend is exactly the ledger's.
  EXPECT_EQ(h.query("SELECT reserved_usd::text FROM team_budget_status WHERE team = 'search'"),
            "0.000000000000");
  EXPECT_EQ(h.query("SELECT (SELECT spent_usd FROM team_budget_status WHERE team = 'search') = "
                    "(SELECT sum(cost_usd) FROM cost_ledger WHERE team = 'search')"),
            "t");
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Budget, RejectPolicyWaitsForItsOwnInFlightCallsInsteadOfRefusingWorkTheBudgetCanPay) {
  HarnessOptions options;
  // Worst case of one request: ~1,000 output tokens x $6e-7 = ~$0.0006, so only one fits in
  // $0.001 at a time; its settled cost (16 output tokens, ~$0.00001) is a few cents of that, so the
  // budget pays for about 35 of them one after another. Refusing every request that finds another
  // one's worst case reserved would serve one or two of the 60 and reject the rest.
  options.teams_yaml =
      "teams:\n  - name: search\n    budget_usd: 0.001\n    budget_policy: reject\n";
  Harness h("budget_wait", options);
  const int n = 60;
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < n; ++i) {
    std::string id = "bw-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "n " + std::to_string(i), R"(,"max_tokens":1000)"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= n; }))
      << h.worker_log();
  long long ok = h.count("SELECT count(*) FROM requests WHERE status = 'ok'");
  long long exceeded =
      h.count("SELECT count(*) FROM requests WHERE error_code = 'budget_exceeded'");
  EXPECT_EQ(ok + exceeded, n);
  EXPECT_GE(ok, 25) << "requests the budget could pay for were refused";
  EXPECT_GT(exceeded, 0) << "the budget runs out before 60 requests";
  // Each one reserved its worst case before its call: the settled spend stays within the budget.
  EXPECT_EQ(h.query("SELECT sum(cost_usd) <= 0.001 FROM cost_ledger WHERE team = 'search'"), "t");
  // The last request admitted left less than one worst case (~$0.0006) of the budget unspent.
  EXPECT_EQ(h.query("SELECT sum(cost_usd) + 0.0007 > 0.001 FROM cost_ledger"), "t");
  EXPECT_EQ(h.query("SELECT reserved_usd::text FROM team_budget_status WHERE team = 'search'"),
            "0.000000000000");
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  std::string stats = h.worker_stats();
  EXPECT_GT(stat_of(stats, "budget_settlement_waits"), 0) << stats;
  EXPECT_EQ(stat_of(stats, "budget_rejections"), exceeded) << stats;
}

TEST(Budget, TeamsWithoutABudgetAreNotLimited) {
  HarnessOptions options;
  options.teams_yaml = "teams:\n  - name: search\n    budget_usd: 0\n  - name: ads\n";
  Harness h("budget_free", options);
  h.publish(kBackgroundTopic, {{"free-1", request_json("free-1", "ads", "hello")},
                               {"paid-1", request_json("paid-1", "search", "hello")}});
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().size() >= 2;
  })) << h.worker_log();
  EXPECT_EQ(h.query("SELECT status FROM requests WHERE request_id = 'free-1'"), "ok");
  EXPECT_EQ(h.query("SELECT error_code FROM requests WHERE request_id = 'paid-1'"),
            "budget_exceeded");
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Budget, DowngradePolicyMovesOverBudgetRequestsToTheCheapestTierBeforeRejecting) {
  HarnessOptions options;
  options.deployments_yaml = std::string("deployments:\n") +
                             deployment_yaml("big", "gpt-4.1", "frontier", "2e-06", "8e-06") +
                             deployment_yaml("small", "gpt-4o-mini", "economy", "1.5e-07", "6e-07");
  options.teams_yaml =
      "teams:\n  - name: search\n    budget_usd: 0.002\n    budget_policy: downgrade\n";
  Harness h("budget_downgrade", options);
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 100; ++i) {
    std::string id = "dg-" + std::to_string(i);
    events.emplace_back(id, request_json(id, "search", "question " + std::to_string(i),
                                         R"(,"model":"frontier","max_tokens":16)"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 100; }))
      << h.worker_log();
  long long frontier = h.count("SELECT count(*) FROM requests WHERE deployment = 'big'");
  long long downgraded = h.count(
      "SELECT count(*) FROM requests WHERE deployment = 'small' AND "
      "route_reason LIKE '%budget: downgraded from frontier to economy%'");
  long long rejected =
      h.count("SELECT count(*) FROM requests WHERE error_code = 'budget_exceeded'");
  EXPECT_GT(frontier, 0);
  EXPECT_GT(downgraded, 0);
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(frontier + downgraded + rejected, 100);
  // Within one frontier worst case (~$0.00016) of the budget.
  EXPECT_EQ(h.query("SELECT sum(cost_usd) <= 0.002 + 0.0002 FROM cost_ledger"), "t");
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Budget, DeferPolicyHoldsBackgroundWorkThenRejectsItAndSoftBudgetsAreReported) {
  HarnessOptions options;
  options.teams_yaml =
      "teams:\n  - name: search\n    budget_usd: 0.0005\n    soft_budget_usd: 0.0002\n"
      "    budget_policy: defer\n";
  options.extra_worker_yaml = "  budget_defer_retry_ms: 200\n  budget_max_defer_ms: 1500\n";
  Harness h("budget_defer", options);
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 100; ++i) {
    std::string id = "df-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "n " + std::to_string(i), R"(,"max_tokens":16)"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 100; }))
      << h.worker_log();
  long long ok = h.count("SELECT count(*) FROM requests WHERE status = 'ok'");
  long long exceeded =
      h.count("SELECT count(*) FROM requests WHERE error_code = 'budget_exceeded'");
  EXPECT_GT(ok, 0);
  EXPECT_GT(exceeded, 0);
  EXPECT_EQ(ok + exceeded, 100);
  EXPECT_EQ(h.query("SELECT sum(cost_usd) <= 0.0005 + 0.0001 FROM cost_ledger"), "t");
  EXPECT_NE(h.worker_log().find("crossed its soft budget of $0.0002"), std::string::npos)
      << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  std::string stats = h.worker_stats();
  EXPECT_GT(stat_of(stats, "budget_deferrals"), 0) << stats;
  EXPECT_EQ(stat_of(stats, "budget_soft_crossings"), 1) << stats;
}

TEST(Budget, DeferredWorkRetriesAsSoonAsASettlementReleasesBudget) {
  HarnessOptions options;
  // Worst case of one request: ~1,000 output tokens x $6e-7 = ~$0.0006, so two do not fit in
  // $0.001 together; the settled cost of one (16 output tokens) is a few cents of that.
  options.teams_yaml =
      "teams:\n  - name: search\n    budget_usd: 0.001\n    budget_policy: defer\n";
  // The timed retry is an hour away: only the settlement can wake the deferred request.
  options.extra_worker_yaml = "  budget_defer_retry_ms: 3600000\n  budget_max_defer_ms: 7200000\n";
  // Each call takes 2 s, so whichever request reserves first still holds its worst case when the
  // other asks, even if they reach the worker in different batches.
  options.sim.latency_ms = 2000;
  Harness h("budget_wake", options);
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 2; ++i) {
    std::string id = "wk-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "n " + std::to_string(i), R"(,"max_tokens":1000)"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] {
    return h.count("SELECT count(*) FROM requests WHERE status = 'ok'") >= 2;
  })) << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  std::string stats = h.worker_stats();
  // The second request finds the first one's worst case reserved by this worker: it waits for
  // that settlement (a settlement wait, which comes before the team's defer policy) and the
  // settlement wakes it, not the timed retry an hour away.
  EXPECT_EQ(stat_of(stats, "budget_deferrals") + stat_of(stats, "budget_settlement_waits"), 1)
      << stats;
  EXPECT_EQ(stat_of(stats, "budget_defer_wakes"), 1) << stats;
}

}  // namespace
}  // namespace switchyard::testing
