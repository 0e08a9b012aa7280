// The built-in dashboard: a refresh thread reads the spend views into a JSON snapshot; the admin
// server's handlers only copy a shared_ptr to it. See dashboard.h for the snapshot's shape.
#include "switchyard/app/dashboard.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string_view>
#include <utility>

#include "switchyard/common/log.h"
#include "switchyard/common/metrics.h"

namespace switchyard {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view kRefreshErrors = "switchyard_dashboard_refresh_errors_total";

spdlog::logger& dashboard_logger() {
  static const std::shared_ptr<spdlog::logger> logger = named_logger("dashboard");
  return *logger;
}

std::string rfc3339_utc_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

// Postgres' text for a number (NUMERIC, bigint) is a valid JSON number, except NaN and
// +-Infinity, which NUMERIC can hold since Postgres 14: those become null.
bool is_json_number(std::string_view text) {
  if (text.empty()) return false;
  std::size_t i = text[0] == '-' ? 1 : 0;
  if (i >= text.size() || text[i] < '0' || text[i] > '9') return false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return false;
    }
  }
  return true;
}

// Money stays exact on the wire: the NUMERIC's digits are written as they are.
void write_number(JsonWriter& w, const pqxx::field& f) {
  std::string_view text = f.is_null() ? std::string_view() : std::string_view(f.c_str());
  if (is_json_number(text)) {
    w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
  } else {
    w.Null();
  }
}

void write_string(JsonWriter& w, const pqxx::field& f) {
  if (f.is_null()) {
    w.Null();
  } else {
    w.String(f.c_str(), static_cast<rapidjson::SizeType>(f.size()));
  }
}

enum class Kind { text, number };
struct Column {
  const char* name;
  Kind kind;
};

void write_row(JsonWriter& w, const pqxx::row& row, std::initializer_list<Column> columns) {
  w.StartObject();
  pqxx::row::size_type i = 0;
  for (const Column& c : columns) {
    w.Key(c.name);
    if (c.kind == Kind::number) {
      write_number(w, row[i]);
    } else {
      write_string(w, row[i]);
    }
    ++i;
  }
  w.EndObject();
}

// Rows of `rows` as objects of `columns` (in the query's column order); with `grand_total`, a
// ROLLUP's total row (first column NULL) is left out.
void write_rows(JsonWriter& w, const pqxx::result& rows, std::initializer_list<Column> columns,
                bool skip_grand_total = false) {
  w.StartArray();
  for (const auto& row : rows) {
    if (skip_grand_total && row[0].is_null()) continue;
    write_row(w, row, columns);
  }
  w.EndArray();
}

// A ROLLUP's grand-total row: the one whose first column is NULL.
std::optional<pqxx::row> grand_total(const pqxx::result& rows) {
  for (const auto& row : rows) {
    if (row[0].is_null()) return row;
  }
  return std::nullopt;
}

void write_total(JsonWriter& w, const char* key, const std::optional<pqxx::row>& total,
                 pqxx::row::size_type column) {
  w.Key(key);
  if (total) {
    write_number(w, (*total)[column]);
  } else {
    w.Int(0);
  }
}

// The window every section reads: [from, to], UTC days, today included.
struct Window {
  std::string from;
  std::string to;
};

// ---- sections: each reads its views and writes one JSON value --------------------------------

void read_spend(pqxx::transaction_base& tx, const Window& win, JsonWriter& w) {
  pqxx::result by_team = tx.exec_params(
      "SELECT team, coalesce(sum(requests), 0)::bigint, coalesce(sum(cost_usd), 0) "
      "FROM team_spend_daily WHERE day BETWEEN $1::date AND $2::date "
      "GROUP BY ROLLUP (team) ORDER BY grouping(team), sum(cost_usd) DESC, team",
      win.from, win.to);
  pqxx::result daily = tx.exec_params(
      "SELECT day::text, team, requests::bigint, cost_usd FROM team_spend_daily "
      "WHERE day BETWEEN $1::date AND $2::date ORDER BY day, team",
      win.from, win.to);
  auto total = grand_total(by_team);
  w.StartObject();
  write_total(w, "total_usd", total, 2);
  write_total(w, "requests", total, 1);
  w.Key("by_team");
  write_rows(w, by_team,
             {{"team", Kind::text}, {"requests", Kind::number}, {"cost_usd", Kind::number}}, true);
  w.Key("daily");
  write_rows(w, daily,
             {{"day", Kind::text},
              {"team", Kind::text},
              {"requests", Kind::number},
              {"cost_usd", Kind::number}});
  w.EndObject();
}

