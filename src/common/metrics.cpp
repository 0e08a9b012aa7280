// Metrics registry and Prometheus text exposition (format 0.0.4).
//
// Families and series live in node-based maps owned by the registry and are never removed, so a
// reference handed out by counter()/gauge()/histogram() stays valid; the maps are touched only
// under mutex_. A scrape runs gauge callbacks first, without mutex_ (they may resolve series),
// then renders everything under mutex_, reading the series' atomics relaxed.
#include "switchyard/common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "switchyard/common/enum_names.h"
#include "switchyard/common/log.h"

namespace switchyard {

// ---------------------------------------------------------------------------------------------
// Histogram

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::observe(double v) noexcept {
  if (std::isnan(v)) return;
  const auto& b = *bounds_;
  // le semantics: bucket i holds values <= b[i], so the first bound that is >= v.
  auto i = static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> counts(bounds_->size() + 1);
  for (std::size_t i = 0; i < counts.size(); ++i)
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  return counts;
}

std::uint64_t Histogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_->size(); ++i)
    total += buckets_[i].load(std::memory_order_relaxed);
  return total;
}

// ---------------------------------------------------------------------------------------------
// Callback registrations

struct CallbackRegistration::Entry {
  std::mutex mutex;  // held while the callback runs and while unregistering
  // Written under `mutex`; read without it when pruning (it only ever goes true -> false).
  std::atomic<bool> alive{true};
  MetricLabels labels;                                  // single-series callback
  std::function<double()> read_one;                     // set for gauge_callback
  std::function<std::vector<GaugeSample>()> read_many;  // set for gauge_family_callback
};

CallbackRegistration::CallbackRegistration(CallbackRegistration&& other) noexcept
    : entry_(std::move(other.entry_)) {}

CallbackRegistration& CallbackRegistration::operator=(CallbackRegistration&& other) noexcept {
  if (this != &other) {
    reset();
    entry_ = std::move(other.entry_);
  }
  return *this;
}

void CallbackRegistration::reset() {
  if (!entry_) return;
  {
    std::lock_guard lock(entry_->mutex);
    entry_->alive = false;
    entry_->read_one = nullptr;  // release what the callback captured now, not at the next scrape
    entry_->read_many = nullptr;
  }
  entry_.reset();
}

// ---------------------------------------------------------------------------------------------
// Registry

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::counter;
  int fixed_point_decimals = 0;
  std::shared_ptr<const std::vector<double>> bounds;  // histograms
  // Keys are label sets sorted by label name. Only the map of `type` is used.
  std::map<MetricLabels, std::unique_ptr<Counter>> counters;
  std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
  std::vector<std::shared_ptr<CallbackRegistration::Entry>> callbacks;
};

namespace {

const char* type_name(MetricType type) {
  static constexpr std::array kNames{"counter", "gauge", "histogram"};
  static_assert(kNames.size() == static_cast<std::size_t>(MetricType::histogram) + 1);
  return enum_name(type, kNames, "untyped");
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Sorted by label name and validated: the key of a series.
MetricLabels normalized(const MetricLabels& labels, const std::string& family, MetricType type) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const std::string& label = sorted[i].first;
    if (!valid_label_name(label))
      throw std::invalid_argument("metric " + family + ": invalid label name '" + label + "'");
    if (type == MetricType::histogram && label == "le")
      throw std::invalid_argument("metric " + family + ": label 'le' is reserved for buckets");
    if (i > 0 && sorted[i - 1].first == label)
      throw std::invalid_argument("metric " + family + ": label '" + label + "' given twice");
  }
  return sorted;
}

void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

// {a="x",b="y"} plus, for buckets, le="..." last; nothing for an empty set.
void append_labels(std::string& out, const MetricLabels& labels, const std::string* le = nullptr) {
  if (labels.empty() && !le) return;
  out.push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out.append(name);
    out.append("=\"");
    append_escaped_label_value(out, value);
    out.push_back('"');
  }
  if (le) {
    if (!first) out.push_back(',');
    out.append("le=\"");
    out.append(*le);
    out.push_back('"');
  }
  out.push_back('}');
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// v / 10^decimals as an exact decimal, trailing zeros of the fraction dropped.
void append_fixed_point(std::string& out, std::uint64_t v, int decimals) {
  if (decimals <= 0) {
    append_uint(out, v);
    return;
  }
  std::uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  append_uint(out, v / scale);
  std::uint64_t fraction = v % scale;
  if (fraction == 0) return;
  std::string digits(static_cast<std::size_t>(decimals), '0');
  for (int i = decimals - 1; i >= 0; --i) {
    digits[static_cast<std::size_t>(i)] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  digits.erase(digits.find_last_not_of('0') + 1);
  out.push_back('.');
  out.append(digits);
}

void append_sample(std::string& out, const std::string& name, std::string_view suffix,
                   const MetricLabels& labels, const std::string* le = nullptr) {
  out.append(name);
  out.append(suffix);
  append_labels(out, labels, le);
  out.push_back(' ');
}

}  // namespace

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '"') {
      out.append("\\\"");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void append_metric_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[32];
  // Whole numbers print without a fraction or exponent while they are exact (|v| < 2^53).
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(value));
    out.append(buf, end);
    return;
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
  out.append(buf, end);
}

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::declare(std::string_view name, std::string_view help,
                                                  MetricType type) {
  if (!valid_metric_name(name))
    throw std::invalid_argument("invalid metric name '" + std::string(name) + "'");
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second->type != type)
      throw std::logic_error("metric " + std::string(name) + " declared as " +
                             type_name(it->second->type) + " and as " + type_name(type));
    return *it->second;
  }
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->help = std::string(help);
  family->type = type;
  return *families_.emplace(family->name, std::move(family)).first->second;
}

