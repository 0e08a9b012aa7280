#include "switchyard/route/policy.h"

#include <cmath>

#include "switchyard/common/enum_names.h"
#include "switchyard/route/classifier.h"

namespace switchyard {
namespace {

using Kind = PolicyDecision::Kind;

// splitmix64's finaliser: FNV-1a's low bits are weak for short, similar ids ("req-1", "req-2"),
// and both the split and the spreading take the hash modulo a small number.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string name_of(const CandidateView& c) {
  return c.deployment ? c.deployment->name : "#" + std::to_string(c.index);
}

std::string ms(double value) {
  return with_thousands(std::llround(value));
}

std::string usd(const CandidateView& c) {
  return c.price_known ? "$" + format_usd(c.estimated_cost) : "price unknown";
}

bool available_now(const CandidateView& c) {
  return c.healthy && !c.in_cooldown;
}

double latency_score(const CandidateView& c, const InteractiveParams& p) {
  return c.latency_ewma_ms + p.tail_weight * std::max(0.0, c.latency_p95_ms - c.latency_ewma_ms);
}

PolicyDecision dispatch(Kind kind, const CandidateView& c, std::string reason) {
  return PolicyDecision{kind, c.index, 0, std::move(reason)};
}

PolicyDecision wait_for(std::int64_t wait_ms, std::string reason) {
  return PolicyDecision{Kind::kWait, 0, wait_ms, std::move(reason)};
}

// ---- lowest latency with spreading --------------------------------------------------------------

struct LatencyPick {
  std::size_t position = 0;  // in the span
  double score = 0;
  std::size_t near_best = 0;
  std::size_t eligible = 0;
};

// Lowest latency score among candidates where `eligible` holds; unsampled ones score as the best
// sampled one (0 if none has samples). Candidates within near_best of the best share the load by
// request hash. No allocation: three passes over the span.
template <typename Pred>
std::optional<LatencyPick> pick_lowest_latency(std::span<const CandidateView> cs, Pred eligible,
                                               std::uint64_t hash, const InteractiveParams& p) {
  LatencyPick pick;
  double best_sampled = INFINITY;
  for (const auto& c : cs) {
    if (!eligible(c)) continue;
    ++pick.eligible;
    if (c.samples > 0) best_sampled = std::min(best_sampled, latency_score(c, p));
  }
  if (pick.eligible == 0) return std::nullopt;
  const double prior = std::isinf(best_sampled) ? 0.0 : best_sampled;
  auto score = [&](const CandidateView& c) { return c.samples > 0 ? latency_score(c, p) : prior; };
  const double best = prior;  // the prior is the minimum by construction
  const double threshold = best * (1.0 + p.near_best_fraction) + p.near_best_slack_ms;
  for (const auto& c : cs) {
    if (eligible(c) && score(c) <= threshold) ++pick.near_best;
  }
  std::size_t k = static_cast<std::size_t>(mix(hash) % pick.near_best);
  for (std::size_t i = 0; i < cs.size(); ++i) {
    if (!eligible(cs[i]) || score(cs[i]) > threshold) continue;
    if (k-- == 0) {
      pick.position = i;
      pick.score = score(cs[i]);
      break;
    }
  }
  return pick;
}

std::string describe_latency(const CandidateView& c, const LatencyPick& pick) {
  std::string out = name_of(c);
  if (c.samples > 0) {
    out += " (score " + ms(pick.score) + " ms: ewma " + ms(c.latency_ewma_ms) + ", p95 " +
           ms(c.latency_p95_ms) + ", " + with_thousands(c.samples) + " samples)";
  } else {
    out += " (no samples yet, optimistic prior " + ms(pick.score) + " ms)";
  }
  if (pick.near_best > 1) {
    out += "; " + std::to_string(pick.near_best) + " of " + std::to_string(pick.eligible) +
           " near-best, picked by request hash";
  }
  return out;
}

// ---- weighted split -----------------------------------------------------------------------------

template <typename Pred>
PolicyDecision split_among(std::span<const CandidateView> cs, Pred live, std::uint64_t hash) {
  std::int64_t total = 0;
  for (const auto& c : cs) {
    if (live(c) && c.weight > 0) total += c.weight;
  }
  if (total == 0) return PolicyDecision{Kind::kNoCandidate, 0, 0, "no live split arm"};
  std::int64_t r = static_cast<std::int64_t>(mix(hash) % static_cast<std::uint64_t>(total));
  const CandidateView* chosen = nullptr;
  std::string reason = "split ";
  bool first = true;
  for (const auto& c : cs) {
    if (!live(c) || c.weight <= 0) continue;
    if (!chosen && r < c.weight) chosen = &c;
    r -= c.weight;
    reason += (first ? "" : "/") + name_of(c) + ":" + std::to_string(c.weight);
    first = false;
  }
  reason += " -> " + name_of(*chosen);
  return dispatch(Kind::kDispatch, *chosen, std::move(reason));
}

// ---- cheapest -----------------------------------------------------------------------------------

// Known prices before unknown ones (an unknown price is never assumed cheap), then cost, then
// higher rank (more quality for the same money), then input order.
bool cheaper(const CandidateView& a, const CandidateView& b) {
  if (a.price_known != b.price_known) return a.price_known;
  if (a.price_known && a.estimated_cost != b.estimated_cost)
    return a.estimated_cost < b.estimated_cost;
  return a.tier_rank > b.tier_rank;
}

template <typename Pred>
const CandidateView* cheapest(std::span<const CandidateView> cs, Pred eligible) {
  const CandidateView* best = nullptr;
  for (const auto& c : cs) {
    if (eligible(c) && (!best || cheaper(c, *best))) best = &c;
  }
  return best;
}

std::string rank_range(int low, int high) {
  return low == high ? "rank " + std::to_string(low)
                     : "ranks " + std::to_string(low) + ".." + std::to_string(high);
}

}  // namespace

