#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/pg.h"
#include "switchyard/event/result.h"
#include "switchyard/store/store.h"

namespace switchyard {
namespace {

using testing::fresh_database;
using testing::query_one;

constexpr Picodollars kCent = 10'000'000'000;  // $0.01

class BudgetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    url_ =
        fresh_database("sy_budget_" + std::to_string(std::hash<std::string>{}(name) % 1000000007));
  }
  std::vector<BudgetVerdict> reserve(RequestStore& store, const std::vector<std::string>& ids,
                                     Picodollars each, Picodollars budget,
                                     std::string_view worker = "w-test") {
    std::vector<BudgetRequest> requests;
    for (const auto& id : ids) requests.push_back({id, "search", each, budget, "month", worker});
    std::vector<BudgetAnswer> answers;
    std::string error;
    EXPECT_TRUE(store.reserve_budgets(requests, answers, error)) << error;
    std::vector<BudgetVerdict> verdicts;
    for (const auto& a : answers) verdicts.push_back(a.verdict);
    last_committed_ = answers.empty() ? 0 : answers.back().committed;
    return verdicts;
  }
  Picodollars last_committed_ = 0;
  std::string status(const std::string& column) {
    return query_one(url_,
                     "SELECT " + column + "::text FROM team_budget_status WHERE team = 'search'");
  }
  void write_terminal(RequestStore& store, const std::string& id, Picodollars cost, bool ok) {
    ResultEvent r;
    r.request_id = id;
    r.team = "search";
    r.cost = cost;
    if (!ok) r.error = ErrorCode::kProviderError;
    std::string json = encode_result(r);
    TerminalRecord rec;
    rec.result = &r;
    rec.result_json = json;
    if (ok) rec.ledger.push_back({1, "d", "m", "economy", "openai", {}, cost});
    std::vector<WriteOutcome> outcomes;
    std::string error;
    ASSERT_TRUE(store.write_terminal({rec}, outcomes, error)) << error;
  }
  std::string url_;
};

TEST_F(BudgetStoreTest, ReservationsStopAtTheBudget) {
  auto store = make_postgres_store(url_);
  auto v = reserve(*store, {"a", "b", "c"}, 40 * kCent, 100 * kCent);
  EXPECT_EQ(v, (std::vector<BudgetVerdict>{BudgetVerdict::kReserved, BudgetVerdict::kReserved,
                                           BudgetVerdict::kExceeded}));
  EXPECT_EQ(status("reserved_usd"), "0.800000000000");
  EXPECT_EQ(status("remaining_usd"), "0.200000000000");
  EXPECT_EQ(last_committed_, 80 * kCent);  // what the period holds after the last request
  EXPECT_EQ(status("period"),
            query_one(url_, "SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date::text"));
}

TEST_F(BudgetStoreTest, ARedeliveredRequestKeepsItsReservation) {
  auto store = make_postgres_store(url_);
  reserve(*store, {"a"}, 40 * kCent, 100 * kCent);
  auto v = reserve(*store, {"a"}, 40 * kCent, 100 * kCent);
  EXPECT_EQ(v[0], BudgetVerdict::kAlreadyReserved);
  EXPECT_EQ(status("reserved_usd"), "0.400000000000");
}

TEST_F(BudgetStoreTest, TerminalWriteSettlesActualCostAndReleasesTheReservation) {
  auto store = make_postgres_store(url_);
  reserve(*store, {"a", "b"}, 40 * kCent, 100 * kCent);
  write_terminal(*store, "a", 3 * kCent, true);
  EXPECT_EQ(status("spent_usd"), "0.030000000000");
  EXPECT_EQ(status("reserved_usd"), "0.400000000000");
  // A failed call releases its whole reservation and spends nothing.
  write_terminal(*store, "b", 0, false);
  EXPECT_EQ(status("spent_usd"), "0.030000000000");
  EXPECT_EQ(status("reserved_usd"), "0.000000000000");
  EXPECT_EQ(status("remaining_usd"), "0.970000000000");
  // Writing the same terminal request again settles nothing twice.
  write_terminal(*store, "a", 3 * kCent, true);
  EXPECT_EQ(status("spent_usd"), "0.030000000000");
  EXPECT_EQ(query_one(url_, "SELECT count(*) FROM budget_reservations"), "0");
}

