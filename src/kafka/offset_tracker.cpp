#include "switchyard/kafka/offset_tracker.h"

#include <algorithm>

namespace switchyard {

std::uint32_t OffsetTracker::assign(const TopicPartition& tp) {
  std::uint32_t epoch = ++epochs_[tp];
  auto& p = partitions_[tp];
  pending_total_ -= p.unfinished;
  p = Partition{};
  p.epoch = epoch;
  return epoch;
}

void OffsetTracker::revoke(const TopicPartition& tp) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end()) return;
  pending_total_ -= it->second.unfinished;
  partitions_.erase(it);
  ++epochs_[tp];
}

std::uint32_t OffsetTracker::epoch(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? 0 : it->second.epoch;
}

bool OffsetTracker::begin(const TopicPartition& tp, std::int64_t offset) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end()) return false;
  Partition& p = it->second;
  bool seen_any = !p.window.empty() || p.next_position >= 0;
  std::int64_t last = p.window.empty() ? p.next_position - 1 : p.window.back().offset;
  if (seen_any && offset <= last) return false;
  p.window.push_back({offset, false});
  ++p.unfinished;
  ++pending_total_;
  return true;
}

bool OffsetTracker::finish(const TopicPartition& tp, std::uint32_t epoch, std::int64_t offset) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end() || it->second.epoch != epoch) return false;
  Partition& p = it->second;
  auto entry = std::lower_bound(p.window.begin(), p.window.end(), offset,
                                [](const Entry& e, std::int64_t o) { return e.offset < o; });
  if (entry == p.window.end() || entry->offset != offset || entry->done) return false;
  entry->done = true;
  --p.unfinished;
  --pending_total_;
  while (!p.window.empty() && p.window.front().done) {
    p.next_position = p.window.front().offset + 1;
    p.window.pop_front();
  }
  return true;
}

std::int64_t OffsetTracker::position(const Partition& p) const {
  // One past the end of the finished prefix; -1 until the first fetched offset finishes (the
  // group's committed offset is already at or before it, so there is nothing new to commit).
  return p.next_position;
}

std::optional<std::int64_t> OffsetTracker::committable(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  if (it == partitions_.end()) return std::nullopt;
  std::int64_t pos = position(it->second);
  if (pos < 0 || pos <= it->second.committed) return std::nullopt;
  return pos;
}

std::vector<OffsetCommit> OffsetTracker::take_commits() {
  std::vector<OffsetCommit> out;
  for (auto& [tp, p] : partitions_) {
    std::int64_t pos = position(p);
    if (pos >= 0 && pos > p.committed) {
      out.push_back({tp, pos});
      p.committed = pos;
    }
  }
  return out;
}

std::vector<OffsetCommit> OffsetTracker::commits_for(const std::vector<TopicPartition>& tps) const {
  std::vector<OffsetCommit> out;
  for (const auto& tp : tps) {
    auto it = partitions_.find(tp);
    if (it == partitions_.end()) continue;
    std::int64_t pos = position(it->second);
    if (pos >= 0 && pos > it->second.committed) out.push_back({tp, pos});
  }
  return out;
}

std::size_t OffsetTracker::pending(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? 0 : it->second.unfinished;
}

}  // namespace switchyard
