#include "switchyard/event/request.h"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "switchyard/common/enum_names.h"
#include "switchyard/common/json_text.h"

namespace switchyard {

namespace {

using rapidjson::SizeType;
using rapidjson::Value;

// Bounds that make decoding safe whatever the bytes. The parser is iterative (it never recurses),
// and nesting deeper than this ends the parse, so the walks after it (metadata serialisation)
// stay shallow too: 300,000 nested arrays are refused, not a stack overflow.
constexpr int kMaxNestingDepth = 64;
// A reason lists the first violations and counts the rest: one per array element of a hostile
// event must not make a DLQ record or a result larger than the broker takes.
constexpr std::size_t kMaxViolationsListed = 8;
constexpr std::size_t kMaxViolationBytes = 240;
// A producer's value quoted in a violation ("role must be ..., got '<value>'").
constexpr std::size_t kMaxQuotedBytes = 64;
// No model answers more; a larger value only overflows worst-case cost and token arithmetic.
constexpr std::int64_t kMaxTokensBound = 10'000'000;

std::string quoted(std::string_view text) {
  return "'" + storable_text(text, kMaxQuotedBytes) + "'";
}

// Sits between the parser and the Document: bounds nesting, and checks every string and key of
// the event for what Postgres cannot store (NUL, invalid UTF-8, lone surrogates written as
// \udc00), wherever it is (metadata included).
class CheckingHandler {
 public:
  explicit CheckingHandler(rapidjson::Document& doc) : doc_(doc) {}
  bool too_deep = false;
  bool unstorable = false;

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, SizeType n, bool copy) { return doc_.RawNumber(s, n, copy); }
  bool String(const char* s, SizeType n, bool copy) {
    check(s, n);
    return doc_.String(s, n, copy);
  }
  bool Key(const char* s, SizeType n, bool copy) {
    check(s, n);
    return doc_.Key(s, n, copy);
  }
  bool StartObject() { return enter() && doc_.StartObject(); }
  bool EndObject(SizeType members) {
    --depth_;
    return doc_.EndObject(members);
  }
  bool StartArray() { return enter() && doc_.StartArray(); }
  bool EndArray(SizeType elements) {
    --depth_;
    return doc_.EndArray(elements);
  }

 private:
  bool enter() {
    if (++depth_ <= kMaxNestingDepth) return true;
    too_deep = true;
    return false;
  }
  void check(const char* s, SizeType n) {
    if (!unstorable && !is_storable_text(std::string_view(s, n))) unstorable = true;
  }
  rapidjson::Document& doc_;
  int depth_ = 0;
};

// Parses `bytes` into `doc` through the CheckingHandler. On failure `error` says why.
bool parse_checked(std::string_view bytes, rapidjson::Document& doc, CheckingHandler& handler,
                   std::string& error) {
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document&) {
    rapidjson::MemoryStream ms(bytes.data(), bytes.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    rapidjson::Reader reader;
    result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(
        is, handler);
    return !result.IsError();
  };
  doc.Populate(generate);
  if (!result.IsError()) return true;
  error = handler.too_deep
              ? "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels"
              : std::string("not valid JSON: ") + rapidjson::GetParseError_En(result.Code()) +
                    " at byte " + std::to_string(result.Offset());
  return false;
}

// Only the top-level request_id of an event too large to decode (a SAX pass, no document).
class RequestIdFinder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, RequestIdFinder> {
 public:
  std::string request_id;
  bool Default() {
    next_is_id_ = false;
    return depth_ > 0;
  }
  bool String(const char* s, SizeType n, bool) {
    if (depth_ == 1 && next_is_id_) request_id.assign(s, n);
    next_is_id_ = false;
    return true;
  }
  bool Key(const char* s, SizeType n, bool) {
    next_is_id_ = depth_ == 1 && std::string_view(s, n) == "request_id";
    return true;
  }
  bool StartObject() { return enter(); }
  bool EndObject(SizeType) { return leave(); }
  bool StartArray() { return enter(); }
  bool EndArray(SizeType) { return leave(); }

