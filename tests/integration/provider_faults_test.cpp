// Providers misbehaving, end to end: error storms, 429s, a deployment that is down and comes
// back, prompts too long for a model, content filters, a deployment with a bad key, and the
// Anthropic Messages API -- against the simulator and the real worker binary.
#include <gtest/gtest.h>

#include <cstdlib>

#include "harness.h"
#include "support/test_ca.h"

namespace switchyard::testing {
namespace {

// Every ledger row is usage x the deployment's explicit prices, to the picodollar.
long long mispriced_ledger_rows(Harness& h, const std::string& prices_values) {
  return h.count(
      "SELECT count(*) FROM cost_ledger l JOIN (VALUES " + prices_values +
      ") AS p(deployment, input_price, output_price) ON p.deployment = l.deployment "
      "WHERE l.cost_usd <> l.input_tokens * p.input_price::numeric + "
      "l.output_tokens * p.output_price::numeric");
}

std::vector<std::pair<std::string, std::string>> wave(const std::string& prefix, int n,
                                                      const std::string& team = "search") {
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < n; ++i) {
    std::string id = prefix + std::to_string(i);
    events.emplace_back(id, request_json(id, team, "work item " + std::to_string(i)));
  }
  return events;
}

TEST(ProviderFaults, StormsRateLimitsAndADeadDeploymentLoseNothingAndTheDeadOneIsProbedBack) {
  constexpr std::int64_t kDownMs = 15'000;  // from the simulator's start
  HarnessOptions options;
  options.sim.record_requests = true;
  FaultRule down;
  down.kind = FaultKind::down;
  down.model = "dead-model";
  down.until_ms = kDownMs;
  FaultRule storm;
  storm.kind = FaultKind::errors;
  storm.rate = 0.2;
  storm.status = 503;
  FaultRule limited;
  limited.kind = FaultKind::rate_limit;
  limited.rate = 0.1;
  limited.retry_after_s = 1;
  options.sim.faults = {down, storm, limited};
  // The dead deployment is the cheapest, so background work would pick it first.
  options.deployments_yaml =
      std::string("circuit_breaker:\n  open_ms: 2000\n  max_open_ms: 4000\ndeployments:\n") +
      deployment_yaml("dead", "dead-model", "economy", "1e-07", "4e-07") +
      deployment_yaml("a", "a-model", "economy", "1.5e-07", "6e-07") +
      deployment_yaml("b", "b-model", "economy", "2e-07", "8e-07");
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("faults", options);
  auto first = wave("bg-", 1000);
  h.publish(kBackgroundTopic, first);
  h.publish(kInteractiveTopic, wave("ia-", 100, "ads"));
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 1100; }))
      << h.worker_log();

  // The dead deployment's answers opened its breaker: apart from the first burst (sent before
  // any answer came back; 5 s is far more than it takes, even on a loaded machine) it only saw
  // probes, at most one per cooldown (2 s, then 4 s).
  auto log = h.sim().request_log();
  std::int64_t first_dead = -1;
  for (const auto& r : log) {
    if (r.model == "dead-model" && (first_dead < 0 || r.arrival_ms < first_dead))
      first_dead = r.arrival_ms;
  }
  ASSERT_GE(first_dead, 0) << "the cheapest deployment was never tried";
  int after_burst = 0;
  for (const auto& r : log) {
    if (r.model == "dead-model" && r.arrival_ms > first_dead + 5'000 && r.arrival_ms < kDownMs)
      ++after_burst;
  }
  EXPECT_LE(after_burst, std::max<int>(0, static_cast<int>((kDownMs - first_dead - 5'000) / 2'000)) + 1);
  EXPECT_NE(h.worker_log().find("deployment dead: circuit breaker open"), std::string::npos)
      << h.worker_log();

  // After the window the deployment answers again: a probe closes the breaker and, being the
  // cheapest, it takes background work again. Keep a trickle coming until it does.
  int extra = 0;
  ASSERT_TRUE(eventually([&] {
    for (const auto& r : h.sim().request_log()) {
      if (r.model == "dead-model" && r.status == 200 && r.arrival_ms >= kDownMs) return true;
    }
    h.publish(kBackgroundTopic, wave("late-" + std::to_string(extra++) + "-", 5));
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    return false;
  })) << h.worker_log();
  const long long total = 1100 + 5LL * extra;
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= total; }))
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests"), total);  // every request terminal, once
  const long long ok = h.count("SELECT count(*) FROM requests WHERE status = 'ok'");
  EXPECT_GE(ok * 1000, total * 999) << ok << " of " << total << " ok";
  EXPECT_GT(h.count("SELECT count(*) FROM requests WHERE attempts > 1"), 0);
  // One ledger row per billed call, each priced exactly.
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger"), ok);
  EXPECT_EQ(mispriced_ledger_rows(
                h, "('dead', '1e-07', '4e-07'), ('a', '1.5e-07', '6e-07'), ('b', '2e-07', '8e-07')"),
            0);
  EXPECT_NE(h.worker_log().find("deployment dead: probe succeeded, circuit breaker closed"),
            std::string::npos)
      << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  std::string stats = h.worker_stats();
  EXPECT_GE(stat_of(stats, "breaker_opens"), 1) << stats;
}

