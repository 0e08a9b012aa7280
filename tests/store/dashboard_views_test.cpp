// The spend views of migration 0005 against hand-seeded ledgers with hand-computed figures: UTC
// days and months whatever the session's time zone, month boundaries, token classes, tier shares,
// savings against the reference price, budgets after settlement, partitions, the (request_id,
// attempt) guarantee of the partitioned ledger, and the conversion of an existing ledger.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "store/migrations_data.h"
#include "support/pg.h"
#include "switchyard/config/config.h"
#include "switchyard/event/result.h"
#include "switchyard/store/store.h"

namespace switchyard {
namespace {

using testing::fresh_database;
using testing::pg_server_url;
using testing::query_one;

// One billed call of a seeded request.
struct Call {
  int attempt = 1;
  std::string deployment = "mini-a";
  std::string model = "gpt-4o-mini";
  std::string provider = "openai";
  std::string tier = "economy";
  std::string cost = "0";  // USD, exact decimal text
  long long input = 100;
  long long output = 20;
  long long cached = 0;
  long long cache_creation = 0;
  long long reasoning = 0;
};

// A request of `team` made terminal at `at` (a timestamptz literal, read in the session's time
// zone unless it carries an offset) with its billed calls, written as the worker does: the
// requests row, then all its ledger rows in one statement, stamped with the request's finished_at.
void bill(pqxx::connection& conn, const std::string& id, const std::string& team,
          const std::string& at, const std::vector<Call>& calls) {
  pqxx::work tx(conn);
  tx.exec("INSERT INTO requests (request_id, team, status, result, finished_at) VALUES (" +
          tx.quote(id) + ", " + tx.quote(team) + ", 'ok', '{}', " + tx.quote(at) +
          "::timestamptz)");
  std::string values;
  for (const auto& c : calls) {
    values += std::string(values.empty() ? "" : ", ") + "(" + tx.quote(id) + ", " +
              std::to_string(c.attempt) + ", " + tx.quote(team) + ", " + tx.quote(c.deployment) +
              ", " + tx.quote(c.model) + ", " + tx.quote(c.provider) + ", " + tx.quote(c.tier) +
              ", " + std::to_string(c.input) + ", " + std::to_string(c.output) + ", " +
              std::to_string(c.cached) + ", " + std::to_string(c.cache_creation) + ", " +
              std::to_string(c.reasoning) + ", " + c.cost + ")";
  }
  if (!values.empty()) {
    tx.exec(
        "INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, provider, tier,"
        " input_tokens, output_tokens, cached_input_tokens, cache_creation_input_tokens,"
        " reasoning_tokens, cost_usd, created_at)"
        " SELECT v.*, r.finished_at FROM (VALUES " +
        values + ") AS v JOIN requests r ON r.request_id = v.column1");
  }
  tx.commit();
}

// Every row of `sql` as "col|col|...", rows joined by "\n".
std::string rows_of(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx(conn);
  std::string out;
  for (const auto& row : tx.exec(sql)) {
    if (!out.empty()) out += "\n";
    for (pqxx::row::size_type i = 0; i < row.size(); ++i)
      out += (i ? "|" : "") + std::string(row[i].is_null() ? "NULL" : row[i].c_str());
  }
  return out;
}

std::string test_database_name(const std::string& prefix) {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return prefix + std::to_string(std::hash<std::string>{}(name) % 1000000007);
}

class DashboardViews : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = fresh_database(test_database_name("sy_views_"));
    conn_ = std::make_unique<pqxx::connection>(url_);
  }
  std::string rows(const std::string& sql) { return rows_of(*conn_, sql); }
  void exec(const std::string& sql) {
    pqxx::nontransaction tx(*conn_);
    tx.exec(sql);
  }
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

Call call(const std::string& cost, const std::string& tier = "economy",
          const std::string& deployment = "mini-a") {
  Call c;
  c.cost = cost;
  c.tier = tier;
  c.deployment = deployment;
  return c;
}

TEST_F(DashboardViews, DaysAndMonthsSplitExactlyAtUtcMidnight) {
  bill(*conn_, "oct-first", "alpha", "2025-10-01 00:00:00+00", {call("0.4")});
  bill(*conn_, "oct-last", "alpha", "2025-10-31 23:59:59.999+00", {call("0.1")});
  bill(*conn_, "nov-first", "alpha", "2025-11-01 00:00:00+00", {call("0.2")});
  bill(*conn_, "nov-last", "beta", "2025-11-30 23:59:59.999+00", {call("0.8")});
  bill(*conn_, "dec-first", "beta", "2025-12-01 00:00:00+00", {call("1.6")});

  EXPECT_EQ(rows("SELECT team, day, requests, input_tokens, output_tokens, cost_usd"
                 " FROM team_spend_daily ORDER BY team, day"),
            "alpha|2025-10-01|1|100|20|0.400000000000\n"
            "alpha|2025-10-31|1|100|20|0.100000000000\n"
            "alpha|2025-11-01|1|100|20|0.200000000000\n"
            "beta|2025-11-30|1|100|20|0.800000000000\n"
            "beta|2025-12-01|1|100|20|1.600000000000");
  EXPECT_EQ(rows("SELECT team, month, requests, cost_usd, input_tokens, output_tokens"
                 " FROM team_spend_monthly ORDER BY team, month"),
            "alpha|2025-10-01|2|0.500000000000|200|40\n"
            "alpha|2025-11-01|1|0.200000000000|100|20\n"
            "beta|2025-11-01|1|0.800000000000|100|20\n"
            "beta|2025-12-01|1|1.600000000000|100|20");
}

TEST_F(DashboardViews, ViewsBucketByUtcWhateverTheSessionTimeZone) {
  exec("SET TimeZone = 'America/Los_Angeles'");
  // Local times in Los Angeles (UTC-7 on these dates): both are October 31 there, but the first
  // is 23:59:59.999 on October 31 in UTC and the second 00:30 on November 1.
  bill(*conn_, "late-oct", "alpha", "2025-10-31 16:59:59.999", {call("0.25", "economy")});
  bill(*conn_, "early-nov", "alpha", "2025-10-31 17:30:00", {call("0.75", "frontier", "big")});
  ASSERT_EQ(rows("SELECT count(DISTINCT (created_at)::date) FROM cost_ledger"), "1")
      << "in Los Angeles both rows are on one day";

  EXPECT_EQ(rows("SELECT day, requests, cost_usd FROM team_spend_daily ORDER BY day"),
            "2025-10-31|1|0.250000000000\n2025-11-01|1|0.750000000000");
  EXPECT_EQ(rows("SELECT month, requests FROM team_spend_monthly ORDER BY month"),
            "2025-10-01|1\n2025-11-01|1");
  EXPECT_EQ(rows("SELECT day, deployment, requests FROM model_spend_daily ORDER BY day"),
            "2025-10-31|mini-a|1\n2025-11-01|big|1");
  EXPECT_EQ(rows("SELECT day, tier, requests, request_share FROM tier_mix_daily ORDER BY day"),
            "2025-10-31|economy|1|1.00000000000000000000\n"
            "2025-11-01|frontier|1|1.00000000000000000000");
  EXPECT_EQ(rows("SELECT day, actual_cost_usd FROM team_savings_daily ORDER BY day"),
            "2025-10-31|0.250000000000\n2025-11-01|0.750000000000");
  // A filter on day in the session's zone still means the UTC day.
  EXPECT_EQ(rows("SELECT requests FROM team_spend_daily WHERE day = '2025-11-01'"), "1");
}

TEST_F(DashboardViews, ModelSpendCountsEveryTokenClassPerDeployment) {
  Call filtered = call("0.010000000001", "economy", "mini-a");
  filtered.input = 1000;
  filtered.cached = 400;
  filtered.cache_creation = 100;
  filtered.output = 0;
  Call retried = call("0.5", "frontier", "big");
  retried.attempt = 2;
  retried.model = "o3";
  retried.input = 1000;
  retried.output = 300;
  retried.reasoning = 120;
  bill(*conn_, "twice", "alpha", "2025-03-10 08:00:00+00", {filtered, retried});
  Call plain = call("0.000000000001", "economy", "mini-a");
  plain.input = 7;
  plain.output = 3;
  plain.cached = 5;
  bill(*conn_, "once", "beta", "2025-03-10 09:00:00+00", {plain});

  EXPECT_EQ(rows("SELECT day, deployment, model, provider, tier, requests, input_tokens,"
                 " output_tokens, cached_input_tokens, cache_creation_input_tokens,"
                 " reasoning_tokens, cost_usd, served_requests, calls"
                 " FROM model_spend_daily ORDER BY deployment"),
            "2025-03-10|big|o3|openai|frontier|1|1000|300|0|0|120|0.500000000000|1|1\n"
            "2025-03-10|mini-a|gpt-4o-mini|openai|economy|2|1007|3|405|100|0|0.010000000002|1|2");
  // The request billed on two deployments is one request of its team.
  EXPECT_EQ(rows("SELECT team, requests, input_tokens, output_tokens, cost_usd"
                 " FROM team_spend_daily ORDER BY team"),
            "alpha|1|2000|300|0.510000000001\nbeta|1|7|3|0.000000000001");
}

TEST_F(DashboardViews, TierSharesOfEachDayAddUpToOne) {
  bill(*conn_, "e1", "alpha", "2025-05-01 10:00:00+00", {call("0.1", "economy")});
  bill(*conn_, "e2", "beta", "2025-05-01 11:00:00+00", {call("0.2", "economy")});
  bill(*conn_, "w1", "alpha", "2025-05-01 12:00:00+00", {call("0.3", "workhorse", "mid")});
  bill(*conn_, "f1", "alpha", "2025-05-01 13:00:00+00", {call("0.4", "frontier", "big")});
  // Thirds: the shares cannot be exact, their sum is 1 to 20 digits.
  bill(*conn_, "t1", "alpha", "2025-05-02 10:00:00+00", {call("1", "economy")});
  bill(*conn_, "t2", "alpha", "2025-05-02 11:00:00+00", {call("1", "workhorse", "mid")});
  bill(*conn_, "t3", "alpha", "2025-05-02 12:00:00+00", {call("1", "frontier", "big")});
  // A request billed on economy, then served by frontier: its request counts for frontier, its
  // economy call's cost for economy.
  Call first = call("0.05", "economy");
  Call second = call("0.45", "frontier", "big");
  second.attempt = 2;
  bill(*conn_, "up", "alpha", "2025-05-03 10:00:00+00", {first, second});

  EXPECT_EQ(rows("SELECT day, tier, requests, cost_usd, request_share::numeric(6,4),"
                 " cost_share::numeric(6,4) FROM tier_mix_daily ORDER BY day, tier"),
            "2025-05-01|economy|2|0.300000000000|0.5000|0.3000\n"
            "2025-05-01|frontier|1|0.400000000000|0.2500|0.4000\n"
            "2025-05-01|workhorse|1|0.300000000000|0.2500|0.3000\n"
            "2025-05-02|economy|1|1.000000000000|0.3333|0.3333\n"
            "2025-05-02|frontier|1|1.000000000000|0.3333|0.3333\n"
            "2025-05-02|workhorse|1|1.000000000000|0.3333|0.3333\n"
            "2025-05-03|economy|0|0.050000000000|0.0000|0.1000\n"
            "2025-05-03|frontier|1|0.450000000000|1.0000|0.9000");
  EXPECT_EQ(rows("SELECT day, sum(request_share), sum(cost_share) FROM tier_mix_daily"
                 " WHERE day <> '2025-05-02' GROUP BY day ORDER BY day"),
            "2025-05-01|1.00000000000000000000|1.00000000000000000000\n"
            "2025-05-03|1.00000000000000000000|1.00000000000000000000");
  EXPECT_EQ(rows("SELECT abs(sum(request_share) - 1) < 1e-18, abs(sum(cost_share) - 1) < 1e-18"
                 " FROM tier_mix_daily WHERE day = '2025-05-02'"),
            "t|t");
}

TEST_F(DashboardViews, SavingsAreMeasuredAgainstTheCurrentReferencePrice) {
  Call c = call("0.001");
  c.input = 1000;  // 500 uncached + 400 cached + 100 written to the cache
  c.cached = 400;
  c.cache_creation = 100;
  c.output = 500;  // 300 visible + 200 reasoning
  c.reasoning = 200;
  bill(*conn_, "r1", "alpha", "2025-07-04 12:00:00+00", {c});
  bill(*conn_, "r2", "alpha", "2025-07-04 13:00:00+00", {call("0.002")});  // 100 in, 20 out

  EXPECT_EQ(rows("SELECT day, team, requests, actual_cost_usd, reference_cost_usd, saved_usd,"
                 " reference_model FROM team_savings_daily"),
            "2025-07-04|alpha|2|0.003000000000|NULL|NULL|NULL")
      << "no reference price yet";

  auto store = make_postgres_store(url_);
  std::string error;
  ModelPrice wrong;
  wrong.input_per_token = 1;
  wrong.output_per_token = 1;
  ASSERT_TRUE(store->set_reference_price("replaced", wrong, error)) << error;
  // gpt-4o: $2.50 / $10 per million, cached input $1.25; no cache-creation or reasoning price.
  ModelPrice gpt4o;
  gpt4o.input_per_token = 2'500'000;
  gpt4o.output_per_token = 10'000'000;
  gpt4o.cached_input_per_token = 1'250'000;
  ASSERT_TRUE(store->set_reference_price("gpt-4o", gpt4o, error)) << error;
  EXPECT_EQ(rows("SELECT name, input_cost_per_token, output_cost_per_token,"
                 " cached_input_cost_per_token, cache_creation_input_cost_per_token,"
                 " reasoning_cost_per_token FROM reference_prices"),
            "gpt-4o|0.000002500000|0.000010000000|0.000001250000|NULL|NULL");

  // r1: 500 x 2.5e-6 + 400 x 1.25e-6 + 100 x 2.5e-6 (input price) + 300 x 1e-5 + 200 x 1e-5
  //     (output price) = 0.00125 + 0.0005 + 0.00025 + 0.003 + 0.002 = 0.007
  // r2: 100 x 2.5e-6 + 20 x 1e-5 = 0.00045.  Reference 0.00745, actual 0.003, saved 0.00445.
  EXPECT_EQ(rows("SELECT day, team, requests, actual_cost_usd, reference_cost_usd, saved_usd,"
                 " reference_model FROM team_savings_daily"),
            "2025-07-04|alpha|2|0.003000000000|0.007450000000|0.004450000000|gpt-4o");
}

TEST_F(DashboardViews, TheReferencePriceComesFromReportingReferenceModel) {
  const std::string yaml = R"(
postgres:
  url: postgresql:///x
worker:
  default_tier: economy
deployments:
  - name: mini-a
    api_base: http://127.0.0.1:8080/v1
    model: gpt-4o-mini
    tier: economy
    input_cost_per_token: 1.5e-07
    output_cost_per_token: 0.0000006
  - name: big-a
    api_base: http://127.0.0.1:8080/v1
    model: gpt-4o-2024-08-06
    group: gpt-4o
    tier: frontier
    input_cost_per_token: 0.0000025
    output_cost_per_token: 0.00001
    cached_input_cost_per_token: 0.00000125
)";
  ConfigLoad by_default = load_config_text(yaml, ".");
  ASSERT_TRUE(by_default.ok()) << by_default.problems.front();
  ASSERT_NE(by_default.config.reference_deployment(), nullptr);
  EXPECT_EQ(by_default.config.reference_deployment()->name, "mini-a") << "worker.default_tier";

