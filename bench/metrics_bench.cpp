// ns per metric update on the hot path: a counter increment, a histogram observe (14 buckets,
// the OpenTelemetry duration bounds), with 1 and 2 threads on the same series, plus what
// resolving a labelled series costs (done once per label set, not per request) and a scrape.
// Run: build/bench/switchyard_metrics_bench [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>

#include <string>

#include "switchyard/common/metrics.h"

namespace switchyard {
namespace {

MetricsRegistry& registry() {
  static MetricsRegistry* r = [] {
    auto* reg = new MetricsRegistry;
    declare_worker_metrics(*reg);
    return reg;
  }();
  return *r;
}

const MetricLabels kRequestLabels = {
    {"class", "interactive"}, {"tier", "economy"}, {"deployment", "mini-a"}, {"status", "ok"}};
const MetricLabels kCallLabels = {{"gen_ai_operation_name", "chat"},
                                  {"gen_ai_provider_name", "openai"},
                                  {"gen_ai_request_model", "gpt-4o-mini"},
                                  {"deployment", "mini-a"}};

void BM_CounterInc(benchmark::State& state) {
  Counter& c = registry().counter(metric::kRequests, kRequestLabels);
  for (auto _ : state) c.inc();
  benchmark::DoNotOptimize(c.value());
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram& h = registry().histogram(metric::kOperationDuration, kCallLabels);
  double v = 0.001;
  for (auto _ : state) {
    h.observe(v);
    v = v < 50 ? v * 1.7 : 0.001;  // walk across the buckets
  }
  benchmark::DoNotOptimize(h.count());
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_GaugeAdd(benchmark::State& state) {
  Gauge& g = registry().gauge(metric::kQueueDepth, {{"class", "background"}});
  for (auto _ : state) g.add(1);
  benchmark::DoNotOptimize(g.value());
}
BENCHMARK(BM_GaugeAdd);

// Not for the hot path: what a caller pays if it resolves the series every time.
void BM_ResolveSeries(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(&registry().counter(metric::kRequests, kRequestLabels));
}
BENCHMARK(BM_ResolveSeries);

// One scrape with 8 deployments x 2 classes x 3 statuses of requests and 8 latency histograms.
void BM_Render(benchmark::State& state) {
  MetricsRegistry r;
  declare_worker_metrics(r);
  for (int d = 0; d < 8; ++d) {
    std::string deployment = "deployment-" + std::to_string(d);
    for (const char* cls : {"interactive", "background"}) {
      for (const char* status : {"ok", "rate_limited", "provider_error"}) {
        r.counter(
             metric::kRequests,
             {{"class", cls}, {"tier", "economy"}, {"deployment", deployment}, {"status", status}})
            .inc(1000);
      }
    }
    r.histogram(metric::kOperationDuration, {{"gen_ai_operation_name", "chat"},
                                             {"gen_ai_provider_name", "openai"},
                                             {"gen_ai_request_model", "m"},
                                             {"deployment", deployment}})
        .observe(0.2);
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    r.render(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_Render);

}  // namespace
}  // namespace switchyard

BENCHMARK_MAIN();
