#include "switchyard/limit/concurrency_limit.h"

#include <algorithm>

namespace switchyard::limit {

namespace {
constexpr double kShortAlpha = 0.2;
constexpr double kCutFactor = 0.75;
constexpr std::int64_t kMinCutSpacingMs = 100;
}  // namespace

ConcurrencyLimit::ConcurrencyLimit(ConcurrencyParams params) : params_(params) {
  params_.max = std::max(params_.max, 1);
  params_.min = std::clamp(params_.min, 1, params_.max);
  params_.initial = std::clamp(params_.initial, params_.min, params_.max);
  limit_ = params_.adaptive ? params_.initial : params_.max;
}

void ConcurrencyLimit::cut(std::int64_t now_ms) {
  const auto spacing =
      std::max<std::int64_t>(kMinCutSpacingMs, static_cast<std::int64_t>(baseline_ms_));
  if (last_cut_ms_ >= 0 && now_ms - last_cut_ms_ < spacing) return;
  last_cut_ms_ = now_ms;
  limit_ = std::max<double>(params_.min, static_cast<int>(limit_ * kCutFactor));
}

void ConcurrencyLimit::on_end(Sample sample, std::int64_t latency_ms, std::int64_t now_ms) {
  // The limit that applied when this call started is at least what is in flight now.
  const int busy = in_flight_;
  if (in_flight_ > 0) --in_flight_;
  if (!params_.adaptive || sample == Sample::kNeutral) return;
  if (sample == Sample::kOverload) return cut(now_ms);

  const double x = static_cast<double>(std::max<std::int64_t>(latency_ms, 0));
  short_ms_ = short_ms_ == 0 ? std::max(x, 0.001) : short_ms_ + kShortAlpha * (x - short_ms_);
  if (baseline_since_ms_ < 0 || now_ms - baseline_since_ms_ >= params_.baseline_reset_ms) {
    baseline_ms_ = short_ms_;
    baseline_since_ms_ = now_ms;
  } else {
    baseline_ms_ = std::min(baseline_ms_, short_ms_);
  }
  if (short_ms_ > params_.overload_ratio * baseline_ms_) return cut(now_ms);
  if (short_ms_ <= params_.tolerance * baseline_ms_ && 2 * busy >= limit()) {
    limit_ = std::min<double>(limit_ + 1, params_.max);
  }
}

}  // namespace switchyard::limit
