#pragma once
// One line of a `switchyard simulate` trace (sched/replay.h). Pure parsing, no I/O: the request
// inside is decoded and validated like an event read from Kafka (fuzz/trace_line.cpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/common/priority.h"
#include "switchyard/event/request.h"

namespace switchyard {

struct TraceRecord {
  std::int64_t at_ms = 0;                   // arrival, from the trace's start
  std::optional<std::int64_t> deadline_ms;  // relative to arrival; background only
  PriorityClass priority = PriorityClass::kBackground;
  std::int64_t output_tokens = 256;  // what the deployment will answer with
  RequestEvent request;
};

// One JSONL line: {"at_ms":N, "priority":"background", "deadline_ms":N, "output_tokens":N,
// "event":{request.v1}}. Returns false with `error` set on a bad line.
bool parse_trace_line(std::string_view line, TraceRecord& out, std::string& error);

}  // namespace switchyard
