// Intake with a fake consumer and producer: what it does with each kind of record, and what it
// commits. No broker, no threads: run_once() is one turn of the poll loop.
#include "worker/intake.h"

#include <gtest/gtest.h>

#include "switchyard/event/signature.h"
#include "worker/stage_world.h"

namespace switchyard {
namespace {

const char* kTopic = "req.background";

class IntakeTest : public ::testing::Test {
 protected:
  IntakeTest()
      : world_(R"(
kafka:
  topics: {background: [req.background, team-ads]}
  reply_topic_allowlist: [shared.replies]
worker: {default_tier: economy, commit_interval_ms: 10}
teams:
  - {name: t, reply_topics: [t.replies]}
  - {name: ads, topics: [team-ads]}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)"),
        intake_(world_.ctx, world_.delivery, world_.sink, world_.to_dedupe, world_.completions) {
    intake_.set_consumer(&consumer_);
    consumer_.assigned = {{kTopic, 0}};
    intake_.on_assigned(consumer_.assigned);
  }
  const Config& config() const { return world_.config(); }
  static std::string event(const std::string& id) {
    return R"({"request_id":")" + id +
           R"(","team":"t","messages":[{"role":"user","content":"hi"}]})";
  }
  std::vector<Job*> fetched() {
    std::vector<Job*> jobs;
    to_dedupe_.take(jobs, 100, std::chrono::milliseconds(0));
    return jobs;
  }
  void turn(bool stopping = false) {
    clock_.advance_ms(20);  // past commit_interval_ms: every turn may commit
    intake_.run_once(0, stopping);
  }
  std::int64_t last_commit() const {
    return consumer_.committed.empty() ? -1 : consumer_.committed.back().offset;
  }

  testing::StageWorld world_;
  Intake intake_;
  testing::FakeConsumer consumer_;
  ManualClock& clock_ = world_.clock;
  WorkerStats& stats_ = world_.stats;
  HandOff<Job*>& completions_ = world_.completions;
  HandOff<Job*>& to_dedupe_ = world_.to_dedupe;
  Delivery& delivery_ = world_.delivery;
  Sink& sink_ = world_.sink;
  testing::FakeProducer& producer_ = world_.producer;
};

TEST_F(IntakeTest, GoodEventsGoToDedupeAndCommitOnlyTheFinishedPrefix) {
  for (const char* id : {"a", "b", "c"}) consumer_.add(kTopic, 0, event(id));
  turn();
  std::vector<Job*> jobs = fetched();
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(intake_.pending(), 3u);
  completions_.push(jobs[1]);  // b finished first: nothing is committable yet
  turn();
  EXPECT_EQ(last_commit(), -1);
  completions_.push(jobs[0]);
  turn();
  EXPECT_EQ(last_commit(), 2) << "a and b finished: the next offset to consume is 2";
  completions_.push(jobs[2]);
  turn();
  EXPECT_EQ(last_commit(), 3);
  EXPECT_EQ(intake_.pending(), 0u);
}

TEST_F(IntakeTest, AnUnreadableEventGoesToTheDlqAndAnInvalidOneAlsoToTheSink) {
  consumer_.add(kTopic, 0, "not json");
  consumer_.add(kTopic, 0, R"({"request_id":"bad","team":"t","messages":[]})");
  turn();
  EXPECT_TRUE(fetched().empty()) << "neither reaches dedupe";
  ASSERT_EQ(producer_.produced.size(), 2u);
  EXPECT_EQ(producer_.produced[0].topic, config().kafka.dlq_topic);
  EXPECT_EQ(producer_.produced[1].topic, config().kafka.dlq_topic);
  EXPECT_EQ(sink_.queued(), 1u) << "the invalid one becomes an invalid_request result";
  EXPECT_EQ(stats_.dlq.value(), 2u);
  // Both end: the DLQ records are acknowledged, the invalid one's result is written and
  // acknowledged, and intake commits past both (and frees them).
  for (const auto& record : std::vector(producer_.produced))
    delivery_.on_delivery(record.opaque, nullptr, false);
  std::atomic<bool> stop{false};
  ASSERT_TRUE(sink_.run_once(world_.store, stop));
  ASSERT_EQ(producer_.produced.size(), 3u);
  delivery_.on_delivery(producer_.produced[2].opaque, nullptr, false);
  turn();
  EXPECT_EQ(intake_.pending(), 0u);
  EXPECT_EQ(last_commit(), 2);
}

