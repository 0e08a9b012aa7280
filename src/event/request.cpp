#include "switchyard/event/request.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "switchyard/common/enum_names.h"

namespace switchyard {

namespace {

using rapidjson::Value;

std::string type_name(const Value& v) {
  // rapidjson::Type in declaration order: null, false, true, object, array, string, number.
  static constexpr std::array kNames{"null",     "a boolean", "a boolean", "an object",
                                     "an array", "a string",  "a number"};
  static_assert(kNames.size() == rapidjson::kNumberType + 1);
  return enum_name(v.GetType(), kNames);
}

// Reads an optional string field; records a violation when present with another type.
const Value* optional_field(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

bool read_optional_string(const Value& obj, const char* name, std::string& out,
                          std::vector<std::string>& violations) {
  const Value* v = optional_field(obj, name);
  if (!v) return false;
  if (!v->IsString()) {
    violations.push_back(std::string(name) + " must be a string, got " + type_name(*v));
    return false;
  }
  out.assign(v->GetString(), v->GetStringLength());
  return true;
}

void read_messages(const Value& obj, RequestEvent& req, std::vector<std::string>& violations) {
  auto it = obj.FindMember("messages");
  if (it == obj.MemberEnd() || it->value.IsNull()) {
    violations.push_back("messages is required");
    return;
  }
  const Value& arr = it->value;
  if (!arr.IsArray()) {
    violations.push_back("messages must be an array of {role, content}, got " + type_name(arr));
    return;
  }
  if (arr.Empty()) {
    violations.push_back("messages must not be empty");
    return;
  }
  req.messages.reserve(arr.Size());
  for (rapidjson::SizeType i = 0; i < arr.Size(); ++i) {
    const Value& m = arr[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.IsObject()) {
      violations.push_back(where + " must be an object, got " + type_name(m));
      continue;
    }
    ChatMessage msg;
    auto role = m.FindMember("role");
    if (role == m.MemberEnd() || !role->value.IsString()) {
      violations.push_back(where + ".role is required and must be a string");
    } else {
      msg.role.assign(role->value.GetString(), role->value.GetStringLength());
      if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
        violations.push_back(where + ".role must be system, user or assistant, got '" + msg.role +
                             "'");
    }
    auto content = m.FindMember("content");
    if (content == m.MemberEnd() || content->value.IsNull()) {
      violations.push_back(where + ".content is required");
    } else if (content->value.IsString()) {
      msg.content.assign(content->value.GetString(), content->value.GetStringLength());
    } else if (content->value.IsArray()) {
      // OpenAI content parts: keep the text parts, in order.
      for (const auto& part : content->value.GetArray()) {
        const Value* text = part.IsObject() ? optional_field(part, "text") : nullptr;
        if (text == nullptr || !text->IsString()) {
          violations.push_back(where + ".content parts must be objects with a string 'text'");
          break;
        }
        msg.content.append(text->GetString(), text->GetStringLength());
      }
    } else {
      violations.push_back(where + ".content must be a string or an array of text parts, got " +
                           type_name(content->value));
    }
    req.messages.push_back(std::move(msg));
  }
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  auto digits = [&s](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(11, 2, hour) || s[13] != ':' || !digits(14, 2, minute) || s[16] != ':' ||
      !digits(17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  std::size_t pos = 19;
  int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int scale = 100;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om))
      return std::nullopt;
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return secs * 1000 + millis;
}

std::string DecodedRequest::reason() const {
  std::string out;
  for (const auto& v : violations) {
    if (!out.empty()) out += "; ";
    out += v;
  }
  return out;
}

DecodedRequest decode_request(std::string_view bytes, std::size_t max_bytes) {
  DecodedRequest out;
  auto& req = out.request;
  auto& violations = out.violations;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseStopWhenDoneFlag>(bytes.data(), bytes.size());
  if (doc.HasParseError()) {
    out.status = DecodeStatus::kUnreadable;
    violations.push_back(std::string("not valid JSON: ") +
                         rapidjson::GetParseError_En(doc.GetParseError()) + " at byte " +
                         std::to_string(doc.GetErrorOffset()));
    return out;
  }
  if (!doc.IsObject()) {
    out.status = DecodeStatus::kUnreadable;
    violations.push_back("the event must be a JSON object, got " + type_name(doc));
    return out;
  }
  auto id = doc.FindMember("request_id");
  if (id == doc.MemberEnd() || id->value.IsNull()) {
    out.status = DecodeStatus::kUnreadable;
    violations.push_back("request_id is required");
    return out;
  }
  if (!id->value.IsString()) {
    out.status = DecodeStatus::kUnreadable;
    violations.push_back("request_id must be a string, got " + type_name(id->value));
    return out;
  }
  std::string_view id_text(id->value.GetString(), id->value.GetStringLength());
  if (!is_valid_request_id(id_text)) {
    out.status = DecodeStatus::kUnreadable;
    violations.push_back("request_id must be 1-128 characters of [A-Za-z0-9._:-]");
    return out;
  }
  req.request_id.assign(id_text);

  // From here on a result can be keyed: every problem is collected, then reported together.
  if (bytes.size() > max_bytes) {
    violations.push_back("the event is " + std::to_string(bytes.size()) +
                         " bytes, over the limit of " + std::to_string(max_bytes));
  }
  auto team = doc.FindMember("team");
  if (team == doc.MemberEnd() || team->value.IsNull()) {
    violations.push_back("team is required");
  } else if (!team->value.IsString()) {
    violations.push_back("team must be a string, got " + type_name(team->value));
  } else {
    req.team.assign(team->value.GetString(), team->value.GetStringLength());
    if (req.team.empty()) violations.push_back("team must not be empty");
  }
  read_messages(doc, req, violations);

  std::string text;
  if (read_optional_string(doc, "priority", text, violations)) {
    if (text == "interactive")
      req.priority = PriorityClass::kInteractive;
    else if (text == "background")
      req.priority = PriorityClass::kBackground;
    else
      violations.push_back("priority must be 'interactive' or 'background', got '" + text + "'");
  }
  if (read_optional_string(doc, "model", req.model, violations) && req.model.empty())
    violations.push_back("model must not be empty (omit it for \"auto\")");
  read_optional_string(doc, "task_type", req.task_type, violations);
  read_optional_string(doc, "region", req.region, violations);
  read_optional_string(doc, "reply_topic", req.reply_topic, violations);
  if (const Value* v = optional_field(doc, "max_tokens")) {
    if (!v->IsInt64() || v->GetInt64() < 1) {
      violations.push_back("max_tokens must be a positive integer");
    } else {
      req.max_tokens = v->GetInt64();
    }
  }
  if (const Value* v = optional_field(doc, "temperature")) {
    if (!v->IsNumber() || v->GetDouble() < 0.0 || v->GetDouble() > 2.0 ||
        std::isnan(v->GetDouble())) {
      violations.push_back("temperature must be a number from 0 to 2");
    } else {
      req.temperature = v->GetDouble();
    }
  }
  if (read_optional_string(doc, "deadline", text, violations)) {
    req.deadline_unix_ms = parse_rfc3339_ms(text);
    if (!req.deadline_unix_ms)
      violations.push_back("deadline must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got '" +
                           text + "'");
  }
  if (const Value* v = optional_field(doc, "metadata")) {
    if (!v->IsObject()) {
      violations.push_back("metadata must be an object, got " + type_name(*v));
    } else {
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      v->Accept(writer);
      req.metadata_json.assign(buffer.GetString(), buffer.GetSize());
    }
  }
  out.status = violations.empty() ? DecodeStatus::kOk : DecodeStatus::kInvalid;
  return out;
}

}  // namespace switchyard
