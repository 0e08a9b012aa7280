#pragma once
// A Prometheus metrics registry: counters, gauges and histograms with label sets, rendered in the
// text exposition format 0.0.4 (served at /metrics by app/admin_server.h).
//
// Hot path. A caller resolves a labelled series once and keeps the reference:
//
//   MetricsRegistry registry;
//   declare_worker_metrics(registry);                        // every family, HELP text, buckets
//   Counter& ok = registry.counter(metric::kRequests, {{"class", "interactive"},
//       {"tier", "economy"}, {"deployment", "mini-a"}, {"status", "ok"}});
//   ok.inc();                                               // one relaxed atomic add
//   Histogram& latency = registry.histogram(metric::kOperationDuration, {...});
//   latency.observe(0.231);                                 // seconds: a bucket add + a sum add
//
// Resolving takes the registry's mutex and may allocate (the first time a label set is seen);
// inc()/add()/set()/observe() never lock and never allocate. A returned reference stays valid
// for the registry's lifetime (series are never removed). Label order does not matter:
// {{"a","1"},{"b","2"}} and {{"b","2"},{"a","1"}} are the same series.
//
// Families are declared once (describe_counter / describe_gauge / describe_histogram) with their
// HELP text; asking for a series of an undeclared family, or of a family declared with another
// type, throws std::logic_error (a programming error, found the first time the code runs).
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting with
// "__", and "le" is reserved for histogram buckets (std::invalid_argument otherwise).
//
// Label values are not limited: a label fed from request data (team, request_id) can grow the
// registry without bound. The worker's families below use only labels drawn from configuration
// (class, tier, deployment, model, provider) or small fixed sets (status, error type, token type).
//
// Gauges may be read at scrape time instead (gauge_callback): consumer lag, in flight, queue
// depth, open circuit breakers, budget remaining. The callback runs on the scraping thread (the
// admin server's), without the registry's lock held, so it may resolve series; it must be cheap
// and thread-safe (read atomics or a snapshot; no Postgres round trip). Destroying the returned
// CallbackRegistration unregisters it and waits for a scrape that is running it to finish, so a
// callback never outlives what it reads when the registration is declared after that state.
//
// Money: switchyard_cost_usd_total counts integer picodollars (the unit of common/money.h) and is
// rendered as exact decimal USD (describe_counter's `fixed_point_decimals` = 12): no float ever
// accumulates, and 12345 pico-USD is printed as 0.000000012345.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { counter, gauge, histogram };

// Series are cache-line aligned: two threads bumping different series never share a line.
inline constexpr std::size_t kMetricAlignment = 64;

// Monotonic integer count. inc() is one relaxed fetch_add.
class alignas(kMetricAlignment) Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down. set() is a relaxed store, add() a compare-exchange loop.
class alignas(kMetricAlignment) Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void sub(double d) noexcept { value_.fetch_sub(d, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Fixed upper bounds chosen when the family is declared. observe() finds the bucket (a short
// scan of the bounds), then adds 1 to it and the value to the sum: two relaxed atomics.
// The count is the sum of the buckets, so a scrape always sees _count == the +Inf bucket.
class alignas(kMetricAlignment) Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  // NaN is ignored (it would poison the sum); +-Inf lands in the first/last bucket as usual.
  void observe(double v) noexcept;
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) noexcept {
    observe(std::chrono::duration<double>(d).count());  // seconds, the Prometheus base unit
  }

  const std::vector<double>& bounds() const noexcept { return *bounds_; }
  // Per bucket, not cumulative: size bounds().size() + 1, the last one is (last bound, +Inf).
  std::vector<std::uint64_t> bucket_counts() const;
  std::uint64_t count() const noexcept;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<double> sum_{0.0};
};

class MetricsRegistry;

// Keeps a gauge callback registered; see the header comment. Movable, not copyable.
class CallbackRegistration {
 public:
  CallbackRegistration() = default;
  ~CallbackRegistration() { reset(); }
  CallbackRegistration(CallbackRegistration&& other) noexcept;
  CallbackRegistration& operator=(CallbackRegistration&& other) noexcept;
  CallbackRegistration(const CallbackRegistration&) = delete;
  CallbackRegistration& operator=(const CallbackRegistration&) = delete;

  void reset();  // unregisters now; waits for a scrape running the callback

  struct Entry;  // the registry's record of one callback

 private:
  friend class MetricsRegistry;
  explicit CallbackRegistration(std::shared_ptr<Entry> entry) : entry_(std::move(entry)) {}
  std::shared_ptr<Entry> entry_;
};

// One labelled value produced by a multi-series gauge callback.
struct GaugeSample {
  MetricLabels labels;
  double value = 0;
};

// Thread-safe. Series and families are never removed.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Declaring the same family again with the same type is a no-op (the first HELP text stays);
  // with another type it throws std::logic_error.
  // fixed_point_decimals: the counter's integer is rendered divided by 10^decimals, exactly
  // (12 for picodollars -> USD).
  void describe_counter(std::string_view name, std::string_view help, int fixed_point_decimals = 0);
  void describe_gauge(std::string_view name, std::string_view help);
  // bounds: strictly increasing and finite; +Inf is implied.
  void describe_histogram(std::string_view name, std::string_view help, std::vector<double> bounds);

