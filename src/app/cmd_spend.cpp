// `switchyard spend`: spend per team, model, deployment or tier over a range of UTC days, from the
// daily rollup behind the spend views (migration 0005), as a terminal table, CSV or JSON.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/config/config.h"
#include "switchyard/store/store.h"

namespace switchyard {

namespace {

constexpr int kViewsSchemaVersion = 5;  // migrations/0005_dashboards.sql

constexpr const char* kSpendHelp =
    "usage: switchyard spend (--config FILE | --url POSTGRES_URL) [options]\n"
    "\n"
    "Spend over a range of UTC days, one row per team, model, deployment or tier, from the daily\n"
    "rollup the spend views read (team_spend_daily, model_spend_daily, tier_mix_daily).\n"
    "\n"
    "options:\n"
    "  --config FILE        worker config: only its postgres section is read\n"
    "  --url URL            libpq connection string or URI (instead of --config)\n"
    "  --by WHAT            team (default), model, deployment or tier\n"
    "  --days N             today and the N-1 days before it (default 30)\n"
    "  --month YYYY-MM      one calendar month\n"
    "  --from DATE          YYYY-MM-DD, first day included; with --to DATE, the last day\n"
    "                       included (default today)\n"
    "  --team T             only team T\n"
    "  --format FORMAT      table (default), csv or json\n"
    "\n"
    "requests counts each request once, in the row of its last billed call, so the column adds\n"
    "up to the total. cost_usd is exact: the table rounds it to 6 decimals for reading, csv and\n"
    "json carry every digit. csv (RFC 4180, CRLF line ends) and json (an array of objects) have\n"
    "no totals row; in json, counts are numbers and money and shares are decimal strings, so no\n"
    "parser rounds them through a double.\n";

using std::chrono::sys_days;

// A whole-word YYYY-MM-DD that names a real day.
std::optional<sys_days> parse_day(std::string_view text) {
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  auto number = [&text](std::size_t at, std::size_t len, auto& out) {
    if (text.size() < at + len) return false;
    const char* first = text.data() + at;
    auto [ptr, ec] = std::from_chars(first, first + len, out);
    return ec == std::errc() && ptr == first + len;
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !number(0, 4, y) ||
      !number(5, 2, m) || !number(8, 2, d))
    return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd};
}

std::string day_text(sys_days day) {
  std::chrono::year_month_day ymd{day};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

struct DayRange {
  sys_days first;
  sys_days last;  // included
};

// The range the flags ask for, or an error message.
std::optional<DayRange> day_range(const Flags& flags, sys_days today, std::string& error) {
  const int ways = (flags.has("days") ? 1 : 0) + (flags.has("month") ? 1 : 0) +
                   (flags.has("from") || flags.has("to") ? 1 : 0);
  if (ways > 1) {
    error = "give one of --days, --month or --from/--to";
    return std::nullopt;
  }
  if (flags.has("month")) {
    const std::string month = flags.get("month");
    auto first = parse_day(month + "-01");
    if (month.size() != 7 || !first) {
      error = "--month must be YYYY-MM, got '" + month + "'";
      return std::nullopt;
    }
    std::chrono::year_month_day ymd{*first};
    std::chrono::year_month_day_last end{ymd.year(), std::chrono::month_day_last{ymd.month()}};
    return DayRange{*first, sys_days{end}};
  }
  if (flags.has("from") || flags.has("to")) {
    if (!flags.has("from")) {
      error = "--to needs --from";
      return std::nullopt;
    }
    auto first = parse_day(flags.get("from"));
    if (!first) {
      error = "--from must be a date YYYY-MM-DD, got '" + flags.get("from") + "'";
      return std::nullopt;
    }
    auto last = flags.has("to") ? parse_day(flags.get("to")) : std::optional<sys_days>(today);
    if (!last) {
      error = "--to must be a date YYYY-MM-DD, got '" + flags.get("to") + "'";
      return std::nullopt;
    }
    if (*last < *first) {
      error = "--to (" + day_text(*last) + ") is before --from (" + day_text(*first) + ")";
      return std::nullopt;
    }
    return DayRange{*first, *last};
  }
  long long days = 30;
  if (flags.has("days")) {
    const std::string text = flags.get("days");
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), days);
    if (ec != std::errc() || ptr != text.data() + text.size() || days < 1 || days > 36600) {
      error = "--days must be a whole number from 1 to 36600, got '" + text + "'";
      return std::nullopt;
    }
  }
  return DayRange{today - std::chrono::days{days - 1}, today};
}

