#include "switchyard/common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace switchyard {
namespace {

// ---------------------------------------------------------------------------------------------
// A small validating parser of the text exposition format 0.0.4, strict where Prometheus is:
// names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values use
// only the \\, \" and \n escapes, every sample belongs to a family whose TYPE came before it
// (once per family, before its samples), values parse as Go floats (NaN, +Inf, -Inf included),
// histogram buckets are cumulative and end with le="+Inf" equal to _count.

struct Exposition {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> helps;  // family -> help text (unescaped)
  std::map<std::string, double> samples;     // "name{a=\"x\",...}" as written -> value
  std::vector<std::string> problems;

  bool ok() const { return problems.empty(); }
  double value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? std::nan("") : it->second;
  }
};

bool is_metric_name(const std::string& s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

bool is_label_name(const std::string& s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

bool parse_go_float(const std::string& text, double& out) {
  if (text == "NaN") {
    out = std::nan("");
    return true;
  }
  if (text == "+Inf" || text == "Inf") {
    out = INFINITY;
    return true;
  }
  if (text == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::set<std::string> families_with_samples;
  // Histogram bookkeeping per series (labels without le): last cumulative bucket, +Inf, count.
  struct HistogramSeries {
    double last_bucket = -1;
    double inf = -1;
    double count = -1;
  };
  std::map<std::string, HistogramSeries> histograms;

  std::istringstream in(text);
  std::string line;
  int number = 0;
  if (!text.empty() && text.back() != '\n') e.problems.push_back("text does not end with \\n");
  while (std::getline(in, line)) {
    ++number;
    auto fail = [&](const std::string& why) {
      e.problems.push_back("line " + std::to_string(number) + ": " + why + ": " + line);
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (keyword != "HELP" && keyword != "TYPE") continue;  // a plain comment
      if (!is_metric_name(name)) {
        fail("bad metric name in " + keyword);
        continue;
      }
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (keyword == "TYPE") {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(rest)) fail("unknown type");
        if (e.types.count(name)) fail("second TYPE line for " + name);
        if (families_with_samples.count(name)) fail("TYPE after samples of " + name);
        e.types[name] = rest;
      } else {
        std::string help;
        for (std::size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\' && i + 1 < rest.size()) {
            char n = rest[++i];
            if (n == 'n') {
              help.push_back('\n');
            } else if (n == '\\') {
              help.push_back('\\');
            } else {
              fail("bad escape in HELP");
            }
          } else {
            help.push_back(rest[i]);
          }
        }
        if (e.helps.count(name)) fail("second HELP line for " + name);
        e.helps[name] = help;
      }
      continue;
    }

    // name{label="value",...} value [timestamp]
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    std::string name = line.substr(0, i);
    if (!is_metric_name(name)) {
      fail("bad metric name");
      continue;
    }
    std::map<std::string, std::string> labels;
    std::string le;
    bool bad = false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          bad = true;
          break;
        }
        std::string label = line.substr(i, eq - i);
        if (!is_label_name(label) || eq + 1 >= line.size() || line[eq + 1] != '"') {
          bad = true;
          break;
        }
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) {
              bad = true;
              break;
            }
            char n = line[++j];
            if (n == 'n') {
              value.push_back('\n');
            } else if (n == '\\' || n == '"') {
              value.push_back(n);
            } else {
              bad = true;
              break;
            }
          } else {
            value.push_back(line[j]);
          }
        }
        if (bad || j >= line.size()) {
          bad = true;
          break;
        }
        if (labels.count(label)) {
          bad = true;
          break;
        }
        labels[label] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (bad || i >= line.size()) {
        fail("bad label set");
        continue;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("no space before the value");
      continue;
    }
    std::istringstream rest(line.substr(i + 1));
    std::string value_text, timestamp, extra;
    rest >> value_text >> timestamp >> extra;
    double value = 0;
    if (!parse_go_float(value_text, value)) {
      fail("bad value");
      continue;
    }
    if (!extra.empty()) fail("trailing text");

    // The family this sample belongs to.
    std::string family = name;
    std::string suffix;
    if (!e.types.count(name)) {
      for (const char* s : {"_bucket", "_sum", "_count"}) {
        std::string sfx = s;
        if (name.size() > sfx.size() && name.ends_with(sfx)) {
          std::string base = name.substr(0, name.size() - sfx.size());
          if (e.types.count(base)) {
            family = base;
            suffix = sfx;
          }
        }
      }
    }
    if (!e.types.count(family)) {
      fail("sample before (or without) the TYPE line of its family");
      continue;
    }
    families_with_samples.insert(family);
    const std::string& type = e.types[family];
    if (type == "histogram") {
      if (suffix.empty()) fail("histogram sample without _bucket/_sum/_count");
      if (suffix == "_bucket") {
        if (!labels.count("le")) fail("bucket without le");
        le = labels["le"];
        labels.erase("le");
      } else if (labels.count("le")) {
        fail("le outside a bucket");
      }
    } else if (labels.count("le") && type != "summary") {
      // allowed by the format, but our registry never does it
      fail("le label on a " + type);
    }
    if (type == "counter" && value < 0) fail("negative counter");

    std::string series = family + "{";
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) series += ",";
      first = false;
      series += k + "=\"" + v + "\"";
    }
    series += "}";
    if (type == "histogram") {
      auto& h = histograms[series];
      if (suffix == "_bucket") {
        double bound = 0;
        if (!parse_go_float(le, bound)) fail("bad le");
        if (value < h.last_bucket) fail("buckets are not cumulative");
        h.last_bucket = value;
        if (le == "+Inf") h.inf = value;
      } else if (suffix == "_count") {
        h.count = value;
      }
    }
    std::string key = name + "{";
    first = true;
    for (const auto& [k, v] : labels) {
      if (!first) key += ",";
      first = false;
      key += k + "=\"" + v + "\"";
    }
    if (!le.empty()) key += std::string(first ? "" : ",") + "le=\"" + le + "\"";
    key += "}";
    if (e.samples.count(key)) fail("duplicate series " + key);
    e.samples[key] = value;
  }
  for (const auto& [series, h] : histograms) {
    if (h.inf < 0) e.problems.push_back(series + ": no le=\"+Inf\" bucket");
    if (h.count < 0) e.problems.push_back(series + ": no _count");
    if (h.inf >= 0 && h.count >= 0 && h.inf != h.count)
      e.problems.push_back(series + ": +Inf bucket differs from _count");
  }
  return e;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(ExpositionParser, RejectsWhatPrometheusWouldReject) {
  EXPECT_TRUE(parse_exposition("# TYPE a counter\na 1\n").ok());
  EXPECT_FALSE(parse_exposition("a 1\n# TYPE a counter\n").ok());             // TYPE after samples
  EXPECT_FALSE(parse_exposition("# TYPE 1a counter\n1a 1\n").ok());           // bad name
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na{x=\"\\t\"} 1\n").ok());  // bad escape
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na{x=\"1} 1\n").ok());      // unterminated
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na one\n").ok());           // bad value
  EXPECT_FALSE(parse_exposition(join({"# TYPE h histogram", "h_bucket{le=\"1\"} 2",
                                      "h_bucket{le=\"+Inf\"} 1", "h_sum 1", "h_count 1"}))
                   .ok());  // not cumulative
  EXPECT_FALSE(
      parse_exposition(join({"# TYPE h histogram", "h_bucket{le=\"1\"} 1", "h_sum 1", "h_count 1"}))
          .ok());  // no +Inf
}

