// The worker's admin endpoints and logs, end to end: /metrics in Prometheus text format moving
// with traffic, /healthz, /readyz, and JSON log lines carrying the request's fields.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <regex>
#include <sstream>

#include "harness.h"

namespace switchyard::testing {
namespace {

namespace http = boost::beast::http;

struct Got {
  int status = 0;
  std::string content_type;
  std::string body;
};

Got get(std::uint16_t port, const std::string& target) {
  boost::asio::io_context context;
  boost::asio::ip::tcp::socket socket(context);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()),
          std::string(response[http::field::content_type]), response.body()};
}

// The admin port the worker logged ("admin HTTP on 127.0.0.1:PORT"); 0 until then.
std::uint16_t admin_port(const std::string& log) {
  std::smatch m;
  static const std::regex re("admin HTTP on 127\\.0\\.0\\.1:([0-9]+)");
  return std::regex_search(log, m, re) ? static_cast<std::uint16_t>(std::stoi(m[1])) : 0;
}

// The value of the first sample line starting with `series` (name and labels as rendered).
double sample(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

TEST(Observability, MetricsMoveWithTrafficHealthAndReadinessAnswerAndLogsAreJsonWithFields) {
  HarnessOptions options;
  options.extra_worker_yaml = "  shutdown_drain_ms: 1000\n";
  options.teams_yaml =
      "teams:\n  - name: search\n    budget_usd: 10\n  - name: ads\nlog:\n  format: json\n"
      "  level: debug\n";
  Harness h("observability", options);
  h.start_worker();
  std::uint16_t port = 0;
  ASSERT_TRUE(eventually([&] { return (port = admin_port(h.worker_log())) != 0; }))
      << h.worker_log();
  EXPECT_EQ(get(port, "/healthz").status, 200);
  ASSERT_TRUE(eventually([&] { return get(port, "/readyz").status == 200; }))
      << get(port, "/readyz").body;
  const std::string ok_series =
      "switchyard_requests_total{class=\"background\",deployment=\"mini-a\",status=\"ok\","
      "tier=\"economy\"}";
  Got before = get(port, "/metrics");
  EXPECT_EQ(before.status, 200);
  EXPECT_EQ(before.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(sample(before.body, ok_series), 0);

  h.publish(kBackgroundTopic, numbered_requests("obs-", 20));
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 20; }))
      << h.worker_log();
  Got after = get(port, "/metrics");
  // Every line is a comment (HELP/TYPE) or a sample: name{labels} value.
  static const std::regex sample_line(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$)");
  std::istringstream in(after.body);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample_line)) << line;
    ++samples;
  }
  EXPECT_GT(samples, 10);
  const long long ok = h.count("SELECT count(*) FROM requests WHERE status = 'ok'");
  EXPECT_EQ(sample(after.body, ok_series) + sample(after.body,
            "switchyard_requests_total{class=\"interactive\",deployment=\"mini-a\",status=\"ok\","
            "tier=\"economy\"}"),
            static_cast<double>(ok));
  EXPECT_GT(sample(after.body, "switchyard_cost_usd_total{deployment=\"mini-a\",tier=\"economy\"}"),
            0);
  EXPECT_LT(sample(after.body, "switchyard_budget_remaining_usd{period=\"month\",team=\"search\"}"),
            10);
  EXPECT_NE(after.body.find("gen_ai_client_operation_duration_seconds_bucket{deployment=\"mini-a\""),
            std::string::npos);

  // The built-in dashboard reads the same spend views (refreshed every few seconds), and the
  // worker wrote the savings reference price at start.
  EXPECT_EQ(get(port, "/dashboard").status, 200);
  ASSERT_TRUE(eventually([&] {
    return get(port, "/dashboard/data.json").body.find("\"search\"") != std::string::npos;
  })) << get(port, "/dashboard/data.json").body;
  EXPECT_EQ(h.count("SELECT count(*) FROM reference_prices"), 1);
  EXPECT_EQ(h.query("SELECT bool_and(reference_cost_usd IS NOT NULL) FROM team_savings_daily"), "t");

  EXPECT_EQ(h.stop_worker(SIGTERM), 0);
  // JSON lines; the per-request ones carry the request and its Kafka position as fields.
  std::istringstream log(h.worker_log());
  int finished = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.empty() || line[0] != '{') continue;
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    ASSERT_FALSE(doc.HasParseError()) << line;
    if (std::string(doc["msg"].GetString()).rfind("request finished", 0) == 0) {
      ++finished;
      EXPECT_TRUE(doc.HasMember("request_id") && doc.HasMember("deployment") &&
                  doc.HasMember("topic") && doc.HasMember("partition") && doc.HasMember("offset"))
          << line;
    }
  }
  EXPECT_EQ(finished, 20);
}

}  // namespace
}  // namespace switchyard::testing
