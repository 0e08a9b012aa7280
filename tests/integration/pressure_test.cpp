// Providers under pressure and producers that lie: a server that accepts connections slowly,
// and good events interleaved with hostile ones.
#include <gtest/gtest.h>

#include <chrono>

#include "harness.h"

namespace switchyard::testing {
namespace {

// A small self-hosted server: a thread per connection, a listen backlog of 4, an accept every
// 2 ms. Before the per-deployment concurrency limit and the connect ramp, 600
// queued jobs opened hundreds of connections at once, the accept queue overflowed, and calls
// hung until their timeout.
TEST(Pressure, SixHundredQueuedJobsAllFinishOnAServerThatAcceptsSlowly) {
  HarnessOptions options;
  options.sim.latency_ms = 20;
  options.sim.listen_backlog = 4;
  options.sim.accept_delay_ms = 2;
  Harness h("slow_accept", options);
  const int n = 600;
  h.publish(kBackgroundTopic, numbered_requests("sa-", n));
  const auto start = std::chrono::steady_clock::now();
  h.start_worker();
  TopicReader results(h.bootstrap(), kResultsTopic, 4);
  std::vector<std::pair<double, std::size_t>> progress;  // (seconds, results) for the log
  ASSERT_TRUE(eventually([&] {
    results.drain();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (progress.empty() || s - progress.back().first >= 1.0)
      progress.emplace_back(s, results.distinct_keys().size());
    return results.distinct_keys().size() >= static_cast<std::size_t>(n);
  })) << "results: "
      << results.distinct_keys().size() << "\n"
      << h.worker_log();
  for (const auto& [s, done] : progress) std::printf("  %5.1f s: %zu of %d done\n", s, done, n);
  EXPECT_EQ(h.count("SELECT count(*) FROM requests WHERE status = 'ok'"), n);
  // Not one call was lost to a connect or first-byte timeout: each job made exactly one call.
  EXPECT_EQ(h.sim().stats().requests, static_cast<std::uint64_t>(n));
  h.stop_worker();
  EXPECT_EQ(stat_of(h.worker_stats(), "provider_retries"), 0) << h.worker_stats();
}

}  // namespace
}  // namespace switchyard::testing