  ConfigLoad named = load_config_text(yaml + "reporting:\n  reference_model: gpt-4o\n", ".");
  ASSERT_TRUE(named.ok()) << named.problems.front();
  const DeploymentConfig* d = named.config.reference_deployment();
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->price.has_value());
  auto store = make_postgres_store(url_);
  std::string error;
  ASSERT_TRUE(store->set_reference_price(d->group, *d->price, error)) << error;
  EXPECT_EQ(rows("SELECT name, input_cost_per_token, output_cost_per_token,"
                 " cached_input_cost_per_token FROM reference_prices"),
            "gpt-4o|0.000002500000|0.000010000000|0.000001250000");

  ConfigLoad unknown = load_config_text(yaml + "reporting:\n  reference_model: gpt-5\n", ".");
  ASSERT_EQ(unknown.problems.size(), 1u);
  EXPECT_EQ(unknown.problems[0],
            "reporting.reference_model: no deployment has model group 'gpt-5'");
}

TEST_F(DashboardViews, BudgetStatusCountsOnlyTheSettledCostOfAReleasedReservation) {
  constexpr Picodollars kDollar = 1'000'000'000'000;
  auto store = make_postgres_store(url_);
  std::vector<BudgetRequest> reservations = {
      {"settled", "search", 1 * kDollar, 10 * kDollar, "month"},
      {"failed", "search", 2 * kDollar, 10 * kDollar, "month"},
      {"running", "search", 3 * kDollar, 10 * kDollar, "month"},
  };
  std::vector<BudgetAnswer> answers;
  std::string error;
  ASSERT_TRUE(store->reserve_budgets(reservations, answers, error)) << error;
  EXPECT_EQ(rows("SELECT spent_usd, reserved_usd, remaining_usd FROM team_budget_status"),
            "0.000000000000|6.000000000000|4.000000000000");

  // "settled" cost $0.25 of its $1 worst case; "failed" was billed nothing; "running" is still
  // in progress.
  ResultEvent ok;
  ok.request_id = "settled";
  ok.team = "search";
  ok.cost = kDollar / 4;
  ResultEvent failed;
  failed.request_id = "failed";
  failed.team = "search";
  failed.error = ErrorCode::kProviderError;
  std::string ok_json = encode_result(ok), failed_json = encode_result(failed);
  TerminalRecord a;
  a.result = &ok;
  a.result_json = ok_json;
  a.ledger.push_back({1, "mini-a", "gpt-4o-mini", "economy", "openai", {}, ok.cost});
  TerminalRecord b;
  b.result = &failed;
  b.result_json = failed_json;
  std::vector<WriteOutcome> outcomes;
  ASSERT_TRUE(store->write_terminal({a, b}, outcomes, error)) << error;
  // A redelivery of the settled request settles nothing again.
  ASSERT_TRUE(store->write_terminal({a}, outcomes, error)) << error;
  EXPECT_FALSE(outcomes[0].inserted);

  EXPECT_EQ(rows("SELECT team, period_kind, budget_usd, spent_usd, reserved_usd, remaining_usd"
                 " FROM team_budget_status"),
            "search|month|10.000000000000|0.250000000000|3.000000000000|6.750000000000");
  EXPECT_EQ(rows("SELECT period = date_trunc('month', now() AT TIME ZONE 'UTC')::date"
                 " FROM team_budget_status"),
            "t");
  EXPECT_EQ(rows("SELECT requests, cost_usd FROM team_spend_daily"), "1|0.250000000000");
}

