#pragma once
// Fakes for the worker's I/O seams (worker/worker.h: WorkerSeams), for unit tests of the stages
// with plain values: an in-memory RequestStore that keeps budgets the way the Postgres statements
// do, and a RecordProducer that records what was produced. Single-threaded unless noted.
#include <functional>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "switchyard/kafka/record_io.h"
#include "switchyard/store/store.h"

namespace switchyard::testing {

// Budgets as the reservation and settlement statements keep them (store/postgres_store.cpp):
// a reservation passes when spent + reserved + worst case <= budget; the terminal write of a
// request spends its ledger cost and releases its reservation, once.
class FakeStore final : public RequestStore {
 public:
  struct Row {
    std::string result_json;
    std::int64_t ledger_rows = 0;
  };
  using Key = std::pair<std::string, std::string>;  // (team, request_id), as in Postgres
  std::map<Key, Row> rows;                          // stored terminal rows
  std::map<std::string, Picodollars> spent;         // team -> spent this period
  std::map<std::string, Picodollars> reserved;      // team -> reserved this period
  std::map<Key, Picodollars> reservations;          // (team, request_id) -> amount
  int fail_next = 0;                                // that many calls fail before one succeeds
  int statements = 0;                               // successful write_terminal calls
  std::vector<std::size_t> batch_sizes;             // records per successful write_terminal
  std::function<void()> during_reserve;  // runs inside reserve_budgets (a concurrent settlement)
  // A record Postgres would refuse for its data (SQLSTATE 22...): the whole statement fails.
  std::function<bool(const TerminalRecord&)> refuses;
  int statements_refused = 0;

  // The one row of `request_id`, whatever its team (for tests with one team per id).
  const Row& row(std::string_view request_id) const {
    for (const auto& [key, row] : rows)
      if (key.second == request_id) return row;
    throw std::out_of_range("FakeStore: no row for " + std::string(request_id));
  }
  std::size_t rows_of(std::string_view request_id) const {
    std::size_t n = 0;
    for (const auto& [key, row] : rows) n += key.second == request_id;
    return n;
  }

  bool find_terminal(std::span<const RequestKey> keys, std::vector<std::string>& stored,
                     std::string& error) override {
    if (failing(error)) return false;
    stored.assign(keys.size(), std::string());
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (auto it = rows.find(key_of(keys[i])); it != rows.end())
        stored[i] = it->second.result_json;
    return true;
  }
  bool heartbeat(std::string_view, std::string_view, int, bool, int& live, int& ordinal,
                 std::string& error) override {
    if (failing(error)) return false;
    live = 1;
    ordinal = 0;
    return true;
  }
  bool reserve_budgets(const std::vector<BudgetRequest>& requests,
                       std::vector<BudgetAnswer>& answers, std::string& error) override {
    if (failing(error)) return false;
    if (during_reserve) during_reserve();
    answers.clear();
    for (const auto& r : requests) {
      const std::string team(r.team);
      const Key key = key_of({r.team, r.request_id});
      BudgetAnswer a;
      if (reservations.count(key)) {
        a.verdict = BudgetVerdict::kAlreadyReserved;
      } else if (spent[team] + reserved[team] + r.worst_case_cost <= r.budget) {
        a.verdict = BudgetVerdict::kReserved;
        reserved[team] += r.worst_case_cost;
        reservations[key] = r.worst_case_cost;
        reserved_by[std::string(r.request_id)] = std::string(r.worker_id);
      } else {
        a.verdict = BudgetVerdict::kExceeded;
      }
      a.committed = spent[team] + reserved[team];
      answers.push_back(a);
    }
    return true;
  }
  // Settles a reservation the way the terminal write does (for tests that drive the gate only).
  void settle(const Key& key, Picodollars cost) {
    auto it = reservations.find(key);
    if (it == reservations.end()) return;
    reserved[key.first] -= it->second;
    spent[key.first] += cost;
    reservations.erase(it);
  }
  // The reservation of `request_id`, whatever its team (tests with one team per id).
  void settle(const std::string& request_id, Picodollars cost) {
    for (const auto& [key, amount] : reservations) {
      if (key.second != request_id) continue;
      settle(Key(key), cost);
      return;
    }
  }
  bool write_terminal(const std::vector<TerminalRecord>& records,
                      std::vector<WriteOutcome>& outcomes, std::string& error) override {
    if (failing(error)) return false;
    for (const auto& rec : records) {
      if (refuses && refuses(rec)) {
        ++statements_refused;
        rejected_ = true;
        error = "fake: invalid byte sequence for encoding \"UTF8\": 0xed 0xb0 0x80";
        return false;
      }
    }
    outcomes.assign(records.size(), {});
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& rec = records[i];
      const Key key = key_of({rec.result->team, rec.result->request_id});
      if (auto it = rows.find(key); it != rows.end()) {
        outcomes[i].stored_result_json = it->second.result_json;
        continue;
      }
      rows[key] = {std::string(rec.result_json), static_cast<std::int64_t>(rec.ledger.size())};
      outcomes[i].inserted = true;
      settle(key, rec.result->cost);
    }
    ++statements;
    batch_sizes.push_back(records.size());
    return true;
  }
  // What reclaim_reservations answers next (then nothing); every call is recorded.
  std::vector<ReclaimedReservations> to_reclaim;
  std::vector<std::pair<std::int64_t, std::int64_t>> reclaim_calls;  // (older_than, live_within)
  std::map<std::string, std::string> reserved_by;  // request_id -> worker_id of its reservation
  bool reclaim_reservations(std::int64_t older_than_ms, std::int64_t live_within_ms,
                            std::vector<ReclaimedReservations>& released,
                            std::string& error) override {
    if (failing(error)) return false;
    reclaim_calls.emplace_back(older_than_ms, live_within_ms);
    released = std::move(to_reclaim);
    to_reclaim.clear();
    return true;
  }
  bool last_failure_rejected_data() const override { return rejected_; }
  bool set_reference_price(std::string_view, const ModelPrice&, std::string&) override {
    return true;
  }
  bool ensure_ledger_partitions(int, int& created, std::string&) override {
    created = 0;
    return true;
  }

