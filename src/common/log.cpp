// Named loggers, the text and JSON-lines formatters, structured fields and secret redaction.
//
// How fields reach the JSON formatter: in JSON mode LogFields formats itself as a marker (a
// record-separator byte plus a per-process random nonce) followed by the fields already encoded
// as JSON members (`,"request_id":"r-1","partition":3`). The JSON formatter splits the payload
// at the last marker: the message before it, the members after it. Message text cannot forge
// fields: it would have to guess the nonce, and the members never contain a raw control byte.
// In text mode LogFields writes plain ` key=value` pairs, so it reads right under any pattern.
#include "switchyard/common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <random>

#include "switchyard/common/enum_names.h"
#include "switchyard/common/json_text.h"

namespace switchyard {

namespace {

std::atomic<LogFormat> g_format{LogFormat::text};

constexpr std::string_view kRedacted = "[REDACTED]";
constexpr char kFieldsMarkerByte = '\x1e';

// "\x1e" + 16 hex digits, fixed for the process.
const std::string& fields_marker() {
  static const std::string marker = [] {
    std::random_device rd;
    std::uint64_t nonce = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    std::string m(1, kFieldsMarkerByte);
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 16; ++i) m.push_back(kHex[(nonce >> (i * 4)) & 0xF]);
    return m;
  }();
  return marker;
}

// ---------------------------------------------------------------------------------------------
// Redaction

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

bool starts_with_nocase(std::string_view text, std::size_t at, std::string_view prefix) {
  if (text.size() - at < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(text[at + i]) != lower(prefix[i])) return false;
  }
  return true;
}

bool ends_with_nocase(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         starts_with_nocase(text, text.size() - suffix.size(), suffix);
}

// Characters of an API key or bearer token (base64, base64url, JWT dots).
bool is_credential_char(char c) {
  return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' ||
         c == '=';
}

bool is_identifier_char(char c) {
  return is_alnum(c) || c == '_' || c == '-';
}

// At a word start: the previous character is not part of a word.
bool at_word_start(std::string_view text, std::size_t i) {
  return i == 0 || !(is_alnum(text[i - 1]) || text[i - 1] == '_');
}

std::size_t credential_end(std::string_view text, std::size_t from) {
  while (from < text.size() && is_credential_char(text[from])) ++from;
  return from;
}

// API keys recognised by their prefix; the prefix is kept, the rest redacted when at least
// kMinKeyChars follow it.
constexpr std::string_view kKeyPrefixes[] = {"sk-", "sk_", "gsk_", "hf_",         "xai-",  "AIza",
                                             "pk-", "rk-", "ghp_", "github_pat_", "xoxb-", "xoxp-"};
constexpr std::size_t kMinKeyChars = 6;

// "Bearer" (any case) + spaces + a credential, or "Basic" + spaces + at least 8 credential
// characters (stricter: "basic" is an ordinary word, base64 of "user:pass" is not short).
std::size_t auth_scheme_token(std::string_view text, std::size_t i, std::size_t& token_start) {
  std::size_t min_chars = 0;
  std::size_t j = i;
  if (starts_with_nocase(text, i, "bearer")) {
    j = i + 6;
    min_chars = 1;
  } else if (text.compare(i, 5, "Basic") == 0) {
    j = i + 5;
    min_chars = 8;
  } else {
    return std::string::npos;
  }
  if (j >= text.size() || text[j] != ' ') return std::string::npos;
  while (j < text.size() && text[j] == ' ') ++j;
  std::size_t end = credential_end(text, j);
  if (end - j < min_chars) return std::string::npos;
  token_start = j;
  return end;
}

