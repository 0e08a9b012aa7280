#include "worker/worker_metrics.h"

#include "switchyard/common/enum_names.h"

namespace switchyard {

const char* provider_label(ProviderKind k) {
  // OpenTelemetry's gen_ai.provider.name values.
  static constexpr std::array kNames{"openai", "azure.ai.openai", "anthropic"};
  static_assert(kNames.size() == static_cast<std::size_t>(ProviderKind::kAnthropic) + 1);
  return enum_name(k, kNames, "openai");
}

WorkerSeries::WorkerSeries(MetricsRegistry& metrics, const Config& config)
    : deployment_count_(config.deployments.size()) {
  declare_worker_metrics(metrics);
  const std::size_t n = deployment_count_;
  requests_.resize(2 * (n + 1) * kErrorCodes);
  for (PriorityClass cls : {PriorityClass::kInteractive, PriorityClass::kBackground}) {
    const std::size_t c = cls == PriorityClass::kInteractive ? 0 : 1;
    for (std::size_t d = 0; d <= n; ++d) {
      for (std::size_t e = 0; e < kErrorCodes; ++e) {
        const auto code = static_cast<ErrorCode>(e);
        requests_[(c * (n + 1) + d) * kErrorCodes + e] = &metrics.counter(
            metric::kRequests, {{"class", to_string(cls)},
                                {"tier", d < n ? config.deployments[d].tier : ""},
                                {"deployment", d < n ? config.deployments[d].name : ""},
                                {"status", code == ErrorCode::kNone ? "ok" : to_string(code)}});
      }
    }
  }
  for (const auto& d : config.deployments) {
    MetricLabels base = {{"gen_ai_operation_name", "chat"},
                         {"gen_ai_provider_name", provider_label(d.provider)},
                         {"gen_ai_request_model", d.model},
                         {"deployment", d.name}};
    Deployment ds;
    ds.duration_ok = &metrics.histogram(metric::kOperationDuration, base);
    MetricLabels failed = base;
    failed.push_back({"error_type", "provider_error"});
    ds.duration_failed = &metrics.histogram(metric::kOperationDuration, failed);
    MetricLabels in = base, out = base;
    in.push_back({"gen_ai_token_type", "input"});
    out.push_back({"gen_ai_token_type", "output"});
    ds.tokens_in = &metrics.histogram(metric::kTokenUsage, in);
    ds.tokens_out = &metrics.histogram(metric::kTokenUsage, out);
    ds.cost = &metrics.counter(metric::kCost, {{"tier", d.tier}, {"deployment", d.name}});
    deployments_.push_back(ds);
  }
  request_duration_[0] = &metrics.histogram(metric::kRequestDuration, {{"class", "interactive"}});
  request_duration_[1] = &metrics.histogram(metric::kRequestDuration, {{"class", "background"}});
  dlq_unreadable_ = &metrics.counter(metric::kDlqRecords, {{"kind", "unreadable"}});
  dlq_invalid_ = &metrics.counter(metric::kDlqRecords, {{"kind", "invalid"}});
}

Counter& WorkerSeries::requests(std::size_t class_index, std::size_t deployment,
                                ErrorCode code) const {
  const std::size_t n = deployment_count_;
  return *requests_[(class_index * (n + 1) + deployment) * kErrorCodes +
                    static_cast<std::size_t>(code)];
}

}  // namespace switchyard
