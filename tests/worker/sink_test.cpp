// The sink stage with fakes: an in-memory store and a recording producer, a hand-moved clock.
// No threads: write_batch() is the writer thread's loop body.
#include "worker/sink.h"

#include <gtest/gtest.h>

#include <deque>

#include "worker/stage_world.h"

namespace switchyard {
namespace {

constexpr Picodollars kCent = 10'000'000'000;

class SinkTest : public ::testing::Test {
 protected:
  SinkTest()
      : world_(R"(
worker: {default_tier: economy}
postgres: {retry_backoff_ms: 10}
teams:
  - {name: search, budget_usd: 0.10, budget_period: day}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)") {}
  const Config& config() const { return world_.config(); }

  Job* job(const std::string& id, const std::string& team = "ads") {
    Job& j = jobs_.emplace_back();
    j.decoded.status = DecodeStatus::kOk;
    j.decoded.request.request_id = id;
    j.decoded.request.team = team;
    j.tp = {"requests", 0};
    j.offset = static_cast<std::int64_t>(jobs_.size());
    j.out_topic = "results";
    j.acks_pending = 1;
    j.fetched_us = clock_.steady_us();
    j.result.content = "answer to " + id;
    return &j;
  }
  bool write(std::vector<Job*> batch, std::vector<Job*>* deferred = nullptr) {
    std::vector<Job*> carried;
    bool ok = sink_.write_batch(store_, batch, deferred ? *deferred : carried, stop_);
    return ok;
  }

