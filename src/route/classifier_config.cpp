#include "switchyard/route/classifier_config.h"

namespace switchyard {

ClassifierConfig classifier_config(const Config& config) {
  ClassifierConfig out;
  out.task_type_tiers = config.routing.task_type_tiers;
  out.default_tier = config.worker.default_tier;
  out.code_tier = config.worker.default_tier;
  out.long_input_tokens = config.routing.long_input_tokens;
  out.short_input_tokens = config.routing.short_input_tokens;
  int lowest = -1;
  int highest = -1;
  for (const auto& d : config.deployments) {
    int rank = config.tier_rank(d.tier);
    if (rank < 0) continue;
    if (lowest < 0 || rank < lowest) lowest = rank;
    if (rank > highest) highest = rank;
  }
  if (lowest >= 0) {
    out.economy_tier = config.tiers[lowest];
    out.frontier_tier = config.tiers[highest];
  } else if (!config.tiers.empty()) {
    out.economy_tier = config.tiers.front();
    out.frontier_tier = config.tiers.back();
  }
  return out;
}

}  // namespace switchyard