TEST_F(DashboardViews, RowsLandInTheirMonthsPartitionOrInDefault) {
  exec("SET TimeZone = 'Asia/Tokyo'");  // partition bounds are UTC whatever the session says
  const std::string month_start = "date_trunc('month', now() AT TIME ZONE 'UTC')";
  auto at = [&](const std::string& offset) {
    return rows("SELECT ((" + month_start + " + " + offset + ") AT TIME ZONE 'UTC')::text");
  };
  auto partition_name = [&](const std::string& offset) {
    return rows("SELECT 'cost_ledger_p' || to_char(" + month_start + " + " + offset +
                ", 'YYYY_MM')");
  };
  bill(*conn_, "this-month-last-ms", "alpha", at("interval '1 month' - interval '1 millisecond'"),
       {call("1")});
  bill(*conn_, "next-month-first", "alpha", at("interval '1 month'"), {call("2")});
  bill(*conn_, "far-future", "alpha", at("interval '6 months' + interval '3 days'"), {call("4")});
  bill(*conn_, "long-ago", "alpha", "2001-02-03 04:05:06+00", {call("8")});

  const std::string where = "SELECT request_id, tableoid::regclass FROM cost_ledger ORDER BY 1";
  EXPECT_EQ(rows(where),
            "far-future|cost_ledger_default\n"
            "long-ago|cost_ledger_default\n"
            "next-month-first|" +
                partition_name("interval '1 month'") +
                "\n"
                "this-month-last-ms|" +
                partition_name("interval '0 months'"));
  const std::string rollup_before = rows("SELECT * FROM ledger_daily ORDER BY day");

  auto store = make_postgres_store(url_);
  int created = -1;
  std::string error;
  ASSERT_TRUE(store->ensure_ledger_partitions(6, created, error)) << error;
  EXPECT_EQ(created, 3) << "months 4, 5 and 6 ahead (the migration made 0 to 3)";
  ASSERT_TRUE(store->ensure_ledger_partitions(6, created, error)) << error;
  EXPECT_EQ(created, 0) << "idempotent";
  EXPECT_EQ(rows(where), "far-future|" + partition_name("interval '6 months'") +
                             "\n"
                             "long-ago|cost_ledger_default\n"
                             "next-month-first|" +
                             partition_name("interval '1 month'") +
                             "\n"
                             "this-month-last-ms|" +
                             partition_name("interval '0 months'"));
  EXPECT_EQ(rows("SELECT * FROM ledger_daily ORDER BY day"), rollup_before)
      << "moving rows out of DEFAULT does not count them again";
  EXPECT_EQ(rows("SELECT count(*), sum(cost_usd) FROM cost_ledger"), "4|15.000000000000");
  // The new partition has the parent's constraints: the same row again is refused.
  EXPECT_THROW(exec("INSERT INTO cost_ledger SELECT * FROM cost_ledger WHERE request_id = "
                    "'far-future'"),
               pqxx::unique_violation);
}

