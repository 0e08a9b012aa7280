// Behaviour of the provider simulator over real loopback HTTP, with a plain synchronous Beast
// client. No timing assertions: latency options are exercised only for "still answers".
#include "switchyard/sim/provider_sim.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sim/sim_client.h"
#include "switchyard/app/commands.h"

namespace switchyard {
namespace {

using namespace sim_test;

constexpr const char* kTwoMessages = R"({"model":"gpt-test","messages":[)"
                                     R"({"role":"system","content":"You are a terse assistant."},)"
                                     R"({"role":"user","content":"Hello, world! What is 2+2?"}]})";

TEST(ApproxTokenCount, CountsShortWordsPunctuationDigitGroupsAndLongWordsByFourChars) {
  EXPECT_EQ(approx_token_count(""), 0u);
  EXPECT_EQ(approx_token_count("   \n\t"), 0u);
  EXPECT_EQ(approx_token_count("Hello, world!"), 4u);  // Hello , world !
  EXPECT_EQ(approx_token_count("assistant"), 3u);      // 9 letters -> ceil(9/4)
  EXPECT_EQ(approx_token_count("1234567"), 3u);        // digits in groups of 3
  EXPECT_EQ(approx_token_count("You are a terse assistant."), 8u);
}

TEST(ProviderSim, ChatCompletionHasOpenAiShapeAndUsageDerivedFromText) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.chat(kTwoMessages);
  ASSERT_EQ(response.result_int(), 200) << response.body();
  EXPECT_EQ(header(response, "Content-Type"), "application/json");

  auto doc = parse(response.body());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(std::string(doc["id"].GetString()).rfind("chatcmpl-", 0), 0u);
  EXPECT_STREQ(doc["object"].GetString(), "chat.completion");
  EXPECT_TRUE(doc["created"].IsInt64());
  EXPECT_GT(doc["created"].GetInt64(), 1'600'000'000);
  EXPECT_STREQ(doc["model"].GetString(), "gpt-test");
  ASSERT_TRUE(doc["choices"].IsArray());
  ASSERT_EQ(doc["choices"].Size(), 1u);
  const auto& choice = doc["choices"][0];
  EXPECT_EQ(choice["index"].GetInt(), 0);
  EXPECT_STREQ(choice["message"]["role"].GetString(), "assistant");
  EXPECT_STREQ(choice["finish_reason"].GetString(), "stop");

  // prompt: 3 reply priming + (4 + 8 "You are a terse assistant.") + (4 + 10 "Hello, world! What is
  // 2+2?")
  const auto& usage = doc["usage"];
  EXPECT_EQ(usage["prompt_tokens"].GetInt(), 29);
  EXPECT_EQ(usage["completion_tokens"].GetInt(), 16);  // SimOptions::output_tokens default
  EXPECT_EQ(usage["total_tokens"].GetInt(), 45);
  std::string content = choice["message"]["content"].GetString();
  EXPECT_EQ(approx_token_count(content), 16u) << content;
}

TEST(ProviderSim, ReplyTextIsDeterministicAndModelIsEscapedOnEcho) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  auto first =
      parse(client.chat(R"({"model":"we\"ird\\name","messages":[{"role":"user","content":"hi"}]})")
                .body());
  auto second =
      parse(client.chat(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").body());
  EXPECT_STREQ(first["model"].GetString(), "we\"ird\\name");
  EXPECT_STREQ(first["choices"][0]["message"]["content"].GetString(),
               second["choices"][0]["message"]["content"].GetString());
  EXPECT_EQ(first["usage"]["prompt_tokens"].GetInt(), 3 + 4 + 1);
}

TEST(ProviderSim, MaxTokensBelowOutputTokensCutsReplyWithFinishReasonLength) {
  SimOptions options = ephemeral();
  options.output_tokens = 50;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  auto doc = parse(
      client
          .chat(
              R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Write a story."}]})")
          .body());
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "length");
  EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 5);
  EXPECT_EQ(approx_token_count(doc["choices"][0]["message"]["content"].GetString()), 5u);
  EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), doc["usage"]["prompt_tokens"].GetInt() + 5);
}

TEST(ProviderSim, MaxTokensAboveOutputTokensStopsAtOutputTokens) {
  SimOptions options = ephemeral();
  options.output_tokens = 7;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  auto doc = parse(
      client
          .chat(
              R"({"model":"m","max_completion_tokens":100,"messages":[{"role":"user","content":"x"}]})")
          .body());
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "stop");
  EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 7);
}

