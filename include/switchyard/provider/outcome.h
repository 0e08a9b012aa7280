#pragma once
// What one provider call came to, whichever provider answered: the classification the retry,
// fallback and cooldown logic acts on, the completion, and the tokens to bill. Pure code.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "switchyard/event/result.h"
#include "switchyard/provider/http_client.h"

namespace switchyard {

// The error classes every adapter maps its provider's answers to.
enum class OutcomeKind {
  kOk,
  kRetryable,    // 408, 409, 5xx (Anthropic 529 overloaded included), transport errors, timeouts
  kRateLimited,  // 429: honour retry_after_ms, feed the rate limiter, try another deployment
  kFatal,        // a 4xx that will fail the same way everywhere, or a 2xx body we cannot read
  kContentFiltered,  // the provider's safety system refused the prompt or the completion: no retry
  kContextTooLong,   // the prompt does not fit this model: a larger deployment may take it
  kAuth,             // 401/403 (and 402 billing): nothing sent to this deployment will succeed
};
const char* to_string(OutcomeKind kind);

// Normalised finish reasons (ProviderOutcome::finish_reason). Every adapter maps its provider's
// vocabulary onto these; a value none of them knows is passed through as the provider said it,
// and "" means the provider gave none.
inline constexpr const char* kFinishStop = "stop";             // natural end, stop sequence
inline constexpr const char* kFinishLength = "length";         // max_tokens or context used up
inline constexpr const char* kFinishToolCalls = "tool_calls";  // the model asked for a tool
inline constexpr const char* kFinishContentFilter = "content_filter";  // safety refusal / filter

struct ProviderOutcome {
  OutcomeKind kind = OutcomeKind::kFatal;
  int http_status = 0;
  std::string content;
  std::string finish_reason;  // normalised, see above
  // Normalised to the convention of Usage (see event/result.h): input_tokens counts every prompt
  // token, cache reads and writes included, whatever the provider's own convention. Filled for
  // kOk and for a kContentFiltered completion (which is billed); zero otherwise.
  Usage usage;
  // Whether the answer carried a usage object at all. A completion without one is billed on an
  // estimate, marked as such, never silently at $0.
  bool usage_reported = false;
  std::int64_t retry_after_ms = -1;  // from retry-after-ms / Retry-After, -1 when absent
  // Headroom the provider reported, normalised by the adapter from its own headers (OpenAI and
  // Azure: x-ratelimit-remaining-requests/-tokens; Anthropic:
  // anthropic-ratelimit-requests-remaining/-tokens-remaining); nullopt when absent or unreadable.
  std::optional<std::int64_t> remaining_requests;
  std::optional<std::int64_t> remaining_tokens;
  std::string error_message;  // never contains the API key
};

// The wait a response asks for, in ms: `retry-after-ms` (Azure OpenAI, OpenAI) wins over
// `Retry-After`, which is either delay-seconds ("2", "0.5") or an HTTP date in IMF-fixdate form
// ("Wed, 21 Oct 2015 07:28:00 GMT"), measured from `now` (a date in the past means 0). -1 when
// neither header is present or readable.
std::int64_t retry_after_ms(const HttpResponse& response,
                            std::chrono::system_clock::time_point now);
std::int64_t retry_after_ms(const HttpResponse& response);  // now = the system clock

}  // namespace switchyard
