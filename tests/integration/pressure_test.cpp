// Providers under pressure and producers that lie: a server that accepts connections slowly,
// and good events interleaved with hostile ones.
#include <gtest/gtest.h>

#include <chrono>

#include "harness.h"

namespace switchyard::testing {
namespace {

// A small self-hosted server: a thread per connection, a listen backlog of 4, an accept every
// 2 ms. Before the per-deployment concurrency limit and the connect ramp, 600
// queued jobs opened hundreds of connections at once, the accept queue overflowed, and calls
// hung until their timeout.
TEST(Pressure, SixHundredQueuedJobsAllFinishOnAServerThatAcceptsSlowly) {
  HarnessOptions options;
  options.sim.latency_ms = 20;
  options.sim.listen_backlog = 4;
  options.sim.accept_delay_ms = 2;
  Harness h("slow_accept", options);
  const int n = 600;
  h.publish(kBackgroundTopic, numbered_requests("sa-", n));
  const auto start = std::chrono::steady_clock::now();
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  std::vector<std::pair<double, std::size_t>> progress;  // (seconds, results) for the log
  ASSERT_TRUE(eventually([&] {
    results.drain();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (progress.empty() || s - progress.back().first >= 1.0)
      progress.emplace_back(s, results.distinct_keys().size());
    return results.distinct_keys().size() >= static_cast<std::size_t>(n);
  })) << "results: "
      << results.distinct_keys().size() << "\n"
      << h.worker_log();
  for (const auto& [s, done] : progress) std::printf("  %5.1f s: %zu of %d done\n", s, done, n);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), n);
  // Not one call was lost to a connect or first-byte timeout: each job made exactly one call.
  EXPECT_EQ(h.sim().stats().requests, static_cast<std::uint64_t>(n));
  h.stop_worker();
  EXPECT_EQ(stat_of(h.worker_stats(), "provider_retries"), 0) << h.worker_stats();
}