TEST_F(DashboardViews, RequestAndAttemptStayUniqueAcrossThePartitionedLedger) {
  bill(*conn_, "once", "alpha", "2025-01-15 10:00:00+00", {call("1")});
  // The same call again, with the same time: the primary key refuses it.
  EXPECT_THROW(exec("INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier,"
                    " provider, input_tokens, output_tokens, cost_usd, created_at) VALUES"
                    " ('once', 1, 'alpha', 'mini-a', 'gpt-4o-mini', 'economy', 'openai', 1, 1, 1,"
                    " '2025-01-15 10:00:00+00')"),
               pqxx::unique_violation);
  // With another time, even in another month's partition: the foreign key refuses it, since a
  // request's ledger rows all carry its finished_at.
  EXPECT_THROW(exec("INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier,"
                    " provider, input_tokens, output_tokens, cost_usd, created_at) VALUES"
                    " ('once', 1, 'alpha', 'mini-a', 'gpt-4o-mini', 'economy', 'openai', 1, 1, 1,"
                    " now())"),
               pqxx::foreign_key_violation);

  // Through the worker's batch statement: a record that bills one attempt twice is refused as a
  // whole, and a redelivered request bills nothing.
  auto store = make_postgres_store(url_);
  ResultEvent r;
  r.request_id = "worker";
  r.team = "alpha";
  r.cost = 2;
  std::string json = encode_result(r);
  TerminalRecord rec;
  rec.result = &r;
  rec.result_json = json;
  rec.ledger.push_back({1, "mini-a", "gpt-4o-mini", "economy", "openai", {}, 1});
  rec.ledger.push_back({1, "mini-a", "gpt-4o-mini", "economy", "openai", {}, 1});
  std::vector<WriteOutcome> outcomes;
  std::string error;
  EXPECT_FALSE(store->write_terminal({rec}, outcomes, error));
  EXPECT_NE(error.find("cost_ledger_p"), std::string::npos) << error;
  EXPECT_EQ(rows("SELECT count(*) FROM requests WHERE request_id = 'worker'"), "0");

  rec.ledger.pop_back();
  rec.ledger.push_back({2, "big", "o3", "frontier", "openai", {}, 1});
  ASSERT_TRUE(store->write_terminal({rec}, outcomes, error)) << error;
  ASSERT_TRUE(store->write_terminal({rec}, outcomes, error)) << error;
  EXPECT_FALSE(outcomes[0].inserted);
  EXPECT_EQ(rows("SELECT request_id, attempt FROM cost_ledger ORDER BY 1, 2"),
            "once|1\nworker|1\nworker|2");
  EXPECT_EQ(rows("SELECT count(*) = count(DISTINCT (request_id, attempt)) FROM cost_ledger"), "t");
  EXPECT_EQ(rows("SELECT team, sum(requests), sum(cost_usd) FROM team_spend_daily GROUP BY team"),
            "alpha|2|1.000000000002");
}

