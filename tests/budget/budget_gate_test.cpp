// The budget gate with plain values: an in-memory store that keeps budgets the way the reservation
// and settlement statements do, and claims made by hand. No threads, no clock: time is passed in.
#include "switchyard/budget/budget_gate.h"

#include <gtest/gtest.h>

#include <deque>

#include "support/fakes.h"

namespace switchyard {
namespace {

constexpr Picodollars kCent = 10'000'000'000;  // $0.01 in picodollars

class BudgetGateTest : public ::testing::Test {
 protected:
  BudgetGateTest() {
    TeamConfig search;
    search.name = "search";
    search.budget = 10 * kCent;
    search.budget_period = "day";
    search.soft_budget = 5 * kCent;
    TeamConfig ads;
    ads.name = "ads";  // no budget
    teams_ = {search, ads};
    gate_ = std::make_unique<BudgetGate>(
        teams_, BudgetGateOptions{.retry_ms = 30'000, .max_defer_ms = 60'000, .wake_min_ms = 250});
  }

  BudgetClaim* claim(const std::string& id, Picodollars worst, std::size_t cls = 1) {
    ids_.push_back(id);
    BudgetClaim& c = claims_.emplace_back();
    c.request_id = ids_.back();
    c.team = gate_->team_with_budget("search");
    c.class_index = cls;
    c.worst_case = worst;
    return &c;
  }

  std::vector<BudgetAnswerForClaim> reserve(std::vector<BudgetClaim*> claims,
                                            std::int64_t now_ms = 0) {
    std::vector<BudgetAnswerForClaim> answers;
    std::string error;
    EXPECT_TRUE(gate_->reserve(store_, claims, answers, woken_, now_ms, error)) << error;
    return answers;
  }

