#pragma once
// What every stage of the worker reads: its config, its clock, its counters, its metrics and
// whether Postgres is reachable. Built once by worker.cpp (or a test) and outliving every stage;
// the stages hold it by reference. Everything in it is safe to use from any thread (config and
// series are read-only, counters and health atomic, the clock and registry thread-safe).
#include "switchyard/common/clock.h"
#include "switchyard/config/config.h"
#include "switchyard/worker/worker.h"
#include "worker/store_health.h"
#include "worker/worker_metrics.h"

namespace switchyard {

struct StageContext {
  const Config& config;
  const Clock& clock;
  WorkerStats& stats;
  const WorkerSeries& series;
  MetricsRegistry& metrics;
  StoreHealth& health;
};

}  // namespace switchyard
