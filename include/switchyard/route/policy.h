#pragma once
// Routing policies: which deployment serves a request, now or later. Pure code: every input is a
// plain value (health, latency, headroom and cost are snapshots taken by the caller; time is an
// injected `now_ms`; spreading uses a caller-supplied request hash), so each decision is
// deterministic and is tested directly. No I/O, no clock, no randomness; safe from any thread.
//
// Cost: the choices themselves scan the candidate span a few times and never allocate; the one
// allocation per decision is the reason string (see bench/policy_bench.cpp for ns per decision).
//
// Flow, as the scheduler uses it:
//   filter_candidates   drop what cannot serve the request at all (context window, region, team)
//   choose_interactive  lowest latency (EWMA + tail) among healthy deployments with headroom,
//                       A/B split first when the candidates carry weights
//   choose_background   cheapest deployment meeting the quality floor with headroom now; else
//                       wait; escalate only when waiting would miss the deadline
//   AgingQueue          what the scheduler dispatches next: interactive first, background by
//                       aged priority so nothing starves
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/common/money.h"
#include "switchyard/config/config.h"

namespace switchyard {

// One deployment as a policy sees it: a snapshot of health, latency, limiter and price.
struct CandidateView {
  std::size_t index = 0;                         // position in Config::deployments
  const DeploymentConfig* deployment = nullptr;  // never null in a real candidate list
  bool healthy = true;
  bool in_cooldown = false;
  double latency_ewma_ms = 0;
  double latency_p95_ms = 0;
  std::int64_t samples = 0;  // completed calls behind the latency figures; 0 = no data yet
  bool has_headroom = true;  // the rate limiter would admit this request now
  std::int64_t ms_until_headroom = 0;  // when !has_headroom: the limiter's estimate
  // Estimated cost of this request here. Unknown prices are not guessed (LiteLLM prices an
  // unknown model at a dollar): set price_known = false and the background policy uses the
  // deployment only when no priced deployment qualifies.
  Picodollars estimated_cost = 0;
  bool price_known = true;
  int tier_rank = 0;  // 0 economy, 1 workhorse, 2 frontier, ...; higher = better quality
  int weight = 0;     // A/B split weight; 0 = not part of a split
  // Interactive only: a deployment of a fallback tier (routing.fallback_tiers), used only when
  // no deployment of the request's own tier is ready.
  bool fallback_tier = false;
  // Interactive only: enough samples say this deployment is slower than its latency_target_ms;
  // it is used only when no ready deployment meets its target.
  bool over_latency_target = false;
};

struct PolicyDecision {
  enum class Kind {
    kDispatch,          // send to `index` now
    kWait,              // re-evaluate after `wait_ms`; nothing suitable has headroom now
    kEscalate,          // send to `index` now, a higher rank than the request needed (deadline)
    kDeadlineExceeded,  // the deadline has passed: answer with an error, do not call
    kNoCandidate,       // no candidate can ever serve this request
    kNeverFits,         // every candidate's rate limit is too small for it, now and later
  };
  Kind kind = Kind::kNoCandidate;
  std::size_t index = 0;  // CandidateView::index of the chosen deployment (dispatch/escalate)
  std::int64_t wait_ms = 0;
  std::string reason;  // one line for route.reason / logs

