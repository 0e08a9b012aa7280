#include "switchyard/event/result.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "switchyard/common/enum_names.h"
#include "switchyard/event/result_fields.h"

namespace switchyard {

const char* to_string(ErrorCode code) {
  static constexpr std::array kNames{"",
                                     "invalid_request",
                                     "budget_exceeded",
                                     "rate_limited",
                                     "deadline_exceeded",
                                     "provider_error",
                                     "no_deployment",
                                     "content_filtered",
                                     "shutdown"};
  static_assert(kNames.size() == static_cast<std::size_t>(ErrorCode::kShutdown) + 1);
  return enum_name(code, kNames);
}

namespace {

template <typename Writer>
void key_string(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

template <typename Writer>
void write_result(Writer& w, const ResultEvent& r) {
  w.StartObject();
  key_string(w, "schema", std::string("switchyard.result.v1"));
  key_string(w, "request_id", r.request_id);
  key_string(w, "team", r.team);
  w.Key("status");
  w.String(r.ok() ? "ok" : "error");
  if (r.ok()) {
    w.Key("output");
    w.StartObject();
    key_string(w, "content", r.content);
    key_string(w, "finish_reason", r.finish_reason);
    w.EndObject();
  } else {
    w.Key("error");
    w.StartObject();
    w.Key("code");
    w.String(to_string(r.error));
    key_string(w, "message", r.error_message);
    w.EndObject();
  }
  w.Key("route");
  w.StartObject();
  key_string(w, "class", r.route.priority_class);
  key_string(w, "tier", r.route.tier);
  key_string(w, "deployment", r.route.deployment);
  key_string(w, "model", r.route.model);
  key_string(w, "provider", r.route.provider);
  key_string(w, "reason", r.route.reason);
  w.EndObject();
  w.Key("usage");
  w.StartObject();
  write_usage_fields(w, r.usage);
  w.EndObject();
  // The exact decimal, never a binary float: 0.00000315 stays 0.00000315.
  std::string cost = format_usd(r.cost);
  w.Key("cost_usd");
  w.RawValue(cost.data(), cost.size(), rapidjson::kNumberType);
  w.Key("attempts");
  w.Int(r.attempts);
  w.Key("timing");
  w.StartObject();
  write_timing_fields(w, r);
  w.EndObject();
  w.Key("metadata");
  if (r.metadata_json.empty()) {
    w.Null();
  } else {
    w.RawValue(r.metadata_json.data(), r.metadata_json.size(), rapidjson::kObjectType);
  }
  w.EndObject();
}

}  // namespace

void encode_result(const ResultEvent& result, std::string& out) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  write_result(writer, result);
  out.assign(buffer.GetString(), buffer.GetSize());
}

std::string encode_result(const ResultEvent& result) {
  std::string out;
  encode_result(result, out);
  return out;
}

}  // namespace switchyard
