#include <gtest/gtest.h>

#include <cstdlib>

#include "store/migrations_data.h"
#include "support/pg.h"
#include "switchyard/event/result.h"
#include "switchyard/store/store.h"

namespace switchyard {
namespace {

using testing::fresh_database;
using testing::query_one;

constexpr Picodollars kCent = 10'000'000'000;
constexpr Picodollars kDollar = 100 * kCent;

ResultEvent ok_result(const std::string& id, Picodollars cost) {
  ResultEvent r;
  r.request_id = id;
  r.team = "search";
  r.content = "answer";
  r.finish_reason = "stop";
  r.route = {"background", "economy", "mini-a", "gpt-4o-mini", "openai", "requested tier"};
  r.usage = {100, 20, 0};
  r.cost = cost;
  r.attempts = 1;
  return r;
}

TerminalRecord record_of(const ResultEvent& r, const std::string& json) {
  TerminalRecord rec;
  rec.result = &r;
  rec.result_json = json;
  rec.source_topic = "req";
  rec.source_partition = 0;
  rec.source_offset = 1;
  if (r.ok())
    rec.ledger.push_back(
        {1, r.route.deployment, r.route.model, r.route.tier, r.route.provider, r.usage, r.cost});
  return rec;
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // ctest runs tests in parallel processes: each test gets its own database.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    url_ =
        fresh_database("sy_store_" + std::to_string(std::hash<std::string>{}(name) % 1000000007));
  }
  std::string url_;
};

TEST_F(PostgresStoreTest, MigrationsAreRecordedAndSafeToReRun) {
  std::string error;
  EXPECT_EQ(database_schema_version(url_, error), latest_migration_version());
  MigrationReport again = apply_migrations(url_);
  EXPECT_TRUE(again.error.empty()) << again.error;
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(again.version, latest_migration_version());
}

TEST_F(PostgresStoreTest, ADatabaseMigratedByAnotherBuildIsRefusedNamingBothMigrations) {
  query_one(url_, "UPDATE switchyard_migrations SET name = '0002_other.sql' WHERE version = 2");
  MigrationReport report = apply_migrations(url_);
  EXPECT_NE(report.error.find("'0002_other.sql'"), std::string::npos) << report.error;
  EXPECT_NE(report.error.find("different build"), std::string::npos) << report.error;
}

TEST_F(PostgresStoreTest, WritesRequestAndLedgerRowsWithExactMoney) {
  auto store = make_postgres_store(url_);
  ResultEvent a = ok_result("a", 27'000'000);  // 100 x 0.15 + 20 x 0.6 micro-dollars
  ResultEvent b = ok_result("b", 1);
  b.error = ErrorCode::kProviderError;
  b.error_message = "upstream 500";
  std::string ja = encode_result(a), jb = encode_result(b);
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal({record_of(a, ja), record_of(b, jb)}, outcomes, error))
      << error;
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(outcomes[0].inserted);
  EXPECT_TRUE(outcomes[1].inserted);
  EXPECT_EQ(query_one(url_, "SELECT count(*) FROM requests"), "2");
  EXPECT_EQ(query_one(url_, "SELECT count(*) FROM cost_ledger"), "1");
  EXPECT_EQ(query_one(url_, "SELECT cost_usd::text FROM cost_ledger WHERE request_id='a'"),
            "0.000027000000");
  EXPECT_EQ(query_one(url_, "SELECT error_code FROM requests WHERE request_id='b'"),
            "provider_error");
  EXPECT_EQ(query_one(url_, "SELECT result->>'request_id' FROM requests WHERE request_id='b'"),
            "b");
  EXPECT_EQ(query_one(url_, "SELECT cost_usd::text FROM team_spend_daily WHERE team='search'"),
            "0.000027000000");
}