 private:
  static Key key_of(const RequestKey& k) {
    return {std::string(k.team), std::string(k.request_id)};
  }
  bool rejected_ = false;
  bool failing(std::string& error) {
    rejected_ = false;
    if (fail_next <= 0) return false;
    --fail_next;
    error = "fake: connection refused";
    return true;
  }
};

// A consumer-group member with one scripted assignment: records queued with add() come back from
// poll() (their views stay valid until the next poll, as librdkafka's do); commits are recorded.
class FakeConsumer final : public RecordConsumer {
 public:
  struct Stored {
    std::string topic;
    std::int32_t partition;
    std::int64_t offset;
    std::string value;
    std::string signature;  // the switchyard-signature header; empty = none
  };
  std::vector<TopicPartition> assigned;
  std::vector<OffsetCommit> committed;  // every commit, in order
  std::vector<TopicPartition> paused;

  void add(const std::string& topic, std::int32_t partition, std::string value,
           std::string signature = {}) {
    queued_.push_back({topic, partition, next_offset_[{topic, partition}]++, std::move(value),
                       std::move(signature)});
  }
  void poll(int, std::size_t max, std::vector<ConsumedRecord>& out) override {
    held_.clear();
    while (!queued_.empty() && held_.size() < max) {
      held_.push_back(std::move(queued_.front()));
      queued_.erase(queued_.begin());
    }
    for (const Stored& r : held_)
      out.push_back({r.topic, r.partition, r.offset, r.value, -1, r.signature});
  }
  void pause(const std::vector<TopicPartition>& tps) override {
    paused.insert(paused.end(), tps.begin(), tps.end());
  }
  void resume(const std::vector<TopicPartition>&) override { paused.clear(); }
  std::string commit(const std::vector<OffsetCommit>& commits, bool) override {
    committed.insert(committed.end(), commits.begin(), commits.end());
    return {};
  }
  const std::vector<TopicPartition>& assignment() const override { return assigned; }
  std::vector<PartitionLag> lag() const override { return {}; }
  void close() override {}

 private:
  std::vector<Stored> queued_, held_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> next_offset_;
};

class FakeProducer final : public RecordProducer {
 public:
  struct Record {
    std::string topic, key, value;
    void* opaque;
  };
  std::vector<Record> produced;
  int refuse_next = 0;  // that many produce() calls fail ("Message size too large")

  std::string produce(const std::string& topic, std::string_view key, std::string_view value,
                      const std::vector<KafkaHeader>&, void* opaque) override {
    if (refuse_next > 0) {
      --refuse_next;
      return "Broker: Message size too large";
    }
    produced.push_back({topic, std::string(key), std::string(value), opaque});
    return {};
  }
  void poll(int) override {}
  bool flush(int) override { return true; }
};

}  // namespace switchyard::testing