TEST(ProviderSim, RateLimitRateOneAnswers429WithRetryAfterAndErrorBody) {
  SimOptions options = ephemeral();
  options.rate_limit_rate = 1.0;
  options.retry_after_s = 7;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  Response response = client.chat(kTwoMessages);
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_EQ(header(response, "Retry-After"), "7");
  EXPECT_EQ(header(response, "x-ratelimit-remaining-requests"), "0");
  auto doc = parse(response.body());
  ASSERT_TRUE(doc.HasMember("error"));
  EXPECT_TRUE(doc["error"]["message"].IsString());
  EXPECT_STREQ(doc["error"]["code"].GetString(), "rate_limit_exceeded");
}

TEST(ProviderSim, ErrorRateOneAnswers500WithOpenAiErrorBody) {
  SimOptions options = ephemeral();
  options.error_rate = 1.0;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  Response response = client.chat(kTwoMessages);
  EXPECT_EQ(response.result_int(), 500);
  auto doc = parse(response.body());
  EXPECT_TRUE(doc["error"]["message"].IsString());
  EXPECT_STREQ(doc["error"]["type"].GetString(), "server_error");
}

TEST(ProviderSim, EveryChatReplyCarriesRateLimitHeaders) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response response = client.chat(kTwoMessages);
  EXPECT_EQ(header(response, "x-ratelimit-limit-requests"), "10000");
  EXPECT_FALSE(header(response, "x-ratelimit-remaining-requests").empty());
  EXPECT_FALSE(header(response, "x-ratelimit-remaining-tokens").empty());
  EXPECT_LT(std::stoull(header(response, "x-ratelimit-remaining-tokens")), 10'000'000ull);
}

// Status and id of each of `count` sequential requests.
std::vector<std::string> outcome_sequence(std::uint64_t seed, int count) {
  SimOptions options = ephemeral();
  options.seed = seed;
  options.error_rate = 0.25;
  options.rate_limit_rate = 0.25;
  options.latency_jitter_ms = 1;  // exercises the latency draw, no assertion on time
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  std::vector<std::string> sequence;
  for (int i = 0; i < count; ++i) {
    Response response = client.chat(kTwoMessages);
    std::string entry = std::to_string(response.result_int());
    if (response.result_int() == 200)
      entry += " " + std::string(parse(response.body())["id"].GetString());
    sequence.push_back(entry);
  }
  return sequence;
}

TEST(ProviderSim, SameSeedGivesSameSequenceOfOutcomesAndIds) {
  auto first = outcome_sequence(7, 40);
  auto second = outcome_sequence(7, 40);
  EXPECT_EQ(first, second);
  auto has = [&](const char* status) {
    for (const auto& entry : first) {
      if (entry.rfind(status, 0) == 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("200"));
  EXPECT_TRUE(has("500"));
  EXPECT_TRUE(has("429"));
}

TEST(ProviderSim, DifferentSeedGivesDifferentSequence) {
  EXPECT_NE(outcome_sequence(7, 40), outcome_sequence(8, 40));
}

TEST(ProviderSim, StatsCountsRequestsByOutcome) {
  SimOptions options = ephemeral();
  options.error_rate = 0.3;
  options.rate_limit_rate = 0.3;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  int ok = 0, errors = 0, limited = 0;
  for (int i = 0; i < 30; ++i) {
    int status = client.chat(kTwoMessages).result_int();
    ok += status == 200;
    errors += status == 500;
    limited += status == 429;
  }
  EXPECT_EQ(client.chat("{not json").result_int(), 400);

  auto doc = parse(client.send(http::verb::get, "/stats").body());
  EXPECT_EQ(doc["requests"].GetUint64(), 31u);
  EXPECT_EQ(doc["ok"].GetUint64(), static_cast<std::uint64_t>(ok));
  EXPECT_EQ(doc["errors"].GetUint64(), static_cast<std::uint64_t>(errors));
  EXPECT_EQ(doc["rate_limited"].GetUint64(), static_cast<std::uint64_t>(limited));
  EXPECT_EQ(doc["bad_requests"].GetUint64(), 1u);

  SimStats stats = sim.stats();
  EXPECT_EQ(stats.requests, 31u);
  EXPECT_EQ(stats.ok, static_cast<std::uint64_t>(ok));
  EXPECT_EQ(stats.errors, static_cast<std::uint64_t>(errors));
  EXPECT_EQ(stats.rate_limited, static_cast<std::uint64_t>(limited));
  EXPECT_EQ(stats.bad_requests, 1u);
}

TEST(ProviderSim, MalformedJsonAnswers400InvalidRequestError) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (const char* body : {"{\"messages\": [", "not json at all", "[1,2,3]", ""}) {
    Response response = client.chat(body);
    EXPECT_EQ(response.result_int(), 400) << body;
    auto doc = parse(response.body());
    EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error") << body;
    EXPECT_TRUE(doc["error"]["message"].IsString());
  }
}

TEST(ProviderSim, MissingOrInvalidMessagesOrMaxTokensAnswers400) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  for (const char* body :
       {R"({"model":"m"})", R"({"model":"m","messages":[]})", R"({"model":"m","messages":"hi"})",
        R"({"model":"m","messages":[{"content":"hi"}]})",
        R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]})",
        R"({"model":"m","max_tokens":"5","messages":[{"role":"user","content":"hi"}]})"}) {
    Response response = client.chat(body);
    EXPECT_EQ(response.result_int(), 400) << body;
    EXPECT_STREQ(parse(response.body())["error"]["type"].GetString(), "invalid_request_error")
        << body;
  }
  Response missing = client.chat(R"({"model":"m"})");
  EXPECT_NE(missing.body().find("messages"), std::string::npos);
}