void read_budgets(pqxx::transaction_base& tx, const Window& win, JsonWriter& w) {
  // Each team's latest period; `current` says whether it is the period containing today (a team
  // whose budget saw no request yet this period still shows its last one, marked as past).
  pqxx::result rows = tx.exec_params(
      "SELECT DISTINCT ON (team) team, period_kind, period::text, budget_usd, spent_usd, "
      "       reserved_usd, remaining_usd, "
      "       period = CASE period_kind WHEN 'day' THEN $1::date "
      "                                 WHEN 'week' THEN date_trunc('week', $1::date)::date "
      "                                 ELSE date_trunc('month', $1::date)::date END "
      "FROM team_budget_status ORDER BY team, period DESC",
      win.to);
  w.StartArray();
  for (const auto& row : rows) {
    w.StartObject();
    w.Key("team");
    write_string(w, row[0]);
    w.Key("period_kind");
    write_string(w, row[1]);
    w.Key("period");
    write_string(w, row[2]);
    w.Key("budget_usd");
    write_number(w, row[3]);
    w.Key("spent_usd");
    write_number(w, row[4]);
    w.Key("reserved_usd");
    write_number(w, row[5]);
    w.Key("remaining_usd");
    write_number(w, row[6]);
    w.Key("current");
    w.Bool(!row[7].is_null() && row[7].as<bool>());
    w.EndObject();
  }
  w.EndArray();
}

void read_tier_mix(pqxx::transaction_base& tx, const Window& win, JsonWriter& w) {
  pqxx::result by_tier = tx.exec_params(
      "SELECT tier, sum(requests)::bigint, sum(cost_usd), "
      "       round(sum(requests) / nullif(sum(sum(requests)) OVER (), 0), 6), "
      "       round(sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0), 6) "
      "FROM tier_mix_daily WHERE day BETWEEN $1::date AND $2::date "
      "GROUP BY tier ORDER BY tier",
      win.from, win.to);
  pqxx::result daily = tx.exec_params(
      "SELECT day::text, tier, requests::bigint, cost_usd, round(request_share, 6), "
      "       round(cost_share, 6) "
      "FROM tier_mix_daily WHERE day BETWEEN $1::date AND $2::date ORDER BY day, tier",
      win.from, win.to);
  w.StartObject();
  w.Key("by_tier");
  write_rows(w, by_tier,
             {{"tier", Kind::text},
              {"requests", Kind::number},
              {"cost_usd", Kind::number},
              {"request_share", Kind::number},
              {"cost_share", Kind::number}});
  w.Key("daily");
  write_rows(w, daily,
             {{"day", Kind::text},
              {"tier", Kind::text},
              {"requests", Kind::number},
              {"cost_usd", Kind::number},
              {"request_share", Kind::number},
              {"cost_share", Kind::number}});
  w.EndObject();
}

void read_savings(pqxx::transaction_base& tx, const Window& win, JsonWriter& w) {
  // reference_cost_usd and saved_usd are NULL while no reference price is set: they stay null.
  pqxx::result by_team = tx.exec_params(
      "SELECT team, coalesce(sum(actual_cost_usd), 0), sum(reference_cost_usd), sum(saved_usd), "
      "       min(reference_model) "
      "FROM team_savings_daily WHERE day BETWEEN $1::date AND $2::date "
      "GROUP BY ROLLUP (team) ORDER BY grouping(team), sum(saved_usd) DESC NULLS LAST, team",
      win.from, win.to);
  pqxx::result daily = tx.exec_params(
      "SELECT day::text, sum(actual_cost_usd), sum(reference_cost_usd), sum(saved_usd) "
      "FROM team_savings_daily WHERE day BETWEEN $1::date AND $2::date "
      "GROUP BY day ORDER BY day",
      win.from, win.to);
  auto total = grand_total(by_team);
  w.StartObject();
  w.Key("reference_model");
  if (total) {
    write_string(w, (*total)[4]);
  } else {
    w.Null();
  }
  write_total(w, "actual_usd", total, 1);
  write_total(w, "reference_usd", total, 2);
  write_total(w, "saved_usd", total, 3);
  w.Key("by_team");
  write_rows(w, by_team,
             {{"team", Kind::text},
              {"actual_usd", Kind::number},
              {"reference_usd", Kind::number},
              {"saved_usd", Kind::number}},
             true);
  w.Key("daily");
  write_rows(w, daily,
             {{"day", Kind::text},
              {"actual_usd", Kind::number},
              {"reference_usd", Kind::number},
              {"saved_usd", Kind::number}});
  w.EndObject();
}

