// `switchyard spend` on a seeded database: the table, CSV and JSON of every breakdown with
// hand-computed figures, the day ranges, and every error a user can cause.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <pqxx/pqxx>
#include <string>

#include "support/pg.h"
#include "switchyard/app/commands.h"

namespace switchyard {
namespace {

using testing::fresh_database;
using testing::pg_server_url;

struct SpendRun {
  int code = -1;
  std::string out;
  std::string err;
};

SpendRun spend(const Args& args) {
  SpendRun run;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  run.code = cmd_spend(args);
  run.out = ::testing::internal::GetCapturedStdout();
  run.err = ::testing::internal::GetCapturedStderr();
  return run;
}

// March 2025, UTC: alpha 2 requests $1.500000000001 (one of them two billed calls), "beta, inc"
// 1 request $2.25, `say "hi"` 1 request $0.25; total 4 requests $4.000000000001. Two alpha
// requests just outside March must never count.
const char* kSeedSql = R"SQL(
CREATE TEMP TABLE seed (request_id text, attempt int, team text, at timestamptz, deployment text,
                        model text, tier text, input bigint, output bigint, cost numeric);
INSERT INTO seed VALUES
  ('a1', 1, 'alpha', '2025-03-01 00:00:00+00', 'mini-a', 'gpt-4o-mini', 'economy', 100, 10, 0.5),
  ('a1', 2, 'alpha', '2025-03-01 00:00:00+00', 'mini-b', 'gpt-4o-mini', 'economy', 100, 10, 1),
  ('a2', 1, 'alpha', '2025-03-31 23:59:59.999+00', 'big', 'o3', 'frontier', 7, 3, 0.000000000001),
  ('b1', 1, 'beta, inc', '2025-03-15 12:00:00+00', 'mini-a', 'gpt-4o-mini', 'economy', 1000, 100, 2.25),
  ('q1', 1, 'say "hi"', '2025-03-20 12:00:00+00', 'big', 'o3', 'frontier', 10, 1, 0.25),
  ('before', 1, 'alpha', '2025-02-28 23:59:59.999+00', 'mini-a', 'gpt-4o-mini', 'economy', 1, 1, 100),
  ('after', 1, 'alpha', '2025-04-01 00:00:00+00', 'mini-a', 'gpt-4o-mini', 'economy', 1, 1, 100);
INSERT INTO requests (request_id, team, status, result, finished_at)
SELECT request_id, team, 'ok', '{}'::json, at FROM seed WHERE attempt = 1;
INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider,
                         input_tokens, output_tokens, cost_usd, created_at)
SELECT request_id, attempt, team, deployment, model, tier, 'openai', input, output, cost, at
FROM seed;
)SQL";

class SpendCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    url_ =
        fresh_database("sy_spend_" + std::to_string(std::hash<std::string>{}(name) % 1000000007));
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    tx.exec(kSeedSql);
  }
  SpendRun march(Args more) {
    Args args = {"--url", url_, "--month", "2025-03"};
    args.insert(args.end(), more.begin(), more.end());
    return spend(args);
  }
  std::string url_;
};

TEST_F(SpendCli, TableHasAlignedColumnsAndATotalsRow) {
  SpendRun run = march({});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out,
            "spend by team, 2025-03-01 .. 2025-03-31 (UTC days)\n"
            "team       requests  input_tokens  output_tokens  cost_usd  cost_share\n"
            "---------  --------  ------------  -------------  --------  ----------\n"
            "beta, inc         1          1000            100  2.250000      0.5625\n"
            "alpha             2           207             23  1.500000      0.3750\n"
            "say \"hi\"          1            10              1  0.250000      0.0625\n"
            "---------  --------  ------------  -------------  --------  ----------\n"
            "total             4          1217            124  4.000000      1.0000\n");
  EXPECT_EQ(run.err, "");
}