  bool dispatches() const { return kind == Kind::kDispatch || kind == Kind::kEscalate; }
};

const char* to_string(PolicyDecision::Kind kind);

// ---- Filtering ----------------------------------------------------------------------------------

// What a team may use. Empty lists allow everything. allowed_models matches a deployment's model
// group, provider model name or deployment name.
struct TeamPolicy {
  std::vector<std::string> allowed_tiers;
  std::vector<std::string> allowed_models;
};

struct FilterResult {
  std::vector<CandidateView> kept;  // in input order
  std::string reason;               // "kept 2 of 5; dropped: ..." naming each dropped deployment
};

// Keeps the candidates whose context window holds `needed_tokens` (estimated input + max_tokens),
// whose region matches `region` (empty = any) and that the team may use. Unlike the choices
// below this allocates (the kept list and the reason); it runs once per request.
FilterResult filter_candidates(std::span<const CandidateView> candidates,
                               std::int64_t needed_tokens, std::string_view region,
                               const TeamPolicy& team);

// ---- Request hash -------------------------------------------------------------------------------

// FNV-1a (64-bit) of the request id: the stable key for A/B arms and load spreading, so a retried
// or redelivered request lands where it did before.
std::uint64_t request_hash(std::string_view request_id);

// ---- Interactive --------------------------------------------------------------------------------

struct InteractiveParams {
  // score = ewma + tail_weight * max(0, p95 - ewma). 0.5 halves the tail's pull: a deployment
  // with a fat tail loses to one with the same mean, without a single slow call dominating.
  double tail_weight = 0.5;
  // Candidates scoring within this fraction of the best score are "near-best" and share the load
  // (chosen by request hash), so a fleet of workers does not herd onto one deployment.
  double near_best_fraction = 0.10;
  // Plus this absolute slack, so tiny scores (a few ms) are not split by noise.
  double near_best_slack_ms = 5.0;
  // When no healthy deployment has headroom, wait up to this long for one before falling back to
  // deployments in cooldown or marked unhealthy.
  std::int64_t max_wait_ms = 250;
  // Among the ready deployments meeting their latency target, the cheapest (then the lowest
  // latency) instead of the lowest latency (routing.interactive_strategy: cheapest).
  bool cheapest_on_target = false;
};

// Lowest latency first. Candidates without samples score as well as the best sampled one (an
// optimistic prior): they join the near-best set and get a share of traffic until they have data,
// without drawing all of it. "Ready" = healthy, not in cooldown, with headroom. Order:
//   1. ready deployments of the request's tier: A/B split if any carries a weight, else lowest
//      latency -- among those meeting their latency target when any does (cheapest_on_target:
//      the cheapest of those meeting their target, then lowest latency; the lowest latency of
//      the others when none meets it);
//   2. ready deployments of a fallback tier (fallback_tier), the same way;
//   3. a healthy deployment of the request's tier has headroom within max_wait_ms: kWait;
//   4. in cooldown or unhealthy, with headroom: dispatch the best of them ("fallback");
//   5. nothing has headroom: kWait for the soonest; empty input: kNoCandidate.
PolicyDecision choose_interactive(std::span<const CandidateView> candidates,
                                  std::uint64_t request_hash, const InteractiveParams& params = {});

// ---- Weighted split (A/B) -----------------------------------------------------------------------

// Among the healthy, non-cooling candidates with weight > 0, picks one with probability
// weight / total, keyed by the request hash: the same request always gets the same arm while the
// set of live arms is unchanged. An arm that is down gives its share to the others. Reason:
// "split a:70/b:30 -> a". kNoCandidate when no live candidate carries a weight.
PolicyDecision choose_weighted_split(std::span<const CandidateView> candidates,
                                     std::uint64_t request_hash);

// ---- Background ---------------------------------------------------------------------------------

struct BackgroundRequest {
  std::int64_t now_ms = 0;
  std::optional<std::int64_t> deadline_ms;  // absolute, same clock as now_ms; unset = none
  std::int64_t estimated_service_ms = 0;    // how long the call itself is expected to take
  std::uint64_t request_hash = 0;           // picks the arm of an A/B split (see request_hash())
  // Ranks [quality_floor, max_normal_rank] are the request's normal pool: it uses the cheapest of
  // them that has headroom. Higher ranks cost more; they are used only to escalate when waiting
  // would miss the deadline. Unset max_normal_rank = quality_floor.
  int quality_floor = 0;
  std::optional<int> max_normal_rank;
  // Upper bound on one wait, so a queued request is looked at again (and ages) even when the
  // limiter's estimate is long. Unhealthy or cooling deployments count as "available in
  // unavailable_retry_ms" for the wait.
  std::int64_t max_wait_ms = 60'000;
  std::int64_t unavailable_retry_ms = 1'000;
};

// When candidates of the normal pool carry weights (an A/B split), the split among those ready
// now decides (reason "background: split a:70/b:30 -> a"); otherwise the cheapest healthy,
// non-cooling candidate in the normal pool with headroom now (ties: higher rank, then input order).
// If none has headroom: kWait for the soonest headroom in the normal pool -- never pay more --
// unless now + wait + service time passes the deadline; then kEscalate to the cheapest higher-rank
// candidate with headroom (reason "escalated: deadline in N ms"). now >= deadline:
// kDeadlineExceeded. Nothing at or above the floor: kNoCandidate.
PolicyDecision choose_background(std::span<const CandidateView> candidates,
                                 const BackgroundRequest& request);

// ---- Aging --------------------------------------------------------------------------------------

struct AgingParams {
  // A background request gains one priority step per this many milliseconds of waiting, so an
  // old low-priority request eventually passes newer high-priority ones: nothing starves.
  std::int64_t ms_per_step = 1'000;
};

// base_priority + whole steps waited. Monotonic in now_ms; a clock that went back counts as 0 ms.
std::int64_t effective_priority(std::int64_t base_priority, std::int64_t enqueued_ms,
                                std::int64_t now_ms, const AgingParams& params = {});

// A bounded priority queue of waiting work. Pop order:
//   1. interactive before background, always (interactive never waits behind background);
//   2. interactive among itself: FIFO (enqueued_ms, then push order);
//   3. background by effective_priority(base, enqueued_ms, now) -- highest first, ties FIFO.
// Every background entry ages at the same rate, so the order of two entries never changes with
// time: the heap key base * ms_per_step - enqueued_ms is fixed at push and pop is O(log n) with
// no clock input. Storage is reserved up front; push/pop do not allocate (beyond T's own moves).
// Not thread-safe: the scheduler owns one per strand.
template <typename T>
class AgingQueue {
 public:
  explicit AgingQueue(std::size_t capacity, AgingParams params = {})
      : capacity_(capacity), params_(params) {
    heap_.reserve(capacity);
  }