  testing::StageWorld world_;
  ManualClock& clock_ = world_.clock;
  WorkerStats& stats_ = world_.stats;
  WorkerSeries& series_ = world_.series;
  StoreHealth& health_ = world_.health;
  BudgetGate& gate_ = world_.gate;
  HandOff<Job*>& completions_ = world_.completions;
  HandOff<Job*>& to_lookup_ = world_.to_dedupe;
  Delivery& delivery_ = world_.delivery;
  Sink& sink_ = world_.sink;
  testing::FakeStore& store_ = world_.store;
  testing::FakeProducer& producer_ = world_.producer;
  std::atomic<bool> stop_{false};
  std::deque<Job> jobs_;
};

TEST_F(SinkTest, ABatchIsOneStatementAndEveryResultIsProducedAfterIt) {
  ASSERT_TRUE(write({job("a"), job("b"), job("c")}));
  EXPECT_EQ(store_.statements, 1);
  EXPECT_EQ(store_.batch_sizes, std::vector<std::size_t>{3});
  ASSERT_EQ(producer_.produced.size(), 3u);
  EXPECT_EQ(producer_.produced[0].topic, "results");
  EXPECT_EQ(producer_.produced[0].key, "a");
  EXPECT_NE(producer_.produced[0].value.find("\"content\":\"answer to a\""), std::string::npos);
  EXPECT_EQ(store_.row("b").result_json, producer_.produced[1].value)
      << "the row and the event carry the same result";
  EXPECT_EQ(stats_.results_ok.value(), 3u);
  EXPECT_EQ(series_.requests(1, 1, ErrorCode::kNone).value(), 3u);
}

TEST_F(SinkTest, ARequestIdTwiceInOneBatchWaitsForTheNextStatement) {
  Job* first = job("same");
  Job* second = job("same");
  std::vector<Job*> deferred;
  ASSERT_TRUE(write({first, job("other"), second}, &deferred));
  EXPECT_EQ(store_.batch_sizes, std::vector<std::size_t>{2});
  ASSERT_EQ(deferred, std::vector<Job*>{second});
  ASSERT_TRUE(write(deferred));
  EXPECT_EQ(store_.batch_sizes, (std::vector<std::size_t>{2, 1}));
}

TEST_F(SinkTest, AResultAnotherDeliveryStoredFirstIsReplacedByTheStoredOne) {
  store_.rows[{"ads", "dup"}] = {R"({"request_id":"dup","status":"ok","stored":true})", 1};
  ASSERT_TRUE(write({job("dup")}));
  ASSERT_EQ(producer_.produced.size(), 1u);
  EXPECT_EQ(producer_.produced[0].value, R"({"request_id":"dup","status":"ok","stored":true})");
  EXPECT_EQ(stats_.write_conflicts.value(), 1u);
}

TEST_F(SinkTest, AStoreOutageIsRetriedWithIntakePausedUntilTheStatementPasses) {
  store_.fail_next = 3;
  ASSERT_TRUE(write({job("a")}));
  EXPECT_EQ(stats_.store_failures.value(), 3u);
  EXPECT_TRUE(health_.healthy()) << "the statement that passed resumed intake";
  EXPECT_EQ(store_.rows_of("a"), 1u);
}

TEST_F(SinkTest, StoppingDuringAnOutageAbandonsTheBatchUnacknowledged) {
  store_.fail_next = 1'000'000;
  stop_ = true;
  EXPECT_FALSE(write({job("a")}));
  EXPECT_FALSE(health_.healthy());
  EXPECT_TRUE(producer_.produced.empty()) << "nothing is acknowledged that is not durable";
}

TEST_F(SinkTest, TheWriteSettlesReservationsAndWakesTheTeamsParkedRequests) {
  // a holds $0.06 of search's $0.10; b ($0.06) was parked waiting for a's settlement.
  Job* a = job("a", "search");
  Job* b = job("b", "search");
  for (Job* j : {a, b}) {
    j->team = gate_.team_with_budget("search");
    j->request_id = j->decoded.request.request_id;
    j->worst_case = 6 * kCent;
  }
  std::vector<BudgetAnswerForClaim> answers;
  std::vector<BudgetClaim*> woken;
  std::string error;
  ASSERT_TRUE(gate_.reserve(store_, std::vector<BudgetClaim*>{a}, answers, woken, 0, error));
  ASSERT_TRUE(gate_.reserve(store_, std::vector<BudgetClaim*>{b}, answers, woken, 0, error));
  ASSERT_EQ(answers[0].outcome, BudgetOutcome::kWaitingForSettlement);
  a->result.cost = kCent;
  ASSERT_TRUE(write({a}));
  EXPECT_EQ(a->reserved, 0);
  EXPECT_EQ(gate_.held(0), 0);
  EXPECT_EQ(store_.spent["search"], kCent);
  std::vector<Job*> retried;
  to_lookup_.take(retried, 10, std::chrono::milliseconds(0));
  EXPECT_EQ(retried, std::vector<Job*>{b}) << "b goes back to dedupe to reserve again";
  EXPECT_EQ(stats_.budget_defer_wakes.value(), 1u);
}

TEST_F(SinkTest, ResultTimingsComeFromTheClock) {
  Job* j = job("timed");
  j->kafka_timestamp_ms = clock_.wall_ms() - 500;  // published 500 ms before it was fetched
  clock_.advance_ms(200);
  j->provider_ms = 150;
  ASSERT_TRUE(write({j}));
  EXPECT_EQ(j->result.queued_ms, 500);
  EXPECT_EQ(j->result.total_ms, 700);
  EXPECT_EQ(j->result.provider_ms, 150);
}

TEST_F(SinkTest, AResultThatCannotBeQueuedIsProducedAgainByTheDeliveryThread) {
  producer_.refuse_next = 1;
  ASSERT_TRUE(write({job("a")}));
  EXPECT_TRUE(producer_.produced.empty());
  EXPECT_EQ(stats_.produce_failures.value(), 1u);
  delivery_.run_once(0);
  ASSERT_EQ(producer_.produced.size(), 1u);
  // Its acknowledgement hands the job back to intake.
  delivery_.on_delivery(producer_.produced[0].opaque, nullptr, false);
  std::vector<Job*> done;
  completions_.take(done, 10, std::chrono::milliseconds(0));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->decoded.request.request_id, "a");
}

TEST_F(SinkTest, ARowPostgresRefusesIsFoundByHalvingAndStoredAsAnErrorWhileTheRestIsWritten) {
  // Postgres refuses a result whose content it cannot store (0xed 0xb0 0x80); every retry of
  // the same statement would fail the same way, so retrying it forever wedged the writer.
  store_.refuses = [](const TerminalRecord& rec) {
    return rec.result->content.find("poison") != std::string::npos;
  };
  std::vector<Job*> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(job("r" + std::to_string(i)));
  batch[5]->result.content = "poison";
  ASSERT_TRUE(write(batch));
  EXPECT_EQ(store_.rows.size(), 8u) << "every request has its row";
  EXPECT_EQ(store_.rows_of("r0"), 1u);
  const std::string& stored = store_.row("r5").result_json;
  EXPECT_NE(stored.find("\"status\":\"error\""), std::string::npos) << stored;
  EXPECT_NE(stored.find("could not be stored"), std::string::npos) << stored;
  EXPECT_EQ(stored.find("poison"), std::string::npos);
  EXPECT_EQ(producer_.produced.size(), 8u) << "every result is produced";
  EXPECT_EQ(stats_.store_failures.value(), 0u) << "a refused row is not an outage";
  EXPECT_TRUE(health_.healthy());
  EXPECT_GE(stats_.rows_rejected.value(), 3u) << "8 -> 4 -> 2 -> 1";
}

TEST(DeliveryLimits, AResultTooLargeForTheTopicIsReplacedByABoundedErrorEvent) {
  // message.max.bytes 20,000: a 50 KB answer would be refused by the producer, then produced
  // again every 50 ms forever, and its partition would never commit again.
  testing::StageWorld world(R"(
kafka: {properties: {message.max.bytes: "20000"}}
worker: {default_tier: economy}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  Job job;
  job.decoded.request.request_id = "huge";
  job.decoded.request.team = "t";
  job.out_topic = "results";
  job.acks_pending = 1;
  job.result_json = R"({"request_id":"huge","status":"ok","output":{"content":")" +
                    std::string(50'000, 'x') + R"("}})";
  world.delivery.produce_result(&job);
  ASSERT_EQ(world.producer.produced.size(), 1u);
  const std::string& value = world.producer.produced[0].value;
  EXPECT_LT(value.size(), 20'000u);
  EXPECT_NE(value.find("\"code\":\"result_too_large\""), std::string::npos) << value;
  EXPECT_NE(value.find("50"), std::string::npos);
  EXPECT_EQ(world.stats.results_truncated.value(), 1u);

  Job dlq;
  dlq.decoded.status = DecodeStatus::kUnreadable;
  dlq.decoded.violations = {"not valid JSON"};
  dlq.raw = std::string(40'000, '[');
  dlq.acks_pending = 1;
  world.delivery.produce_dlq(&dlq);
  ASSERT_EQ(world.producer.produced.size(), 2u);
  EXPECT_LT(world.producer.produced[1].value.size(), 20'000u) << "the original bytes, cut";
}

TEST(DeliveryLimits, RecordsTheBrokerRefusesForGoodAreChangedAndTransientFailuresBackOff) {
  testing::StageWorld world(R"(
worker: {default_tier: economy}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  Job job;
  job.decoded.request.request_id = "r1";
  job.decoded.request.team = "t";
  job.out_topic = "replies";  // the request's own reply topic
  job.acks_pending = 1;
  job.result_json = R"({"request_id":"r1","status":"ok"})";
  world.delivery.produce_result(&job);
  ASSERT_EQ(world.producer.produced.size(), 1u);

  // The reply topic refuses it for good (deleted, not authorized): the results topic gets it.
  world.delivery.on_delivery(world.producer.produced[0].opaque,
                             "Broker: Topic authorization "
                             "failed",
                             true);
  world.delivery.run_once(0);
  ASSERT_EQ(world.producer.produced.size(), 2u);
  EXPECT_EQ(world.producer.produced[1].topic, world.config().kafka.results_topic);
  EXPECT_EQ(world.producer.produced[1].value, job.result_json);

  // The results topic refuses it for good too (a smaller max.message.bytes on the broker): the
  // bounded event goes instead, once.
  world.delivery.on_delivery(world.producer.produced[1].opaque, "Broker: Message size too large",
                             true);
  world.delivery.run_once(0);
  ASSERT_EQ(world.producer.produced.size(), 3u);
  EXPECT_NE(world.producer.produced[2].value.find("result_too_large"), std::string::npos);
  EXPECT_EQ(world.stats.results_truncated.value(), 1u);

  // Refused again, and transient failures: the same record, after 50, 100, 200 ms ...
  world.delivery.on_delivery(world.producer.produced[2].opaque,
                             "Broker: Topic authorization "
                             "failed",
                             true);
  world.delivery.run_once(0);
  EXPECT_EQ(world.producer.produced.size(), 3u) << "not before its backoff";
  world.clock.advance_ms(49);
  world.delivery.run_once(0);
  EXPECT_EQ(world.producer.produced.size(), 3u);
  world.clock.advance_ms(1);
  world.delivery.run_once(0);
  ASSERT_EQ(world.producer.produced.size(), 4u);
  EXPECT_EQ(world.producer.produced[3].value, world.producer.produced[2].value);
  world.delivery.on_delivery(world.producer.produced[3].opaque, "Local: Message timed out", false);
  world.clock.advance_ms(99);
  world.delivery.run_once(0);
  EXPECT_EQ(world.producer.produced.size(), 4u);
  world.clock.advance_ms(1);
  world.delivery.run_once(0);
  EXPECT_EQ(world.producer.produced.size(), 5u);
  EXPECT_EQ(world.stats.produce_failures.value(), 4u);
  EXPECT_EQ(job.acks_pending.load(), 1);  // nothing was acknowledged or dropped on the way
}

}  // namespace
}  // namespace switchyard
