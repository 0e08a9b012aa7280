#pragma once
// A small command-line flag parser shared by the subcommands: `--name value`, `--name=value`,
// boolean `--name`, and positional arguments. Unknown flags are errors, reported all at once.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace switchyard {

class Flags {
 public:
  // `value_flags` take a value; `bool_flags` do not. Names are given without the leading "--".
  Flags(const std::vector<std::string>& args, const std::vector<std::string>& value_flags,
        const std::vector<std::string>& bool_flags = {});

  bool ok() const { return errors_.empty(); }
  const std::vector<std::string>& errors() const { return errors_; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // Integer value; records an error (see errors()) when present but not an integer.
  long long get_int(const std::string& name, long long fallback);
  double get_double(const std::string& name, double fallback);
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::vector<std::string> errors_;
};

}  // namespace switchyard