TEST(Metrics, CounterRendersHelpTypeAndOneLinePerLabelSet) {
  MetricsRegistry r;
  r.describe_counter("jobs_total", "Jobs done.");
  r.counter("jobs_total", {{"kind", "a"}}).inc();
  r.counter("jobs_total", {{"kind", "b"}}).inc(41);
  r.counter("jobs_total", {{"kind", "b"}}).inc();
  EXPECT_EQ(r.render(), join({"# HELP jobs_total Jobs done.", "# TYPE jobs_total counter",
                              "jobs_total{kind=\"a\"} 1", "jobs_total{kind=\"b\"} 42"}));
}

TEST(Metrics, UnlabelledSeriesHasNoBracesAndEmptyFamiliesPrintOnlyTheirHeader) {
  MetricsRegistry r;
  r.describe_counter("b_total", "B.");
  r.describe_gauge("a", "A.");
  r.counter("b_total").inc(3);
  EXPECT_EQ(r.render(), join({"# HELP a A.", "# TYPE a gauge", "# HELP b_total B.",
                              "# TYPE b_total counter", "b_total 3"}));
}

TEST(Metrics, GaugeRendersWholeAndFractionalValues) {
  MetricsRegistry r;
  r.describe_gauge("depth", "Queue depth.");
  r.gauge("depth", {{"class", "interactive"}}).set(7);
  Gauge& g = r.gauge("depth", {{"class", "background"}});
  g.add(2.5);
  g.sub(4);
  EXPECT_EQ(r.render(),
            join({"# HELP depth Queue depth.", "# TYPE depth gauge",
                  "depth{class=\"background\"} -1.5", "depth{class=\"interactive\"} 7"}));
}

