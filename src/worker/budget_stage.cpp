#include "worker/budget_stage.h"

#include <thread>

#include "switchyard/common/money.h"
#include "switchyard/provider/adapter.h"

namespace switchyard {

BudgetStage::BudgetStage(const StageContext& ctx, BudgetGate& gate, Dispatch& dispatch, Sink& sink,
                         HandOff<Job*>& to_lookup)
    : ctx_(ctx), gate_(gate), dispatch_(dispatch), sink_(sink), to_lookup_(to_lookup) {}

bool BudgetStage::needs_budget(Job* job) const {
  job->team = gate_.team_with_budget(job->decoded.request.team);
  job->request_id = job->decoded.request.request_id;
  job->class_index = class_index(job->priority_class);
  return job->team != BudgetClaim::kNoTeam;
}

Picodollars BudgetStage::worst_case_cost(const Job* job) const {
  const auto& req = job->decoded.request;
  std::int64_t input = estimate_input_tokens(req);
  Picodollars worst = 0;
  for (const DeploymentConfig* d : job->route.candidates)
    worst = std::max(worst, cost_of(*d, input, output_cap(req, *d)));
  return worst;
}

bool BudgetStage::admit(RequestStore& store, const std::vector<Job*>& jobs,
                        const std::atomic<bool>& stop) {
  std::vector<BudgetClaim*> claims;
  claims.reserve(jobs.size());
  for (Job* j : jobs) {
    j->worst_case = worst_case_cost(j);
    claims.push_back(j);
  }
  std::vector<BudgetAnswerForClaim> answers;
  std::vector<BudgetClaim*> woken;
  if (!ctx_.health.retry("budget reservation", stop, [&](std::string& error) {
        return gate_.reserve(store, claims, answers, woken, ctx_.clock.steady_ms(), error);
      }))
    return false;
  std::vector<Job*> downgraded;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    Job* j = jobs[i];
    const TeamConfig& team = gate_.team(j->team);
    switch (answers[i].outcome) {
      case BudgetOutcome::kReserved:
        note_soft_budget(team, answers[i]);
        dispatch_.post_schedule(j);
        break;
      case BudgetOutcome::kWaitingForSettlement:
        // Refused only because of worst cases this worker still holds for the team: it waits
        // for their settlement instead of getting the team's policy.
        ctx_.stats.budget_settlement_waits.inc();
        break;
      case BudgetOutcome::kOverBudget:
        if (team.budget_policy == BudgetPolicy::kDowngrade && !j->downgraded &&
            dispatch_.downgrade(j)) {
          downgraded.push_back(j);
        } else if (team.budget_policy == BudgetPolicy::kDefer &&
                   j->priority_class == PriorityClass::kBackground &&
                   gate_.defer(j, ctx_.clock.steady_ms())) {
          ctx_.stats.budget_deferrals.inc();
        } else {
          reject(j);
        }
        break;
    }
  }
  if (!woken.empty()) {
    ctx_.stats.budget_defer_wakes.inc(woken.size());
    for (BudgetClaim* c : woken) to_lookup_.push(static_cast<Job*>(c));
  }
  // One more reservation round for the requests moved to the cheapest tier.
  return downgraded.empty() || admit(store, downgraded, stop);
}

void BudgetStage::note_soft_budget(const TeamConfig& team, const BudgetAnswerForClaim& answer) {
  if (!answer.crossed_soft_budget) return;
  ctx_.stats.budget_soft_crossings.inc();
  worker_log()->warn(
      "team {} crossed its soft budget of ${} for this {} (${} spent or reserved of ${})",
      team.name, format_usd(*team.soft_budget), team.budget_period, format_usd(answer.committed),
      format_usd(*team.budget));
}

void BudgetStage::reject(Job* job) {
  ctx_.stats.budget_rejections.inc();
  const TeamConfig& team = gate_.team(job->team);
  set_error(*job, ErrorCode::kBudgetExceeded,
            "team '" + team.name + "' has no " + team.budget_period +
                "ly budget left for this request (budget $" + format_usd(*team.budget) +
                ", worst case of this request $" + format_usd(job->worst_case) + ")");
  sink_.finish(job);
}

}  // namespace switchyard
