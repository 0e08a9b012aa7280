// A `switchyard simulate` trace line from any bytes (a trace file is user input): parsing never
// crashes, and what it accepts is a valid request with bounded numbers.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "switchyard/common/json_text.h"
#include "switchyard/sched/trace.h"

using namespace switchyard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  TraceRecord record;
  std::string error;
  if (!parse_trace_line(line, record, error)) {
    if (error.empty()) std::abort();  // a refusal always says why
    return 0;
  }
  if (record.at_ms < 0 || record.output_tokens < 0) std::abort();
  if (record.deadline_ms && *record.deadline_ms < 0) std::abort();
  if (!is_valid_request_id(record.request.request_id)) std::abort();
  if (record.request.messages.empty()) std::abort();
  return 0;
}