TEST_F(IntakeTest, WorkGivenUpAtShutdownIsNeitherCommittedNorWaitedFor) {
  for (const char* id : {"a", "b"}) consumer_.add(kTopic, 0, event(id));
  turn();
  std::vector<Job*> jobs = fetched();
  ASSERT_EQ(jobs.size(), 2u);
  // a got a 503 while the worker was stopping: the call stage gave it up, retryable.
  jobs[0]->abandoned = true;
  delivery_.abandon(jobs[0]);
  completions_.push(jobs[1]);
  turn(/*stopping=*/true);
  EXPECT_EQ(intake_.pending(), 0u) << "the drain does not wait for work given up";
  EXPECT_EQ(last_commit(), -1) << "a's offset stays uncommitted, so a is redelivered";
  intake_.commit(true);
  EXPECT_EQ(last_commit(), -1);
}

TEST_F(IntakeTest, TheSameRequestIdTwiceInFlightIsCalledOnce) {
  consumer_.add(kTopic, 0, event("same"));
  consumer_.add(kTopic, 0, event("same"));
  turn();
  std::vector<Job*> jobs = fetched();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(stats_.in_flight_duplicates.value(), 1u);
  completions_.push(jobs[0]);
  turn();
  EXPECT_EQ(last_commit(), 2) << "both offsets finish with the one call";
}

// Request ids are per team: another team's request with the same id is its own request, not a
// duplicate that would finish with (and receive) the first team's result.
TEST_F(IntakeTest, TheSameRequestIdOfTwoTeamsInFlightIsTwoRequests) {
  consumer_.add(kTopic, 0, event("same"));
  consumer_.add(
      kTopic, 0,
      R"({"request_id":"same","team":"ads","messages":[{"role":"user","content":"hi"}]})");
  turn();
  std::vector<Job*> jobs = fetched();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(stats_.in_flight_duplicates.value(), 0u);
  EXPECT_EQ(jobs[0]->decoded.request.team, "t");
  EXPECT_EQ(jobs[1]->decoded.request.team, "ads");
  EXPECT_TRUE(jobs[0]->duplicates.empty());
  completions_.push(jobs[0]);
  turn();
  EXPECT_EQ(last_commit(), 1) << "ads' request is still in flight";
  completions_.push(jobs[1]);
  turn();
  EXPECT_EQ(last_commit(), 2);
}

// Tenancy: a team's topic proves the team; a team the config does not list is not served.
TEST_F(IntakeTest, AnEventOnATeamsTopicNamingAnotherTeamAndAnUnknownTeamAreInvalid) {
  consumer_.assigned = {{kTopic, 0}, {"team-ads", 0}};
  intake_.on_assigned(consumer_.assigned);
  auto named = [](const std::string& id, const std::string& team) {
    return R"({"request_id":")" + id + R"(","team":")" + team +
           R"(","messages":[{"role":"user","content":"hi"}]})";
  };
  consumer_.add("team-ads", 0, named("own", "ads"));
  consumer_.add("team-ads", 0, named("other", "t"));  // written to ads' topic, claims team t
  consumer_.add(kTopic, 0, named("stranger", "nobody"));
  consumer_.add(kTopic, 0, named("shared", "ads"));  // a shared topic: the claim stands
  turn();
  std::vector<Job*> jobs = fetched();
  std::vector<std::string> served;
  for (Job* j : jobs)
    served.push_back(j->decoded.request.request_id + "/" + j->decoded.request.team);
  EXPECT_EQ(served, (std::vector<std::string>{"own/ads", "shared/ads"}));
  EXPECT_EQ(stats_.invalid.value(), 2u);
  ASSERT_EQ(sink_.queued(), 2u) << "both end at once as invalid_request results";

  for (const auto& record : std::vector(producer_.produced))
    delivery_.on_delivery(record.opaque, nullptr, false);  // the DLQ records
  std::atomic<bool> stop{false};
  ASSERT_TRUE(sink_.run_once(world_.store, stop));
  // The one on ads' topic is recorded under ads, the team that wrote it; nothing is team t's.
  const std::string& other = world_.store.row("other").result_json;
  EXPECT_NE(other.find(R"("team":"ads")"), std::string::npos) << other;
  EXPECT_NE(other.find("the topic of team ads"), std::string::npos) << other;
  EXPECT_NE(other.find("invalid_request"), std::string::npos) << other;
  const std::string& stranger = world_.store.row("stranger").result_json;
  EXPECT_NE(stranger.find("unknown team 'nobody'"), std::string::npos) << stranger;

  // Everything ends and is freed.
  for (std::size_t i = 2; i < producer_.produced.size(); ++i)
    delivery_.on_delivery(producer_.produced[i].opaque, nullptr, false);
  for (Job* j : jobs) completions_.push(j);
  turn();
  EXPECT_EQ(intake_.pending(), 0u);
}

