#pragma once
// Text helpers of the provider simulator: JSON and HTTP/1.1 heads appended to reused buffers
// (no temporary strings on the reply path).
#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/common/json_text.h"  // append_json_string

namespace switchyard::sim {

void append_uint(std::string& out, std::uint64_t value);
void append_hex16(std::string& out, std::uint64_t value);  // 16 lower-case hex digits

std::string_view reason_phrase(int status);

// Starts a response head; the caller may append "Name: value\r\n" lines, then finish_head().
void start_head(std::string& head, int status);
void finish_head(std::string& head, std::string_view content_type, std::size_t body_bytes,
                 bool keep_alive);

inline constexpr std::string_view kJson = "application/json";

// splitmix64 finaliser: the simulator's only source of "randomness".
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline double unit_interval(std::uint64_t bits) {  // [0, 1)
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace switchyard::sim
