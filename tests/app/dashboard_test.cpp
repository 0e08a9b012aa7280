// The built-in dashboard against a seeded database: the snapshot's figures, Postgres going away,
// the routes, and the page rendered by headless Chromium (Debian's chromium package), checked in
// its DOM and in a screenshot.
#include "switchyard/app/dashboard.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/pg.h"
#include "switchyard/app/admin_server.h"
#include "switchyard/common/metrics.h"

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using testing::fresh_database;

// Three teams over the three UTC days before today (noon, so no day boundary is near), on three
// tiers. Spend per team: alpha 4.50, beta 3.25, gamma 0.50; total 8.25 (hand-computed from the
// rows below). Budgets: alpha 20.00 a month (4.50 spent, 1.25 reserved), beta 5.00 a day.
// Reference "big-model" at 0.001 per input and 0.005 per output token: every request (1000 in,
// 200 out) would have cost 2.00 on it, so 7 requests 14.00 and routing saved 14.00 - 8.25 = 5.75.
const char* kSeedSql = R"sql(
CREATE TEMP TABLE seed (request_id text, team text, days_ago int, tier text, deployment text,
                        model text, cost numeric);
INSERT INTO seed VALUES
  ('a-1', 'team-alpha', 3, 'economy',  'mini-a',   'gpt-4o-mini', 1.25),
  ('a-2', 'team-alpha', 2, 'standard', 'gpt4o-a',  'gpt-4o',      2.00),
  ('a-3', 'team-alpha', 2, 'economy',  'mini-a',   'gpt-4o-mini', 0.50),
  ('a-4', 'team-alpha', 1, 'economy',  'mini-a',   'gpt-4o-mini', 0.75),
  ('b-1', 'team-beta',  2, 'premium',  'sonnet-a', 'claude-sonnet', 2.25),
  ('b-2', 'team-beta',  1, 'standard', 'gpt4o-a',  'gpt-4o',      1.00),
  ('g-1', 'team-gamma', 1, 'economy',  'mini-a',   'gpt-4o-mini', 0.50);
INSERT INTO requests (request_id, team, status, priority_class, tier, deployment, model, provider,
                      input_tokens, output_tokens, cost_usd, attempts, provider_ms, total_ms,
                      result, finished_at)
SELECT request_id, team, 'ok', 'background', tier, deployment, model, 'openai', 1000, 200, cost, 1,
       300, 350, '{}'::json,
       (date_trunc('day', now() AT TIME ZONE 'UTC') - days_ago * interval '1 day'
        + interval '12 hours') AT TIME ZONE 'UTC'
FROM seed;
INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider,
                         input_tokens, output_tokens, cost_usd, created_at)
SELECT request_id, 1, team, deployment, model, tier, 'openai', 1000, 200, cost,
       (date_trunc('day', now() AT TIME ZONE 'UTC') - days_ago * interval '1 day'
        + interval '12 hours') AT TIME ZONE 'UTC'
FROM seed;
INSERT INTO budget_periods (team, period_kind, period_start, budget_usd, spent_usd, reserved_usd)
VALUES ('team-alpha', 'month', date_trunc('month', now() AT TIME ZONE 'UTC')::date, 20, 4.50, 1.25),
       ('team-beta', 'day', (now() AT TIME ZONE 'UTC')::date, 5, 1.00, 0);
INSERT INTO reference_prices (name, input_cost_per_token, output_cost_per_token)
VALUES ('big-model', 0.001, 0.005);
)sql";

void seed(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec(kSeedSql);
  tx.commit();
}

// Parses with numbers kept as their text, so money is compared digit for digit.
rapidjson::Document parse_exact(const std::string& json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseNumbersAsStringsFlag>(json.c_str());
  EXPECT_FALSE(d.HasParseError()) << json;
  return d;
}

std::string text_of(const rapidjson::Value& v) {
  if (v.IsString()) return v.GetString();
  if (v.IsNull()) return "null";
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  return "?";
}

