// The spine end to end: real embedded broker, real Postgres, the simulator, the real binary.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "harness.h"
#include "switchyard/common/money.h"

namespace switchyard::testing {
namespace {

// The exact cost_usd of one result event: the JSON number text, parsed as a decimal.
std::optional<Picodollars> result_cost(const std::string& json) {
  auto pos = json.find("\"cost_usd\":");
  if (pos == std::string::npos) return std::nullopt;
  auto start = pos + 11;
  return parse_usd(json.substr(start, json.find_first_of(",}", start) - start));
}

// Sum of cost_usd over the first result event of each request.
Picodollars result_cost_sum(const std::vector<Record>& records) {
  std::set<std::string> seen;
  Picodollars sum = 0;
  for (const auto& r : records) {
    if (!seen.insert(r.key).second) continue;
    auto cost = result_cost(r.value);
    EXPECT_TRUE(cost.has_value()) << r.value;
    sum += cost.value_or(0);
  }
  return sum;
}

// A slow-enough run with a small in-flight cap, so a fault can land in the middle of it.
HarnessOptions mid_run_options(int max_in_flight) {
  HarnessOptions options;
  options.sim.latency_ms = 2;
  options.sim.latency_jitter_ms = 3;
  options.extra_worker_yaml = "  max_in_flight: " + std::to_string(max_in_flight) +
                              "\n  resume_in_flight: " + std::to_string(max_in_flight * 3 / 4) +
                              "\n";
  return options;
}

// After a fault: every one of the `n` requests ends terminal exactly once, billed exactly once,
// with a result event, and every result event of a request is the same stored result.
void expect_every_request_terminal_and_billed_once(Harness& h, int n) {
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().size() >= static_cast<std::size_t>(n) &&
           h.count("SELECT count(*) FROM requests") >= n;
  })) << "results: "
      << results.distinct_keys().size() << "\n"
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests"), n);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), n);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger"), n);
  EXPECT_EQ(h.count("SELECT count(*) FROM (SELECT request_id FROM cost_ledger GROUP BY 1 "
                    "HAVING count(*) > 1) d"),
            0);
  std::map<std::string, std::string> first;
  for (const auto& r : results.records) {
    auto [it, inserted] = first.emplace(r.key, r.value);
    if (!inserted) {
      EXPECT_EQ(it->second, r.value) << "two different results for " << r.key;
    }
  }
}

TEST(Spine, TenThousandEventsBecomeTenThousandResultsRowsAndExactLedger) {
  Harness h("ten_thousand");
  const int n = 10000;
  h.publish(kBackgroundTopic, numbered_requests("tt-", n));
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().size() >= static_cast<std::size_t>(n);
  })) << "results: "
      << results.distinct_keys().size() << "\n"
      << h.worker_log();
  EXPECT_EQ(h.count("SELECT count(*) FROM requests"), n);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), n);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger"), n);
  // Ledger cost equals usage x price, to the last digit.
  EXPECT_EQ(h.query(std::string("SELECT sum(cost_usd) = sum(input_tokens * ") + kInputPrice +
                    " + output_tokens * " + kOutputPrice + ") FROM cost_ledger"),
            "t");
  EXPECT_EQ(h.query("SELECT count(*) FROM cost_ledger WHERE cost_usd = 0"), "0");
  // The results agree with the ledger.
  Picodollars from_results = result_cost_sum(results.records);
  EXPECT_EQ(format_usd(from_results), h.query("SELECT trim(trailing '.' from trim(trailing '0' "
                                              "from sum(cost_usd)::text)) FROM cost_ledger"));
  EXPECT_EQ(h.query("SELECT sum(requests) FROM team_spend_daily"), std::to_string(n));
  EXPECT_EQ(h.sim().stats().requests, static_cast<std::uint64_t>(n));

  EXPECT_EQ(h.stop_worker(SIGTERM), 0) << h.worker_log();
  // Every offset was committed after its result became durable: the whole topic is committed.
  auto [committed, end] = h.committed_and_end(kBackgroundTopic);
  EXPECT_EQ(committed, end);
}