  // The series of a declared family with these labels, created on first use. Stable reference.
  Counter& counter(std::string_view name, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, const MetricLabels& labels = {});
  Histogram& histogram(std::string_view name, const MetricLabels& labels = {});

  // A gauge series of a declared gauge family whose value is read at scrape time.
  [[nodiscard]] CallbackRegistration gauge_callback(std::string_view name, MetricLabels labels,
                                                    std::function<double()> read);
  // Every series of the family from one callback (label sets that come and go: lag per
  // partition, budget remaining per team). Samples whose labels equal a stored series' labels
  // are rendered after it (do not mix the two for one label set).
  [[nodiscard]] CallbackRegistration gauge_family_callback(
      std::string_view name, std::function<std::vector<GaugeSample>()> read);

  // The exposition text (format 0.0.4), families sorted by name, series by labels. Families
  // without series print only their HELP and TYPE lines.
  std::string render() const;
  void render(std::string& out) const;

 private:
  struct Family;
  Family& declare(std::string_view name, std::string_view help, MetricType type);
  Family& family_of(std::string_view name, MetricType type) const;

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

// Content-Type of render()'s text.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Label escaping of the exposition format: backslash, double quote and newline.
void append_escaped_label_value(std::string& out, std::string_view value);
// A sample value: integers without a decimal point, others in the shortest round-trip form,
// NaN, +Inf, -Inf.
void append_metric_value(std::string& out, double value);

// ---------------------------------------------------------------------------------------------
// The worker's metric families: every name, label and HELP text in one place.
//
// OpenTelemetry GenAI semantic conventions where they fit (metric and attribute names with '.'
// turned into '_', unit suffix _seconds as the OpenTelemetry->Prometheus mapping does; buckets
// are the conventions' recommended boundaries). The attribute for the provider is
// gen_ai_provider_name, the current conventions' replacement for gen_ai_system (values: openai,
// azure.ai.openai, anthropic).
namespace metric {

// Counter. Requests that reached a terminal result.
//   labels: class (interactive|background), tier, deployment ("" when none was chosen),
//           status ("ok" or the result's error code: invalid_request, budget_exceeded, ...)
inline constexpr std::string_view kRequests = "switchyard_requests_total";
// Histogram, seconds. One provider call (each attempt), request written -> response read.
//   labels: gen_ai_operation_name ("chat"), gen_ai_provider_name, gen_ai_request_model,
//           deployment, error_type (only on failed calls: the HTTP status or "timeout", ...)
inline constexpr std::string_view kOperationDuration = "gen_ai_client_operation_duration_seconds";
// Histogram, tokens per billed call. _sum is the token total.
//   labels: gen_ai_operation_name, gen_ai_provider_name, gen_ai_request_model, deployment,
//           gen_ai_token_type (input|output)
inline constexpr std::string_view kTokenUsage = "gen_ai_client_token_usage";
// Histogram, seconds. Fetched from Kafka -> result durable and acked. labels: class
inline constexpr std::string_view kRequestDuration = "switchyard_request_duration_seconds";
// Counter, USD (integer picodollars inside, rendered as exact decimal USD).
//   labels: tier, deployment
inline constexpr std::string_view kCost = "switchyard_cost_usd_total";
// Gauge (callback), USD. labels: team (teams with a budget in the config), period
inline constexpr std::string_view kBudgetRemaining = "switchyard_budget_remaining_usd";
// Gauge (callback), messages between the committed offset and the partition's end.
//   labels: topic, partition
inline constexpr std::string_view kConsumerLag = "switchyard_consumer_lag_messages";
// Gauge. Requests between fetch and commit (bounded by worker.max_in_flight).
inline constexpr std::string_view kInFlight = "switchyard_in_flight_requests";
// Gauge. Requests waiting in the scheduler for headroom or budget. labels: class
inline constexpr std::string_view kQueueDepth = "switchyard_queue_depth";
// Gauge. Deployments in cooldown after consecutive failures (open circuit breakers).
inline constexpr std::string_view kOpenCircuitBreakers = "switchyard_open_circuit_breakers";
// Gauge (callback). A deployment's concurrency limit in force, and its calls in flight.
//   labels: deployment
inline constexpr std::string_view kConcurrencyLimit = "switchyard_deployment_concurrency_limit";
inline constexpr std::string_view kCallsInFlight = "switchyard_deployment_calls_in_flight";
// Counter. Records written to the DLQ. labels: kind (unreadable|invalid)
inline constexpr std::string_view kDlqRecords = "switchyard_dlq_records_total";
// Counter. Offsets skipped because the broker no longer had them (trimmed / out of range).
//   labels: topic, partition
inline constexpr std::string_view kOffsetsSkipped = "switchyard_offsets_skipped_total";

// OpenTelemetry's recommended boundaries for gen_ai.client.operation.duration (seconds).
const std::vector<double>& operation_duration_buckets();
// OpenTelemetry's recommended boundaries for gen_ai.client.token.usage (powers of 4).
const std::vector<double>& token_usage_buckets();

}  // namespace metric

// Declares every family above with its HELP text and buckets. Idempotent.
void declare_worker_metrics(MetricsRegistry& registry);

}  // namespace switchyard
