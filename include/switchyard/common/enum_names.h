#pragma once
// Names of enum values from a table written in declaration order, instead of a switch per enum.
// Each table sits beside a static_assert that it names every value.
#include <array>
#include <cstddef>

namespace switchyard {

template <typename Enum, std::size_t N>
constexpr const char* enum_name(Enum value, const std::array<const char*, N>& names,
                                const char* unknown = "unknown") {
  const auto i = static_cast<std::size_t>(value);
  return i < N ? names[i] : unknown;
}

}  // namespace switchyard
