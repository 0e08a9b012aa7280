// Teams are boundaries, end to end on the embedded broker: an event on a team's own topic belongs
// to that team; a team the config does not list is not served.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "harness.h"

namespace switchyard::testing {
namespace {

TEST(Tenancy, ATeamsTopicBillsOnlyThatTeamAndUnknownTeamsAreRefused) {
  HarnessOptions options;
  options.extra_background_topics = {"team.search"};
  options.teams_yaml = "teams:\n  - name: search\n    topics: [team.search]\n  - name: ads\n";
  Harness h("tenancy", options);
  std::vector<std::pair<std::string, std::string>> own, shared;
  for (int i = 0; i < 5; ++i) {
    const std::string id = "own-" + std::to_string(i);
    own.emplace_back(id, request_json(id, "search", "hello"));
  }
  for (int i = 0; i < 3; ++i) {  // written to search's topic, trying to bill ads
    const std::string id = "forged-" + std::to_string(i);
    own.emplace_back(id, request_json(id, "ads", "bill ads"));
  }
  for (int i = 0; i < 3; ++i) {
    const std::string id = "stranger-" + std::to_string(i);
    shared.emplace_back(id, request_json(id, "nobody", "who am I"));
  }
  for (int i = 0; i < 2; ++i) {
    const std::string id = "ads-" + std::to_string(i);
    shared.emplace_back(id, request_json(id, "ads", "hello"));
  }
  h.publish("team.search", own);
  h.publish(kBackgroundTopic, shared);
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 13; }))
      << h.worker_log();

  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), 7);
  // Nothing forged reached ads: its only rows and ledger entries are its own two requests.
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE team = 'ads'"), 2);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE team = 'ads'"), 2);
  // The forged ones are search's invalid requests, unbilled.
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'forged-%' AND team = "
                    "'search' AND error_code = 'invalid_request'"),
            3);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE request_id LIKE 'forged-%'"), 0);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE request_id LIKE 'stranger-%' AND "
                    "error_code = 'invalid_request'"),
            3);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE team = 'nobody'"), 0);
  EXPECT_EQ(h.sim().stats().requests, 7u) << "no provider call for a refused event";

  for (const char* topic : {"team.search", kBackgroundTopic}) {
    ASSERT_TRUE(eventually([&] {
      auto [committed, end] = h.committed_and_end(topic);
      return committed == end;
    })) << topic;
  }
}

// The reported leak: team ads publishing the request_id that search already used received
// search's stored result. Request ids are per team: ads' event is its own request, served and
// billed to ads, and the result it gets carries nothing of search's.
TEST(Tenancy, AnotherTeamsRequestIdIsANewRequestNotAReplayOfTheirResult) {
  Harness h("tenancy_ids");
  h.publish(kBackgroundTopic,
            {{"shared-id", request_json("shared-id", "search", "search's question",
                                        R"(,"metadata":{"owner":"search-only-secret"})")}});
  h.start_worker();
  ASSERT_TRUE(eventually([&] {
    auto [committed, end] = h.committed_and_end(kBackgroundTopic);
    // Finished (committed): its id is no longer in flight when the next events come.
    return committed == end && h.count("SELECT count(*) FROM requests") == 1;
  })) << h.worker_log();
  h.publish(kBackgroundTopic, {{"shared-id", request_json("shared-id", "ads", "ads' question")},
                               {"shared-id", request_json("shared-id", "search", "search again")}});
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") == 2; }))
      << h.worker_log();
  ASSERT_TRUE(eventually([&] {
    auto [committed, end] = h.committed_and_end(kBackgroundTopic);
    return committed == end;
  }));

  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE request_id = 'shared-id' AND team = "
                    "'ads' AND status = 'ok'"),
            1);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE team = 'ads'"), 1) << "billed to ads";
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE team = 'search'"), 1)
      << "search's redelivered id is still a replay, billed once";
  EXPECT_EQ(h.sim().stats().requests, 2u);

  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  ASSERT_TRUE(eventually([&] {
    results.drain();
    return results.records.size() >= 3;
  })) << results.records.size()
      << " results";
  int for_ads = 0, for_search = 0;
  for (const auto& r : results.records) {
    ASSERT_EQ(r.key, "shared-id");
    if (r.value.find(R"("team":"ads")") != std::string::npos) {
      ++for_ads;
      EXPECT_EQ(r.value.find("search-only-secret"), std::string::npos) << r.value;
      EXPECT_EQ(r.value.find(R"("team":"search")"), std::string::npos) << r.value;
    } else {
      ++for_search;
      EXPECT_NE(r.value.find("search-only-secret"), std::string::npos) << r.value;
    }
  }
  EXPECT_EQ(for_ads, 1);
  EXPECT_EQ(for_search, 2) << "search's result, then its replay";
}

