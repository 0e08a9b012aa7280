#pragma once
// Routing for the spine: the requested model group or tier -> its deployments in config order,
// healthy ones first. Pure: plain values in, a decision out. The scheduler issue replaces the
// ordering policy (latency for interactive, cheapest-with-headroom for background).
#include <cstdint>
#include <string>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/event/request.h"
#include "switchyard/event/result.h"
#include "switchyard/route/classifier.h"

namespace switchyard {

struct RouteDecision {
  std::string tier;                                 // tier of the first candidate
  std::vector<const DeploymentConfig*> candidates;  // in the order to try them
  std::string reason;                               // why, for route.reason
  std::string error;                                // non-empty: no deployment fits (no_deployment)
};

// Rough input-token estimate over the whole messages array (about 4 characters a token plus a
// few tokens of framing per message); used for context-window checks before the call.
std::int64_t estimate_input_tokens(const RequestEvent& request);

class Router {
 public:
  // Model "auto" is classified into a tier (route/classifier.h); a tier without deployments
  // falls back to the classifier's default tier.
  Router(const std::vector<DeploymentConfig>& deployments, ClassifierConfig classifier);

  // `cooling_down[i]` is true when deployments[i] is in cooldown; such deployments are moved
  // to the end of the candidate list instead of being dropped (better a tired one than none).
  RouteDecision route(const RequestEvent& request, const std::vector<bool>& cooling_down) const;

  // Routes to an explicit tier (`by_tier`) or model group, e.g. a cheaper tier when a budget
  // downgrades a request; `reason` becomes the decision's reason.
  RouteDecision route_to(const RequestEvent& request, const std::string& target, bool by_tier,
                         std::string reason, const std::vector<bool>& cooling_down) const;

 private:
  const std::vector<DeploymentConfig>& deployments_;
  ClassifierConfig classifier_;
};

// Whether the team's allowed_tiers and allowed_models (empty = all) let it use the deployment.
// allowed_models matches the model group, the provider model name or the deployment name.
bool team_may_use(const TeamConfig& team, const DeploymentConfig& deployment);

// Integer cost of one call in picodollars: usage x the deployment's per-token prices.
Picodollars cost_of(const DeploymentConfig& deployment, std::int64_t input_tokens,
                    std::int64_t output_tokens);

// Cost of one answered call from its normalised usage (event/result.h: input_tokens include
// cache reads and writes, output_tokens include reasoning): the deployment's full catalog price
// when it has one, so cache reads, cache writes and reasoning tokens are billed at their own
// prices; otherwise input and output prices.
Picodollars billed_cost(const DeploymentConfig& deployment, const Usage& usage);

}  // namespace switchyard