struct Section {
  const char* name;
  void (*read)(pqxx::transaction_base&, const Window&, JsonWriter&);
  const char* empty;  // its JSON before it was ever read
};

constexpr Section kSections[] = {
    {"spend", read_spend, R"({"total_usd":0,"requests":0,"by_team":[],"daily":[]})"},
    {"budgets", read_budgets, "[]"},
    {"tier_mix", read_tier_mix, R"({"by_tier":[],"daily":[]})"},
    {"savings", read_savings,
     R"({"reference_model":null,"actual_usd":0,"reference_usd":null,"saved_usd":null,)"
     R"("by_team":[],"daily":[]})"},
};

std::string trim_message(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  return message;
}

// A Postgres that does not answer (a dropped route, not a refused connection) would hold the
// refresh thread, and stop(), for the kernel's TCP timeout: bound the connect unless the URL says.
constexpr int kConnectTimeoutSeconds = 5;

std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  std::string setting = "connect_timeout=" + std::to_string(kConnectTimeoutSeconds);
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + setting;
  }
  return url + (url.empty() ? "" : " ") + setting;  // keyword=value form
}

// Out-of-range values would make an empty window or a busy loop: clamp them.
DashboardOptions sanitized(DashboardOptions options) {
  options.days = std::clamp(options.days, 1, 3660);
  options.refresh_interval_ms = std::max(options.refresh_interval_ms, 100);
  options.statement_timeout_ms = std::max(options.statement_timeout_ms, 0);  // 0: none
  while (options.path_prefix.size() > 1 && options.path_prefix.ends_with('/')) {
    options.path_prefix.pop_back();
  }
  return options;
}

