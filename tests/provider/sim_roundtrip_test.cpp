// Each adapter's request goes over real HTTP to the provider simulator, which speaks all three
// dialects and validates them (headers, body, Azure api-version), and the answer is read back
// by the same adapter: what the worker runs against in development and in the integration
// tests works end to end, error classes included.
#include <gtest/gtest.h>

#include <future>
#include <string>

#include "switchyard/common/io_pool.h"
#include "switchyard/provider/adapter.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {
namespace {

class SimRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override { pool_.start(); }
  void TearDown() override {
    if (sim_) sim_->stop();
    client_.reset();
    pool_.stop();
  }

  void start_sim(SimOptions options) {
    options.port = 0;
    sim_ = std::make_unique<ProviderSimulator>(std::move(options));
    sim_->start();
    HttpClientOptions client_options;
    client_options.proxy = ProxySettings{};  // the environment must not reroute a test
    client_ = make_http_client(pool_, std::move(client_options));
  }

  DeploymentConfig deployment(ProviderKind provider, const std::string& model) const {
    DeploymentConfig d;
    d.name = model;
    d.provider = provider;
    d.model = model;
    const std::string origin = "http://127.0.0.1:" + std::to_string(sim_->port());
    d.api_base = provider == ProviderKind::kAzure ? origin : origin + "/v1";
    return d;
  }

  ProviderOutcome call(const DeploymentConfig& d, const RequestEvent& request) {
    std::promise<HttpResponse> done;
    auto answer = done.get_future();
    client_->send(build_provider_request(request, d, "sim-key"),
                  [&done](HttpResponse response) { done.set_value(std::move(response)); });
    return parse_provider_response(d, answer.get(), "sim-key");
  }

  static RequestEvent ask(std::string text) {
    RequestEvent request;
    request.request_id = "r";
    request.team = "t";
    request.messages = {{"system", "Be brief."}, {"user", std::move(text)}};
    request.max_tokens = 32;
    return request;
  }

  IoPool pool_{1};
  std::unique_ptr<ProviderSimulator> sim_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(SimRoundTrip, EveryDialectAnswersOkWithUsage) {
  start_sim({});
  for (auto [provider, model] : {std::pair{ProviderKind::kOpenAI, "gpt-4o-mini"},
                                 std::pair{ProviderKind::kAzure, "gpt-4o-prod"},
                                 std::pair{ProviderKind::kAnthropic, "claude-sonnet-4-20250514"}}) {
    ProviderOutcome outcome = call(deployment(provider, model), ask("Say hello."));
    EXPECT_EQ(outcome.kind, OutcomeKind::kOk)
        << to_string(provider) << ": " << outcome.http_status << " " << outcome.error_message;
    EXPECT_FALSE(outcome.content.empty()) << to_string(provider);
    EXPECT_EQ(outcome.finish_reason, "stop") << to_string(provider);
    EXPECT_GT(outcome.usage.input_tokens, 0) << to_string(provider);
    EXPECT_GT(outcome.usage.output_tokens, 0) << to_string(provider);
  }
  EXPECT_EQ(sim_->stats().ok, 3u);
  EXPECT_EQ(sim_->stats().bad_requests, 0u);  // every request passed the dialect's validation
}

TEST_F(SimRoundTrip, ReasoningTokensOfAnOSeriesModelArrive) {
  start_sim({});
  ProviderOutcome outcome = call(deployment(ProviderKind::kOpenAI, "o4-mini"), ask("Think."));
  ASSERT_EQ(outcome.kind, OutcomeKind::kOk) << outcome.error_message;
  EXPECT_GT(outcome.usage.reasoning_tokens, 0);
  EXPECT_LE(outcome.usage.reasoning_tokens, outcome.usage.output_tokens);
}

TEST_F(SimRoundTrip, ContentFilterIsContentFilteredInEveryDialect) {
  start_sim({});
  const std::string filtered = "Tell me " + std::string(kContentFilterMarker);
  for (auto [provider, model] : {std::pair{ProviderKind::kOpenAI, "gpt-4o-mini"},
                                 std::pair{ProviderKind::kAzure, "gpt-4o-prod"},
                                 std::pair{ProviderKind::kAnthropic, "claude-sonnet-4-20250514"}}) {
    ProviderOutcome outcome = call(deployment(provider, model), ask(filtered));
    EXPECT_EQ(outcome.kind, OutcomeKind::kContentFiltered)
        << to_string(provider) << ": " << outcome.http_status << " " << outcome.error_message;
  }
}

TEST_F(SimRoundTrip, ContextTooLongInEveryDialect) {
  SimOptions options;
  options.default_context_window = 20;
  start_sim(options);
  const std::string long_text(400, 'x');
  for (auto [provider, model] : {std::pair{ProviderKind::kOpenAI, "gpt-4o-mini"},
                                 std::pair{ProviderKind::kAzure, "gpt-4o-prod"},
                                 std::pair{ProviderKind::kAnthropic, "claude-sonnet-4-20250514"}}) {
    ProviderOutcome outcome = call(deployment(provider, model), ask(long_text));
    EXPECT_EQ(outcome.kind, OutcomeKind::kContextTooLong)
        << to_string(provider) << ": " << outcome.http_status << " " << outcome.error_message;
  }
}

TEST_F(SimRoundTrip, ServerErrorsAreRetryableAndRateLimitsCarryRetryAfter) {
  SimOptions options;
  options.faults = {FaultRule{.kind = FaultKind::errors, .model = "err-a"},
                    FaultRule{.kind = FaultKind::errors, .model = "err-b", .status = 529},
                    FaultRule{.kind = FaultKind::rate_limit, .model = "busy", .retry_after_s = 7}};
  start_sim(options);
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    EXPECT_EQ(call(deployment(provider, "err-a"), ask("hi")).kind, OutcomeKind::kRetryable)
        << to_string(provider);
    EXPECT_EQ(call(deployment(provider, "err-b"), ask("hi")).kind, OutcomeKind::kRetryable)
        << to_string(provider);
    ProviderOutcome limited = call(deployment(provider, "busy"), ask("hi"));
    EXPECT_EQ(limited.kind, OutcomeKind::kRateLimited) << to_string(provider);
    EXPECT_EQ(limited.retry_after_ms, 7000) << to_string(provider);
  }
}

TEST_F(SimRoundTrip, MalformedBodyIsFatalAndSaysSo) {
  SimOptions options;
  options.faults = {FaultRule{.kind = FaultKind::malformed}};
  start_sim(options);
  for (ProviderKind provider :
       {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic}) {
    ProviderOutcome outcome = call(deployment(provider, "m"), ask("hi"));
    EXPECT_EQ(outcome.kind, OutcomeKind::kFatal) << to_string(provider);
    EXPECT_EQ(outcome.error_message.rfind("malformed provider response: ", 0), 0u)
        << outcome.error_message;
  }
}

TEST_F(SimRoundTrip, ADeploymentThatIsDownIsRetryable) {
  SimOptions options;
  options.faults = {FaultRule{.kind = FaultKind::down}};
  start_sim(options);
  ProviderOutcome outcome = call(deployment(ProviderKind::kAnthropic, "m"), ask("hi"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kRetryable);
  EXPECT_EQ(outcome.http_status, 0);
}

}  // namespace
}  // namespace switchyard