TEST(ProviderFaults, TooLongPromptsMoveToALargerDeploymentFiltersAndBadKeysAreFinal) {
  HarnessOptions options;
  options.sim.context_windows = {{"small-model", 40}};
  // `locked` is Azure without a key: the simulator answers 401, the worker disables it.
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("small", "small-model", "economy", "1e-07", "4e-07") +
      "    context_window: 4000\n" +  // what the config believes; the simulator says 40
      deployment_yaml("large", "large-model", "economy", "3e-07", "1.2e-06") +
      "  - name: locked\n    provider: azure\n    api_base: http://127.0.0.1:SIM_PORT\n"
      "    model: locked-deployment\n    tier: workhorse\n    input_cost_per_token: 1e-07\n"
      "    output_cost_per_token: 4e-07\n";
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("provider_errors", options);
  // Background: the cheapest deployment (`small`) is tried first.
  const std::string long_text(400, 'x');
  h.publish(kBackgroundTopic,
            {{"long", request_json("long", "search", "please summarise " + long_text + " now")}});
  std::vector<std::pair<std::string, std::string>> events = {
      {"filtered", request_json("filtered", "search",
                                "tell me " + std::string(kContentFilterMarker) + " now")},
      {"locked", request_json("locked", "search", "hi", R"(,"model":"workhorse")")},
  };
  h.publish(kInteractiveTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 3; }))
      << h.worker_log();
  // Too long for `small` (the simulator says so), fine for `large`: one retry, billed once.
  EXPECT_EQ(h.query("SELECT status || ' ' || deployment || ' ' || attempts FROM requests "
                    "WHERE request_id = 'long'"),
            "ok large 2");
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE request_id = 'long'"), 1);
  // Content filter: final at once, the filtered call billed for its prompt.
  EXPECT_EQ(h.query("SELECT error_code || ' ' || attempts FROM requests "
                    "WHERE request_id = 'filtered'"),
            "content_filtered 1");
  // 401: the deployment is disabled and the request ends, loudly.
  EXPECT_EQ(h.query("SELECT error_code FROM requests WHERE request_id = 'locked'"),
            "provider_error");
  EXPECT_NE(h.worker_log().find("deployment locked answered HTTP 401"), std::string::npos)
      << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  std::string stats = h.worker_stats();
  EXPECT_EQ(stat_of(stats, "deployments_disabled"), 1) << stats;
}

TEST(ProviderFaults, AnthropicDeploymentsAreCalledThroughTheMessagesApiAndBilledExactly) {
  ::setenv("SWITCHYARD_IT_ANTHROPIC_KEY", "sk-ant-test-key", 1);
  HarnessOptions options;
  options.sim.record_requests = true;
  options.deployments_yaml =
      "deployments:\n  - name: claude\n    provider: anthropic\n"
      "    api_base: http://127.0.0.1:SIM_PORT/v1\n    api_key_env: SWITCHYARD_IT_ANTHROPIC_KEY\n"
      "    model: claude-sim\n    tier: economy\n    input_cost_per_token: 8e-07\n"
      "    output_cost_per_token: 4e-06\n";
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  Harness h("anthropic", options);
  h.publish(kBackgroundTopic, wave("an-", 20));
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 20; }))
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok' AND provider = 'anthropic'"),
            20);
  EXPECT_EQ(mispriced_ledger_rows(h, "('claude', '8e-07', '4e-06')"), 0);
  auto log = h.sim().request_log();
  EXPECT_EQ(log.size(), 20u);
  for (const auto& r : log) EXPECT_EQ(to_string(r.endpoint), "anthropic");
  EXPECT_EQ(h.worker_log().find("sk-ant-test-key"), std::string::npos);
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(ProviderTls, HttpsProvidersAreVerifiedAgainstTheConfiguredCaAndAWrongCertificateIsRefused) {
  test::TestCa ca;
  for (const bool trusted : {true, false}) {
    HarnessOptions options;
    options.sim.tls_cert_file = (trusted ? ca.server_cert : ca.impostor_cert).string();
    options.sim.tls_key_file = ca.key.string();
    options.extra_http_yaml = "  ca_file: " + ca.ca_cert.string() + "\n";
    options.deployments_yaml =
        "deployments:\n  - name: tls\n    api_base: https://localhost:SIM_PORT/v1\n"
        "    model: gpt-4o-mini\n    tier: economy\n    input_cost_per_token: 1.5e-07\n"
        "    output_cost_per_token: 6e-07\n";
    options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
    Harness h(trusted ? "tls_trusted" : "tls_impostor", options);
    h.publish(kBackgroundTopic, wave("tls-", 10));
    h.start_worker();
    ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 10; }))
        << h.worker_log();
    if (trusted) {
      EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), 10);
    } else {
      EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE error_code = 'provider_error'"), 10);
      EXPECT_NE(h.query("SELECT error_message FROM requests LIMIT 1").find("certificate verify failed"),
                std::string::npos)
          << h.query("SELECT error_message FROM requests LIMIT 1");
      EXPECT_EQ(h.sim().stats().ok, 0u);  // nothing was sent over the refused connection
      EXPECT_NE(h.worker_log().find("deployment tls: TLS handshake"), std::string::npos)
          << h.worker_log();  // disabled, loudly, after the first refusal
    }
    EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  }
}

}  // namespace
}  // namespace switchyard::testing
