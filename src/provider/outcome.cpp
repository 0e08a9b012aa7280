#include "switchyard/provider/outcome.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include "switchyard/common/enum_names.h"

namespace switchyard {

const char* to_string(OutcomeKind kind) {
  static constexpr std::array kNames{
      "ok", "retryable", "rate_limited", "fatal", "content_filtered", "context_too_long", "auth"};
  static_assert(kNames.size() == static_cast<std::size_t>(OutcomeKind::kAuth) + 1);
  return enum_name(kind, kNames);
}

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A non-negative decimal number ("2", "0.5"); nullopt for anything else.
std::optional<double> parse_non_negative_number(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

std::optional<int> digits(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// An HTTP date in the IMF-fixdate form every current server sends (RFC 9110 5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT". The obsolete RFC 850 and asctime forms are not read.
std::optional<std::chrono::sys_seconds> parse_imf_fixdate(std::string_view text) {
  text = trim(text);
  if (text.size() != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  unsigned month = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (text.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  auto day = digits(text.substr(5, 2));
  auto year = digits(text.substr(12, 4));
  auto hour = digits(text.substr(17, 2));
  auto minute = digits(text.substr(20, 2));
  auto second = digits(text.substr(23, 2));
  if (month == 0 || !day || !year || !hour || !minute || !second || *hour > 23 || *minute > 59 ||
      *second > 60)
    return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(month),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second);
}

}  // namespace

std::int64_t retry_after_ms(const HttpResponse& response,
                            std::chrono::system_clock::time_point now) {
  // A server may send any number: 1e41 seconds is undefined to convert to an integer. A day is
  // longer than any wait the retry policy honours.
  static constexpr double kMaxMs = 86'400'000;
  auto bounded = [](double ms) { return static_cast<std::int64_t>(std::min(ms, kMaxMs)); };
  if (const std::string* ms = response.header("retry-after-ms")) {
    if (auto value = parse_non_negative_number(*ms)) return bounded(*value);
  }
  if (const std::string* value = response.header("retry-after")) {
    if (auto seconds = parse_non_negative_number(*value)) return bounded(*seconds * 1000.0);
    if (auto when = parse_imf_fixdate(*value)) {
      // In seconds: a date past 2262 is out of the system clock's nanosecond range.
      using std::chrono::duration_cast;
      using std::chrono::milliseconds;
      const std::int64_t now_ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
      const std::int64_t when_ms = duration_cast<milliseconds>(when->time_since_epoch()).count();
      return bounded(static_cast<double>(std::max<std::int64_t>(when_ms - now_ms, 0)));
    }
  }
  return -1;
}

std::int64_t retry_after_ms(const HttpResponse& response) {
  return retry_after_ms(response, std::chrono::system_clock::now());
}

}  // namespace switchyard