// What one --by value groups on: the rollup's columns, shown under the same names.
struct Breakdown {
  std::string_view by;
  std::vector<std::string_view> keys;
};

const std::vector<Breakdown>& breakdowns() {
  static const std::vector<Breakdown> all = {
      {"team", {"team"}},
      {"model", {"model", "provider"}},
      {"deployment", {"deployment", "model", "provider", "tier"}},
      {"tier", {"tier"}},
  };
  return all;
}

enum class Kind { kText, kCount, kMoney, kShare };

struct Column {
  std::string name;
  Kind kind;
};

struct Report {
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;  // exact text; "" = SQL NULL
  std::vector<std::string> totals;             // the empty grouping set: every row together
};

// One statement: a row per group and, from the empty grouping set, the totals row (grouping()
// <> 0), so Postgres adds the exact NUMERICs; shares are of that totals row.
std::string report_sql(const Breakdown& b) {
  std::string keys;
  for (auto k : b.keys) keys += (keys.empty() ? "" : ", ") + std::string(k);
  std::string sql =
      "SELECT total, " + keys + ", requests, input_tokens, output_tokens, cost_usd::text";
  if (b.by == "tier")
    sql += ", (requests / nullif(max(requests) FILTER (WHERE total) OVER (), 0))::text";
  sql +=
      ", (cost_usd / nullif(max(cost_usd) FILTER (WHERE total) OVER (), 0))::text"
      " FROM (SELECT grouping(" +
      keys + ") <> 0 AS total, " + keys +
      ", coalesce(sum(served_requests), 0)::numeric AS requests"
      ", coalesce(sum(input_tokens), 0)::bigint AS input_tokens"
      ", coalesce(sum(output_tokens), 0)::bigint AS output_tokens"
      ", coalesce(sum(cost_usd), 0) AS cost_usd"
      " FROM ledger_daily"
      " WHERE day >= $1::date AND day <= $2::date AND ($3::text IS NULL OR team = $3::text)"
      " GROUP BY GROUPING SETS ((" +
      keys +
      "), ())) g"
      " ORDER BY total, cost_usd DESC, " +
      keys;
  return sql;
}

Report read_report(const std::string& url, const Breakdown& b, const DayRange& range,
                   const std::optional<std::string>& team) {
  Report report;
  for (auto k : b.keys) report.columns.push_back({std::string(k), Kind::kText});
  report.columns.push_back({"requests", Kind::kCount});
  report.columns.push_back({"input_tokens", Kind::kCount});
  report.columns.push_back({"output_tokens", Kind::kCount});
  report.columns.push_back({"cost_usd", Kind::kMoney});
  if (b.by == "tier") report.columns.push_back({"request_share", Kind::kShare});
  report.columns.push_back({"cost_share", Kind::kShare});

  pqxx::connection conn(url);
  pqxx::read_transaction tx(conn);
  pqxx::result rows =
      tx.exec_params(report_sql(b), day_text(range.first), day_text(range.last), team);
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    for (pqxx::row::size_type i = 1; i < row.size(); ++i)
      cells.push_back(row[i].is_null() ? "" : row[i].c_str());
    if (row[0].as<bool>()) {
      report.totals = std::move(cells);
    } else {
      report.rows.push_back(std::move(cells));
    }
  }
  return report;
}