const rapidjson::Value* find_by(const rapidjson::Value& array, const char* key,
                                const std::string& value) {
  for (const auto& item : array.GetArray()) {
    if (item.HasMember(key) && text_of(item[key]) == value) return &item;
  }
  return nullptr;
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    db_name_ = std::string("sy_dash_") + info->name();
    for (auto& c : db_name_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    db_name_ = db_name_.substr(0, 60);
    url_ = fresh_database(db_name_);
  }

  AdminServer& serve(Dashboard& dashboard) {
    AdminServerOptions options;
    options.port = 0;
    admin_ = std::make_unique<AdminServer>(options, registry_);
    dashboard.register_with(*admin_);
    admin_->start();
    return *admin_;
  }

  void drop_database() {
    pqxx::connection admin(testing::pg_server_url("postgres"));
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(db_name_) + " WITH (FORCE)");
  }

  std::string db_name_;
  std::string url_;
  MetricsRegistry registry_;
  std::unique_ptr<AdminServer> admin_;  // after the registry: stopped before it goes
};

TEST_F(DashboardTest, SnapshotCarriesTheViewsFiguresExactly) {
  seed(url_);
  Dashboard dashboard({.postgres_url = url_});
  ASSERT_TRUE(dashboard.refresh_now()) << *dashboard.snapshot();
  rapidjson::Document d = parse_exact(*dashboard.snapshot());
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_TRUE(d["generated_at"].IsString());
  EXPECT_EQ(text_of(d["generated_at"]), text_of(d["data_as_of"]));
  EXPECT_EQ(text_of(d["days"]), "30");
  EXPECT_TRUE(d["section_errors"].ObjectEmpty());

  const auto& spend = d["spend"];
  EXPECT_EQ(text_of(spend["total_usd"]), "8.250000000000");
  EXPECT_EQ(text_of(spend["requests"]), "7");
  ASSERT_EQ(spend["by_team"].Size(), 3u);
  EXPECT_EQ(text_of(spend["by_team"][0]["team"]), "team-alpha");  // largest first
  EXPECT_EQ(text_of(spend["by_team"][0]["cost_usd"]), "4.500000000000");
  EXPECT_EQ(text_of(spend["by_team"][1]["team"]), "team-beta");
  EXPECT_EQ(text_of(spend["by_team"][1]["cost_usd"]), "3.250000000000");
  EXPECT_EQ(text_of(spend["by_team"][2]["cost_usd"]), "0.500000000000");
  EXPECT_EQ(spend["daily"].Size(), 6u);  // (team, day) pairs with spend

  const auto& budgets = d["budgets"];
  ASSERT_EQ(budgets.Size(), 2u);
  const auto* alpha = find_by(budgets, "team", "team-alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(text_of((*alpha)["period_kind"]), "month");
  EXPECT_EQ(text_of((*alpha)["budget_usd"]), "20.000000000000");
  EXPECT_EQ(text_of((*alpha)["reserved_usd"]), "1.250000000000");
  EXPECT_EQ(text_of((*alpha)["remaining_usd"]), "14.250000000000");
  EXPECT_EQ(text_of((*alpha)["current"]), "true");

  const auto& tiers = d["tier_mix"]["by_tier"];
  ASSERT_EQ(tiers.Size(), 3u);
  const auto* economy = find_by(tiers, "tier", "economy");
  ASSERT_NE(economy, nullptr);
  EXPECT_EQ(text_of((*economy)["requests"]), "4");
  EXPECT_NEAR(std::stod(text_of((*economy)["request_share"])), 4.0 / 7.0, 1e-6);
  EXPECT_NEAR(std::stod(text_of((*economy)["cost_share"])), 3.0 / 8.25, 1e-6);

  const auto& savings = d["savings"];
  EXPECT_EQ(text_of(savings["reference_model"]), "big-model");
  EXPECT_EQ(text_of(savings["actual_usd"]), "8.250000000000");
  EXPECT_EQ(std::stod(text_of(savings["reference_usd"])), 14.0);
  EXPECT_EQ(std::stod(text_of(savings["saved_usd"])), 5.75);
  ASSERT_EQ(savings["by_team"].Size(), 3u);
  EXPECT_EQ(text_of(savings["by_team"][0]["team"]), "team-alpha");  // saved the most: 3.50
  EXPECT_EQ(std::stod(text_of(savings["by_team"][0]["saved_usd"])), 3.5);
  EXPECT_EQ(savings["daily"].Size(), 3u);
}

TEST_F(DashboardTest, PostgresGoingAwayKeepsTheLastGoodDataAndReportsTheError) {
  seed(url_);
  Dashboard dashboard({.postgres_url = url_}, &registry_);
  ASSERT_TRUE(dashboard.refresh_now()) << *dashboard.snapshot();
  std::string good_as_of = text_of(parse_exact(*dashboard.snapshot())["data_as_of"]);

  drop_database();  // ends the dashboard's session too; reconnecting fails
  EXPECT_FALSE(dashboard.refresh_now());
  rapidjson::Document d = parse_exact(*dashboard.snapshot());
  ASSERT_TRUE(d["error"].IsString());
  EXPECT_NE(std::string(d["error"].GetString()).find("postgres"), std::string::npos)
      << d["error"].GetString();
  EXPECT_EQ(text_of(d["data_as_of"]), good_as_of);
  EXPECT_NE(text_of(d["generated_at"]), good_as_of);
  EXPECT_EQ(text_of(d["spend"]["total_usd"]), "8.250000000000");  // the last good data
  EXPECT_EQ(d["budgets"].Size(), 2u);
  EXPECT_NE(registry_.render().find("switchyard_dashboard_refresh_errors_total 1"),
            std::string::npos);

  url_ = fresh_database(db_name_);  // back, empty: the next refresh reconnects and reads it
  EXPECT_TRUE(dashboard.refresh_now()) << *dashboard.snapshot();
  d = parse_exact(*dashboard.snapshot());
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_EQ(text_of(d["spend"]["total_usd"]), "0");
}

TEST_F(DashboardTest, UnreachablePostgresIsAnErrorInTheSnapshotNotACrash) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  Dashboard dashboard({.postgres_url = "postgresql://postgres@127.0.0.1:1/none"});
  EXPECT_FALSE(dashboard.refresh_now());
  rapidjson::Document d = parse_exact(*dashboard.snapshot());
  ASSERT_TRUE(d["error"].IsString());
  EXPECT_NE(std::string(d["error"].GetString()).find("postgres unreachable"), std::string::npos)
      << d["error"].GetString();
  EXPECT_TRUE(d["data_as_of"].IsNull());
  EXPECT_EQ(text_of(d["spend"]["total_usd"]), "0");
}