AdminResponse with_no_store(AdminResponse response) {
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace

// Touched only under refresh_mutex_.
struct Dashboard::State {
  std::unique_ptr<pqxx::connection> connection;
  std::map<std::string, std::string, std::less<>> sections;  // name -> last good JSON value
  std::string window_from;                                   // of the last good window
  std::string window_to;
  std::string generated_at;  // last attempt; "" before the first
  std::string data_as_of;    // last attempt that read every section
  std::string error;         // the last attempt's first error ("" when it read everything)
  std::map<std::string, std::string, std::less<>> section_errors;
};

Dashboard::Dashboard(DashboardOptions options, MetricsRegistry* metrics)
    : options_(sanitized(std::move(options))), state_(std::make_unique<State>()) {
  if (metrics) {
    metrics->describe_counter(kRefreshErrors,
                              "Dashboard snapshot refreshes that could not read every view.");
    refresh_errors_ = &metrics->counter(kRefreshErrors);
  }
  for (const Section& s : kSections) state_->sections.emplace(s.name, s.empty);
  // The placeholder: the page shows "waiting for the first refresh".
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  w.Key("generated_at");
  w.Null();
  w.Key("data_as_of");
  w.Null();
  w.Key("error");
  w.Null();
  w.Key("days");
  w.Int(options_.days);
  for (const Section& s : kSections) {
    w.Key(s.name);
    w.RawValue(s.empty, std::char_traits<char>::length(s.empty), rapidjson::kObjectType);
  }
  w.EndObject();
  snapshot_ = std::make_shared<const std::string>(out.GetString(), out.GetSize());
}

Dashboard::~Dashboard() {
  stop();
}

void Dashboard::start() {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Dashboard::stop() {
  std::thread thread;
  {
    std::lock_guard lock(thread_mutex_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

void Dashboard::run() {
  std::unique_lock lock(thread_mutex_);
  while (!stopping_) {
    lock.unlock();
    refresh_now();
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(options_.refresh_interval_ms),
                   [this] { return stopping_; });
  }
}

bool Dashboard::refresh_now() {
  std::lock_guard lock(refresh_mutex_);
  State& st = *state_;
  std::string previous_error = st.error;
  st.generated_at = rfc3339_utc_now();
  st.error.clear();
  st.section_errors.clear();

  auto fail = [&](const std::string& where, const std::string& message) {
    std::string text = trim_message(message);
    if (st.error.empty()) st.error = where.empty() ? text : where + ": " + text;
    if (!where.empty()) st.section_errors[where] = text;
  };

  // Connect and fix the window. Without these no section can be read.
  Window window;
  try {
    if (!st.connection || !st.connection->is_open()) {
      st.connection.reset();
      auto conn = std::make_unique<pqxx::connection>(with_connect_timeout(options_.postgres_url));
      pqxx::nontransaction setup(*conn);
      setup.exec("SET statement_timeout = " + std::to_string(options_.statement_timeout_ms));
      // The dashboard only reads; a read-only session makes that a property, not a habit.
      setup.exec("SET default_transaction_read_only = on");
      setup.commit();
      st.connection = std::move(conn);
    }
    pqxx::nontransaction tx(*st.connection);
    pqxx::row r = tx.exec_params1(
        "SELECT ((now() AT TIME ZONE 'UTC')::date - ($1::int - 1))::text, "
        "       ((now() AT TIME ZONE 'UTC')::date)::text",
        options_.days);
    window.from = r[0].c_str();
    window.to = r[1].c_str();
  } catch (const pqxx::broken_connection& e) {
    st.connection.reset();
    fail("", std::string("postgres unreachable: ") + e.what());
  } catch (const std::exception& e) {
    if (st.connection && !st.connection->is_open()) st.connection.reset();
    fail("", std::string("postgres error: ") + e.what());
  }

  if (st.error.empty()) {
    st.window_from = window.from;
    st.window_to = window.to;
    for (const Section& s : kSections) {
      try {
        // One read-only transaction per section: a failed statement aborts only its own.
        pqxx::read_transaction tx(*st.connection);
        rapidjson::StringBuffer out;
        JsonWriter w(out);
        s.read(tx, window, w);
        tx.commit();
        st.sections[s.name].assign(out.GetString(), out.GetSize());
      } catch (const pqxx::broken_connection& e) {
        st.connection.reset();
        fail(s.name, std::string("postgres unreachable: ") + e.what());
        break;  // the rest would fail the same way
      } catch (const std::exception& e) {
        fail(s.name, e.what());
        if (st.connection && !st.connection->is_open()) {
          st.connection.reset();
          break;
        }
      }
    }
  }
  if (st.error.empty()) st.data_as_of = st.generated_at;

  if (st.error != previous_error) {
    if (!st.error.empty()) {
      dashboard_logger().warn("dashboard refresh failed, serving the last good data: {}", st.error);
    } else if (!previous_error.empty()) {
      dashboard_logger().info("dashboard refresh reads every view again");
    }
  }
  if (!st.error.empty() && refresh_errors_) refresh_errors_->inc();

  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  w.Key("generated_at");
  w.String(st.generated_at);
  w.Key("data_as_of");
  if (st.data_as_of.empty()) {
    w.Null();
  } else {
    w.String(st.data_as_of);
  }
  w.Key("error");
  if (st.error.empty()) {
    w.Null();
  } else {
    w.String(st.error);
  }
  w.Key("days");
  w.Int(options_.days);
  w.Key("from");
  if (st.window_from.empty()) {
    w.Null();
  } else {
    w.String(st.window_from);
  }
  w.Key("to");
  if (st.window_to.empty()) {
    w.Null();
  } else {
    w.String(st.window_to);
  }
  for (const Section& s : kSections) {
    const std::string& json = st.sections[s.name];
    w.Key(s.name);
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  }
  w.Key("section_errors");
  w.StartObject();
  for (const auto& [name, message] : st.section_errors) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.String(message);
  }
  w.EndObject();
  w.EndObject();
  auto snapshot = std::make_shared<const std::string>(out.GetString(), out.GetSize());
  {
    std::lock_guard snapshot_lock(snapshot_mutex_);
    snapshot_ = std::move(snapshot);
  }
  return st.error.empty();
}

std::shared_ptr<const std::string> Dashboard::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

AdminResponse Dashboard::handle(const AdminRequest& request) const {
  std::string_view rest = std::string_view(request.path)
                              .substr(std::min(request.path.size(), options_.path_prefix.size()));
  bool page = rest.empty() || rest == "/";
  bool data = rest == "/data.json";
  if (!page && !data) return AdminResponse::text(404, "not found\n");
  if (request.method != "GET") {
    AdminResponse r = AdminResponse::text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (data) return with_no_store(AdminResponse::json(200, *snapshot()));
  AdminResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body.assign(dashboard_page_html());
  // The page is self-contained: nothing but its own inline script and style, and data.json.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; "
                         "style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return with_no_store(std::move(r));
}

void Dashboard::register_with(AdminServer& admin) {
  admin.register_handler(options_.path_prefix,
                         [this](const AdminRequest& request) { return handle(request); });
}

}  // namespace switchyard