// "12.340000000000" -> "12.34", "3.000" -> "3": exact, without the NUMERIC's trailing zeros.
std::string trim_decimal(std::string text) {
  if (text.find('.') == std::string::npos) return text;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

// Decimal text rounded half away from zero to `places` digits, by digits (no double).
std::string round_decimal(const std::string& text, int places) {
  if (text.empty()) return text;
  const bool negative = text[0] == '-';
  std::string digits = negative ? text.substr(1) : text;
  auto dot = digits.find('.');
  std::string whole = dot == std::string::npos ? digits : digits.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : digits.substr(dot + 1);
  frac.resize(std::max<std::size_t>(frac.size(), places + 1), '0');
  const bool round_up = frac[places] >= '5';
  std::string kept = whole + frac.substr(0, places);
  if (round_up) {
    int i = static_cast<int>(kept.size()) - 1;
    for (; i >= 0; --i) {
      if (kept[i] == '9') {
        kept[i] = '0';
      } else {
        ++kept[i];
        break;
      }
    }
    if (i < 0) kept.insert(kept.begin(), '1');
  }
  std::string out = kept.substr(0, kept.size() - places);
  if (places > 0) out += "." + kept.substr(kept.size() - places);
  const bool zero = out.find_first_not_of("0.") == std::string::npos;
  return (negative && !zero ? "-" : "") + out;
}

// A cell as shown: money exact (trailing zeros trimmed) or, in the table, to 6 decimals; shares
// to 6 decimals (trimmed), in the table to 4; a share of a zero total is "" (csv), null (json),
// "-" (table).
std::string shown(const std::string& text, Kind kind, bool table) {
  switch (kind) {
    case Kind::kMoney:
      return table ? round_decimal(text, 6) : trim_decimal(text);
    case Kind::kShare:
      if (text.empty()) return table ? "-" : "";
      return table ? round_decimal(text, 4) : trim_decimal(round_decimal(text, 6));
    default:
      return text;
  }
}

std::string render_table(const Report& report, const std::string& title) {
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> header;
  for (const auto& c : report.columns) header.push_back(c.name);
  lines.push_back(header);
  auto shown_row = [&](const std::vector<std::string>& row) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < row.size(); ++i)
      out.push_back(shown(row[i], report.columns[i].kind, true));
    return out;
  };
  for (const auto& row : report.rows) lines.push_back(shown_row(row));
  std::vector<std::string> totals = shown_row(report.totals);
  totals[0] = "total";
  lines.push_back(totals);

  std::vector<std::size_t> width(report.columns.size(), 0);
  for (const auto& line : lines) {
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  }
  std::string rule;
  for (std::size_t i = 0; i < width.size(); ++i)
    rule += (i ? "  " : "") + std::string(width[i], '-');
  std::string out = title + "\n";
  for (std::size_t n = 0; n < lines.size(); ++n) {
    if (n == 1 || n + 1 == lines.size()) out += rule + "\n";
    std::string line;
    for (std::size_t i = 0; i < lines[n].size(); ++i) {
      const std::string& cell = lines[n][i];
      const std::string pad(width[i] - cell.size(), ' ');
      const bool right = report.columns[i].kind != Kind::kText;
      line += (i ? "  " : "") + (right ? pad + cell : cell + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  if (report.rows.empty()) out += "(no spend in this range)\n";
  return out;
}

// RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string render_csv(const Report& report) {
  std::string out;
  for (std::size_t i = 0; i < report.columns.size(); ++i)
    out += (i ? "," : "") + csv_field(report.columns[i].name);
  out += "\r\n";
  for (const auto& row : report.rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      out += (i ? "," : "") + csv_field(shown(row[i], report.columns[i].kind, false));
    out += "\r\n";
  }
  return out;
}

std::string render_json(const Report& report) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const auto& row : report.rows) {
    w.StartObject();
    for (std::size_t i = 0; i < row.size(); ++i) {
      const Column& c = report.columns[i];
      w.Key(c.name.c_str());
      const std::string text = shown(row[i], c.kind, false);
      if (c.kind == Kind::kCount) {
        w.RawValue(text.c_str(), text.size(), rapidjson::kNumberType);
      } else if (c.kind == Kind::kShare && text.empty()) {
        w.Null();
      } else {
        w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
      }
    }
    w.EndObject();
  }
  w.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