TEST(Spine, KillNineMidRunThenRestartLeavesEveryRequestTerminalOnceAndBilledOnce) {
  Harness h("kill_nine", mid_run_options(400));
  const int n = 5000;
  h.publish(kBackgroundTopic, numbered_requests("k9-", n));
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 1000; }))
      << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGKILL), -SIGKILL);
  long long at_crash = h.count("SELECT count(*) FROM requests");
  EXPECT_LT(at_crash, n) << "the crash should happen mid-run";

  h.start_worker();
  expect_every_request_terminal_and_billed_once(h, n);
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Spine, MalformedEventsGoToTheDlqWithReasonsAndNeverReachTheProvider) {
  HarnessOptions options;
  options.extra_worker_yaml = "  max_event_bytes: 4096\n";
  Harness h("malformed", options);
  std::string oversized = request_json("too-big", "search", std::string(10000, 'x'));
  h.publish(
      kBackgroundTopic,
      {
          {"", "this is not json"},
          {"", R"({"team":"search","messages":[{"role":"user","content":"hi"}]})"},
          {"", R"({"request_id":"bad id with spaces","team":"search"})"},
          {"wrong-types", R"({"request_id":"wrong-types","team":5,"messages":"hi"})"},
          {"too-big", oversized},
          {"bad-reply", request_json("bad-reply", "search", "x", R"(,"reply_topic":"elsewhere")")},
          {"good-1", request_json("good-1", "search", "hello")},
      });
  h.start_worker();
  TopicReader dlq(h.bootstrap(), kDlqTopic, 4);
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    dlq.drain();
    results.drain();
    return dlq.records.size() >= 6 && results.distinct_keys().size() >= 4;
  })) << h.worker_log();
  EXPECT_EQ(dlq.records.size(), 6u);
  std::map<std::string, std::string> reason_by_payload_start;
  for (const auto& r : dlq.records) {
    ASSERT_TRUE(r.headers.count("switchyard.reason")) << r.value;
    EXPECT_FALSE(r.headers.at("switchyard.reason").empty());
    EXPECT_TRUE(r.headers.count("switchyard.source"));
    reason_by_payload_start[r.value.substr(0, 20)] = r.headers.at("switchyard.reason");
  }
  EXPECT_NE(reason_by_payload_start["this is not json"].find("not valid JSON"), std::string::npos);
  // The original bytes are kept whole.
  bool oversized_kept = false;
  for (const auto& r : dlq.records) oversized_kept |= r.value == oversized;
  EXPECT_TRUE(oversized_kept);

  std::map<std::string, rapidjson::Document> by_id;
  for (const auto& r : results.records) by_id[r.key].Parse(r.value.c_str());
  ASSERT_EQ(by_id.size(), 4u);
  for (const char* id : {"wrong-types", "too-big", "bad-reply"}) {
    ASSERT_TRUE(by_id.count(id)) << id;
    EXPECT_STREQ(by_id[id]["status"].GetString(), "error") << id;
    EXPECT_STREQ(by_id[id]["error"]["code"].GetString(), "invalid_request") << id;
  }
  EXPECT_NE(std::string(by_id["wrong-types"]["error"]["message"].GetString())
                .find("team must be a string"),
            std::string::npos);
  EXPECT_NE(
      std::string(by_id["too-big"]["error"]["message"].GetString()).find("over the limit of 4096"),
      std::string::npos);
  EXPECT_STREQ(by_id["good-1"]["status"].GetString(), "ok");
  EXPECT_EQ(h.sim().stats().requests, 1u) << "only the valid event may reach the provider";
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE error_code = 'invalid_request'"), 3);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger"), 1);

  // The worker keeps running: a later valid event is still served.
  ASSERT_TRUE(h.worker_running());
  h.publish(kInteractiveTopic, {{"good-2", request_json("good-2", "ads", "still there?")}});
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().count("good-2") > 0;
  })) << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  auto [committed, end] = h.committed_and_end(kBackgroundTopic);
  EXPECT_EQ(committed, end);
}

