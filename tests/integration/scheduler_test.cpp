// The scheduler end to end: rate limits per deployment and interactive priority.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "harness.h"

namespace switchyard::testing {
namespace {

const std::string kTwoEconomyDeployments =
    std::string("deployments:\n") +
    deployment_yaml("cheap-limited", "gpt-4o-mini", "economy", "1.5e-07", "6e-07", 30) +
    deployment_yaml("pricier-open", "gpt-4.1-mini", "economy", "4e-07", "1.6e-06");

TEST(Scheduler, ADeploymentNeverGetsMoreThanItsRpmAndTheBacklogGoesToTheNextCheapest) {
  HarnessOptions options;
  options.deployments_yaml = kTwoEconomyDeployments;
  Harness h("rpm", options);
  const int n = 200;
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < n; ++i) {
    std::string id = "rl-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "item " + std::to_string(i), R"(,"model":"economy")"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= n; }))
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), n);
  long long cheap = h.count("SELECT count(*) FROM requests WHERE deployment = 'cheap-limited'");
  // Background may use rpm x (1 - interactive_reserve 0.2) = 24 of the cheap deployment's 30.
  EXPECT_GT(cheap, 0);
  EXPECT_LE(cheap, 24);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE deployment = 'pricier-open'"), n - cheap);
  // No 60-second window holds more than the deployment's rpm.
  EXPECT_LE(h.count("SELECT coalesce(max(c), 0) FROM (SELECT (SELECT count(*) FROM requests r2 "
                    "WHERE r2.deployment = 'cheap-limited' AND r2.finished_at >= r1.finished_at "
                    "AND r2.finished_at < r1.finished_at + interval '60 seconds') AS c "
                    "FROM requests r1 WHERE r1.deployment = 'cheap-limited') w"),
            30);
  // The cheapest deployment is preferred while it has headroom.
  EXPECT_NE(h.query("SELECT route_reason FROM requests WHERE deployment = 'cheap-limited' LIMIT 1"),
            "");
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Scheduler, InteractiveWorkIsDispatchedAheadOfQueuedBackgroundWork) {
  HarnessOptions options;
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("only", "gpt-4o-mini", "economy", "1.5e-07", "6e-07", 50);
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("priority", options);
  std::vector<std::pair<std::string, std::string>> flood;
  for (int i = 0; i < 100; ++i) {
    std::string id = "bg-" + std::to_string(i);
    flood.emplace_back(id, request_json(id, "search", "background " + std::to_string(i)));
  }
  h.publish(kBackgroundTopic, flood);
  h.start_worker();
  // Background may use 40 of the 50 requests per minute; the other 60 wait in the queue.
  ASSERT_TRUE(eventually([&] {
    return h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'bg-%'") >= 40;
  })) << h.worker_log();
  auto first_done = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, std::string>> urgent;
  for (int i = 0; i < 5; ++i) {
    std::string id = "ia-" + std::to_string(i);
    urgent.emplace_back(id, request_json(id, "ads", "urgent " + std::to_string(i)));
  }
  h.publish(kInteractiveTopic, urgent);
  ASSERT_TRUE(eventually([&] {
    return h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'ia-%'") >= 5;
  })) << h.worker_log();
  long long background_done = h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'bg-%'");
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'ia-%' AND status = 'ok'"),
            5);
  if (std::chrono::steady_clock::now() - first_done < std::chrono::seconds(50)) {
    // Still inside the first minute: every queued background request is still waiting.
    EXPECT_EQ(background_done, 40);
  }
  EXPECT_LT(background_done, 100);
  EXPECT_EQ(h.query("SELECT priority_class FROM requests WHERE request_id = 'ia-0'"),
            "interactive");
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Scheduler, ABackgroundFloodAtTheInFlightCapLeavesRoomForInteractiveIntake) {
  HarnessOptions options;
  // Background goes to `slow` (40 a minute after the interactive reserve), interactive work to
  // `fast` (unlimited): the flood piles up in flight while interactive work could be served.
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("slow", "gpt-4o-mini", "economy", "1.5e-07", "6e-07", 50) +
      deployment_yaml("fast", "gpt-4.1", "workhorse", "2e-06", "8e-06");
  // Background intake pauses at 80 in flight; the last 20 of the cap are interactive only.
  options.extra_worker_yaml =
      "  max_in_flight: 100\n  resume_in_flight: 75\n  interactive_in_flight_reserve: 0.2\n"
      "  shutdown_drain_ms: 1000\n";
  options.sim.record_requests = true;
  Harness h("intake_reserve", options);
  std::vector<std::pair<std::string, std::string>> flood;
  for (int i = 0; i < 300; ++i) {
    std::string id = "bg-" + std::to_string(i);
    flood.emplace_back(
        id, request_json(id, "search", "background " + std::to_string(i), R"(,"model":"economy")"));
  }
  h.publish(kBackgroundTopic, flood);
  h.start_worker();
  ASSERT_TRUE(eventually([&] {
    return h.worker_log().find("intake paused (background topics)") != std::string::npos &&
           h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'bg-%'") >= 40;
  })) << h.worker_log();
  std::vector<std::pair<std::string, std::string>> urgent;
  for (int i = 0; i < 5; ++i) {
    std::string id = "ia-" + std::to_string(i);
    urgent.emplace_back(
        id, request_json(id, "ads", "urgent " + std::to_string(i), R"(,"model":"workhorse")"));
  }
  h.publish(kInteractiveTopic, urgent);
  ASSERT_TRUE(eventually([&] {
    return h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'ia-%'") >= 5;
  })) << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'ia-%' AND status = 'ok'"),
            5);
  // The simulator's arrival order: every interactive call came while `slow` had served at most
  // the first minute's 40 (80 if a minute passed). Had the flood filled the whole cap, they would
  // have waited for it to fall below resume_in_flight: 225 background calls, several minutes.
  int slow_before_last_interactive = 0, slow_seen = 0, fast_seen = 0;
  for (const auto& r : h.sim().request_log()) {
    if (r.model == "gpt-4.1" && ++fast_seen == 5) slow_before_last_interactive = slow_seen;
    if (r.model == "gpt-4o-mini") ++slow_seen;
  }
  EXPECT_EQ(fast_seen, 5);
  EXPECT_GE(slow_before_last_interactive, 40);
  EXPECT_LE(slow_before_last_interactive, 80);
  EXPECT_EQ(h.worker_log().find("intake paused (interactive topics)"), std::string::npos)
      << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