// The postgres URL from --url, or from the config's postgres section. Problems elsewhere in the
// config (a deployment's unset API key variable, ...) are not this command's concern.
std::optional<std::string> postgres_url(const Flags& flags) {
  if (flags.has("url")) return flags.get("url");
  const std::string path = flags.get("config");
  ConfigLoad load = load_config_file(path);
  // A problem with a key starts "key: " (keys hold no spaces); the others (unreadable file, not
  // YAML) concern the whole file. Only those and the postgres keys stop this command.
  std::vector<std::string> fatal;
  for (const auto& problem : load.problems) {
    const auto colon = problem.find(": ");
    const bool keyed = colon != std::string::npos && problem.find(' ') > colon;
    if (!keyed || problem.rfind("postgres.", 0) == 0) fatal.push_back(problem);
  }
  if (!fatal.empty()) {
    std::fprintf(stderr, "spend: %s: %s\n", path.c_str(), fatal.front().c_str());
    return std::nullopt;
  }
  return load.config.postgres_url();
}

}  // namespace

int cmd_spend(const Args& args) {
  Flags flags(args, {"config", "url", "by", "days", "month", "from", "to", "team", "format"},
              {"help"});
  if (flags.has("help")) {
    std::fputs(kSpendHelp, stdout);
    return 0;
  }
  auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "spend: %s\n(see switchyard spend --help)\n", message.c_str());
    return 2;
  };
  if (!flags.ok()) return usage_error(flags.errors().front());
  if (!flags.positional().empty())
    return usage_error("unexpected argument '" + flags.positional().front() + "'");
  if (flags.has("url") == flags.has("config"))
    return usage_error(flags.has("url") ? "give --config FILE or --url POSTGRES_URL, not both"
                                        : "give --config FILE or --url POSTGRES_URL");

  const std::string by = flags.get("by", "team");
  auto breakdown = std::find_if(breakdowns().begin(), breakdowns().end(),
                                [&](const Breakdown& b) { return b.by == by; });
  if (breakdown == breakdowns().end())
    return usage_error("--by must be team, model, deployment or tier, got '" + by + "'");
  const std::string format = flags.get("format", "table");
  if (format != "table" && format != "csv" && format != "json")
    return usage_error("--format must be table, csv or json, got '" + format + "'");
  std::string error;
  const sys_days today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  std::optional<DayRange> range = day_range(flags, today, error);
  if (!range) return usage_error(error);
  std::optional<std::string> team;
  if (flags.has("team")) team = flags.get("team");

  std::optional<std::string> url = postgres_url(flags);
  if (!url) return 1;
  const int version = database_schema_version(*url, error);
  if (version < 0) {
    std::fprintf(stderr, "spend: cannot read from Postgres: %s\n", error.c_str());
    return 1;
  }
  if (version < kViewsSchemaVersion) {
    std::fprintf(stderr,
                 "spend: the database schema is at version %d and the spend views need %d: run "
                 "`switchyard migrate`\n",
                 version, kViewsSchemaVersion);
    return 1;
  }
  Report report;
  try {
    report = read_report(*url, *breakdown, *range, team);
  } catch (const std::exception& e) {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    std::fprintf(stderr, "spend: reading the spend views failed: %s\n", what.c_str());
    return 1;
  }
  std::string out;
  if (format == "csv") {
    out = render_csv(report);
  } else if (format == "json") {
    out = render_json(report);
  } else {
    std::string title = "spend by " + by + ", " + day_text(range->first) + " .. " +
                        day_text(range->last) + " (UTC days)";
    if (team) title += ", team " + *team;
    out = render_table(report, title);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace switchyard
