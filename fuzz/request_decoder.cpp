// The request decoder against any bytes a producer can write: it never crashes, never recurses
// without bound, and whatever it accepts is safe to store and bounded.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "switchyard/common/json_text.h"
#include "switchyard/event/request.h"

using namespace switchyard;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const DecodedRequest d = decode_request(bytes, 1 << 20);
  // Reasons are capped (the first violations and a count), so a DLQ record stays small.
  check(d.reason().size() <= 4096);
  if (d.status == DecodeStatus::kUnreadable) return 0;
  const RequestEvent& r = d.request;
  check(is_valid_request_id(r.request_id));
  check(is_storable_text(r.request_id) && is_storable_text(r.team));
  if (d.status != DecodeStatus::kOk) return 0;
  check(!r.messages.empty());
  for (const auto& m : r.messages) check(is_storable_text(m.content) && is_storable_text(m.role));
  check(is_storable_text(r.model) && is_storable_text(r.task_type) && is_storable_text(r.region) &&
        is_storable_text(r.metadata_json) && is_storable_text(r.reply_topic));
  if (r.max_tokens) check(*r.max_tokens >= 1 && *r.max_tokens <= 10'000'000);
  return 0;
}