TEST(Metrics, HistogramBucketsAreCumulativeAndEndWithInfSumAndCount) {
  MetricsRegistry r;
  r.describe_histogram("latency_seconds", "Latency.", {0.1, 0.5, 1});
  Histogram& h = r.histogram("latency_seconds", {{"op", "chat"}});
  h.observe(0.05);
  h.observe(0.1);  // on a bound: le is inclusive
  h.observe(0.3);
  h.observe(2);
  h.observe(std::chrono::milliseconds(750));
  h.observe(std::nan(""));  // ignored
  EXPECT_EQ(r.render(),
            join({"# HELP latency_seconds Latency.", "# TYPE latency_seconds histogram",
                  "latency_seconds_bucket{op=\"chat\",le=\"0.1\"} 2",
                  "latency_seconds_bucket{op=\"chat\",le=\"0.5\"} 3",
                  "latency_seconds_bucket{op=\"chat\",le=\"1\"} 4",
                  "latency_seconds_bucket{op=\"chat\",le=\"+Inf\"} 5",
                  "latency_seconds_sum{op=\"chat\"} 3.2", "latency_seconds_count{op=\"chat\"} 5"}));
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.bucket_counts(), (std::vector<std::uint64_t>{2, 1, 1, 1}));
}

TEST(Metrics, LabelValuesEscapeBackslashQuoteAndNewline) {
  MetricsRegistry r;
  r.describe_counter("odd_total", "Help with a \\ backslash\nand a newline.");
  r.counter("odd_total", {{"path", "C:\\dir"}, {"quote", "say \"hi\""}, {"nl", "a\nb"}}).inc();
  std::string text = r.render();
  EXPECT_EQ(text, join({"# HELP odd_total Help with a \\\\ backslash\\nand a newline.",
                        "# TYPE odd_total counter",
                        "odd_total{nl=\"a\\nb\",path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\"} 1"}));
  Exposition e = parse_exposition(text);
  ASSERT_TRUE(e.ok()) << e.problems.front();
  EXPECT_EQ(e.helps["odd_total"], "Help with a \\ backslash\nand a newline.");
  EXPECT_EQ(e.value("odd_total{nl=\"a\nb\",path=\"C:\\dir\",quote=\"say \"hi\"\"}"), 1);
}

