#include "switchyard/route/router.h"

#include <algorithm>

#include "switchyard/pricing/catalog.h"

namespace switchyard {

std::int64_t estimate_input_tokens(const RequestEvent& request) {
  std::int64_t chars = 0;
  for (const auto& m : request.messages) chars += static_cast<std::int64_t>(m.content.size());
  return (chars + 3) / 4 + 4 * static_cast<std::int64_t>(request.messages.size()) + 3;
}

Picodollars cost_of(const DeploymentConfig& d, std::int64_t input_tokens,
                    std::int64_t output_tokens) {
  return input_tokens * d.input_cost_per_token + output_tokens * d.output_cost_per_token;
}

Picodollars billed_cost(const DeploymentConfig& d, const Usage& usage) {
  if (!d.price) return cost_of(d, usage.input_tokens, usage.output_tokens);
  // The catalog price knows every token class. Usage counts cache reads and cache writes inside
  // input_tokens and reasoning inside output_tokens (event/result.h); call_cost wants the prompt
  // classes disjoint, so the plain input is what is left after the two cache classes.
  TokenUsage tokens;
  tokens.cached_input = std::max<std::int64_t>(0, usage.cached_input_tokens);
  tokens.cache_creation = std::max<std::int64_t>(0, usage.cache_creation_input_tokens);
  tokens.input =
      std::max<std::int64_t>(0, usage.input_tokens - tokens.cached_input - tokens.cache_creation);
  tokens.output = usage.output_tokens;
  tokens.reasoning = usage.reasoning_tokens;
  return call_cost(*d.price, tokens, d.batch_pricing ? PriceTier::batch : PriceTier::standard);
}

bool team_may_use(const TeamConfig& team, const DeploymentConfig& d) {
  auto listed = [](const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  if (!team.allowed_tiers.empty() && !listed(team.allowed_tiers, d.tier)) return false;
  return team.allowed_models.empty() || listed(team.allowed_models, d.group) ||
         listed(team.allowed_models, d.model) || listed(team.allowed_models, d.name);
}

Router::Router(const std::vector<DeploymentConfig>& deployments, ClassifierConfig classifier)
    : deployments_(deployments), classifier_(std::move(classifier)) {}

RouteDecision Router::route(const RequestEvent& request,
                            const std::vector<bool>& cooling_down) const {
  RouteDecision decision;
  // What the request names: "auto" -> the default tier; otherwise a tier, then a model group.
  bool by_tier = false;
  std::string target;
  if (request.model == "auto") {
    by_tier = true;
    TierChoice choice = classify(request, classifier_);
    bool served =
        std::any_of(deployments_.begin(), deployments_.end(),
                    [&choice](const DeploymentConfig& d) { return d.tier == choice.tier; });
    if (served) {
      target = std::move(choice.tier);
      decision.reason = std::move(choice.reason);
    } else {
      target = classifier_.default_tier;
      decision.reason =
          choice.reason + " (no deployment in that tier: default tier " + target + ")";
    }
  } else {
    for (const auto& d : deployments_) {
      if (d.tier == request.model) {
        by_tier = true;
        break;
      }
    }
    target = request.model;
    decision.reason = by_tier ? "requested tier " + target : "requested model group " + target;
  }
  return route_to(request, target, by_tier, std::move(decision.reason), cooling_down);
}

RouteDecision Router::route_to(const RequestEvent& request, const std::string& target, bool by_tier,
                               std::string reason, const std::vector<bool>& cooling_down) const {
  RouteDecision decision;
  decision.reason = std::move(reason);
  const std::int64_t needed = estimate_input_tokens(request) + request.max_tokens.value_or(0);
  std::vector<const DeploymentConfig*> healthy;
  std::vector<const DeploymentConfig*> cooling;
  std::size_t named = 0;
  std::size_t too_small = 0;
  std::size_t wrong_region = 0;
  for (std::size_t i = 0; i < deployments_.size(); ++i) {
    const DeploymentConfig& d = deployments_[i];
    if ((by_tier ? d.tier : d.group) != target) continue;
    ++named;
    if (!request.region.empty() && d.region != request.region) {
      ++wrong_region;
      continue;
    }
    if (d.context_window < needed) {
      ++too_small;
      continue;
    }
    (i < cooling_down.size() && cooling_down[i] ? cooling : healthy).push_back(&d);
  }
  decision.candidates = std::move(healthy);
  decision.candidates.insert(decision.candidates.end(), cooling.begin(), cooling.end());
  if (decision.candidates.empty()) {
    if (named == 0) {
      decision.error =
          "no deployment serves model '" + request.model + "' (neither a tier nor a model group)";
    } else {
      decision.error =
          "none of the " + std::to_string(named) + " deployments of '" + target + "' fits:";
      if (wrong_region)
        decision.error +=
            " " + std::to_string(wrong_region) + " outside region '" + request.region + "'";
      if (too_small)
        decision.error += " " + std::to_string(too_small) + " with a context window below " +
                          std::to_string(needed) + " tokens";
    }
    return decision;
  }
  decision.tier = decision.candidates.front()->tier;
  return decision;
}

}  // namespace switchyard