TEST_F(PostgresStoreTest, LedgerAndRequestRowsCarryEveryTokenClass) {
  auto store = make_postgres_store(url_);
  ResultEvent r = ok_result("classes", 12'173'100'000);
  r.route = {"interactive", "workhorse", "sonnet", "claude-sonnet-4-20250514", "anthropic", "tier"};
  r.usage = {4494, 393, 3062, 1418, 0};
  std::string json = encode_result(r);
  TerminalRecord rec = record_of(r, json);
  // A second billed call of the same request: an OpenAI reasoning model after a fallback.
  rec.ledger.push_back({2, "o4-mini", "o4-mini", "workhorse", "openai",
                        Usage{5210, 1630, 4096, 0, 1216}, 9'523'800'000});
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal({rec}, outcomes, error)) << error;
  ASSERT_TRUE(outcomes[0].inserted);
  EXPECT_EQ(query_one(url_,
                      "SELECT concat_ws(',', input_tokens, output_tokens, cached_input_tokens, "
                      "cache_creation_input_tokens, reasoning_tokens, cost_usd) FROM cost_ledger "
                      "WHERE request_id = 'classes' AND attempt = 1"),
            "4494,393,3062,1418,0,0.012173100000");
  EXPECT_EQ(query_one(url_,
                      "SELECT concat_ws(',', input_tokens, output_tokens, cached_input_tokens, "
                      "cache_creation_input_tokens, reasoning_tokens, cost_usd) FROM cost_ledger "
                      "WHERE request_id = 'classes' AND attempt = 2"),
            "5210,1630,4096,0,1216,0.009523800000");
  EXPECT_EQ(query_one(url_,
                      "SELECT concat_ws(',', cached_input_tokens, cache_creation_input_tokens, "
                      "reasoning_tokens) FROM requests WHERE request_id = 'classes'"),
            "3062,1418,0");
  EXPECT_EQ(query_one(url_,
                      "SELECT result->'usage'->>'cache_creation_input_tokens' FROM requests "
                      "WHERE request_id = 'classes'"),
            "1418");
}

TEST_F(PostgresStoreTest, ALedgerRowBilledOnAnEstimateSaysSo) {
  auto store = make_postgres_store(url_);
  ResultEvent r = ok_result("guessed", 27'000'000);
  std::string json = encode_result(r);
  TerminalRecord rec = record_of(r, json);
  rec.ledger[0].usage_estimated = true;  // the provider's answer carried no usage
  ResultEvent plain = ok_result("reported", 27'000'000);
  std::string plain_json = encode_result(plain);
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal({rec, record_of(plain, plain_json)}, outcomes, error)) << error;
  EXPECT_EQ(query_one(url_, "SELECT usage_estimated FROM cost_ledger WHERE request_id='guessed'"),
            "t");
  EXPECT_EQ(query_one(url_, "SELECT usage_estimated FROM cost_ledger WHERE request_id='reported'"),
            "f");
}

TEST_F(PostgresStoreTest, SecondWriteOfATerminalRequestReturnsTheStoredResultAndBillsNothing) {
  auto store = make_postgres_store(url_);
  ResultEvent first = ok_result("dup", 5);
  ResultEvent second = ok_result("dup", 7);
  second.content = "a different answer";
  std::string j1 = encode_result(first), j2 = encode_result(second);
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal({record_of(first, j1)}, outcomes, error)) << error;
  ASSERT_TRUE(store->write_terminal({record_of(second, j2)}, outcomes, error)) << error;
  ASSERT_FALSE(outcomes[0].inserted);
  EXPECT_NE(outcomes[0].stored_result_json.find("\"answer\""), std::string::npos);
  EXPECT_EQ(query_one(url_, "SELECT count(*) FROM cost_ledger"), "1");
  EXPECT_EQ(query_one(url_, "SELECT sum(cost_usd)::text FROM cost_ledger"), "0.000000000005");
}

TEST_F(PostgresStoreTest, FindTerminalReturnsOnlyStoredRequests) {
  auto store = make_postgres_store(url_);
  ResultEvent a = ok_result("x-1", 1);
  std::string ja = encode_result(a);
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal({record_of(a, ja)}, outcomes, error)) << error;
  std::vector<std::string> stored;
  const std::vector<RequestKey> keys = {{"search", "x-1"}, {"search", "x-2"}};
  ASSERT_TRUE(store->find_terminal(keys, stored, error)) << error;
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_NE(stored[0].find("\"request_id\":\"x-1\""), std::string::npos);
  EXPECT_TRUE(stored[1].empty());
}

// Request ids are per team: the same id used by two teams is two requests, each with its own
// row, ledger entry and stored result, and neither finds the other's.
TEST_F(PostgresStoreTest, TheSameRequestIdOfTwoTeamsIsTwoRequests) {
  auto store = make_postgres_store(url_);
  ResultEvent s = ok_result("same", 5);
  ResultEvent a = ok_result("same", 7);
  a.team = "ads";
  a.content = "the answer for ads";
  std::string js = encode_result(s), ja = encode_result(a);
  std::vector<WriteOutcome> outcomes;
  std::string error;
  ASSERT_TRUE(store->write_terminal({record_of(s, js), record_of(a, ja)}, outcomes, error))
      << error;
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(outcomes[0].inserted);
  EXPECT_TRUE(outcomes[1].inserted) << "ads' request is not search's";
  EXPECT_EQ(query_one(url_, "SELECT count(*) FROM requests WHERE request_id = 'same'"), "2");
  EXPECT_EQ(query_one(url_, "SELECT sum(cost_usd)::text FROM cost_ledger WHERE team = 'ads'"),
            "0.000000000007");

  std::vector<std::string> stored;
  const std::vector<RequestKey> keys = {
      {"ads", "same"}, {"search", "same"}, {"other", "same"}, {"a\"d\\s,{}", "same"}};
  ASSERT_TRUE(store->find_terminal(keys, stored, error)) << error;
  EXPECT_NE(stored[0].find("the answer for ads"), std::string::npos) << stored[0];
  EXPECT_EQ(stored[1].find("the answer for ads"), std::string::npos) << stored[1];
  EXPECT_NE(stored[1].find("\"team\":\"search\""), std::string::npos) << stored[1];
  EXPECT_TRUE(stored[2].empty()) << "a third team using the id reads nothing";
  EXPECT_TRUE(stored[3].empty()) << "a team name with array-literal characters is quoted";

  // A redelivery of ads' request gets ads' stored result back, not search's.
  ResultEvent again = ok_result("same", 9);
  again.team = "ads";
  std::string jagain = encode_result(again);
  ASSERT_TRUE(store->write_terminal({record_of(again, jagain)}, outcomes, error)) << error;
  ASSERT_FALSE(outcomes[0].inserted);
  EXPECT_NE(outcomes[0].stored_result_json.find("the answer for ads"), std::string::npos);
}

