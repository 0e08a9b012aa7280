// ns per routing decision over 8 candidates: the choice itself plus its reason string.
// Run: build/bench/switchyard_policy_bench [--benchmark_min_time=0.5s]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "switchyard/route/classifier.h"
#include "switchyard/route/policy.h"

namespace switchyard {
namespace {

constexpr int kCandidates = 8;

struct Fleet {
  std::vector<DeploymentConfig> deployments;
  std::vector<CandidateView> candidates;
  std::vector<std::uint64_t> hashes;

  Fleet() {
    deployments.resize(kCandidates);
    for (int i = 0; i < kCandidates; ++i) {
      DeploymentConfig& d = deployments[static_cast<std::size_t>(i)];
      d.name = "deployment-" + std::to_string(i);
      d.tier = i < 3 ? "economy" : i < 6 ? "workhorse" : "frontier";
      CandidateView c;
      c.index = static_cast<std::size_t>(i);
      c.deployment = &d;
      c.tier_rank = i < 3 ? 0 : i < 6 ? 1 : 2;
      c.latency_ewma_ms = 200.0 + 7.0 * ((i * 5) % kCandidates);  // several near-best
      c.latency_p95_ms = c.latency_ewma_ms * 1.6;
      c.samples = i == 7 ? 0 : 100;
      c.estimated_cost = 1'000'000 * (1 + (i * 3) % kCandidates);
      c.healthy = i != 4;
      c.in_cooldown = i == 5;
      candidates.push_back(c);
    }
    for (int i = 0; i < 1024; ++i) hashes.push_back(request_hash("req-" + std::to_string(i)));
  }
};

void BM_InteractiveDecision(benchmark::State& state) {
  Fleet fleet;
  std::size_t i = 0;
  for (auto _ : state) {
    PolicyDecision d = choose_interactive(fleet.candidates, fleet.hashes[i++ & 1023]);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_InteractiveDecision);

void BM_BackgroundDispatch(benchmark::State& state) {
  Fleet fleet;
  fleet.candidates[0].has_headroom = false;  // the cheapest is busy: the next one wins
  fleet.candidates[0].ms_until_headroom = 800;
  BackgroundRequest req;
  req.now_ms = 1'000'000;
  req.deadline_ms = req.now_ms + 60'000;
  req.estimated_service_ms = 2'000;
  for (auto _ : state) {
    PolicyDecision d = choose_background(fleet.candidates, req);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_BackgroundDispatch);

void BM_BackgroundWaitOrEscalate(benchmark::State& state) {
  Fleet fleet;
  for (int i = 0; i < 3; ++i) {  // no economy headroom: wait, or escalate near the deadline
    fleet.candidates[static_cast<std::size_t>(i)].has_headroom = false;
    fleet.candidates[static_cast<std::size_t>(i)].ms_until_headroom = 1'500 + 100 * i;
  }
  BackgroundRequest req;
  req.now_ms = 1'000'000;
  req.estimated_service_ms = 2'000;
  const bool urgent = state.range(0) != 0;
  req.deadline_ms = req.now_ms + (urgent ? 3'000 : 60'000);
  for (auto _ : state) {
    PolicyDecision d = choose_background(fleet.candidates, req);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(urgent ? "escalate" : "wait");
}
BENCHMARK(BM_BackgroundWaitOrEscalate)->Arg(0)->Arg(1);

void BM_WeightedSplit(benchmark::State& state) {
  Fleet fleet;
  for (auto& c : fleet.candidates) c.weight = 10 + static_cast<int>(c.index);
  std::size_t i = 0;
  for (auto _ : state) {
    PolicyDecision d = choose_weighted_split(fleet.candidates, fleet.hashes[i++ & 1023]);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_WeightedSplit);

// About 1,000 tokens of ordinary prose without a reasoning keyword: every rule is evaluated.
void BM_Classify(benchmark::State& state) {
  ClassifierConfig config;
  std::string prose;
  while (prose.size() < 4000) prose += "The quick brown fox jumps over the lazy dog near a river. ";
  RequestEvent r;
  r.request_id = "req-1";
  r.messages = {{"system", "You are a careful assistant. Answer in plain English."},
                {"user", "Summarise the following text in three sentences. " + prose}};
  for (auto _ : state) {
    TierChoice c = classify(r, config);
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_Classify);

void BM_AgingQueuePushPop(benchmark::State& state) {
  AgingQueue<std::uint64_t> q(1024);
  std::int64_t now = 0;
  for (int i = 0; i < 512; ++i)
    q.push(static_cast<std::uint64_t>(i), PriorityClass::kBackground, i, i % 7);
  for (auto _ : state) {
    ++now;
    q.push(static_cast<std::uint64_t>(now),
           now % 10 == 0 ? PriorityClass::kInteractive : PriorityClass::kBackground, now, now % 7);
    benchmark::DoNotOptimize(q.pop());
  }
}
BENCHMARK(BM_AgingQueuePushPop);

}  // namespace
}  // namespace switchyard

BENCHMARK_MAIN();
