#include "switchyard/sched/trace.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace switchyard {

bool parse_trace_line(std::string_view line, TraceRecord& out, std::string& error) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    error = "not a JSON object";
    return false;
  }
  auto int_of = [&](const char* key, std::int64_t& to) {
    if (!doc.HasMember(key)) return true;
    if (!doc[key].IsInt64() || doc[key].GetInt64() < 0) {
      error = std::string(key) + " must be a non-negative integer";
      return false;
    }
    to = doc[key].GetInt64();
    return true;
  };
  out = TraceRecord{};
  if (!int_of("at_ms", out.at_ms) || !int_of("output_tokens", out.output_tokens)) return false;
  if (doc.HasMember("deadline_ms")) {
    std::int64_t d = 0;
    if (!int_of("deadline_ms", d)) return false;
    out.deadline_ms = d;
  }
  if (doc.HasMember("priority")) {
    const auto& p = doc["priority"];
    const std::string_view v =
        p.IsString() ? std::string_view(p.GetString(), p.GetStringLength()) : std::string_view();
    if (v == "interactive") {
      out.priority = PriorityClass::kInteractive;
    } else if (v != "background") {
      error = "priority must be interactive or background";
      return false;
    }
  }
  if (!doc.HasMember("event") || !doc["event"].IsObject()) {
    error = "event (a request.v1 object) is missing";
    return false;
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc["event"].Accept(writer);
  DecodedRequest decoded =
      decode_request(std::string_view(buffer.GetString(), buffer.GetSize()), std::size_t{4} << 20);
  if (decoded.status != DecodeStatus::kOk) {
    error = "event: " + decoded.reason();
    return false;
  }
  out.request = std::move(decoded.request);
  return true;
}

}  // namespace switchyard
