#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "switchyard/event/result_fields.h"
#include "switchyard/store/store.h"

namespace switchyard {

namespace {

// One statement writes a whole batch: rows arrive as one JSON array parameter, the requests
// insert skips ids that are already terminal, ledger rows are inserted only for the requests
// this statement inserted, and the stored result comes back for the ones it skipped.
constexpr const char* kWriteBatchSql = R"SQL(
WITH rows AS (
  SELECT * FROM json_to_recordset($1::json) AS x(
    request_id text, team text, status text, error_code text, error_message text,
    priority_class text, tier text, deployment text, model text, provider text, route_reason text,
    input_tokens bigint, output_tokens bigint, cached_input_tokens bigint,
    cache_creation_input_tokens bigint, reasoning_tokens bigint, cost_usd numeric,
    attempts integer, queued_ms bigint, provider_ms bigint, total_ms bigint,
    source_topic text, source_partition integer, source_offset bigint, result json, ledger json)
),
ins AS (
  INSERT INTO requests (request_id, team, status, error_code, error_message, priority_class, tier,
                        deployment, model, provider, route_reason, input_tokens, output_tokens,
                        cached_input_tokens, cache_creation_input_tokens, reasoning_tokens,
                        cost_usd, attempts, queued_ms, provider_ms, total_ms, source_topic,
                        source_partition, source_offset, result)
  SELECT request_id, team, status, error_code, error_message, priority_class, tier, deployment,
         model, provider, route_reason, input_tokens, output_tokens, cached_input_tokens,
         cache_creation_input_tokens, reasoning_tokens, cost_usd, attempts, queued_ms, provider_ms,
         total_ms, source_topic, source_partition, source_offset, result
  FROM rows
  ON CONFLICT (team, request_id) DO NOTHING
  RETURNING team, request_id
),
led AS (
  INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider,
                           input_tokens, output_tokens, cached_input_tokens,
                           cache_creation_input_tokens, reasoning_tokens, cost_usd,
                           usage_estimated)
  SELECT rows.request_id, l.attempt, rows.team, l.deployment, l.model, l.tier, l.provider,
         l.input_tokens, l.output_tokens, l.cached_input_tokens, l.cache_creation_input_tokens,
         l.reasoning_tokens, l.cost_usd, coalesce(l.usage_estimated, false)
  FROM rows
  JOIN ins ON ins.team = rows.team AND ins.request_id = rows.request_id
  CROSS JOIN LATERAL json_to_recordset(rows.ledger) AS l(
    attempt integer, deployment text, model text, tier text, provider text, input_tokens bigint,
    output_tokens bigint, cached_input_tokens bigint, cache_creation_input_tokens bigint,
    reasoning_tokens bigint, cost_usd numeric, usage_estimated boolean)
),
settled AS (
  -- A budget reservation is settled by the statement that makes its request terminal: once.
  DELETE FROM budget_reservations b USING ins
  WHERE b.team = ins.team AND b.request_id = ins.request_id
  RETURNING b.request_id, b.team, b.period_start, b.amount_usd
),
budget AS (
  UPDATE budget_periods p
  SET reserved_usd = p.reserved_usd - s.reserved, spent_usd = p.spent_usd + s.spent
  FROM (SELECT settled.team, settled.period_start, sum(settled.amount_usd) AS reserved,
               sum(rows.cost_usd) AS spent
        FROM settled
        JOIN rows ON rows.team = settled.team AND rows.request_id = settled.request_id
        GROUP BY settled.team, settled.period_start) s
  WHERE p.team = s.team AND p.period_start = s.period_start
)
SELECT rows.team, rows.request_id,
       ins.request_id IS NOT NULL AS inserted,
       CASE WHEN ins.request_id IS NULL
            THEN (SELECT q.result::text FROM requests q
                  WHERE q.team = rows.team AND q.request_id = rows.request_id)
       END AS stored
FROM rows LEFT JOIN ins ON ins.team = rows.team AND ins.request_id = rows.request_id
)SQL";