// key[" or ']  [spaces] (= or :) [spaces] value, where key names a secret. Returns the value's
// [start, end) without its quotes, or npos.
std::size_t secret_assignment(std::string_view text, std::size_t i, std::size_t& value_start) {
  std::size_t j = i;
  while (j < text.size() && is_identifier_char(text[j])) ++j;
  if (j == i || !is_secret_key(text.substr(i, j - i))) return std::string::npos;
  if (j < text.size() && (text[j] == '"' || text[j] == '\'')) ++j;
  while (j < text.size() && text[j] == ' ') ++j;
  if (j >= text.size() || (text[j] != '=' && text[j] != ':')) return std::string::npos;
  ++j;
  while (j < text.size() && text[j] == ' ') ++j;
  if (j >= text.size()) return std::string::npos;
  char quote = text[j];
  if (quote == '"' || quote == '\'') {
    std::size_t start = j + 1;
    std::size_t end = start;
    while (end < text.size() && text[end] != quote) end += text[end] == '\\' ? 2 : 1;
    end = std::min(end, text.size());
    if (end == start) return std::string::npos;
    value_start = start;
    return end;
  }
  // Unquoted: already redacted, a scheme plus its credential, or up to a separator.
  if (text.compare(j, kRedacted.size(), kRedacted) == 0) {
    value_start = j;
    return j + kRedacted.size();
  }
  std::size_t token_start = 0;
  if (std::size_t end = auth_scheme_token(text, j, token_start); end != std::string::npos) {
    value_start = j;
    return end;
  }
  std::size_t end = j;
  while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) &&
         text[end] != ',' && text[end] != ';' && text[end] != '&' && text[end] != '}' &&
         text[end] != ']' && text[end] != ')')
    ++end;
  if (end == j) return std::string::npos;
  value_start = j;
  return end;
}

