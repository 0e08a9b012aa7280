#pragma once
// switchyard.result.v1: the result event, also stored whole in the `requests` table.
#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/common/money.h"

namespace switchyard {

// Terminal error codes of result.v1.
enum class ErrorCode {
  kNone,
  kInvalidRequest,
  kBudgetExceeded,
  kRateLimited,
  kDeadlineExceeded,
  kProviderError,
  kNoDeployment,
  kContentFiltered,
  kShutdown,
};
const char* to_string(ErrorCode code);

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
};

struct RouteInfo {
  std::string priority_class;  // interactive | background
  std::string tier;
  std::string deployment;
  std::string model;
  std::string provider;
  std::string reason;
};

struct ResultEvent {
  std::string request_id;
  std::string team;
  ErrorCode error = ErrorCode::kNone;  // kNone means status "ok"
  std::string content;                 // output.content when ok
  std::string finish_reason;           // output.finish_reason when ok
  std::string error_message;           // error.message when not ok
  RouteInfo route;
  Usage usage;
  Picodollars cost = 0;
  int attempts = 0;
  std::int64_t queued_ms = 0;
  std::int64_t provider_ms = 0;
  std::int64_t total_ms = 0;
  std::string metadata_json;  // echoed verbatim; empty = absent

  bool ok() const { return error == ErrorCode::kNone; }
};

// Appends the JSON encoding of `result` to `out` (cleared first). Reusing `out` across calls
// avoids an allocation per result on the hot path.
void encode_result(const ResultEvent& result, std::string& out);
std::string encode_result(const ResultEvent& result);

}  // namespace switchyard
