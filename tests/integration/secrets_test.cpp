// No secret in a log line, row, result event, metric or error message: a planted API key and
// admin bearer token, and a provider that quotes the key back in its error body.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <regex>

#include "harness.h"

namespace switchyard::testing {
namespace {

constexpr const char* kKey = "sk-planted-Q7Zt9-api-key-never-shown";
constexpr const char* kToken = "tok-planted-M3xV2-admin-token-never-shown";

// GET 127.0.0.1:port/path with a bearer token; the whole raw reply.
std::string http_get(int port, const std::string& path, const std::string& token) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                            "Authorization: Bearer " + token + "\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, n);
  }
  ::close(fd);
  return reply;
}

TEST(Secrets, APlantedKeyAndTokenAppearNowhereEvenWhenAProviderQuotesTheKey) {
  ::setenv("SY_IT_PLANTED_KEY", kKey, 1);
  ::setenv("SY_IT_PLANTED_TOKEN", kToken, 1);
  HarnessOptions options;
  options.admin_token_env = "SY_IT_PLANTED_TOKEN";
  options.sim.faults = {FaultRule{.kind = FaultKind::leak_key, .model = "leaky"}};
  auto with_key = [](std::string yaml) { return yaml + "    api_key_env: SY_IT_PLANTED_KEY\n"; };
  options.deployments_yaml =
      std::string("deployments:\n") +
      with_key(deployment_yaml("mini-a", "gpt-4o-mini", "economy", kInputPrice, kOutputPrice)) +
      with_key(deployment_yaml("leaky", "leaky", "frontier", kInputPrice, kOutputPrice));
  Harness h("secrets", options);
  std::vector<std::pair<std::string, std::string>> events;
  for (int i = 0; i < 10; ++i) {
    const std::string id = "s-" + std::to_string(i);
    events.emplace_back(id, request_json(id, "search", "hello"));
    const std::string leak = "leak-" + std::to_string(i);
    events.emplace_back(leak, request_json(leak, "search", "hello", R"(,"model":"leaky")"));
  }
  h.publish(kBackgroundTopic, events);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 20; }))
      << h.worker_log();
  EXPECT_GE(h.sim().stats().bad_requests, 1u) << "the provider did quote the key";
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), 10);

  // Everything the worker wrote or said.
  std::string everything = h.worker_log();
  everything += h.query("SELECT string_agg(r::text, E'\\n') FROM requests r");
  everything += h.query("SELECT string_agg(l::text, E'\\n') FROM cost_ledger l");
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  TopicReader dlq(h.bootstrap(), kDlqTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.distinct_keys().size() >= 20;
  }));
  dlq.drain();
  for (const auto& r : results.records) everything += r.value + "\n";
  for (const auto& r : dlq.records) everything += r.value + "\n";
  std::smatch port;
  const std::string log = h.worker_log();
  ASSERT_TRUE(std::regex_search(log, port, std::regex("admin HTTP on 127\\.0\\.0\\.1:([0-9]+)")));
  const std::string metrics = http_get(std::stoi(port[1]), "/metrics", kToken);
  ASSERT_NE(metrics.find("switchyard_worker_events_total"), std::string::npos) << metrics;
  everything += metrics;
  everything += http_get(std::stoi(port[1]), "/readyz", kToken);
  h.stop_worker();
  everything += h.worker_log() + h.worker_stats();

  // The answers of the leaky deployment are there, with the key cut out.
  EXPECT_NE(everything.find("Incorrect API key provided: Bearer [redacted]"), std::string::npos);
  EXPECT_EQ(everything.find(kKey), std::string::npos);
  EXPECT_EQ(everything.find("Q7Zt9"), std::string::npos) << "not even a part of the key";
  EXPECT_EQ(everything.find(kToken), std::string::npos);
  EXPECT_EQ(everything.find("M3xV2"), std::string::npos);
}

}  // namespace
}  // namespace switchyard::testing