// Appends `text` with secrets redacted; returns whether anything was.
bool redact_into(std::string_view text, std::string& out) {
  bool changed = false;
  std::size_t i = 0;
  while (i < text.size()) {
    if (at_word_start(text, i) && is_identifier_char(text[i])) {
      // "key=value" / "Authorization: Bearer value": the value from `start` to `end` is redacted.
      std::size_t start = 0;
      std::size_t value_end = secret_assignment(text, i, start);
      if (value_end == std::string::npos) value_end = auth_scheme_token(text, i, start);
      if (value_end != std::string::npos) {
        out.append(text.substr(i, start - i));
        out.append(kRedacted);
        changed = changed || text.substr(start, value_end - start) != kRedacted;
        i = value_end;
        continue;
      }
      bool matched = false;
      for (std::string_view prefix : kKeyPrefixes) {
        if (text.compare(i, prefix.size(), prefix) != 0) continue;
        std::size_t end = credential_end(text, i + prefix.size());
        if (end - (i + prefix.size()) < kMinKeyChars) continue;
        out.append(prefix);
        out.append(kRedacted);
        changed = true;
        i = end;
        matched = true;
        break;
      }
      if (matched) continue;
      // Not a secret: copy the whole word, so a prefix inside it is not mistaken for one.
      std::size_t end = i;
      while (end < text.size() && is_identifier_char(text[end])) ++end;
      out.append(text.substr(i, end - i));
      i = end;
      continue;
    }
    out.push_back(text[i++]);
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Text and JSON encoding

// logfmt: bare when safe, else quoted with \" \\ \n \r \t escapes.
void append_logfmt_value(std::string& out, std::string_view v) {
  bool bare = !v.empty() && std::none_of(v.begin(), v.end(), [](char c) {
    return c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
  if (bare) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (const char* escaped = short_escape(c)) {
      out.append(escaped);
    } else {
      out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
    }
  }
  out.push_back('"');
}

template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// A field's value as text (for logfmt) or as a JSON value.
void append_field_value(std::string& out, const LogField& f, bool json) {
  switch (f.kind()) {
    case LogField::Kind::string: {
      std::string value;
      if (is_secret_key(f.key())) {
        value = kRedacted;
      } else {
        redact_into(f.string_value(), value);
      }
      if (json) {
        append_json_string(out, value);
      } else {
        append_logfmt_value(out, value);
      }
      return;
    }
    case LogField::Kind::signed_int:
      append_number(out, f.int_value());
      return;
    case LogField::Kind::unsigned_int:
      append_number(out, f.uint_value());
      return;
    case LogField::Kind::floating:
      if (std::isfinite(f.double_value())) {
        append_number(out, f.double_value());
      } else if (json) {
        out.append("null");
      } else {
        out.append(std::isnan(f.double_value()) ? "NaN" : f.double_value() > 0 ? "+Inf" : "-Inf");
      }
      return;
    case LogField::Kind::boolean:
      out.append(f.bool_value() ? "true" : "false");
      return;
  }
}

bool is_reserved_json_key(std::string_view key) {
  return key == "ts" || key == "level" || key == "logger" || key == "msg";
}

std::string_view level_name(spdlog::level::level_enum level) {
  // spdlog's levels in order; "error" rather than spdlog's "err".
  static constexpr std::array kNames{"trace", "debug", "info", "warn", "error", "critical", "off"};
  static_assert(kNames.size() == spdlog::level::off + 1);
  return enum_name(level, kNames, "off");
}

// 2025-01-31T12:00:00.123Z
void append_rfc3339_utc_ms(std::string& out, spdlog::log_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  out.append(buf, static_cast<std::size_t>(n));
}

// ---------------------------------------------------------------------------------------------
// Formatters

// spdlog's pattern formatter over the redacted message.
class TextFormatter final : public spdlog::formatter {
 public:
  TextFormatter() : pattern_(kTextLogPattern) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string redacted;
    redacted.reserve(payload.size());
    if (!redact_into(payload, redacted)) {
      pattern_.format(msg, dest);
      return;
    }
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(redacted.data(), redacted.size());
    pattern_.format(copy, dest);
    // Colour sinks read the range the pattern marked from the message they passed in.
    msg.color_range_start = copy.color_range_start;
    msg.color_range_end = copy.color_range_end;
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }

 private:
  spdlog::pattern_formatter pattern_;
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string_view members;
    if (auto at = payload.rfind(fields_marker()); at != std::string_view::npos) {
      members = payload.substr(at + fields_marker().size());
      payload = payload.substr(0, at);
    }
    line_.clear();
    line_.append("{\"ts\":\"");
    append_rfc3339_utc_ms(line_, msg.time);
    line_.append("\",\"level\":\"");
    line_.append(level_name(msg.level));
    line_.append("\",\"logger\":");
    append_json_string(line_, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    line_.append(",\"msg\":");
    std::string redacted;
    redact_into(payload, redacted);
    append_json_string(line_, redacted);
    line_.append(members);
    line_.append("}\n");
    dest.append(line_.data(), line_.data() + line_.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  std::string line_;  // a sink formats under its own mutex: reused across lines
};

}  // namespace

std::shared_ptr<spdlog::logger> named_logger(const std::string& name) {
  if (auto logger = spdlog::get(name)) return logger;
  try {
    return spdlog::stderr_color_mt(name);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name);  // another thread registered it between get() and here
  }
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  using spdlog::level::level_enum;
  if (text == "trace") return level_enum::trace;
  if (text == "debug") return level_enum::debug;
  if (text == "info") return level_enum::info;
  if (text == "warn" || text == "warning") return level_enum::warn;
  if (text == "error" || text == "err") return level_enum::err;
  if (text == "critical") return level_enum::critical;
  if (text == "off") return level_enum::off;
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format) {
  if (format == LogFormat::json) return std::make_unique<JsonFormatter>();
  return std::make_unique<TextFormatter>();
}

void configure_logging(LogFormat format, spdlog::level::level_enum level) {
  g_format.store(format, std::memory_order_relaxed);
  // Every registered logger now, and (through the registry's default) every one made later.
  spdlog::set_formatter(make_log_formatter(format));
  spdlog::set_level(level);
}

LogFormat current_log_format() {
  return g_format.load(std::memory_order_relaxed);
}

std::string redact_secrets(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  redact_into(text, out);
  return out;
}

bool is_secret_key(std::string_view key) {
  if (key.empty()) return false;
  for (std::string_view exact :
       {"authorization", "proxy-authorization", "proxy_authorization", "cookie", "set-cookie"}) {
    if (key.size() == exact.size() && starts_with_nocase(key, 0, exact)) return true;
  }
  for (std::string_view suffix : {"api_key", "api-key", "apikey", "password", "passwd", "secret",
                                  "token", "private_key", "private-key"}) {
    if (ends_with_nocase(key, suffix)) return true;
  }
  return false;
}

void append_log_fields(std::string& out, const LogFields& fields) {
  const bool json = g_format.load(std::memory_order_relaxed) == LogFormat::json;
  if (json) out.append(fields_marker());
  auto append_one = [&](std::string_view key, auto&& append_value) {
    if (json) {
      out.push_back(',');
      if (is_reserved_json_key(key)) {
        append_json_string(out, "field_" + std::string(key));
      } else {
        append_json_string(out, key);
      }
      out.push_back(':');
    } else {
      out.push_back(' ');
      out.append(key);
      out.push_back('=');
    }
    append_value();
  };
  for (const LogField& f : fields) append_one(f.key(), [&] { append_field_value(out, f, json); });
  if (fields.dropped() > 0)
    append_one("fields_dropped", [&] { append_number(out, fields.dropped()); });
}

}  // namespace switchyard