// Signed events on a shared topic, end to end: `switchyard publish --sign-key-env` signs, the
// worker serves the signed events of a team that requires signatures and refuses the unsigned
// and the wrongly signed ones, unbilled and recorded under no team.
TEST(Tenancy, ATeamThatSignsIsServedOnlyForSignedEventsOnASharedTopic) {
  const std::string key = "it-signing-key-0123456789abcdefghij";
  ::setenv("SY_IT_SEARCH_SIGNING_KEY", key.c_str(), 1);
  ::setenv("SY_IT_WRONG_SIGNING_KEY", "it-wrong-key-0123456789abcdefghijklmn", 1);
  HarnessOptions options;
  options.teams_yaml =
      "teams:\n  - name: search\n    signing_key_env: SY_IT_SEARCH_SIGNING_KEY\n  - name: ads\n";
  Harness h("tenancy_signed", options);
  const std::string input = h.dir() + "/signed.jsonl", forged = h.dir() + "/forged.jsonl";
  {
    std::ofstream out(input);
    for (int i = 0; i < 4; ++i)
      out << request_json("signed-" + std::to_string(i), "search", "hello") << "\n";
    std::ofstream bad(forged);
    for (int i = 0; i < 2; ++i)
      bad << request_json("forged-" + std::to_string(i), "search", "bill search") << "\n";
  }
  auto publish = [&](const std::string& file, const std::string& key_env) {
    const std::string command = std::string(SWITCHYARD_BINARY) + " publish --quiet --bootstrap " +
                                h.bootstrap() + " --topic " + kBackgroundTopic +
                                (key_env.empty() ? "" : " --sign-key-env " + key_env) + " " + file;
    return std::system(command.c_str());
  };
  ASSERT_EQ(publish(input, "SY_IT_SEARCH_SIGNING_KEY"), 0);
  ASSERT_EQ(publish(forged, "SY_IT_WRONG_SIGNING_KEY"), 0);
  h.publish(kBackgroundTopic, {{"unsigned-0", request_json("unsigned-0", "search", "hi")},
                               {"ads-0", request_json("ads-0", "ads", "hi")}});
  h.start_worker();
  ASSERT_TRUE(eventually([&] { return h.count("SELECT count(*) FROM requests") >= 8; }))
      << h.worker_log();
  ASSERT_TRUE(eventually([&] {
    auto [committed, end] = h.committed_and_end(kBackgroundTopic);
    return committed == end;
  }));
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE team = 'search' AND status = 'ok'"), 4);
  EXPECT_EQ(h.count("SELECT count(*) FROM cost_ledger WHERE team = 'search'"), 4);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE team = '' AND error_code = "
                    "'invalid_request' AND (request_id LIKE 'forged-%' OR request_id = "
                    "'unsigned-0')"),
            3);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE team = 'ads' AND status = 'ok'"), 1)
      << "a team without keys is not asked for signatures";
  EXPECT_EQ(h.sim().stats().requests, 5u);
  EXPECT_NE(h.worker_log().find("refused an event naming team search"), std::string::npos);
  EXPECT_EQ(h.worker_log().find(key), std::string::npos) << "the key is never logged";
}

}  // namespace
}  // namespace switchyard::testing
