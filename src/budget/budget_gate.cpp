#include "switchyard/budget/budget_gate.h"

#include <algorithm>
#include <limits>

namespace switchyard {

BudgetGate::BudgetGate(const std::vector<TeamConfig>& teams, BudgetGateOptions options)
    : teams_(teams), options_(options), state_(teams.size()) {
  for (std::size_t i = 0; i < teams_.size(); ++i) {
    if (!teams_[i].budget) continue;
    by_name_.emplace(teams_[i].name, i);
    state_[i].remaining = *teams_[i].budget;
  }
}

std::size_t BudgetGate::team_with_budget(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? BudgetClaim::kNoTeam : it->second;
}

bool BudgetGate::reserve(RequestStore& store, std::span<BudgetClaim* const> claims,
                         std::vector<BudgetAnswerForClaim>& answers,
                         std::vector<BudgetClaim*>& woken, std::int64_t now_ms,
                         std::string& error) {
  // Snapshots taken before the statement, settlement counts first: `ours` then holds at least
  // every reservation of ours the statement's `committed` can include (one settled meanwhile
  // makes the request wait instead of being refused, and bumps the count, which wakes it below).
  // Read after the statement, a settlement in between would be subtracted from a `committed`
  // that still holds it, and a request that only had to wait would be refused.
  std::vector<std::uint64_t> settlements_before(state_.size());
  std::vector<Picodollars> ours(state_.size());
  {
    std::lock_guard lock(mutex_);
    for (std::size_t t = 0; t < state_.size(); ++t) {
      settlements_before[t] = state_[t].settlements;
      ours[t] = state_[t].ours;
    }
  }
  requests_.clear();
  for (const BudgetClaim* c : claims) {
    const TeamConfig& team = teams_[c->team];
    requests_.push_back({c->request_id, team.name, c->worst_case, *team.budget, team.budget_period,
                         options_.worker_id});
  }
  if (!store.reserve_budgets(requests_, store_answers_, error)) return false;

  answers.assign(claims.size(), {});
  std::vector<bool> parked_now(state_.size(), false);
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < claims.size(); ++i) {
    BudgetClaim* c = claims[i];
    const TeamConfig& team = teams_[c->team];
    TeamState& st = state_[c->team];
    const BudgetAnswer& a = store_answers_[i];
    BudgetAnswerForClaim& out = answers[i];
    out.committed = a.committed;
    st.remaining = *team.budget - a.committed;
    if (a.verdict != BudgetVerdict::kExceeded) {
      out.outcome = BudgetOutcome::kReserved;
      out.crossed_soft_budget = a.verdict == BudgetVerdict::kReserved && team.soft_budget &&
                                a.committed >= *team.soft_budget &&
                                a.committed - c->worst_case < *team.soft_budget;
      const Picodollars delta = c->worst_case - c->reserved;
      st.ours += delta;
      ours[c->team] += delta;  // the next claims' `committed` includes it
      c->reserved = c->worst_case;
    } else if (ours[c->team] > 0 && a.committed - ours[c->team] + c->worst_case <= *team.budget) {
      // `committed` less ours is the period's spend plus what other workers hold; ours only
      // shrink by settling, so the claim fits once they settle: wait for that.
      out.outcome = BudgetOutcome::kWaitingForSettlement;
      park_locked(st, c, now_ms);
      parked_now[c->team] = true;
    } else {
      out.outcome = BudgetOutcome::kOverBudget;
    }
  }
  // A settlement written since the snapshot may have found nothing parked yet: wake this batch's
  // parked claims for it rather than leave them to their retry time.
  for (std::size_t t = 0; t < state_.size(); ++t) {
    if (parked_now[t] && state_[t].settlements != settlements_before[t])
      wake_locked(state_[t], now_ms, woken);
  }
  return true;
}

