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

namespace switchyard {
namespace {

// routing.background_planner in the dispatch stage: a burst larger than the cheap deployment's
// minute waits for its next window (its deadline allows it) instead of spilling onto a dearer
// deployment of the same tier, as the greedy choice does.
std::size_t calls_to(const FakeHttp& http, const std::string& host) {
  std::size_t n = 0;
  for (const auto& c : http.calls) n += c.request.url.find(host) != std::string::npos;
  return n;
}

std::size_t burst_through_dispatch(bool planner, FakeHttp& http) {
  testing::StageWorld world(std::string(R"(
worker: {default_tier: economy}
routing: {interactive_reserve: 0, background_planner: )") +
                            (planner ? "true" : "false") + R"(}
deployments:
  - {name: cheap, api_base: "https://cheap/v1", model: m1, tier: economy, rpm: 10,
     input_cost_per_token: 0.00000027, output_cost_per_token: 0.0000011}
  - {name: dear, api_base: "https://dear/v1", model: m2, tier: economy, rpm: 100,
     input_cost_per_token: 0.000001, output_cost_per_token: 0.000005}
)");
  Scheduler scheduler(world.config(), world.clock.steady_ms());
  IoPool io(1);  // never started: the planning timer never fires, the test ticks by hand
  std::atomic<bool> stopping{false};
  Dispatch dispatch(world.ctx, scheduler, io, world.sink);
  ProviderCall call(world.ctx, scheduler, dispatch, world.sink, world.delivery, io, stopping);
  call.set_http(&http);
  dispatch.set_call(&call);
  std::deque<Job> jobs;
  for (int i = 0; i < 15; ++i) {
    Job& j = jobs.emplace_back();
    j.decoded.status = DecodeStatus::kOk;
    j.decoded.request.request_id = "b" + std::to_string(i);
    j.decoded.request.team = "t";
    j.decoded.request.model = "economy";
    j.decoded.request.messages = {{"user", "summarise this"}};
    j.decoded.request.deadline_unix_ms = world.clock.wall_ms() + 240'000;
    j.priority_class = PriorityClass::kBackground;
    EXPECT_TRUE(dispatch.route(&j));
    dispatch.schedule(&j);
  }
  if (planner) {
    EXPECT_TRUE(http.calls.empty()) << "new background work waits for the plan";
    dispatch.plan_tick();
    EXPECT_EQ(world.stats.plans.value(), 1u);
  }
  return jobs.size();
}

TEST(DispatchPlanner, ABurstWaitsForTheCheapDeploymentsNextWindowInsteadOfSpilling) {
  FakeHttp greedy;
  burst_through_dispatch(false, greedy);
  EXPECT_EQ(calls_to(greedy, "cheap"), 10u);
  EXPECT_EQ(calls_to(greedy, "dear"), 5u) << "today's greedy choice spills onto the dear one";

  FakeHttp planned;
  burst_through_dispatch(true, planned);
  EXPECT_EQ(calls_to(planned, "cheap"), 10u);
  EXPECT_EQ(calls_to(planned, "dear"), 0u) << "the other 5 wait for the cheap one's next window";
}

}  // namespace
}  // namespace switchyard