TEST(ProviderSim, KeepAliveServesTwoRequestsOnOneConnection) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  auto local = client.socket().local_endpoint();
  Response first = client.chat(kTwoMessages);
  Response second = client.chat(kTwoMessages);
  EXPECT_EQ(first.result_int(), 200);
  EXPECT_EQ(second.result_int(), 200);
  EXPECT_TRUE(first.keep_alive());
  EXPECT_TRUE(second.keep_alive());
  EXPECT_EQ(client.socket().local_endpoint(), local);  // same connection throughout
  EXPECT_EQ(sim.stats().requests, 2u);
}

TEST(ProviderSim, ConnectionCloseRequestIsAnsweredThenClosed) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  http::request<http::string_body> request{http::verb::get, "/healthz", 11};
  request.set(http::field::connection, "close");
  http::write(client.socket(), request);
  beast::flat_buffer buffer;
  Response response;
  http::read(client.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_FALSE(response.keep_alive());
  beast::error_code ec;
  http::read(client.socket(), buffer, response, ec);
  EXPECT_TRUE(ec);
}

TEST(ProviderSim, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  SimOptions options = ephemeral();
  options.idle_timeout_ms = 50;
  ProviderSimulator sim(options);
  sim.start();
  Client client(sim.port());
  EXPECT_EQ(client.send(http::verb::get, "/healthz").result_int(), 200);
  // Guard against a hang if the sweep never closes it; the assertion is only "closed".
  timeval guard{30, 0};
  setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  EXPECT_TRUE(client.closed_by_server());
}

TEST(ProviderSim, ExpectContinueGetsInterimResponseBeforeBody) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  std::string body = kTwoMessages;
  std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  asio::write(client.socket(), asio::buffer(head));
  std::string interim;
  asio::read_until(client.socket(), asio::dynamic_buffer(interim), "\r\n\r\n");
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim;
  asio::write(client.socket(), asio::buffer(body));
  beast::flat_buffer buffer;
  Response response;
  http::read(client.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 200) << response.body();
}

TEST(ProviderSim, HealthzAnswersOkAndUnknownPathAnswers404) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  Response health = client.send(http::verb::get, "/healthz");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_EQ(health.body(), "ok");
  EXPECT_EQ(client.send(http::verb::get, "/v1/nothing").result_int(), 404);
  EXPECT_EQ(client.send(http::verb::get, "/v1/chat/completions").result_int(), 405);
  EXPECT_EQ(sim.stats().requests, 0u);  // only chat completions count
}

TEST(ProviderSim, StartThrowsRuntimeErrorNamingAddressWhenPortIsTaken) {
  ProviderSimulator first(ephemeral());
  first.start();
  SimOptions options;
  options.port = first.port();
  ProviderSimulator second(options);
  try {
    second.start();
    FAIL() << "start() on a taken port did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(first.port())), std::string::npos)
        << e.what();
  }
}

TEST(ProviderSim, InvalidOptionsAreRejectedAtStart) {
  SimOptions options = ephemeral();
  options.error_rate = 1.5;
  ProviderSimulator sim(options);
  EXPECT_THROW(sim.start(), std::invalid_argument);
}