TEST_F(DashboardTest, RoutesServeThePageAndTheSnapshotOnly) {
  Dashboard dashboard({.postgres_url = url_});
  auto get = [&](const std::string& path, const std::string& method = "GET") {
    AdminRequest request;
    request.method = method;
    request.path = path;
    request.target = path;
    return dashboard.handle(request);
  };
  AdminResponse page = get("/dashboard");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("id=\"spend-by-team\""), std::string::npos);
  EXPECT_EQ(get("/dashboard/").body, page.body);
  // Self-contained: nothing is loaded from anywhere else.
  EXPECT_EQ(page.body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.body.find("href=\"http"), std::string::npos);

  AdminResponse before = get("/dashboard/data.json");
  EXPECT_EQ(before.status, 200);
  EXPECT_EQ(before.content_type, "application/json");
  EXPECT_TRUE(parse_exact(before.body)["generated_at"].IsNull());  // not read yet

  EXPECT_EQ(get("/dashboard/other").status, 404);
  EXPECT_EQ(get("/dashboard/data.json", "POST").status, 405);
}

TEST_F(DashboardTest, TheRefreshThreadReadsAtStartAndStopsPromptly) {
  seed(url_);
  Dashboard dashboard({.postgres_url = url_, .refresh_interval_ms = 60000});
  dashboard.start();
  for (int i = 0; i < 200 && parse_exact(*dashboard.snapshot())["generated_at"].IsNull(); ++i) {
    ::usleep(50 * 1000);
  }
  auto started = std::chrono::steady_clock::now();
  dashboard.stop();  // must not wait for the 60 s interval
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(text_of(parse_exact(*dashboard.snapshot())["spend"]["total_usd"]), "8.250000000000");
}

// ---- headless Chromium -----------------------------------------------------------------------

std::string chromium_binary() {
  if (const char* env = std::getenv("SWITCHYARD_CHROMIUM"); env && *env) {
    return ::access(env, X_OK) == 0 ? env : "";
  }
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct PngSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// The width and height from a PNG's IHDR chunk, which the format requires to come first.
std::optional<PngSize> png_size(const std::string& png) {
  static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
  if (png.size() < 24 || png.compare(0, 8, kSignature) != 0 || png.compare(12, 4, "IHDR") != 0) {
    return std::nullopt;
  }
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(png[at])) << 24) |
           (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(png[at + 2])) << 8) |
           std::uint32_t(std::uint8_t(png[at + 3]));
  };
  return PngSize{be32(16), be32(20)};
}

