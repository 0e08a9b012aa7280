#pragma once
// Fleet upkeep: this worker's heartbeat in Postgres, which gives it its share (1 / live workers
// of the group) of every deployment's and team's rate limits, and the hourly upkeep the
// dashboards need (next months' ledger partitions, the savings reference price).
//
// Threading: tick() and leave() on the lookup thread, with its store. Failures are transient:
// a failed heartbeat keeps the current share (logged); failed upkeep is retried in a minute.
#include <cstdint>
#include <string>

#include "switchyard/common/clock.h"
#include "switchyard/config/config.h"
#include "switchyard/sched/scheduler.h"
#include "switchyard/store/store.h"

namespace switchyard {

class Fleet {
 public:
  // Heartbeat period; a worker unseen for three periods no longer counts.
  static constexpr int kHeartbeatMs = 2000;

  Fleet(const Config& config, const Clock& clock, Scheduler& scheduler);
  // Beats and does upkeep when they are due.
  void tick(RequestStore& store);
  // Removes this worker's heartbeat (at shutdown): the others take its share.
  void leave(RequestStore& store);

 private:
  void beat(RequestStore& store, bool leaving);
  bool upkeep(RequestStore& store);

  const Config& config_;
  const Clock& clock_;
  Scheduler& scheduler_;
  const std::string worker_id_;
  int fleet_size_ = 0;  // 0 before the first heartbeat
  int fleet_ordinal_ = 0;
  std::int64_t next_beat_ms_ = 0;
  std::int64_t next_upkeep_ms_ = 0;
  bool reference_written_ = false;
};

}  // namespace switchyard
