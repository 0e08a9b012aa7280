#include "switchyard/event/result.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace switchyard {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone:
      return "";
    case ErrorCode::kInvalidRequest:
      return "invalid_request";
    case ErrorCode::kBudgetExceeded:
      return "budget_exceeded";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case ErrorCode::kProviderError:
      return "provider_error";
    case ErrorCode::kNoDeployment:
      return "no_deployment";
    case ErrorCode::kContentFiltered:
      return "content_filtered";
    case ErrorCode::kShutdown:
      return "shutdown";
  }
  return "unknown";
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
  w.Key("input_tokens");
  w.Int64(r.usage.input_tokens);
  w.Key("output_tokens");
  w.Int64(r.usage.output_tokens);
  w.Key("cached_input_tokens");
  w.Int64(r.usage.cached_input_tokens);
  w.Key("cache_creation_input_tokens");
  w.Int64(r.usage.cache_creation_input_tokens);
  w.Key("reasoning_tokens");
  w.Int64(r.usage.reasoning_tokens);
  w.EndObject();
  // The exact decimal, never a binary float: 0.00000315 stays 0.00000315.
  std::string cost = format_usd(r.cost);
  w.Key("cost_usd");
  w.RawValue(cost.data(), cost.size(), rapidjson::kNumberType);
  w.Key("attempts");
  w.Int(r.attempts);
  w.Key("timing");
  w.StartObject();
  w.Key("queued_ms");
  w.Int64(r.queued_ms);
  w.Key("provider_ms");
  w.Int64(r.provider_ms);
  w.Key("total_ms");
  w.Int64(r.total_ms);
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
