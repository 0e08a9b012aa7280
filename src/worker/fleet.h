#pragma once
// Fleet upkeep: this worker's heartbeat in Postgres, which gives it its share (1 / live workers
// of the group) of every deployment's and team's rate limits; the hourly upkeep the dashboards
// need (next months' ledger partitions, the savings reference price); and, every minute, the
// release of budget reservations whose worker is gone and whose event never came back
// (worker.reservation_reclaim_after_ms; logged and counted as reservations_reclaimed).
//
// Threading: tick() and leave() on the lookup thread, with its store. Failures are transient:
// a failed heartbeat keeps the current share (logged); failed upkeep is retried in a minute.
#include <cstdint>
#include <string>

#include "switchyard/common/clock.h"
#include "switchyard/config/config.h"
#include "switchyard/sched/scheduler.h"
#include "switchyard/store/store.h"
#include "worker/stage_context.h"

namespace switchyard {

// A worker id unique across hosts and restarts: host-pid-time.
std::string make_worker_id();

class Fleet {
 public:
  // Heartbeat period; a worker unseen for three periods no longer counts.
  static constexpr int kHeartbeatMs = 2000;

  // A worker that has not beaten for this long is gone, for reclaiming its reservations: well
  // past the three heartbeats that take it out of the rate-limit split, so a worker paused by a
  // long stop-the-world (a slow disk, a debugger) keeps what it holds.
  static constexpr int kGoneAfterMs = 60'000;
  static constexpr int kReclaimEveryMs = 60'000;

  Fleet(const StageContext& ctx, Scheduler& scheduler, std::string worker_id);
  // Beats and does upkeep when they are due.
  void tick(RequestStore& store);
  // Removes this worker's heartbeat (at shutdown): the others take its share.
  void leave(RequestStore& store);

 private:
  void beat(RequestStore& store, bool leaving);
  bool upkeep(RequestStore& store);
  void reclaim(RequestStore& store);

  const StageContext& ctx_;
  const Config& config_;
  const Clock& clock_;
  Scheduler& scheduler_;
  const std::string worker_id_;
  int fleet_size_ = 0;  // 0 before the first heartbeat
  int fleet_ordinal_ = 0;
  std::int64_t next_beat_ms_ = 0;
  std::int64_t next_upkeep_ms_ = 0;
  std::int64_t next_reclaim_ms_ = 0;
  bool reference_written_ = false;
};

}  // namespace switchyard