bool BudgetGate::defer(BudgetClaim* claim, std::int64_t now_ms) {
  if (claim->deferred_since_ms < 0) claim->deferred_since_ms = now_ms;
  if (now_ms - claim->deferred_since_ms >= options_.max_defer_ms) return false;
  std::lock_guard lock(mutex_);
  park_locked(state_[claim->team], claim, now_ms);
  return true;
}

void BudgetGate::park_locked(TeamState& team, BudgetClaim* claim, std::int64_t now_ms) {
  team.parked.push_back({claim, now_ms + options_.retry_ms});
  ++parked_[claim->class_index];
  next_due_ms_ = std::min(next_due_ms_, now_ms + options_.retry_ms);
}

void BudgetGate::settle(std::span<BudgetClaim* const> claims, std::int64_t now_ms,
                        std::vector<BudgetClaim*>& woken) {
  std::lock_guard lock(mutex_);
  std::vector<std::size_t> settled;
  for (BudgetClaim* c : claims) {
    if (c->team == BudgetClaim::kNoTeam || c->reserved == 0) continue;  // held nothing
    TeamState& st = state_[c->team];
    st.ours -= c->reserved;
    ++st.settlements;
    c->reserved = 0;
    settled.push_back(c->team);
  }
  std::sort(settled.begin(), settled.end());
  settled.erase(std::unique(settled.begin(), settled.end()), settled.end());
  // Every settlement wakes (not only while something is parked): reserve() may be about to park
  // a claim, and it relies on the settlement count that this bumped.
  for (std::size_t t : settled) wake_locked(state_[t], now_ms, woken);
}

void BudgetGate::wake_locked(TeamState& team, std::int64_t now_ms,
                             std::vector<BudgetClaim*>& woken) {
  if (team.parked.empty()) return;
  if (team.last_wake_ms >= 0 && now_ms - team.last_wake_ms < options_.wake_min_ms) {
    // Throttled: a large parked backlog is not re-reserved for every write batch. One wake is
    // armed for the end of the interval (take_due), so the last settlements are never missed.
    team.wake_armed = true;
    next_due_ms_ = std::min(next_due_ms_, team.last_wake_ms + options_.wake_min_ms);
    return;
  }
  team.last_wake_ms = now_ms;
  team.wake_armed = false;
  for (const Parked& p : team.parked) {
    woken.push_back(p.claim);
    --parked_[p.claim->class_index];
  }
  team.parked.clear();
}

std::int64_t BudgetGate::take_due(std::int64_t now_ms, std::vector<BudgetClaim*>& out) {
  std::int64_t next = std::numeric_limits<std::int64_t>::max();
  std::lock_guard lock(mutex_);
  if (now_ms < next_due_ms_) return next_due_ms_;  // the common case: nothing due, no scan
  for (TeamState& team : state_) {
    if (team.wake_armed) {
      const std::int64_t due = team.last_wake_ms + options_.wake_min_ms;
      if (now_ms >= due) {
        wake_locked(team, now_ms, out);
      } else {
        next = std::min(next, due);
      }
    }
    auto kept = team.parked.begin();
    for (const Parked& p : team.parked) {
      if (now_ms >= p.retry_at_ms) {
        out.push_back(p.claim);
        --parked_[p.claim->class_index];
      } else {
        next = std::min(next, p.retry_at_ms);
        *kept++ = p;
      }
    }
    team.parked.erase(kept, team.parked.end());
    if (team.parked.empty()) team.wake_armed = false;
  }
  next_due_ms_ = next;
  return next;
}

Picodollars BudgetGate::remaining(std::size_t team) const {
  std::lock_guard lock(mutex_);
  return state_[team].remaining;
}

std::int64_t BudgetGate::parked(std::size_t class_index) const {
  std::lock_guard lock(mutex_);
  return parked_[class_index];
}

Picodollars BudgetGate::held(std::size_t team) const {
  std::lock_guard lock(mutex_);
  return state_[team].ours;
}

}  // namespace switchyard