// Live workers of the group (this one included) and this worker's ordinal among them (by id).
constexpr const char* kHeartbeatSql = R"SQL(
WITH beat AS (
  INSERT INTO worker_heartbeats (worker_id, group_id) VALUES ($1, $2)
  ON CONFLICT (worker_id) DO UPDATE SET seen_at = now(), group_id = EXCLUDED.group_id
)
SELECT 1 + count(*), count(*) FILTER (WHERE worker_id < $1) FROM worker_heartbeats
WHERE group_id = $2 AND worker_id <> $1 AND seen_at > now() - $3::int * interval '1 millisecond'
)SQL";

// Rows carry the item's 0-based position (migration 0008).
constexpr const char* kReserveBudgetSql =
    "SELECT ord, verdict, committed_usd::text FROM switchyard_reserve_budget($1::json)";

// A join against the unnested ids, not `request_id = ANY($1)`: with a large array the planner
// estimates ANY() as a big share of the table and picks a sequential scan that grows with the
// table (73 ms for 5,000 ids over 84k rows); unnest() is estimated at 100 rows, so this stays a
// nested loop over the primary key (team, request_id) whatever the batch size. ord is 1-based.
constexpr const char* kFindTerminalSql =
    "SELECT k.ord, r.result::text "
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(team, id, ord) "
    "JOIN requests r ON r.team = k.team AND r.request_id = k.id";

// The single "current" row of reference_prices (migration 0005).
constexpr const char* kSetReferencePriceSql = R"SQL(
INSERT INTO reference_prices (name, input_cost_per_token, output_cost_per_token,
                              cached_input_cost_per_token, cache_creation_input_cost_per_token,
                              reasoning_cost_per_token)