// Reservations are keyed by (team, request_id): another team's request with the same id reserves
// its own team's budget, and neither team's terminal write settles the other's reservation.
TEST_F(BudgetStoreTest, TheSameRequestIdOfTwoTeamsHoldsTwoReservations) {
  auto store = make_postgres_store(url_);
  reserve(*store, {"same"}, 40 * kCent, 100 * kCent);
  std::vector<BudgetRequest> ads = {{"same", "ads", 30 * kCent, 100 * kCent, "month", "w-test"}};
  std::vector<BudgetAnswer> answers;
  std::string error;
  ASSERT_TRUE(store->reserve_budgets(ads, answers, error)) << error;
  EXPECT_EQ(answers[0].verdict, BudgetVerdict::kReserved) << "not search's redelivery";
  EXPECT_EQ(answers[0].committed, 30 * kCent);
  write_terminal(*store, "same", 3 * kCent, true);  // search's
  EXPECT_EQ(status("spent_usd"), "0.030000000000");
  EXPECT_EQ(status("reserved_usd"), "0.000000000000");
  EXPECT_EQ(query_one(url_, "SELECT reserved_usd::text FROM budget_periods WHERE team = 'ads'"),
            "0.300000000000")
      << "ads' reservation is still held";
  EXPECT_EQ(query_one(url_, "SELECT team FROM budget_reservations"), "ads");
}

TEST_F(BudgetStoreTest, ReservationsOfGoneWorkersAreReleasedAfterTheBoundAndNoOthers) {
  auto store = make_postgres_store(url_);
  int live = 0, ordinal = 0;
  std::string error;
  ASSERT_TRUE(store->heartbeat("w-live", "g", 6000, false, live, ordinal, error)) << error;
  reserve(*store, {"gone-old-1", "gone-old-2"}, 10 * kCent, 100 * kCent, "w-gone");
  reserve(*store, {"gone-new"}, 10 * kCent, 100 * kCent, "w-gone");
  reserve(*store, {"live-old"}, 10 * kCent, 100 * kCent, "w-live");
  reserve(*store, {"moved-old"}, 10 * kCent, 100 * kCent, "w-gone");
  query_one(url_,
            "UPDATE budget_reservations SET created_at = now() - interval '2 hours' "
            "WHERE request_id LIKE '%-old%' RETURNING 1");
  // The event of moved-old came back to the live worker: the reservation is its now.
  EXPECT_EQ(reserve(*store, {"moved-old"}, 10 * kCent, 100 * kCent, "w-live")[0],
            BudgetVerdict::kAlreadyReserved);
  EXPECT_EQ(status("reserved_usd"), "0.500000000000");

  std::vector<ReclaimedReservations> released;
  ASSERT_TRUE(store->reclaim_reservations(3'600'000, 60'000, released, error)) << error;
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].team, "search");
  EXPECT_EQ(released[0].count, 2);
  EXPECT_EQ(released[0].amount, 20 * kCent);
  EXPECT_EQ(status("reserved_usd"), "0.300000000000");
  EXPECT_EQ(query_one(url_,
                      "SELECT string_agg(request_id, ',' ORDER BY request_id) FROM "
                      "budget_reservations"),
            "gone-new,live-old,moved-old");
  // Nothing more to release; the remaining ones settle as usual.
  ASSERT_TRUE(store->reclaim_reservations(3'600'000, 60'000, released, error)) << error;
  EXPECT_TRUE(released.empty());
  write_terminal(*store, "moved-old", 2 * kCent, true);
  EXPECT_EQ(status("spent_usd"), "0.020000000000");
  EXPECT_EQ(status("reserved_usd"), "0.200000000000");
}

TEST_F(BudgetStoreTest, ConcurrentWorkersNeverReserveMoreThanTheBudget) {
  // 8 connections (as 8 workers would) race 1,000 reservations of $0.01 against $5.00.
  std::atomic<int> reserved{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto store = make_postgres_store(url_);
      for (int batch = 0; batch < 5; ++batch) {
        std::vector<std::string> ids;
        for (int i = 0; i < 25; ++i)
          ids.push_back("w" + std::to_string(t) + "-" + std::to_string(batch * 25 + i));
        for (auto v : reserve(*store, ids, kCent, 500 * kCent))
          reserved += v == BudgetVerdict::kReserved;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(reserved.load(), 500);
  EXPECT_EQ(status("reserved_usd"), "5.000000000000");
  EXPECT_EQ(status("remaining_usd"), "0.000000000000");
}

}  // namespace
}  // namespace switchyard