// Runs headless Chromium in a scratch directory of its own (profile included, so parallel tests
// do not share one), killed by `timeout` if it hangs.
class Chromium {
 public:
  Chromium() {
    char pattern[] = "/tmp/sy-chromium-XXXXXX";
    dir_ = ::mkdtemp(pattern);
  }
  ~Chromium() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }

  // --dump-dom after the page's fetch and drawing finished (virtual time runs the page's timers
  // and waits for its network requests). Returns the serialised DOM.
  std::string dump_dom(const std::string& url) {
    fs::path out = dir_ / "dom.html";
    run("--dump-dom '" + url + "' > '" + out.string() + "'");
    return read_file(out);
  }
  // A --screenshot of the viewport; returns the PNG's bytes.
  std::string screenshot(const std::string& url, const std::string& name) {
    fs::path out = dir_ / name;
    run("--screenshot='" + out.string() + "' '" + url + "' > /dev/null");
    return read_file(out);
  }
  std::string log() const { return read_file(dir_ / "chromium.log"); }

 private:
  void run(const std::string& what) {
    std::string command =
        "timeout 90 '" + chromium_binary() + "' --headless --disable-gpu --no-sandbox" +
        " --disable-dev-shm-usage --no-first-run --hide-scrollbars --mute-audio" +
        " --user-data-dir='" + (dir_ / "profile").string() + "'" +
        " --window-size=1280,1600 --run-all-compositor-stages-before-draw" +
        " --virtual-time-budget=10000 " + what + " 2>> '" + (dir_ / "chromium.log").string() + "'";
    int rc = std::system(command.c_str());
    EXPECT_EQ(rc, 0) << command << "\n" << log();
  }

  fs::path dir_;
};

