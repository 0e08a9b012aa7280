#pragma once
// Money inside Switchyard is an integer count of picodollars (1e-12 USD).
//
// Why not micro-dollars: catalog prices go down to fractions of a micro-dollar per token
// (gpt-4o-mini input is 0.15 micro-dollars per token), so rounding each call to micro-dollars
// would misstate cheap calls by up to 100%. Picodollars keep every token x price product exact
// for every price in LiteLLM's catalog, and an int64 still holds 9.2 million USD.
// Postgres stores the same value as NUMERIC(30,12) USD, so nothing is ever rounded.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

using Picodollars = std::int64_t;
inline constexpr Picodollars kPicodollarsPerUsd = 1'000'000'000'000;

// Parses a decimal USD amount ("0.00000015", "1.5e-07", "3", "2.5E-6") exactly into picodollars.
// Returns nullopt when the text is not a number, is negative, or has precision finer than 1e-12.
std::optional<Picodollars> parse_usd(std::string_view text);

// Formats picodollars as a plain decimal USD string with trailing zeros trimmed ("0.00000015").
std::string format_usd(Picodollars amount);

}  // namespace switchyard