TEST_F(SpendCli, CsvQuotesFieldsAsRfc4180AndKeepsMoneyExact) {
  SpendRun run = march({"--format", "csv"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out,
            "team,requests,input_tokens,output_tokens,cost_usd,cost_share\r\n"
            "\"beta, inc\",1,1000,100,2.25,0.5625\r\n"
            "alpha,2,207,23,1.500000000001,0.375\r\n"
            "\"say \"\"hi\"\"\",1,10,1,0.25,0.0625\r\n");
}

TEST_F(SpendCli, JsonIsAnArrayOfObjectsWithCountsAsNumbersAndMoneyAsDecimalStrings) {
  SpendRun run = march({"--format", "json", "--by", "tier"});
  ASSERT_EQ(run.code, 0) << run.err;
  rapidjson::Document doc;
  doc.Parse(run.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << run.out;
  ASSERT_TRUE(doc.IsArray());
  ASSERT_EQ(doc.Size(), 2u) << run.out;
  // economy: a1 (both calls) and b1; frontier: a2 and q1.
  const auto& economy = doc[0];
  EXPECT_STREQ(economy["tier"].GetString(), "economy");
  ASSERT_TRUE(economy["requests"].IsInt64());
  EXPECT_EQ(economy["requests"].GetInt64(), 2);
  EXPECT_EQ(economy["input_tokens"].GetInt64(), 1200);
  EXPECT_EQ(economy["output_tokens"].GetInt64(), 120);
  ASSERT_TRUE(economy["cost_usd"].IsString());
  EXPECT_STREQ(economy["cost_usd"].GetString(), "3.75");
  EXPECT_STREQ(economy["request_share"].GetString(), "0.5");
  EXPECT_STREQ(economy["cost_share"].GetString(), "0.9375");
  const auto& frontier = doc[1];
  EXPECT_STREQ(frontier["tier"].GetString(), "frontier");
  EXPECT_EQ(frontier["requests"].GetInt64(), 2);
  EXPECT_STREQ(frontier["cost_usd"].GetString(), "0.250000000001");
  EXPECT_STREQ(frontier["cost_share"].GetString(), "0.0625");
}

TEST_F(SpendCli, BreaksDownByDeploymentAndModelForOneTeam) {
  SpendRun run = march({"--by", "deployment", "--team", "alpha"});
  ASSERT_EQ(run.code, 0) << run.err;
  // a1's first call (mini-a) was not its last, so mini-a serves no alpha request.
  EXPECT_EQ(run.out,
            "spend by deployment, 2025-03-01 .. 2025-03-31 (UTC days), team alpha\n"
            "deployment  model        provider  tier      requests  input_tokens  output_tokens"
            "  cost_usd  cost_share\n"
            "----------  -----------  --------  --------  --------  ------------  -------------"
            "  --------  ----------\n"
            "mini-b      gpt-4o-mini  openai    economy          1           100             10"
            "  1.000000      0.6667\n"
            "mini-a      gpt-4o-mini  openai    economy          0           100             10"
            "  0.500000      0.3333\n"
            "big         o3           openai    frontier         1             7              3"
            "  0.000000      0.0000\n"
            "----------  -----------  --------  --------  --------  ------------  -------------"
            "  --------  ----------\n"
            "total                                               2           207             23"
            "  1.500000      1.0000\n");
  SpendRun models = march({"--by", "model", "--format", "csv"});
  ASSERT_EQ(models.code, 0) << models.err;
  EXPECT_EQ(models.out,
            "model,provider,requests,input_tokens,output_tokens,cost_usd,cost_share\r\n"
            "gpt-4o-mini,openai,2,1200,120,3.75,0.9375\r\n"
            "o3,openai,2,17,4,0.250000000001,0.0625\r\n");
}

TEST_F(SpendCli, DayRangesIncludeBothEndsInUtc) {
  SpendRun two_days =
      spend({"--url", url_, "--from", "2025-03-31", "--to", "2025-04-01", "--format", "csv"});
  ASSERT_EQ(two_days.code, 0) << two_days.err;
  EXPECT_EQ(two_days.out,
            "team,requests,input_tokens,output_tokens,cost_usd,cost_share\r\n"
            "alpha,2,8,4,100.000000000001,1\r\n");
  // The default, --days 30, ends today: nothing seeded is that recent until now.
  {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec(
        "INSERT INTO requests (request_id, team, status, result) VALUES"
        " ('today', 'alpha', 'ok', '{}')");
    tx.exec(
        "INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier,"
        " provider, input_tokens, output_tokens, cost_usd, created_at)"
        " SELECT 'today', 1, 'alpha', 'mini-a', 'm', 'economy', 'openai', 5, 5, 0.125,"
        " finished_at FROM requests WHERE request_id = 'today'");
    tx.commit();
  }
  for (const Args& args : {Args{"--url", url_, "--format", "csv"},
                           Args{"--url", url_, "--days", "1", "--format", "csv"}}) {
    SpendRun recent = spend(args);
    ASSERT_EQ(recent.code, 0) << recent.err;
    EXPECT_EQ(recent.out,
              "team,requests,input_tokens,output_tokens,cost_usd,cost_share\r\n"
              "alpha,1,5,5,0.125,1\r\n");
  }
  SpendRun empty = spend({"--url", url_, "--month", "2024-02"});
  ASSERT_EQ(empty.code, 0) << empty.err;
  EXPECT_EQ(empty.out,
            "spend by team, 2024-02-01 .. 2024-02-29 (UTC days)\n"
            "team   requests  input_tokens  output_tokens  cost_usd  cost_share\n"
            "-----  --------  ------------  -------------  --------  ----------\n"
            "total         0             0              0  0.000000           -\n"
            "(no spend in this range)\n");
  SpendRun empty_json = spend({"--url", url_, "--month", "2024-02", "--format", "json"});
  EXPECT_EQ(empty_json.out, "[]\n");
}

TEST_F(SpendCli, ReadsOnlyThePostgresSectionOfAConfig) {
  char path[] = "/tmp/spend_cli_configXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream config(path);
    // The deployment's key variable is unset: the worker would refuse this file, spend does not.
    config << "postgres:\n  url: " << url_ << "\n"
           << "deployments:\n  - name: mini-a\n    api_base: https://api.openai.com/v1\n"
           << "    api_key_env: SWITCHYARD_SPEND_TEST_UNSET_KEY\n    model: gpt-4o-mini\n"
           << "    tier: economy\n    input_cost_per_token: 1.5e-07\n"
           << "    output_cost_per_token: 0.0000006\n";
  }
  SpendRun run =
      spend({"--config", path, "--month", "2025-03", "--format", "csv", "--team", "alpha"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out,
            "team,requests,input_tokens,output_tokens,cost_usd,cost_share\r\n"
            "alpha,2,207,23,1.500000000001,1\r\n");
  {
    std::ofstream config(path);
    config << "postgres:\n  url: 12\n  batch_max_rows: 0\n";
  }
  SpendRun bad = spend({"--config", path});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("postgres.batch_max_rows"), std::string::npos) << bad.err;
  std::remove(path);
  SpendRun missing = spend({"--config", "/nonexistent/switchyard.yaml"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("cannot read config file"), std::string::npos) << missing.err;
}

TEST_F(SpendCli, MistakesAreNamedAndExitNonZero) {
  struct Case {
    Args args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--url", url_, "--by", "region"},
       2,
       "--by must be team, model, deployment or tier, got 'region'"},
      {{"--url", url_, "--format", "xml"}, 2, "--format must be table, csv or json, got 'xml'"},
      {{"--url", url_, "--from", "2025-02-30"},
       2,
       "--from must be a date YYYY-MM-DD, got '2025-02-30'"},
      {{"--url", url_, "--from", "2025-03-01", "--to", "3/31/2025"},
       2,
       "--to must be a date YYYY-MM-DD, got '3/31/2025'"},
      {{"--url", url_, "--from", "2025-03-02", "--to", "2025-03-01"},
       2,
       "--to (2025-03-01) is before --from (2025-03-02)"},
      {{"--url", url_, "--to", "2025-03-01"}, 2, "--to needs --from"},
      {{"--url", url_, "--month", "2025-3"}, 2, "--month must be YYYY-MM, got '2025-3'"},
      {{"--url", url_, "--month", "2025-03", "--days", "7"},
       2,
       "give one of --days, --month or --from/--to"},
      {{"--url", url_, "--days", "0"}, 2, "--days must be a whole number from 1 to 36600, got '0'"},
      {{"--url", url_, "--weeks", "2"}, 2, "unknown option --weeks"},
      {{}, 2, "give --config FILE or --url POSTGRES_URL"},
      {{"--url",
        pg_server_url("postgres").substr(0, pg_server_url("postgres").rfind(':')) + ":1/nowhere"},
       1,
       "spend: cannot read from Postgres:"},
      {{"--url", pg_server_url("postgres")},
       1,
       "the database schema is at version 0 and the spend views need 5: run `switchyard "
       "migrate`"},
  };
  for (const auto& c : cases) {
    SpendRun run = spend(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(run.code, c.code) << joined << "\n" << run.err;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << joined << "\n" << run.err;
    EXPECT_EQ(run.out, "") << joined;
  }
  SpendRun help = spend({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("usage: switchyard spend"), std::string::npos);
}

}  // namespace
}  // namespace switchyard
