#pragma once
// Escaping text for JSON and logfmt, said once for the logs, the provider simulator and anything
// else that writes JSON by hand.
#include <string>
#include <string_view>

namespace switchyard {

// The two-character escape of '"', '\\', newline, carriage return and tab (the same in JSON and
// logfmt), or nullptr for any other character.
constexpr const char* short_escape(char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

// Appends `text` as a quoted JSON string: short escapes, \u00XX for other control characters
// and DEL, and U+FFFD for every byte that is not part of valid UTF-8 (so the output is always
// valid JSON, whatever the input).
void append_json_string(std::string& out, std::string_view text);

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF) without
// NUL: what a Postgres text column (and a JSON consumer) accepts.
bool is_storable_text(std::string_view text);

// `text` made storable and short: every byte that is not valid UTF-8, and NUL, becomes U+FFFD;
// cut at a character boundary to at most `max_bytes` (then ending in "..."). For quoting what a
// producer sent inside an error message.
std::string storable_text(std::string_view text, std::size_t max_bytes);

}  // namespace switchyard
