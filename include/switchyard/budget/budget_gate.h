#pragma once
// The budget gate: a team's hard budget holds across a fleet because every request of a budgeted
// team reserves its worst-case cost in Postgres before its provider call (row-locked, one
// statement per batch) and its terminal write settles the actual cost and releases the rest.
//
// Protocol, for one request of a team with a budget:
//   1. reserve()   the lookup thread reserves a batch in one statement. Each claim comes back
//                  kReserved (dispatch it), kWaitingForSettlement (parked here: it fits once this
//                  worker's own unsettled worst cases of the team settle) or kOverBudget (the
//                  caller applies the team's BudgetPolicy: downgrade and reserve again, defer(),
//                  or reject).
//   2. settle()    the writer thread, after the terminal write that settled the reservations in
//                  Postgres: this worker no longer holds them. Parked claims of those teams wake
//                  (at most once per wake_min_ms per team; a settlement inside that interval
//                  arms one wake at its end).
//   3. take_due()  the lookup thread collects woken claims and parked claims whose retry time
//                  came; it reserves them again (step 1).
// Why step 1 may wait instead of refusing: `committed` from Postgres includes this worker's own
// worst cases of the team. Those only shrink by settling (at their smaller actual cost), so a
// request that fits once they are gone is parked until the next settlement instead of being
// refused while its budget still has room.
//
// Invariants (under the gate's one mutex): a team's `ours` is the sum of `reserved` over the
// claims of the team this worker holds unsettled; a claim is parked at most once; `settlements`
// only grows.
//
// Threading: reserve(), defer() and take_due() on the lookup thread; settle() on the writer
// thread; remaining_usd_pico() and parked() from any thread (the /metrics scrape). Every method
// locks the one mutex for a short, I/O-free section; reserve() runs its store statement outside.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/common/money.h"
#include "switchyard/config/config.h"
#include "switchyard/store/store.h"

namespace switchyard {

// One request's stake in the gate. The worker's Job derives from it; the gate reads and writes
// only these fields, and only while the claim is handed to it (reserve / defer / settle) or
// parked in it.
struct BudgetClaim {
  static constexpr std::size_t kNoTeam = static_cast<std::size_t>(-1);
  std::string_view request_id;          // the owner's request id (outlives the claim's use)
  std::size_t team = kNoTeam;           // index into Config::teams of a team with a budget
  std::size_t class_index = 1;          // 0 interactive, 1 background: for the parked gauge
  Picodollars worst_case = 0;           // set by the caller before each reserve()
  Picodollars reserved = 0;             // held reserved in Postgres by this worker (0 = none)
  std::int64_t deferred_since_ms = -1;  // first deferral (policy defer), steady ms
};

enum class BudgetOutcome {
  kReserved,              // reserved (or already reserved by an earlier delivery): go on
  kWaitingForSettlement,  // parked in the gate until a settlement of its team or its retry time
  kOverBudget,            // the caller applies the team's policy
};

struct BudgetAnswerForClaim {
  BudgetOutcome outcome = BudgetOutcome::kOverBudget;
  bool crossed_soft_budget = false;  // this reservation took the team past its soft budget
  Picodollars committed = 0;         // the period's spent + reserved after it (from Postgres)
};

struct BudgetGateOptions {
  std::int64_t retry_ms = 30'000;       // a parked claim retries by itself after this long
  std::int64_t max_defer_ms = 600'000;  // policy defer gives up after this long in all
  std::int64_t wake_min_ms = 250;  // settlements wake a team's parked claims at most this often
  std::string worker_id;  // stored with each reservation (RequestStore::reclaim_reservations)
};

class BudgetGate {
 public:
  BudgetGate(const std::vector<TeamConfig>& teams, BudgetGateOptions options);

  // Index of the team with a budget named `name`, or BudgetClaim::kNoTeam.
  std::size_t team_with_budget(std::string_view name) const;
  const TeamConfig& team(std::size_t index) const { return teams_[index]; }

  // Step 1 for a batch of claims (each with team and worst_case set). One store statement.
  // False with `error` when the store failed: nothing changed, call again later. `answers[i]`
  // answers `claims[i]`. Parked claims that a settlement written during the statement may have
  // missed are appended to `woken`.
  bool reserve(RequestStore& store, std::span<BudgetClaim* const> claims,
               std::vector<BudgetAnswerForClaim>& answers, std::vector<BudgetClaim*>& woken,
               std::int64_t now_ms, std::string& error);

  // Policy defer for a claim that came back kOverBudget: parks it like a settlement wait. False
  // once it has waited max_defer_ms since its first deferral (the caller rejects it then).
  bool defer(BudgetClaim* claim, std::int64_t now_ms);

  // Step 2: these claims' reservations were settled by a terminal write. Claims without a
  // reservation are skipped. Appends the parked claims the settlements woke to `woken`.
  void settle(std::span<BudgetClaim* const> claims, std::int64_t now_ms,
              std::vector<BudgetClaim*>& woken);

  // Step 3: appends claims whose wake or retry time has come. Returns the steady ms of the next
  // such time (INT64_MAX when nothing is parked), for the caller's wait.
  std::int64_t take_due(std::int64_t now_ms, std::vector<BudgetClaim*>& out);

  // Gauges: the team's budget left after spend and reservations, as last seen; claims parked.
  Picodollars remaining(std::size_t team) const;
  std::int64_t parked(std::size_t class_index) const;
  // Reservations this worker holds for a team, unsettled.
  Picodollars held(std::size_t team) const;

 private:
  struct Parked {
    BudgetClaim* claim;
    std::int64_t retry_at_ms;
  };
  struct TeamState {
    Picodollars ours = 0;            // reservations held, unsettled
    std::uint64_t settlements = 0;   // settled reservations so far
    Picodollars remaining = 0;       // gauge
    std::vector<Parked> parked;      // in parking order
    std::int64_t last_wake_ms = -1;  // last settlement wake
    bool wake_armed = false;         // a throttled wake is due at last_wake_ms + wake_min_ms
  };
  void park_locked(TeamState& team, BudgetClaim* claim, std::int64_t now_ms);
  void wake_locked(TeamState& team, std::int64_t now_ms, std::vector<BudgetClaim*>& woken);

  const std::vector<TeamConfig>& teams_;
  const BudgetGateOptions options_;
  std::unordered_map<std::string_view, std::size_t> by_name_;  // teams with a budget
  mutable std::mutex mutex_;
  std::vector<TeamState> state_;     // parallel to teams_; guarded by mutex_
  std::int64_t parked_[2] = {0, 0};  // guarded by mutex_
  // No parked claim is due before this (a lower bound); guarded by mutex_.
  std::int64_t next_due_ms_ = std::numeric_limits<std::int64_t>::max();
  std::vector<BudgetRequest> requests_;  // scratch of reserve() (lookup thread only)
  std::vector<BudgetAnswer> store_answers_;
};

}  // namespace switchyard