TEST_F(DashboardViews, RebuildMatchesTheRollupTheWritesMaintained) {
  auto store = make_postgres_store(url_);
  std::vector<ResultEvent> results(40);
  std::vector<std::string> jsons(40);
  std::vector<TerminalRecord> records(40);
  for (int i = 0; i < 40; ++i) {
    ResultEvent& r = results[i];
    r.request_id = "w" + std::to_string(i);
    r.team = i % 3 == 0 ? "alpha" : "beta";
    r.cost = 1'000'000 * (i + 1);
    jsons[i] = encode_result(r);
    records[i].result = &r;
    records[i].result_json = jsons[i];
    Usage usage{100 + i, 10 + i, i, i % 2, i % 5};
    records[i].ledger.push_back({1, i % 2 ? "mini-a" : "mini-b", "gpt-4o-mini",
                                 i % 4 ? "economy" : "workhorse", "openai", usage, r.cost});
    if (i % 7 == 0) records[i].ledger.push_back({2, "big", "o3", "frontier", "openai", usage, 5});
  }
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal(
      std::vector<TerminalRecord>(records.begin(), records.begin() + 25), outcomes, error))
      << error;
  ASSERT_TRUE(store->write_terminal(
      std::vector<TerminalRecord>(records.begin() + 20, records.end()), outcomes, error))
      << error;
  bill(*conn_, "old", "alpha", "2025-02-28 23:59:59+00", {call("0.5"), [] {
                                                            Call c = call("0.25", "frontier");
                                                            c.attempt = 3;
                                                            return c;
                                                          }()});
  const std::string everything = "SELECT * FROM ledger_daily ORDER BY 1, 2, 3, 4, 5, 6";
  const std::string maintained = rows(everything);
  ASSERT_EQ(rows("SELECT sum(calls), sum(served_requests) FROM ledger_daily"), "48|41");
  EXPECT_EQ(rows("SELECT switchyard_rebuild_ledger_daily('-infinity', 'infinity') > 0"), "t");
  EXPECT_EQ(rows(everything), maintained);
}

