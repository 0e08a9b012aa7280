#pragma once
// Private to config/: every key of the config file, declared once with its name, default, doc
// line and reader-validator (Redpanda's property declarations are the model). config.cpp walks
// these tables to read a file, report unknown keys and print `describe_config_keys()`.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <vector>

#include "switchyard/config/config.h"

namespace switchyard::config_detail {

// One declared key: where it lives, what it means, and how to read + validate it into the
// typed config. `read` returns an error sentence, or "" when the value is acceptable.
template <typename Target>
struct Key {
  const char* name;
  const char* default_text;
  const char* doc;
  std::function<std::string(const YAML::Node&, Target&)> read;
};

const std::vector<Key<Config>>& top_keys();
const std::vector<Key<DeploymentConfig>>& deployment_keys();
const std::vector<Key<TeamConfig>>& team_keys();

}  // namespace switchyard::config_detail