// One of each hostile kind the worker met as a hostile producer's target: before issue 10, the
// deep nesting killed it (and every worker after it), the strings Postgres refuses wedged the
// writer, the oversized reason wedged its partition, the huge max_tokens overflowed the budget
// and the never-fitting request waited forever. Two more requests are valid but meet providers
// that lie about usage.
TEST(Pressure, GoodEventsAllEndOkAmongHostileOnesAndEveryPartitionCommitsToItsEnd) {
  HarnessOptions options;
  options.sim.faults = {FaultRule{.kind = FaultKind::no_usage, .model = "liar-silent"},
                        FaultRule{.kind = FaultKind::absurd_usage, .model = "liar-absurd"}};
  // Large context and tpm: a request with 2,000,000 max_tokens fits the context window but can
  // never fit this worker's share of 1,000,000 tokens per minute.
  options.deployments_yaml =
      std::string("deployments:\n") +
      deployment_yaml("mini-a", "gpt-4o-mini", "economy", kInputPrice, kOutputPrice) +
      "    context_window: 4000000\n    tpm: 1000000\n" +
      deployment_yaml("silent", "liar-silent", "frontier", kInputPrice, kOutputPrice) +
      deployment_yaml("absurd", "liar-absurd", "frontier", kInputPrice, kOutputPrice);
  Harness h("hostile_mix", options);

  auto event = [](const std::string& id, const std::string& extra) {
    return R"({"request_id":")" + id + R"(","team":"search","messages":[{"role":"user",)" +
           R"("content":"hello"}])" + extra + "}";
  };
  std::string deep = R"({"request_id":"h-deep","team":"search","messages":[{"role":"user",)"
                     R"("content":"x"}],"metadata":{"a":)";
  deep += std::string(300000, '[') + std::string(300000, ']') + "}}";
  std::string numbers;
  for (int i = 0; i < 60000; ++i) numbers += (i ? "," : "") + std::to_string(i);
  const std::vector<std::pair<std::string, std::string>> hostile = {
      {"h-deep", deep},
      {"h-nul", event("h-nul", R"(,"metadata":{"note":"a\u0000b"})")},
      {"h-team", R"({"request_id":"h-team","team":"\udc00","messages":[{"role":"user",)"
                 R"("content":"x"}]})"},
      {"h-model", event("h-model", R"(,"model":"\udc00")")},
      {"h-reason", R"({"request_id":"h-reason","team":"search","messages":[)" + numbers + "]}"},
      {"h-tokens", event("h-tokens", R"(,"max_tokens":9223372036854775000)")},
      {"h-never", event("h-never", R"(,"max_tokens":2000000)")},
      {"h-garbage", std::string("\xff\xfe{not json", 11)},
  };
  const std::vector<std::pair<std::string, std::string>> liars = {
      {"l-silent", event("l-silent", R"(,"model":"liar-silent")")},
      {"l-absurd", event("l-absurd", R"(,"model":"liar-absurd")")},
  };
  // 90 good events, a hostile or lying one after every ninth.
  std::vector<std::pair<std::string, std::string>> interactive, background;
  const auto good = numbered_requests("g-", 90);
  std::size_t next_bad = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    (i % 2 ? interactive : background).push_back(good[i]);
    if (i % 9 == 8) {
      const auto& bad =
          next_bad < hostile.size() ? hostile[next_bad] : liars[next_bad - hostile.size()];
      ++next_bad;
      (i % 2 ? background : interactive).push_back(bad);
    }
  }
  ASSERT_EQ(next_bad, hostile.size() + liars.size());
  h.publish(kInteractiveTopic, interactive);
  h.publish(kBackgroundTopic, background);
  h.start_worker();

  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  TopicReader dlq(h.bootstrap(), kDlqTopic, 4);
  auto ended = [&] {
    std::set<std::string> keys = results.distinct_keys();
    std::size_t unreadable = 0;
    for (const auto& r : dlq.records) unreadable += r.key.empty() ? 1 : 0;
    return keys.size() + unreadable;
  };
  const std::size_t expected = good.size() + hostile.size() + liars.size();
  ASSERT_TRUE(eventually([&] {
    results.drain();
    dlq.drain();
    return ended() >= expected;
  })) << "ended: "
      << ended() << " of " << expected << "\n"
      << h.worker_log();
  EXPECT_EQ(ended(), expected);

  std::map<std::string, std::string> by_key;
  for (const auto& r : results.records) by_key.emplace(r.key, r.value);
  auto ok = [](const std::string& value) {
    return value.find(R"("status":"ok")") != std::string::npos;
  };
  int good_ok = 0;
  for (const auto& [id, value] : good) good_ok += by_key.count(id) && ok(by_key[id]) ? 1 : 0;
  EXPECT_EQ(good_ok, 90);
  for (const auto& [id, value] : hostile) {
    if (by_key.count(id)) {
      EXPECT_FALSE(ok(by_key[id])) << id << ": " << by_key[id];
    }
    const std::string& r = by_key[id];
    const auto code = r.find(R"("code":")");
    std::printf("  %-10s %s\n", id.c_str(),
                code == std::string::npos
                    ? "no result (DLQ, unreadable)"
                    : r.substr(code + 8, r.find('"', code + 8) - code - 8).c_str());
  }
  EXPECT_NE(by_key["h-never"].find("rate_limited"), std::string::npos) << by_key["h-never"];
  // The silent provider's answer is served and billed on an estimate, marked so.
  EXPECT_TRUE(ok(by_key["l-silent"])) << by_key["l-silent"];
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE request_id = 'l-silent' AND "
                    "usage_estimated AND cost_usd > 0"),
            1);
  // The absurd count is refused, not billed.
  EXPECT_FALSE(ok(by_key["l-absurd"])) << by_key["l-absurd"];
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE request_id = 'l-absurd'"), 0);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), 91);

  // Every partition of both request topics commits to its end, and the worker is still there.
  ASSERT_TRUE(eventually([&] {
    for (const char* topic : {kInteractiveTopic, kBackgroundTopic}) {
      auto [committed, end] = h.committed_and_end(topic);
      if (committed != end) return false;
    }
    return true;
  })) << h.worker_log();
  EXPECT_TRUE(h.worker_running());
  std::printf("  %zu events (90 good, %zu hostile, %zu lying providers): %zu results, %zu DLQ\n",
              expected, hostile.size(), liars.size(), results.distinct_keys().size(),
              dlq.records.size());
  EXPECT_EQ(h.stop_worker(), 0);
  EXPECT_EQ(stat_of(h.worker_stats(), "usage_estimated"), 1) << h.worker_stats();
}

}  // namespace
}  // namespace switchyard::testing