TEST(Spine, RedeliveredTerminalRequestIsReEmittedFromPostgresWithoutAProviderCall) {
  Harness h("redelivery");
  h.publish(kBackgroundTopic, {{"once", request_json("once", "search", "only once please")}});
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.records.size() >= 1;
  })) << h.worker_log();
  // The same request published again (a producer retry, a replay): served from Postgres.
  h.publish(kBackgroundTopic, {{"once", request_json("once", "search", "only once please")}});
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.records.size() >= 2;
  })) << h.worker_log();
  EXPECT_EQ(results.records[0].value, results.records[1].value);
  EXPECT_EQ(h.sim().stats().requests, 1u);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger"), 1);
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

TEST(Spine, PostgresStoppedMidRunLosesNothingAndDuplicatesNothing) {
  Harness h("pg_outage", mid_run_options(500));
  const int n = 4000;
  h.publish(kBackgroundTopic, numbered_requests("pg-", n));
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 500; }))
      << h.worker_log();
  std::string pg = std::string(SWITCHYARD_SOURCE_DIR) + "/scripts/pg.sh";
  ASSERT_EQ(std::system((pg + " stop").c_str()), 0);
  // Let the outage overlap with processing: the worker must notice, pause and hold results.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(h.worker_running()) << h.worker_log();
  ASSERT_EQ(std::system((pg + " start").c_str()), 0);

  expect_every_request_terminal_and_billed_once(h, n);
  EXPECT_NE(h.worker_log().find("intake paused"), std::string::npos) << h.worker_log();
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  auto [committed, end] = h.committed_and_end(kBackgroundTopic);
  EXPECT_EQ(committed, end);
}

}  // namespace
}  // namespace switchyard::testing

namespace switchyard::testing {
namespace {

TEST(Spine, EventsPublishedWithKcatComeBackAsResultsThatAgreeWithPostgres) {
  Harness h("kcat");
  const int n = 50;
  std::string file = std::filesystem::temp_directory_path() / "switchyard-it-kcat.txt";
  {
    std::ofstream out(file);
    for (int i = 0; i < n; ++i) {
      std::string id = "kc-" + std::to_string(i);
      out << id << "|"
          << request_json(id, i % 2 ? "ads" : "search", "kcat says " + std::to_string(i * i))
          << "\n";
    }
  }
  std::string cmd =
      "kcat -P -b " + h.bootstrap() + " -t " + kBackgroundTopic + " -K '|' -l " + file;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "kcat is installed by scripts/install-deps.sh";
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().size() >= static_cast<std::size_t>(n);
  })) << h.worker_log();
  for (const auto& r : results.records) {
    rapidjson::Document doc;
    doc.Parse(r.value.c_str());
    ASSERT_TRUE(doc.IsObject()) << r.value;
    std::string id = doc["request_id"].GetString();
    ASSERT_EQ(id, r.key);
    std::string row = h.query(
        "SELECT r.status || '|' || r.input_tokens || '|' || r.output_tokens || '|' || "
        "r.cost_usd::text || '|' ||"
        " l.cost_usd::text || '|' || l.deployment FROM requests r JOIN cost_ledger l USING "
        "(request_id)"
        " WHERE request_id = '" +
        id + "'");
    auto cost = result_cost(r.value);
    ASSERT_TRUE(cost.has_value());
    std::string expected_cost = h.query("SELECT (" + format_usd(*cost) + "::numeric(30,12))::text");
    EXPECT_EQ(row, std::string(doc["status"].GetString()) + "|" +
                       std::to_string(doc["usage"]["input_tokens"].GetInt64()) + "|" +
                       std::to_string(doc["usage"]["output_tokens"].GetInt64()) + "|" +
                       expected_cost + "|" + expected_cost + "|" +
                       doc["route"]["deployment"].GetString());
  }
  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
}

}  // namespace
}  // namespace switchyard::testing