// A database at schema version 4 with ledger rows, then `migrate`: 0005 converts the ledger.
TEST(DashboardMigration, ConvertsAnExistingLedgerKeepingEveryRow) {
  const std::string name = test_database_name("sy_views_");
  {
    pqxx::connection admin(pg_server_url("postgres"));
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  }
  const std::string url = pg_server_url(name);
  pqxx::connection conn(url);
  {
    pqxx::work tx(conn);
    tx.exec(
        "CREATE TABLE switchyard_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    for (const auto& m : embedded_migrations()) {
      const int version = std::stoi(m.name);
      if (version >= 5) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO switchyard_migrations (version, name) VALUES ($1, $2)", version,
                     m.name);
    }
    // As the worker wrote them (created_at = finished_at), and one row written by hand later.
    tx.exec(R"SQL(
INSERT INTO requests (request_id, team, status, result, finished_at) VALUES
  ('jan', 'alpha', 'ok', '{}', '2026-01-15 10:00:00+00'),
  ('dec', 'beta', 'ok', '{}', '2025-12-31 23:59:59.999+00'),
  ('now', 'alpha', 'ok', '{}', now()),
  ('hand', 'beta', 'ok', '{}', '2025-06-01 12:00:00+00');
INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider,
                         input_tokens, output_tokens, cached_input_tokens, cost_usd, created_at,
                         cache_creation_input_tokens, reasoning_tokens) VALUES
  ('jan', 1, 'alpha', 'mini-a', 'gpt-4o-mini', 'economy', 'openai', 10, 1, 2, 0.1, '2026-01-15 10:00:00+00', 3, 0),
  ('dec', 1, 'beta', 'mini-a', 'gpt-4o-mini', 'economy', 'openai', 20, 2, 0, 0.2, '2025-12-31 23:59:59.999+00', 0, 0),
  ('now', 1, 'alpha', 'mini-a', 'gpt-4o-mini', 'economy', 'openai', 30, 3, 0, 0.3, now(), 0, 0),
  ('now', 2, 'alpha', 'big', 'o3', 'frontier', 'openai', 40, 4, 0, 0.4, now(), 0, 1),
  ('hand', 1, 'beta', 'mini-a', 'gpt-4o-mini', 'economy', 'openai', 50, 5, 0, 0.5, '2025-06-02 00:00:00+00', 0, 0);
)SQL");
    tx.commit();
  }
  const std::string columns =
      "SELECT id, request_id, attempt, team, deployment, model, tier, provider, input_tokens,"
      " output_tokens, cached_input_tokens, cost_usd, cache_creation_input_tokens,"
      " reasoning_tokens FROM cost_ledger ORDER BY id";
  const std::string before = rows_of(conn, columns);

  MigrationReport report = apply_migrations(url);
  ASSERT_TRUE(report.error.empty()) << report.error;
  // 0005 converts the ledger; later migrations follow it.
  ASSERT_FALSE(report.applied.empty());
  EXPECT_EQ(report.applied.front(), "0005_dashboards.sql");

  EXPECT_EQ(rows_of(conn, columns), before);
  EXPECT_EQ(rows_of(conn, "SELECT relkind FROM pg_class WHERE oid = 'cost_ledger'::regclass"), "p");
  EXPECT_EQ(rows_of(conn,
                    "SELECT request_id, tableoid::regclass,"
                    " created_at = (SELECT finished_at FROM requests r"
                    "               WHERE r.request_id = l.request_id)"
                    " FROM cost_ledger l WHERE request_id <> 'now' ORDER BY 1"),
            "dec|cost_ledger_p2025_12|t\nhand|cost_ledger_p2025_06|t\njan|cost_ledger_p2026_01|t");
  EXPECT_EQ(rows_of(conn,
                    "SELECT team, day, requests, cost_usd FROM team_spend_daily"
                    " WHERE day < '2026-02-01' ORDER BY day"),
            "beta|2025-06-01|1|0.500000000000\n"
            "beta|2025-12-31|1|0.200000000000\n"
            "alpha|2026-01-15|1|0.100000000000");
  EXPECT_EQ(rows_of(conn,
                    "SELECT requests, cost_usd FROM team_spend_daily"
                    " WHERE day = (now() AT TIME ZONE 'UTC')::date"),
            "1|0.700000000000");
  // New rows continue the old ids.
  bill(conn, "after", "alpha", "2026-01-16 00:00:00+00", {call("1")});
  EXPECT_EQ(rows_of(conn, "SELECT id > 5 FROM cost_ledger WHERE request_id = 'after'"), "t");
}

}  // namespace
}  // namespace switchyard
