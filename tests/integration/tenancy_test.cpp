// Teams are boundaries, end to end on the embedded broker: an event on a team's own topic belongs
// to that team; a team the config does not list is not served.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace switchyard::testing
