#include "switchyard/kafka/offset_tracker.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

const TopicPartition kP0{"requests", 0};
const TopicPartition kP1{"requests", 1};

TEST(OffsetTracker, NothingCommittableBeforeAnyOffsetFinishes) {
  OffsetTracker t;
  auto e = t.assign(kP0);
  t.begin(kP0, 10);
  t.begin(kP0, 11);
  EXPECT_EQ(t.committable(kP0), std::nullopt);
  EXPECT_TRUE(t.take_commits().empty());
  (void)e;
}

TEST(OffsetTracker, OutOfOrderCompletionCommitsOnlyTheContiguousPrefix) {
  OffsetTracker t;
  auto e = t.assign(kP0);
  for (int64_t o = 0; o < 5; ++o) t.begin(kP0, o);
  EXPECT_TRUE(t.finish(kP0, e, 2));
  EXPECT_TRUE(t.finish(kP0, e, 1));
  EXPECT_EQ(t.committable(kP0), std::nullopt);  // 0 is still running
  EXPECT_TRUE(t.finish(kP0, e, 0));
  EXPECT_EQ(t.committable(kP0), 3);  // 0,1,2 done; 3 still running
  EXPECT_TRUE(t.finish(kP0, e, 4));
  EXPECT_EQ(t.committable(kP0), 3);
  EXPECT_TRUE(t.finish(kP0, e, 3));
  EXPECT_EQ(t.committable(kP0), 5);
  EXPECT_EQ(t.pending(), 0u);
}

TEST(OffsetTracker, GapsInOffsetsDoNotBlockTheCommitPosition) {
  // Compaction or transaction markers leave holes: offsets 3 and 4 are never fetched.
  OffsetTracker t;
  auto e = t.assign(kP0);
  t.begin(kP0, 1);
  t.begin(kP0, 2);
  t.begin(kP0, 5);
  t.finish(kP0, e, 5);
  t.finish(kP0, e, 1);
  EXPECT_EQ(t.committable(kP0), 2);
  t.finish(kP0, e, 2);
  EXPECT_EQ(t.committable(kP0), 6);
}

TEST(OffsetTracker, TakeCommitsReturnsEachPositionOnce) {
  OffsetTracker t;
  auto e0 = t.assign(kP0);
  auto e1 = t.assign(kP1);
  t.begin(kP0, 0);
  t.begin(kP1, 7);
  t.finish(kP0, e0, 0);
  t.finish(kP1, e1, 7);
  auto commits = t.take_commits();
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].offset, 1);
  EXPECT_EQ(commits[1].offset, 8);
  EXPECT_TRUE(t.take_commits().empty());
}

TEST(OffsetTracker, RevokedPartitionIgnoresLateCompletions) {
  OffsetTracker t;
  auto old_epoch = t.assign(kP0);
  t.begin(kP0, 0);
  t.begin(kP0, 1);
  t.revoke(kP0);
  EXPECT_FALSE(t.finish(kP0, old_epoch, 0));
  EXPECT_EQ(t.pending(), 0u);
  // Reassigned later: a completion from the old assignment must not count for the new one.
  auto new_epoch = t.assign(kP0);
  EXPECT_NE(new_epoch, old_epoch);
  t.begin(kP0, 1);
  EXPECT_FALSE(t.finish(kP0, old_epoch, 1));
  EXPECT_EQ(t.committable(kP0), std::nullopt);
  EXPECT_TRUE(t.finish(kP0, new_epoch, 1));
  EXPECT_EQ(t.committable(kP0), 2);
}

TEST(OffsetTracker, CommitsForRevokedPartitionsAreAvailableBeforeRevoke) {
  OffsetTracker t;
  auto e = t.assign(kP0);
  t.begin(kP0, 4);
  t.begin(kP0, 5);
  t.finish(kP0, e, 4);
  auto commits = t.commits_for({kP0, kP1});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].offset, 5);
}

TEST(OffsetTracker, RedeliveredOrOlderOffsetsAreIgnored) {
  OffsetTracker t;
  auto e = t.assign(kP0);
  EXPECT_TRUE(t.begin(kP0, 3));
  EXPECT_FALSE(t.begin(kP0, 3));
  EXPECT_FALSE(t.begin(kP0, 2));
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_FALSE(t.finish(kP0, e, 9));  // never fetched
  EXPECT_TRUE(t.finish(kP0, e, 3));
  EXPECT_FALSE(t.finish(kP0, e, 3));  // twice
}

TEST(OffsetTracker, UnassignedPartitionRejectsWork) {
  OffsetTracker t;
  EXPECT_FALSE(t.begin(kP1, 0));
  EXPECT_EQ(t.committable(kP1), std::nullopt);
}

}  // namespace
}  // namespace switchyard
