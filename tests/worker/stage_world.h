#pragma once
// What the worker's stages share, built over fakes for their unit tests: a config loaded from
// YAML, a hand-moved clock, counters and metric series, store health, the budget gate, the
// hand-off queues, delivery over a recording producer and the sink. Tests add the stage under
// test on top. Single-threaded: the tests call the stages' loop bodies themselves.
#include <stdexcept>
#include <string>

#include "support/fakes.h"
#include "worker/delivery.h"
#include "worker/sink.h"
#include "worker/stage_context.h"

namespace switchyard::testing {

struct StageWorld {
  explicit StageWorld(const std::string& yaml)
      : load(load_config_text(yaml)),
        stats(metrics),
        series(metrics, checked_config()),
        health(stats.store_failures, 10),
        ctx{config(), clock, stats, series, metrics, health},
        gate(config().teams, {}),
        delivery(ctx, completions),
        sink(ctx, gate, delivery, to_dedupe) {
    delivery.set_producer(&producer);
  }
  const Config& config() const { return load.config; }

  ConfigLoad load;
  ManualClock clock;
  MetricsRegistry metrics;
  WorkerStats stats;
  WorkerSeries series;
  StoreHealth health;
  StageContext ctx;
  BudgetGate gate;
  HandOff<Job*> completions, to_dedupe;
  FakeProducer producer;
  FakeStore store;
  Delivery delivery;
  Sink sink;

 private:
  const Config& checked_config() const {
    if (!load.ok()) throw std::runtime_error(load.problems.front());
    return load.config;
  }
};

}  // namespace switchyard::testing
