#pragma once
// Logging: one named spdlog logger per area ("worker", "kafka", "http", "sim", "store", "cli",
// "admin", "metrics"), created on first use and registered, so configure_logging (and
// spdlog::set_level) apply to all of them, including those created later.
//
// Two output formats, chosen once at start-up with configure_logging():
//   text (default)  2025-01-31T12:00:00.123 info [worker] provider call failed request_id=r-1
//                   deployment=mini-a partition=3 offset=42
//   json            one object per line:
//                   {"ts":"2025-01-31T12:00:00.123Z","level":"info","logger":"worker",
//                    "msg":"provider call failed","request_id":"r-1","deployment":"mini-a",
//                    "partition":3,"offset":42}
//                   ts is RFC 3339 UTC with milliseconds; level one of trace, debug, info, warn,
//                   error, critical; integers stay JSON numbers; invalid UTF-8 becomes U+FFFD.
//
// Structured fields. Pass one LogFields as the LAST argument, formatted by the last "{}":
//
//   logger->warn("provider call failed: {}{}", reason,
//                LogFields{{"request_id", id}, {"deployment", d.name}, {"partition", p},
//                          {"offset", offset}});
//
// In text mode it prints " key=value ..." (logfmt: values with spaces, quotes or '=' are quoted);
// in JSON mode it becomes the object's fields (the message keeps everything before it). A
// LogFields views its string arguments (no copies, no allocation until the line is formatted),
// so build it inside the log call; it holds at most kMaxLogFields fields (more are dropped and
// counted in a "fields_dropped" field). Field names "ts", "level", "logger" and "msg" get a
// "field_" prefix in JSON so they cannot shadow the record's own keys.
//
// Secrets. Every LogFields value, and (once configure_logging installed these formatters, in
// either format) the whole message, goes through redact_secrets(): "Bearer <token>", "Basic
// <base64>", API keys by their well-known prefixes (sk-, sk_, gsk_, hf_, xai-, AIza, ...; not
// inside a hyphenated word) and the value of any key=value / key: value / "key": "value" whose key
// names a secret (authorization, *api_key, *api-key, *apikey, *password, *secret, *token) become
// [REDACTED]. A LogFields field whose own name names a secret is redacted whole. Prompts and
// completions are not secrets to this filter: do not log them above debug.
//
// Concurrency: configure_logging() swaps formatters under spdlog's locks and may be called while
// other threads log, but is meant for start-up. Formatting happens on the logging thread.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

std::shared_ptr<spdlog::logger> named_logger(const std::string& name);

enum class LogFormat { text, json };

// "text" | "json"; nullopt otherwise.
std::optional<LogFormat> parse_log_format(std::string_view text);
// trace, debug, info, warn (or warning), error, critical, off; nullopt otherwise (spdlog's own
// from_str silently maps unknown names to off).
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

// Sets the format and level of every logger, present and future. Replaces any earlier
// spdlog::set_pattern (do not call set_pattern afterwards: it would drop JSON and redaction).
void configure_logging(LogFormat format, spdlog::level::level_enum level);
// The format configure_logging last set (text until then).
LogFormat current_log_format();

// The formatter configure_logging installs, for loggers with their own sinks (tests).
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format);
// The text format's pattern (local time, as before JSON existed).
inline constexpr const char* kTextLogPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";

// `text` with every secret it recognises replaced by [REDACTED] (see above). Idempotent.
std::string redact_secrets(std::string_view text);
// Whether a key (field name, header, config key) names a secret, e.g. "api_key",
// "Authorization", "x-api-key", "db_password", "admin_token". "api_key_env" does not (the name
// of a variable is not its value).
bool is_secret_key(std::string_view key);

inline constexpr std::size_t kMaxLogFields = 8;

// One structured field: a name and a string (viewed), integer, floating-point or bool value.
class LogField {
 public:
  enum class Kind : std::uint8_t { string, signed_int, unsigned_int, floating, boolean };

  LogField() = default;
  LogField(std::string_view key, std::string_view value) : key_(key), string_(value) {}
  LogField(std::string_view key, const char* value) : key_(key), string_(value ? value : "") {}
  LogField(std::string_view key, const std::string& value) : key_(key), string_(value) {}
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::boolean) {
    number_.b = value;
  }
  template <std::signed_integral T>
  LogField(std::string_view key, T value) : key_(key), kind_(Kind::signed_int) {
    number_.i = value;
  }
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) LogField(std::string_view key, T value)
      : key_(key), kind_(Kind::unsigned_int) {
    number_.u = value;
  }
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::floating) {
    number_.d = value;
  }

  std::string_view key() const { return key_; }
  Kind kind() const { return kind_; }
  std::string_view string_value() const { return string_; }
  std::int64_t int_value() const { return number_.i; }
  std::uint64_t uint_value() const { return number_.u; }
  double double_value() const { return number_.d; }
  bool bool_value() const { return number_.b; }

 private:
  std::string_view key_;
  Kind kind_ = Kind::string;
  std::string_view string_;
  union {
    std::int64_t i;
    std::uint64_t u;
    double d;
    bool b;
  } number_{};
};

// Up to kMaxLogFields fields, stored inline. See the header comment for use.
class LogFields {
 public:
  LogFields(std::initializer_list<LogField> fields) {
    for (const auto& f : fields) {
      if (size_ < kMaxLogFields) {
        fields_[size_++] = f;
      } else {
        ++dropped_;
      }
    }
  }
  const LogField* begin() const { return fields_.data(); }
  const LogField* end() const { return fields_.data() + size_; }
  std::size_t size() const { return size_; }
  std::size_t dropped() const { return dropped_; }

 private:
  std::array<LogField, kMaxLogFields> fields_{};
  std::size_t size_ = 0;
  std::size_t dropped_ = 0;
};

// The text LogFields formats to in the current format (what the fmt formatter writes).
void append_log_fields(std::string& out, const LogFields& fields);

}  // namespace switchyard

template <>
struct fmt::formatter<switchyard::LogFields> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class FormatContext>
  auto format(const switchyard::LogFields& fields, FormatContext& ctx) const {
    std::string text;
    switchyard::append_log_fields(text, fields);
    return std::copy(text.begin(), text.end(), ctx.out());
  }
};