TEST(ProviderSim, StopClosesOpenConnectionsAndIsIdempotent) {
  ProviderSimulator sim(ephemeral());
  sim.start();
  Client client(sim.port());
  EXPECT_EQ(client.chat(kTwoMessages).result_int(), 200);
  sim.stop();
  EXPECT_TRUE(client.closed_by_server());
  sim.stop();
}

TEST(ProviderSim, StopWhileRepliesAreHeldByLatencyReturns) {
  SimOptions options = ephemeral();
  options.latency_ms = 60'000;
  options.threads = 2;
  ProviderSimulator sim(options);
  sim.start();
  std::vector<std::unique_ptr<Client>> clients;
  std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(std::string(kTwoMessages).size()) + "\r\n\r\n" + kTwoMessages;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>(sim.port()));
    asio::write(clients.back()->socket(), asio::buffer(request));
  }
  while (sim.stats().requests < 4) std::this_thread::yield();
  sim.stop();  // must not wait for the 60 s latency
  for (auto& client : clients) EXPECT_TRUE(client->closed_by_server());
}

TEST(ProviderSim, ConcurrentConnectionsOnTwoThreadsAreAllAnswered) {
  SimOptions options = ephemeral();
  options.threads = 2;
  options.latency_ms = 1;
  options.latency_jitter_ms = 1;
  ProviderSimulator sim(options);
  sim.start();
  constexpr int kClients = 16;
  constexpr int kRequestsEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&] {
      Client client(sim.port());
      for (int r = 0; r < kRequestsEach; ++r)
        answered += client.chat(kTwoMessages).result_int() == 200;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), kClients * kRequestsEach);
  EXPECT_EQ(sim.stats().ok, static_cast<std::uint64_t>(kClients * kRequestsEach));
}

TEST(ProviderSimCommand, BadFlagsAreAllReportedWithExitCode2) {
  testing::internal::CaptureStderr();
  int code = cmd_provider_sim({"--port", "notaport", "--error-rate", "2", "--bogus"});
  std::string errors = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_NE(errors.find("--port"), std::string::npos) << errors;
  EXPECT_NE(errors.find("--error-rate"), std::string::npos) << errors;
  EXPECT_NE(errors.find("--bogus"), std::string::npos) << errors;
}

TEST(ProviderSimCommand, HelpExitsZeroAndNamesEveryEndpointAndFlag) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(cmd_provider_sim({"--help"}), 0);
  std::string help = testing::internal::GetCapturedStdout();
  for (const char* text :
       {"--latency-ms", "--faults", "--tls-cert", "--tls-key", "--context-windows", "/v1/messages",
        "/openai/deployments/", "[[sim:content_filter]]"}) {
    EXPECT_NE(help.find(text), std::string::npos) << text;
  }
}

// A file in a fresh temp directory, removed with the object.
struct TempFile {
  explicit TempFile(const std::string& content) {
    std::string pattern = (std::filesystem::temp_directory_path() / "sim-faults-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    path = pattern;
    std::ofstream(path) << content;
  }
  ~TempFile() { std::filesystem::remove(path); }
  std::string path;
};

TEST(ProviderSimCommand, BadFaultScriptReportsEveryProblemWithExitCode2) {
  TempFile script(R"([{"kind":"errors","status":99},{"kind":"nope"}])");
  testing::internal::CaptureStderr();
  int code = cmd_provider_sim({"--faults", script.path});
  std::string errors = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_NE(errors.find("faults[0].status"), std::string::npos) << errors;
  EXPECT_NE(errors.find("faults[1].kind"), std::string::npos) << errors;
  EXPECT_NE(errors.find(script.path), std::string::npos) << errors;
}

TEST(ProviderSimCommand, UnreadableFaultsBadContextWindowsAndLoneTlsCertAreReported) {
  testing::internal::CaptureStderr();
  int code = cmd_provider_sim({"--faults", "/nonexistent/faults.json", "--context-windows",
                               "gpt-4o=128000,broken,=5,m=0", "--tls-cert", "/tmp/cert.pem"});
  std::string errors = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_NE(errors.find("cannot read '/nonexistent/faults.json'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("'broken'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("'=5'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("'m=0'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("--tls-cert and --tls-key"), std::string::npos) << errors;
}

}  // namespace
}  // namespace switchyard