// The part of the page's DOM from the element with `id` to the end of its <section>.
std::string chart_markup(const std::string& dom, const std::string& id) {
  auto at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  auto end = dom.find("</section>", at);
  return dom.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

#define REQUIRE_CHROMIUM()                                                                      \
  ASSERT_FALSE(chromium_binary().empty())                                                       \
      << "headless Chromium is needed to render the dashboard page: install Debian's chromium " \
         "package (scripts/install-deps.sh does: apt-get install chromium), or point "          \
         "SWITCHYARD_CHROMIUM at a chromium binary"

TEST_F(DashboardTest, PageRendersEveryChartForTheSeededDataInHeadlessChromium) {
  REQUIRE_CHROMIUM();
  seed(url_);
  Dashboard dashboard({.postgres_url = url_});
  ASSERT_TRUE(dashboard.refresh_now()) << *dashboard.snapshot();
  AdminServer& admin = serve(dashboard);
  std::string url = "http://127.0.0.1:" + std::to_string(admin.port()) + "/dashboard";

  Chromium chromium;
  std::string dom = chromium.dump_dom(url);
  ASSERT_FALSE(dom.empty()) << chromium.log();
  for (const char* id : {"spend-by-team", "budget-status", "tier-mix", "savings"}) {
    std::string chart = chart_markup(dom, id);
    EXPECT_NE(chart.find("<svg"), std::string::npos) << "#" << id << " has no chart:\n" << chart;
    EXPECT_GT(occurrences(chart, "<rect"), 0u) << "#" << id << " draws nothing:\n" << chart;
  }
  // One bar segment per (team, day) with spend, one per team and state in the budget chart.
  EXPECT_GE(occurrences(chart_markup(dom, "spend-by-team"), "<rect"), 6u);
  EXPECT_GE(occurrences(chart_markup(dom, "budget-status"), "<rect"), 4u);
  for (const char* team : {"team-alpha", "team-beta", "team-gamma"}) {
    EXPECT_NE(chart_markup(dom, "spend-by-team").find(team), std::string::npos) << team;
  }
  // The hand-computed total: 4.50 + 3.25 + 0.50.
  EXPECT_NE(dom.find("id=\"total-spend\">$8.25<"), std::string::npos) << dom;
  EXPECT_NE(chart_markup(dom, "spend-by-team").find("$8.25"), std::string::npos);
  EXPECT_NE(chart_markup(dom, "budget-status").find("$20.00"), std::string::npos);
  EXPECT_NE(chart_markup(dom, "savings").find("$5.75"), std::string::npos);
  EXPECT_NE(dom.find("id=\"total-saved\">$5.75<"), std::string::npos);
  EXPECT_NE(dom.find("id=\"error\" role=\"alert\" hidden"), std::string::npos)
      << "an error is shown although Postgres was read";

  // The screenshot: a PNG of the requested size that is not a blank page. A blank page of this
  // size compresses to a few KiB of one colour; charts, text and colour fills do not. Rather than
  // a fixed size (which depends on Chromium's encoder), the page must compress to at least four
  // times the size of a blank page taken by the same Chromium at the same size.
  std::string png = chromium.screenshot(url, "dashboard.png");
  std::string blank = chromium.screenshot("data:text/html,<html><body></body></html>", "blank.png");
  auto size = png_size(png);
  ASSERT_TRUE(size.has_value()) << "not a PNG (" << png.size() << " bytes)\n" << chromium.log();
  EXPECT_EQ(size->width, 1280u);
  EXPECT_EQ(size->height, 1600u);
  ASSERT_TRUE(png_size(blank).has_value()) << chromium.log();
  EXPECT_GT(png.size(), 4 * blank.size())
      << "the screenshot looks blank: " << png.size() << " bytes, a blank page " << blank.size();
  // For a look by a person: SWITCHYARD_KEEP_DASHBOARD=DIR keeps the screenshot and the DOM.
  if (const char* keep = std::getenv("SWITCHYARD_KEEP_DASHBOARD"); keep && *keep) {
    fs::create_directories(keep);
    for (const char* name : {"dashboard.png", "dom.html"}) {
      fs::copy_file(chromium.dir() / name, fs::path(keep) / name,
                    fs::copy_options::overwrite_existing);
    }
  }
}

TEST_F(DashboardTest, PageSaysSoWhenThereIsNoSpendYet) {
  REQUIRE_CHROMIUM();
  Dashboard dashboard({.postgres_url = url_});  // migrated, nothing written yet
  ASSERT_TRUE(dashboard.refresh_now()) << *dashboard.snapshot();
  AdminServer& admin = serve(dashboard);

  Chromium chromium;
  std::string dom =
      chromium.dump_dom("http://127.0.0.1:" + std::to_string(admin.port()) + "/dashboard");
  ASSERT_FALSE(dom.empty()) << chromium.log();
  EXPECT_NE(dom.find("id=\"total-spend\">$0.00<"), std::string::npos) << dom;
  EXPECT_NE(chart_markup(dom, "spend-by-team").find("No spend recorded"), std::string::npos);
  EXPECT_NE(chart_markup(dom, "budget-status").find("No team has a budget"), std::string::npos);
  EXPECT_NE(chart_markup(dom, "tier-mix").find("No requests"), std::string::npos);
  EXPECT_NE(chart_markup(dom, "savings").find("No spend"), std::string::npos);
  EXPECT_NE(dom.find("id=\"error\" role=\"alert\" hidden"), std::string::npos);
}

TEST_F(DashboardTest, PageShowsThePostgresErrorAboveTheLastGoodCharts) {
  REQUIRE_CHROMIUM();
  seed(url_);
  Dashboard dashboard({.postgres_url = url_});
  ASSERT_TRUE(dashboard.refresh_now()) << *dashboard.snapshot();
  drop_database();
  ASSERT_FALSE(dashboard.refresh_now());
  AdminServer& admin = serve(dashboard);

  Chromium chromium;
  std::string dom =
      chromium.dump_dom("http://127.0.0.1:" + std::to_string(admin.port()) + "/dashboard/");
  ASSERT_FALSE(dom.empty()) << chromium.log();
  auto alert = dom.find("id=\"error\" role=\"alert\">Postgres could not be read");
  EXPECT_NE(alert, std::string::npos) << dom;
  EXPECT_NE(dom.find("Showing the last good data", alert), std::string::npos);
  EXPECT_NE(chart_markup(dom, "spend-by-team").find("<svg"), std::string::npos);
  EXPECT_NE(dom.find("id=\"total-spend\">$8.25<"), std::string::npos);
}

}  // namespace
}  // namespace switchyard