  // False (and `value` untouched) when the queue is full: the caller applies backpressure.
  // `base_priority` orders background work (higher first) and is ignored for interactive.
  // Keep |base_priority| * ms_per_step well inside int64 (any realistic value is).
  bool push(T&& value, PriorityClass cls, std::int64_t enqueued_ms,
            std::int64_t base_priority = 0) {
    if (heap_.size() >= capacity_) return false;
    const bool interactive = cls == PriorityClass::kInteractive;
    const std::int64_t key =
        interactive ? -enqueued_ms : base_priority * params_.ms_per_step - enqueued_ms;
    heap_.push_back(Entry{interactive, key, next_seq_++, std::move(value)});
    std::push_heap(heap_.begin(), heap_.end(), Before{});
    return true;
  }

  // Precondition: !empty().
  T pop() {
    std::pop_heap(heap_.begin(), heap_.end(), Before{});
    T value = std::move(heap_.back().value);
    heap_.pop_back();
    return value;
  }

  // Visits every entry, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : heap_) f(e.value);
  }

  // Precondition: !empty().
  const T& top() const { return heap_.front().value; }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    bool interactive;
    std::int64_t key;   // larger = sooner; see the class comment
    std::uint64_t seq;  // push order; breaks ties FIFO
    T value;
  };
  // Heap comparator: true when `a` should come out after `b`.
  struct Before {
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.interactive != b.interactive) return b.interactive;
      if (a.key != b.key) return a.key < b.key;
      return a.seq > b.seq;
    }
  };

  std::size_t capacity_;
  AgingParams params_;
  std::uint64_t next_seq_ = 0;
  std::vector<Entry> heap_;
};

}  // namespace switchyard
