#pragma once
// Tier classifier for `model: "auto"`: a request -> the tier to route it to, with a reason string
// for route.reason. Pure and deterministic: the same request and config always give the same tier
// and the same reason; no I/O, no clock, no randomness; safe to call from any thread.
//
// Rule order (the first rule that matches decides; documented here once, tested one by one):
//   1. task_type      the request's task_type is a key of `task_type_tiers` -> the mapped tier.
//   2. long input     estimated input tokens >= `long_input_tokens`          -> `frontier_tier`.
//   3. reasoning      a `reasoning_keywords` entry occurs in any message      -> `frontier_tier`.
//   4. long system    system-message tokens >= `long_system_prompt_tokens`    -> `frontier_tier`.
//   5. code           any message holds a fenced code block (```)             -> `code_tier`.
//   6. short input    estimated input tokens <= `short_input_tokens`          -> `economy_tier`.
//   7. otherwise                                                              -> `default_tier`.
// Why this order: an explicit task_type is the caller's own knowledge and beats any guess; the
// rules that send work up (2-4) come before the ones that keep it down, so a short prompt that
// asks for a proof still reaches a frontier model; code (5) outranks "short" (6) because short
// code questions are where economy models fail most visibly.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "switchyard/event/request.h"

namespace switchyard {

struct ClassifierConfig {
  // task_type -> tier, checked first (exact, case-sensitive match). Empty by default.
  std::map<std::string, std::string> task_type_tiers;
  // Tier when no rule matches: the middle of the road.
  std::string default_tier = "workhorse";
  // Tier for short, plain requests (rule 6).
  std::string economy_tier = "economy";
  // Tier for long input, reasoning keywords and long system prompts (rules 2-4).
  std::string frontier_tier = "frontier";
  // Tier for requests that carry fenced code blocks (rule 5).
  std::string code_tier = "workhorse";
  // Rule 2: at or above this many estimated input tokens (whole messages array) -> frontier.
  // 8,000 is where long-context quality differences between tiers start to show.
  std::int64_t long_input_tokens = 8000;
  // Rule 6: at or below this many estimated input tokens -> economy. 500 tokens is a short
  // question or a one-paragraph instruction.
  std::int64_t short_input_tokens = 500;
  // Rule 4: at or above this many estimated tokens in system messages -> frontier; long system
  // prompts are detailed instructions that smaller models follow poorly.
  std::int64_t long_system_prompt_tokens = 2000;
  // Rule 3: matched case-insensitively as whole words or phrases ("plan" does not match
  // "explanation"; "reason" does not match "reasonable"), in every message, system included.
  // The reason names the first one in reading order (message, then position).
  std::vector<std::string> reasoning_keywords = {
      "prove",  "step by step", "derive",    "analyze",  "analyse",
      "reason", "why does",     "trade-off", "tradeoff", "plan"};
};

struct TierChoice {
  std::string tier;
  std::string reason;  // names the rule, the feature and its value, e.g.
                       // "auto: 12,400 estimated input tokens >= 8,000 -> frontier"
};

TierChoice classify(const RequestEvent& request, const ClassifierConfig& config);

// "12400" -> "12,400"; used in reason strings so operators read numbers at a glance.
std::string with_thousands(std::int64_t value);

}  // namespace switchyard