  std::vector<TeamConfig> teams_;
  std::unique_ptr<BudgetGate> gate_;
  testing::FakeStore store_;
  std::deque<std::string> ids_;
  std::deque<BudgetClaim> claims_;
  std::vector<BudgetClaim*> woken_;
};

TEST_F(BudgetGateTest, OnlyTeamsWithABudgetPassTheGate) {
  EXPECT_EQ(gate_->team_with_budget("search"), 0u);
  EXPECT_EQ(gate_->team_with_budget("ads"), BudgetClaim::kNoTeam);
  EXPECT_EQ(gate_->team_with_budget("nobody"), BudgetClaim::kNoTeam);
}

TEST_F(BudgetGateTest, ReservesWhileTheBudgetHoldsAndRefusesPastIt) {
  auto answers = reserve({claim("a", 4 * kCent), claim("b", 4 * kCent), claim("c", 4 * kCent)});
  EXPECT_EQ(answers[0].outcome, BudgetOutcome::kReserved);
  EXPECT_EQ(answers[1].outcome, BudgetOutcome::kReserved);
  // c would fit once a and b settle for less than their worst cases: it waits for that.
  EXPECT_EQ(answers[2].outcome, BudgetOutcome::kWaitingForSettlement);
  EXPECT_EQ(gate_->held(0), 8 * kCent);
  EXPECT_EQ(gate_->remaining(0), 2 * kCent);
  EXPECT_EQ(claims_[0].reserved, 4 * kCent);
  // A request larger than the whole budget can never fit: over budget, the policy decides.
  answers = reserve({claim("huge", 11 * kCent)});
  EXPECT_EQ(answers[0].outcome, BudgetOutcome::kOverBudget);
}

TEST_F(BudgetGateTest, ARequestRefusedOnlyForThisWorkersUnsettledWorstCasesWakesAtTheirSettlement) {
  BudgetClaim* a = claim("a", 6 * kCent);
  BudgetClaim* b = claim("b", 6 * kCent);
  reserve({a});
  EXPECT_EQ(reserve({b}, 10)[0].outcome, BudgetOutcome::kWaitingForSettlement);
  EXPECT_EQ(gate_->parked(1), 1);
  EXPECT_TRUE(woken_.empty());
  // a's call cost $0.01 of its $0.06 worst case; its terminal write settles it.
  store_.settle("a", kCent);
  std::vector<BudgetClaim*> woken;
  gate_->settle(std::vector<BudgetClaim*>{a}, 20, woken);
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken[0], b);
  EXPECT_EQ(a->reserved, 0);
  EXPECT_EQ(gate_->held(0), 0);
  EXPECT_EQ(gate_->parked(1), 0);
  EXPECT_EQ(reserve({b}, 30)[0].outcome, BudgetOutcome::kReserved);
}

TEST_F(BudgetGateTest, ARefusalThatOtherWorkersCauseIsOverBudgetNotAWait) {
  // Another worker holds $0.08 of the budget; this worker holds nothing, so waiting for its own
  // settlements would wait forever.
  store_.reserved["search"] = 8 * kCent;
  EXPECT_EQ(reserve({claim("a", 4 * kCent)})[0].outcome, BudgetOutcome::kOverBudget);
  EXPECT_EQ(gate_->parked(1), 0);
}

TEST_F(BudgetGateTest, SettlementWakesAreThrottledAndTheLastOneIsNeverLost) {
  BudgetClaim* a = claim("a", 5 * kCent);
  BudgetClaim* b = claim("b", 5 * kCent);
  BudgetClaim* c = claim("c", 5 * kCent);
  BudgetClaim* d = claim("d", 5 * kCent);
  reserve({a, b});
  EXPECT_EQ(reserve({c}, 0)[0].outcome, BudgetOutcome::kWaitingForSettlement);
  std::vector<BudgetClaim*> woken;
  store_.settle("a", 0);
  gate_->settle(std::vector<BudgetClaim*>{a}, 100, woken);  // first wake: at once
  EXPECT_EQ(woken.size(), 1u);
  EXPECT_EQ(reserve({d}, 110)[0].outcome, BudgetOutcome::kReserved);  // c's place taken by d
  EXPECT_EQ(reserve({c}, 120)[0].outcome, BudgetOutcome::kWaitingForSettlement);
  woken.clear();
  store_.settle("b", 0);
  gate_->settle(std::vector<BudgetClaim*>{b}, 200, woken);  // 100 ms after the last wake
  EXPECT_TRUE(woken.empty()) << "throttled: at most one wake per 250 ms per team";
  std::vector<BudgetClaim*> due;
  EXPECT_EQ(gate_->take_due(300, due), 350);
  EXPECT_TRUE(due.empty());
  EXPECT_EQ(gate_->take_due(350, due), std::numeric_limits<std::int64_t>::max());
  ASSERT_EQ(due.size(), 1u) << "the armed wake fires at the end of the interval";
  EXPECT_EQ(due[0], c);
}

TEST_F(BudgetGateTest, AParkedClaimRetriesByItselfAfterRetryMs) {
  BudgetClaim* a = claim("a", 6 * kCent);
  BudgetClaim* b = claim("b", 6 * kCent);
  reserve({a});
  reserve({b}, 1'000);
  std::vector<BudgetClaim*> due;
  EXPECT_EQ(gate_->take_due(30'999, due), 31'000);
  EXPECT_TRUE(due.empty());
  gate_->take_due(31'000, due);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0], b);
  EXPECT_EQ(gate_->parked(1), 0);
}

TEST_F(BudgetGateTest, DeferParksUntilMaxDeferMsThenGivesUp) {
  BudgetClaim* a = claim("a", 20 * kCent);
  EXPECT_TRUE(gate_->defer(a, 1'000));
  EXPECT_EQ(gate_->parked(1), 1);
  std::vector<BudgetClaim*> due;
  gate_->take_due(31'000, due);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_TRUE(gate_->defer(a, 31'000));
  gate_->take_due(61'000, due);
  EXPECT_FALSE(gate_->defer(a, 61'000)) << "60 s of deferral in all: the policy rejects it";
  EXPECT_EQ(gate_->parked(1), 0);
}

TEST_F(BudgetGateTest, AStoreFailureChangesNothing) {
  BudgetClaim* a = claim("a", 4 * kCent);
  store_.fail_next = 1;
  std::vector<BudgetAnswerForClaim> answers;
  std::string error;
  EXPECT_FALSE(gate_->reserve(store_, std::vector<BudgetClaim*>{a}, answers, woken_, 0, error));
  EXPECT_EQ(error, "fake: connection refused");
  EXPECT_EQ(gate_->held(0), 0);
  EXPECT_EQ(a->reserved, 0);
  EXPECT_EQ(reserve({a})[0].outcome, BudgetOutcome::kReserved);
}

TEST_F(BudgetGateTest, ASettlementDuringTheStatementWakesTheClaimItsStatementParked) {
  // The race the snapshot order exists for: a settles while b's statement runs. b sees
  // `committed` with a still in it, is parked, and must not wait for a settlement already past.
  BudgetClaim* a = claim("a", 6 * kCent);
  BudgetClaim* b = claim("b", 6 * kCent);
  reserve({a});
  store_.during_reserve = [&] {
    std::vector<BudgetClaim*> none;
    gate_->settle(std::vector<BudgetClaim*>{a}, 5, none);  // written by the writer thread
    store_.during_reserve = nullptr;
  };
  auto answers = reserve({b}, 10);
  // The statement ran before the store settled a (the fake settles only on write), so b was
  // refused; the gate's snapshot still counted a as ours, so b waits and is woken at once.
  EXPECT_EQ(answers[0].outcome, BudgetOutcome::kWaitingForSettlement);
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0], b);
}

TEST_F(BudgetGateTest, CrossingTheSoftBudgetIsReportedOnceAtTheCrossing) {
  auto answers = reserve({claim("a", 3 * kCent), claim("b", 3 * kCent), claim("c", 3 * kCent)});
  EXPECT_FALSE(answers[0].crossed_soft_budget);  // $0.03 of $0.05
  EXPECT_TRUE(answers[1].crossed_soft_budget);   // $0.06: crossed here
  EXPECT_FALSE(answers[2].crossed_soft_budget);  // already past it
}

TEST_F(BudgetGateTest, ARedeliveredRequestAlreadyReservedGoesOn) {
  BudgetClaim* a = claim("a", 4 * kCent);
  reserve({a});
  BudgetClaim* again = claim("a", 4 * kCent);
  EXPECT_EQ(reserve({again})[0].outcome, BudgetOutcome::kReserved);
}

TEST(BudgetPolicyNames, ParseAndPrint) {
  EXPECT_EQ(budget_policy_of("defer"), BudgetPolicy::kDefer);
  EXPECT_EQ(budget_policy_of("later"), std::nullopt);
  EXPECT_STREQ(to_string(BudgetPolicy::kDowngrade), "downgrade");
}

}  // namespace
}  // namespace switchyard
