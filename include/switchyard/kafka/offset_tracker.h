#pragma once
// Tracks which fetched offsets are finished, per partition, and yields the offset that may be
// committed: the end of the contiguous finished prefix. Completions may arrive in any order;
// an offset is committable only when it and every offset fetched before it are finished.
//
// Not thread-safe: owned by the Kafka poll thread. Other threads hand completions to it.
// Invariant: per partition, pending offsets are strictly increasing in fetch order.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace switchyard {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct OffsetCommit {
  TopicPartition tp;
  std::int64_t offset;  // next offset to consume (Kafka commit semantics)
};

class OffsetTracker {
 public:
  // Starts tracking a partition (on assignment). Returns its epoch: completions carrying an
  // older epoch (work fetched before a revoke) are ignored.
  std::uint32_t assign(const TopicPartition& tp);
  // Forgets a partition (on revoke or loss). In-flight work for it can no longer commit.
  void revoke(const TopicPartition& tp);
  bool assigned(const TopicPartition& tp) const { return partitions_.count(tp) > 0; }
  std::uint32_t epoch(const TopicPartition& tp) const;

  // Records a fetched offset. Offsets at or below the last one seen are ignored (returns false).
  bool begin(const TopicPartition& tp, std::int64_t offset);
  // Marks a fetched offset finished. Returns false when the partition was revoked since (epoch
  // mismatch) or the offset is unknown.
  bool finish(const TopicPartition& tp, std::uint32_t epoch, std::int64_t offset);

  // The commit position for `tp` if it moved past the last committed one.
  std::optional<std::int64_t> committable(const TopicPartition& tp) const;
  // Every partition whose commit position moved; marks them committed.
  std::vector<OffsetCommit> take_commits();
  // Commit positions for the given partitions regardless of movement (used on revoke).
  std::vector<OffsetCommit> commits_for(const std::vector<TopicPartition>& tps) const;

  std::size_t pending() const { return pending_total_; }  // fetched, not yet finished
  std::size_t pending(const TopicPartition& tp) const;

 private:
  struct Entry {
    std::int64_t offset;
    bool done;
  };
  struct Partition {
    std::uint32_t epoch = 0;
    std::deque<Entry> window;         // fetched offsets from the oldest unfinished one on
    std::int64_t next_position = -1;  // one past the finished prefix; -1 = none finished yet
    std::int64_t committed = -1;      // last position handed out by take_commits()
    std::size_t unfinished = 0;
  };
  std::int64_t position(const Partition& p) const;

  std::map<TopicPartition, Partition> partitions_;
  std::map<TopicPartition, std::uint32_t> epochs_;  // survives revoke so epochs never repeat
  std::size_t pending_total_ = 0;
};

}  // namespace switchyard