TEST_F(IntakeTest, UnknownTeamsAreServedOnlyWhenTheConfigSaysSo) {
  testing::StageWorld open_world(R"(
kafka:
  topics: {background: [req.background]}
tenancy: {allow_unknown_teams: true}
worker: {default_tier: economy}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  Intake intake(open_world.ctx, open_world.delivery, open_world.sink, open_world.to_dedupe,
                open_world.completions);
  testing::FakeConsumer consumer;
  intake.set_consumer(&consumer);
  consumer.assigned = {{kTopic, 0}};
  intake.on_assigned(consumer.assigned);
  consumer.add(kTopic, 0, event("dev"));  // team t, listed nowhere in this config
  intake.run_once(0, false);
  std::vector<Job*> jobs;
  open_world.to_dedupe.take(jobs, 10, std::chrono::milliseconds(0));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(open_world.stats.invalid.value(), 0u);
  open_world.completions.push(jobs[0]);
  intake.run_once(0, false);
}

TEST_F(IntakeTest, AReplyTopicIsOpenToEveryTeamOrOneTeamsOwn) {
  auto replying = [](const std::string& id, const std::string& team, const std::string& topic) {
    return R"({"request_id":")" + id + R"(","team":")" + team + R"(","reply_topic":")" + topic +
           R"(","messages":[{"role":"user","content":"hi"}]})";
  };
  consumer_.add(kTopic, 0, replying("own", "t", "t.replies"));
  consumer_.add(kTopic, 0, replying("shared", "ads", "shared.replies"));
  consumer_.add(kTopic, 0, replying("theirs", "ads", "t.replies"));  // t's topic: refused
  turn();
  std::vector<Job*> jobs = fetched();
  std::vector<std::string> served;
  for (Job* j : jobs) served.push_back(j->decoded.request.request_id + "->" + j->out_topic);
  EXPECT_EQ(served, (std::vector<std::string>{"own->t.replies", "shared->shared.replies"}));
  EXPECT_EQ(stats_.invalid.value(), 1u);
  ASSERT_EQ(sink_.queued(), 1u);
  for (const auto& record : std::vector(producer_.produced))
    delivery_.on_delivery(record.opaque, nullptr, false);
  std::atomic<bool> stop{false};
  ASSERT_TRUE(sink_.run_once(world_.store, stop));
  const std::string& theirs = world_.store.row("theirs").result_json;
  EXPECT_NE(theirs.find("nor one of team ads's reply_topics"), std::string::npos) << theirs;
  for (std::size_t i = 1; i < producer_.produced.size(); ++i)
    delivery_.on_delivery(producer_.produced[i].opaque, nullptr, false);
  for (Job* j : jobs) completions_.push(j);
  turn();
  EXPECT_EQ(intake_.pending(), 0u);
}

}  // namespace
}  // namespace switchyard