void MetricsRegistry::describe_counter(std::string_view name, std::string_view help,
                                       int fixed_point_decimals) {
  if (fixed_point_decimals < 0 || fixed_point_decimals > 18)
    throw std::invalid_argument("metric " + std::string(name) +
                                ": fixed_point_decimals must be in 0..18");
  std::lock_guard lock(mutex_);
  bool fresh = !families_.count(name);
  Family& f = declare(name, help, MetricType::counter);
  if (fresh) f.fixed_point_decimals = fixed_point_decimals;
}

void MetricsRegistry::describe_gauge(std::string_view name, std::string_view help) {
  std::lock_guard lock(mutex_);
  declare(name, help, MetricType::gauge);
}

void MetricsRegistry::describe_histogram(std::string_view name, std::string_view help,
                                         std::vector<double> bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
      throw std::invalid_argument("histogram " + std::string(name) +
                                  ": bucket bounds must be finite and strictly increasing");
  }
  std::lock_guard lock(mutex_);
  Family& f = declare(name, help, MetricType::histogram);
  if (!f.bounds) f.bounds = std::make_shared<const std::vector<double>>(std::move(bounds));
}

MetricsRegistry::Family& MetricsRegistry::family_of(std::string_view name, MetricType type) const {
  auto it = families_.find(name);
  if (it == families_.end())
    throw std::logic_error("metric " + std::string(name) + " is used but was never declared");
  if (it->second->type != type)
    throw std::logic_error("metric " + std::string(name) + " is a " + type_name(it->second->type) +
                           ", used as a " + type_name(type));
  return *it->second;
}