TEST(Metrics, TheSameLabelsInAnyOrderAreTheSameSeries) {
  MetricsRegistry r;
  r.describe_counter("x_total", "X.");
  Counter& a = r.counter("x_total", {{"a", "1"}, {"b", "2"}});
  Counter& b = r.counter("x_total", {{"b", "2"}, {"a", "1"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &r.counter("x_total", {{"a", "1"}, {"b", "3"}}));
}

TEST(Metrics, MisuseIsAProgrammingErrorFoundAtOnce) {
  MetricsRegistry r;
  r.describe_counter("c_total", "C.");
  EXPECT_THROW(r.counter("undeclared_total"), std::logic_error);
  EXPECT_THROW(r.gauge("c_total"), std::logic_error);
  EXPECT_THROW(r.describe_gauge("c_total", "again, as a gauge"), std::logic_error);
  EXPECT_NO_THROW(r.describe_counter("c_total", "again, same type"));
  EXPECT_THROW(r.describe_counter("1bad", "name"), std::invalid_argument);
  EXPECT_THROW(r.describe_counter("bad-name", "name"), std::invalid_argument);
  EXPECT_THROW(r.counter("c_total", {{"bad-label", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("c_total", {{"__reserved", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("c_total", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(r.describe_histogram("h", "H.", {1, 1}), std::invalid_argument);
  r.describe_histogram("h2", "H.", {1, 2});
  EXPECT_THROW(r.histogram("h2", {{"le", "1"}}), std::invalid_argument);
}

TEST(Metrics, CostCounterRendersPicodollarsAsExactUsd) {
  MetricsRegistry r;
  declare_worker_metrics(r);
  Counter& cost = r.counter(metric::kCost, {{"tier", "economy"}, {"deployment", "mini-a"}});
  cost.inc(12'750'000);  // $0.00001275: 21 input tokens x 0.15 u$ + 16 output x 0.6 u$
  Counter& big = r.counter(metric::kCost, {{"tier", "frontier"}, {"deployment", "big"}});
  big.inc(3'000'000'000'000);  // $3
  big.inc(1);                  // + 1 picodollar: still exact
  Exposition e = parse_exposition(r.render());
  ASSERT_TRUE(e.ok()) << e.problems.front();
  std::string text = r.render();
  EXPECT_NE(text.find("switchyard_cost_usd_total{deployment=\"mini-a\",tier=\"economy\"} "
                      "0.00001275\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("switchyard_cost_usd_total{deployment=\"big\",tier=\"frontier\"} "
                      "3.000000000001\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, SampleValuesUseIntegersShortestDecimalsAndPrometheusSpecialValues) {
  auto text = [](double v) {
    std::string s;
    append_metric_value(s, v);
    return s;
  };
  EXPECT_EQ(text(0), "0");
  EXPECT_EQ(text(-3), "-3");
  EXPECT_EQ(text(0.1), "0.1");
  EXPECT_EQ(text(81.92), "81.92");
  EXPECT_EQ(text(1e300), "1e+300");
  EXPECT_EQ(text(std::nan("")), "NaN");
  EXPECT_EQ(text(INFINITY), "+Inf");
  EXPECT_EQ(text(-INFINITY), "-Inf");
}

TEST(Metrics, GaugeCallbacksAreReadAtScrapeTimeUntilUnregistered) {
  MetricsRegistry r;
  declare_worker_metrics(r);
  std::atomic<int> in_flight{3};
  CallbackRegistration one =
      r.gauge_callback(metric::kInFlight, {}, [&] { return double(in_flight.load()); });
  std::map<std::string, double> lag = {{"0", 12}, {"1", 0}};
  CallbackRegistration many = r.gauge_family_callback(metric::kConsumerLag, [&] {
    std::vector<GaugeSample> samples;
    for (const auto& [partition, value] : lag)
      samples.push_back({{{"topic", "req.hi"}, {"partition", partition}}, value});
    return samples;
  });

  Exposition e = parse_exposition(r.render());
  ASSERT_TRUE(e.ok()) << e.problems.front();
  EXPECT_EQ(e.value("switchyard_in_flight_requests{}"), 3);
  EXPECT_EQ(e.value("switchyard_consumer_lag_messages{partition=\"0\",topic=\"req.hi\"}"), 12);
  EXPECT_EQ(e.value("switchyard_consumer_lag_messages{partition=\"1\",topic=\"req.hi\"}"), 0);

  in_flight = 9;
  lag["2"] = 5;
  e = parse_exposition(r.render());
  EXPECT_EQ(e.value("switchyard_in_flight_requests{}"), 9);
  EXPECT_EQ(e.value("switchyard_consumer_lag_messages{partition=\"2\",topic=\"req.hi\"}"), 5);

  one.reset();
  many = CallbackRegistration();
  e = parse_exposition(r.render());
  EXPECT_FALSE(e.samples.count("switchyard_in_flight_requests{}"));
  EXPECT_FALSE(
      e.samples.count("switchyard_consumer_lag_messages{partition=\"0\",topic=\"req.hi\"}"));
}

TEST(Metrics, AFailingCallbackCostsOnlyItsOwnSeries) {
  MetricsRegistry r;
  declare_worker_metrics(r);
  CallbackRegistration broken =
      r.gauge_callback(metric::kQueueDepth, {{"class", "background"}},
                       []() -> double { throw std::runtime_error("scheduler gone"); });
  CallbackRegistration fine =
      r.gauge_callback(metric::kQueueDepth, {{"class", "interactive"}}, [] { return 4.0; });
  Exposition e = parse_exposition(r.render());
  ASSERT_TRUE(e.ok()) << e.problems.front();
  EXPECT_EQ(e.value("switchyard_queue_depth{class=\"interactive\"}"), 4);
  EXPECT_FALSE(e.samples.count("switchyard_queue_depth{class=\"background\"}"));
}

TEST(Metrics, ACallbackMayResolveSeriesWhileBeingScraped) {
  MetricsRegistry r;
  declare_worker_metrics(r);
  CallbackRegistration reg = r.gauge_callback(metric::kOpenCircuitBreakers, {}, [&r] {
    r.counter(metric::kDlqRecords, {{"kind", "invalid"}});  // takes the registry's lock
    return 1.0;
  });
  EXPECT_EQ(parse_exposition(r.render()).value("switchyard_open_circuit_breakers{}"), 1);
}

// The check: /metrics parses as Prometheus exposition format and its counters move with
// traffic. Every worker family, with series of every type, through the validating parser.
TEST(Metrics, WorkerFamiliesParseAsExpositionFormatAndMoveWithTraffic) {
  MetricsRegistry r;
  declare_worker_metrics(r);
  declare_worker_metrics(r);  // idempotent
  MetricLabels request = {
      {"class", "interactive"}, {"tier", "economy"}, {"deployment", "mini-a"}, {"status", "ok"}};
  MetricLabels call = {{"gen_ai_operation_name", "chat"},
                       {"gen_ai_provider_name", "openai"},
                       {"gen_ai_request_model", "gpt-4o-mini"},
                       {"deployment", "mini-a"}};
  MetricLabels input = call;
  input.emplace_back("gen_ai_token_type", "input");
  Counter& requests = r.counter(metric::kRequests, request);
  Histogram& duration = r.histogram(metric::kOperationDuration, call);
  Histogram& tokens = r.histogram(metric::kTokenUsage, input);
  r.gauge(metric::kQueueDepth, {{"class", "background"}}).set(2);
  CallbackRegistration budget = r.gauge_family_callback(metric::kBudgetRemaining, [] {
    return std::vector<GaugeSample>{{{{"team", "search"}, {"period", "month"}}, 99.5}};
  });

  const std::string requests_key =
      "switchyard_requests_total{class=\"interactive\",deployment=\"mini-a\",status=\"ok\","
      "tier=\"economy\"}";
  const std::string duration_count_key =
      "gen_ai_client_operation_duration_seconds_count{deployment=\"mini-a\","
      "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
      "gen_ai_request_model=\"gpt-4o-mini\"}";

  Exposition before = parse_exposition(r.render());
  ASSERT_TRUE(before.ok()) << before.problems.front();
  for (auto name : {metric::kRequests, metric::kOperationDuration, metric::kTokenUsage,
                    metric::kRequestDuration, metric::kCost, metric::kBudgetRemaining,
                    metric::kConsumerLag, metric::kInFlight, metric::kQueueDepth,
                    metric::kOpenCircuitBreakers, metric::kDlqRecords, metric::kOffsetsSkipped}) {
    EXPECT_TRUE(before.types.count(std::string(name))) << name;
    EXPECT_FALSE(before.helps[std::string(name)].empty()) << name;
  }
  EXPECT_EQ(before.types["gen_ai_client_operation_duration_seconds"], "histogram");
  EXPECT_EQ(before.types["switchyard_requests_total"], "counter");
  EXPECT_EQ(before.value(requests_key), 0);
  EXPECT_EQ(before.value(duration_count_key), 0);
  EXPECT_EQ(before.value("switchyard_budget_remaining_usd{period=\"month\",team=\"search\"}"),
            99.5);

  for (int i = 0; i < 10; ++i) {
    requests.inc();
    duration.observe(0.015 * (i + 1));
    tokens.observe(21);
  }
  Exposition after = parse_exposition(r.render());
  ASSERT_TRUE(after.ok()) << after.problems.front();
  EXPECT_EQ(after.value(requests_key), 10);
  EXPECT_EQ(after.value(duration_count_key), 10);
  EXPECT_EQ(after.value("gen_ai_client_token_usage_sum{deployment=\"mini-a\","
                        "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
                        "gen_ai_request_model=\"gpt-4o-mini\",gen_ai_token_type=\"input\"}"),
            210);
  // 0.015, 0.030, ..., 0.150 s: one at or below 0.02, five at or below 0.08.
  EXPECT_EQ(after.value("gen_ai_client_operation_duration_seconds_bucket{deployment=\"mini-a\","
                        "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
                        "gen_ai_request_model=\"gpt-4o-mini\",le=\"0.01\"}"),
            0);
  EXPECT_EQ(after.value("gen_ai_client_operation_duration_seconds_bucket{deployment=\"mini-a\","
                        "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
                        "gen_ai_request_model=\"gpt-4o-mini\",le=\"0.02\"}"),
            1);
  EXPECT_EQ(after.value("gen_ai_client_operation_duration_seconds_bucket{deployment=\"mini-a\","
                        "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
                        "gen_ai_request_model=\"gpt-4o-mini\",le=\"0.08\"}"),
            5);
}

TEST(Metrics, ConcurrentIncrementsFromSeveralThreadsSumExactly) {
  MetricsRegistry r;
  r.describe_counter("hits_total", "Hits.");
  r.describe_gauge("level", "Level.");
  r.describe_histogram("size", "Size.", {10, 100});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      // Each thread resolves its own references, racing the others' resolution too.
      Counter& c = r.counter("hits_total", {{"shard", "all"}});
      Gauge& g = r.gauge("level");
      Histogram& h = r.histogram("size");
      for (int i = 0; i < kPerThread; ++i) {
        c.inc();
        g.add(1);
        h.observe(i % 2 == 0 ? 5.0 : 50.0 + t);
        if (i % 10'000 == 0) (void)r.render();  // scrapes while incrementing
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.counter("hits_total", {{"shard", "all"}}).value(), 400'000u);
  EXPECT_EQ(r.gauge("level").value(), 400'000.0);
  Histogram& h = r.histogram("size");
  EXPECT_EQ(h.count(), 400'000u);
  EXPECT_EQ(h.bucket_counts(), (std::vector<std::uint64_t>{200'000, 200'000, 0}));
  // 200,000 x 5 + 50,000 x (50 + 51 + 52 + 53): sums of integers are exact in a double.
  EXPECT_EQ(h.sum(), 200'000 * 5.0 + 50'000 * 206.0);
  Exposition e = parse_exposition(r.render());
  ASSERT_TRUE(e.ok()) << e.problems.front();
  EXPECT_EQ(e.value("hits_total{shard=\"all\"}"), 400'000);
}

}  // namespace
}  // namespace switchyard
