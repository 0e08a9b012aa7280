#include "switchyard/common/flags.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace switchyard {

Flags::Flags(const std::vector<std::string>& args, const std::vector<std::string>& value_flags,
             const std::vector<std::string>& bool_flags) {
  auto is = [](const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (is(bool_flags, name)) {
      values_[name] = inline_value.value_or("true");
    } else if (is(value_flags, name)) {
      if (inline_value) {
        values_[name] = *inline_value;
      } else if (i + 1 < args.size()) {
        values_[name] = args[++i];
      } else {
        errors_.push_back("--" + name + " needs a value");
      }
    } else {
      errors_.push_back("unknown option --" + name);
    }
  }
}

std::string Flags::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

long long Flags::get_int(const std::string& name, long long fallback) {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  long long value = 0;
  const std::string& text = it->second;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    errors_.push_back("--" + name + " must be an integer, got '" + text + "'");
    return fallback;
  }
  return value;
}

double Flags::get_double(const std::string& name, double fallback) {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  double value = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0') {
    errors_.push_back("--" + name + " must be a number, got '" + it->second + "'");
    return fallback;
  }
  return value;
}

}  // namespace switchyard