Counter& MetricsRegistry::counter(std::string_view name, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Family& f = family_of(name, MetricType::counter);
  auto& slot = f.counters[normalized(labels, f.name, f.type)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(std::string_view name, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Family& f = family_of(name, MetricType::gauge);
  auto& slot = f.gauges[normalized(labels, f.name, f.type)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(std::string_view name, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Family& f = family_of(name, MetricType::histogram);
  auto& slot = f.histograms[normalized(labels, f.name, f.type)];
  if (!slot) slot = std::make_unique<Histogram>(f.bounds);
  return *slot;
}

CallbackRegistration MetricsRegistry::gauge_callback(std::string_view name, MetricLabels labels,
                                                     std::function<double()> read) {
  auto entry = std::make_shared<CallbackRegistration::Entry>();
  entry->read_one = std::move(read);
  std::lock_guard lock(mutex_);
  Family& f = family_of(name, MetricType::gauge);
  entry->labels = normalized(labels, f.name, f.type);
  f.callbacks.push_back(entry);
  return CallbackRegistration(std::move(entry));
}

CallbackRegistration MetricsRegistry::gauge_family_callback(
    std::string_view name, std::function<std::vector<GaugeSample>()> read) {
  auto entry = std::make_shared<CallbackRegistration::Entry>();
  entry->read_many = std::move(read);
  std::lock_guard lock(mutex_);
  Family& f = family_of(name, MetricType::gauge);
  f.callbacks.push_back(entry);
  return CallbackRegistration(std::move(entry));
}

std::string MetricsRegistry::render() const {
  std::string out;
  render(out);
  return out;
}

void MetricsRegistry::render(std::string& out) const {
  // 1. Callbacks, without mutex_: each under its own entry's mutex, so unregistering waits.
  std::vector<std::pair<const Family*, std::shared_ptr<CallbackRegistration::Entry>>> entries;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, family] : families_) {
      auto& callbacks = family->callbacks;
      // Not under the entry's mutex: a callback holding it may be waiting for mutex_.
      std::erase_if(callbacks, [](const auto& e) { return !e->alive.load(); });
      for (const auto& e : callbacks) entries.emplace_back(family.get(), e);
    }
  }
  std::map<const Family*, std::vector<GaugeSample>> sampled;
  for (const auto& [family, entry] : entries) {
    std::lock_guard entry_lock(entry->mutex);
    if (!entry->alive) continue;
    auto& samples = sampled[family];
    // One failing callback must not cost the scrape every other metric: skip it and say so.
    try {
      if (entry->read_one) {
        samples.push_back({entry->labels, entry->read_one()});
      } else if (entry->read_many) {
        auto read = entry->read_many();
        for (auto& s : read) s.labels = normalized(s.labels, family->name, family->type);
        samples.insert(samples.end(), std::make_move_iterator(read.begin()),
                       std::make_move_iterator(read.end()));
      }
    } catch (const std::exception& e) {
      named_logger("metrics")->warn("gauge callback of {} failed, its series are left out: {}",
                                    family->name, e.what());
    }
  }

  // 2. Everything else under mutex_.
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    const Family& f = *family;
    out.append("# HELP ");
    out.append(name);
    out.push_back(' ');
    append_help(out, f.help);
    out.append("\n# TYPE ");
    out.append(name);
    out.push_back(' ');
    out.append(type_name(f.type));
    out.push_back('\n');
    switch (f.type) {
      case MetricType::counter:
        for (const auto& [labels, c] : f.counters) {
          append_sample(out, name, "", labels);
          append_fixed_point(out, c->value(), f.fixed_point_decimals);
          out.push_back('\n');
        }
        break;
      case MetricType::gauge: {
        for (const auto& [labels, g] : f.gauges) {
          append_sample(out, name, "", labels);
          append_metric_value(out, g->value());
          out.push_back('\n');
        }
        auto it = sampled.find(&f);
        if (it == sampled.end()) break;
        std::stable_sort(
            it->second.begin(), it->second.end(),
            [](const GaugeSample& a, const GaugeSample& b) { return a.labels < b.labels; });
        for (const auto& s : it->second) {
          append_sample(out, name, "", s.labels);
          append_metric_value(out, s.value);
          out.push_back('\n');
        }
        break;
      }
      case MetricType::histogram: {
        std::string le;
        for (const auto& [labels, h] : f.histograms) {
          auto counts = h->bucket_counts();
          std::uint64_t cumulative = 0;
          for (std::size_t i = 0; i < counts.size(); ++i) {
            cumulative += counts[i];
            le.clear();
            if (i < f.bounds->size()) {
              append_metric_value(le, (*f.bounds)[i]);
            } else {
              le = "+Inf";
            }
            append_sample(out, name, "_bucket", labels, &le);
            append_uint(out, cumulative);
            out.push_back('\n');
          }
          append_sample(out, name, "_sum", labels);
          append_metric_value(out, h->sum());
          out.push_back('\n');
          append_sample(out, name, "_count", labels);
          append_uint(out, cumulative);
          out.push_back('\n');
        }
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The worker's families

namespace metric {

const std::vector<double>& operation_duration_buckets() {
  static const std::vector<double> bounds = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                             1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
  return bounds;
}

const std::vector<double>& token_usage_buckets() {
  static const std::vector<double> bounds = {
      1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
  return bounds;
}

}  // namespace metric

void declare_worker_metrics(MetricsRegistry& r) {
  using namespace metric;
  r.describe_counter(kRequests,
                     "Requests that reached a terminal result, by priority class, tier, "
                     "deployment and status (ok or the error code).");
  r.describe_histogram(kOperationDuration,
                       "GenAI operation duration: one provider call, request written to "
                       "response read, in seconds.",
                       operation_duration_buckets());
  r.describe_histogram(kTokenUsage,
                       "Number of input and output tokens used per billed provider call.",
                       token_usage_buckets());
  r.describe_histogram(
      kRequestDuration,
      "Request fetched from Kafka to result durable in Postgres and acked by "
      "the results topic, in seconds.",
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600});
  r.describe_counter(kCost, "Cost billed for provider calls, in USD (exact).",
                     /*fixed_point_decimals=*/12);
  r.describe_gauge(kBudgetRemaining,
                   "Budget left in the current period per team with a budget, in USD.");
  r.describe_gauge(kConsumerLag,
                   "Messages between the consumer's committed offset and the end of the "
                   "partition.");
  r.describe_gauge(kInFlight, "Requests between fetch and offset commit.");
  r.describe_gauge(kQueueDepth, "Requests waiting in the scheduler, by priority class.");
  r.describe_gauge(kOpenCircuitBreakers,
                   "Deployments in cooldown after consecutive failures (open circuit breakers).");
  r.describe_gauge(kConcurrencyLimit,
                   "Calls a deployment may have in flight from this worker now (adaptive, under "
                   "max_concurrency).");
  r.describe_gauge(kCallsInFlight, "Calls in flight to a deployment from this worker.");
  r.describe_counter(kDlqRecords, "Records written to the dead-letter topic, by kind.");
  r.describe_counter(kOffsetsSkipped,
                     "Offsets skipped because the broker no longer had them (out of range).");
}

}  // namespace switchyard
