#include <gtest/gtest.h>

#include "support/pg.h"
#include "switchyard/event/result.h"
#include "switchyard/store/store.h"

namespace switchyard {
namespace {

using testing::fresh_database;
using testing::query_one;

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
  std::unordered_map<std::string, std::string> found;
  ASSERT_TRUE(store->find_terminal({"x-1", "x-2"}, found, error)) << error;
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found["x-1"].find("\"request_id\":\"x-1\""), std::string::npos);
}

TEST_F(PostgresStoreTest, UnreachableServerIsAnErrorValueNotACrash) {
  auto store = make_postgres_store("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
  std::unordered_map<std::string, std::string> found;
  std::string error;
  EXPECT_FALSE(store->find_terminal({"a"}, found, error));
  EXPECT_NE(error.find("postgres unreachable"), std::string::npos) << error;
}

}  // namespace
}  // namespace switchyard