// The longest any 60-second window of finished requests holds, over the rows `where` selects.
long long busiest_minute(Harness& h, const std::string& where) {
  return h.count(
      "SELECT coalesce(max(c), 0) FROM (SELECT (SELECT count(*) FROM requests r2 "
      "WHERE " +
      where +
      " AND r2.finished_at >= r1.finished_at AND r2.finished_at < "
      "r1.finished_at + interval '60 seconds') AS c FROM requests r1) w");
}

TEST(Scheduler, AWorkerJoiningABusyFleetWaitsOutTheWindowSoTheFleetNeverExceedsTheRpm) {
  HarnessOptions options;
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("only", "gpt-4o-mini", "economy", "1.5e-07", "6e-07", 30);
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("fleet", options);
  std::vector<std::pair<std::string, std::string>> flood;
  for (int i = 0; i < 100; ++i) {
    std::string id = "fl-" + std::to_string(i);
    flood.emplace_back(id, request_json(id, "search", "fleet " + std::to_string(i)));
  }
  h.start_worker();
  h.publish(kBackgroundTopic, flood);
  // Alone, the worker holds the whole limit: background may use 80% of 30 per minute.
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 24; }))
      << h.worker_log();
  auto reached = std::chrono::steady_clock::now();
  h.start_extra_worker();
  // The newcomer sees a live fleet and warms up; the first worker shrinks to its half at once.
  ASSERT_TRUE(eventually([&] {
    return h.worker_log().find("fleet of 2 worker(s)") != std::string::npos &&
           h.extra_worker_log().find("joined a fleet of 2") != std::string::npos;
  })) << h.worker_log()
      << h.extra_worker_log();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // time for an over-granting fleet to show
  long long served = h.count("SELECT count(*) FROM requests");
  if (std::chrono::steady_clock::now() - reached < std::chrono::seconds(40)) {
    // Without the warm-up the newcomer would take 12 more inside the same minute (36 > 30).
    EXPECT_EQ(served, 24);
  }
  EXPECT_LE(busiest_minute(h, "true"), 24);
  h.stop_extra_workers();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Scheduler, ATeamsRpmHoldsItsWorkWhileOtherTeamsAreServed) {
  HarnessOptions options;
  options.teams_yaml = "teams:\n  - name: search\n    rpm: 5\n  - name: ads\n";
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("team_rpm", options);
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 20; ++i) {
    std::string s = "ts-" + std::to_string(i), a = "ta-" + std::to_string(i);
    events.emplace_back(s, request_json(s, "search", "capped " + std::to_string(i)));
    events.emplace_back(a, request_json(a, "ads", "free " + std::to_string(i)));
  }
  auto started = std::chrono::steady_clock::now();
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] {
    return h.count("SELECT count(*) FROM requests WHERE team = 'ads'") >= 20 &&
           h.count("SELECT count(*) FROM requests WHERE team = 'search'") >= 5;
  })) << h.worker_log();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  long long capped = h.count("SELECT count(*) FROM requests WHERE team = 'search'");
  if (std::chrono::steady_clock::now() - started < std::chrono::seconds(50)) {
    EXPECT_EQ(capped, 5);  // the other 15 wait for the team's window, not for the deployment
  }
  EXPECT_LE(busiest_minute(h, "r2.team = 'search' AND r1.team = 'search'"), 5);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status <> 'ok'"), 0);
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Scheduler, InteractiveWorkFallsBackAlongTheTierChainAndTeamsKeepToTheirAllowedTiers) {
  HarnessOptions options;
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("eco", "gpt-4o-mini", "economy", "1.5e-07", "6e-07") +
      deployment_yaml("fast", "gpt-4.1-mini", "workhorse", "4e-07", "1.6e-06", 2) +
      deployment_yaml("big", "gpt-4.1", "frontier", "2e-06", "8e-06");
  options.teams_yaml =
      "teams:\n  - name: search\n  - name: ads\n    allowed_tiers: [economy, workhorse]\n";
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("fallback", options);
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 6; ++i) {
    std::string id = "fb-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "quick " + std::to_string(i), R"(,"model":"workhorse")"));
  }
  events.emplace_back("denied",
                      request_json("denied", "ads", "too grand", R"(,"model":"frontier")"));
  h.publish(kInteractiveTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 7; }))
      << h.worker_log();
  // 2 rpm on the workhorse deployment; without the chain the other 4 would wait a minute.
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'fb-%' AND status = 'ok'"),
            6);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE deployment = 'fast'"), 2);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE deployment = 'big'"), 4);
  EXPECT_NE(h.query("SELECT route_reason FROM requests WHERE deployment = 'big' LIMIT 1")
                .find("fallback tier"),
            std::string::npos);
  EXPECT_EQ(h.query("SELECT error_code FROM requests WHERE request_id = 'denied'"),
            "no_deployment");
  EXPECT_NE(h.query("SELECT error_message FROM requests WHERE request_id = 'denied'")
                .find("team 'ads' may not use"),
            std::string::npos);
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Scheduler, BackgroundWorkEscalatesToAHigherTierOnlyWhenItsDeadlineWouldBeMissed) {
  HarnessOptions options;
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("cheap", "gpt-4o-mini", "economy", "1.5e-07", "6e-07", 10) +
      deployment_yaml("dear", "gpt-4.1", "frontier", "2e-06", "8e-06");
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("escalation", options);
  // Deadlines 30 s out: far beyond a call, far below the 60 s the cheap deployment's rpm imposes.
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  std::time_t t = std::chrono::system_clock::to_time_t(deadline);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 40; ++i) {
    std::string id = "esc-" + std::to_string(i);
    events.emplace_back(
        id, request_json(id, "search", "job " + std::to_string(i),
                         std::string(R"(,"model":"economy","deadline":")") + text + "\""));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 40; }))
      << h.worker_log();
  long long cheap = h.count("SELECT count(*) FROM requests WHERE deployment = 'cheap'");
  long long escalated = h.count(
      "SELECT count(*) FROM requests WHERE deployment = 'dear' AND route_reason LIKE "
      "'%escalated%'");
  EXPECT_GT(cheap, 0);
  EXPECT_LE(cheap, 8);  // background share of rpm 10
  EXPECT_EQ(cheap + escalated, 40);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE error_code = 'deadline_exceeded'"), 0);
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

}  // namespace
}  // namespace switchyard::testing
