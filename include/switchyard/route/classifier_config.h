#pragma once
// The classifier settings a loaded Config implies, so the worker builds its ClassifierConfig in
// one call instead of copying fields by hand.
#include "switchyard/config/config.h"
#include "switchyard/route/classifier.h"

namespace switchyard {

// Maps routing.task_type_tiers, routing.long_input_tokens / short_input_tokens and
// worker.default_tier (also the code tier) into a ClassifierConfig. The "economy" and "frontier"
// roles go to the lowest- and highest-ranked tiers of `tiers` that have a deployment, so the
// classifier never picks a tier nobody serves (with the default tiers and a deployment in each:
// economy and frontier). Keywords and the system-prompt threshold keep their defaults.
ClassifierConfig classifier_config(const Config& config);

}  // namespace switchyard
