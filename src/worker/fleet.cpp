#include "worker/fleet.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "worker/job.h"

namespace switchyard {

std::string make_worker_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007);
}

Fleet::Fleet(const StageContext& ctx, Scheduler& scheduler, std::string worker_id)
    : ctx_(ctx),
      config_(ctx.config),
      clock_(ctx.clock),
      scheduler_(scheduler),
      worker_id_(std::move(worker_id)) {}

void Fleet::tick(RequestStore& store) {
  const std::int64_t now = clock_.steady_ms();
  if (now >= next_upkeep_ms_) {
    next_upkeep_ms_ = now + (upkeep(store) ? 3'600'000 : 60'000);
  }
  if (now >= next_beat_ms_) {
    beat(store, false);
    next_beat_ms_ = clock_.steady_ms() + kHeartbeatMs;
  }
  // Not before this worker's own first heartbeat is in, so its reservations are never taken.
  if (now >= next_reclaim_ms_ && fleet_size_ > 0) {
    reclaim(store);
    next_reclaim_ms_ = clock_.steady_ms() + kReclaimEveryMs;
  }
}

void Fleet::reclaim(RequestStore& store) {
  std::vector<ReclaimedReservations> released;
  std::string error;
  if (!store.reclaim_reservations(config_.worker.reservation_reclaim_after_ms, kGoneAfterMs,
                                  released, error)) {
    worker_log()->warn(
        "reclaiming budget reservations of gone workers failed ({}); retrying in "
        "a minute",
        error);
    return;
  }
  for (const ReclaimedReservations& r : released) {
    ctx_.stats.reservations_reclaimed.inc(static_cast<std::uint64_t>(r.count));
    worker_log()->warn(
        "released {} budget reservation(s) of team {} ({} USD, period from {}): older than {} s, "
        "held by workers gone for over {} s, their events never came back (retention, an offset "
        "reset)",
        r.count, r.team, format_usd(r.amount), r.period_start,
        config_.worker.reservation_reclaim_after_ms / 1000, kGoneAfterMs / 1000);
  }
}

void Fleet::leave(RequestStore& store) {
  beat(store, true);
}

// Next months' ledger partitions exist before rows need them, and (once) the savings reference
// prices are the configured model group's.
bool Fleet::upkeep(RequestStore& store) {
  std::string error;
  int created = 0;
  if (!store.ensure_ledger_partitions(2, created, error)) {
    worker_log()->warn("creating cost_ledger partitions failed ({}); retrying in a minute", error);
    return false;
  }
  if (created > 0) worker_log()->info("created {} cost_ledger month partition(s)", created);
  if (reference_written_) return true;
  const DeploymentConfig* reference = config_.reference_deployment();
  if (!reference || !reference->price) return true;
  if (!store.set_reference_price(reference->group, *reference->price, error)) {
    worker_log()->warn("writing the savings reference price failed ({}); retrying in a minute",
                       error);
    return false;
  }
  reference_written_ = true;
  return true;
}

void Fleet::beat(RequestStore& store, bool leaving) {
  int live = 0;
  int ordinal = 0;
  std::string error;
  if (!store.heartbeat(worker_id_, config_.kafka.group_id, kHeartbeatMs * 3, leaving, live, ordinal,
                       error)) {
    worker_log()->warn("fleet heartbeat failed ({}); keeping a share of 1/{}", error,
                       std::max(fleet_size_, 1));
    return;
  }
  if (leaving || (live == fleet_size_ && ordinal == fleet_ordinal_)) return;
  const bool joining = fleet_size_ == 0;
  fleet_size_ = live;
  fleet_ordinal_ = ordinal;
  // A limit that grows waits out one rate-limit window plus the time the others take to see
  // this change (their next heartbeat): grants made under the old split have then expired.
  constexpr std::int64_t kGrowAfterMs = 60'000 + 2 * kHeartbeatMs;
  scheduler_.set_fleet(ordinal, live, joining, kGrowAfterMs, clock_.steady_ms());
  if (joining && live > 1) {
    worker_log()->info(
        "joined a fleet of {} worker(s) in group {}: rate-limited deployments get this "
        "worker's share after a {} s warm-up, when the others' grants have left the window",
        live, config_.kafka.group_id, kGrowAfterMs / 1000);
  } else {
    worker_log()->info(
        "fleet of {} worker(s) in group {}: this worker (#{}) holds its 1/{} slot of every "
        "deployment's and team's rate limits (a larger slot applies after {} s)",
        live, config_.kafka.group_id, ordinal, live, kGrowAfterMs / 1000);
  }
}

}  // namespace switchyard