VALUES ($1, $2::numeric, $3::numeric, $4::numeric, $5::numeric, $6::numeric)
ON CONFLICT (is_current) DO UPDATE SET
  name = EXCLUDED.name, input_cost_per_token = EXCLUDED.input_cost_per_token,
  output_cost_per_token = EXCLUDED.output_cost_per_token,
  cached_input_cost_per_token = EXCLUDED.cached_input_cost_per_token,
  cache_creation_input_cost_per_token = EXCLUDED.cache_creation_input_cost_per_token,
  reasoning_cost_per_token = EXCLUDED.reasoning_cost_per_token, updated_at = now()
)SQL";

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// One element of a Postgres array literal, always quoted: `"` and `\` are backslash-escaped.
void append_array_element(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void put(JsonWriter& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void put_nullable(JsonWriter& w, const char* key, std::string_view value) {
  w.Key(key);
  if (value.empty()) {
    w.Null();
  } else {
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
}

void put_money(JsonWriter& w, const char* key, Picodollars amount) {
  std::string text = format_usd(amount);
  w.Key(key);
  w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
}

// Postgres text cannot hold NUL; the verbatim result JSON keeps it escaped, columns drop it.
std::string without_nul(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

void write_record(JsonWriter& w, const TerminalRecord& rec) {
  const ResultEvent& r = *rec.result;
  w.StartObject();
  put(w, "request_id", r.request_id);
  put(w, "team", r.team);
  put(w, "status", r.ok() ? "ok" : "error");
  put_nullable(w, "error_code", to_string(r.error));
  put_nullable(w, "error_message", without_nul(r.error_message));
  put_nullable(w, "priority_class", r.route.priority_class);
  put_nullable(w, "tier", r.route.tier);
  put_nullable(w, "deployment", r.route.deployment);
  put_nullable(w, "model", r.route.model);
  put_nullable(w, "provider", r.route.provider);
  put_nullable(w, "route_reason", without_nul(r.route.reason));
  write_usage_fields(w, r.usage);
  put_money(w, "cost_usd", r.cost);
  w.Key("attempts");
  w.Int(r.attempts);
  write_timing_fields(w, r);
  put_nullable(w, "source_topic", rec.source_topic);
  w.Key("source_partition");
  w.Int(rec.source_partition);
  w.Key("source_offset");
  w.Int64(rec.source_offset);
  w.Key("result");
  w.RawValue(rec.result_json.data(), rec.result_json.size(), rapidjson::kObjectType);
  w.Key("ledger");
  w.StartArray();
  for (const auto& l : rec.ledger) {
    w.StartObject();
    w.Key("attempt");
    w.Int(l.attempt);
    put(w, "deployment", l.deployment);
    put(w, "model", l.model);
    put(w, "tier", l.tier);
    put(w, "provider", l.provider);
    write_usage_fields(w, l.usage);
    put_money(w, "cost_usd", l.cost);
    w.Key("usage_estimated");
    w.Bool(l.usage_estimated);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

class PostgresStore final : public RequestStore {
 public:
  explicit PostgresStore(std::string url) : url_(std::move(url)) {}

  bool find_terminal(std::span<const RequestKey> keys, std::vector<std::string>& stored,
                     std::string& error) override {
    stored.assign(keys.size(), std::string());
    if (keys.empty()) return true;
    teams_array_.assign(1, '{');
    ids_array_.assign(1, '{');
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i) {
        teams_array_ += ',';
        ids_array_ += ',';
      }
      append_array_element(teams_array_, keys[i].team);
      append_array_element(ids_array_, keys[i].request_id);
    }
    teams_array_ += '}';
    ids_array_ += '}';
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      pqxx::result rows = tx.exec_prepared("find_terminal", teams_array_, ids_array_);
      for (const auto& row : rows) {
        const auto ord = row[0].as<std::int64_t>();
        if (ord >= 1 && static_cast<std::size_t>(ord) <= keys.size())
          stored[static_cast<std::size_t>(ord - 1)] = row[1].c_str();
      }
    });
  }

  bool heartbeat(std::string_view worker_id, std::string_view group_id, int live_within_ms,
                 bool leaving, int& live_workers, int& ordinal, std::string& error) override {
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      if (leaving) {
        tx.exec_params("DELETE FROM worker_heartbeats WHERE worker_id = $1",
                       std::string(worker_id));
        live_workers = 0;
        ordinal = 0;
      } else {
        pqxx::result r = tx.exec_prepared("heartbeat", std::string(worker_id),
                                          std::string(group_id), live_within_ms);
        live_workers = r[0][0].as<int>();
        ordinal = r[0][1].as<int>();
      }
      tx.commit();
    });
  }

  bool reserve_budgets(const std::vector<BudgetRequest>& requests,
                       std::vector<BudgetAnswer>& answers, std::string& error) override {
    answers.assign(requests.size(), BudgetAnswer{});
    if (requests.empty()) return true;
    buffer_.Clear();
    JsonWriter w(buffer_);
    w.StartArray();
    for (const auto& r : requests) {
      w.StartObject();
      put(w, "request_id", r.request_id);
      put(w, "team", r.team);
      put_money(w, "amount", r.worst_case_cost);
      put_money(w, "budget", r.budget);
      put(w, "period_kind", r.period_kind);
      put(w, "worker_id", r.worker_id);
      w.EndObject();
    }
    w.EndArray();
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      pqxx::result rows = tx.exec_prepared("reserve_budget", buffer_.GetString());
      tx.commit();
      for (const auto& row : rows) {
        const auto ord = row[0].as<std::int64_t>();
        if (ord < 0 || static_cast<std::size_t>(ord) >= requests.size()) continue;
        std::string_view verdict = row[1].c_str();
        BudgetAnswer& answer = answers[static_cast<std::size_t>(ord)];
        answer.verdict = verdict == "reserved"  ? BudgetVerdict::kReserved
                         : verdict == "already" ? BudgetVerdict::kAlreadyReserved
                                                : BudgetVerdict::kExceeded;
        if (!row[2].is_null()) answer.committed = parse_usd(row[2].c_str()).value_or(0);
      }
    });
  }

  bool reclaim_reservations(std::int64_t older_than_ms, std::int64_t live_within_ms,
                            std::vector<ReclaimedReservations>& released,
                            std::string& error) override {
    released.clear();
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      pqxx::result rows = tx.exec_params(
          "SELECT team, period_start::text, reclaimed, amount_usd::text "
          "FROM switchyard_reclaim_reservations($1, $2)",
          older_than_ms, live_within_ms);
      tx.commit();
      for (const auto& row : rows) {
        released.push_back({row[0].c_str(), row[1].c_str(), row[2].as<std::int64_t>(),
                            parse_usd(row[3].c_str()).value_or(0)});
      }
    });
  }

  bool set_reference_price(std::string_view name, const ModelPrice& price,
                           std::string& error) override {
    auto usd = [](const std::optional<Picodollars>& p) {
      return p ? std::optional<std::string>(format_usd(*p)) : std::nullopt;
    };
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      tx.exec_params(kSetReferencePriceSql, std::string(name), format_usd(price.input_per_token),
                     format_usd(price.output_per_token), usd(price.cached_input_per_token),
                     usd(price.cache_creation_per_token), usd(price.reasoning_per_token));
      tx.commit();
    });
  }

  bool ensure_ledger_partitions(int months_ahead, int& created, std::string& error) override {
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      created = tx.exec_params("SELECT switchyard_ensure_ledger_partitions($1)", months_ahead)[0][0]
                    .as<int>();
      tx.commit();
    });
  }

  bool write_terminal(const std::vector<TerminalRecord>& records,
                      std::vector<WriteOutcome>& outcomes, std::string& error) override {
    outcomes.assign(records.size(), WriteOutcome{});
    if (records.empty()) return true;
    buffer_.Clear();
    JsonWriter writer(buffer_);
    writer.StartArray();
    for (const auto& rec : records) write_record(writer, rec);
    writer.EndArray();
    std::unordered_map<RequestKey, std::size_t, RequestKeyHash> index;
    index.reserve(records.size());
    for (std::size_t i = 0; i < records.size(); ++i)
      index.emplace(RequestKey{records[i].result->team, records[i].result->request_id}, i);
    return with_connection(error, [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      pqxx::result rows = tx.exec_prepared("write_batch", buffer_.GetString());
      tx.commit();
      for (const auto& row : rows) {
        auto it = index.find(RequestKey{row[0].c_str(), row[1].c_str()});
        if (it == index.end()) continue;
        WriteOutcome& out = outcomes[it->second];
        out.inserted = row[2].as<bool>();
        if (!out.inserted && !row[3].is_null()) out.stored_result_json = row[3].c_str();
      }
    });
  }

 public:
  bool last_failure_rejected_data() const override { return rejected_data_; }

 private:
  template <typename Fn>
  bool with_connection(std::string& error, Fn&& fn) {
    rejected_data_ = false;
    try {
      if (!conn_ || !conn_->is_open()) {
        conn_.reset();
        auto conn = std::make_unique<pqxx::connection>(url_);
        conn->prepare("write_batch", kWriteBatchSql);
        conn->prepare("find_terminal", kFindTerminalSql);
        conn->prepare("reserve_budget", kReserveBudgetSql);
        conn->prepare("heartbeat", kHeartbeatSql);
        conn_ = std::move(conn);
      }
      fn(*conn_);
      return true;
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      error = std::string("postgres unreachable: ") + e.what();
    } catch (const pqxx::in_doubt_error& e) {
      // The commit may or may not have happened; the retry is idempotent either way.
      conn_.reset();
      error = std::string("postgres commit in doubt: ") + e.what();
    } catch (const pqxx::sql_error& e) {
      error = std::string("postgres rejected the statement: ") + e.what();
      const std::string& state = e.sqlstate();
      rejected_data_ = state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0;
      if (conn_ && !conn_->is_open()) conn_.reset();
    } catch (const std::exception& e) {
      conn_.reset();
      error = std::string("postgres error: ") + e.what();
    }
    // libpq messages may echo the connection string's host but never its password.
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    return false;
  }

  bool rejected_data_ = false;  // of the last failed call (SQLSTATE class 22 or 23)
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  rapidjson::StringBuffer buffer_;  // reused across batches
  std::string teams_array_, ids_array_;
};

}  // namespace

std::unique_ptr<RequestStore> make_postgres_store(std::string url) {
  return std::make_unique<PostgresStore>(std::move(url));
}

}  // namespace switchyard
