// Shared by the provider answer targets: the input is "status byte, header lines, blank line,
// body", so the fuzzer varies the status (from the statuses providers answer), the headers the
// worker acts on (retry-after, rate-limit headroom) and the body.
#pragma once
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "provider/provider_common.h"
#include "switchyard/common/json_text.h"
#include "switchyard/provider/http_client.h"
#include "switchyard/provider/outcome.h"

namespace switchyard::fuzz {

inline constexpr std::string_view kSecret = "sk-fuzz-secret-key";

inline HttpResponse response_of(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<int, 12> kStatuses = {200, 200, 200, 400, 401, 403,
                                                    404, 413, 429, 500, 503, 529};
  HttpResponse response;
  if (size == 0) return response;
  response.status = kStatuses[data[0] % kStatuses.size()];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto blank = rest.find("\n\n");
  std::string_view head =
      blank == std::string_view::npos ? std::string_view{} : rest.substr(0, blank);
  response.body = std::string(blank == std::string_view::npos ? rest : rest.substr(blank + 2));
  while (!head.empty()) {
    const auto eol = head.find('\n');
    const std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return response;
}

inline void check(bool ok) {
  if (!ok) std::abort();
}

// What every parser promises, whatever it was sent.
inline void check_outcome(const ProviderOutcome& o) {
  // A billed answer never carries a usage count outside [0, kMaxUsageTokens].
  const Usage& u = o.usage;
  if (o.kind == OutcomeKind::kOk || o.kind == OutcomeKind::kContentFiltered) {
    for (std::int64_t n : {u.input_tokens, u.output_tokens, u.cached_input_tokens,
                           u.cache_creation_input_tokens, u.reasoning_tokens}) {
      check(n >= 0 && n <= provider_detail::kMaxUsageTokens);
    }
  }
  check(o.error_message.find(kSecret) == std::string::npos);
  check(o.retry_after_ms >= -1);
  if (o.remaining_requests) check(*o.remaining_requests >= 0);
  if (o.remaining_tokens) check(*o.remaining_tokens >= 0);
}

}  // namespace switchyard::fuzz
