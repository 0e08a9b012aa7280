#pragma once
// The built-in spend dashboard, served by the admin HTTP server for teams without Grafana:
//
//   GET /dashboard            one self-contained HTML page (no external resources) whose script
//                             fetches data.json and draws the charts as inline SVG
//   GET /dashboard/data.json  the cached snapshot (application/json, see below)
//
// The snapshot is read from the same Postgres views as Grafana and `switchyard spend`
// (team_spend_daily, team_budget_status, tier_mix_daily, team_savings_daily) by a thread of the
// Dashboard's own, on its own connection: the admin server's handlers run on its io thread and
// must never wait for Postgres, so they only hand out the last snapshot.
//
// Snapshot (money is the views' exact NUMERIC text written as JSON numbers, days are UTC):
//   {"generated_at": "2025-01-31T12:00:00.123Z",   // last refresh attempt (null before the first)
//    "data_as_of":   "2025-01-31T12:00:00.123Z",   // last refresh that read every section
//    "error": null | "postgres unreachable: ...",  // the last attempt's first error
//    "days": 30, "from": "2025-01-02", "to": "2025-01-31",
//    "spend": {"total_usd": 12.5, "requests": 40,
//              "by_team": [{"team", "cost_usd", "requests"}],          // the window's totals
//              "daily": [{"day", "team", "cost_usd", "requests"}]},
//    "budgets": [{"team", "period_kind", "period", "budget_usd", "spent_usd", "reserved_usd",
//                 "remaining_usd"}],                                   // each team's latest period
//    "tier_mix": {"by_tier": [{"tier", "requests", "cost_usd", "request_share", "cost_share"}],
//                 "daily": [{"day", "tier", "requests", "cost_usd", "request_share",
//                            "cost_share"}]},
//    "savings": {"reference_model", "actual_usd", "reference_usd", "saved_usd",
//                "by_team": [{"team", "actual_usd", "reference_usd", "saved_usd"}],
//                "daily": [{"day", "actual_usd", "reference_usd", "saved_usd"}]},
//               // reference_model, reference_usd and saved_usd are null while no reference
//               // price is set (reference_prices, from the worker's reporting.reference_model)
//    "section_errors": {"savings": "..."}}          // sections that failed keep their last data
//
// Degraded Postgres. A refresh that fails keeps the previous data of each failed section and
// sets "error" (logged once per change, counted in switchyard_dashboard_refresh_errors_total
// when a registry is given); the page shows the error above the last good charts. The
// connection is re-opened on the next refresh.
//
// Lifecycle and threads:
//   Dashboard dashboard({.postgres_url = config.postgres_url()}, &registry);
//   dashboard.register_with(admin);   // before or after admin.start(); handlers are thread-safe
//   dashboard.start();                // refreshes at once, then every refresh_interval_ms
//   ...
//   admin.stop();                     // first: no handler may run once the Dashboard is gone
//   dashboard.stop();                 // or the destructor; joins the refresh thread
// refresh_now() reads Postgres on the calling thread (tests, a CLI); it is serialised with the
// refresh thread. Every other member may be called from any thread.
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "switchyard/app/admin_server.h"

namespace switchyard {

class Counter;
class MetricsRegistry;

struct DashboardOptions {
  std::string postgres_url;          // libpq connection string or URI (a read-only role will do)
  int days = 30;                     // the window: today (UTC) and the days before it; 1..3660
  int refresh_interval_ms = 5000;    // how often the snapshot is re-read; at least 100
  int statement_timeout_ms = 10000;  // per query, so a stuck query cannot stall refreshes
  std::string path_prefix = "/dashboard";
};

// The page (generated from src/app/dashboard_page.html at build time).
std::string_view dashboard_page_html();

class Dashboard {
 public:
  // `metrics` (optional) must outlive the Dashboard; a refresh-error counter is declared in it.
  explicit Dashboard(DashboardOptions options, MetricsRegistry* metrics = nullptr);
  ~Dashboard();  // stop()
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Starts the refresh thread, which reads the views at once and then every
  // refresh_interval_ms. Idempotent.
  void start();
  // Stops and joins the refresh thread (an in-progress query finishes first, bounded by
  // statement_timeout_ms). Idempotent; start() may be called again.
  void stop();

  // One refresh on the calling thread. Returns whether every section was read.
  bool refresh_now();

  // The current snapshot's JSON (a placeholder with "generated_at": null before the first
  // refresh).
  std::shared_ptr<const std::string> snapshot() const;

  // Serves GET <path_prefix> (and <path_prefix>/) with the page and <path_prefix>/data.json
  // with the snapshot; other paths below the prefix are 404, other methods 405.
  AdminResponse handle(const AdminRequest& request) const;
  // admin.register_handler(path_prefix, ...) with handle(). The Dashboard must outlive the
  // server's running (stop the server first).
  void register_with(AdminServer& admin);

 private:
  struct State;  // the connection and the last good data of each section (refreshing thread)

  void run();

  const DashboardOptions options_;
  Counter* refresh_errors_ = nullptr;

  std::mutex refresh_mutex_;  // one refresh at a time; guards state_
  std::unique_ptr<State> state_;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const std::string> snapshot_;

  std::mutex thread_mutex_;  // guards stopping_ and the wake-up
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: joined before the members above go
};

}  // namespace switchyard