namespace switchyard {
namespace {

// Signed events: on a shared topic a team with signing keys is proven only by a valid
// signature; unsigned or badly signed events naming it end invalid_request, unbilled, and are
// not recorded under its name (a forger would otherwise take its request ids).
TEST(IntakeSignatures, ATeamWithKeysIsServedOnlyOnAValidSignature) {
  const std::string key(32, 's'), rollout_key(32, 'r'), wrong_key(32, 'w');
  ::setenv("SY_INTAKE_SEARCH_KEY", key.c_str(), 1);
  ::setenv("SY_INTAKE_ADS_KEY", rollout_key.c_str(), 1);
  testing::StageWorld world(R"(
kafka:
  topics: {background: [shared, team-search]}
worker: {default_tier: economy}
teams:
  - {name: search, topics: [team-search], signing_key_env: SY_INTAKE_SEARCH_KEY}
  - {name: ads, signing_key_env: SY_INTAKE_ADS_KEY, require_signature: false}
  - {name: web}
deployments:
  - {name: mini, api_base: "https://a/v1", model: m, tier: economy,
     input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000004}
)");
  Intake intake(world.ctx, world.delivery, world.sink, world.to_dedupe, world.completions);
  testing::FakeConsumer consumer;
  intake.set_consumer(&consumer);
  consumer.assigned = {{"shared", 0}, {"team-search", 0}};
  intake.on_assigned(consumer.assigned);
  auto named = [](const std::string& id, const std::string& team) {
    return R"({"request_id":")" + id + R"(","team":")" + team +
           R"(","messages":[{"role":"user","content":"hi"}]})";
  };
  const std::string signed_ok = named("signed", "search");
  consumer.add("shared", 0, signed_ok, sign_event(key, signed_ok));
  consumer.add("shared", 0, named("unsigned", "search"));
  const std::string forged = named("forged", "search");
  consumer.add("shared", 0, forged, sign_event(wrong_key, forged));
  // Signed for one value, sent with another (the team swapped in after signing).
  consumer.add("shared", 0, named("swapped", "search"), sign_event(key, named("swapped", "web")));
  consumer.add("shared", 0, named("garbled", "search"), "sha256=not-hex");
  consumer.add("team-search", 0, named("own-unsigned", "search"));  // its topic, still unsigned
  consumer.add("shared", 0, named("rollout", "ads"));               // require_signature: false
  const std::string ads_signed = named("ads-signed", "ads");
  consumer.add("shared", 0, ads_signed, sign_event(rollout_key, ads_signed));
  const std::string ads_bad = named("ads-bad", "ads");
  consumer.add("shared", 0, ads_bad, sign_event(key, ads_bad));  // search's key: refused
  consumer.add("shared", 0, named("web", "web"));                // no keys: not checked
  intake.run_once(0, false);

  std::vector<Job*> jobs;
  world.to_dedupe.take(jobs, 20, std::chrono::milliseconds(0));
  std::vector<std::string> served;
  for (Job* j : jobs) served.push_back(j->decoded.request.request_id);
  EXPECT_EQ(served, (std::vector<std::string>{"signed", "rollout", "ads-signed", "web"}));
  EXPECT_EQ(world.stats.signatures_valid.value(), 2u);
  EXPECT_EQ(world.stats.unsigned_accepted.value(), 1u);
  EXPECT_EQ(world.stats.signatures_refused.value(), 6u);
  ASSERT_EQ(world.sink.queued(), 6u) << "each refusal ends at once as invalid_request";

  for (const auto& record : std::vector(world.producer.produced))
    world.delivery.on_delivery(record.opaque, nullptr, false);  // the DLQ records
  std::atomic<bool> stop{false};
  ASSERT_TRUE(world.sink.run_once(world.store, stop));
  // Refused on a shared topic: recorded under no team, so search's ids stay search's.
  for (const char* id : {"unsigned", "forged", "swapped", "garbled"}) {
    ASSERT_EQ(world.store.rows.count({"", id}), 1u) << id;
    const std::string& row = world.store.rows.at({"", id}).result_json;
    EXPECT_NE(row.find("invalid_request"), std::string::npos) << row;
    EXPECT_NE(row.find("team search requires signed events"), std::string::npos) << row;
    EXPECT_EQ(world.store.rows.count({"search", id}), 0u) << id;
  }
  EXPECT_NE(world.store.rows.at({"", "unsigned"}).result_json.find("header is missing"),
            std::string::npos);
  EXPECT_NE(world.store.rows.at({"", "forged"}).result_json.find("does not verify"),
            std::string::npos);
  EXPECT_NE(world.store.rows.at({"", "garbled"}).result_json.find("is not sha256="),
            std::string::npos);
  // On search's own topic the topic proves the team: the refusal is search's row.
  EXPECT_EQ(world.store.rows.count({"search", "own-unsigned"}), 1u);
  EXPECT_EQ(world.store.rows.count({"", "ads-bad"}), 1u) << "a bad signature is refused even "
                                                            "when unsigned events are accepted";
  for (const auto& [key_, row] : world.store.rows)
    EXPECT_EQ(row.result_json.find(key), std::string::npos) << "no key in a result";

  for (std::size_t i = 6; i < world.producer.produced.size(); ++i)
    world.delivery.on_delivery(world.producer.produced[i].opaque, nullptr, false);
  for (Job* j : jobs) world.completions.push(j);
  intake.run_once(0, false);
  EXPECT_EQ(intake.pending(), 0u);
}

}  // namespace
}  // namespace switchyard
