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

// Tokens of one provider call (or the sum over a request's calls), in one convention whatever the
// provider's own (the adapters normalise; see provider/adapter.h):
//   input_tokens                 ALL prompt tokens: uncached, read from the cache and written to it
//   cached_input_tokens          the part of input_tokens read from the provider's prompt cache
//   cache_creation_input_tokens  the part of input_tokens written to the cache (Anthropic)
//   output_tokens                ALL completion tokens, reasoning tokens included
//   reasoning_tokens             the part of output_tokens spent on reasoning (OpenAI o-series)
// So input_tokens - cached_input_tokens - cache_creation_input_tokens are the tokens billed at the
// plain input price, and output_tokens - reasoning_tokens the visible answer.
struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_creation_input_tokens = 0;
  std::int64_t reasoning_tokens = 0;
};

// Field by field: a request's usage is the sum of its billed calls'.
inline Usage& operator+=(Usage& total, const Usage& call) {
  total.input_tokens += call.input_tokens;
  total.output_tokens += call.output_tokens;
  total.cached_input_tokens += call.cached_input_tokens;
  total.cache_creation_input_tokens += call.cache_creation_input_tokens;
  total.reasoning_tokens += call.reasoning_tokens;
  return total;
}

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
