#pragma once
// Units and bounds shared by the rate-limit primitives in limit/.
//
// Every primitive is pure: no clock is read inside, every call takes `now_ms`, a steady-clock
// time in integer milliseconds chosen by the caller. Amounts (requests or tokens) are integers.
#include <cstdint>
#include <limits>

namespace switchyard::limit {

// "Never": returned by ms_until-style queries when waiting cannot help (the amount is larger
// than the limit can ever hold). Compare against it; never add to it.
inline constexpr std::int64_t kNeverMs = std::numeric_limits<std::int64_t>::max();

// Rate limits are "per minute" (RPM, TPM).
inline constexpr std::int64_t kMinuteMs = 60'000;

// Largest limit or amount accepted (one trillion per minute). Larger inputs are clamped so that
// internal products (amount x 60,000 in TokenBucket) stay far from int64 overflow.
inline constexpr std::int64_t kMaxAmount = 1'000'000'000'000;

}  // namespace switchyard::limit
