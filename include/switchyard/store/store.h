#pragma once
// The Postgres seam: terminal request rows, the cost ledger, and dedupe lookups.
//
// A RequestStore owns one connection and is used by one thread at a time. Methods return false
// with `error` set when Postgres cannot be reached or rejects the statement; the connection is
// re-established on the next call, so callers simply retry after a backoff. Nothing is retried
// inside: the caller decides (and keeps its data) while Postgres is away.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/common/money.h"
#include "switchyard/event/result.h"
#include "switchyard/pricing/catalog.h"

namespace switchyard {

// A request is named by its team and its id: two teams may use the same request_id and never
// see each other's stored result or reservation (migration 0008).
struct RequestKey {
  std::string_view team;
  std::string_view request_id;
  bool operator==(const RequestKey&) const = default;
};
struct RequestKeyHash {
  std::size_t operator()(const RequestKey& k) const noexcept {
    const std::size_t a = std::hash<std::string_view>{}(k.team);
    return a ^ (std::hash<std::string_view>{}(k.request_id) + 0x9e3779b97f4a7c15ULL + (a << 6) +
                (a >> 2));
  }
};

struct LedgerEntry {
  int attempt = 1;  // which provider call of the request
  std::string deployment;
  std::string model;
  std::string tier;
  std::string provider;
  Usage usage;
  Picodollars cost = 0;
  bool usage_estimated = false;  // the provider reported no usage: billed on the worker's estimate
};

struct TerminalRecord {
  const ResultEvent* result = nullptr;  // the terminal result (not owned)
  std::string_view result_json;         // its result.v1 encoding, stored verbatim
  std::string_view source_topic;
  std::int32_t source_partition = -1;
  std::int64_t source_offset = -1;
  std::vector<LedgerEntry> ledger;  // billed provider calls; empty when nothing was billed
};

struct WriteOutcome {
  bool inserted = false;           // false: the request was already terminal (another delivery won)
  std::string stored_result_json;  // when !inserted: the stored result, to re-emit instead
};

struct BudgetRequest {
  std::string_view request_id;
  std::string_view team;
  Picodollars worst_case_cost = 0;  // reserved until the request is terminal
  Picodollars budget = 0;           // the team's budget for the current period
  std::string_view period_kind;     // day | week | month (UTC)
  std::string_view worker_id;       // who holds the reservation (see reclaim_reservations)
};

// What reclaim_reservations released, per team and budget period.
struct ReclaimedReservations {
  std::string team;
  std::string period_start;  // YYYY-MM-DD
  std::int64_t count = 0;
  Picodollars amount = 0;
};

enum class BudgetVerdict {
  kReserved,         // reserved now
  kAlreadyReserved,  // a reservation exists for this request_id (a redelivery): go on
  kExceeded,         // spent + reserved + worst case would pass the budget
};

struct BudgetAnswer {
  BudgetVerdict verdict = BudgetVerdict::kExceeded;
  Picodollars committed = 0;  // the period's spent + reserved after this request
};

class RequestStore {
 public:
  virtual ~RequestStore() = default;

  // Sets `stored[i]` to the stored result JSON of `keys[i]` when that request is already
  // terminal, and leaves it empty otherwise (`stored` is resized to keys.size()).
  virtual bool find_terminal(std::span<const RequestKey> keys, std::vector<std::string>& stored,
                             std::string& error) = 0;

  // Records that `worker_id` of `group_id` is alive and returns how many workers of the group
  // were seen within `live_within_ms` (this one included) and this worker's 0-based position
  // among them by worker id. `leaving` removes the row instead.
  virtual bool heartbeat(std::string_view worker_id, std::string_view group_id, int live_within_ms,
                         bool leaving, int& live_workers, int& ordinal, std::string& error) = 0;

  // Reserves each (team, request_id)'s worst-case cost against its team's budget for the current
  // period, in order, in one transaction. Safe across a fleet: the period row is locked per
  // reservation.
  virtual bool reserve_budgets(const std::vector<BudgetRequest>& requests,
                               std::vector<BudgetAnswer>& answers, std::string& error) = 0;

  // Releases budget reservations created more than `older_than_ms` ago whose worker (the last
  // to reserve or redeliver them) has no heartbeat within `live_within_ms`: their events will
  // not come back to settle them (retention, an offset reset). Fills `released` per team/period.
  virtual bool reclaim_reservations(std::int64_t older_than_ms, std::int64_t live_within_ms,
                                    std::vector<ReclaimedReservations>& released,
                                    std::string& error) = 0;

  // Writes every record in one transaction: the requests row and its ledger rows, or nothing
  // for a request that is already terminal; the budget reservation of an inserted request is
  // settled (actual cost spent, reservation released) in the same statement. `outcomes[i]` answers
  // `records[i]`. Records' (team, request_id) must be distinct within one call.
  virtual bool write_terminal(const std::vector<TerminalRecord>& records,
                              std::vector<WriteOutcome>& outcomes, std::string& error) = 0;

  // Whether the last call that failed did so because Postgres rejected the data itself
  // (SQLSTATE class 22, data exception: invalid UTF-8, NUL, a value out of range; class 23,
  // integrity violation) rather than because it could not be reached or committed. Retrying
  // such a statement fails the same way: the caller must change what it sends.
  virtual bool last_failure_rejected_data() const { return false; }

  // Makes `price` the reference that team_savings_daily measures savings against: the one row of
  // reference_prices, named `name` (the reporting.reference_model group). Its standard per-token
  // prices are stored (batch prices are not); a cached, cache-creation or reasoning price the
  // model does not have is stored as NULL and costs as the input / output price, as call_cost()
  // does. The worker calls it at start; the view applies it to every day, past ones included.
  virtual bool set_reference_price(std::string_view name, const ModelPrice& price,
                                   std::string& error) = 0;

  // Creates the cost ledger's monthly partitions from the current UTC month to `months_ahead`
  // months after it (switchyard_ensure_ledger_partitions; rows waiting in the DEFAULT partition
  // move into their month). `created` is how many were new. Inserts never fail for want of a
  // partition, but call it at start and daily so months do not pile up in DEFAULT.
  virtual bool ensure_ledger_partitions(int months_ahead, int& created, std::string& error) = 0;
};

// `url` is a libpq connection string. Connects lazily; never throws.
std::unique_ptr<RequestStore> make_postgres_store(std::string url);

struct MigrationReport {
  std::vector<std::string> applied;  // names applied by this call
  int version = 0;                   // schema version after the call
  std::string error;                 // empty on success
};

// Applies the embedded migrations in order, each in its own transaction, recorded in
// switchyard_migrations. Safe to re-run and to run from several processes at once (advisory lock).
MigrationReport apply_migrations(const std::string& url);

// The newest migration version compiled into this binary.
int latest_migration_version();
// The schema version recorded in the database; -1 with `error` set when it cannot be read.
int database_schema_version(const std::string& url, std::string& error);

}  // namespace switchyard
