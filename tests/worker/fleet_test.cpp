// Fleet upkeep with an in-memory store and a hand-moved clock: reservations of gone workers.
#include "worker/fleet.h"

#include <gtest/gtest.h>

#include "worker/stage_world.h"

namespace switchyard {
namespace {

constexpr Picodollars kCent = 10'000'000'000;

constexpr const char* kYaml = R"(
worker: {default_tier: economy, reservation_reclaim_after_ms: 120000}
teams:
  - {name: search, budget_usd: 1.00, budget_period: day}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)";

TEST(Fleet, ReleasesReservationsOfGoneWorkersEveryMinuteAndCountsThem) {
  testing::StageWorld world(kYaml);
  Scheduler scheduler(world.config(), world.clock.steady_ms());
  Fleet fleet(world.ctx, scheduler, "w-1");
  world.store.to_reclaim = {{"search", "2026-12-07", 3, 30 * kCent}};
  fleet.tick(world.store);
  ASSERT_EQ(world.store.reclaim_calls.size(), 1u);
  // The configured age, and "gone" well past the heartbeats that make up the fleet split.
  EXPECT_EQ(world.store.reclaim_calls[0],
            (std::pair<std::int64_t, std::int64_t>{120'000, Fleet::kGoneAfterMs}));
  EXPECT_EQ(world.stats.reservations_reclaimed.value(), 3u);

  world.clock.advance_ms(Fleet::kReclaimEveryMs - 1);
  fleet.tick(world.store);
  EXPECT_EQ(world.store.reclaim_calls.size(), 1u);  // not yet due
  world.clock.advance_ms(1);
  fleet.tick(world.store);
  EXPECT_EQ(world.store.reclaim_calls.size(), 2u);
  EXPECT_EQ(world.stats.reservations_reclaimed.value(), 3u);  // nothing more was released
}

TEST(Fleet, NeverReclaimsBeforeItsOwnHeartbeatIsIn) {
  testing::StageWorld world(kYaml);
  Scheduler scheduler(world.config(), world.clock.steady_ms());
  Fleet fleet(world.ctx, scheduler, "w-1");
  world.store.fail_next = 1;  // the heartbeat fails: this worker could look gone to others
  fleet.tick(world.store);
  EXPECT_TRUE(world.store.reclaim_calls.empty());
}

TEST(Fleet, ItsReservationsNameIt) {
  testing::StageWorld world(kYaml);
  BudgetGate gate(world.config().teams, {.worker_id = "w-7"});
  BudgetClaim claim;
  claim.request_id = "r1";
  claim.team = gate.team_with_budget("search");
  claim.worst_case = kCent;
  std::vector<BudgetClaim*> claims = {&claim};
  std::vector<BudgetAnswerForClaim> answers;
  std::vector<BudgetClaim*> woken;
  std::string error;
  ASSERT_TRUE(gate.reserve(world.store, claims, answers, woken, 0, error)) << error;
  EXPECT_EQ(world.store.reserved_by["r1"], "w-7");
}

}  // namespace
}  // namespace switchyard