// Migration 0008 carries rows written under version 7 (keyed by request_id alone) over: they
// stay readable and deduplicated under (team, request_id), their reservations still settle.
TEST_F(PostgresStoreTest, RowsOfVersion7AreCarriedOverToPerTeamKeys) {
  const std::string url = testing::empty_database("sy_store_carry_over");
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    for (const auto& m : embedded_migrations()) {
      if (std::atoi(m.name.c_str()) > 7) break;
      tx.exec(m.sql);
    }
    tx.exec(
        "INSERT INTO requests (request_id, team, status, result) VALUES "
        "('old-1', 'search', 'ok', '{\"request_id\":\"old-1\",\"team\":\"search\"}')");
    tx.exec(
        "INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider, "
        "input_tokens, output_tokens, cost_usd, created_at) SELECT 'old-1', 1, 'search', 'd', "
        "'m', 't', 'openai', 1, 1, 0.5, finished_at FROM requests");
    tx.exec(
        "INSERT INTO budget_periods (team, period_kind, period_start, budget_usd, reserved_usd) "
        "VALUES ('ads', 'month', date_trunc('month', now() AT TIME ZONE 'UTC')::date, 10, 2)");
    tx.exec(
        "INSERT INTO budget_reservations (request_id, team, period_start, amount_usd, worker_id) "
        "SELECT 'old-2', 'ads', period_start, 2, 'w' FROM budget_periods");
    tx.exec(
        "CREATE TABLE switchyard_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    for (const auto& m : embedded_migrations()) {
      const int version = std::atoi(m.name.c_str());
      if (version > 7) break;
      tx.exec_params("INSERT INTO switchyard_migrations (version, name) VALUES ($1, $2)", version,
                     m.name);
    }
    tx.commit();
  }
  MigrationReport report = apply_migrations(url);
  ASSERT_TRUE(report.error.empty()) << report.error;
  EXPECT_EQ(report.version, latest_migration_version());

  auto store = make_postgres_store(url);
  std::vector<std::string> stored;
  std::string error;
  const std::vector<RequestKey> keys = {{"search", "old-1"}, {"ads", "old-1"}};
  ASSERT_TRUE(store->find_terminal(keys, stored, error)) << error;
  EXPECT_NE(stored[0].find("old-1"), std::string::npos);
  EXPECT_TRUE(stored[1].empty());
  EXPECT_EQ(query_one(url, "SELECT count(*) FROM cost_ledger WHERE team = 'search'"), "1");

  // ads' old reservation is found under (ads, old-2) and settled by its terminal write.
  std::vector<BudgetRequest> again = {{"old-2", "ads", 2 * kCent, 10 * kDollar, "month", "w"}};
  std::vector<BudgetAnswer> answers;
  ASSERT_TRUE(store->reserve_budgets(again, answers, error)) << error;
  EXPECT_EQ(answers[0].verdict, BudgetVerdict::kAlreadyReserved);
  ResultEvent r = ok_result("old-2", kCent);
  r.team = "ads";
  std::string json = encode_result(r);
  std::vector<WriteOutcome> outcomes;
  ASSERT_TRUE(store->write_terminal({record_of(r, json)}, outcomes, error)) << error;
  EXPECT_EQ(query_one(url,
                      "SELECT reserved_usd::text || ' ' || spent_usd::text "
                      "FROM budget_periods WHERE team = 'ads'"),
            "0.000000000000 0.010000000000");
  EXPECT_EQ(query_one(url, "SELECT count(*) FROM budget_reservations"), "0");
}

TEST_F(PostgresStoreTest, UnreachableServerIsAnErrorValueNotACrash) {
  auto store = make_postgres_store("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
  std::vector<std::string> stored;
  std::string error;
  const std::vector<RequestKey> keys = {{"search", "a"}};
  EXPECT_FALSE(store->find_terminal(keys, stored, error));
  EXPECT_NE(error.find("postgres unreachable"), std::string::npos) << error;
}

}  // namespace
}  // namespace switchyard
