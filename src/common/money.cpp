#include "switchyard/common/money.h"

#include <cctype>
#include <charconv>

namespace switchyard {

std::optional<Picodollars> parse_usd(std::string_view text) {
  // Split into mantissa digits, the position of the decimal point, and a base-10 exponent,
  // then shift to scale 12 in integer arithmetic.
  std::size_t i = 0;
  if (i < text.size() && text[i] == '+') ++i;
  std::string digits;
  int fraction_digits = 0;
  bool seen_point = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
      if (seen_point) ++fraction_digits;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (digits.empty()) return std::nullopt;
  int exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + text.size(), exponent);
    if (ec != std::errc() || ptr == text.data() + i) return std::nullopt;
    i = static_cast<std::size_t>(ptr - text.data());
    if (negative) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;
  int shift = 12 + exponent - fraction_digits;  // value = digits * 10^(exponent - fraction_digits)
  // Drop trailing zeros that would otherwise be lost to a negative shift.
  while (shift < 0 && !digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++shift;
  }
  if (shift < 0) return std::nullopt;  // finer than a picodollar
  if (digits.empty()) return 0;
  // Strip leading zeros, then bound the size before converting.
  std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  digits.erase(0, first);
  if (digits.size() + static_cast<std::size_t>(shift) > 18) return std::nullopt;
  digits.append(static_cast<std::size_t>(shift), '0');
  Picodollars value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::string format_usd(Picodollars amount) {
  bool negative = amount < 0;
  std::uint64_t magnitude =
      negative ? static_cast<std::uint64_t>(-(amount + 1)) + 1 : static_cast<std::uint64_t>(amount);
  std::uint64_t whole = magnitude / static_cast<std::uint64_t>(kPicodollarsPerUsd);
  std::uint64_t frac = magnitude % static_cast<std::uint64_t>(kPicodollarsPerUsd);
  std::string out = negative ? "-" : "";
  out += std::to_string(whole);
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 12 - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
  return out;
}

}  // namespace switchyard