 private:
  bool enter() {
    next_is_id_ = false;
    return ++depth_ <= kMaxNestingDepth;
  }
  bool leave() {
    next_is_id_ = false;
    return --depth_ > 0;  // the event object closed: stop
  }
  int depth_ = 0;
  bool next_is_id_ = false;
};

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
        violations.push_back(where + ".role must be system, user or assistant, got " +
                             quoted(msg.role));
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
  const std::size_t listed = std::min(violations.size(), kMaxViolationsListed);
  for (std::size_t i = 0; i < listed; ++i) {
    if (!out.empty()) out += "; ";
    out += storable_text(violations[i], kMaxViolationBytes);
  }
  if (violations.size() > listed)
    out += "; and " + std::to_string(violations.size() - listed) + " more violation(s)";
  return out;
}

namespace {

// The top-level request_id of an event that cannot be decoded, when one comes before the
// problem (a SAX pass that builds nothing and stops at the same depth limit); empty otherwise.
std::string find_request_id(std::string_view bytes) {
  RequestIdFinder finder;
  rapidjson::MemoryStream ms(bytes.data(), bytes.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  rapidjson::Reader reader;
  reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(is, finder);
  return is_valid_request_id(finder.request_id) ? std::move(finder.request_id) : std::string();
}

// An event over the size limit is not decoded: only its request_id is looked for, so the result
// can still be keyed.
DecodedRequest decode_oversized(std::string_view bytes, std::size_t max_bytes) {
  DecodedRequest out;
  RequestIdFinder finder;
  finder.request_id = find_request_id(bytes);
  const std::string size = "the event is " + std::to_string(bytes.size()) +
                           " bytes, over the limit of " + std::to_string(max_bytes);
  if (!is_valid_request_id(finder.request_id)) {
    out.status = DecodeStatus::kUnreadable;
    out.violations.push_back(size + ", and no valid request_id was found in it");
    return out;
  }
  out.status = DecodeStatus::kInvalid;
  out.request.request_id = std::move(finder.request_id);
  out.violations.push_back(size);
  return out;
}

}  // namespace

DecodedRequest decode_request(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() > max_bytes) return decode_oversized(bytes, max_bytes);
  DecodedRequest out;
  auto& req = out.request;
  auto& violations = out.violations;
  rapidjson::Document doc;
  CheckingHandler checked(doc);
  if (std::string error; !parse_checked(bytes, doc, checked, error)) {
    // Too deep or broken after a readable request_id: the producer still gets an error result.
    req.request_id = find_request_id(bytes);
    out.status = req.request_id.empty() ? DecodeStatus::kUnreadable : DecodeStatus::kInvalid;
    violations.push_back(std::move(error));
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
  if (checked.unstorable) {
    violations.push_back(
        "every string must be valid UTF-8 without NUL (\\u0000) characters; one is not (a lone "
        "surrogate such as \\udc00, a stray byte, or NUL)");
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
      violations.push_back("priority must be 'interactive' or 'background', got " + quoted(text));
  }
  if (read_optional_string(doc, "model", req.model, violations) && req.model.empty())
    violations.push_back("model must not be empty (omit it for \"auto\")");
  read_optional_string(doc, "task_type", req.task_type, violations);
  read_optional_string(doc, "region", req.region, violations);
  read_optional_string(doc, "reply_topic", req.reply_topic, violations);
  if (const Value* v = optional_field(doc, "max_tokens")) {
    if (!v->IsInt64() || v->GetInt64() < 1 || v->GetInt64() > kMaxTokensBound) {
      violations.push_back("max_tokens must be an integer from 1 to " +
                           std::to_string(kMaxTokensBound));
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
      violations.push_back("deadline must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got " +
                           quoted(text));
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
  if (checked.unstorable) {
    // The error result and its row keep nothing Postgres would refuse.
    req.team = storable_text(req.team, 256);
    req.metadata_json.clear();
  }
  out.status = violations.empty() ? DecodeStatus::kOk : DecodeStatus::kInvalid;
  return out;
}

}  // namespace switchyard
