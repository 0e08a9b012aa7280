// The call stage with a fake HTTP client: calls past a deployment's concurrency limit wait in the
// worker and start, interactive first, as earlier calls to it end. No threads: the fake client
// keeps each call's callback and the test answers them.
#include "worker/call.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>

#include "worker/dispatch.h"
#include "worker/stage_world.h"

namespace switchyard {
namespace {

// Records every request; answer() completes the oldest one with a 200 chat.completion.
class FakeHttp final : public HttpClient {
 public:
  struct Call {
    HttpRequest request;
    std::function<void(HttpResponse)> done;
  };
  std::deque<Call> calls;
  void send(HttpRequest request, std::function<void(HttpResponse)> done) override {
    calls.push_back({std::move(request), std::move(done)});
  }
  void answer() {
    Call c = std::move(calls.front());
    calls.pop_front();
    HttpResponse r;
    r.status = 200;
    r.body = R"({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],)"
             R"("usage":{"prompt_tokens":5,"completion_tokens":1}})";
    c.done(std::move(r));
  }
};

TEST(CallStage, CallsPastTheConcurrencyLimitWaitAndStartInteractiveFirstAsCallsEnd) {
  testing::StageWorld world(R"(
worker: {default_tier: economy}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy, max_concurrency: 2,
     adaptive_concurrency: false,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  Scheduler scheduler(world.config(), world.clock.steady_ms());
  IoPool io(1);  // never started: nothing here posts to it
  std::atomic<bool> stopping{false};
  Dispatch dispatch(world.ctx, scheduler, io, world.sink);
  ProviderCall call(world.ctx, scheduler, dispatch, world.sink, world.delivery, io, stopping);
  FakeHttp http;
  call.set_http(&http);
  dispatch.set_call(&call);

  std::deque<Job> jobs;
  auto job = [&](const std::string& id, PriorityClass cls) {
    Job& j = jobs.emplace_back();
    j.decoded.status = DecodeStatus::kOk;
    j.decoded.request.request_id = id;
    j.decoded.request.team = "t";
    j.decoded.request.messages = {{"user", "hi"}};
    j.priority_class = cls;
    j.deployment_index = 0;
    return &j;
  };
  for (const char* id : {"b1", "b2", "b3", "b4"}) call.attempt(job(id, PriorityClass::kBackground));
  call.attempt(job("i1", PriorityClass::kInteractive));
  ASSERT_EQ(http.calls.size(), 2u) << "two places";
  EXPECT_EQ(world.stats.concurrency_waits.value(), 3u);
  EXPECT_EQ(scheduler.calls_in_flight(0), 2);

  http.answer();  // b1 ends: the interactive call goes before the waiting background ones
  ASSERT_EQ(http.calls.size(), 2u);
  EXPECT_EQ(world.sink.queued(), 1u);
  EXPECT_EQ(jobs[4].attempt, 1) << "i1 was sent";
  EXPECT_EQ(jobs[2].attempt, 0) << "b3 still waits";
  http.answer();
  http.answer();
  http.answer();
  http.answer();
  EXPECT_TRUE(http.calls.empty());
  EXPECT_EQ(world.sink.queued(), 5u) << "every call ended, none was lost in the queue";
  EXPECT_EQ(scheduler.calls_in_flight(0), 0);
  for (const Job& j : jobs)
    EXPECT_EQ(j.result.error, ErrorCode::kNone) << j.decoded.request.request_id;
}

}  // namespace
}  // namespace switchyard