const char* to_string(PolicyDecision::Kind kind) {
  static constexpr std::array kNames{"dispatch",          "wait",         "escalate",
                                     "deadline_exceeded", "no_candidate", "never_fits"};
  static_assert(kNames.size() == static_cast<std::size_t>(Kind::kNeverFits) + 1);
  return enum_name(kind, kNames);
}

std::uint64_t request_hash(std::string_view request_id) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : request_id) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// ---- filter -------------------------------------------------------------------------------------

FilterResult filter_candidates(std::span<const CandidateView> candidates,
                               std::int64_t needed_tokens, std::string_view region,
                               const TeamPolicy& team) {
  auto listed = [](const std::vector<std::string>& list, std::string_view value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  FilterResult result;
  result.kept.reserve(candidates.size());
  std::string too_small, wrong_region, tier_denied, model_denied;
  auto note = [](std::string& list, const std::string& what) {
    list += (list.empty() ? "" : ", ") + what;
  };
  for (const auto& c : candidates) {
    const DeploymentConfig& d = *c.deployment;
    if (d.context_window < needed_tokens) {
      note(too_small, d.name);
    } else if (!region.empty() && d.region != region) {
      note(wrong_region, d.name + " (" + (d.region.empty() ? "no region" : d.region) + ")");
    } else if (!team.allowed_tiers.empty() && !listed(team.allowed_tiers, d.tier)) {
      note(tier_denied, d.name + " (" + d.tier + ")");
    } else if (!team.allowed_models.empty() && !listed(team.allowed_models, d.group) &&
               !listed(team.allowed_models, d.model) && !listed(team.allowed_models, d.name)) {
      note(model_denied, d.name + " (" + d.group + ")");
    } else {
      result.kept.push_back(c);
    }
  }
  result.reason =
      "kept " + std::to_string(result.kept.size()) + " of " + std::to_string(candidates.size());
  if (result.kept.size() == candidates.size()) return result;
  result.reason += "; dropped:";
  if (!too_small.empty())
    result.reason +=
        " context window < " + with_thousands(needed_tokens) + " tokens: " + too_small + ";";
  if (!wrong_region.empty())
    result.reason += " outside region " + std::string(region) + ": " + wrong_region + ";";
  if (!tier_denied.empty()) result.reason += " tier not allowed for team: " + tier_denied + ";";
  if (!model_denied.empty()) result.reason += " model not allowed for team: " + model_denied + ";";
  result.reason.pop_back();
  return result;
}

// ---- weighted split -----------------------------------------------------------------------------

PolicyDecision choose_weighted_split(std::span<const CandidateView> candidates,
                                     std::uint64_t request_hash) {
  return split_among(candidates, available_now, request_hash);
}

// ---- interactive --------------------------------------------------------------------------------

PolicyDecision choose_interactive(std::span<const CandidateView> candidates,
                                  std::uint64_t request_hash, const InteractiveParams& params) {
  if (candidates.empty())
    return PolicyDecision{Kind::kNoCandidate, 0, 0, "interactive: no candidate"};

  // 1 and 2. Ready deployments of the request's tier, then of a fallback tier: the A/B split if
  // one is configured, else lowest latency, preferring deployments that meet their target.
  for (const bool from_fallback : {false, true}) {
    auto ready = [from_fallback](const CandidateView& c) {
      return c.fallback_tier == from_fallback && available_now(c) && c.has_headroom;
    };
    const char* label = from_fallback ? "interactive: fallback tier: " : "interactive: ";
    for (const auto& c : candidates) {
      if (ready(c) && c.weight > 0) {
        PolicyDecision d = split_among(candidates, ready, request_hash);
        d.reason = label + d.reason;
        return d;
      }
    }
    auto on_target = [&ready](const CandidateView& c) {
      return ready(c) && !c.over_latency_target;
    };
    if (params.cheapest_on_target) {
      if (const CandidateView* c = cheapest(candidates, on_target)) {
        // Equal prices: the lowest latency among them.
        auto same_price = [&](const CandidateView& o) {
          return on_target(o) && o.price_known == c->price_known &&
                 o.estimated_cost == c->estimated_cost;
        };
        if (auto pick = pick_lowest_latency(candidates, same_price, request_hash, params)) {
          const CandidateView& chosen = candidates[pick->position];
          return dispatch(Kind::kDispatch, chosen,
                          label + std::string("cheapest meeting its latency target: ") +
                              usd(chosen) + " on " + describe_latency(chosen, *pick));
        }
      }
    }
    if (auto pick = pick_lowest_latency(candidates, on_target, request_hash, params)) {
      const CandidateView& c = candidates[pick->position];
      return dispatch(Kind::kDispatch, c,
                      label + std::string("lowest latency ") + describe_latency(c, *pick));
    }
    if (auto pick = pick_lowest_latency(candidates, ready, request_hash, params)) {
      const CandidateView& c = candidates[pick->position];
      return dispatch(Kind::kDispatch, c,
                      label +
                          std::string("lowest latency, every ready deployment is over its "
                                      "latency target: ") +
                          describe_latency(c, *pick));
    }
  }

  // 3. A healthy one of the request's tier gets headroom soon: a short wait beats a deployment
  // that is failing.
  const CandidateView* soonest = nullptr;
  for (const auto& c : candidates) {
    if (!c.fallback_tier && available_now(c) &&
        (!soonest || c.ms_until_headroom < soonest->ms_until_headroom))
      soonest = &c;
  }
  if (soonest && soonest->ms_until_headroom <= params.max_wait_ms) {
    const std::int64_t wait = std::max<std::int64_t>(1, soonest->ms_until_headroom);
    return wait_for(wait, "interactive: no healthy deployment has headroom; " + name_of(*soonest) +
                              " has in " + with_thousands(wait) + " ms");
  }

  // 4. Cooling or unhealthy deployments with headroom: better a tired one than none.
  auto fallback = [](const CandidateView& c) { return !available_now(c) && c.has_headroom; };
  if (auto pick = pick_lowest_latency(candidates, fallback, request_hash, params)) {
    const CandidateView& c = candidates[pick->position];
    return dispatch(
        Kind::kDispatch, c,
        std::string("interactive: fallback to ") + (c.in_cooldown ? "cooling" : "unhealthy") +
            " deployment, nothing healthy " + "with headroom; " + describe_latency(c, *pick));
  }

  // 5. Nothing has headroom: wait for the soonest.
  soonest = nullptr;
  for (const auto& c : candidates) {
    if (!soonest || c.ms_until_headroom < soonest->ms_until_headroom) soonest = &c;
  }
  const std::int64_t wait = std::max<std::int64_t>(1, soonest->ms_until_headroom);
  return wait_for(wait, "interactive: no deployment has headroom; " + name_of(*soonest) +
                            " has in " + with_thousands(wait) + " ms");
}

// ---- background ---------------------------------------------------------------------------------

PolicyDecision choose_background(std::span<const CandidateView> candidates,
                                 const BackgroundRequest& request) {
  const std::int64_t now = request.now_ms;
  if (request.deadline_ms && now >= *request.deadline_ms) {
    return PolicyDecision{
        Kind::kDeadlineExceeded, 0, 0,
        "background: deadline passed " + with_thousands(now - *request.deadline_ms) + " ms ago"};
  }
  const int low = request.quality_floor;
  const int high = std::max(low, request.max_normal_rank.value_or(low));
  auto normal = [&](const CandidateView& c) { return c.tier_rank >= low && c.tier_rank <= high; };
  auto higher = [&](const CandidateView& c) { return c.tier_rank > high; };
  auto ready = [](const CandidateView& c) { return available_now(c) && c.has_headroom; };

  // An A/B split among the normal pool's ready arms, when one is configured.
  auto ready_arm = [&](const CandidateView& c) { return normal(c) && ready(c) && c.weight > 0; };
  if (std::any_of(candidates.begin(), candidates.end(), ready_arm)) {
    PolicyDecision d = split_among(
        candidates, [&](const CandidateView& c) { return normal(c) && ready(c); },
        request.request_hash);
    d.reason = "background: " + d.reason;
    return d;
  }

  // The cheapest in the normal pool with headroom now.
  if (const CandidateView* c =
          cheapest(candidates, [&](const auto& x) { return normal(x) && ready(x); })) {
    return dispatch(Kind::kDispatch, *c,
                    "background: cheapest with headroom at " + rank_range(low, high) + ": " +
                        name_of(*c) + " (" + usd(*c) + ")");
  }

  // Nothing at the normal ranks at all (not just busy): waiting cannot help; the higher ranks are
  // the only pool.
  bool any_normal = false;
  for (const auto& c : candidates) any_normal = any_normal || normal(c);
  if (!any_normal) {
    if (const CandidateView* c =
            cheapest(candidates, [&](const auto& x) { return higher(x) && ready(x); })) {
      return dispatch(Kind::kEscalate, *c,
                      "background: escalated: no deployment at " + rank_range(low, high) + "; " +
                          name_of(*c) + " (" + usd(*c) + ")");
    }
    bool any_higher = false;
    for (const auto& c : candidates) any_higher = any_higher || higher(c);
    if (!any_higher) {
      return PolicyDecision{Kind::kNoCandidate, 0, 0,
                            "background: no deployment at or above rank " + std::to_string(low)};
    }
  }

  // Wait for the soonest headroom in the pool; a deployment that is down counts as
  // "maybe in unavailable_retry_ms".
  auto pool = [&](const CandidateView& c) { return any_normal ? normal(c) : higher(c); };
  const CandidateView* soonest = nullptr;
  std::int64_t wait = 0;
  for (const auto& c : candidates) {
    if (!pool(c)) continue;
    const std::int64_t in = available_now(c)
                                ? std::max<std::int64_t>(1, c.ms_until_headroom)
                                : std::max(c.ms_until_headroom, request.unavailable_retry_ms);
    if (!soonest || in < wait) {
      soonest = &c;
      wait = in;
    }
  }

  if (request.deadline_ms && now + wait + request.estimated_service_ms > *request.deadline_ms) {
    const std::int64_t left = *request.deadline_ms - now;
    const std::string why =
        "deadline in " + with_thousands(left) + " ms; waiting " + with_thousands(wait) + " ms + " +
        with_thousands(request.estimated_service_ms) + " ms service would miss it";
    if (any_normal) {
      if (const CandidateView* c =
              cheapest(candidates, [&](const auto& x) { return higher(x) && ready(x); })) {
        return dispatch(Kind::kEscalate, *c,
                        "background: escalated: " + why + " -> " + name_of(*c) + " (rank " +
                            std::to_string(c->tier_rank) + ", " + usd(*c) + ")");
      }
    }
    // Nothing to escalate to: wait anyway, but wake by the deadline to report it.
    return wait_for(std::min({wait, request.max_wait_ms, left}),
                    "background: " + why + ", but no higher-rank deployment has headroom; waiting");
  }

  const std::int64_t capped = std::min(wait, request.max_wait_ms);
  return wait_for(capped, "background: no headroom at " + rank_range(low, high) + "; waiting " +
                              with_thousands(capped) + " ms for " + name_of(*soonest) +
                              " instead of paying more");
}

// ---- aging --------------------------------------------------------------------------------------

std::int64_t effective_priority(std::int64_t base_priority, std::int64_t enqueued_ms,
                                std::int64_t now_ms, const AgingParams& params) {
  const std::int64_t waited = std::max<std::int64_t>(0, now_ms - enqueued_ms);
  return base_priority + waited / std::max<std::int64_t>(1, params.ms_per_step);
}

}  // namespace switchyard
